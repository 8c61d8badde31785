"""What the loans context asks of other contexts, as protocols answered at wiring (workers/contexts/loans.py).

The domain never imports another context's application: `Loans` is given
- a `LoanParties` (customers and identity: the borrower exists, the brand's business date, policy and
  auto-allocation setting, which staff may take applications and whom auto-allocation picks),
- a `LoanBook` (the loans read model: coupon uses and open loans per borrower, for the creation rules),
- an `ApplicantFactsSource` (customer record, blocklist, earlier applications, the product's proposed EMI and the
  verification context's credit facts: everything the BRE reads),
- a `ProductCatalogue` (domain/loans/offer.py) and a `NumberSeries` (domain/shared/numbering.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Protocol
from uuid import UUID

from domain.loans.bre import ApplicantFacts, BrandPolicy
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.money import percent_of, round_money
from domain.loans.offer import ProductVersion
from domain.loans.schedule import emi_amount
from domain.loans.terms import LoanKind
from domain.shared.errors import FieldError
from domain.shared.rupees import rupees

#: Who auto-allocation assigns applications to: staff holding this role (enabled, available, not on leave, holding
#: LOANS at WRITE) - at submission (`LoanParties.pick_credit_executive`) and from a departed CX (`cx-departures`).
CREDIT_EXECUTIVE_ROLE = "credit_executive"


class LoanParties(Protocol):
    """The customers and identity contexts, as the loans context needs them."""

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        """Whether the borrower record exists in the brand."""
        ...

    def business_date(self, brand_id: UUID) -> date:
        """The brand's business date today."""
        ...

    def policy(self, brand_id: UUID) -> BrandPolicy:
        """What the brand's settings say the BRE reads."""
        ...

    def loan_minimum(self, brand_id: UUID) -> Decimal | None:
        """The smallest loan amount the brand allows, once it has set one (`min_loan_amount`); None: no minimum of
        the brand's (the product's own range alone applies)."""
        ...

    def rejection_reason(self, brand_id: UUID, code: str) -> str | None:
        """The label of one of the brand's rejection reason codes, or None when the brand has no such code."""
        ...

    def cam_required(self, brand_id: UUID) -> bool:
        """Whether the brand's CX must record the Credit Appraisal Memo before approving (`cam_calculation_required`)."""
        ...

    def repayment_calendar(self, brand_id: UUID) -> RepaymentCalendar:
        """The brand's repayment calendar (Sundays off, repayment holidays): where due dates fall."""
        ...

    def auto_allocate(self, brand_id: UUID) -> bool:
        """Whether the brand assigns submitted applications to credit executives automatically."""
        ...

    def can_take_loans(self, brand_id: UUID, staff_id: UUID) -> bool:
        """Whether the staff member exists in the brand, is enabled and holds LOANS at WRITE."""
        ...

    def can_sanction(self, brand_id: UUID, staff_id: UUID) -> bool:
        """Whether the staff member exists in the brand, is enabled and holds SANCTION_MANAGER at WRITE."""
        ...

    def pick_credit_executive(self, brand_id: UUID, day: date) -> UUID | None:
        """The credit executive with the fewest open assigned applications, skipping anyone disabled, unavailable,
        on leave on `day` or not holding LOANS at WRITE; None when nobody can take one."""
        ...


class BorrowerContact(Protocol):
    """Telling the borrower about a decision (an SMS through the brand's provider; the onboarding context's funnel
    step reopened and the borrower's own page showing it, once wired). Never raises: a message that cannot go out is
    logged, the decision stands."""

    def sent_back(
        self,
        brand_id: UUID,
        customer_id: UUID,
        loan_number: str,
        reason: str,
        step: str | None = None,
        loan_id: UUID | None = None,
    ) -> None:
        """The CX sent the application back to the borrower for documents or information (`reason`); `step` is the
        funnel step to do again (None: the submitted step); `loan_id` the application's id."""
        ...

    def rejected(self, brand_id: UUID, customer_id: UUID, loan_number: str, reason: str) -> None:
        """The Sanction Manager rejected the application; `reason` is the reason code's text."""
        ...


