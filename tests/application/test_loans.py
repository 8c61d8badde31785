"""Loan application use cases: creation rules, submission through the BRE, overrides and bypasses re-deciding,
assignment (auto and manual), cancel and reject - on the in-memory event store with fakes of the other contexts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts, BrandPolicy, Rule, RuleSpec
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.parties import proposed_emi
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind, PenalTerms
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput, NotFound
from domain.shared.numbering import CountingSeries
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
BORROWER = uuid.UUID("00000000-0000-4000-8000-00000000e001")
CX_A = uuid.UUID("00000000-0000-4000-8000-00000000f001")
CX_B = uuid.UUID("00000000-0000-4000-8000-00000000f002")
PRODUCT = uuid.UUID("00000000-0000-4000-8000-00000000a001")
TODAY = date(2026, 11, 30)


def _product(**changes: object) -> ProductVersion:
    base = ProductVersion(
        id=PRODUCT,
        brand_id=BRAND,
        version=1,
        code="PL",
        name="Personal loan",
        kind=LoanKind.EMI,
        min_amount=Decimal("10000.00"),
        max_amount=Decimal("200000.00"),
        min_tenure=3,
        max_tenure=24,
        annual_percent=Decimal("24"),
        daily_percent=None,
        processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("2")),
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("500"), gst_inclusive=True),
        gst_percent=Decimal("18"),
        penal=PenalTerms(),
        max_active_loans=1,
        bre_rules=(RuleSpec(Rule.CREDIT_SCORE, min=Decimal(700)),),
    )
    return ProductVersion(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@dataclass
class Catalogue:
    products: dict[tuple[UUID, UUID], ProductVersion] = field(default_factory=lambda: {(BRAND, PRODUCT): _product()})
    coupons: dict[str, CouponTerms] = field(default_factory=dict)

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        try:
            return self.products[(brand_id, product_id)]
        except KeyError:
            raise NotFound("no product") from None

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self.current(brand_id, product_id)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return self.coupons.get(code)


@dataclass
class Parties:
    auto: bool = False
    staff: set[UUID] = field(default_factory=lambda: {CX_A, CX_B})
    workload: dict[UUID, int] = field(default_factory=lambda: {CX_A: 3, CX_B: 1})
    away: set[UUID] = field(default_factory=set)

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        return brand_id == BRAND and customer_id == BORROWER

    def business_date(self, brand_id: UUID) -> date:
        return TODAY

    def policy(self, brand_id: UUID) -> BrandPolicy:
        return BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)

    def rejection_reason(self, brand_id: UUID, code: str) -> str | None:
        return {"LOW_INCOME": "Income below our minimum", "INCOME_NOT_VERIFIED": "Income not verified"}.get(code)

    def auto_allocate(self, brand_id: UUID) -> bool:
        return self.auto

    def can_take_loans(self, brand_id: UUID, staff_id: UUID) -> bool:
        return brand_id == BRAND and staff_id in self.staff

    def pick_credit_executive(self, brand_id: UUID, day: date) -> UUID | None:
        free = [s for s in sorted(self.staff) if s not in self.away]
        return min(free, key=lambda s: self.workload.get(s, 0), default=None)


@dataclass
class Book:
    """Counts from the in-memory store itself (the read model's job in production)."""

    app: Loans | None = None

    def _loans(self) -> list[Loan]:
        assert self.app is not None
        ids = {UUID(str(n.originator_id)) for n in self.app.recorder.select_notifications(start=1, limit=10_000)}
        found = [self.app.find(i) for i in ids]
        return [loan for loan in found if isinstance(loan, Loan)]

    def coupon_uses(self, brand_id: UUID, product_id: UUID, code: str) -> int:
        closed = (LoanStatus.CANCELLED, LoanStatus.REJECTED)
        return sum(1 for x in self._loans() if x.coupon_code == code and x.status not in closed)

    def open_loans(self, brand_id: UUID, customer_id: UUID) -> int:
        return sum(1 for x in self._loans() if x.customer_id == customer_id and not x.status.final
                   and x.status not in (LoanStatus.REJECTED, LoanStatus.CANCELLED, LoanStatus.COMPLETED))  # fmt: skip


@dataclass
class Facts:
    given: ApplicantFacts = field(default_factory=lambda: ApplicantFacts(credit_score=750))

    def facts(
        self, brand_id: UUID, customer_id: UUID, product: ProductVersion, amount: Decimal, tenure: int
    ) -> ApplicantFacts:
        return self.given


@pytest.fixture
def parties() -> Parties:
    return Parties()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue()


@pytest.fixture
def source() -> Facts:
    return Facts()


@pytest.fixture
def loans(clock: FixedClock, parties: Parties, catalogue: Catalogue, source: Facts) -> Loans:
    book = Book()
    app = in_memory(
        Loans, clock, parties=parties, book=book, facts=source, catalogue=catalogue, numbers=CountingSeries("DEMO")
    )
    book.app = app
    return app


def _nothing_recorded(app: Loans) -> bool:
    return app.recorder.max_notification_id() in (None, 0)


def _fields(refused: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {e.field for e in refused.value.errors}


def _events(app: Loans, loan_id: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(loan_id)]


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
    assert _fields(refused) == {"customer_id", "product_id"}
    assert _nothing_recorded(loans)


def test_amount_and_tenure_outside_the_product_range_are_refused(loans: Loans) -> None:
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "250000", 36)
    assert _fields(refused) == {"amount", "tenure"}
    assert "between 10000.00 and 200000.00" in str(refused.value)
    assert _nothing_recorded(loans)


def test_an_inactive_product_takes_no_application(loans: Loans, catalogue: Catalogue) -> None:
    catalogue.products[(BRAND, PRODUCT)] = _product(active=False)
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    assert _fields(refused) == {"product_id"} and "not active" in str(refused.value)
    assert _nothing_recorded(loans)


def test_another_brands_product_or_borrower_is_not_found(loans: Loans) -> None:
    with pytest.raises(InvalidInput) as refused:
        loans.create(OTHER, BORROWER, PRODUCT, "50000", 12)
    assert _fields(refused) == {"customer_id", "product_id"}


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
    assert _fields(unknown) == {"coupon_code"}
    catalogue.coupons["DIWALI"] = _coupon(valid_to=date(2026, 11, 29))
    with pytest.raises(InvalidInput) as expired:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="diwali")
    assert _fields(expired) == {"coupon_code"} and "valid from 2026-11-01 to 2026-11-29" in str(expired.value)
    assert _nothing_recorded(loans)


