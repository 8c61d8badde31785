"""Re-loan eligibility on the in-memory store (issue #15 item 5): a loan repaid in full is eligible; one that was NPA
on any business day is not, even once repaid; a loan not completed is not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast

import pytest

from api.services.reloans import ReloanDesk
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

D0 = date(2026, 1, 31)


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version()})


def _desk(loans: Loans) -> ReloanDesk:
    return ReloanDesk(loans, cast(ReloanOffers, None), cast(Any, None), cast(Any, None))  # `ineligible`: the loans only


def _pay_off(loans: Loans, loan_id: Any, reference: str) -> None:
    quote = loans.payoff(BRAND, loan_id)
    _, record = loans.record_repayment(BRAND, loan_id, str(quote.total), "neft", reference)
    assert record.closes_loan


def test_a_loan_repaid_in_full_is_eligible_and_an_open_one_is_not(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    assert _desk(loans).ineligible(BRAND, loans.get(BRAND, loan_id)) == "the loan is active, not completed"
    parties.today = date(2026, 2, 10)
    _pay_off(loans, loan_id, "UTR-CLEAN")
    assert _desk(loans).ineligible(BRAND, loans.get(BRAND, loan_id)) is None


def test_a_loan_that_was_npa_is_not_eligible_even_once_repaid(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    parties.today = date(2026, 6, 1)
    loans.close_business_day(BRAND, loan_id, date(2026, 5, 31))  # the first instalment (28 Feb) 92 days past due
    assert loans.get(BRAND, loan_id).replayed().position.asset_class.value == "NPA"
    _pay_off(loans, loan_id, "UTR-LATE")
    loan = loans.get(BRAND, loan_id)
    assert loan.status.value == "completed" and loan.sanctioned_amount == Decimal("85000")
    assert _desk(loans).ineligible(BRAND, loan) == "the loan was NPA"
