"""Customer use cases: registering borrowers, unique PAN/phone/loan numbers per brand, updating details, alternate
phones and loan numbers - on the in-memory event store with a fixed clock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound, DuplicateCustomer
from domain.customers.values import Address
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, NotFound
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")


@pytest.fixture
def customers(clock: FixedClock) -> Customers:
    return in_memory(Customers, clock)


def _recorded(app: Customers) -> int:
    """How many events the application has recorded."""
    return app.recorder.max_notification_id() or 0


def _events(app: Customers, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(aggregate_id)]


def _asha(app: Customers, brand: uuid.UUID = BRAND, **fields: object) -> uuid.UUID:
    values: dict[str, object] = {"name": "Asha Kulkarni", "phone": "98765 43210", "pan": "abcde1234f"} | fields
    return app.register(brand, **values).id


def test_registration_keeps_normalised_values_and_claims_them(customers: Customers) -> None:
    result = customers.register(
        BRAND,
        name="  Asha   Kulkarni ",
        phone="098765-43210",
        pan="abcde1234f",
        email="Asha@Example.IN",
        date_of_birth=date(1990, 4, 12),
        addresses=[Address(line1="1 MG Road", city="Pune", pincode="411001")],
        loan_numbers=["sm-2", "SM-1", "sm-1"],
    )
    record = customers.get(BRAND, result.id)
    assert (record.name, record.phone, record.pan) == ("Asha Kulkarni", "+919876543210", "ABCDE1234F")
    assert record.email == "Asha@example.in"
    assert record.loan_numbers == ["SM-1", "SM-2"]
    assert result.position == _recorded(customers) and _events(customers, result.id) == ["Registered"]
    for kind, value in (("phone", "+919876543210"), ("pan", "ABCDE1234F"), ("loan_number", "SM-2")):
        assert customers.owner_of(BRAND, kind, value) == result.id


@pytest.mark.parametrize(
    ("field", "fields"),
    [
        ("pan", {"phone": "91234 56789", "pan": "ABCDE1234F"}),
        ("phone", {"phone": "+91 98765 43210", "pan": "PQRST6789K"}),
        ("loan_number", {"phone": "91234 56789", "pan": None, "loan_numbers": ["sm-77"]}),
    ],
)
def test_a_pan_phone_or_loan_number_of_another_borrower_is_refused_naming_them(
    customers: Customers, field: str, fields: dict[str, object]
) -> None:
    first = _asha(customers, loan_numbers=["SM-77"])
    before = _recorded(customers)
    with pytest.raises(DuplicateCustomer) as refused:
        _asha(customers, name="Someone Else", **fields)
    assert refused.value.details == {"field": field, "existing_id": str(first)}
    assert _recorded(customers) == before  # neither the record nor any claim was saved


def test_the_same_values_may_belong_to_borrowers_of_two_brands(customers: Customers) -> None:
    ours, theirs = _asha(customers), _asha(customers, brand=OTHER)
    assert ours != theirs
    assert customers.owner_of(OTHER, "pan", "ABCDE1234F") == theirs


def test_every_invalid_field_is_named_at_once_and_nothing_is_recorded(customers: Customers) -> None:
    with pytest.raises(InvalidInput) as refused:
        customers.register(
            BRAND,
            name="7",
            phone="12345",
            pan="ABC",
            email="not-an-email",
            addresses=[Address(line1="1 MG Road", city="Pune", pincode="011001")],
            loan_numbers=["!"],
        )
    assert {e.field for e in refused.value.errors} == {"name", "phone", "pan", "email", "addresses", "loan_numbers"}
    assert _recorded(customers) == 0


def test_a_borrower_must_be_eighteen_on_the_brands_business_date(customers: Customers, clock: FixedClock) -> None:
    # 30 Nov 2026 10:00 UTC is 30 Nov in India: born 1 Dec 2008 is a day short of eighteen.
    with pytest.raises(InvalidInput) as refused:
        _asha(customers, date_of_birth=date(2008, 12, 1))
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("date_of_birth", "borrower must be at least 18 years old")
    ]
    clock.instant = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # 00:30 on 1 Dec in India
    assert customers.get(BRAND, _asha(customers, date_of_birth=date(2008, 12, 1))).date_of_birth == date(2008, 12, 1)


def test_changing_pan_and_phone_releases_the_old_values(customers: Customers) -> None:
    asha = _asha(customers)
    customers.update_details(BRAND, asha, pan="PQRST6789K", phone="91234 56789")
    assert customers.owner_of(BRAND, "pan", "ABCDE1234F") is None
    assert customers.owner_of(BRAND, "pan", "PQRST6789K") == asha
    other = _asha(customers, name="Usha Rao")  # the released phone and PAN
    assert customers.owner_of(BRAND, "phone", "+919876543210") == other


def test_an_update_to_another_borrowers_phone_is_refused_and_changes_nothing(customers: Customers) -> None:
    asha = _asha(customers)
    usha = _asha(customers, name="Usha Rao", phone="91234 56789", pan=None)
    before = _recorded(customers)
    with pytest.raises(DuplicateCustomer) as refused:
        customers.update_details(BRAND, usha, phone="9876543210", email="usha@example.in")
    assert refused.value.details["existing_id"] == str(asha)
    assert _recorded(customers) == before and customers.get(BRAND, usha).email is None


def test_an_update_against_an_older_version_is_a_conflict(customers: Customers) -> None:
    asha = _asha(customers)
    version = customers.get(BRAND, asha).version
    customers.update_details(BRAND, asha, expected_version=version, email="asha@example.in")
    with pytest.raises(ConcurrentModification) as stale:
        customers.update_details(BRAND, asha, expected_version=version, name="Asha K")
    assert stale.value.details["current_version"] == version + 1
    assert customers.get(BRAND, asha).name == "Asha Kulkarni"


def test_alternate_phones_are_normalised_unique_and_removable(customers: Customers) -> None:
    asha = _asha(customers)
    customers.add_alternate_phone(BRAND, asha, "091234-56789", " mother ")
    assert customers.get(BRAND, asha).alternate_phones == {"+919123456789": "mother"}
    with pytest.raises(Conflict):
        customers.add_alternate_phone(BRAND, asha, "+91 91234 56789")
    with pytest.raises(InvalidInput):
        customers.add_alternate_phone(BRAND, asha, "98765 43210")  # the primary phone
    customers.remove_alternate_phone(BRAND, asha, "9123456789")
    with pytest.raises(NotFound):
        customers.remove_alternate_phone(BRAND, asha, "9123456789")
    assert _events(customers, asha) == ["Registered", "AlternatePhoneAdded", "AlternatePhoneRemoved"]


def test_linking_a_loan_twice_changes_nothing_and_anothers_loan_is_refused(customers: Customers) -> None:
    asha = _asha(customers)
    linked = customers.link_loan_number(BRAND, asha, "sm-9")
    assert linked.changed and customers.get(BRAND, asha).loan_numbers == ["SM-9"]
    before = _recorded(customers)
    again = customers.link_loan_number(BRAND, asha, "SM-9")
    assert (again.changed, again.position, _recorded(customers)) == (False, 0, before)
    usha = _asha(customers, name="Usha Rao", phone="91234 56789", pan=None)
    with pytest.raises(DuplicateCustomer):
        customers.link_loan_number(BRAND, usha, "SM-9")
    assert customers.get(BRAND, usha).loan_numbers == []


def test_another_brands_borrower_is_not_found(customers: Customers) -> None:
    asha = _asha(customers)
    with pytest.raises(CustomerNotFound):
        customers.get(OTHER, asha)
    with pytest.raises(CustomerNotFound):
        customers.update_details(OTHER, asha, name="Stolen")
    assert customers.get(BRAND, asha).name == "Asha Kulkarni"
