"""Loan application use cases: creation rules, submission through the BRE, assignment (auto and manual), cancel and
reject, brand isolation - on the in-memory event store with fakes of the other contexts (tests/application/loans/fakes.py;
overrides and bypasses: test_loan_decisions.py)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts
from domain.loans.loan import LoanNotFound
from domain.loans.offer import CouponTerms
from domain.loans.parties import proposed_emi
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import (
    BORROWER,
    BRAND,
    CX_A,
    CX_B,
    OTHER,
    PRODUCT,
    TODAY,
    Catalogue,
    Facts,
    Parties,
    event_names,
    fields,
    nothing_recorded,
    product_version,
)  # fmt: skip

# Creation ------------------------------------------------------------------------------------------------------------


def test_an_application_starts_in_onboarding_with_a_loan_number(loans: Loans) -> None:
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loan = loans.get(BRAND, first.id)
    assert loan.status is LoanStatus.ONBOARDING
    assert loan.loan_number == "DEMO-L-000001" and loan.product_version == 1 and loan.amount == Decimal("50000.00")
    assert loan.channel == "staff"


def test_unknown_borrower_and_product_are_422_naming_each_field(loans: Loans) -> None:
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, uuid.uuid4(), uuid.uuid4(), "50000", 12)
    assert fields(refused) == {"customer_id", "product_id"}
    assert nothing_recorded(loans)


def test_amount_and_tenure_outside_the_product_range_are_refused(loans: Loans) -> None:
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "250000", 36)
    assert fields(refused) == {"amount", "tenure"}
    assert "between 10000.00 and 200000.00" in str(refused.value)
    assert nothing_recorded(loans)


def test_an_inactive_product_takes_no_application(loans: Loans, catalogue: Catalogue) -> None:
    catalogue.products[(BRAND, PRODUCT)] = product_version(active=False)
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    assert fields(refused) == {"product_id"} and "not active" in str(refused.value)
    assert nothing_recorded(loans)


def test_another_brands_product_or_borrower_is_not_found(loans: Loans) -> None:
    with pytest.raises(InvalidInput) as refused:
        loans.create(OTHER, BORROWER, PRODUCT, "50000", 12)
    assert fields(refused) == {"customer_id", "product_id"}


def _coupon(**changes: object) -> CouponTerms:
    base = CouponTerms(
        id=uuid.uuid4(),
        code="DIWALI",
        product_id=PRODUCT,
        discount=Discount(kind=AmountKind.PERCENT, value=Decimal(50)),
        valid_from=date(2026, 11, 1),
        valid_to=date(2026, 11, 30),
        max_uses=1,
    )
    return CouponTerms(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_a_coupon_must_exist_and_be_valid_on_the_day(loans: Loans, catalogue: Catalogue) -> None:
    with pytest.raises(InvalidInput) as unknown:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="NOPE")
    assert fields(unknown) == {"coupon_code"}
    catalogue.coupons["DIWALI"] = _coupon(valid_to=date(2026, 11, 29))
    with pytest.raises(InvalidInput) as expired:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="diwali")
    assert fields(expired) == {"coupon_code"} and "valid from 2026-11-01 to 2026-11-29" in str(expired.value)
    assert nothing_recorded(loans)


def test_a_coupon_is_used_at_most_max_uses_times_not_counting_cancelled(
    loans: Loans, catalogue: Catalogue, parties: Parties
) -> None:
    catalogue.coupons["DIWALI"] = _coupon()
    catalogue.products[(BRAND, PRODUCT)] = product_version(max_active_loans=5)
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert loans.get(BRAND, first.id).coupon_code == "DIWALI"
    with pytest.raises(InvalidInput) as used:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert fields(used) == {"coupon_code"} and "used its 1 time" in str(used.value)
    loans.cancel(BRAND, first.id, "borrower changed their mind")
    again = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert loans.get(BRAND, again.id).coupon_code == "DIWALI"


def test_reactivating_an_application_whose_coupon_was_used_up_since_is_refused_and_records_nothing(
    loans: Loans, catalogue: Catalogue
) -> None:
    catalogue.coupons["DIWALI"] = _coupon()
    catalogue.products[(BRAND, PRODUCT)] = product_version(max_active_loans=5)
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI").id
    loans.submit(BRAND, first)
    loans.cancel(BRAND, first, "borrower changed their mind")  # its use is freed ...
    loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")  # ... and taken by another
    before = event_names(loans, first)
    with pytest.raises(Conflict) as refused:
        loans.reactivate(BRAND, first, "the borrower came back")
    assert "used its 1 time" in str(refused.value)
    assert event_names(loans, first) == before and loans.get(BRAND, first).status is LoanStatus.CANCELLED


def test_the_borrower_may_hold_at_most_max_active_loans(loans: Loans) -> None:
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    assert fields(refused) == {"customer_id"} and "open loan" in str(refused.value)
    loans.cancel(BRAND, first.id, "duplicate application")
    loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)


def test_an_amount_eaten_by_fees_is_refused(loans: Loans, catalogue: Catalogue) -> None:
    catalogue.products[(BRAND, PRODUCT)] = product_version(
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("20000")), min_amount=Decimal("1000")
    )
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "15000", 12)
    assert fields(refused) == {"amount"} and "nothing to disburse" in str(refused.value)


# Submission ----------------------------------------------------------------------------------------------------------


def test_submitting_through_the_bre_passes_to_pending_with_the_results(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING and loan.submitted_on == TODAY
    rules = {r["rule"]: r["outcome"] for r in loan.results}
    assert rules == {"CREDIT_SCORE": "pass", "BLOCKLIST": "pass", "COOLDOWN": "pass"}
    assert loan.recorded_facts().credit_score == 750 and loan.recorded_policy().min_age == 22
    assert loan.assignee is None  # the brand does not auto-allocate


def test_a_failed_rule_rejects_with_the_rule_in_the_reason(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts(credit_score=688)
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.REJECTED and loan.rejected_by_bre
    submitted = list(loans.events.get(created.id))[-1]
    assert "CREDIT_SCORE: credit score 688 is below the minimum 700" in submitted.reason  # type: ignore[attr-defined]


def test_submitting_twice_is_a_conflict(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    with pytest.raises(Conflict):
        loans.submit(BRAND, created.id)
    assert event_names(loans, created.id) == ["Created", "Submitted"]


def test_auto_allocation_assigns_the_least_loaded_available_cx(loans: Loans, parties: Parties) -> None:
    parties.auto = True
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).assignee == CX_B
    assert event_names(loans, created.id) == ["Created", "Submitted", "Assigned"]
    parties.away = {CX_B}
    parties.staff.add(uuid.uuid4())
    assert parties.pick_credit_executive(BRAND, TODAY) not in (CX_B, None)


def test_a_rejected_application_is_not_auto_allocated(loans: Loans, parties: Parties, source: Facts) -> None:
    parties.auto = True
    source.given = ApplicantFacts(credit_score=600)
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).assignee is None


# Assignment, cancel, reject, brands ----------------------------------------------------------------------------------


def test_a_manager_assigns_and_reassigns_with_the_previous_recorded(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.assign(BRAND, created.id, CX_A)
    loans.assign(BRAND, created.id, CX_B, "CX_A on leave")
    last = list(loans.events.get(created.id))[-1]
    assert last.previous_staff_id == CX_A and last.staff_id == CX_B and last.by == "manager"  # type: ignore[attr-defined]
    with pytest.raises(Conflict):
        loans.assign(BRAND, created.id, CX_B)
    with pytest.raises(InvalidInput) as refused:
        loans.assign(BRAND, created.id, uuid.uuid4())
    assert fields(refused) == {"staff_id"}


def test_a_departed_cxs_application_is_reassigned_once_and_never_from_anyone_else(
    loans: Loans, parties: Parties
) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.assign(BRAND, created.id, CX_A)
    back = loans.reassign_departed(BRAND, created.id, CX_A, CX_B, "credit executive disabled")
    assert not back.changed  # CX_A still takes loans (enabled again before the job ran): not a departure
    parties.staff.discard(CX_A)
    moved = loans.reassign_departed(BRAND, created.id, CX_A, CX_B, "credit executive disabled")
    assert moved.changed and loans.get(BRAND, created.id).assignee == CX_B
    assigned = list(loans.events.get(created.id))[-1]
    assert (assigned.previous_staff_id, assigned.by, assigned.reason) == (  # type: ignore[attr-defined]
        CX_A, "auto", "auto-allocated: credit executive disabled")  # fmt: skip
    again = loans.reassign_departed(BRAND, created.id, CX_A, CX_B, "credit executive disabled")
    assert not again.changed  # no longer CX_A's: a rerun (or a manager's reassignment meanwhile) is left alone
    assert event_names(loans, created.id).count("Assigned") == 2


def test_cancel_needs_a_reason_and_a_cancellable_state(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    with pytest.raises(InvalidInput) as refused:
        loans.cancel(BRAND, created.id, " ")
    assert fields(refused) == {"reason"}
    loans.cancel(BRAND, created.id, "borrower withdrew")
    assert loans.get(BRAND, created.id).status is LoanStatus.CANCELLED
    with pytest.raises(Conflict):
        loans.cancel(BRAND, created.id, "again")
    with pytest.raises(Conflict):
        loans.assign(BRAND, created.id, CX_A)


def test_cancelling_an_unsubmitted_application_is_safe_to_repeat_and_never_touches_a_submitted_one(
    loans: Loans,
) -> None:
    """The borrower's onboarding was closed (docs/onboarding.md, "Closing"): its application still in onboarding is
    cancelled with the reason; a second call, or one for an application submitted meanwhile, changes nothing."""
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    with pytest.raises(InvalidInput) as refused:
        loans.cancel_unsubmitted(BRAND, created.id, " ")
    assert fields(refused) == {"reason"} and event_names(loans, created.id) == ["Created"]
    done = loans.cancel_unsubmitted(BRAND, created.id, "the onboarding was closed: inactive for 30 days")
    loan = loans.get(BRAND, created.id)
    assert done.changed and loan.status is LoanStatus.CANCELLED
    assert list(loans.events.get(created.id))[-1].reason == "the onboarding was closed: inactive for 30 days"
    again = loans.cancel_unsubmitted(BRAND, created.id, "the onboarding was closed: inactive for 30 days")
    assert not again.changed and event_names(loans, created.id) == ["Created", "Cancelled"]

    submitted = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, submitted.id)
    status = loans.get(BRAND, submitted.id).status
    assert not loans.cancel_unsubmitted(BRAND, submitted.id, "the onboarding was closed: inactive").changed
    assert loans.get(BRAND, submitted.id).status is status
    with pytest.raises(LoanNotFound):  # another brand's application
        loans.cancel_unsubmitted(OTHER, created.id, "the onboarding was closed: inactive")


def test_reject_records_the_code_and_remarks(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    with pytest.raises(InvalidInput) as refused:
        loans.reject(BRAND, created.id, "??", "")
    assert fields(refused) == {"reason_code", "remarks"}
    with pytest.raises(InvalidInput) as unknown:
        loans.reject(BRAND, created.id, "NOT_A_CODE", "income below policy after verification")
    assert fields(unknown) == {"reason_code"}
    loans.reject(BRAND, created.id, "low_income", "income below policy after verification")
    last = list(loans.events.get(created.id))[-1]
    assert last.status == "rejected" and last.reason_code == "LOW_INCOME"  # type: ignore[attr-defined]
    assert last.reason == "Income below our minimum"  # type: ignore[attr-defined]


def test_another_brand_sees_no_loan(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    for attempt in (
        lambda: loans.get(OTHER, created.id),
        lambda: loans.submit(OTHER, created.id),
        lambda: loans.cancel(OTHER, created.id, "not yours"),
        lambda: loans.assign(OTHER, created.id, CX_A),
    ):
        with pytest.raises(LoanNotFound):
            attempt()
    assert event_names(loans, created.id) == ["Created"]


def test_proposed_emi_is_the_emi_or_the_bullet_per_month() -> None:
    assert proposed_emi(product_version(), Decimal("100000.00"), 12) == Decimal("9455.96")
    payday = product_version(kind=LoanKind.PAYDAY, annual_percent=None, daily_percent=Decimal("1"))
    assert proposed_emi(payday, Decimal("10000.00"), 15) == Decimal("11500.00")  # whole bullet within a month
    assert proposed_emi(payday, Decimal("10000.00"), 60) == Decimal("8000.00")  # 16000 over two months
