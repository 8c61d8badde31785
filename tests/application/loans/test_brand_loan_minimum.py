"""The brand's minimum loan amount (`min_loan_amount`, spec: "Smallest loan amount allowed"), once the brand has set
one, refuses an application's amount, a product change's amount, a CX-approved amount and a sanctioned amount below
it (422 naming the field, with both amounts in rupees), recording nothing; a brand that never set one is held to the
product's range alone, as before (LoanParties.loan_minimum None)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.states import LoanStatus
from domain.shared.errors import InvalidInput
from tests.application.loans.fakes import BORROWER, BRAND, PRODUCT, Parties, event_names

BELOW = "₹50,000.00 is below the brand's minimum loan amount of ₹60,000.00"


def _said(refused: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {e.field: e.message for e in refused.value.errors}


def test_a_brand_that_set_a_minimum_refuses_each_amount_below_it_and_records_nothing(
    loans: Loans, parties: Parties
) -> None:
    parties.minimum = Decimal("60000.00")
    before = loans.recorder.max_notification_id()
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)  # within the product's 10,000 - 2,00,000
    assert _said(refused) == {"amount": BELOW}
    assert loans.recorder.max_notification_id() == before

    loan_id = loans.create(BRAND, BORROWER, PRODUCT, "60000", 12).id  # the minimum itself is allowed
    with pytest.raises(InvalidInput) as changed:
        loans.change_product(BRAND, loan_id, PRODUCT, "the borrower asked for less", amount="50000")
    assert _said(changed) == {"amount": BELOW}
    loans.submit(BRAND, loan_id)
    seen = event_names(loans, loan_id)

    with pytest.raises(InvalidInput) as approved:
        loans.cx_approve(BRAND, loan_id, "50000", "salary supports 50k only")
    assert _said(approved) == {"approved_amount": BELOW}
    assert event_names(loans, loan_id) == seen and loans.get(BRAND, loan_id).status is LoanStatus.PENDING

    loans.cx_approve(BRAND, loan_id, "60000", "salary supports 60k")
    seen = event_names(loans, loan_id)
    with pytest.raises(InvalidInput) as sanctioned:
        loans.sanction(BRAND, loan_id, "50000", "FOIR at the limit")
    assert _said(sanctioned) == {"sanctioned_amount": BELOW}
    assert event_names(loans, loan_id) == seen and loans.get(BRAND, loan_id).status is LoanStatus.CX_APPROVED


def test_a_brand_that_set_no_minimum_is_held_to_the_products_range_alone(loans: Loans, parties: Parties) -> None:
    assert parties.minimum is None
    loan_id = loans.create(BRAND, BORROWER, PRODUCT, "12000", 12).id  # below the setting's starting 15,000
    loans.submit(BRAND, loan_id)
    loans.cx_approve(BRAND, loan_id, "11000", "salary supports 11k")
    loans.sanction(BRAND, loan_id, "10000", "FOIR at the limit")
    assert loans.get(BRAND, loan_id).status is LoanStatus.SM_APPROVED
