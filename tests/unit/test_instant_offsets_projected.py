"""The reminders and staff notices projectors write their instants in UTC, whatever offset the event carries: one
recorded before the commands kept them in UTC may carry an offset PostgreSQL does not store (-18:08 parsed; PostgreSQL
stores up to ±15:59), and the read model would fail on it for good."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from domain.reminders.reminder import Reminder, ReminderChannel
from domain.shared.aggregate import with_id
from domain.staff_notices.notice import Priority, StaffNotice
from projections.projection import Insert
from projections.reminders import ReminderView
from projections.staff_notices import StaffNoticeView

WHEN = datetime(2026, 12, 7, 6, 53, 45, tzinfo=UTC)
ODD = WHEN.astimezone(timezone(-timedelta(hours=18, minutes=8)))


def test_a_reminder_scheduled_with_an_offset_postgresql_does_not_store_is_written_in_utc() -> None:
    reminder = Reminder(brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), channel=ReminderChannel.SMS,
                        template_id=uuid.uuid4(), template_name="EMI due", scheduled_at=ODD)  # fmt: skip
    [scheduled] = reminder.collect_events()
    [row] = [c for c in ReminderView().project(1, scheduled) if isinstance(c, Insert)]
    assert row.row["scheduled_at"] == WHEN and row.row["scheduled_at"].utcoffset() == timedelta(0)


def test_a_notice_published_at_an_offset_postgresql_does_not_store_is_written_in_utc() -> None:
    notice = with_id(StaffNotice, uuid.uuid4(), brand_id=uuid.uuid4(), title="Quarter close", body="Books close Friday", priority=Priority.LOW,
                         roles=["admin"], staff_ids=[], publish_at=ODD)  # fmt: skip
    [created] = notice.collect_events()
    [row] = [c for c in StaffNoticeView().project(1, created) if isinstance(c, Insert)]
    assert row.row["publish_at"] == WHEN and row.row["publish_at"].utcoffset() == timedelta(0)
