"""The reminders and staff notices projectors (pure: events in, rows and statements out) and the list's date bounds
(a date is a whole day of the brand's time zone, `to` inclusive)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.routes.reminders import lower_bound, upper_bound
from domain.reminders.reminder import Reminder, ReminderChannel
from domain.shared.aggregate import with_id
from domain.staff_notices.notice import NoticeReceipt, Priority, StaffNotice
from projections.projection import Insert, Write
from projections.reminders import ReminderView
from projections.staff_notices import StaffNoticeView

BRAND = uuid.uuid4()
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def _reminder_events() -> list[object]:
    reminder = Reminder(
        brand_id=BRAND,
        customer_id=uuid.uuid4(),
        channel=ReminderChannel.SMS,
        template_id=uuid.uuid4(),
        template_name="Call us",
        scheduled_at=AT,
    )
    reminder.start_dispatch()
    reminder.sent(uuid.uuid4(), "queued")
    return list(reminder.collect_events())


def test_a_reminder_is_a_row_then_taken_then_sent() -> None:
    view = ReminderView()
    scheduled, started, sent = _reminder_events()
    [row] = list(view.project(1, scheduled))
    assert isinstance(row, Insert) and row.table == "read.reminders"
    assert row.row["status"] == "scheduled" and row.row["channel"] == "sms" and row.row["template_name"] == "Call us"
    [taken] = list(view.project(2, started))
    assert isinstance(taken, Write) and "dispatching = true" in taken.sql
    [done] = list(view.project(3, sent))
    assert isinstance(done, Write) and "status = 'sent'" in done.sql and "queued" in done.params


def test_a_notice_is_a_row_and_an_acknowledgement_counts_once() -> None:
    view = StaffNoticeView()
    notice = StaffNotice(id=uuid.uuid4(), brand_id=BRAND, title="Close", body="By 6 pm", priority=Priority.HIGH,
                         roles=["sales"], staff_ids=[], publish_at=AT)  # fmt: skip
    [created] = notice.collect_events()
    [row] = list(view.project(1, created))
    assert isinstance(row, Insert) and row.row["priority"] == "HIGH" and row.row["roles"] == ["sales"]
    receipt = with_id(NoticeReceipt, uuid.uuid4(), brand_id=BRAND, notice_id=notice.id, reader_id=uuid.uuid4(), reader_kind="staff",
                            reader_name="Ravi")  # fmt: skip
    [acked] = receipt.collect_events()
    [write] = list(view.project(2, acked))
    # the count moves only when the receipt row is new (a replayed event inserts nothing and counts nothing)
    assert isinstance(write, Write) and "ON CONFLICT DO NOTHING" in write.sql and "read_count + 1" in write.sql


def test_date_bounds_are_whole_days_of_the_brand_and_instants_are_inclusive() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    assert lower_bound(date(2026, 12, 1), "Asia/Kolkata") == datetime(2026, 12, 1, tzinfo=kolkata)
    assert upper_bound(date(2026, 12, 1), "Asia/Kolkata") == datetime(2026, 12, 2, tzinfo=kolkata)
    assert upper_bound(AT, "Asia/Kolkata") == AT + timedelta(microseconds=1)
    naive = datetime(2026, 12, 1, 9, 30)
    assert lower_bound(naive, "Asia/Kolkata") == naive.replace(tzinfo=kolkata)
    assert lower_bound(None, "UTC") is None and upper_bound(None, "UTC") is None
