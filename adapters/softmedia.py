"""Softmedia connector: pulls overdue and upcoming repayment notices page by page over the v1 HTTP contract.

Contract (v1)::

    GET {base_url}/v1/notices?mode=overdue|upcoming&company={code}&page={n}&page_size={k}
    Authorization: Bearer {token}
    -> {"page": n, "page_size": k, "total_pages": T, "total": N, "items": [{...notice...}]}

Pages start at 1. 401/403 refuse the token (never retried); 429 carries `Retry-After` in seconds; 5xx, connect
errors, timeouts, a body that is not JSON and a body without an `items` list are transient and retried with
exponential backoff and full jitter. Any other 4xx stops the pull. A malformed item is skipped and counted on
its page, never fatal: the caller decides what a run with malformed items means.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import TracebackType
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

MODES = ("overdue", "upcoming")
MAX_PAGE_SIZE = 1000
MAX_ERRORS_KEPT = 20
NOTICES_PATH = "/v1/notices"

_PAISE = Decimal("0.01")
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_PATTERN = re.compile(r"^[+-]?\d+$")
_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class SourceNotice:
    """One well-formed notice item from a Softmedia page."""

    notice_id: str
    company_code: str
    loan_number: str
    customer_name: str
    phone: str  # as the source sent it (raw; normalising is the caller's job)
    due_date: date
    instalment_no: int
    amount_due: Decimal  # quantized to 0.01, >= 0
    days_overdue: int  # >= 0
    mode: str  # "overdue" | "upcoming"
    updated_at: datetime | None  # timezone-aware (UTC) when given; None when absent or unparseable


@dataclass(frozen=True)
class NoticePage:
    """One page of a pull: its well-formed notices and a count of the items skipped as malformed."""

    page: int
    page_size: int
    total_pages: int
    total: int
    items: list[SourceNotice]
    malformed: int  # items skipped on this page
    errors: list[str]  # a short reason for each skipped item (at most MAX_ERRORS_KEPT kept)


class SoftmediaError(Exception):
    """Raised when a pull cannot go on."""


class SoftmediaAuthError(SoftmediaError):
    """Raised when the source refuses the token (401/403); never retried."""


class SoftmediaUnavailable(SoftmediaError):
    """Raised when transient faults outlast the retries."""


class MalformedItem(ValueError):
    """Raised when a notice item breaks the contract; the page skips it and counts it."""


class _Transient(Exception):
    """A fault worth retrying: 5xx, 429, connect errors, timeouts, a body that is not a page."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SoftmediaClient:
    """Pulls notices from one Softmedia source over one keep-alive HTTP client."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        page_size: int = 500,
        timeout: float = 10.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        if max_retries < 0:
            raise ValueError("max_retries must not be negative")
        self.base_url = base_url.rstrip("/")
        self.page_size = page_size
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retries = 0  # transient faults retried so far, for the run's record
        self._sleep = sleep
        # Its own generator, so the jitter never disturbs (or depends on) the global random state.
        self._random = random.Random()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    def fetch_page(self, mode: str, company: str, page: int) -> NoticePage:
        """One page of `mode` notices of `company`, retrying transient faults up to `max_retries` times."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if page < 1:
            raise ValueError("pages start at 1")
        params: dict[str, str | int] = {"mode": mode, "company": company, "page": page, "page_size": self.page_size}
        attempt = 0
        while True:
            try:
                body = self._get(params)
                return _parse_page(body, mode=mode, company=company)
            except _Transient as fault:
                if attempt >= self.max_retries:
                    log.warning(
                        "softmedia.gave_up",
                        mode=mode,
                        company=company,
                        page=page,
                        attempts=attempt + 1,
                        reason=fault.reason,
                    )
                    raise SoftmediaUnavailable(
                        f"Softmedia page {page} ({mode}, {company}) still failing after {attempt} retries: {fault.reason}"
                    ) from fault
                delay = self._delay(attempt, fault.retry_after)
                self.retries += 1
                attempt += 1
                log.info(
                    "softmedia.retry",
                    mode=mode,
                    company=company,
                    page=page,
                    attempt=attempt,
                    delay=round(delay, 3),
                    reason=fault.reason,
                )
                self._sleep(delay)

    def pages(self, mode: str, company: str) -> Iterator[NoticePage]:
        """Pages 1..total_pages (total_pages re-read from each page, so a growing source is followed).

        Page 1 is always fetched and yielded, so an empty source (or an unknown company) yields one empty page
        with total_pages 0 and the pull stops there.
        """
        number = 1
        while True:
            page = self.fetch_page(mode, company, number)
            yield page
            if number >= page.total_pages:
                return
            number += 1

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> SoftmediaClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _get(self, params: Mapping[str, str | int]) -> Any:
        try:
            response = self._http.get(NOTICES_PATH, params=params)
        except httpx.TimeoutException as exc:
            raise _Transient(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"transport error ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if status in (401, 403):
            raise SoftmediaAuthError(f"Softmedia refused the token (HTTP {status})")
        if status == 429:
            raise _Transient("rate limited (HTTP 429)", retry_after=_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Transient(f"HTTP {status}: {_excerpt(response)}")
        if status >= 400:
            raise SoftmediaError(f"Softmedia answered HTTP {status}: {_excerpt(response)}")
        try:
            return response.json()
        except ValueError as exc:
            raise _Transient(f"body is not JSON: {_excerpt(response)}") from exc

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        # Full jitter: many pullers retrying a struggling source spread out instead of arriving together.
        return self._random.uniform(0.0, min(self.backoff_max, self.backoff_base * 2**attempt))


def _parse_page(body: Any, *, mode: str, company: str) -> NoticePage:
    """A page from a decoded JSON body; a body that is not a page is transient, a bad item is skipped."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise _Transient("body is not a notices page (no items list)")
    numbers: dict[str, int] = {}
    for key in ("page", "page_size", "total_pages", "total"):
        value = body.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _Transient(f"body is not a notices page ({key} is {value!r})")
        numbers[key] = value
    items: list[SourceNotice] = []
    errors: list[str] = []
    malformed = 0
    for index, raw in enumerate(body["items"]):
        try:
            items.append(parse_item(raw, mode=mode, company=company))
        except MalformedItem as exc:
            malformed += 1
            if len(errors) < MAX_ERRORS_KEPT:
                errors.append(f"item {index}{_label(raw)}: {exc}")
    return NoticePage(items=items, malformed=malformed, errors=errors, **numbers)


def parse_item(raw: Any, *, mode: str, company: str) -> SourceNotice:
    """A notice from one item, or MalformedItem; an item of another company or mode is malformed too."""
    if not isinstance(raw, dict):
        raise MalformedItem(f"item is a {type(raw).__name__}, not an object")
    notice_id = _text(raw, "notice_id", required=True)
    company_code = _text(raw, "company_code", required=True)
    if company_code != company:
        raise MalformedItem(f"company_code {company_code!r} is not the requested {company!r}")
    item_mode = _text(raw, "mode", required=True)
    if item_mode not in MODES:
        raise MalformedItem(f"unknown mode {item_mode!r}")
    if item_mode != mode:
        raise MalformedItem(f"mode {item_mode!r} in a {mode!r} pull")
    instalment_no = _integer(raw, "instalment_no")
    if instalment_no < 1:
        raise MalformedItem(f"instalment_no {instalment_no} is below 1")
    days_overdue = _integer(raw, "days_overdue")
    if days_overdue < 0:
        raise MalformedItem(f"days_overdue {days_overdue} is negative")
    return SourceNotice(
        notice_id=notice_id,
        company_code=company_code,
        loan_number=_text(raw, "loan_number", required=False),
        customer_name=_text(raw, "customer_name", required=True),
        phone=_phone(raw),
        due_date=_due_date(raw),
        instalment_no=instalment_no,
        amount_due=_amount(raw),
        days_overdue=days_overdue,
        mode=item_mode,
        updated_at=_instant(raw.get("updated_at")),
    )


def _text(raw: dict[str, Any], field: str, *, required: bool) -> str:
    if field not in raw:
        raise MalformedItem(f"missing {field}")
    value = raw[field]
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise MalformedItem(f"{field} is a {type(value).__name__}, not a string")
    value = value.strip()
    if required and not value:
        raise MalformedItem(f"{field} is empty")
    return value


def _phone(raw: dict[str, Any]) -> str:
    if "phone" not in raw:
        raise MalformedItem("missing phone")
    value = raw["phone"]
    if value is None:
        return ""
    # A source may send a number as a JSON number (919876543210); it is still the phone it meant.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise MalformedItem(f"phone is a {type(value).__name__}, not a string")
    return value.strip()


def _integer(raw: dict[str, Any], field: str) -> int:
    if field not in raw:
        raise MalformedItem(f"missing {field}")
    value = raw[field]
    if isinstance(value, bool):
        raise MalformedItem(f"{field} is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_PATTERN.match(value.strip()):
        return int(value.strip())
    raise MalformedItem(f"{field} {_short(value)} is not a whole number")


def _amount(raw: dict[str, Any]) -> Decimal:
    if "amount_due" not in raw:
        raise MalformedItem("missing amount_due")
    value = raw["amount_due"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedItem(f"amount_due {_short(value)} is not a number")
    try:
        # str() first: a JSON float 12500.1 becomes Decimal("12500.1"), not its binary expansion.
        amount = Decimal(str(value).strip())
        if not amount.is_finite():
            raise MalformedItem(f"amount_due {_short(value)} is not a finite number")
        amount = amount.quantize(_PAISE, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:  # not a number, or too many digits to hold in paise
        raise MalformedItem(f"amount_due {_short(value)} is not a number") from exc
    if amount < 0:
        raise MalformedItem(f"amount_due {_short(value)} is negative")
    return abs(amount) if amount == 0 else amount  # "-0.00" is zero, not a negative amount


def _due_date(raw: dict[str, Any]) -> date:
    if "due_date" not in raw:
        raise MalformedItem("missing due_date")
    value = raw["due_date"]
    # fromisoformat alone also takes "20240131" and week dates; the contract says YYYY-MM-DD.
    if not isinstance(value, str) or not _DATE_PATTERN.match(value.strip()):
        raise MalformedItem(f"due_date {_short(value)} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise MalformedItem(f"due_date {_short(value)} is not a date") from exc


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # A source clock without an offset is taken as UTC rather than as this machine's local time.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        seconds = float(header.strip())
    except ValueError:
        return None  # an HTTP-date or garbage: fall back to our own backoff
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text.split())
    return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _label(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("notice_id"), str) and raw["notice_id"].strip():
        return f" ({_short(raw['notice_id'].strip())})"
    return ""
