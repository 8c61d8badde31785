"""`ProviderHttp`: one provider's HTTP calls with a timeout, bounded retries and one call-log row per call.

Every provider speaks JSON with a bearer key; its errors are `{"error": "<code>", "detail": "..."}`. A call:

- retries 429 (after `Retry-After`, capped), 408, 5xx, timeouts and connection errors up to `max_retries` times with
  exponential backoff and full jitter, then raises `ProviderUnavailable`;
- a call that is not `repeatable` - a request the provider cannot recognise when sent again, which would act twice:
  a penny drop credits ₹1 again, a bureau pull is another enquiry on the person's credit file, a plain SMS or a
  click-to-call reaches the person again - is retried only when the provider cannot have taken it (the connection
  never made, 429, 503, 408); a timeout after sending or another 5xx raises `ProviderUnavailable` at once, its
  outcome unknown (calls carrying a reference or idempotency key the provider de-duplicates on are repeatable);
- raises `ProviderUnavailable` at once when the provider refuses our credentials (401/403: a configuration fault);
- raises `ProviderRejected` (with the provider's error code) for any other 4xx: the request itself is refused;
- raises `ProviderUnavailable` when a success answer is not what the contract says (not JSON, missing fields).

The call is logged once, after its last attempt: provider, kind, brand, customer, ok/error, the last HTTP status,
the latency over all attempts, the attempts and the error text. No request or response body is logged.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import InvalidOperation
from types import TracebackType
from typing import Any, Protocol, TypeVar

import httpx
import structlog

from adapters.providers.call_log import OK, CallRecord, CallRecorder
from domain.providers.calls import Caller
from domain.providers.errors import ProviderError, ProviderRejected, ProviderUnavailable
from domain.shared.application import acted_outside
from domain.shared.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

T = TypeVar("T")

REJECTED = "rejected"
UNAVAILABLE = "unavailable"
_EXCERPT = 200


@dataclass(frozen=True)
class ProviderConfig:
    """Where one provider of one service is and how to call it (ProviderDirectory builds these from env)."""

    service: str  # sms, pan, ...
    base_url: str
    api_key: str
    vendor: str = "simulator"
    timeout: float = 5.0
    max_retries: int = 2
    backoff_base: float = 0.2
    backoff_max: float = 2.0


class ProviderCalls(Protocol):
    """What a client calls through: `ProviderHttp`, or the directory's link that follows reconfiguration."""

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        caller: Caller,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        repeatable: bool = True,
    ) -> T: ...


