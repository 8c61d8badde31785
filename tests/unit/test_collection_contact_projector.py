"""The collections projector writes a contact's callback in UTC, whatever offset its event carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from domain.collections.case import Channel, CollectionCase, Contact, Outcome, case_id
from domain.shared.aggregate import with_id
from projections.collections import CollectionViews
from projections.projection import Insert, Write


def test_a_callback_recorded_with_an_offset_postgresql_does_not_store_is_written_in_utc() -> None:
    # Contacts recorded before the command kept callbacks in UTC may carry such an offset (-18:08 parses; PostgreSQL
    # stores up to ±15:59): the read model would fail on them for good.
    brand, loan = uuid.uuid4(), uuid.uuid4()
    when = datetime(2026, 12, 7, 6, 53, 45, tzinfo=UTC)
    odd = when.astimezone(timezone(-timedelta(hours=18, minutes=8)))
    record = with_id(CollectionCase, case_id(brand, loan), brand_id=brand, loan_id=loan)
    record.log_contact(Contact(contact_id=uuid.uuid4(), outcome=Outcome.CALLBACK_REQUESTED, remarks="evening",
                               callback_at=odd, channel=Channel.MANUAL, staff_id=None))  # fmt: skip
    logged = list(record.collect_events())[-1]
    changes = list(CollectionViews().project(3, logged))
    [row] = [c for c in changes if isinstance(c, Insert) and c.table == "read.collection_contacts"]
    assert row.row["callback_at"] == when and row.row["callback_at"].utcoffset() == timedelta(0)
    [case] = [c for c in changes if isinstance(c, Write) and "collection_cases" in c.sql]
    assert isinstance(case.params, dict) and case.params["cb"].utcoffset() == timedelta(0)
