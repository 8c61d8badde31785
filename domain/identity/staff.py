"""Staff users (partner users): roles, per-user permission overrides, hierarchy, companies, leave, invites, logins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.identity.permissions import Grants, Level, Permission, effective_grants
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import clean_text

LOCKOUT_AFTER = 5
MAX_LOCKOUT_MINUTES = 60


def lockout_until(failures: int, now: datetime) -> datetime | None:
    """Until when `failures` failed logins in a row lock an account: from the 5th, 1, 2, 4 ... 60 minutes."""
    if failures < LOCKOUT_AFTER:
        return None
    exponent = min(failures - LOCKOUT_AFTER, MAX_LOCKOUT_MINUTES.bit_length())  # no huge powers of two
    return now + timedelta(minutes=min(2**exponent, MAX_LOCKOUT_MINUTES))


class StaffNotFound(NotFound):
    """Raised when no staff user has the id or email within the brand."""


class InviteInvalid(Conflict):
    """Raised when an invite code is unknown, used, expired or superseded."""


def clean_companies(companies: list[str]) -> list[str]:
    """Company codes as kept: trimmed, distinct and sorted; each one line of visible text. Kept as typed (shown so);
    compared case-insensitively (`company_code`: "sml" is SML) wherever they scope what a staff member sees."""
    return sorted({clean_text(c, "companies") for c in companies if c.strip()})


class Leave(BaseModel):
    """A planned absence (it takes the person out of auto-allocation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: UUID
    start: date
    end: date
    reason: str | None = None


def on_leave(leaves: Iterable[Leave], day: date) -> bool:
    """True when one of the planned absences covers `day`."""
    return any(leave.start <= day <= leave.end for leave in leaves)


class StaffUser(Aggregate):
    """A member of a brand's staff."""

    class Created(Aggregate.Created):
        """A staff user was created (with a password, or pending an invite when `password_hash` is empty)."""

        brand_id: UUID
        email: str
        name: str
        roles: list[str]
        password_hash: str
        companies: list[str] = []  # noqa: RUF012 - pydantic copies defaults
        manager_id: UUID | None = None

    class ProfileEdited(Aggregate.Event):
        """Name or login email changed (only the changed fields are set)."""

        name: str | None = None
        email: str | None = None

    class RolesAssigned(Aggregate.Event):
        """The user's roles were replaced."""

        roles: list[str]

    class PermissionOverridden(Aggregate.Event):
        """A per-user override: `level` replaces the roles' default; None denies the permission."""

        permission: Permission
        level: Level | None

    class PermissionOverrideCleared(Aggregate.Event):
        """The permission is back to the roles' default."""

        permission: Permission

    class ManagerAssigned(Aggregate.Event):
        """Who the user reports to (None: nobody)."""

        manager_id: UUID | None

    class CompaniesAuthorised(Aggregate.Event):
        """The lenders/sources within the brand the user may see (empty: all)."""

        companies: list[str]

    class AvailabilitySet(Aggregate.Event):
        """Whether the user takes new work now."""

        available: bool

    class LeaveScheduled(Aggregate.Event):
        """A planned absence was recorded."""

        leave: Leave

    class LeaveCancelled(Aggregate.Event):
        """A planned absence was cancelled."""

        leave_id: UUID

    class InviteIssued(Aggregate.Event):
        """A one-time invite code was issued (only its hash is kept); it replaces earlier ones."""

        code_hash: str
        expires_at: datetime

    class InviteAccepted(Aggregate.Event):
        """The invitee set a password with the code."""

        password_hash: str

    class PasswordChanged(Aggregate.Event):
        """The password hash was replaced."""

        password_hash: str

    class Disabled(Aggregate.Event):
        """The user may no longer log in; sessions stop working."""

    class Enabled(Aggregate.Event):
        """A disabled user may log in again."""

    class LoggedIn(Aggregate.Event):
        """A successful portal login."""

        ip: str | None = None
        user_agent: str | None = None

    class LoginFailed(Aggregate.Event):
        """A failed login attempt for this user's email; `locked_until` set once failures pile up."""

        ip: str | None = None
        reason: str
        locked_until: datetime | None = None

    @event(Created)
    def __init__(
        self,
        brand_id: UUID,
        email: str,
        name: str,
        roles: list[str],
        password_hash: str,
        companies: list[str],
        manager_id: UUID | None,
    ) -> None:
        self.brand_id = brand_id
        self.email = email
        self.name = name
        self.roles = list(roles)
        self.password_hash = password_hash
        self.companies = list(companies)
        self.manager_id = manager_id
        self.enabled = True
        self.available = True
        self.overrides: dict[Permission, Level | None] = {}
        self.leaves: dict[UUID, Leave] = {}
        self.invite: tuple[str, datetime] | None = None
        self.failed_logins = 0
        self.locked_until: datetime | None = None

    @property
    def grants(self) -> Grants:
        """Effective permissions: role defaults with this user's overrides."""
        return effective_grants(self.roles, self.overrides)

    @property
    def has_password(self) -> bool:
        return bool(self.password_hash)

    def edit_profile(self, name: str | None, email: str | None) -> bool:
        """Change name and/or email; False when nothing differs."""
        changes = {k: v for k, v in {"name": name, "email": email}.items() if v is not None and v != getattr(self, k)}
        if changes:
            self._profile_edited(**changes)
        return bool(changes)

    @event(ProfileEdited)
    def _profile_edited(self, name: str | None = None, email: str | None = None) -> None:
        if name is not None:
            self.name = name
        if email is not None:
            self.email = email

    def assign_roles(self, roles: list[str]) -> bool:
        """Replace the roles (validated by the caller); False when unchanged."""
        if not roles:
            raise InvalidValue("roles", "at least one role is required")
        if sorted(roles) == sorted(self.roles):
            return False
        self._roles_assigned(roles=sorted(set(roles)))
        return True

    @event(RolesAssigned)
    def _roles_assigned(self, roles: list[str]) -> None:
        self.roles = list(roles)

    def override_permission(self, permission: Permission, level: Level | None) -> bool:
        """Set a per-user override (None denies); False when it is already so."""
        if permission in self.overrides and self.overrides[permission] == level:
            return False
        self._permission_overridden(permission=permission, level=level)
        return True

    @event(PermissionOverridden)
    def _permission_overridden(self, permission: Permission, level: Level | None) -> None:
        self.overrides[permission] = level

    def clear_override(self, permission: Permission) -> bool:
        """Return a permission to the roles' default; False when there was no override."""
        if permission not in self.overrides:
            return False
        self._override_cleared(permission=permission)
        return True

    @event(PermissionOverrideCleared)
    def _override_cleared(self, permission: Permission) -> None:
        del self.overrides[permission]

    def assign_manager(self, manager_id: UUID | None) -> bool:
        """Set who the user reports to (cycles are checked by the application); False when unchanged."""
        if manager_id == self.id:
            raise InvalidValue("manager_id", "a person cannot report to themselves")
        if manager_id == self.manager_id:
            return False
        self._manager_assigned(manager_id=manager_id)
        return True

    @event(ManagerAssigned)
    def _manager_assigned(self, manager_id: UUID | None) -> None:
        self.manager_id = manager_id

    def authorise_companies(self, companies: list[str]) -> bool:
        """Set the companies the user may see (empty: all); False when unchanged."""
        clean = clean_companies(companies)
        if clean == self.companies:
            return False
        self._companies_authorised(companies=clean)
        return True

    @event(CompaniesAuthorised)
    def _companies_authorised(self, companies: list[str]) -> None:
        self.companies = list(companies)

    def set_availability(self, available: bool) -> bool:
        """Mark the user available or not; False when unchanged."""
        if available == self.available:
            return False
        self._availability_set(available=available)
        return True

    @event(AvailabilitySet)
    def _availability_set(self, available: bool) -> None:
        self.available = available

    def schedule_leave(self, leave: Leave) -> None:
        """Record a planned absence; it may not end before it starts or overlap another."""
        if leave.end < leave.start:
            raise InvalidValue("end", "leave cannot end before it starts")
        for other in self.leaves.values():
            if leave.start <= other.end and other.start <= leave.end:
                raise Conflict(f"overlaps the leave from {other.start} to {other.end}", leave_id=str(other.id))
        self._leave_scheduled(leave=leave)

    @event(LeaveScheduled)
    def _leave_scheduled(self, leave: Leave) -> None:
        self.leaves[leave.id] = leave

    def cancel_leave(self, leave_id: UUID) -> None:
        """Cancel a planned absence."""
        if leave_id not in self.leaves:
            raise NotFound(f"no leave {leave_id}", leave_id=str(leave_id))
        self._leave_cancelled(leave_id=leave_id)

    @event(LeaveCancelled)
    def _leave_cancelled(self, leave_id: UUID) -> None:
        del self.leaves[leave_id]

    def on_leave(self, day: date) -> bool:
        """True when a planned absence covers `day`."""
        return on_leave(self.leaves.values(), day)

    @event(InviteIssued)
    def issue_invite(self, code_hash: str, expires_at: datetime) -> None:
        self.invite = (code_hash, expires_at)

    def accept_invite(self, code_hash: str, password_hash: str, now: datetime) -> None:
        """Set the password with the current, unexpired invite code (once)."""
        if self.invite is None or self.invite[0] != code_hash:
            raise InviteInvalid("this invite code is not valid (used, replaced or unknown)")
        if now >= self.invite[1]:
            raise InviteInvalid("this invite code has expired; ask an admin for a new one")
        if not self.enabled:
            raise InviteInvalid("this staff account is disabled")
        self._invite_accepted(password_hash=password_hash)

    @event(InviteAccepted)
    def _invite_accepted(self, password_hash: str) -> None:
        self.password_hash = password_hash
        self.invite = None

    @event(PasswordChanged)
    def change_password_hash(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def disable(self) -> None:
        """Disable the user."""
        if not self.enabled:
            raise Conflict("staff user is already disabled")
        self._disabled()

    @event(Disabled)
    def _disabled(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        """Enable a disabled user."""
        if self.enabled:
            raise Conflict("staff user is already enabled")
        self._enabled()

    @event(Enabled)
    def _enabled(self) -> None:
        self.enabled = True

    def is_locked(self, now: datetime) -> bool:
        """True while repeated failed logins keep the account locked."""
        return self.locked_until is not None and now < self.locked_until

    @event(LoggedIn)
    def record_login(self, ip: str | None, user_agent: str | None) -> None:
        self.failed_logins = 0
        self.locked_until = None

    def fail_login(self, ip: str | None, reason: str, now: datetime, failures: int | None = None) -> None:
        """Record a failed login; from the 5th in a row the account locks for 1, 2, 4 ... 60 minutes.

        `failures` is the count of failures in a row including this one, as the login throttle counted it
        (it counts attempts atomically across processes); without it, this record's own count."""
        count = self.failed_logins + 1 if failures is None else failures
        self._login_failed(ip=ip, reason=reason, locked_until=lockout_until(count, now))

    @event(LoginFailed)
    def _login_failed(self, ip: str | None, reason: str, locked_until: datetime | None) -> None:
        self.failed_logins += 1
        if locked_until is not None:
            self.locked_until = locked_until
