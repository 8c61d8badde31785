"""Re-loan offer use cases: the hike (fixed, percent, to the paisa), one offer per closed loan, the states
pending -> approved | rejected | cancelled and nothing after, brand isolation."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from domain.reloans.application import ReloanOffers, offer_id
from domain.reloans.offer import OfferStatus, ReloanOfferNotFound, hiked_amount
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, InvalidValue
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")


@pytest.fixture
def offers(clock: FixedClock) -> ReloanOffers:
    return in_memory(ReloanOffers, clock)


def _offer(offers: ReloanOffers, loan_id: uuid.UUID, kind: str = "percent", value: str = "10") -> uuid.UUID:
    made = offers.offer(
        BRAND, loan_id, "DEMO-L-000001", uuid.uuid4(), uuid.uuid4(), 12, Decimal("85000.00"), kind, Decimal(value)
    )
    assert made is not None
    return made.id


def test_the_hike_is_fixed_or_a_percentage_rounded_to_the_paisa() -> None:
    assert hiked_amount(Decimal("85000.00"), "percent", Decimal("10")) == Decimal("93500.00")
    assert hiked_amount(Decimal("33333.33"), "percent", Decimal("7.5")) == Decimal("35833.33")  # 2499.99975
    assert hiked_amount(Decimal("15000.00"), "fixed", Decimal("5000")) == Decimal("20000.00")
    assert hiked_amount(Decimal("15000.00"), "percent", Decimal("0")) == Decimal("15000.00")
    with pytest.raises(InvalidValue):
        hiked_amount(Decimal("15000.00"), "double", Decimal("1"))


def test_one_offer_per_closed_loan_and_its_amount(offers: ReloanOffers) -> None:
    loan_id = uuid.uuid4()
    first = _offer(offers, loan_id)
    assert first == offer_id(BRAND, loan_id)
    again = offers.offer(
        BRAND, loan_id, "DEMO-L-000001", uuid.uuid4(), uuid.uuid4(), 12, Decimal("85000.00"), "fixed", Decimal("1")
    )
    assert again is None  # the loan has its offer: nothing recorded
    offer = offers.get(BRAND, first)
    assert (offer.status, offer.amount, offer.hike) == (OfferStatus.PENDING, Decimal("93500.00"), "percent 10")
    assert len(list(offers.events.get(first))) == 1


def test_states_move_once_from_pending(offers: ReloanOffers) -> None:
    approved, rejected, cancelled = (_offer(offers, uuid.uuid4()) for _ in range(3))
    application = uuid.uuid4()
    offers.approve(BRAND, approved, application)
    offers.reject(BRAND, rejected, "borrower does not need it")
    offers.cancel(BRAND, cancelled, "policy change")
    assert offers.get(BRAND, approved).application_id == application
    assert [offers.get(BRAND, o).status for o in (approved, rejected, cancelled)] == [
        OfferStatus.APPROVED, OfferStatus.REJECTED, OfferStatus.CANCELLED,
    ]  # fmt: skip
    for done in (approved, rejected, cancelled):
        with pytest.raises(Conflict):
            offers.cancel(BRAND, done, "too late now")
        with pytest.raises(Conflict):
            offers.approve(BRAND, done, uuid.uuid4())
    with pytest.raises(InvalidInput):
        offers.reject(BRAND, _offer(offers, uuid.uuid4()), " ")


def test_another_brands_offer_is_not_found(offers: ReloanOffers) -> None:
    made = _offer(offers, uuid.uuid4())
    with pytest.raises(ReloanOfferNotFound):
        offers.get(OTHER, made)
    with pytest.raises(ReloanOfferNotFound):
        offers.cancel(OTHER, made, "not yours")


def test_the_offer_stops_at_the_ceiling_it_is_given(offers: ReloanOffers) -> None:
    made = offers.offer(BRAND, uuid.uuid4(), "DEMO-L-000002", uuid.uuid4(), uuid.uuid4(), 12, Decimal("85000.00"),
                        "percent", Decimal("50"), Decimal("100000.00"))  # fmt: skip
    assert made is not None and offers.get(BRAND, made.id).amount == Decimal("100000.00")  # 127500.00 raised
    under = offers.offer(BRAND, uuid.uuid4(), "DEMO-L-000003", uuid.uuid4(), uuid.uuid4(), 12, Decimal("85000.00"),
                         "percent", Decimal("10"), Decimal("100000.00"))  # fmt: skip
    assert under is not None and offers.get(BRAND, under.id).amount == Decimal("93500.00")  # under it: as raised