class _Transient(Exception):
    """A fault worth retrying; `taken` when the provider may have acted on the request (it was sent and no answer
    says it was not)."""

    def __init__(
        self, reason: str, status: int | None = None, retry_after: float | None = None, *, taken: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after, self.taken = reason, status, retry_after, taken


class ProviderHttp:
    """The HTTP side of one provider client (thread-safe: httpx.Client is)."""

    def __init__(
        self,
        config: ProviderConfig,
        call_log: CallRecorder,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if config.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.config = config
        self._log = call_log
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._sleep = sleep
        self._random = random.Random()
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {config.api_key}", "Accept": "application/json"},
            timeout=config.timeout,
            transport=transport,
        )

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        caller: Caller,
        json: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        repeatable: bool = True,
    ) -> T:
        """Make the request (retrying transient faults; one not `repeatable` only when the provider cannot have taken
        it), parse the JSON answer, log the call; see the module doc."""
        started = time.monotonic()
        attempts, status = 0, None
        outcome, error = OK, None
        acting = method != "GET"  # a call that may change something at the provider
        reached = False  # ... and reached it: answered, or taken and not answered
        try:
            while True:
                attempts += 1
                try:
                    answer = self._once(kind, method, path, json, content, content_type, params)
                    status = answer.status_code
                    reached = True
                    break
                except _Transient as fault:
                    status = fault.status
                    reached = reached or fault.taken
                    if fault.taken and not repeatable:  # sent again, the provider would act twice
                        raise self._unavailable(kind, f"{fault.reason}; the outcome is unknown", status) from fault
                    if attempts > self.config.max_retries:
                        raise self._unavailable(kind, f"{fault.reason} (after {attempts} attempts)", status) from fault
                    delay = self._delay(attempts - 1, fault.retry_after)
                    log.info("provider.retry", provider=self.config.service, kind=kind, attempt=attempts, delay=delay)
                    self._sleep(delay)
            try:
                return parse(answer.json())
            except (ValueError, KeyError, TypeError, IndexError, InvalidOperation) as exc:
                raise self._unavailable(kind, f"answer not understood: {exc}", status) from exc
        except ProviderError as exc:
            outcome = REJECTED if isinstance(exc, ProviderRejected) else UNAVAILABLE
            status, error = exc.status, exc.message
            raise
        finally:
            if acting and reached and outcome != REJECTED:
                acted_outside()  # e.g. an Idempotency-Key's request: never run again (api/idempotency.py)
            self._log.record(
                CallRecord(
                    provider=self.config.service,
                    vendor=self.config.vendor,
                    kind=kind,
                    brand_id=caller.brand_id,
                    customer_id=caller.customer_id,
                    outcome=outcome,
                    http_status=status,
                    latency_ms=round((time.monotonic() - started) * 1000),
                    attempts=attempts,
                    error=error,
                    at=self._clock.now(),
                )
            )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> ProviderHttp:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _once(
        self,
        kind: str,
        method: str,
        path: str,
        json: Any,
        content: bytes | None,
        content_type: str | None,
        params: Mapping[str, str] | None,
    ) -> httpx.Response:
        headers = {"Content-Type": content_type} if content_type else None
        try:
            response = self._http.request(method, path, json=json, content=content, headers=headers, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never sent
            raise _Transient(f"could not reach the provider ({type(exc).__name__})", taken=False) from exc
        except httpx.TimeoutException as exc:
            raise _Transient(f"timed out after {self.config.timeout} s ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"could not reach the provider ({type(exc).__name__})") from exc
        status = response.status_code
        if status == 429:
            raise _Transient("rate limited (HTTP 429)", status, _retry_after(response.headers.get("Retry-After")),
                             taken=False)  # fmt: skip
        if status == 408 or status >= 500:
            # 408 (the request was not read in time) and 503 (not handled now) say the request was not acted on.
            raise _Transient(f"HTTP {status}: {_excerpt(response)}", status, taken=status not in (408, 503))
        if status in (401, 403):
            raise self._unavailable(kind, f"the provider refused our credentials (HTTP {status})", status)
        if status >= 400:
            code, detail = _error_of(response)
            raise ProviderRejected(
                f"{self.config.service} refused the request: {code}: {detail}",
                provider=self.config.service,
                kind=kind,
                status=status,
                code=code,
            )
        if "json" not in response.headers.get("content-type", ""):
            raise _Transient(f"HTTP {status} but not JSON: {_excerpt(response)}", status)
        return response

    def _unavailable(self, kind: str, reason: str, status: int | None) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"{self.config.service} is unavailable: {reason}", provider=self.config.service, kind=kind, status=status
        )

    def _delay(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.backoff_max)
        return self._random.uniform(0.0, min(self.config.backoff_max, self.config.backoff_base * 2**retry))


def _retry_after(header: str | None) -> float | None:
    try:
        seconds = float((header or "").strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None  # NaN fails the comparison too


def _error_of(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}", _excerpt(response)
    if isinstance(body, dict):
        code = body.get("error")
        detail = body.get("detail")
        return (str(code) if code else f"http_{response.status_code}", str(detail or "")[:_EXCERPT])
    return f"http_{response.status_code}", _excerpt(response)


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:_EXCERPT] + ("…" if len(text) > _EXCERPT else "")
