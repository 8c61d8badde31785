"""Staff notice use cases: addressed to roles or named staff of the brand (refused otherwise, recording nothing),
scheduled ones not acknowledgeable before they show, one receipt per reader, brand isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from domain.staff_notices.application import StaffNotices, pushed_notice_id, receipt_id
from domain.staff_notices.notice import NoticeReceipt, Priority, StaffNotice, StaffNoticeNotFound
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
ALICE = uuid.UUID("00000000-0000-4000-8000-00000000a11c")


class Staff:
    """Alice is the brand's only named staff member."""

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool:
        return brand_id == BRAND and staff_id == ALICE


@pytest.fixture
def notices(clock: FixedClock) -> StaffNotices:
    return in_memory(StaffNotices, clock, parties=Staff())


def _events(app: StaffNotices) -> int:
    return len(list(app.recorder.select_notifications(start=1, limit=1000)))


def test_a_notice_to_roles_and_a_named_person_reaches_them_once_each(notices: StaffNotices) -> None:
    made = notices.publish(BRAND, "Month-end close", "Post all receipts by 6 pm", Priority.HIGH, ["loan_ops"], [ALICE])
    notice = notices.notice(BRAND, made.id)
    assert notice.roles == ["loan_ops"] and notice.staff_ids == [ALICE] and notice.priority is Priority.HIGH

    someone = uuid.uuid4()
    first = notices.acknowledge(BRAND, made.id, someone, "staff", "Ravi", ("loan_ops",))
    assert first.changed and first.position > 0
    again = notices.acknowledge(BRAND, made.id, someone, "staff", "Ravi", ("loan_ops",))
    assert not again.changed and _events(notices) == 2
    receipt = notices.find(receipt_id(made.id, someone))
    assert isinstance(receipt, NoticeReceipt) and receipt.reader_name == "Ravi"
    assert notices.acknowledge(BRAND, made.id, ALICE, "staff", "Alice", ("sales",)).changed  # named, other role


def test_a_notice_not_addressed_to_the_reader_or_of_another_brand_is_not_found(notices: StaffNotices) -> None:
    made = notices.publish(BRAND, "Collections drive", "Call every DPD 1-7 today", Priority.MEDIUM, ["sales"], [])
    with pytest.raises(StaffNoticeNotFound):
        notices.acknowledge(BRAND, made.id, uuid.uuid4(), "staff", "Ravi", ("loan_ops",))
    with pytest.raises(StaffNoticeNotFound):
        notices.acknowledge(OTHER, made.id, uuid.uuid4(), "staff", "Ravi", ("sales",))
    assert _events(notices) == 1


def test_a_scheduled_notice_cannot_be_acknowledged_before_it_shows(notices: StaffNotices, clock: FixedClock) -> None:
    made = notices.publish(
        BRAND, "Holiday", "Office closed Friday", Priority.LOW, ["sales"], [], clock.now() + timedelta(hours=2)
    )
    assert isinstance(notices.find(made.id), StaffNotice)
    with pytest.raises(StaffNoticeNotFound):
        notices.acknowledge(BRAND, made.id, uuid.uuid4(), "staff", "Ravi", ("sales",))
    clock.instant += timedelta(hours=2)
    assert notices.acknowledge(BRAND, made.id, uuid.uuid4(), "staff", "Ravi", ("sales",)).changed


def test_bad_input_names_every_field_and_records_nothing(notices: StaffNotices) -> None:
    with pytest.raises(InvalidInput) as refused:
        notices.publish(BRAND, " ", "", Priority.LOW, ["wizard"], [uuid.uuid4()])
    fields = {e.field for e in refused.value.errors}
    assert fields == {"title", "body", "roles", "staff_ids"}
    with pytest.raises(InvalidInput) as nobody:
        notices.publish(BRAND, "To nobody", "Hello", Priority.LOW, [], [])
    assert [e.field for e in nobody.value.errors] == ["roles"]
    with pytest.raises(InvalidInput):  # Alice is not staff of the other brand
        notices.publish(OTHER, "Hello there", "Hi", Priority.LOW, [], [ALICE])
    assert _events(notices) == 0


def test_a_publish_time_past_the_accepted_dates_or_offsets_is_refused_and_one_at_their_edges_kept_in_utc(
    notices: StaffNotices,
) -> None:
    for publish_at in (
        "9999-12-31T23:00:00-05:00",  # overflowed comparing it with now: a 500
        "9999-12-31T23:59:00+00:00",  # stored, then overflowed every page showing it in Asia/Kolkata
        "0001-01-01T00:00:00+05:30",
        "2026-12-31T09:00:00+20:00",  # an offset no zone has (PostgreSQL stores none past ±15:59)
    ):
        with pytest.raises(InvalidInput) as refused:
            notices.publish(BRAND, "Year end", "Close", Priority.LOW, ["sales"], [], datetime.fromisoformat(publish_at))
        assert [e.field for e in refused.value.errors] == ["publish_at"], publish_at
    assert _events(notices) == 0
    for publish_at in ("2200-12-31T23:59:00-12:00", "2200-12-31T23:59:00+14:00"):
        when = datetime.fromisoformat(publish_at)
        made = notices.publish(BRAND, "Far ahead", "Much later", Priority.LOW, ["sales"], [], when)
        assert notices.notice(BRAND, made.id).publish_at == when.astimezone(UTC)


def test_a_pushed_notice_is_recorded_once_per_key_however_often_it_is_pushed(notices: StaffNotices) -> None:
    first = notices.push(BRAND, "callback:r1:assigned:alice", ALICE, "New callback request: Asha", "Call Asha")
    assert first.changed and first.id == pushed_notice_id("callback:r1:assigned:alice")
    notice = notices.notice(BRAND, first.id)
    assert (notice.staff_ids, notice.roles, notice.priority, notice.title) == (
        [ALICE], [], Priority.MEDIUM, "New callback request: Asha")  # fmt: skip
    again = notices.push(BRAND, "callback:r1:assigned:alice", ALICE, "New callback request: Asha", "Call Asha")
    assert not again.changed and again.id == first.id and _events(notices) == 1
    other = notices.push(BRAND, "callback:r1:due:alice", ALICE, "Callback due now: Asha", "Now", Priority.HIGH)
    assert other.changed and other.id != first.id and _events(notices) == 2
    assert notices.acknowledge(BRAND, first.id, ALICE, "staff", "Alice", ()).changed  # addressed to her by name
