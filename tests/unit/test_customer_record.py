from __future__ import annotations

import uuid

import pytest

from domain.customers.customer import CustomerRecord
from domain.shared.errors import Conflict, InvalidInput, NotFound


def _customer() -> CustomerRecord:
    return CustomerRecord(
        brand_id=uuid.uuid4(), name="Asha Kulkarni", phone="+919876543210", addresses=[], loan_numbers=[]
    )


def _replay(events: list[object]) -> CustomerRecord:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)  # type: ignore[attr-defined]
    assert isinstance(aggregate, CustomerRecord)
    return aggregate


def test_replaying_events_rebuilds_the_same_state() -> None:
    c = _customer()
    c.add_alternate_phone("+919876543211", "mother")
    c.update_details(name="Asha K", email="asha@example.in")
    c.link_loan_number("SM100200")
    replayed = _replay(list(c.collect_events()))
    assert (replayed.name, replayed.email, replayed.loan_numbers) == ("Asha K", "asha@example.in", ["SM100200"])
    assert replayed.alternate_phones == {"+919876543211": "mother"}
    assert replayed.version == 4


def test_update_with_unchanged_values_records_nothing() -> None:
    c = _customer()
    c.collect_events()
    assert c.update_details(name="Asha Kulkarni", phone="+919876543210") is False
    assert c.collect_events() == []


def test_alternate_phone_rules() -> None:
    c = _customer()
    with pytest.raises(InvalidInput):
        c.add_alternate_phone("+919876543210")
    c.add_alternate_phone("+919876543211")
    with pytest.raises(Conflict):
        c.add_alternate_phone("+919876543211")
    with pytest.raises(NotFound):
        c.remove_alternate_phone("+919999999999")
    c.remove_alternate_phone("+919876543211")
    assert c.alternate_phones == {}


def test_linking_a_loan_twice_is_a_no_op() -> None:
    c = _customer()
    assert c.link_loan_number("SM1") is True
    assert c.link_loan_number("SM1") is False
    assert c.loan_numbers == ["SM1"]
