"""Moving an open application to another product (LOAN_RULE_TYPE, "modify loan product on a loan"; docs/loans.md).

A mixin of `domain.loans.application.Loans`. The new product must be an active product of the brand; the amount and
tenure (by default the application's own) must fit its ranges; the borrower's open loans must stay within its
`max_active_loans`. The application is priced again with the new version (LENDING.md: fees, coupon, GST, net
disbursed) and its instalment recomputed; a submitted application's BRE is run again with the new product's rules on
the facts and policy recorded at submission (only this loan's own obligation, `proposed_emi`, changes with the
product), on the submission day, as a bypass re-runs it. The coupon stays when the new product has a coupon of that
code the borrower may still use (for another product: valid today and not used up), else it is dropped and the event
says why. Every refusal raises before any event, so nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.loans import bre
from domain.loans.application_decisions import reason_text
from domain.loans.loan_decisions import ProductChange
from domain.loans.loan_events import ProductTerms
from domain.loans.money import parse_money
from domain.loans.parties import below_brand_minimum, borrower_count, coupon_count, proposed_emi
from domain.loans.states import LoanStatus
from domain.loans.terms import LoanKind
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidValue

if TYPE_CHECKING:
    from datetime import date

    from domain.loans.loan import Loan
    from domain.loans.offer import CouponTerms, ProductCatalogue, ProductVersion
    from domain.loans.parties import LoanBook, LoanParties
    from domain.loans.pricing import Pricing


def _product_id(raw: UUID | str) -> UUID:
    try:
        return raw if isinstance(raw, UUID) else UUID(str(raw))
    except ValueError:
        raise InvalidValue("product_id", "a loan product's id (UUID)") from None


def _tenure(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise InvalidValue("tenure", "a whole number of months (EMI) or days (payday), at least 1")
    return raw


def product_terms(product: ProductVersion) -> ProductTerms:
    """The snapshot of a product version's terms a `ProductChanged` records."""
    emi = product.kind is LoanKind.EMI
    return ProductTerms(
        code=product.code,
        name=product.name,
        kind=product.kind,
        annual_percent=product.annual_percent if emi else None,
        daily_percent=None if emi else product.daily_percent,
        processing_fee=product.processing_fee,
        convenience_fee=product.convenience_fee,
        gst_percent=product.gst_percent,
        penal=product.penal,
        bre_rules=[r.to_record() for r in product.bre_rules],
    )


