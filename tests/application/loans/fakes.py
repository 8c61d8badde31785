"""Fakes of the other contexts for the loans application tests (their fixtures: conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts, BrandPolicy, Rule, RuleSpec
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.loan import Loan
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee, LoanKind, PenalTerms
from domain.shared.errors import InvalidInput, NotFound

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
BORROWER = uuid.UUID("00000000-0000-4000-8000-00000000e001")
CX_A = uuid.UUID("00000000-0000-4000-8000-00000000f001")
CX_B = uuid.UUID("00000000-0000-4000-8000-00000000f002")
PRODUCT = uuid.UUID("00000000-0000-4000-8000-00000000a001")
TODAY = date(2026, 11, 30)


def product_version(**changes: object) -> ProductVersion:
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
    products: dict[tuple[UUID, UUID], ProductVersion] = field(
        default_factory=lambda: {(BRAND, PRODUCT): product_version()}
    )
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
    cam: bool = False
    today: date = TODAY  # the brand's business date (a brand may run as of another day than the clock's)
    minimum: Decimal | None = None  # the brand's minimum loan amount, once set

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        return brand_id == BRAND and customer_id == BORROWER

    def business_date(self, brand_id: UUID) -> date:
        return self.today

    def policy(self, brand_id: UUID) -> BrandPolicy:
        return BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)

    def loan_minimum(self, brand_id: UUID) -> Decimal | None:
        return self.minimum

    def rejection_reason(self, brand_id: UUID, code: str) -> str | None:
        return {"LOW_INCOME": "Income below our minimum", "INCOME_NOT_VERIFIED": "Income not verified"}.get(code)

    def auto_allocate(self, brand_id: UUID) -> bool:
        return self.auto

    def cam_required(self, brand_id: UUID) -> bool:
        return self.cam

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        return RepaymentCalendar()

    def can_take_loans(self, brand_id: UUID, staff_id: UUID) -> bool:
        return brand_id == BRAND and staff_id in self.staff

    def can_sanction(self, brand_id: UUID, staff_id: UUID) -> bool:
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

    @contextmanager
    def exclusive(self, brand_id: UUID, counts: Sequence[str]) -> Iterator[Callable[[int], None]]:
        """One thread: nothing to hold; the counts read the store itself, current at once."""
        yield lambda position: None


@dataclass
class Facts:
    given: ApplicantFacts = field(default_factory=lambda: ApplicantFacts(credit_score=750))

    def facts(
        self, brand_id: UUID, customer_id: UUID, product: ProductVersion, amount: Decimal, tenure: int
    ) -> ApplicantFacts:
        return self.given


def nothing_recorded(app: Loans) -> bool:
    return app.recorder.max_notification_id() in (None, 0)


def fields(refused: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {e.field for e in refused.value.errors}


def event_names(app: Loans, loan_id: UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(loan_id)]


def reassigned_after_loads(app: Loans, monkeypatch: pytest.MonkeyPatch, times: int, after: int = 0) -> list[UUID]:
    """Another request saves a change on a loan right after each of the next `times` loads of it by `app.get` (a
    manager reassigns it to the other credit executive), so the command that loaded it loses the race: its save is a
    ConcurrentModification. The first `after` loads are left alone. The staff it was reassigned to, in order."""
    real_get, made, left_alone = app.get, [], [after]

    def get_then_reassign(brand_id: UUID, loan_id: UUID) -> Loan:
        loan = real_get(brand_id, loan_id)
        if left_alone[0] > 0:
            left_alone[0] -= 1
        elif len(made) < times:
            made.append(CX_B if loan.assignee != CX_B else CX_A)
            with monkeypatch.context() as inner:  # the reassignment's own load is not raced
                inner.setattr(app, "get", real_get)
                app.assign(brand_id, loan_id, made[-1], "reassigned meanwhile")
        return loan

    monkeypatch.setattr(app, "get", get_then_reassign)
    return made


def closed_after_loads(app: Loans, monkeypatch: pytest.MonkeyPatch, days: Sequence[date]) -> list[date]:
    """The close of business closes the next of `days` on a loan right after each of the next `len(days)` loads of it
    by `app.get` (the COB job working through the book while staff act on the loan), so the command that loaded it
    loses the race: its save is a ConcurrentModification. The days it closed, in order (each recorded something:
    the loan is overdue, its penal charges accrue)."""
    real_get, closed = app.get, []

    def get_then_close(brand_id: UUID, loan_id: UUID) -> Loan:
        loan = real_get(brand_id, loan_id)
        if len(closed) < len(days):
            closed.append(days[len(closed)])
            with monkeypatch.context() as inner:  # the close's own load is not raced
                inner.setattr(app, "get", real_get)
                assert app.close_business_day(brand_id, loan_id, closed[-1]).changed
        return loan

    monkeypatch.setattr(app, "get", get_then_close)
    return closed
