"""Borrower sign-in: a one-time code per phone and brand (kept only as a salted hash), its throttle and lock, and
bearer sessions (kept only under the hash of their token)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import InvalidValue, NotFound, Throttled

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/onboarding")

OTP_DIGITS = 6
OTP_LIFETIME = timedelta(minutes=5)
#: A new code is sent at most once per RESEND_AFTER, and at most SENDS_PER_HOUR times an hour.
RESEND_AFTER = timedelta(seconds=30)
SENDS_PER_HOUR = 5
#: This many wrong codes in a row lock the phone for LOCK_FOR (the right code is refused too while locked).
MAX_FAILURES = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(days=30)
TOKEN_PREFIX = "cdb_"


class BorrowerNotFound(NotFound):
    """Raised when no borrower (or no funnel) has the id within the brand."""


class ApplicationNotFound(NotFound):
    """Raised when a loan application is not the signed-in borrower's (or does not exist)."""


class SessionNotFound(NotFound):
    """Raised when a borrower token is unknown, expired or ended."""


def account_id(brand_id: UUID, phone: str) -> UUID:
    """The borrower's id: one per normalised phone per brand."""
    return uuid5(_NAMESPACE, f"account:{brand_id}:{phone}")


def funnel_id(borrower_id: UUID) -> UUID:
    """The id of a borrower's funnel."""
    return uuid5(_NAMESPACE, f"funnel:{borrower_id}")


def token_hash(token: str) -> str:
    """The SHA-256 a bearer token is known by."""
    return hashlib.sha256(token.encode()).hexdigest()


def session_id(token: str) -> UUID:
    """The id of the session a token opens (derived from the token's hash: the token itself is never stored)."""
    return uuid5(_NAMESPACE, f"session:{token_hash(token)}")


def new_token() -> str:
    """A fresh bearer token for a borrower."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_code() -> str:
    """A fresh six-digit one-time code."""
    return f"{secrets.randbelow(10**OTP_DIGITS):0{OTP_DIGITS}d}"


def _code_hash(salt: str, code: str) -> str:
    """A memory-hard hash (scrypt, ~16 MiB, tens of ms): the code's event reaches the relay and the store, and a
    million guesses at a six-digit code must cost far more than the five minutes it lives."""
    digest = hashlib.scrypt(code.encode(), salt=salt.encode(), n=2**14, r=8, p=1, dklen=32)
    return salt + "$" + digest.hex()


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


class BorrowerAccount(Aggregate):
    """A phone's sign-in state within a brand (uuid5 of brand and phone); its id is the borrower's id."""

    id: UUID

    class Opened(Aggregate.Created):
        """A phone asked for its first code."""

        brand_id: UUID
        phone: str

    class CodeSent(Aggregate.Event):
        """A code was issued (its salted hash kept) and sent by SMS."""

        code_hash: str
        sent_at: datetime
        expires_at: datetime

    class CodeFailed(Aggregate.Event):
        """A wrong or expired code was given; `locked_until` is set when this failure locked the phone."""

        failures: int
        locked_until: datetime | None = None

    class Verified(Aggregate.Event):
        """The right code was given: the phone is verified and the code spent."""

    @event(Opened)
    def __init__(self, brand_id: UUID, phone: str) -> None:
        self.brand_id = brand_id
        self.phone = phone
        self.code_hash: str | None = None
        self.expires_at: datetime | None = None
        self.sent_at: list[datetime] = []
        self.failures = 0
        self.locked_until: datetime | None = None
        self.verified = False

    def locked(self, now: datetime) -> int | None:
        """Seconds left of a lock, or None."""
        if self.locked_until is not None and self.locked_until > now:
            return _seconds(self.locked_until - now)
        return None

    def resend_wait(self, now: datetime) -> int | None:
        """Seconds until another code may be sent, or None when one may be sent now."""
        recent = [t for t in self.sent_at if t > now - timedelta(hours=1)]
        if recent and recent[-1] + RESEND_AFTER > now:
            return _seconds(recent[-1] + RESEND_AFTER - now)
        if len(recent) >= SENDS_PER_HOUR:
            return _seconds(recent[-SENDS_PER_HOUR] + timedelta(hours=1) - now)
        return None

    def issue(self, code: str, now: datetime) -> None:
        """Issue `code` (the caller sends it); only when the phone is neither locked nor within its resend wait."""
        salt = secrets.token_hex(8)
        self._code_sent(code_hash=_code_hash(salt, code), sent_at=now, expires_at=now + OTP_LIFETIME)

    @event(CodeSent)
    def _code_sent(self, code_hash: str, sent_at: datetime, expires_at: datetime) -> None:
        self.code_hash = code_hash
        self.expires_at = expires_at
        self.sent_at = [*self.sent_at[-(SENDS_PER_HOUR - 1) :], sent_at]

    def matches(self, code: str, now: datetime) -> bool:
        """Whether `code` is the live code."""
        if self.code_hash is None or self.expires_at is None or self.expires_at <= now:
            return False
        salt = self.code_hash.split("$", 1)[0]
        return hmac.compare_digest(_code_hash(salt, code.strip()), self.code_hash)

    def verify(self, code: str, now: datetime) -> bool:
        """Record the attempt: True for the right live code; a wrong one counts towards the lock."""
        if self.matches(code, now):
            self._verified()
            return True
        failures = self.failures + 1
        self._code_failed(failures=failures, locked_until=now + LOCK_FOR if failures >= MAX_FAILURES else None)
        return False

    @event(Verified)
    def _verified(self) -> None:
        self.sent_at = []  # the throttle guards unverified requests: signing in again (another device) may ask now
        self.code_hash = None
        self.expires_at = None
        self.failures = 0
        self.locked_until = None
        self.verified = True

    @event(CodeFailed)
    def _code_failed(self, failures: int, locked_until: datetime | None) -> None:
        self.failures = 0 if locked_until is not None else failures
        if locked_until is not None:
            self.locked_until = locked_until
            self.code_hash = None  # a code sent before the lock is spent


def refuse_while_locked(account: BorrowerAccount | None, now: datetime) -> None:
    """Throttled (429 with Retry-After) while the phone is locked."""
    wait = account.locked(now) if account is not None else None
    if wait is not None:
        raise Throttled(f"too many wrong codes: try again in {wait // 60 + 1} minutes", retry_after=wait)


def wrong_code() -> InvalidValue:
    """The error of a wrong or expired code (the same for a phone that never asked for one)."""
    return InvalidValue("otp", "the code is wrong or has expired; ask for a new one")


class BorrowerSession(Aggregate):
    """A borrower's bearer session (id derived from the token's hash); revocable, with an expiry."""

    id: UUID

    class Started(Aggregate.Created):
        """A borrower signed in."""

        brand_id: UUID
        borrower_id: UUID
        expires_at: datetime

    class Ended(Aggregate.Event):
        """The session was ended (signed out or revoked)."""

        reason: str

    @event(Started)
    def __init__(self, brand_id: UUID, borrower_id: UUID, expires_at: datetime) -> None:
        self.brand_id = brand_id
        self.borrower_id = borrower_id
        self.expires_at = expires_at
        self.ended = False

    def live(self, now: datetime) -> bool:
        """Whether the session still opens the borrower's endpoints."""
        return not self.ended and self.expires_at > now

    def end(self, reason: str) -> None:
        """End the session (idempotent)."""
        if not self.ended:
            self._ended(reason=reason)

    @event(Ended)
    def _ended(self, reason: str) -> None:
        self.ended = True