class ProductChangeUseCases:
    """Changing the product of an open application (mixed into `Loans`)."""

    if TYPE_CHECKING:

        @property
        def parties(self) -> LoanParties: ...
        @property
        def catalogue(self) -> ProductCatalogue: ...
        @property
        def book(self) -> LoanBook: ...
        def get(self, brand_id: UUID, loan_id: UUID) -> Loan: ...
        def commit(self, primary: Any, *others: Any, beside: Sequence[Callable[[Any], None]] = ()) -> CommandResult: ...
        def _product(self, brand_id: UUID, product_id: UUID) -> ProductVersion: ...
        def _coupon(self, brand_id: UUID, product: ProductVersion, raw: str) -> CouponTerms: ...
        @staticmethod
        def _priced(product: ProductVersion, amount: Decimal, discount: Any) -> Pricing: ...
        def _auto_allocate(self, loan: Loan, today: date) -> None: ...
        @staticmethod
        def check_version(aggregate: Any, expected_version: int | None) -> None: ...

    def change_product(
        self,
        brand_id: UUID,
        loan_id: UUID,
        product_id: UUID | str,
        reason: str,
        amount: Decimal | str | int | None = None,
        tenure: int | None = None,
        expected_version: int | None = None,
        *,
        any_sanction: bool = False,
    ) -> CommandResult:
        """Move an open application (onboarding, pending, cx_approved: 409 naming the status otherwise) to another
        active product of the brand, or to its product's current version; 422 naming `product_id`, `amount`, `tenure`
        or `reason`; 409 when `expected_version` is stale. A cx_approved loan the Sanction Head assigned is its
        assigned SM's to change, or anyone's with `any_sanction` (409 `rule: assigned_sm` otherwise;
        `Loan.require_assigned_sm`). See the module doc for what follows."""
        checks = FieldChecks()
        wanted = checks.check(lambda: _product_id(product_id))
        value = checks.check(lambda: parse_money(amount, "amount", positive=True)) if amount is not None else None
        months_or_days = checks.check(lambda: _tenure(tenure)) if tenure is not None else None
        why = checks.check(lambda: reason_text(reason))
        checks.raise_if_any()
        assert wanted is not None and why is not None
        loan = self.get(brand_id, loan_id)
        self.check_version(loan, expected_version)
        loan.require_product_changeable(any_sanction=any_sanction)  # the status; at the sanction step, whose it is
        product = self._product(brand_id, wanted)  # 422 product_id: not the brand's, or not active
        current = self.catalogue.version(brand_id, loan.product_id, loan.product_version)
        new_amount = value if value is not None else loan.amount
        new_tenure = self._new_tenure(loan, current, product, months_or_days)
        # The coupon's uses on the new product are held while they are counted (and noted when it is kept), as at
        # creation; the borrower's open loans too, against a concurrent application of another product.
        moving_coupon = loan.coupon_code is not None and product.id != loan.product_id
        noted = [coupon_count(product.id, loan.coupon_code)] if moving_coupon and loan.coupon_code else []
        with (
            self.book.exclusive(brand_id, noted) as counted,
            self.book.exclusive(brand_id, [borrower_count(loan.customer_id)]),
        ):
            change = self._change(brand_id, loan, product, new_amount, new_tenure)
            today = self.parties.business_date(brand_id)
            loan.change_product(change, why, today, any_sanction=any_sanction)
            self._auto_allocate(loan, today)
            result = self.commit(loan)
            if noted and change.coupon_code is not None:
                counted(result.position)
        return result

    def amend_request(
        self,
        brand_id: UUID,
        loan_id: UUID,
        product_id: UUID | str,
        amount: Decimal | str | int,
        tenure: int,
        coupon_code: str | None,
        reason: str = "the borrower changed the loan request before submitting it",
    ) -> CommandResult:
        """The borrower redid the loan request of their application before submitting it: the same application (its
        number kept) moves to the product, amount, tenure and coupon asked for, priced again - one `ProductChanged`,
        as a staff product change of an application in onboarding (not evaluated: the submission runs the BRE). 409
        unless it is in onboarding; 422 naming each field as at creation (a coupon newly given is checked as a new
        application's: valid today, not used up; the one it had stands on the same product; none drops it)."""
        loan = self.get(brand_id, loan_id)
        if loan.status is not LoanStatus.ONBOARDING:
            raise Conflict(f"the application is {loan.status.words}: only an application in onboarding takes a new "
                           f"loan request", status=str(loan.status))  # fmt: skip
        checks = FieldChecks()
        wanted = checks.check(lambda: _product_id(product_id))
        value = checks.check(lambda: parse_money(amount, "amount", positive=True))
        months_or_days = checks.check(lambda: _tenure(tenure))
        checks.raise_if_any()
        assert wanted is not None and value is not None and months_or_days is not None
        product = self._product(brand_id, wanted)  # 422 product_id: not the brand's, or not active
        code = coupon_code.strip().upper() if coupon_code and coupon_code.strip() else None
        new_use = code is not None and (code != loan.coupon_code or product.id != loan.product_id)
        if code is not None and new_use:
            code = self._coupon(brand_id, product, code).code  # 422 coupon_code
        if (product.id, product.version, value, months_or_days, code) == (
            loan.product_id, loan.product_version, loan.amount, loan.tenure, loan.coupon_code
        ):  # fmt: skip
            return CommandResult(id=loan.id, position=0, changed=False)  # the same request again
        dropped = loan.coupon_code if loan.coupon_code is not None and loan.coupon_code != code else None
        coupon = (code, "the borrower's new loan request does not use it" if dropped else None)
        noted = [coupon_count(product.id, code)] if new_use and code is not None else []
        with (
            self.book.exclusive(brand_id, noted) as counted,
            self.book.exclusive(brand_id, [borrower_count(loan.customer_id)]),
        ):
            change = self._change(brand_id, loan, product, value, months_or_days, coupon)
            loan.change_product(change, reason, self.parties.business_date(brand_id))
            result = self.commit(loan)
            if noted:
                counted(result.position)
        return result

    def _new_tenure(self, loan: Loan, current: ProductVersion, product: ProductVersion, given: int | None) -> int:
        """The tenure asked for, or the application's own when the new product counts it in the same unit."""
        if given is not None:
            return given
        if current.kind is not product.kind:
            unit = "months" if product.kind is LoanKind.EMI else "days"
            raise InvalidValue("tenure", f"{product.code} is a {product.kind} product: give the tenure in {unit} "
                                         f"(the application's {loan.tenure} counts {current.kind} units)")  # fmt: skip
        return loan.tenure

    def _change(
        self,
        brand_id: UUID,
        loan: Loan,
        product: ProductVersion,
        amount: Decimal,
        tenure: int,
        coupon_choice: tuple[str | None, str | None] | None = None,
    ) -> ProductChange:
        """The new product version priced and, for a submitted application, its BRE run again (422 naming each
        field that does not fit the product). `coupon_choice`: the code the application is to have and, when its own is
        dropped, why (the borrower's redone request); by default the coupon it has is kept when it may be."""
        checks = FieldChecks()
        same_coupon = coupon_choice is None or coupon_choice[0] == loan.coupon_code
        if same_coupon and (product.id, product.version, amount, tenure) == (loan.product_id, loan.product_version,
                                                                             loan.amount, loan.tenure):  # fmt: skip
            checks.errors.append(FieldError("product_id", "the application already has this product version, "
                                            "amount and tenure: nothing would change"))  # fmt: skip
        if not product.min_amount <= amount <= product.max_amount:
            checks.errors.append(FieldError("amount", f"must be between {product.min_amount} and {product.max_amount}"))
        elif (low := below_brand_minimum(self.parties.loan_minimum(brand_id), amount, "amount")) is not None:
            checks.errors.append(low)
        unit = "months" if product.kind is LoanKind.EMI else "days"
        if not product.min_tenure <= tenure <= product.max_tenure:
            checks.errors.append(
                FieldError("tenure", f"must be between {product.min_tenure} and {product.max_tenure} {unit}")
            )
        # This application is one of the borrower's open ones already: the others must leave room for it.
        others = self.book.open_loans(brand_id, loan.customer_id) - 1
        if others >= product.max_active_loans:
            checks.errors.append(FieldError("product_id", f"the borrower has {others} other open loan(s); "
                                            f"{product.code} allows {product.max_active_loans}"))  # fmt: skip
        checks.raise_if_any()
        kept, dropped = coupon_choice if coupon_choice is not None else self._coupon_for(brand_id, loan, product)
        coupon = self.catalogue.coupon(brand_id, product.id, kept) if kept is not None else None
        pricing = self._priced(product, amount, coupon.discount if coupon is not None else None)  # 422 amount
        facts = results = passed = None
        if loan.status is not LoanStatus.ONBOARDING:
            assert loan.submitted_on is not None
            # the facts with every check bypassed so far (a bypass after the submission holds for the new rules too)
            recorded = replace(loan.bypassed_facts(), proposed_emi=proposed_emi(product, amount, tenure))
            outcome = bre.evaluate(product.bre_rules, recorded, loan.recorded_policy(), loan.submitted_on)
            facts, results, passed = recorded.to_record(), [r.to_record() for r in outcome.results], outcome.passed
        return ProductChange(
            product_id=product.id,
            product_version=product.version,
            amount=amount,
            tenure=tenure,
            terms=product_terms(product),
            pricing=pricing,
            instalment=proposed_emi(product, amount, tenure),
            coupon_code=kept,
            coupon_dropped=loan.coupon_code if dropped is not None else None,
            coupon_dropped_reason=dropped,
            facts=facts,
            results=results,
            passed=passed,
        )

    def _coupon_for(self, brand_id: UUID, loan: Loan, product: ProductVersion) -> tuple[str | None, str | None]:
        """The coupon code the application keeps on `product` (None: none) and, when its coupon is dropped, why."""
        code = loan.coupon_code
        if code is None:
            return None, None
        coupon = self.catalogue.coupon(brand_id, product.id, code)
        if coupon is None:
            return None, f"{product.code} has no coupon {code}"
        if product.id == loan.product_id:  # the same product's newer version: the coupon it was given stands
            return code, None
        today = self.parties.business_date(brand_id)
        if not coupon.valid_from <= today <= coupon.valid_to:
            return None, f"{code} on {product.code} is valid from {coupon.valid_from} to {coupon.valid_to}"
        if coupon.max_uses is not None and self.book.coupon_uses(brand_id, product.id, code) >= coupon.max_uses:
            return None, f"{code} on {product.code} has been used its {coupon.max_uses} time(s)"
        return code, None
