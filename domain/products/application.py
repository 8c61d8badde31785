"""Use cases of the products context, and the product catalogue the loans context reads (`ProductCatalogue`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.money import parse_money, parse_rate
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.terms import HUNDRED, AmountKind, Discount, LoanKind
from domain.products.product import Coupon, CouponNotFound, LoanProduct, ProductNotFound, coupon_id, product_id
from domain.products.quote import Quote, quote
from domain.products.terms import ProductTerms, normalise_code, terms_from
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock, business_date
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, InvalidValue
from domain.shared.rupees import rupees
from domain.shared.values import MIN_REASON, check_date_range, clean_text

#: The most uses a coupon may be limited to.
MAX_COUPON_USES = 10_000_000


def _reason(reason: str | None, default: str) -> str:
    if reason is None or not reason.strip():
        return default
    clean = clean_text(
        reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )
    return " ".join(clean.split())[:500]


def _merged(current: ProductTerms, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The current terms with `changes` applied; a change of kind drops the other kind's rate unless it is given."""
    values = current.model_dump()
    values.update(changes)
    kind = values.get("kind")
    if "kind" in changes and kind != current.kind:
        stale = "annual_percent" if kind == LoanKind.PAYDAY else "daily_percent"
        if stale not in changes:
            values[stale] = None
    return values


def version_of(product: LoanProduct, number: int) -> ProductVersion:
    """Version `number` of a product as the loans context takes it."""
    terms = product.version_of(number)
    return ProductVersion(
        id=product.id,
        brand_id=product.brand_id,
        version=number,
        code=product.code,
        name=terms.name,
        kind=terms.kind,
        min_amount=terms.min_amount,
        max_amount=terms.max_amount,
        min_tenure=terms.min_tenure,
        max_tenure=terms.max_tenure,
        annual_percent=terms.annual_percent,
        daily_percent=terms.daily_percent,
        processing_fee=terms.processing_fee,
        convenience_fee=terms.convenience_fee,
        gst_percent=terms.gst_percent,
        penal=terms.penal,
        max_active_loans=terms.max_active_loans,
        bre_rules=tuple(rule.spec() for rule in terms.bre_rules),
        active=product.active,
    )


def _discount(kind: object, value: object) -> Discount:
    try:
        amount_kind = AmountKind(str(kind))
    except ValueError:
        raise InvalidValue("kind", "must be percent or fixed") from None
    if amount_kind is AmountKind.PERCENT:
        amount = parse_rate(value, "value", at_most=HUNDRED)
    else:
        amount = parse_money(value, "value")
    if amount <= 0:
        raise InvalidValue("value", "must be more than 0")
    return Discount(kind=amount_kind, value=amount)


