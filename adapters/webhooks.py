"""Signed webhooks from providers: HMAC-SHA256 over the timestamp and the body, refused when stale.

The scheme (docs/integration.md, "Webhooks from providers"): the sender puts the signing instant in
`X-Timestamp` (Unix seconds) and `X-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`; a sender
rotating its secret may list several signatures, comma-separated. The receiver verifies with `WebhookVerifier`
before parsing the body, and deduplicates on the event's `id` inside the signed body (`WebhookEvent`), since a
provider may deliver the same event more than once. Our simulators sign with `sign` below, so the product's
verification is exercised over HTTP by the tests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from domain.shared.clock import Clock, SystemClock
from domain.shared.errors import FieldError, InvalidInput, field_path

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
SCHEME = "v1"
DEFAULT_TOLERANCE = timedelta(minutes=5)

# WebhookRejected.reason values: fixed codes a receiver logs and may return in its problem+json.
MISSING_HEADER = "missing_header"
MALFORMED_HEADER = "malformed_header"
BAD_SIGNATURE = "bad_signature"
STALE_TIMESTAMP = "stale_timestamp"

_UNIX_SECONDS = re.compile(r"[0-9]{1,11}")  # ASCII digits only; 11 digits reach the year 5138


class WebhookRejected(Exception):
    """Raised when a webhook delivery's signature or timestamp does not verify; `reason` is a fixed code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class WebhookEvent(BaseModel):
    """The signed body our providers' simulators send: the event id to deduplicate on, its type and data."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]

    @model_validator(mode="after")
    def _storable(self) -> WebhookEvent:
        """No string at any depth holds what PostgreSQL text cannot store (a NUL, an unpaired surrogate): the
        receiver looks the event and its references up by them, and such a delivery is refused, not a 500."""
        if _unstorable((self.id, self.type, self.data)):
            raise ValueError("the event holds a NUL character or an unpaired surrogate")
        return self


def parse_event(body: bytes) -> WebhookEvent:
    """The delivery's event, or InvalidInput naming each missing or malformed field (`body.type`, `body.data`, ...;
    `body` when it is not a JSON object at all): a provider's integrator sees what to fix, not only that it failed."""
    try:
        return WebhookEvent.model_validate_json(body)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            message = "missing" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
            errors.append(FieldError(field_path(err["loc"], "body"), f"not a webhook event: {message}"))
        raise InvalidInput(errors) from None


def require_text(data: Mapping[str, Any], *keys: str, prefix: str = "data.") -> None:
    """InvalidInput naming each of `keys` present in an event's data with a value that is not a string (an id, a
    reference, a reason): a wrong type is the sender's bug to fix (422), not a reference of nobody's."""
    errors = [
        FieldError(f"{prefix}{key}", "must be a string")
        for key in keys
        if data.get(key) is not None and not isinstance(data[key], str)
    ]
    if errors:
        raise InvalidInput(errors)


def signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    return hmac.new(_key(secret), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers that sign `body` as sent at `timestamp` (Unix seconds)."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: f"{SCHEME}={signature(secret, timestamp, body)}"}


class WebhookVerifier:
    """Checks a delivery's signature (any current secret, constant-time) and that it was signed within the window."""

    def __init__(
        self, secrets: Iterable[str | bytes], *, tolerance: timedelta = DEFAULT_TOLERANCE, clock: Clock | None = None
    ) -> None:
        self._keys = tuple(_key(secret) for secret in secrets)
        if not self._keys or not all(self._keys):
            raise ValueError("a webhook verifier needs at least one non-empty secret")
        if tolerance <= timedelta(0):
            raise ValueError("the tolerance must be positive")
        self.tolerance = tolerance
        self._clock: Clock = clock if clock is not None else SystemClock()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> datetime:
        """The instant the delivery was signed, or WebhookRejected when it is unsigned, forged, tampered or stale.

        `headers` may be Starlette's (case-insensitive) or a plain dict with any capitalisation.
        """
        raw_timestamp = _header(headers, TIMESTAMP_HEADER)
        raw_signatures = _header(headers, SIGNATURE_HEADER)
        if raw_timestamp is None or raw_signatures is None:
            missing = TIMESTAMP_HEADER if raw_timestamp is None else SIGNATURE_HEADER
            raise WebhookRejected(MISSING_HEADER, f"the {missing} header is required")
        if not _UNIX_SECONDS.fullmatch(raw_timestamp.strip()):
            raise WebhookRejected(MALFORMED_HEADER, f"{TIMESTAMP_HEADER} must be whole Unix seconds")
        timestamp = int(raw_timestamp.strip())
        offered = [
            value.strip()[len(SCHEME) + 1 :]
            for value in raw_signatures.split(",")
            if value.strip().startswith(f"{SCHEME}=")
        ]
        if not offered:
            raise WebhookRejected(MALFORMED_HEADER, f"{SIGNATURE_HEADER} must carry a {SCHEME}=<hex> signature")
        expected = [signature(key, timestamp, body) for key in self._keys]
        # Every pair is compared (no early exit) with compare_digest, so timing says nothing about the secret.
        matched = False
        for candidate in offered:
            for wanted in expected:
                matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
        if not matched:
            raise WebhookRejected(BAD_SIGNATURE, "the signature does not match the body and timestamp")
        signed_at = datetime.fromtimestamp(timestamp, UTC)
        if abs(self._clock.now() - signed_at) > self.tolerance:
            raise WebhookRejected(
                STALE_TIMESTAMP, f"signed at {signed_at.isoformat()}, outside the {self.tolerance} window"
            )
        return signed_at


#: What a PostgreSQL text value cannot hold: NUL, and unpaired surrogates (UTF-8 cannot encode them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_unstorable(v) for v in value)
    return False


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)
