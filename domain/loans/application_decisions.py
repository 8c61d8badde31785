"""Use cases of the credit decision (issue #14): CAM, CX approval, send back, SM sanction, reactivation.

A mixin of `domain.loans.application.Loans`: each use case checks its input (422 naming every bad field, nothing
recorded), loads the loan in the brand (another brand's loan is a 404), runs the aggregate's command (409 when the
loan's state does not allow it) and commits (409 on a concurrent change).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.loans.loan_events import Cam, SalaryCredit, SendBackTo
from domain.loans.money import parse_money, parse_rate, round_money
from domain.loans.offer import ProductVersion
from domain.loans.parties import (
    below_brand_minimum,
    borrower_count,
    coupon_count,
    open_loans_refusal,
    proposed_emi,
)
from domain.loans.pricing import Pricing, price
from domain.loans.terms import LoanKind, LoanTerms
from domain.onboarding.steps import STEPS, Step
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, InvalidValue
from domain.shared.values import MIN_REASON, clean_text, within_limit

if TYPE_CHECKING:
    from domain.loans.loan import Loan
    from domain.loans.offer import ProductCatalogue, ProductVersion
    from domain.loans.parties import BorrowerContact, LoanBook, LoanParties

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: How many salary credits a CAM lists (the last three months).
SALARY_CREDITS = 3


def reason_text(raw: str | None, field: str = "reason", at_least: int = MIN_REASON) -> str:
    """A reason or remarks: at least `at_least` visible characters, whitespace folded, at most MAX_REASON (2,000) characters (longer: 422 naming `field`, never cut)."""
    missing = f"give {field.replace('_', ' ')} (at least {at_least} characters)"
    clean = clean_text(raw, field, multiline=True, min_visible=at_least, missing=missing)
    return within_limit(" ".join(clean.split()), field)


def parse_cam(raw: Mapping[str, Any], product: ProductVersion, tenure: int) -> Cam:
    """The CAM from its input: three salary credits (month YYYY-MM, amount), FOIR (percent, at most 100; optional),
    existing EMI obligations, recommended amount and rate, notes; InvalidInput naming every bad field.

    With the calculator's figures (spec: "fill the CAM calculator with 3 months of salary data; calculate FOIR"):
    the salary credits' average (rounded to the paisa), the loan's monthly obligation at the recommended amount on
    the product's terms and the loan's `tenure` (`proposed_emi`, as the BRE's FOIR reads it), and
    FOIR = (existing EMIs + that obligation) / average salary x 100, to two places half up. A CAM entered without a
    FOIR records the calculated one; one entered with a FOIR keeps it, the calculated one beside it."""
    checks = FieldChecks()
    credits: list[SalaryCredit] = []
    given = raw.get("salary_credits")
    if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != SALARY_CREDITS:
        checks.errors.append(FieldError("salary_credits", f"give the last {SALARY_CREDITS} salary credits"))
    else:
        for i, item in enumerate(given):
            where = f"salary_credits[{i}]"
            if not isinstance(item, Mapping):
                checks.errors.append(FieldError(where, "a salary credit is {month, amount}"))
                continue
            month = str(item.get("month") or "")
            if not _MONTH.match(month):
                checks.errors.append(FieldError(f"{where}.month", "a month is YYYY-MM"))
            amount = checks.check(_money_of(item.get("amount"), f"{where}.amount"))
            if _MONTH.match(month) and amount is not None:
                credits.append(SalaryCredit(month=month, amount=amount))
        if len({c.month for c in credits}) != len(credits):
            checks.errors.append(FieldError("salary_credits", "each month once"))
    given_foir = raw.get("foir")
    foir = (
        checks.check(lambda: parse_rate(given_foir, "foir", at_most=Decimal(100)))
        if given_foir not in (None, "")
        else None
    )
    emis = checks.check(lambda: parse_money(raw.get("existing_emis", "0"), "existing_emis"))
    amount = checks.check(lambda: parse_money(raw.get("recommended_amount"), "recommended_amount", positive=True))
    rate = checks.check(lambda: parse_rate(raw.get("recommended_rate"), "recommended_rate"))
    notes = checks.check(lambda: reason_text(raw.get("notes"), "notes"))
    checks.raise_if_any()
    assert emis is not None and amount is not None and rate is not None and notes is not None
    credits.sort(key=lambda c: c.month)
    average = round_money(Fraction(sum(c.amount for c in credits)) / len(credits))
    obligation = proposed_emi(product, amount, tenure)
    calculated = None
    if average > 0:
        calculated = ((emis + obligation) * 100 / average).quantize(Decimal("0.01"), ROUND_HALF_UP)
    recorded = foir if foir is not None else calculated
    if recorded is None:
        raise InvalidInput([FieldError("foir", "the salary credits add up to nothing: enter the FOIR")])
    return Cam(
        salary_credits=credits,
        foir=recorded,
        existing_emis=emis,
        recommended_amount=amount,
        recommended_rate=rate,
        notes=notes,
        average_salary=average,
        proposed_emi=obligation,
        calculated_foir=calculated,
    )


class DecisionUseCases:
    """CAM, CX approval, send back, sanction and reactivation (mixed into `Loans`)."""

    if TYPE_CHECKING:

        @property
        def parties(self) -> LoanParties: ...
        @property
        def catalogue(self) -> ProductCatalogue: ...
        @property
        def book(self) -> LoanBook: ...
        def get(self, brand_id: UUID, loan_id: UUID) -> Loan: ...
        def commit(self, primary: Any, *others: Any, beside: Sequence[Callable[[Any], None]] = ()) -> CommandResult: ...
        @staticmethod
        def check_version(aggregate: Any, expected_version: int | None) -> None: ...

        contact: BorrowerContact | None

    def record_cam(
        self, brand_id: UUID, loan_id: UUID, cam: Mapping[str, Any], *, any_application: bool = False,
        expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """Record the Credit Appraisal Memo of a pending application (the latest one counts): its assigned CX's, or
        anyone's with `any_application` (LOAN_RELOCATE; `Loan.require_assigned_cx`)."""
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        cam_in = parse_cam(cam, product, loan.tenure)
        loan.record_cam(cam_in, self.parties.business_date(brand_id), any_application=any_application)
        return self.commit(loan)

    def cx_approve(
        self, brand_id: UUID, loan_id: UUID, approved_amount: Decimal | str | int, remarks: str,
        *, any_application: bool = False, expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """The CX approves an amount within the product version's range (CAM first when the brand requires it): the
        assigned CX, or anyone with `any_application` (LOAN_RELOCATE; `Loan.require_assigned_cx`)."""
        checks = FieldChecks()
        amount = checks.check(lambda: parse_money(approved_amount, "approved_amount", positive=True))
        why = checks.check(lambda: reason_text(remarks, "remarks"))
        checks.raise_if_any()
        assert amount is not None and why is not None
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        _in_range(product, amount, "approved_amount", self.parties.loan_minimum(brand_id))
        loan.cx_approve(
            amount,
            why,
            cam_required=self.parties.cam_required(brand_id),
            today=self.parties.business_date(brand_id),
            any_application=any_application,
        )
        return self.commit(loan)

    def send_back(
        self, brand_id: UUID, loan_id: UUID, to: str, reason: str, step: str | None = None,
        *, any_application: bool = False, any_sanction: bool = False, expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """Send back to the borrower (pending → onboarding; `step` names the funnel step to do again, the submitted
        step when None: the assigned CX, or anyone with `any_application`) or to the CX (cx_approved → pending: the
        assigned SM when the Sanction Head assigned it, or anyone with `any_sanction`; `Loan.require_assigned_sm`),
        with the reason."""
        checks = FieldChecks()
        whom = checks.check(lambda: _send_back_to(to))
        why = checks.check(lambda: reason_text(reason))
        which = checks.check(lambda: _funnel_step(step, whom))
        checks.raise_if_any()
        assert whom is not None and why is not None
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        loan.send_back(whom, why, which, today=self.parties.business_date(brand_id), any_application=any_application,
                       any_sanction=any_sanction)  # fmt: skip
        result = self.commit(loan)
        if whom is SendBackTo.BORROWER and self.contact is not None:
            self.contact.sent_back(brand_id, loan.customer_id, loan.loan_number, why, which, loan.id)
        return result

    def escalate(
        self, brand_id: UUID, loan_id: UUID, reason: str, *, automatic: bool = False, any_sanction: bool = False,
        expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """An SM (or the day-long wait) escalates a CX-approved loan to the Sanction Head, with the reason: the
        assigned SM when the Sanction Head assigned it, or anyone with `any_sanction` (`Loan.require_assigned_sm`)."""
        why = reason_text(reason)
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        loan.escalate(why, automatic=automatic, today=self.parties.business_date(brand_id), any_sanction=any_sanction)
        return self.commit(loan)

    def assign_sanction(
        self, brand_id: UUID, loan_id: UUID, staff_id: UUID | str, reason: str, expected_version: int | None = None
    ) -> CommandResult:
        """The Sanction Head gives a CX-approved loan to another Sanction Manager of the brand (enabled, holding
        SANCTION_MANAGER at WRITE; 422 naming `staff_id` otherwise), with the reason. `expected_version` (If-Match,
        the escalations list's or the loan page's form): a change since is a 409."""
        checks = FieldChecks()
        staff = checks.check(lambda: _staff_id(staff_id))
        why = checks.check(lambda: reason_text(reason))
        checks.raise_if_any()
        assert staff is not None and why is not None
        if not self.parties.can_sanction(brand_id, staff):
            raise InvalidValue("staff_id", "not an enabled Sanction Manager of this brand")
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)
        loan.assign_sanction(staff, why, self.parties.business_date(brand_id))
        return self.commit(loan)

    def sanction(
        self, brand_id: UUID, loan_id: UUID, sanctioned_amount: Decimal | str | int, remarks: str,
        *, one_person_may_decide: bool = False, any_sanction: bool = False, expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """The SM sanctions a final amount within the product's range, priced with the loan's product version and
        coupon (LENDING.md); the requested and CX-approved amounts stay recorded. A loan the Sanction Head assigned is
        its assigned SM's, or anyone's with `any_sanction` (409 otherwise; `Loan.require_assigned_sm`). The staff
        member who CX-approved the loan may not sanction it (409) unless `one_person_may_decide` (the caller is an
        admin)."""
        checks = FieldChecks()
        amount = checks.check(lambda: parse_money(sanctioned_amount, "sanctioned_amount", positive=True))
        why = checks.check(lambda: reason_text(remarks, "remarks"))
        checks.raise_if_any()
        assert amount is not None and why is not None
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        _in_range(product, amount, "sanctioned_amount", self.parties.loan_minimum(brand_id))
        pricing = self._sanction_pricing(brand_id, loan, product, amount)
        terms = LoanTerms(
            kind=product.kind,
            principal=amount,
            tenure=loan.tenure,
            annual_percent=product.annual_percent if product.kind is LoanKind.EMI else None,
            daily_percent=product.daily_percent if product.kind is LoanKind.PAYDAY else None,
        )
        loan.sanction(
            amount,
            pricing,
            terms,
            proposed_emi(product, amount, loan.tenure),
            why,
            self.parties.business_date(brand_id),
            one_person_may_decide=one_person_may_decide,
            any_sanction=any_sanction,
        )
        return self.commit(loan)

    def reactivate(
        self, brand_id: UUID, loan_id: UUID, reason: str, *, expected_version: int | None = None
    ) -> CommandResult:
        """LOAN_REACTIVATE: a rejected or cancelled loan back to pending, the reason being the recorded approval."""
        why = reason_text(reason)
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        # Back to pending, the application is open again: the product's limit on open loans holds as at creation,
        # and so does its coupon's `max_uses` (a cancelled or rejected application freed its use), each count held
        # from the check to the commit (as `create` holds them).
        counts = [borrower_count(loan.customer_id)]
        if loan.coupon_code:
            counts.append(coupon_count(loan.product_id, loan.coupon_code))
        with self.book.exclusive(brand_id, counts) as counted:
            loan.reactivate(why, self.parties.business_date(brand_id))
            limit = self.catalogue.current(brand_id, loan.product_id).max_active_loans
            if refusal := open_loans_refusal(self.book, brand_id, loan.customer_id, limit):
                raise Conflict(refusal, customer_id=str(loan.customer_id), max_active_loans=limit)
            coupon = self.catalogue.coupon(brand_id, loan.product_id, loan.coupon_code) if loan.coupon_code else None
            if coupon is not None and coupon.max_uses is not None:
                if self.book.coupon_uses(brand_id, loan.product_id, coupon.code) >= coupon.max_uses:
                    raise Conflict(f"the coupon {coupon.code} has been used its {coupon.max_uses} time(s) since",
                                   coupon_code=coupon.code, max_uses=coupon.max_uses)  # fmt: skip
            result = self.commit(loan)
            counted(result.position)
        return result

    def _sanction_pricing(self, brand_id: UUID, loan: Loan, product: ProductVersion, amount: Decimal) -> Pricing:
        coupon = self.catalogue.coupon(brand_id, loan.product_id, loan.coupon_code) if loan.coupon_code else None
        try:
            return price(
                amount,
                processing_fee=product.processing_fee,
                convenience_fee=product.convenience_fee,
                gst_percent=product.gst_percent,
                coupon=coupon.discount if coupon is not None else None,
            )
        except InvalidInput as exc:
            raise InvalidValue("sanctioned_amount", "; ".join(e.message for e in exc.errors)) from None


def _money_of(raw: object, field: str) -> Callable[[], Decimal]:
    return lambda: parse_money(raw, field)


def _in_range(product: ProductVersion, amount: Decimal, field: str, brand_minimum: Decimal | None) -> None:
    """`amount` within the product version's range and not below the brand's minimum loan amount (None: none set)."""
    if not product.min_amount <= amount <= product.max_amount:
        raise InvalidValue(field, f"must be between {product.min_amount} and {product.max_amount}")
    if (low := below_brand_minimum(brand_minimum, amount, field)) is not None:
        raise InvalidInput([low])


#: The funnel steps a send back to the borrower may reopen (every step but the mobile sign-in; `submitted`: the end).
SEND_BACK_STEPS: tuple[str, ...] = tuple(s.value for s in STEPS if s is not Step.MOBILE)


def _funnel_step(raw: str | None, whom: SendBackTo | None) -> str | None:
    """The funnel step a send back to the borrower reopens (None: the submitted step); not for a send back to the CX."""
    if raw is None:
        return None
    if whom is not SendBackTo.BORROWER:
        raise InvalidValue("step", "a step is named only when sending back to the borrower")
    if raw not in SEND_BACK_STEPS:
        raise InvalidValue("step", f"one of the funnel's steps: {', '.join(SEND_BACK_STEPS)}")
    return None if raw == Step.SUBMITTED.value else raw


def _staff_id(raw: UUID | str) -> UUID:
    try:
        return raw if isinstance(raw, UUID) else UUID(str(raw))
    except ValueError:
        raise InvalidValue("staff_id", "a staff member's id (UUID)") from None


def _send_back_to(raw: str) -> SendBackTo:
    try:
        return SendBackTo(raw)
    except ValueError:
        raise InvalidValue("to", "send back to 'borrower' or 'cx'") from None
