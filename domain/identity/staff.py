"""Staff users (partner users) who log in to the portal."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound


class StaffNotFound(NotFound):
    """Raised when no staff user has the id or email within the brand."""


class StaffUser(Aggregate):
    """A member of a brand's staff with roles and a password."""

    class Created(Aggregate.Created):
        """A staff user was created."""

        brand_id: UUID
        email: str
        name: str
        roles: list[str]
        password_hash: str

    class PasswordChanged(Aggregate.Event):
        """The password hash was replaced."""

        password_hash: str

    class Disabled(Aggregate.Event):
        """The user may no longer log in; sessions and keys stop working."""

    class Enabled(Aggregate.Event):
        """A disabled user may log in again."""

    @event(Created)
    def __init__(self, brand_id: UUID, email: str, name: str, roles: list[str], password_hash: str) -> None:
        self.brand_id = brand_id
        self.email = email
        self.name = name
        self.roles = list(roles)
        self.password_hash = password_hash
        self.enabled = True

    @event(PasswordChanged)
    def change_password_hash(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def disable(self) -> None:
        """Disable the user (idempotence is a conflict: it is already disabled)."""
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
