"""What the loans context needs of the product catalogue: a product version as priced, a coupon, the lookup protocol.

INTERFACE SKELETON — the products context (domain/products) answers `ProductCatalogue`; the loans context keeps
the `ProductVersion` a loan was priced with (its id and version are recorded on the loan's events) and never
imports the products context itself: the declaration's `build=` wires the two (as covenants' `BrandParties`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from domain.loans.bre import RuleSpec
from domain.loans.terms import Discount, Fee, LoanKind, PenalTerms


@dataclass(frozen=True)
class ProductVersion:
    """One version of a loan product: ranges, pricing, penal terms, the BRE rules it evaluates."""

    id: UUID
    brand_id: UUID
    version: int
    code: str
    name: str
    kind: LoanKind  # emi: tenure in months; payday: tenure in days
    min_amount: Decimal
    max_amount: Decimal
    min_tenure: int
    max_tenure: int
    annual_percent: Decimal | None  # emi
    daily_percent: Decimal | None  # payday
    processing_fee: Fee
    convenience_fee: Fee
    gst_percent: Decimal
    penal: PenalTerms
    max_active_loans: int
    bre_rules: tuple[RuleSpec, ...]
    active: bool = True


@dataclass(frozen=True)
class CouponTerms:
    """A coupon on a product's processing fee, valid from/to (inclusive), used at most `max_uses` times."""

    id: UUID
    code: str
    product_id: UUID
    discount: Discount
    valid_from: date
    valid_to: date
    max_uses: int | None


class ProductCatalogue(Protocol):
    """The lookups the loans context makes; each raises the products context's NotFound when nothing matches."""

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        """The product's latest version (what a new application is priced with)."""
        ...

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        """A given version (what an existing loan was priced with)."""
        ...

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        """The coupon of that code on that product, or None (validity dates and uses are the caller's to check)."""
        ...
