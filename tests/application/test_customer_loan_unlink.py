"""Unlinking a loan number linked to a borrower by mistake (`Customers.unlink_loan_number`): a required reason, the
record's version (If-Match), the number's claim released so another borrower may link it, and nothing written when
refused - on the in-memory event store."""

from __future__ import annotations

import uuid

import pytest

from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound, CustomerRecord
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")


@pytest.fixture
def customers(clock: FixedClock) -> Customers:
    return in_memory(Customers, clock)


def _recorded(app: Customers) -> int:
    return app.recorder.max_notification_id() or 0


def _linked(app: Customers) -> uuid.UUID:
    asha = app.register(BRAND, name="Asha Kulkarni", phone="98765 43210", loan_numbers=["SML-1"]).id
    app.link_loan_number(BRAND, asha, "sml-2")
    return asha


def test_an_unlinked_number_leaves_the_record_with_its_reason_and_is_free_for_another_borrower(
    customers: Customers,
) -> None:
    asha = _linked(customers)
    version = customers.get(BRAND, asha).version
    done = customers.unlink_loan_number(
        BRAND, asha, " sml-2 ", "  linked   to the wrong borrower ", expected_version=version
    )
    assert done.changed and done.position > 0
    record = customers.get(BRAND, asha)
    assert record.loan_numbers == ["SML-1"] and record.version == version + 1
    (last,) = list(customers.events.get(asha))[-1:]
    assert isinstance(last, CustomerRecord.LoanNumberUnlinked)
    assert (last.loan_number, last.reason) == ("SML-2", "linked to the wrong borrower")
    assert customers.owner_of(BRAND, "loan_number", "SML-2") is None
    usha = customers.register(BRAND, name="Usha Rao", phone="91234 56789").id
    assert customers.link_loan_number(BRAND, usha, "SML-2").changed  # refused (DuplicateCustomer) before
    assert customers.owner_of(BRAND, "loan_number", "SML-2") == usha
    # A number registered with the record unlinks the same way; linking it back works.
    customers.unlink_loan_number(BRAND, asha, "SML-1", "typo at registration")
    assert customers.get(BRAND, asha).loan_numbers == []
    assert customers.link_loan_number(BRAND, asha, "SML-1").changed


def test_refusals_write_nothing(customers: Customers) -> None:
    asha = _linked(customers)
    before = _recorded(customers)
    with pytest.raises(InvalidInput) as not_linked:
        customers.unlink_loan_number(BRAND, asha, "SML-9", "wrong borrower")
    assert [e.field for e in not_linked.value.errors] == ["loan_number"]
    assert "not a loan number linked to this borrower" in str(not_linked.value)
    with pytest.raises(InvalidInput) as both:
        customers.unlink_loan_number(BRAND, asha, "??", " x ")
    assert {e.field for e in both.value.errors} == {"loan_number", "reason"}
    with pytest.raises(InvalidInput):
        customers.unlink_loan_number(BRAND, asha, "SML-2", "\u200b\u200b\u200b")  # nothing visible
    with pytest.raises(ConcurrentModification):
        customers.unlink_loan_number(BRAND, asha, "SML-2", "wrong borrower", expected_version=1)
    with pytest.raises(CustomerNotFound):
        customers.unlink_loan_number(OTHER, asha, "SML-2", "wrong borrower")
    assert _recorded(customers) == before
    assert customers.get(BRAND, asha).loan_numbers == ["SML-1", "SML-2"]
    assert customers.owner_of(BRAND, "loan_number", "SML-2") == asha
