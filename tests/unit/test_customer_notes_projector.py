"""The notes projector: a note's row (its author the event's actor, its brand from the event), nothing for any other
event of the record; the timeline's summary of a note."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.customers.customer import CustomerRecord
from domain.shared.aggregate import acting_as
from projections.customer_notes import CustomerNotesView
from projections.customers import NOTE_EXCERPT, CustomerTimeline
from projections.projection import Insert


def test_a_note_becomes_one_row_with_its_author_loan_and_callback() -> None:
    brand, note, loan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    callback = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    record = CustomerRecord(brand_id=brand, name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=[])
    with acting_as("staff:abc"):
        record.add_note(note, "Salary credited late this month", loan, callback)
    registered, added = record.collect_events()
    assert list(CustomerNotesView().project(1, registered)) == []
    [row] = list(CustomerNotesView().project(7, added))
    assert isinstance(row, Insert) and row.table == "read.customer_notes"
    assert row.row == {
        "id": note, "brand_id": brand, "customer_id": record.id, "position": 7,
        "text": "Salary credited late this month", "author": "staff:abc", "loan_id": loan, "callback_at": callback,
        "at": added.timestamp,
    }  # fmt: skip


def test_the_timeline_shows_a_long_note_cut_to_one_line() -> None:
    record = CustomerRecord(
        brand_id=uuid.uuid4(), name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=[]
    )
    note = uuid.uuid4()
    record.add_note(note, "First line\nsecond line " + "x" * 200)
    added = list(record.collect_events())[-1]
    [write] = list(CustomerTimeline().project(2, added))
    assert isinstance(write.params, dict)
    summary = write.params["summary"]
    assert summary.startswith("Note: First line second line x") and summary.endswith("…")
    assert len(summary) == len("Note: ") + NOTE_EXCERPT
    assert write.params["details"].obj == {"note_id": str(note)}
