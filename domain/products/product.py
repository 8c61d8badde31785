"""Loan products (versioned: every revision records the full terms) and coupons on their processing fee."""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.loans.terms import Discount
from domain.products.terms import ProductTerms
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound

_PRODUCT_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/loan-product")
_COUPON_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/coupon")


class ProductNotFound(NotFound):
    """Raised when no loan product (or no such version of it) has the id within the brand."""


class CouponNotFound(NotFound):
    """Raised when no coupon has the id within the brand."""


def product_id(brand_id: UUID, code: str) -> UUID:
    """A product's id: one per (brand, code), so a code can never name two products of a brand."""
    return uuid5(_PRODUCT_NAMESPACE, f"{brand_id}:{code}")


def coupon_id(product: UUID, code: str) -> UUID:
    """A coupon's id: one per (product, code), so a code can never name two coupons of a product."""
    return uuid5(_COUPON_NAMESPACE, f"{product}:{code}")


class LoanProduct(Aggregate):
    """A brand's loan product; version 1 on creation, one more on every revision. Loans keep the version they were
    priced with, so every version stays readable exactly as it was."""

    id: UUID

    class Created(Aggregate.Created):
        """A product was set up (its version 1)."""

        brand_id: UUID
        code: str
        terms: ProductTerms

    class Revised(Aggregate.Event):
        """A new version of the terms (all of them, not the difference)."""

        version: int
        terms: ProductTerms

    class Deactivated(Aggregate.Event):
        """The product takes no new applications (loans on it go on)."""

        reason: str

    class Reactivated(Aggregate.Event):
        """The product takes new applications again."""

        reason: str

    @event(Created)
    def __init__(self, brand_id: UUID, code: str, terms: ProductTerms) -> None:
        self.brand_id = brand_id
        self.code = code
        self.active = True
        self.versions: list[ProductTerms] = [terms]  # version n is versions[n - 1]

    @property
    def version_number(self) -> int:
        """The number of the latest version."""
        return len(self.versions)

    @property
    def current(self) -> ProductTerms:
        """The latest version's terms (what new applications are priced with)."""
        return self.versions[-1]

    def version_of(self, number: int) -> ProductTerms:
        """Version `number`, exactly as recorded; ProductNotFound when there is none."""
        if not 1 <= number <= len(self.versions):
            raise ProductNotFound(f"product {self.code} has no version {number}", id=str(self.id), version=number)
        return self.versions[number - 1]

    def revise(self, terms: ProductTerms) -> bool:
        """Record `terms` as the next version; False (nothing recorded) when they are the current terms."""
        if terms == self.current:
            return False
        self._revised(version=len(self.versions) + 1, terms=terms)
        return True

    @event(Revised)
    def _revised(self, version: int, terms: ProductTerms) -> None:
        self.versions.append(terms)

    def deactivate(self, reason: str) -> None:
        """Stop taking new applications on the product."""
        if not self.active:
            raise Conflict(f"product {self.code} is inactive already", id=str(self.id))
        self._deactivated(reason=reason)

    @event(Deactivated)
    def _deactivated(self, reason: str) -> None:
        self.active = False

    def reactivate(self, reason: str) -> None:
        """Take new applications on the product again."""
        if self.active:
            raise Conflict(f"product {self.code} is active already", id=str(self.id))
        self._reactivated(reason=reason)

    @event(Reactivated)
    def _reactivated(self, reason: str) -> None:
        self.active = True


class Coupon(Aggregate):
    """A coupon on one product's processing fee: a percent or fixed discount, valid from/to (inclusive), used at
    most `max_uses` times (counted by the loans context from its applications); withdrawn coupons apply no more."""

    id: UUID

    class Created(Aggregate.Created):
        """A coupon was issued."""

        brand_id: UUID
        product_id: UUID
        code: str
        discount: Discount
        valid_from: date
        valid_to: date
        max_uses: int | None

    class Withdrawn(Aggregate.Event):
        """The coupon applies to no new application."""

        reason: str

    @event(Created)
    def __init__(
        self,
        brand_id: UUID,
        product_id: UUID,
        code: str,
        discount: Discount,
        valid_from: date,
        valid_to: date,
        max_uses: int | None,
    ) -> None:
        self.brand_id = brand_id
        self.product_id = product_id
        self.code = code
        self.discount = discount
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.max_uses = max_uses
        self.active = True

    def withdraw(self, reason: str) -> None:
        """Stop the coupon applying to new applications."""
        if not self.active:
            raise Conflict(f"coupon {self.code} is withdrawn already", id=str(self.id))
        self._withdrawn(reason=reason)

    @event(Withdrawn)
    def _withdrawn(self, reason: str) -> None:
        self.active = False