class LoanBook(Protocol):
    """Counts over the brand's applications (the loans read model), and the hold a command keeps on them while it
    checks a limit and commits."""

    def coupon_uses(self, brand_id: UUID, product_id: UUID, code: str) -> int:
        """Applications of the brand using the coupon, not cancelled or rejected."""
        ...

    def open_loans(self, brand_id: UUID, customer_id: UUID) -> int:
        """The borrower's applications and loans that are neither closed nor refused."""
        ...

    def exclusive(self, brand_id: UUID, counts: Sequence[str]) -> AbstractContextManager[Callable[[int], None]]:
        """Hold `counts` (`borrower_count`, `coupon_count`) for one command: another command holding any of them
        waits until this one ends (a Conflict when it waits too long). Call the function it yields with the log
        position of what the command committed: the book shows it before the hold ends, so the next holder
        counts it."""
        ...


def borrower_count(customer_id: UUID) -> str:
    """The name of a borrower's count of open loans, for `LoanBook.exclusive`."""
    return f"open-loans:{customer_id}"


def coupon_count(product_id: UUID, code: str) -> str:
    """The name of a coupon's count of uses, for `LoanBook.exclusive`."""
    return f"coupon-uses:{product_id}:{code}"


def open_loans_refusal(book: LoanBook, brand_id: UUID, customer_id: UUID, limit: int) -> str | None:
    """Why the borrower may not hold one more open application of a product allowing `limit` (at creation and at
    reactivation), or None."""
    if book.open_loans(brand_id, customer_id) >= limit:
        return f"the borrower already has {limit} open loan(s), the most this product allows"
    return None


class CreditFacts(Protocol):
    """A borrower's credit facts as the verification context reports them (None: not known)."""

    @property
    def credit_score(self) -> int | None: ...
    @property
    def monthly_salary(self) -> Decimal | None: ...
    @property
    def existing_emis(self) -> Decimal | None: ...
    @property
    def existing_loans(self) -> int | None: ...
    @property
    def max_dpd(self) -> int | None: ...


class CreditFactsSource(Protocol):
    """The verification context's credit facts (`VerificationQueries.credit_facts`)."""

    def credit_facts(self, brand_id: UUID, customer_id: UUID) -> CreditFacts:
        """The borrower's latest bureau and bank-statement facts."""
        ...


class ApplicantFactsSource(Protocol):
    """Gathers what the BRE reads about one application (`bypassed` is the loan's own, added by `Loans`)."""

    def facts(
        self, brand_id: UUID, customer_id: UUID, product: ProductVersion, amount: Decimal, tenure: int
    ) -> ApplicantFacts:
        """The applicant's facts now; None where a fact is not known."""
        ...


def proposed_emi(product: ProductVersion, amount: Decimal, tenure: int) -> Decimal:
    """This loan's monthly obligation for FOIR: the EMI of an EMI product (LENDING.md), or the payday bullet
    (principal + interest) spread per 30 days of tenure — the whole bullet when the tenure is a month or less."""
    if product.kind is LoanKind.EMI:
        return emi_amount(amount, product.annual_percent or Decimal(0), tenure)
    interest = percent_of(amount, product.daily_percent or Decimal(0), tenure)
    bullet = amount + interest
    return round_money(Fraction(bullet) * 30 / max(tenure, 30))


def below_brand_minimum(minimum: Decimal | None, amount: Decimal, field: str) -> FieldError | None:
    """Why `amount` (`field`: an application's amount, a CX-approved or sanctioned amount) is refused for being below
    the brand's minimum loan amount (`LoanParties.loan_minimum`; None: the brand set none, nothing refused)."""
    if minimum is None or amount >= minimum:
        return None
    return FieldError(field, f"{rupees(amount)} is below the brand's minimum loan amount of {rupees(minimum)}")
