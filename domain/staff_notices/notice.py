"""Staff in-app notifications (spec "Staff Notifications (In-App)"): an admin's notice to roles or named staff, with
a priority and an optional publish time; each reader's acknowledgement is a receipt of its own (uuid5 of notice and
reader), so many staff acknowledging at once never conflict and a repeat acknowledgement records nothing."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event

from domain.shared.aggregate import Aggregate
from domain.shared.errors import NotFound


class Priority(StrEnum):
    """How urgent a notice is."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class StaffNoticeNotFound(NotFound):
    """Raised when no notice with the id is published to the caller within the brand."""


class StaffNotice(Aggregate):
    """One notice of a brand to the staff holding any of `roles` and to each of `staff_ids` (uuid4 for an admin's;
    a uuid5 of what it is about for one another context pushes: `StaffNotices.push`)."""

    id: UUID

    class Created(Aggregate.Created):
        """An admin wrote a notice; it shows from `publish_at` on."""

        brand_id: UUID
        title: str
        body: str
        priority: Priority
        roles: list[str]
        staff_ids: list[UUID]
        publish_at: datetime

    @event(Created)
    def __init__(
        self,
        brand_id: UUID,
        title: str,
        body: str,
        priority: Priority,
        roles: list[str],
        staff_ids: list[UUID],
        publish_at: datetime,
    ) -> None:
        self.brand_id = brand_id
        self.title = title
        self.body = body
        self.priority = priority
        self.roles = list(roles)
        self.staff_ids = list(staff_ids)
        self.publish_at = publish_at

    def published(self, now: datetime) -> bool:
        """Whether the notice shows at `now`."""
        return self.publish_at <= now

    def addressed_to(self, reader_id: UUID, roles: tuple[str, ...] | list[str]) -> bool:
        """Whether the reader (a staff member or an API key, with its roles) is one of the notice's recipients."""
        return reader_id in self.staff_ids or bool(set(self.roles) & set(roles))


class NoticeReceipt(Aggregate):
    """That one reader acknowledged one notice, and when (the event's timestamp)."""

    id: UUID

    class Acknowledged(Aggregate.Created):
        """The reader acknowledged the notice."""

        brand_id: UUID
        notice_id: UUID
        reader_id: UUID
        reader_kind: str  # "staff" or "apikey"
        reader_name: str

    @event(Acknowledged)
    def __init__(self, brand_id: UUID, notice_id: UUID, reader_id: UUID, reader_kind: str, reader_name: str) -> None:
        self.brand_id = brand_id
        self.notice_id = notice_id
        self.reader_id = reader_id
        self.reader_kind = reader_kind
        self.reader_name = reader_name
