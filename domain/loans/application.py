"""Use cases of the loans context: start an application, submit it through the BRE, override a rule, bypass a
check, assign, cancel, reject (and, mixed in, the credit decision, a product change, payout, servicing, recoveries). Every refusal raises before any event, so nothing is recorded."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from domain.loans import bre
from domain.loans.application_decisions import DecisionUseCases
from domain.loans.application_payout import PayoutUseCases
from domain.loans.application_products import ProductChangeUseCases
from domain.loans.application_recoveries import RecoveryUseCases
from domain.loans.application_servicing import ServicingUseCases
from domain.loans.loan import AssignedBy, Channel, Check, Loan, LoanNotFound, StaffCannotTakeLoans
from domain.loans.money import parse_money
from domain.loans.offer import CouponTerms, ProductCatalogue, ProductVersion
from domain.loans.parties import (
    ApplicantFactsSource,
    BorrowerContact,
    LoanBook,
    LoanParties,
    below_brand_minimum,
    borrower_count,
    coupon_count,
    open_loans_refusal,
    proposed_emi,
)
from domain.loans.pricing import Pricing, price
from domain.loans.states import CX_WORKED, LoanStatus
from domain.loans.terms import LoanKind
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ContextApplication
from domain.shared.clock import Clock
from domain.shared.errors import Conflict, DomainError, FieldChecks, FieldError, InvalidInput, InvalidValue, NotFound
from domain.shared.numbering import NumberSeries, SeriesKind
from domain.shared.values import MIN_REASON, clean_text, within_limit

_COUPON = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
_REASON_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,39}$")


@dataclass(frozen=True)
class LoanOffer:
    """A loan's product version, pricing and monthly instalment (EMI, or the payday bullet per month)."""

    product: ProductVersion
    pricing: Pricing
    instalment: Decimal


def _reason(raw: str, field: str = "reason", at_least: int = MIN_REASON) -> str:
    missing = f"give a {field.replace('_', ' ')} (at least {at_least} characters)"
    clean = clean_text(raw, field, multiline=True, min_visible=at_least, missing=missing)
    return within_limit(" ".join(clean.split()), field)


def _choice(kind: type[Any], raw: str, field: str) -> Any:
    try:
        return kind(raw)
    except ValueError:
        raise InvalidValue(field, f"'{raw}' is not one of {', '.join(m.value for m in kind)}") from None