class Products(ContextApplication):
    """Loan products per brand (create, revise into a new version, deactivate, reactivate), their coupons, the
    pricing preview, and the `ProductCatalogue` lookups of the loans context."""

    name = "products"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        business_day: Callable[[UUID], date] | None = None,
        repayment_calendar: Callable[[UUID], RepaymentCalendar] | None = None,
        loan_minimum: Callable[[UUID], Decimal | None] | None = None,
    ) -> None:
        super().__init__(env, clock)
        #: The brand's business date (the pricing preview's default disbursal day); today in India without one.
        self.business_day = business_day or (lambda _brand: business_date(self.clock.now()))
        #: The brand's repayment calendar (Sundays off, repayment holidays): the preview's due dates fall where the
        #: loan's will (LENDING.md, "Due dates"); Sundays off and no holidays without one.
        self.repayment_calendar = repayment_calendar or (lambda _brand: RepaymentCalendar())
        #: The brand's minimum loan amount once it has set one (None: none), which a product's range must reach.
        self.loan_minimum = loan_minimum or (lambda _brand: None)

    def _check_reaches_minimum(self, brand_id: UUID, terms: ProductTerms) -> None:
        """Refuse terms whose whole amount range lies below the brand's minimum loan amount: every application on
        the product would be refused (an application's amount must reach the brand's minimum too)."""
        minimum = self.loan_minimum(brand_id)
        if minimum is not None and terms.max_amount < minimum:
            raise InvalidInput([FieldError("max_amount", f"{rupees(terms.max_amount)} is below the brand's minimum "
                                           f"loan amount of {rupees(minimum)}: no loan on this product could be made")])  # fmt: skip

    # Products ------------------------------------------------------------------------------------------------

    def create(self, brand_id: UUID, code: str, terms: Mapping[str, Any]) -> CommandResult:
        """Set a product up as version 1; a code the brand uses already is a conflict naming that product."""
        checks = FieldChecks()
        clean_code = checks.check(lambda: normalise_code(code))
        checked = checks.check(lambda: terms_from(terms))
        checks.raise_if_any()
        assert clean_code is not None and checked is not None
        self._check_reaches_minimum(brand_id, checked)
        new_id = product_id(brand_id, clean_code)
        if self.find(new_id) is not None:
            raise Conflict(f"the brand has a product {clean_code} already", field="code", existing_id=str(new_id))
        product = LoanProduct(id=new_id, brand_id=brand_id, code=clean_code, terms=checked)  # type: ignore[call-arg]
        return self.commit(product)

    def revise(
        self, brand_id: UUID, product: UUID, changes: Mapping[str, Any], expected_version: int | None = None
    ) -> CommandResult:
        """Record the current terms with `changes` as the next version (the code never changes); made against an
        older version (If-Match), a conflict; unchanged terms record nothing."""
        found = self.product(brand_id, product)
        if expected_version is not None and expected_version != found.version_number:
            raise ConcurrentModification(
                f"product {found.code} is at version {found.version_number}, not {expected_version}; reload and retry",
                id=str(found.id),
                current_version=found.version_number,
            )
        if "code" in changes:
            raise InvalidValue("code", "a product's code never changes; create another product")
        terms = terms_from(_merged(found.current, changes))
        if {"min_amount", "max_amount"} & set(changes):  # other terms of a product made before the minimum still save
            self._check_reaches_minimum(brand_id, terms)
        if not found.revise(terms):
            return CommandResult(id=found.id, position=0, changed=False)
        return self.commit(found)

    def deactivate(self, brand_id: UUID, product: UUID, reason: str | None = None) -> CommandResult:
        """Take no new applications on the product (loans on it go on)."""
        found = self.product(brand_id, product)
        found.deactivate(_reason(reason, "deactivated by staff"))
        return self.commit(found)

    def reactivate(self, brand_id: UUID, product: UUID, reason: str | None = None) -> CommandResult:
        """Take new applications on the product again."""
        found = self.product(brand_id, product)
        found.reactivate(_reason(reason, "reactivated by staff"))
        return self.commit(found)

    def product(self, brand_id: UUID, product: UUID) -> LoanProduct:
        """The product, if it belongs to the brand."""
        return self.load(LoanProduct, product, brand_id, ProductNotFound)

    # Coupons -------------------------------------------------------------------------------------------------

    def issue_coupon(
        self,
        brand_id: UUID,
        product: UUID,
        code: str,
        kind: str,
        value: object,
        valid_from: date,
        valid_to: date,
        max_uses: int | None = None,
    ) -> CommandResult:
        """A coupon on a product of the brand; its code is unique per product whatever its case."""
        checks = FieldChecks()
        clean_code = checks.check(lambda: normalise_code(code))
        discount = checks.check(lambda: _discount(kind, value))
        checks.check(lambda: check_date_range(valid_from, "valid_from"))
        checks.check(lambda: check_date_range(valid_to, "valid_to"))
        if valid_from > valid_to:
            checks.errors.append(FieldError("valid_from", f"must not be after valid_to ({valid_to})"))
        if max_uses is not None and not 1 <= max_uses <= MAX_COUPON_USES:
            checks.errors.append(FieldError("max_uses", f"must be between 1 and {MAX_COUPON_USES}, or left out"))
        if not isinstance(product, UUID) or self._product_or_none(brand_id, product) is None:
            checks.errors.append(FieldError("product_id", "no such product in the brand"))
        checks.raise_if_any()
        assert clean_code is not None and discount is not None
        new_id = coupon_id(product, clean_code)
        if self.find(new_id) is not None:
            raise Conflict(f"the product has a coupon {clean_code} already", field="code", existing_id=str(new_id))
        coupon = Coupon(  # type: ignore[call-arg]
            id=new_id,
            brand_id=brand_id,
            product_id=product,
            code=clean_code,
            discount=discount,
            valid_from=valid_from,
            valid_to=valid_to,
            max_uses=max_uses,
        )
        return self.commit(coupon)

    def withdraw_coupon(self, brand_id: UUID, coupon: UUID, reason: str | None = None) -> CommandResult:
        """The coupon applies to no new application."""
        found = self.load(Coupon, coupon, brand_id, CouponNotFound)
        found.withdraw(_reason(reason, "withdrawn by staff"))
        return self.commit(found)

    def _product_or_none(self, brand_id: UUID, product: UUID) -> LoanProduct | None:
        found = self.find(product)
        return found if isinstance(found, LoanProduct) and found.brand_id == brand_id else None

    # The product catalogue (domain.loans.offer.ProductCatalogue) ------------------------------------------------

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        """The product's latest version (`active` says whether it takes new applications)."""
        found = self.product(brand_id, product_id)
        return version_of(found, found.version_number)

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        """Version `version` exactly as recorded (`active` is the product's state now)."""
        return version_of(self.product(brand_id, product_id), version)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        """The coupon of that code (any case) on that product, or None (also when it was withdrawn)."""
        try:
            clean = normalise_code(code)
        except InvalidValue:
            return None
        found = self.find(coupon_id(product_id, clean))
        if not isinstance(found, Coupon) or found.brand_id != brand_id or not found.active:
            return None
        return CouponTerms(
            id=found.id,
            code=found.code,
            product_id=found.product_id,
            discount=found.discount,
            valid_from=found.valid_from,
            valid_to=found.valid_to,
            max_uses=found.max_uses,
        )

    # The pricing preview -------------------------------------------------------------------------------------

    def quote(
        self,
        brand_id: UUID,
        product: UUID,
        amount: object,
        tenure: int,
        coupon_code: str | None = None,
        disbursed_on: date | None = None,
    ) -> Quote:
        """Fees, GST, net disbursed and instalments of a loan on the product's current version, its due dates on the
        brand's repayment calendar; a coupon must be one of the product's, valid on the disbursal day (its uses are
        not counted here)."""
        current = self.current(brand_id, product)
        day = disbursed_on or self.business_day(brand_id)
        discount = None
        if coupon_code:
            found = self.coupon(brand_id, product, coupon_code)
            if found is None:
                raise InvalidValue("coupon_code", f"{current.code} has no coupon {coupon_code.strip()}")
            if not found.valid_from <= day <= found.valid_to:
                raise InvalidValue(
                    "coupon_code", f"{found.code} is valid from {found.valid_from} to {found.valid_to}, not on {day}"
                )
            discount, coupon_code = found.discount, found.code
        return quote(
            current,
            amount,
            tenure,
            disbursed_on=day,
            coupon=discount,
            coupon_code=coupon_code,
            calendar=self.repayment_calendar(brand_id),
        )
