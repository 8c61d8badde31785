"""Every rejection is dated on the brand's business date (docs/loans.md, "Rejection dates"): a person's rejection, an
override that rejects and a product change the BRE rejects record it on their event as the BRE's own rejection at
submission does, so the rejection cooldown (the BRE's COOLDOWN, the borrower's re-apply rule) counts from the same
day whichever way the application was refused - and a rejection stored before the date was recorded still loads."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts
from domain.loans.states import LoanStatus
from tests.application.loans.fakes import BORROWER, BRAND, PRODUCT, TODAY, Facts, Parties
from tests.application.loans.test_loan_product_change import EMI_B, WHY, Products, pending

#: The brand runs as of another day than the clock's (30 Nov 10:00 UTC): a business date set, or past midnight in
#: India while it is still the day before in UTC.
BUSINESS_DAY = TODAY + timedelta(days=3)


@pytest.fixture
def catalogue() -> Products:
    return Products()


def _last(loans: Loans, loan_id: UUID) -> Any:
    return list(loans.events.get(loan_id))[-1]


def test_a_person_s_rejection_records_the_brand_s_business_date(loans: Loans, parties: Parties) -> None:
    parties.today = BUSINESS_DAY
    loan_id = pending(loans)
    loans.reject(BRAND, loan_id, "LOW_INCOME", "salary credits below the minimum")
    event = _last(loans, loan_id)
    assert type(event).__name__ == "Rejected" and event.rejected_on == BUSINESS_DAY


def test_an_override_that_rejects_records_the_business_date_and_one_that_passes_none(
    loans: Loans, parties: Parties, source: Facts
) -> None:
    parties.today = BUSINESS_DAY
    loan_id = pending(loans)
    loans.override(BRAND, loan_id, "COOLDOWN", "fail", "rejected last week under another phone number")
    rejecting = _last(loans, loan_id)
    assert loans.get(BRAND, loan_id).status is LoanStatus.REJECTED and rejecting.rejected_on == BUSINESS_DAY

    source.given = ApplicantFacts(credit_score=688)
    refused = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, refused.id)  # the BRE rejects on the business date too
    assert loans.get(BRAND, refused.id).submitted_on == BUSINESS_DAY
    loans.override(BRAND, refused.id, "CREDIT_SCORE", "pass", "thin file, salary account with us for 6 years")
    assert loans.get(BRAND, refused.id).status is LoanStatus.PENDING and _last(loans, refused.id).rejected_on is None


def test_a_product_change_the_bre_rejects_records_the_business_date(loans: Loans, parties: Parties) -> None:
    loan_id = pending(loans, "100000")
    parties.today = BUSINESS_DAY  # submitted on 30 Nov, moved to a product it fails on 3 Dec
    loans.change_product(BRAND, loan_id, EMI_B, WHY, amount="90000", tenure=18)
    event = _last(loans, loan_id)
    assert loans.get(BRAND, loan_id).status is LoanStatus.REJECTED
    assert type(event).__name__ == "ProductChanged" and event.rejected_on == BUSINESS_DAY


def test_a_rejection_stored_before_its_date_was_recorded_still_loads(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.reject(BRAND, loan_id, "LOW_INCOME", "salary credits below the minimum")
    stored = loans.recorder._stored_events  # type: ignore[attr-defined]
    for i, event in enumerate(stored):
        if event.originator_id == loan_id and event.topic.endswith("Loan.Rejected"):
            state = json.loads(event.state)
            del state["rejected_on"]  # as stored before the field existed
            stored[i] = dataclasses.replace(event, state=json.dumps(state).encode())
    assert _last(loans, loan_id).rejected_on is None
    loan = loans.get(BRAND, loan_id)
    assert loan.status is LoanStatus.REJECTED and loan.rejection is not None
    assert loan.rejection["code"] == "LOW_INCOME"
