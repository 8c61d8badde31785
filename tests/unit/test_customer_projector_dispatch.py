"""The customer projectors' dispatch tables: each event type its writes, anything else nothing."""

from __future__ import annotations

import json
import uuid

from domain.customers.customer import CustomerRecord
from projections.customers import CustomerDirectory, CustomerTimeline

AGENT = uuid.UUID("00000000-0000-4000-8000-00000000a9e1")


def _events() -> list[object]:
    c = CustomerRecord(
        brand_id=uuid.uuid4(), name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=[]
    )
    c.update_details(pan="ABCDE9999F")
    c.add_alternate_phone("+919876543211", "mother")
    c.remove_alternate_phone("+919876543211")
    c.link_loan_number("SM1")
    c.link_loan_number("SM2")
    c.unlink_loan_number("SM1", "linked to the wrong borrower")
    c.assign_agent(AGENT, "the sales manager moved the borrower")
    c.add_note(uuid.uuid4(), "Asked for a callback after 6 pm")
    return list(c.collect_events())


def test_customer_projectors_write_nothing_for_events_they_do_not_handle() -> None:
    stranger = object()
    assert list(CustomerDirectory().project(1, stranger)) == []
    assert list(CustomerTimeline().project(1, stranger)) == []


def test_every_customer_event_has_its_timeline_entry_and_directory_change() -> None:
    events = _events()
    writes = [w for pos, e in enumerate(events, 1) for w in CustomerTimeline().project(pos, e)]
    kinds = [w.params["kind"] for w in writes if isinstance(w.params, dict)]
    assert kinds == [
        "registered", "details_updated", "alternate_phone_added", "alternate_phone_removed", "loan_linked", "loan_linked",
        "loan_unlinked", "agent_assigned", "note_added",
    ]  # fmt: skip
    directory = CustomerDirectory()
    directory.begin_batch()  # the directory gathers a batch's changes per row and writes them at its end
    for pos, e in enumerate(events, 1):
        list(directory.project(pos, e))
    _counts, insert = directory.end_batch()
    (row,) = json.loads(insert.params[0])  # every event's change is in the row
    assert (row["pan"], row["alternate_numbers"], row["loan_numbers"], row["agent_id"], row["version"]) == (
        "ABCDE9999F", [], ["SM2"], str(AGENT), len(events),
    )  # fmt: skip
    moved = next(w for w in writes if isinstance(w.params, dict) and w.params["kind"] == "agent_assigned")
    assert moved.params["details"].obj == {"agent_id": str(AGENT), "reason": "the sales manager moved the borrower"}
