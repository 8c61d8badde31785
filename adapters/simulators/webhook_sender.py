"""Webhooks from a simulator back to us: signed as adapters.webhooks verifies, retried with backoff, faults included."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import structlog

from adapters.simulators.faults import FaultSwitches
from adapters.simulators.outbox import WEBHOOK, Outbox
from adapters.webhooks import WebhookEvent, sign
from domain.shared.clock import Clock

log = structlog.get_logger(__name__)

# A receiver's 4xx is its final word on that request (a bad signature stays bad), except these, which say "later":
# 409 is our webhooks' "a reference we are about to record" (a payout event that overtook its recording), which
# gateways deliver again as they do every non-2xx.
_RETRIED_CLIENT_ERRORS = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST of a webhook: the answer's status, or the transport error when there was none."""

    number: int
    status: int | None
    error: str | None
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookDelivery:
    """One webhook event sent to one URL, with every attempt; `copies` are its duplicate deliveries."""

    event_id: str
    event_type: str
    url: str
    body: bytes
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    dropped: bool = False
    copies: list[WebhookDelivery] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Whether the receiver accepted it (a 2xx on some attempt)."""
        return any(a.status is not None and 200 <= a.status < 300 for a in self.attempts)

    @property
    def status(self) -> int | None:
        """The last attempt's status (None when it had no answer or nothing was sent)."""
        return self.attempts[-1].status if self.attempts else None


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a simulator redelivers a webhook its receiver did not accept."""

    attempts: int = 5
    backoff: float = 0.5  # seconds before the second attempt, doubling each time
    backoff_max: float = 30.0
    timeout: float = 5.0


class WebhookSender:
    """Signs and posts webhook events for one simulator, on the caller's thread or on its delivery threads."""

    def __init__(
        self,
        name: str,
        secret: str | bytes,
        outbox: Outbox,
        clock: Clock,
        faults: FaultSwitches,
        policy: RetryPolicy,
        sleep: Callable[[float], object] | None = None,
        workers: int = 2,
    ) -> None:
        if not secret:
            raise ValueError("a simulator sending webhooks needs a non-empty webhook secret")
        self._name, self._secret, self._outbox, self._clock = name, secret, outbox, clock
        # Waiting on an event by default, so that close() cuts short the backoff of deliveries under way.
        self._closing = threading.Event()
        self._faults, self._policy, self._workers = faults, policy, workers
        self._sleep: Callable[[float], object] = sleep if sleep is not None else self._closing.wait
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def send(self, url: str, event_type: str, data: dict[str, Any], *, event_id: str | None = None,
             created_at: datetime | None = None) -> WebhookDelivery:  # fmt: skip
        """Deliver one event now (retrying per the policy), subject to the webhook fault switches; `created_at` is the
        event's instant (now when None: a change decided earlier and delivered later keeps its own)."""
        event = WebhookEvent(id=event_id or uuid.uuid4().hex, type=event_type,
                             created_at=created_at or self._clock.now(), data=data)  # fmt: skip
        body = event.model_dump_json().encode()
        delivery = WebhookDelivery(event.id, event.type, url, body)
        faults = self._faults.decide_webhook_faults()
        if faults.drop:
            delivery.dropped = True
            self._outbox.record(WEBHOOK, url=url, event_id=event.id, type=event.type, dropped=True, attempt=0)
            return delivery
        self._post(delivery, stale_by=faults.stale_by, tamper=faults.tamper)
        if faults.duplicate:
            delivery.copies.append(self.redeliver(delivery))
        return delivery

    def send_later(
        self,
        url: str,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        delay: float = 0.0,
        created_at: datetime | None = None,
    ) -> Future[WebhookDelivery]:
        """Deliver one event from a delivery thread after `delay` seconds, as a provider does after answering us."""

        def run() -> WebhookDelivery:
            if delay > 0:
                self._sleep(delay)
            if self._closing.is_set():  # the simulator stopped while this delivery waited
                return WebhookDelivery(event_id or "", event_type, url, b"", dropped=True)
            return self.send(url, event_type, data, event_id=event_id, created_at=created_at)

        future = self._pool().submit(run)
        future.add_done_callback(self._log_crash)
        return future

    def redeliver(self, delivery: WebhookDelivery, *, replay: bool = False) -> WebhookDelivery:
        """Send an event again: freshly signed (a provider's repeat), or with `replay` the very bytes and headers of
        its last attempt (a captured request sent again)."""
        copy = WebhookDelivery(delivery.event_id, delivery.event_type, delivery.url, delivery.body)
        last = delivery.attempts[-1] if delivery.attempts else None
        if replay and last is not None:
            self._post(copy, replay=last, duplicate=True)
        else:
            self._post(copy, duplicate=True)
        return copy

    def close(self) -> None:
        """Drop queued deliveries, end those under way after their current attempt, close connections."""
        self._closing.set()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._closing.clear()
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def _post(
        self,
        delivery: WebhookDelivery,
        *,
        stale_by: float = 0.0,
        tamper: bool = False,
        duplicate: bool = False,
        replay: DeliveryAttempt | None = None,
    ) -> None:
        policy = self._policy
        for number in range(1, policy.attempts + 1):
            if replay is not None:
                headers, body = dict(replay.headers), replay.body
            else:
                timestamp = int(self._clock.now().timestamp() - stale_by)
                headers = sign(self._secret, delivery.body, timestamp)
                body = _tampered(delivery.body) if tamper else delivery.body
            status: int | None = None
            error: str | None = None
            retry_after: str | None = None
            try:
                response = self._client().post(
                    delivery.url, content=body, headers={**headers, "Content-Type": "application/json"}
                )
                status, retry_after = response.status_code, response.headers.get("retry-after")
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            attempt = DeliveryAttempt(number, status, error, headers, body)
            delivery.attempts.append(attempt)
            self._outbox.record(
                WEBHOOK,
                url=delivery.url,
                event_id=delivery.event_id,
                type=delivery.event_type,
                attempt=number,
                status=status,
                error=error,
                headers=headers,
                body=_readable(body),
                stale_by=stale_by,
                tampered=tamper,
                duplicate=duplicate,
                replayed=replay is not None,
                dropped=False,
            )
            if status is not None and (200 <= status < 300 or (status < 500 and status not in _RETRIED_CLIENT_ERRORS)):
                return
            if self._closing.is_set():  # the simulator is stopping: no more attempts
                break
            if number < policy.attempts:
                wait = min(policy.backoff_max, policy.backoff * 2 ** (number - 1))
                if retry_after is not None and retry_after.isdigit():
                    wait = min(policy.backoff_max, max(wait, float(retry_after)))
                self._sleep(wait)
                if self._closing.is_set():
                    break
        log.warning(
            "simulator.webhook_gave_up",
            simulator=self._name,
            url=delivery.url,
            event_id=delivery.event_id,
            attempts=len(delivery.attempts),
            status=delivery.status,
        )

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None or client.is_closed:
            # trust_env off: a proxy configured for the machine must not sit between a simulator and loopback.
            client = httpx.Client(timeout=self._policy.timeout, trust_env=False)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix=f"{self._name}-webhooks")
            return self._executor

    def _log_crash(self, future: Future[WebhookDelivery]) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("simulator.webhook_crashed", simulator=self._name, error=repr(exc))


def _tampered(body: bytes) -> bytes:
    """The body with its data changed after signing (a field added), still valid JSON."""
    document = json.loads(body)
    document["data"] = {**document.get("data", {}), "tampered": True}
    return json.dumps(document).encode()


def _readable(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")