class Loans(
    RecoveryUseCases, ServicingUseCases, DecisionUseCases, ProductChangeUseCases, PayoutUseCases, ContextApplication
):
    """Loan applications of every brand, from onboarding through the BRE, the credit decision (DecisionUseCases)
    and the payout (PayoutUseCases) (later: servicing)."""

    name = "loans"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        *,
        parties: LoanParties | None = None,
        book: LoanBook | None = None,
        facts: ApplicantFactsSource | None = None,
        catalogue: ProductCatalogue | None = None,
        numbers: NumberSeries | None = None,
        contact: BorrowerContact | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.contact = contact
        self._parties = parties
        self._book = book
        self._facts = facts
        self._catalogue = catalogue
        self._numbers = numbers

    def _need(self, service: Any, what: str) -> Any:
        if service is None:
            raise LookupError(f"the loans application was built without its {what}")
        return service

    @property
    def parties(self) -> LoanParties:
        """The customers and identity contexts."""
        found: LoanParties = self._need(self._parties, "parties")
        return found

    @property
    def book(self) -> LoanBook:
        """Counts over the brand's applications."""
        found: LoanBook = self._need(self._book, "loan book")
        return found

    @property
    def catalogue(self) -> ProductCatalogue:
        """The products context."""
        found: ProductCatalogue = self._need(self._catalogue, "product catalogue")
        return found

    # Use cases -------------------------------------------------------------------------------------------------

    def create(
        self,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        amount: Decimal | str | int,
        tenure: int,
        coupon_code: str | None = None,
        channel: Channel = Channel.STAFF,
        loan_id: UUID | None = None,
    ) -> CommandResult:
        """Start an application (onboarding) priced with the product's current version; 422 naming each field
        that breaks a rule (borrower, product active, amount and tenure in range, coupon valid and not used up,
        the borrower's open loans under the product's maximum). The borrower's count and the coupon's are held from
        the check to the commit, so two applications at once cannot both pass either. `loan_id` (default: a new
        one) names the application; an id already taken is a 409 (ConcurrentModification) and records nothing."""
        counts = [borrower_count(customer_id)]
        if coupon_code is not None:
            counts.append(coupon_count(product_id, coupon_code.strip().upper()))
        with self.book.exclusive(brand_id, counts) as counted:
            loan = self._application(
                loan_id or uuid4(), brand_id, customer_id, product_id, amount, tenure, coupon_code, channel
            )
            result = self.commit(loan)
            counted(result.position)
        return result

    def _application(
        self,
        loan_id: UUID,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        amount: Decimal | str | int,
        tenure: int,
        coupon_code: str | None,
        channel: Channel,
    ) -> Loan:
        """The new application `create` commits, every rule checked (InvalidInput naming each field)."""
        checks = FieldChecks()
        if not self.parties.has_borrower(brand_id, customer_id):
            checks.errors.append(FieldError("customer_id", "no borrower with this id in the brand"))
        product = checks.check(lambda: self._product(brand_id, product_id))
        value = checks.check(lambda: parse_money(amount, "amount", positive=True))
        coupon: CouponTerms | None = None
        pricing: Pricing | None = None
        if product is not None:
            if value is not None and not product.min_amount <= value <= product.max_amount:
                checks.errors.append(
                    FieldError("amount", f"must be between {product.min_amount} and {product.max_amount}")
                )
                value = None
            elif value is not None and (
                low := below_brand_minimum(self.parties.loan_minimum(brand_id), value, "amount")
            ):
                checks.errors.append(low)
                value = None
            unit = "months" if product.kind is LoanKind.EMI else "days"
            if not product.min_tenure <= tenure <= product.max_tenure:
                checks.errors.append(
                    FieldError("tenure", f"must be between {product.min_tenure} and {product.max_tenure} {unit}")
                )
            if coupon_code is not None:
                coupon = checks.check(lambda: self._coupon(brand_id, product, coupon_code))
            if value is not None:
                discount = coupon.discount if coupon is not None else None
                pricing = checks.check(lambda: self._priced(product, value, discount))
            if checks.errors == [] and (
                refusal := open_loans_refusal(self.book, brand_id, customer_id, product.max_active_loans)
            ):
                checks.errors.append(FieldError("customer_id", refusal))
        checks.raise_if_any()
        assert product is not None and value is not None and pricing is not None
        numbers: NumberSeries = self._need(self._numbers, "number series")
        return with_id(
            Loan,
            loan_id,
            brand_id=brand_id,
            customer_id=customer_id,
            product_id=product.id,
            product_version=product.version,
            amount=value,
            tenure=tenure,
            loan_number=numbers.next(brand_id, SeriesKind.LOAN),
            channel=channel,
            coupon_code=coupon.code if coupon is not None else None,
            pricing=pricing,
            instalment=proposed_emi(product, value, tenure),
            created_on=self.parties.business_date(brand_id),
        )

    def submit(self, brand_id: UUID, loan_id: UUID, payout_account: UUID | None = None) -> CommandResult:
        """Run the product's BRE over the applicant's facts: pending (then auto-allocated when the brand says so)
        or rejected with the failed rules as the reason. `payout_account`: the bank account the borrower's submission
        names for the payout (the one they last gave at the bank account step), recorded with it; None from staff."""
        loan = self.get(brand_id, loan_id)
        if loan.status is not LoanStatus.ONBOARDING:
            raise Conflict(
                f"only an application in onboarding can be submitted; this one is {loan.status.words}",
                status=str(loan.status),
            )
        product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        source: ApplicantFactsSource = self._need(self._facts, "applicant facts source")
        facts = source.facts(brand_id, loan.customer_id, product, loan.amount, loan.tenure)
        facts = replace(facts, bypassed=frozenset(c.value for c in loan.bypassed))
        policy = self.parties.policy(brand_id)
        today = self.parties.business_date(brand_id)
        named = str(payout_account) if payout_account is not None else None
        loan.submit(facts, policy, bre.evaluate(product.bre_rules, facts, policy, today), today, named)
        self._auto_allocate(loan, today)
        return self.commit(loan)

    def override(
        self, brand_id: UUID, loan_id: UUID, rule: str, result: str, justification: str, *,
        any_application: bool = False,
    ) -> CommandResult:  # fmt: skip
        """Override one rule's result with a justification; the decision follows (docs/loans.md). The assigned CX's
        unless `any_application` (LOAN_RELOCATE: `Loan.require_assigned_cx`)."""
        override = bre.make_override(rule, result, justification)
        loan = self.get(brand_id, loan_id)
        today = self.parties.business_date(brand_id)
        loan.override(override, today, any_application=any_application)
        self._auto_allocate(loan, today)
        return self.commit(loan)

    def bypass(self, brand_id: UUID, loan_id: UUID, check: str, reason: str) -> CommandResult:
        """Skip the bureau or bank statement check (LOAN_FORCE_BYPASS): remembered for the BRE before submission;
        after it the recorded facts are evaluated again, on the submission day, with the check bypassed."""
        checks = FieldChecks()
        parsed = checks.check(lambda: _choice(Check, check, "check"))
        why = checks.check(lambda: _reason(reason))
        checks.raise_if_any()
        assert parsed is not None and why is not None
        loan = self.get(brand_id, loan_id)
        reevaluated = None
        if loan.submitted and parsed not in loan.bypassed and loan.status in (LoanStatus.PENDING, LoanStatus.REJECTED):
            product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
            facts = loan.bypassed_facts()  # with the checks bypassed after the submission before this one
            facts = replace(facts, bypassed=facts.bypassed | {parsed.value})
            assert loan.submitted_on is not None
            reevaluated = bre.evaluate(product.bre_rules, facts, loan.recorded_policy(), loan.submitted_on)
        today = self.parties.business_date(brand_id)
        loan.bypass(parsed, why, reevaluated, today=today)
        self._auto_allocate(loan, today)
        return self.commit(loan)

    def assign(
        self,
        brand_id: UUID,
        loan_id: UUID,
        staff_id: UUID,
        reason: str | None = None,
        expected_version: int | None = None,
    ) -> CommandResult:
        """A manager (LOAN_RELOCATE) assigns or reassigns the application to a staff member who takes loans.
        `expected_version` (If-Match, the page's form): another manager's assignment - or any change - since is a
        409, not put over silently."""
        why = _reason(reason) if reason else "assigned by a manager"
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)
        self._require_takes_loans(brand_id, staff_id)
        loan.assign(staff_id, AssignedBy.MANAGER, why, today=self.parties.business_date(brand_id))
        return self.commit(loan)

    def _require_takes_loans(self, brand_id: UUID, staff_id: UUID) -> None:
        """422 naming `staff_id` (`StaffCannotTakeLoans`) unless it is an enabled staff member of the brand holding
        LOANS at WRITE."""
        if not self.parties.can_take_loans(brand_id, staff_id):
            raise StaffCannotTakeLoans()

    def reassign_departed(
        self, brand_id: UUID, loan_id: UUID, departed_id: UUID, staff_id: UUID, why: str
    ) -> CommandResult:
        """Take an application still in its credit executive's hands (`CX_WORKED`) from `departed_id`, who may no
        longer take loans (disabled, or no longer holding LOANS at WRITE: `why`), and give it to `staff_id` (the
        auto-allocation pick), recorded as an auto-allocation `Assigned` whose reason says why. Decided on the loan as
        loaded for the commit and on the staff records themselves, not the read models the pass chose it from: an
        application reassigned or moved on meanwhile, or an assignee enabled (or given LOANS) again, changes nothing
        (`changed` False), so a second pass, a replayed page or a manager's reassignment is never overwritten. A pick
        who may no longer take loans (disabled, or LOANS taken away since the pass read them) is `StaffCannotTakeLoans`
        (the job tries the next in line)."""
        loan = self.get(brand_id, loan_id)
        unchanged = CommandResult(id=loan.id, position=0, changed=False)
        if loan.assignee != departed_id or loan.status not in CX_WORKED or staff_id == departed_id:
            return unchanged
        if self.parties.can_take_loans(brand_id, departed_id):
            return unchanged  # back (re-enabled, LOANS given back): not a departure
        self._require_takes_loans(brand_id, staff_id)
        today = self.parties.business_date(brand_id)
        loan.assign(staff_id, AssignedBy.AUTO, f"auto-allocated: {why}", today=today)
        return self.commit(loan)

    def cancel(self, brand_id: UUID, loan_id: UUID, reason: str) -> CommandResult:
        """Cancel before disbursal, with a reason."""
        why = _reason(reason)
        loan = self.get(brand_id, loan_id)
        loan.cancel(why, today=self.parties.business_date(brand_id))
        return self.commit(loan)

    def cancel_unsubmitted(self, brand_id: UUID, loan_id: UUID, reason: str) -> CommandResult:
        """Cancel the application while it is still in onboarding (never submitted, or sent back to the borrower),
        with a reason - the borrower's onboarding was closed. Safe to repeat: an application already cancelled, or
        submitted meanwhile (decided on the loan as loaded for the commit: a submission landing first is a conflict),
        changes nothing (`changed` False)."""
        why = _reason(reason)
        loan = self.get(brand_id, loan_id)
        if loan.status is not LoanStatus.ONBOARDING:
            return CommandResult(id=loan.id, position=0, changed=False)
        loan.cancel(why, today=self.parties.business_date(brand_id))
        return self.commit(loan)

    def reject(
        self, brand_id: UUID, loan_id: UUID, reason_code: str, remarks: str, *, sanctioning: bool = True,
        any_application: bool = False, any_sanction: bool = False, expected_version: int | None = None,
    ) -> CommandResult:  # fmt: skip
        """Reject with one of the brand's rejection reason codes (brand settings) and remarks, dated the brand's business
        date (whence the rejection cooldown counts); `sanctioning` says whether the caller may reject a CX-approved
        loan (SANCTION_MANAGER: SanctionRequired otherwise), the assigned SM when the Sanction Head assigned it, or
        anyone with `any_sanction` (`Loan.require_assigned_sm`); before that the assigned CX rejects, or anyone with
        `any_application` (LOAN_RELOCATE; `Loan.require_assigned_cx`)."""
        checks = FieldChecks()
        code = (reason_code or "").strip().upper()
        label = self.parties.rejection_reason(brand_id, code) if _REASON_CODE.match(code) else None
        if label is None:
            checks.errors.append(FieldError("reason_code", "not one of the brand's rejection reason codes"))
        why = checks.check(lambda: _reason(remarks, "remarks"))
        checks.raise_if_any()
        assert why is not None and label is not None
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)  # the form or If-Match as read: a change since is a 409
        by_sm = loan.status is LoanStatus.CX_APPROVED
        loan.reject(
            code,
            label,
            why,
            today=self.parties.business_date(brand_id),
            sanctioning=sanctioning,
            any_application=any_application,
            any_sanction=any_sanction,
        )
        result = self.commit(loan)
        if by_sm and self.contact is not None:  # the SM's reason code is communicated to the borrower
            self.contact.rejected(brand_id, loan.customer_id, loan.loan_number, label)
        return result

    def offer(self, brand_id: UUID, loan_id: UUID) -> LoanOffer:
        """The product version the loan was priced with, its pricing (the coupon's discount applied while the coupon
        exists) and the instalment: the loan page's pricing preview."""
        return self.offer_of(self.get(brand_id, loan_id))

    def offer_of(self, loan: Loan) -> LoanOffer:
        """`offer` of a loan already loaded (a page that reads the loan's events once for all its cards)."""
        brand_id = loan.brand_id
        product = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        coupon = self.catalogue.coupon(brand_id, loan.product_id, loan.coupon_code) if loan.coupon_code else None
        pricing = price(
            loan.amount,
            processing_fee=product.processing_fee,
            convenience_fee=product.convenience_fee,
            gst_percent=product.gst_percent,
            coupon=coupon.discount if coupon is not None else None,
        )
        return LoanOffer(product=product, pricing=pricing, instalment=proposed_emi(product, loan.amount, loan.tenure))

    def get(self, brand_id: UUID, loan_id: UUID) -> Loan:
        """The loan, if it belongs to the brand."""
        return self.load(Loan, loan_id, brand_id, LoanNotFound)

    # Helpers ---------------------------------------------------------------------------------------------------

    def _product(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        try:
            product = self.catalogue.current(brand_id, product_id)
        except NotFound:
            raise InvalidValue("product_id", "no loan product with this id in the brand") from None
        if not product.active:
            raise InvalidValue("product_id", f"the product {product.code} is not active")
        return product

    def _coupon(self, brand_id: UUID, product: ProductVersion, raw: str) -> CouponTerms:
        code = raw.strip().upper()
        if not _COUPON.match(code):
            raise InvalidValue("coupon_code", "a coupon code is letters, digits, - or _")
        coupon = self.catalogue.coupon(brand_id, product.id, code)
        if coupon is None:
            raise InvalidValue("coupon_code", f"no coupon {code} on this product")
        today = self.parties.business_date(brand_id)
        if not coupon.valid_from <= today <= coupon.valid_to:
            raise InvalidValue("coupon_code", f"{code} is valid from {coupon.valid_from} to {coupon.valid_to}")
        if coupon.max_uses is not None and self.book.coupon_uses(brand_id, product.id, coupon.code) >= coupon.max_uses:
            raise InvalidValue("coupon_code", f"{code} has been used its {coupon.max_uses} time(s)")
        return coupon

    @staticmethod
    def _priced(product: ProductVersion, amount: Decimal, discount: Any) -> Pricing:
        try:
            return price(
                amount,
                processing_fee=product.processing_fee,
                convenience_fee=product.convenience_fee,
                gst_percent=product.gst_percent,
                coupon=discount,
            )
        except InvalidInput as exc:
            raise InvalidValue("amount", "; ".join(e.message for e in exc.errors)) from None

    def _auto_allocate(self, loan: Loan, today: date) -> None:
        if loan.status is not LoanStatus.PENDING or loan.assignee is not None:
            return
        try:
            if not self.parties.auto_allocate(loan.brand_id):
                return
            staff_id = self.parties.pick_credit_executive(loan.brand_id, today)
        except DomainError:
            return  # allocation never blocks a decision; a manager assigns
        if staff_id is not None:
            loan.assign(staff_id, AssignedBy.AUTO, "auto-allocated: fewest open applications", today=today)
