"""Moving an open application to another product (LOAN_RULE_TYPE, docs/loans.md "Changing the product"): which
statuses allow it, the snapshot it replaces, the new product's BRE re-run, the decision not carried over, the coupon,
and every later figure following the new product to the paisa (checked against tests/unit/lending_reference.py) - on
the in-memory event store with the fakes of tests/application/loans/fakes.py. Every refusal records nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts, Rule, RuleSpec
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.offer import CouponTerms
from domain.loans.schedule import build_schedule
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind, PenalKind, PenalTerms
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import (
    BORROWER,
    BRAND,
    CX_B,
    OTHER,
    PRODUCT,
    TODAY,
    Catalogue,
    Facts,
    event_names,
    fields,
    product_version,
)
from tests.unit import lending_reference as ref

S = LoanStatus
PAYDAY = uuid.UUID("00000000-0000-4000-8000-00000000a002")
EMI_B = uuid.UUID("00000000-0000-4000-8000-00000000a003")
RETIRED = uuid.UUID("00000000-0000-4000-8000-00000000a004")
FOREIGN = uuid.UUID("00000000-0000-4000-8000-00000000a005")
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
WHY = "borrower qualifies for the other product only"


def _payday() -> object:
    return product_version(
        id=PAYDAY, code="PD", name="Payday", kind=LoanKind.PAYDAY, min_amount=Decimal(5000),
        max_amount=Decimal(50000), min_tenure=7, max_tenure=45, annual_percent=None, daily_percent=Decimal("1"),
        processing_fee=Fee(kind=AmountKind.FIXED, value=Decimal("999.99")),
        convenience_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("1.5")), gst_percent=Decimal(18),
        penal=PenalTerms(kind=PenalKind.SIMPLE, daily_percent=Decimal("0.5")), max_active_loans=1,
        bre_rules=(RuleSpec(Rule.CREDIT_SCORE, min=Decimal(650)), RuleSpec(Rule.FOIR, max=Decimal(60))),
    )  # fmt: skip


def _emi_b() -> object:
    return product_version(
        id=EMI_B, code="PL2", name="Prime loan", annual_percent=Decimal("17.75"), max_active_loans=2,
        processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("1.5"), gst_inclusive=True),
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("0")), gst_percent=Decimal(12),
        bre_rules=(RuleSpec(Rule.CREDIT_SCORE, min=Decimal(780)),),
    )  # fmt: skip


@dataclass
class Products(Catalogue):
    """The fake catalogue with four products of the brand, one of another brand, and coupons per product."""

    by_product: dict[tuple[UUID, str], CouponTerms] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.products[(BRAND, PAYDAY)] = _payday()  # type: ignore[assignment]
        self.products[(BRAND, EMI_B)] = _emi_b()  # type: ignore[assignment]
        self.products[(BRAND, RETIRED)] = product_version(id=RETIRED, code="OLD", active=False)
        self.products[(OTHER, FOREIGN)] = product_version(id=FOREIGN, brand_id=OTHER, code="X")

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return self.by_product.get((product_id, code))


@pytest.fixture
def catalogue() -> Products:
    return Products()


def _coupon(product: UUID, percent: str = "50", max_uses: int | None = 5, valid_to: date = TODAY) -> CouponTerms:
    return CouponTerms(id=uuid.uuid4(), code="DIWALI", product_id=product,
                       discount=Discount(kind=AmountKind.PERCENT, value=Decimal(percent)),
                       valid_from=date(2026, 11, 1), valid_to=valid_to, max_uses=max_uses)  # fmt: skip


def pending(loans: Loans, amount: str = "40000", tenure: int = 12, coupon: str | None = None) -> UUID:
    created = loans.create(BRAND, BORROWER, PRODUCT, amount, tenure, coupon_code=coupon)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).status is S.PENDING
    return created.id


def last_event(loans: Loans, loan_id: UUID) -> Any:
    return list(loans.events.get(loan_id))[-1]


# Allowed statuses ------------------------------------------------------------------------------------------------


def test_a_pending_application_moves_to_the_payday_product_with_its_terms_bre_and_figures(
    loans: Loans, source: Facts
) -> None:
    source.given = ApplicantFacts(credit_score=700, monthly_salary=Decimal(150000), existing_emis=Decimal(5000))
    loan_id = pending(loans)
    loans.change_product(BRAND, loan_id, str(PAYDAY), WHY, tenure=30)
    loan = loans.get(BRAND, loan_id)  # replayed from the stored events
    assert (loan.product_id, loan.amount, loan.tenure, loan.status) == (PAYDAY, Decimal("40000.00"), 30, S.PENDING)
    changed = last_event(loans, loan_id)
    assert type(changed).__name__ == "ProductChanged"
    assert (changed.previous_product_id, changed.previous_tenure, changed.reason) == (PRODUCT, 12, WHY)
    assert changed.terms.kind is LoanKind.PAYDAY and changed.terms.daily_percent == Decimal("1")
    assert changed.terms.penal.daily_percent == Decimal("0.5") and changed.terms.gst_percent == Decimal(18)
    # The new product's rules ran on the recorded facts, this loan's own obligation being the payday bullet.
    results = {r["rule"]: r for r in loan.results}
    assert set(results) >= {"CREDIT_SCORE", "FOIR"} and results["CREDIT_SCORE"]["threshold"] == {"min": "650"}
    bullet = ref.paise("40000") + ref.div_half_up(ref.paise("40000") * ref.rate_units("1") * 30, ref.HUNDRED_PERCENT)
    assert loan.facts is not None and Decimal(loan.facts["proposed_emi"]) == ref.rupees(bullet)
    assert loan.instalment == ref.rupees(bullet)
    # Pricing at creation and at sanction follow the payday product's fees and GST.
    expected = ref.price(ref.paise("40000"), ("fixed", Decimal("999.99"), False), ("percent", Decimal("1.5"), False),
                         Decimal(18), None)  # fmt: skip
    assert loan.pricing.net_disbursed == ref.rupees(expected.net)
    loans.cx_approve(BRAND, loan_id, "40000", "fits the payday product")
    loans.sanction(BRAND, loan_id, "40000", "sanctioned on payday terms")
    loan = loans.get(BRAND, loan_id)
    assert loan.sanction_pricing is not None and loan.sanction_terms is not None
    assert loan.sanction_pricing.processing_fee.amount == ref.rupees(expected.processing)
    assert loan.sanction_pricing.convenience_fee.gst == ref.rupees(expected.convenience_gst)
    assert loan.sanction_pricing.net_disbursed == ref.rupees(expected.net)
    assert loan.sanction_terms.kind is LoanKind.PAYDAY and loan.sanction_terms.tenure == 30
    schedule = build_schedule(loan.sanction_terms, TODAY, RepaymentCalendar())
    (row,) = ref.payday_rows(ref.paise("40000"), Decimal("1"), 30, TODAY, True, frozenset())
    (only,) = schedule.instalments
    assert (only.due_date, only.principal, only.interest) == (
        row.due,
        ref.rupees(row.principal),
        ref.rupees(row.interest),
    )
    # Penal charges (servicing) read the new product's version too.
    assert loans.catalogue.version(BRAND, loan.product_id, loan.product_version).penal.daily_percent == Decimal("0.5")


def test_an_emi_to_emi_change_failing_the_new_rules_is_rejected_by_the_bre_and_overridable(
    loans: Loans, catalogue: Products
) -> None:
    loan_id = pending(loans, "100000")
    loans.change_product(BRAND, loan_id, EMI_B, WHY, amount="90000", tenure=18)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.REJECTED and loan.rejected_by_bre
    assert {r["rule"]: r["outcome"] for r in loan.results}["CREDIT_SCORE"] == "fail"
    loans.override(BRAND, loan_id, "CREDIT_SCORE", "pass", "score 750 with a salary account of ten years")
    loans.cx_approve(BRAND, loan_id, "90000", "fine by me")
    loans.sanction(BRAND, loan_id, "85000", "a little less")
    loan = loans.get(BRAND, loan_id)
    assert loan.sanction_terms is not None and loan.sanction_terms.annual_percent == Decimal("17.75")
    rows = ref.emi_rows(ref.paise("85000"), Decimal("17.75"), 18, TODAY, True, frozenset())
    schedule = build_schedule(loan.sanction_terms, TODAY, RepaymentCalendar())
    assert [(i.due_date, i.principal, i.interest) for i in schedule.instalments] == [
        (r.due, ref.rupees(r.principal), ref.rupees(r.interest)) for r in rows
    ]
    assert loan.sanction_instalment == ref.rupees(ref.emi(ref.paise("85000"), Decimal("17.75"), 18))
    expected = ref.price(ref.paise("85000"), ("percent", Decimal("1.5"), True), ("fixed", Decimal(0), False),
                         Decimal(12), None)  # fmt: skip
    assert loan.sanction_pricing is not None and loan.sanction_pricing.net_disbursed == ref.rupees(expected.net)
    assert loan.sanction_pricing.processing_fee.gst == ref.rupees(expected.processing_gst)


def test_a_cx_approved_application_returns_to_the_cx_queue_without_its_approval_cam_or_overrides(
    loans: Loans, source: Facts
) -> None:
    source.given = ApplicantFacts(credit_score=690, monthly_salary=Decimal(150000), existing_emis=Decimal(0))
    # fails PRODUCT's 700, passes PAYDAY's 650
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    loans.submit(BRAND, created.id)
    loans.override(BRAND, created.id, "CREDIT_SCORE", "pass", "thin file but a long salary history")
    loans.record_cam(BRAND, created.id, {
        "salary_credits": [{"month": f"2026-0{m}", "amount": "50000"} for m in (7, 8, 9)], "existing_emis": "0",
        "recommended_amount": "40000", "recommended_rate": "24", "notes": "fine",
    })  # fmt: skip
    loans.cx_approve(BRAND, created.id, "40000", "approved")
    loans.change_product(BRAND, created.id, PAYDAY, WHY, tenure=30)
    loan = loans.get(BRAND, created.id)
    assert loan.status is S.PENDING and loan.cx_approved_amount is None and loan.cam is None
    assert loan.overrides == {} and loan.bre_outcome().passed
    with pytest.raises(Conflict):  # the SM has nothing to sanction until the CX approves again
        loans.sanction(BRAND, created.id, "40000", "too early")
    loans.cx_approve(BRAND, created.id, "40000", "approved again on the payday terms")
    assert loans.get(BRAND, created.id).status is S.CX_APPROVED


def test_a_product_change_keeps_the_sanction_managers_assignment_and_clears_the_escalation(
    loans: Loans, source: Facts
) -> None:
    # The Sanction Head's assignment says who decides the sanction, not what was decided: the change sends the
    # application back to its CX (as the SM's send back does) and, approved again on the new terms, it returns to
    # the same SM's queue to be sanctioned afresh, rather than to the unassigned pool for any SM to take.
    source.given = ApplicantFacts(credit_score=690, monthly_salary=Decimal(150000), existing_emis=Decimal(0))
    # fails PRODUCT's 700 (overridden), passes PAYDAY's 650
    loan_id = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12).id
    loans.submit(BRAND, loan_id)
    loans.override(BRAND, loan_id, "CREDIT_SCORE", "pass", "thin file but a long salary history")
    loans.cx_approve(BRAND, loan_id, "40000", "approved")
    loans.escalate(BRAND, loan_id, "needs a second opinion")
    loans.assign_sanction(BRAND, loan_id, CX_B, "Ravi knows this employer")
    loans.change_product(BRAND, loan_id, PAYDAY, WHY, tenure=30)
    loan = loans.get(BRAND, loan_id)  # replayed from the stored events
    assert loan.status is S.PENDING and loan.sanction_assignee == CX_B and loan.escalation is None
    loans.cx_approve(BRAND, loan_id, "40000", "approved again on the payday terms")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.CX_APPROVED and loan.sanction_assignee == CX_B
    with pytest.raises(Conflict):  # still his: assigning it to him again is refused as before the change
        loans.assign_sanction(BRAND, loan_id, CX_B, "once more")


def test_before_submission_the_status_stays_onboarding_and_the_bre_runs_the_new_rules_at_submission(
    loans: Loans, source: Facts
) -> None:
    source.given = ApplicantFacts(credit_score=700, monthly_salary=Decimal(60000), existing_emis=Decimal(0))
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    loans.change_product(BRAND, created.id, PAYDAY, WHY, tenure=14)
    loan = loans.get(BRAND, created.id)
    assert loan.status is S.ONBOARDING and loan.results == [] and loan.product_id == PAYDAY
    loans.submit(BRAND, created.id)
    assert "FOIR" in {r["rule"] for r in loans.get(BRAND, created.id).results}


@pytest.mark.parametrize("stage", ["sanctioned", "signed", "rejected", "cancelled", "rejected_by_bre"])
def test_after_the_sanction_or_once_closed_the_product_cannot_change(loans: Loans, source: Facts, stage: str) -> None:
    loan_id = pending(loans)
    if stage in ("sanctioned", "signed"):
        loans.cx_approve(BRAND, loan_id, "40000", "fine by me")
        loans.sanction(BRAND, loan_id, "40000", "fine by me")
    if stage == "signed":
        loans.issue_agreement(BRAND, loan_id, "ab" * 32, "a.pdf", "es-1", "https://e/1", NOW + timedelta(days=2))
        loans.sign(BRAND, loan_id, "prov-1", NOW)
    if stage == "rejected":
        loans.reject(BRAND, loan_id, "LOW_INCOME", "income below the minimum")
    if stage == "cancelled":
        loans.cancel(BRAND, loan_id, "borrower withdrew")
    if stage == "rejected_by_bre":
        loans.override(BRAND, loan_id, "CREDIT_SCORE", "fail", "bureau report shows a fresh default")
    before = event_names(loans, loan_id)
    status = loans.get(BRAND, loan_id).status
    with pytest.raises(Conflict) as refused:
        loans.change_product(BRAND, loan_id, PAYDAY, WHY, tenure=30)
    assert refused.value.details["status"] == str(status) and f"this one is {status.words}" in refused.value.message
    assert event_names(loans, loan_id) == before


# Input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "amount", "tenure", "reason", "field"),
    [
        ("not-a-uuid", None, None, WHY, "product_id"),
        ("0f0f0f0f-0000-4000-8000-00000000dead", None, None, WHY, "product_id"),  # no such product
        (str(RETIRED), None, None, WHY, "product_id"),  # not active
        (str(FOREIGN), None, None, WHY, "product_id"),  # another brand's
        (str(PRODUCT), None, None, WHY, "product_id"),  # nothing would change
        (str(PAYDAY), "60000", 30, WHY, "amount"),  # above the payday maximum
        (str(PAYDAY), "-5", 30, WHY, "amount"),
        (str(PAYDAY), None, 90, WHY, "tenure"),  # above 45 days
        (str(PAYDAY), None, None, WHY, "tenure"),  # months do not carry over to a payday product
        (str(PAYDAY), None, 0, WHY, "tenure"),
        (str(PAYDAY), None, 30, " ", "reason"),
        (str(EMI_B), "5000", None, WHY, "amount"),  # below the product's minimum
    ],
)
def test_each_bad_field_is_named_and_nothing_is_recorded(
    loans: Loans, product: str, amount: str | None, tenure: int | None, reason: str, field: str
) -> None:
    loan_id = pending(loans)
    before = event_names(loans, loan_id)
    with pytest.raises(InvalidInput) as refused:
        loans.change_product(BRAND, loan_id, product, reason, amount=amount, tenure=tenure)
    assert fields(refused) == {field}
    assert event_names(loans, loan_id) == before


def test_another_brand_cannot_change_the_loan(loans: Loans) -> None:
    from domain.loans.loan import LoanNotFound

    loan_id = pending(loans)
    with pytest.raises(LoanNotFound):
        loans.change_product(OTHER, loan_id, FOREIGN, WHY)


def test_a_stale_expected_version_is_a_conflict(loans: Loans) -> None:
    from domain.shared.errors import Conflict as Refused

    loan_id = pending(loans)
    version = loans.get(BRAND, loan_id).version
    loans.change_product(BRAND, loan_id, EMI_B, WHY, amount="50000", expected_version=version)
    with pytest.raises(Refused):
        loans.change_product(BRAND, loan_id, PAYDAY, WHY, tenure=30, expected_version=version)
    assert loans.get(BRAND, loan_id).product_id == EMI_B


def test_the_new_product_s_limit_on_open_loans_holds(loans: Loans) -> None:
    first = loans.create(BRAND, BORROWER, EMI_B, "50000", 12)  # EMI_B allows two open loans
    second = loans.create(BRAND, BORROWER, EMI_B, "50000", 12)
    with pytest.raises(InvalidInput) as refused:  # PAYDAY allows one: the other open application is in the way
        loans.change_product(BRAND, second.id, PAYDAY, WHY, tenure=30, amount="40000")
    assert fields(refused) == {"product_id"} and "1 other open loan" in str(refused.value)
    loans.cancel(BRAND, first.id, "borrower keeps one application")
    loans.change_product(BRAND, second.id, PAYDAY, WHY, tenure=30, amount="40000")
    assert loans.get(BRAND, second.id).product_id == PAYDAY


def test_a_newer_version_of_the_same_product_reprices_the_application(loans: Loans, catalogue: Products) -> None:
    catalogue.by_product[(PRODUCT, "DIWALI")] = _coupon(PRODUCT)
    loan_id = pending(loans, coupon="DIWALI")
    catalogue.products[(BRAND, PRODUCT)] = product_version(version=2, annual_percent=Decimal("21"))
    loans.change_product(BRAND, loan_id, PRODUCT, "the product's terms were superseded")
    loan = loans.get(BRAND, loan_id)
    assert (loan.product_version, loan.coupon_code) == (2, "DIWALI")
    assert loan.instalment == ref.rupees(ref.emi(ref.paise("40000"), Decimal("21"), 12))


# Coupons ------------------------------------------------------------------------------------------------------


def test_a_coupon_the_new_product_does_not_have_is_dropped_and_the_drop_recorded(
    loans: Loans, catalogue: Products
) -> None:
    catalogue.by_product[(PRODUCT, "DIWALI")] = _coupon(PRODUCT)
    loan_id = pending(loans, coupon="DIWALI")
    assert loans.get(BRAND, loan_id).pricing.coupon_discount > 0
    loans.change_product(BRAND, loan_id, PAYDAY, WHY, tenure=30)
    loan = loans.get(BRAND, loan_id)
    changed = last_event(loans, loan_id)
    assert loan.coupon_code is None and loan.pricing.coupon_discount == 0
    assert changed.coupon_dropped == "DIWALI" and "PD has no coupon DIWALI" in changed.coupon_dropped_reason


def test_a_coupon_of_the_same_code_on_the_new_product_is_kept_and_discounts_its_fee(
    loans: Loans, catalogue: Products
) -> None:
    catalogue.by_product[(PRODUCT, "DIWALI")] = _coupon(PRODUCT)
    catalogue.by_product[(EMI_B, "DIWALI")] = _coupon(EMI_B, percent="25")
    loan_id = pending(loans, coupon="DIWALI")
    loans.change_product(BRAND, loan_id, EMI_B, WHY, amount="60000")
    loan = loans.get(BRAND, loan_id)
    expected = ref.price(ref.paise("60000"), ("percent", Decimal("1.5"), True), ("fixed", Decimal(0), False),
                         Decimal(12), ("percent", Decimal(25)))  # fmt: skip
    assert loan.coupon_code == "DIWALI" and loan.pricing.coupon_discount == ref.rupees(expected.discount)
    assert loan.pricing.net_disbursed == ref.rupees(expected.net)
    assert last_event(loans, loan_id).coupon_dropped is None


def test_a_coupon_expired_or_used_up_on_the_new_product_is_dropped(loans: Loans, catalogue: Products) -> None:
    catalogue.by_product[(PRODUCT, "DIWALI")] = _coupon(PRODUCT)
    catalogue.by_product[(EMI_B, "DIWALI")] = _coupon(EMI_B, max_uses=1)  # the fake book counts every use
    loan_id = pending(loans, coupon="DIWALI")
    loans.change_product(BRAND, loan_id, EMI_B, WHY)
    changed = last_event(loans, loan_id)
    assert changed.coupon_code is None and "used its 1 time" in changed.coupon_dropped_reason


def test_a_check_bypassed_after_submission_stays_bypassed_for_the_new_product_s_rules(
    loans: Loans, source: Facts
) -> None:
    source.given = ApplicantFacts(credit_score=600, monthly_salary=Decimal(150000), existing_emis=Decimal(0))
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).status is S.REJECTED  # 600 < 700
    loans.bypass(BRAND, created.id, "bureau", "bureau down for the week; salary slips seen")
    assert loans.get(BRAND, created.id).status is S.PENDING  # the score is not checked any more
    loans.change_product(BRAND, created.id, PAYDAY, WHY, tenure=30)
    loan = loans.get(BRAND, created.id)
    assert {r["rule"]: r["outcome"] for r in loan.results}["CREDIT_SCORE"] == "bypassed"
    assert loan.status is S.PENDING and loan.facts is not None and loan.facts["bypassed"] == ["bureau"]


def test_a_second_check_bypassed_after_submission_keeps_the_first_bypassed(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts(credit_score=600, monthly_salary=None, existing_emis=Decimal(0))
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    loans.submit(BRAND, created.id)
    loans.bypass(BRAND, created.id, "bureau", "bureau down for the week; salary slips seen")
    loans.bypass(BRAND, created.id, "bank_statement", "statement portal down; salary slips seen")
    loan = loans.get(BRAND, created.id)
    assert {r["rule"]: r["outcome"] for r in loan.results}["CREDIT_SCORE"] == "bypassed"
    assert loan.status is S.PENDING


# The borrower's redone loan request ----------------------------------------------------------------------------


def test_the_borrower_s_redone_request_changes_the_same_application_before_submission(
    loans: Loans, catalogue: Products
) -> None:
    catalogue.by_product[(EMI_B, "DIWALI")] = _coupon(EMI_B, percent="25")
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    number = loans.get(BRAND, created.id).loan_number
    loans.amend_request(BRAND, created.id, EMI_B, Decimal("60000"), 18, "diwali")
    loan = loans.get(BRAND, created.id)
    assert (loan.loan_number, loan.status, loan.product_id, loan.amount, loan.tenure, loan.coupon_code) == (
        number, S.ONBOARDING, EMI_B, Decimal("60000.00"), 18, "DIWALI",
    )  # fmt: skip
    assert loan.pricing.coupon_discount > 0 and loan.results == []  # not evaluated: the submission runs the BRE
    changed = last_event(loans, created.id)
    assert type(changed).__name__ == "ProductChanged" and changed.previous_amount == Decimal("40000.00")
    assert "the borrower changed the loan request" in changed.reason
    assert loans.amend_request(BRAND, created.id, EMI_B, Decimal("60000"), 18, "DIWALI").changed is False
    loans.amend_request(BRAND, created.id, EMI_B, Decimal("60000"), 18, None)  # the coupon taken off: only that
    changed = last_event(loans, created.id)
    assert (changed.coupon_code, changed.coupon_dropped) == (None, "DIWALI")
    assert loans.get(BRAND, created.id).pricing.coupon_discount == 0


def test_a_redone_request_is_checked_as_a_new_one_and_refused_once_submitted(loans: Loans, catalogue: Products) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "40000", 12)
    before = event_names(loans, created.id)
    for product, amount, tenure, coupon, named in (
        (RETIRED, "40000", 12, None, "product_id"),
        (PAYDAY, "60000", 30, None, "amount"),
        (PAYDAY, "40000", 90, None, "tenure"),
        (PRODUCT, "40000", 12, "NOPE", "coupon_code"),
    ):
        with pytest.raises(InvalidInput) as refused:
            loans.amend_request(BRAND, created.id, product, Decimal(amount), tenure, coupon)
        assert fields(refused) == {named}
    assert event_names(loans, created.id) == before
    loans.submit(BRAND, created.id)
    with pytest.raises(Conflict) as refused_after:
        loans.amend_request(BRAND, created.id, PRODUCT, Decimal("50000"), 12, None)
    assert refused_after.value.details["status"] == "pending"
