"""Formatted customer ids: new registrations get the brand's next `DEMO-C-000123` on their Registered event;
records made before (no number) get one by command, once."""

from __future__ import annotations

import uuid

from domain.customers.application import Customers
from domain.shared.clock import FixedClock
from domain.shared.numbering import CountingSeries, SeriesKind, brand_prefix, format_number
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000e2")


def test_registrations_are_numbered_per_brand(clock: FixedClock) -> None:
    customers = in_memory(Customers, clock, numbers=CountingSeries("DEMO"))
    first = customers.register(BRAND, name="Asha Rao", phone="9876500001")
    second = customers.register(BRAND, name="Ravi Rao", phone="9876500002")
    elsewhere = customers.register(OTHER, name="Asha Rao", phone="9876500001")
    assert customers.get(BRAND, first.id).number == "DEMO-C-000001"
    assert customers.get(BRAND, second.id).number == "DEMO-C-000002"
    assert customers.get(OTHER, elsewhere.id).number == "DEMO-C-000001"  # each brand its own series


def test_an_old_record_gets_a_number_once(clock: FixedClock) -> None:
    customers = in_memory(Customers, clock)  # registered before numbering existed
    old = customers.register(BRAND, name="Old Timer", phone="9876500003")
    assert customers.get(BRAND, old.id).number is None
    customers.numbers = CountingSeries("DEMO")
    assigned = customers.assign_number(BRAND, old.id)
    assert assigned.changed and customers.get(BRAND, old.id).number == "DEMO-C-000001"
    again = customers.assign_number(BRAND, old.id)
    assert not again.changed and customers.get(BRAND, old.id).number == "DEMO-C-000001"
    assert [type(e).__name__ for e in customers.events.get(old.id)] == ["Registered", "NumberAssigned"]


def test_the_format_is_prefix_kind_and_six_digits() -> None:
    assert format_number(brand_prefix("demo"), SeriesKind.LOAN, 456) == "DEMO-L-000456"
    assert format_number("ACME-FIN", SeriesKind.CUSTOMER, 1234567) == "ACME-FIN-C-1234567"
