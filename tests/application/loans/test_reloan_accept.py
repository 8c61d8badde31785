"""Accepting a re-loan offer on the in-memory stores: the application it starts has the offer's own id, so a second
start of it records nothing (409), and an accept retried after its approval failed approves the application the
first attempt started instead of starting another."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, cast

import pytest

from adapters.named_locks import NamedLocks
from api.services.reloans import ReloanDesk
from domain.identity.brand_config import BrandSettings
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.reloans.application import ReloanOffers, application_id
from domain.reloans.offer import OfferStatus
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from tests.application.conftest import in_memory
from tests.application.loans.fakes import BORROWER, BRAND, PRODUCT, Catalogue, product_version


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(max_active_loans=5)})  # the limit stops nothing


class NoExpiry:
    """The identity context as the accept reads it: the brand's settings, offers never expiring (the default)."""

    def settings(self, brand_id: uuid.UUID) -> BrandSettings:
        return BrandSettings()


class OneThread:
    """Named locks for one thread: nothing to hold."""

    @contextmanager
    def holding(self, names: Iterable[str], wait_seconds: float, busy: Callable[[], Exception]) -> Iterator[None]:
        yield


def _applications(loans: Loans) -> list[Loan]:
    ids = {n.originator_id for n in loans.recorder.select_notifications(start=1, limit=1000)}
    return [found for i in ids if isinstance(found := loans.find(i), Loan) and found.customer_id == BORROWER]


def test_an_accept_retried_after_its_approval_failed_approves_the_application_it_started(
    loans: Loans, clock: FixedClock
) -> None:
    offers = in_memory(ReloanOffers, clock)
    made = offers.offer(BRAND, uuid.uuid4(), "DEMO-L-000001", BORROWER, PRODUCT, 12, Decimal("85000.00"), "percent",
                        Decimal("10"))  # fmt: skip
    assert made is not None
    started = application_id(made.id)
    # the first accept started the application, then its approval failed (a crash, a lost connection)
    loans.create(BRAND, BORROWER, PRODUCT, "93500.00", 12, loan_id=started)
    with pytest.raises(ConcurrentModification):  # a second accept at once cannot start another
        loans.create(BRAND, BORROWER, PRODUCT, "93500.00", 12, loan_id=started)
    assert [a.id for a in _applications(loans)] == [started]

    # the retry
    approved = ReloanDesk(loans, offers, cast(Any, NoExpiry()), cast(NamedLocks, OneThread())).accept(BRAND, made.id)
    offer = offers.get(BRAND, approved.id)
    assert offer.status is OfferStatus.APPROVED and offer.application_id == started
    assert [a.id for a in _applications(loans)] == [started]
