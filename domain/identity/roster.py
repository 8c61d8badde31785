"""The admins of a brand, kept as one aggregate so "never disable the last admin" holds under concurrency."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate

ADMIN_ROLES = frozenset({"admin", "super_admin"})


class BrandAdmins(Aggregate):
    """Enabled staff of a brand holding an admin role; one per brand (uuid5 id)."""

    id: UUID

    class Started(Aggregate.Created):
        """The roster was created with its first admin."""

        brand_id: UUID
        admin_ids: list[UUID]

    class AdminAdded(Aggregate.Event):
        """A staff user became an enabled admin."""

        staff_id: UUID

    class AdminRemoved(Aggregate.Event):
        """A staff user stopped being an enabled admin."""

        staff_id: UUID

    @event(Started)
    def __init__(self, brand_id: UUID, admin_ids: list[UUID]) -> None:
        self.brand_id = brand_id
        self.admin_ids: set[UUID] = set(admin_ids)

    def track(self, staff_id: UUID, is_enabled_admin: bool) -> None:
        """Bring the roster in line with whether `staff_id` is an enabled admin now."""
        if is_enabled_admin and staff_id not in self.admin_ids:
            self._admin_added(staff_id=staff_id)
        elif not is_enabled_admin and staff_id in self.admin_ids:
            self._admin_removed(staff_id=staff_id)

    @event(AdminAdded)
    def _admin_added(self, staff_id: UUID) -> None:
        self.admin_ids.add(staff_id)

    @event(AdminRemoved)
    def _admin_removed(self, staff_id: UUID) -> None:
        self.admin_ids.discard(staff_id)
