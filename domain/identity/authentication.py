"""Authentication: turning a password login or a bearer API key into a `Principal`, with the login throttle.

`Authentication` is the part of the identity application that reads credentials; `Identity` (the use cases of
brands, staff and keys) extends it, so both share one event store and one name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.identity.api_key import ApiKey
from domain.identity.permissions import CROSS_BRAND_ROLES, capped, role_grants
from domain.identity.principal import AuthenticationFailed, Principal
from domain.identity.staff import StaffNotFound, StaffUser, lockout_until
from domain.shared.application import ConcurrentModification, ContextApplication, of_brand
from domain.shared.clock import Clock
from domain.shared.errors import DomainError
from domain.shared.index import UniqueValue, index_id

API_KEY_PREFIX = "cdk"
INVITE_PREFIX = "inv"
# Concurrent login attempts on one account conflict on its version; the throttle admits at most LOCKOUT_AFTER.
LOGIN_RECORD_ATTEMPTS = 20


class PasswordHasher(Protocol):
    """Slow password hashing (argon2 in production), injected so the domain does no crypto I/O."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...


class AccountLocked(AuthenticationFailed):
    """Raised when repeated failed logins have locked the account for a while."""


@dataclass(frozen=True)
class LoginAttempt:
    """The login throttle's answer: admitted (and already counted as a failure until it succeeds), or refused."""

    admitted: bool
    failures: int  # failed attempts in a row, this one included
    locked_until: datetime | None


class LoginThrottle(Protocol):
    """Counts login attempts per email atomically across every server process (a row lock in production)."""

    def admit_login(
        self, subject: str, now: datetime, lockout: Callable[[int, datetime], datetime | None]
    ) -> LoginAttempt:
        """Refuse while locked; else count this attempt as a failure and apply `lockout(failures, now)`."""
        ...

    def clear_login_failures(self, subject: str) -> None:
        """A successful login: the count starts again."""
        ...


class Sessions(Protocol):
    """The portal's sessions, ended when their staff user is disabled."""

    def end_sessions_of(self, staff_id: UUID) -> int:
        """End every session of the staff user; how many there were."""
        ...