def test_a_coupon_is_used_at_most_max_uses_times_not_counting_cancelled(
    loans: Loans, catalogue: Catalogue, parties: Parties
) -> None:
    catalogue.coupons["DIWALI"] = _coupon()
    catalogue.products[(BRAND, PRODUCT)] = _product(max_active_loans=5)
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert loans.get(BRAND, first.id).coupon_code == "DIWALI"
    with pytest.raises(InvalidInput) as used:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert _fields(used) == {"coupon_code"} and "used its 1 time" in str(used.value)
    loans.cancel(BRAND, first.id, "borrower changed their mind")
    again = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12, coupon_code="DIWALI")
    assert loans.get(BRAND, again.id).coupon_code == "DIWALI"


def test_the_borrower_may_hold_at_most_max_active_loans(loans: Loans) -> None:
    first = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    assert _fields(refused) == {"customer_id"} and "open loan" in str(refused.value)
    loans.cancel(BRAND, first.id, "duplicate application")
    loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)


def test_an_amount_eaten_by_fees_is_refused(loans: Loans, catalogue: Catalogue) -> None:
    catalogue.products[(BRAND, PRODUCT)] = _product(
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("20000")), min_amount=Decimal("1000")
    )
    with pytest.raises(InvalidInput) as refused:
        loans.create(BRAND, BORROWER, PRODUCT, "15000", 12)
    assert _fields(refused) == {"amount"} and "nothing to disburse" in str(refused.value)


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
    assert _events(loans, created.id) == ["Created", "Submitted"]


def test_auto_allocation_assigns_the_least_loaded_available_cx(loans: Loans, parties: Parties) -> None:
    parties.auto = True
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).assignee == CX_B
    assert _events(loans, created.id) == ["Created", "Submitted", "Assigned"]
    parties.away = {CX_B}
    parties.staff.add(uuid.uuid4())
    assert parties.pick_credit_executive(BRAND, TODAY) not in (CX_B, None)


def test_a_rejected_application_is_not_auto_allocated(loans: Loans, parties: Parties, source: Facts) -> None:
    parties.auto = True
    source.given = ApplicantFacts(credit_score=600)
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).assignee is None


