"""Use cases of staff in-app notifications: publish a notice to roles or named staff, acknowledge one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from domain.identity.permissions import ROLES
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import FieldChecks, FieldError, InvalidValue
from domain.shared.values import MIN_REASON, check_date_range, check_offset, clean_text
from domain.staff_notices.notice import NoticeReceipt, Priority, StaffNotice, StaffNoticeNotFound

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/staff-notices")

#: At most this many roles or named staff per notice (a brand's whole staff is addressed by its roles).
MAX_RECIPIENTS = 200


def pushed_notice_id(key: str) -> UUID:
    """The id of the notice another context pushes about `key` (e.g. ``callback:<request>:due:<staff>``): one
    notice per key, however often it is pushed."""
    return uuid5(_NAMESPACE, f"pushed:{key}")


def receipt_id(notice_id: UUID, reader_id: UUID) -> UUID:
    """The id of one reader's acknowledgement of one notice: one per reader and notice."""
    return uuid5(_NAMESPACE, f"{notice_id}:{reader_id}")


def _publish_at(at: datetime) -> datetime:
    """`at` when it has a time zone and lies within the dates and offsets any input may name, whichever path it came
    by (the API's Instant, the portal's form): year 9999 overflowed comparing it with now (a 500), or was stored and
    overflowed every page showing it in the brand's zone."""
    if at.tzinfo is None:
        raise InvalidValue("publish_at", "give a time zone (e.g. 2026-12-01T09:00:00+05:30)")
    check_date_range(at, "publish_at")
    return check_offset(at, "publish_at")


class NoticeParties(Protocol):
    """What the notices context asks the identity context."""

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool: ...


class StaffNotices(ContextApplication):
    """Staff notices per brand and who acknowledged them."""

    name = "staff_notices"

    def __init__(
        self, env: dict[str, str] | None = None, clock: Clock | None = None, parties: NoticeParties | None = None
    ) -> None:
        super().__init__(env, clock)
        self.parties = parties

    def publish(
        self,
        brand_id: UUID,
        title: str,
        body: str,
        priority: Priority,
        roles: list[str],
        staff_ids: list[UUID],
        publish_at: datetime | None = None,
    ) -> CommandResult:
        """Write a notice to the staff holding any of `roles` and to each of `staff_ids` (at least one of them),
        shown from `publish_at` (default now; a past instant shows at once)."""
        checks = FieldChecks()
        clean_title = checks.check(lambda: clean_text(title, "title", min_visible=MIN_REASON, missing="give a title"))
        clean_body = checks.check(
            lambda: clean_text(body, "body", multiline=True, min_visible=1, missing="write a body")
        )
        wanted_roles = list(dict.fromkeys(roles))
        wanted_staff = list(dict.fromkeys(staff_ids))
        unknown = [role for role in wanted_roles if role not in ROLES]
        if unknown:
            checks.errors.append(
                FieldError("roles", f"unknown role '{unknown[0]}' (known: {', '.join(sorted(ROLES))})")
            )
        if not wanted_roles and not wanted_staff:
            checks.errors.append(
                FieldError("roles", "address it to at least one role or staff member (roles or staff_ids)")
            )
        if len(wanted_roles) + len(wanted_staff) > MAX_RECIPIENTS:
            checks.errors.append(
                FieldError("staff_ids", f"at most {MAX_RECIPIENTS} roles and staff members per notice")
            )
        elif self.parties is not None:
            missing = [s for s in wanted_staff if not self.parties.has_staff(brand_id, s)]
            if missing:
                checks.errors.append(FieldError("staff_ids", f"no staff member {missing[0]} in this brand"))
        if publish_at is not None:
            checks.check(lambda: _publish_at(publish_at))
        checks.raise_if_any()
        now = self.clock.now()
        notice = with_id(
            StaffNotice,
            uuid4(),
            brand_id=brand_id,
            title=" ".join(str(clean_title).split())[:200],
            body=str(clean_body)[:5000],
            priority=priority,
            roles=wanted_roles,
            staff_ids=wanted_staff,
            # In UTC (`_publish_at` checked its year and its offset above).
            publish_at=max(publish_at, now).astimezone(UTC) if publish_at is not None else now,
        )
        return self.commit(notice)

    def push(
        self, brand_id: UUID, key: str, staff_id: UUID, title: str, body: str, priority: Priority = Priority.MEDIUM
    ) -> CommandResult:
        """Another context's notice to one staff member about `key` (a callback request reaching them, a follow-up
        falling due), shown at once: its id is `pushed_notice_id(key)`, so a repeat - a job run twice, a retry -
        records nothing (`changed` False), and of two at once one is recorded."""
        notice_id = pushed_notice_id(key)
        if self.find(notice_id) is not None:
            return CommandResult(id=notice_id, position=0, changed=False)
        notice = with_id(
            StaffNotice,
            notice_id,
            brand_id=brand_id,
            title=" ".join(clean_text(title, "title", min_visible=1).split())[:200],
            body=clean_text(body, "body", multiline=True, min_visible=1)[:5000],
            priority=priority,
            roles=[],
            staff_ids=[staff_id],
            publish_at=self.clock.now(),
        )
        try:
            return self.commit(notice)
        except ConcurrentModification:  # the same notice pushed at the same moment: that one stands
            return CommandResult(id=notice_id, position=0, changed=False)

    def notice(self, brand_id: UUID, notice_id: UUID) -> StaffNotice:
        """The notice, if it belongs to the brand."""
        return self.load(StaffNotice, notice_id, brand_id, StaffNoticeNotFound)

    def acknowledge(
        self,
        brand_id: UUID,
        notice_id: UUID,
        reader_id: UUID,
        reader_kind: str,
        reader_name: str,
        roles: tuple[str, ...],
    ) -> CommandResult:
        """The reader acknowledges a notice published to them; a repeat changes nothing (`changed` False), a tap at
        the same moment as another included. A notice not yet published, or not addressed to the reader, is not found
        for them."""
        notice = self.notice(brand_id, notice_id)
        if not notice.published(self.clock.now()) or not notice.addressed_to(reader_id, roles):
            raise StaffNoticeNotFound(f"StaffNotice {notice_id} not found", id=str(notice_id))
        rid = receipt_id(notice_id, reader_id)
        if self.find(rid) is not None:
            return CommandResult(id=notice_id, position=0, changed=False)
        receipt = with_id(
            NoticeReceipt,
            rid,
            brand_id=brand_id,
            notice_id=notice_id,
            reader_id=reader_id,
            reader_kind=reader_kind,
            reader_name=reader_name[:200],
        )
        try:
            result = self.commit(receipt)
        except ConcurrentModification:  # the same reader's tap at the same moment recorded it: a repeat, as above
            return CommandResult(id=notice_id, position=0, changed=False)
        return CommandResult(id=notice_id, position=result.position)