def secret_hash(secret: str) -> str:
    """What is stored of an API key's or an invite's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str, prefix: str, error: DomainError) -> tuple[UUID, str]:
    """`<prefix>_<id hex>_<secret>` as (id, secret); `error` when it is not one."""
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        raise error
    try:
        return UUID(hex=parts[1]), parts[2]
    except ValueError:
        raise error from None


class Authentication(ContextApplication):
    """Password logins (throttled, recorded) and API keys turned into principals."""

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        hasher: PasswordHasher | None = None,
        login_throttle: LoginThrottle | None = None,
        sessions: Sessions | None = None,
    ) -> None:
        super().__init__(env, clock)
        self._hasher = hasher
        self._login_throttle = login_throttle
        self._sessions = sessions
        self._dummy_hash: str | None = None

    @property
    def hasher(self) -> PasswordHasher:
        if self._hasher is None:
            raise RuntimeError("Identity needs a PasswordHasher for password use cases")
        return self._hasher

    @property
    def login_throttle(self) -> LoginThrottle:
        if self._login_throttle is None:
            raise RuntimeError("Identity needs a LoginThrottle for password logins")
        return self._login_throttle

    def staff(self, brand_id: UUID | None, staff_id: UUID) -> StaffUser:
        """The staff user, if in the brand (None: any brand): a copy of their own to change (`find_latest`: not a
        replay of the record's whole history, which every login adds to)."""
        return of_brand(self.find_latest(staff_id), StaffUser, staff_id, brand_id, StaffNotFound)

    def staff_now(self, brand_id: UUID | None, staff_id: UUID) -> StaffUser:
        """`staff`, to read, not to change: the staff user behind a portal session or an API key, read at each
        request, from `find_kept` (not even a copy)."""
        return of_brand(self.find_kept(staff_id), StaffUser, staff_id, brand_id, StaffNotFound)

    def staff_by_email(self, email: str) -> StaffUser:
        """The staff user with the login email."""
        index = self.find(index_id("staff_email", None, email.strip().lower()))
        if not isinstance(index, UniqueValue) or index.owner_id is None:
            raise StaffNotFound("no staff user with that email")
        return self.staff(None, index.owner_id)

    def authenticate_staff(
        self, email: str, password: str, ip: str | None = None, user_agent: str | None = None
    ) -> Principal:
        """Check a password login, record it (success or failure) and lock the email after repeated failures.

        The throttle counts every attempt before the password is checked, so parallel guesses cannot outrun
        the lock: at most LOCKOUT_AFTER of them are checked, the rest are refused unchecked. Unknown emails
        are counted and locked alike, and every refusal (unknown email, wrong password, pending invite,
        disabled user) is the same error after the same argon2 work, so no answer tells which accounts exist.
        """
        now = self.clock.now()
        subject = email.strip().lower()
        attempt = self.login_throttle.admit_login(subject, now, lockout_until)
        if not attempt.admitted:
            locked_until = attempt.locked_until or now
            raise AccountLocked(
                "too many failed logins; try again later",
                retry_after=max(1, int((locked_until - now).total_seconds()) + 1),
            )
        try:
            staff: StaffUser | None = self.staff_by_email(subject)
        except StaffNotFound:
            staff = None
        usable = staff is not None and staff.has_password
        # Always one argon2 verification: against a throw-away hash when there is no password to check.
        matches = self.hasher.verify(staff.password_hash if staff and usable else self._throwaway_hash(), password)
        if staff is None:
            raise AuthenticationFailed("invalid email or password")
        if not (usable and matches and staff.enabled):
            reason = "disabled" if not staff.enabled else "no password yet" if not usable else "wrong password"
            self._record_login_outcome(staff.id, lambda s: s.fail_login(ip, reason, now, attempt.failures))
            raise AuthenticationFailed("invalid email or password")
        self.login_throttle.clear_login_failures(subject)
        staff = self._record_login_outcome(staff.id, lambda s: s.record_login(ip, (user_agent or "")[:300] or None))
        return self.staff_principal(staff)

    def _throwaway_hash(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _record_login_outcome(self, staff_id: UUID, change: Callable[[StaffUser], None]) -> StaffUser:
        """Record a login event, reloading and retrying when concurrent attempts record theirs first."""
        for _ in range(LOGIN_RECORD_ATTEMPTS - 1):
            staff = self.staff(None, staff_id)
            change(staff)
            try:
                self.commit(staff)
                return staff
            except ConcurrentModification:
                continue
        staff = self.staff(None, staff_id)
        change(staff)
        self.commit(staff)  # Still contended after every retry: a 409 rather than an unrecorded attempt.
        return staff

    def staff_principal(self, staff: StaffUser) -> Principal:
        """The principal of an enabled staff user."""
        if not staff.enabled:
            raise AuthenticationFailed("staff user is disabled")
        return Principal(
            "staff", staff.id, staff.brand_id, staff.name, tuple(staff.roles), staff.grants, tuple(staff.companies)
        )

    def end_sessions_of(self, staff_id: UUID) -> None:
        """End the portal sessions of a staff user (when there is a session store: not in the middle tier)."""
        if self._sessions is not None:
            self._sessions.end_sessions_of(staff_id)

    def authenticate_api_key(self, token: str) -> Principal:
        """Turn a bearer token into the key's principal, or fail."""
        key_id, secret = split_token(token, API_KEY_PREFIX, AuthenticationFailed("malformed API key"))
        key = self.find(key_id)
        if not isinstance(key, ApiKey) or not hmac.compare_digest(key.secret_hash, secret_hash(secret)):
            raise AuthenticationFailed("unknown API key")
        if key.revoked:
            raise AuthenticationFailed("API key has been revoked")
        grants = role_grants([key.role])
        if key.owner_id is None:  # made by the operator's CLI: its role, every company
            return Principal("apikey", key.id, key.brand_id, key.label, (key.role,), grants)
        owner = self.find_kept(key.owner_id)
        if not isinstance(owner, StaffUser) or not owner.enabled:
            raise AuthenticationFailed("the staff user who owns this API key is disabled")
        # A key acts for its owner: never beyond what they hold now. A demoted owner's key loses what they lost
        # (and the role's name, when they no longer hold all of it); a key of an owner limited to some companies
        # since keeps to those.
        limited = capped(grants, owner.grants)
        keeps_role = limited == grants and (
            key.role not in CROSS_BRAND_ROLES or bool(CROSS_BRAND_ROLES & set(owner.roles))
        )
        roles = (key.role,) if keeps_role else ()
        return Principal("apikey", key.id, key.brand_id, key.label, roles, limited, tuple(owner.companies))