# Overrides and bypasses ----------------------------------------------------------------------------------------------


def test_overriding_the_failed_rule_of_a_bre_rejection_reopens_it_as_pending(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts(credit_score=688)
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.override(BRAND, created.id, "CREDIT_SCORE", "pass", "thin file, salary account with us for 6 years")
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING and not loan.rejected_by_bre
    assert loan.overrides[Rule.CREDIT_SCORE].justification.startswith("thin file")
    assert loan.bre_outcome().passed


def test_overriding_a_pass_into_a_fail_rejects(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.override(BRAND, created.id, "COOLDOWN", "fail", "rejected last week under another phone number")
    assert loans.get(BRAND, created.id).status is LoanStatus.REJECTED


def test_override_input_is_checked_and_nothing_recorded(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    before = _events(loans, created.id)
    for rule, result, why, name in (
        ("NOPE", "pass", "a long enough reason", "rule"),
        ("CREDIT_SCORE", "maybe", "a long enough reason", "result"),
        ("CREDIT_SCORE", "fail", "short", "justification"),
        ("SALARY", "fail", "a long enough reason", "rule"),  # not evaluated for this product
        ("CREDIT_SCORE", "pass", "a long enough reason", "result"),  # already passes
    ):
        with pytest.raises(InvalidInput) as refused:
            loans.override(BRAND, created.id, rule, result, why)
        assert _fields(refused) == {name}
    assert _events(loans, created.id) == before


def test_a_person_s_rejection_cannot_be_overridden(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.reject(BRAND, created.id, "income_not_verified", "salary slips do not match the bank statement")
    with pytest.raises(Conflict):
        loans.override(BRAND, created.id, "CREDIT_SCORE", "fail", "a long enough reason")


def test_a_bypass_before_submission_is_used_by_the_bre(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts()  # no bureau record
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.bypass(BRAND, created.id, "bureau", "bureau down, existing customer")
    loans.submit(BRAND, created.id)
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING
    assert {r["rule"]: r["outcome"] for r in loan.results}["CREDIT_SCORE"] == "bypassed"


def test_a_bypass_after_a_bre_rejection_re_evaluates_and_re_decides(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts()
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).status is LoanStatus.REJECTED
    loans.bypass(BRAND, created.id, "bureau", "bureau outage all day")
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING and loan.bypassed == {"bureau"}
    with pytest.raises(Conflict):
        loans.bypass(BRAND, created.id, "bureau", "again")
    with pytest.raises(InvalidInput) as refused:
        loans.bypass(BRAND, created.id, "cibil", "no such check")
    assert _fields(refused) == {"check"}


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
    assert _fields(refused) == {"staff_id"}


def test_cancel_needs_a_reason_and_a_cancellable_state(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    with pytest.raises(InvalidInput) as refused:
        loans.cancel(BRAND, created.id, " ")
    assert _fields(refused) == {"reason"}
    loans.cancel(BRAND, created.id, "borrower withdrew")
    assert loans.get(BRAND, created.id).status is LoanStatus.CANCELLED
    with pytest.raises(Conflict):
        loans.cancel(BRAND, created.id, "again")
    with pytest.raises(Conflict):
        loans.assign(BRAND, created.id, CX_A)


def test_reject_records_the_code_and_remarks(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    with pytest.raises(InvalidInput) as refused:
        loans.reject(BRAND, created.id, "??", "")
    assert _fields(refused) == {"reason_code", "remarks"}
    with pytest.raises(InvalidInput) as unknown:
        loans.reject(BRAND, created.id, "NOT_A_CODE", "income below policy after verification")
    assert _fields(unknown) == {"reason_code"}
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
    assert _events(loans, created.id) == ["Created"]


def test_proposed_emi_is_the_emi_or_the_bullet_per_month() -> None:
    assert proposed_emi(_product(), Decimal("100000.00"), 12) == Decimal("9455.96")
    payday = _product(kind=LoanKind.PAYDAY, annual_percent=None, daily_percent=Decimal("1"))
    assert proposed_emi(payday, Decimal("10000.00"), 15) == Decimal("11500.00")  # whole bullet within a month
    assert proposed_emi(payday, Decimal("10000.00"), 60) == Decimal("8000.00")  # 16000 over two months
