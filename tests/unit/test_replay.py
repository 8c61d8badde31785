"""`replay` applies decorated-method events itself: the same state, checks and errors as the library's `mutate`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError

from domain.audit.replay import state_of
from domain.customers.customer import CustomerRecord
from domain.customers.values import Address
from domain.shared.application import _applier, replay


def _library_replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _history() -> list[Any]:
    record = CustomerRecord(
        brand_id=uuid.uuid4(), name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=["SM1"]
    )
    record.add_alternate_phone("+919876543211", "mother")
    record.update_details(name="Asha K", email="asha@example.in", date_of_birth=datetime(1990, 5, 17).date())
    record.update_details(addresses=[Address(line1="12 MG Road", city="Pune", state="MH", pincode="411001")])
    record.link_loan_number("SM100200")
    record.add_alternate_phone("+919876543212", None)
    record.remove_alternate_phone("+919876543211")
    record.update_details(phone="+919876543219")
    return list(record.collect_events())


def test_every_prefix_replays_to_the_state_the_library_gives() -> None:
    events = _history()
    for end in range(1, len(events) + 1):
        ours, theirs = replay(None, events[:end]), _library_replay(events[:end])
        assert state_of(ours) == state_of(theirs)
        assert (ours.version, ours.modified_on) == (theirs.version, theirs.modified_on)


def test_decorated_events_take_the_fast_path_and_others_their_own_mutate() -> None:
    assert _applier(CustomerRecord.DetailsUpdated) is not None
    assert _applier(CustomerRecord.Registered) is None  # a created event constructs the aggregate


def test_an_event_out_of_sequence_is_refused_as_the_library_refuses_it() -> None:
    events = _history()
    with pytest.raises(OriginatorVersionError):
        replay(None, [events[0], events[2]])
    stranger = CustomerRecord.DetailsUpdated(
        originator_id=uuid.uuid4(), originator_version=2, timestamp=datetime.now(UTC), email="x@example.in"
    )
    with pytest.raises(OriginatorIDError):
        replay(None, [events[0], stranger])
