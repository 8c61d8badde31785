"""Typed queries of the products read models: products (current terms), versions, coupons; per brand, keyset
pages ordered by code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans.terms import AmountKind, Fee, LoanKind, PenalTerms
from domain.products.rules import BreRule
from domain.products.terms import ProductTerms, tenure_unit
from projections.keyset import KeysetCursor, Page

#: Products and coupons are listed by (code, id).
CODE_CURSOR = KeysetCursor(str, UUID, name="products.by-code")


@dataclass(frozen=True)
class VersionEntry:
    """One version in a product's history."""

    version: int
    name: str
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class ProductRecord:
    """A product's terms (its current version, or the version asked for) and its state."""

    id: UUID
    code: str
    version: int
    active: bool
    name: str
    type: LoanKind
    tenure_unit: str
    min_amount: Decimal
    max_amount: Decimal
    min_tenure: int
    max_tenure: int
    annual_percent: Decimal | None
    daily_percent: Decimal | None
    processing_fee: Fee
    convenience_fee: Fee
    gst_percent: Decimal
    penal: PenalTerms
    max_active_loans: int
    bre_rules: tuple[BreRule, ...]
    created_at: datetime
    changed_at: datetime  # when this version was recorded, or the product last changed
    changed_by: str
    current_version: int
    versions: tuple[VersionEntry, ...] = ()


@dataclass(frozen=True)
class CouponRecord:
    """A coupon on a product's processing fee."""

    id: UUID
    product_id: UUID
    product_code: str
    code: str
    kind: AmountKind
    value: Decimal
    valid_from: date
    valid_to: date
    max_uses: int | None
    active: bool
    created_at: datetime
    created_by: str


def _record(row: dict[str, Any], terms: ProductTerms, **extra: Any) -> ProductRecord:
    return ProductRecord(
        id=row["id"],
        code=row["code"],
        version=row["version"],
        active=row["active"],
        name=terms.name,
        type=terms.kind,
        tenure_unit=tenure_unit(terms.kind),
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
        bre_rules=terms.bre_rules,
        created_at=row["created_at"],
        changed_at=row["changed_at"],
        changed_by=row["changed_by"],
        current_version=row["current_version"],
        **extra,
    )


_PRODUCT = (
    "SELECT id, code, version, version AS current_version, active, terms, created_at, changed_at, changed_by "
    "FROM read.loan_products"
)
_COUPON = (
    "SELECT c.id, c.product_id, p.code AS product_code, c.code, c.kind, c.value, c.valid_from, c.valid_to, "
    "c.max_uses, c.active, c.created_at, c.created_by FROM read.coupons c JOIN read.loan_products p ON p.id = c.product_id"
)


def _plain(value: Decimal, kind: AmountKind) -> Decimal:
    """Rupees with their paise; a percent without the column's trailing zeros (never in exponent form)."""
    if kind is AmountKind.FIXED:
        return value.quantize(Decimal("0.01"))
    trimmed = value.normalize()
    return trimmed.quantize(Decimal(1)) if trimmed == trimmed.to_integral_value() else trimmed


def _coupon(row: dict[str, Any]) -> CouponRecord:
    kind = AmountKind(row["kind"])
    return CouponRecord(**{**row, "kind": kind, "value": _plain(row["value"], kind)})


class ProductQueries:
    """Brand-scoped reads of products, their versions and coupons."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def product(self, brand_id: UUID, product_id: UUID) -> ProductRecord | None:
        """A product of the brand at its current version, with the list of its versions."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_PRODUCT} WHERE id = %s AND brand_id = %s", (product_id, brand_id)).fetchone()
            if row is None:
                return None
            versions = conn.execute(
                "SELECT version, terms->>'name' AS name, recorded_at, recorded_by FROM read.loan_product_versions "
                "WHERE product_id = %s ORDER BY version DESC",
                (product_id,),
            ).fetchall()
        terms = ProductTerms.model_validate(row["terms"])
        return _record(row, terms, versions=tuple(VersionEntry(**v) for v in versions))

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductRecord | None:
        """Version `version` of a product of the brand, exactly as it was recorded."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT p.id, p.code, v.version, p.version AS current_version, p.active, v.terms, p.created_at, "
                "v.recorded_at AS changed_at, v.recorded_by AS changed_by FROM read.loan_product_versions v "
                "JOIN read.loan_products p ON p.id = v.product_id "
                "WHERE v.product_id = %s AND v.version = %s AND v.brand_id = %s",
                (product_id, version, brand_id),
            ).fetchone()
        return None if row is None else _record(row, ProductTerms.model_validate(row["terms"]))

    def products(
        self,
        brand_id: UUID,
        active: bool | None = None,
        kind: LoanKind | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The brand's products by code, at their current versions."""
        page_scope = ("products", brand_id, active, kind)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if active is not None:
            where.append("active = %(active)s")
            params["active"] = active
        if kind is not None:
            where.append("kind = %(kind)s")
            params["kind"] = kind.value
        if cursor:
            code, last = CODE_CURSOR.decode(cursor, page_scope)
            where.append("(code, id) > (%(c_code)s, %(c_id)s)")
            params.update(c_code=code, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_PRODUCT} WHERE {' AND '.join(where)} ORDER BY code, id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = CODE_CURSOR.encode(rows[-1]["code"], rows[-1]["id"], scope=page_scope) if more and rows else None
        return Page(items=[_record(r, ProductTerms.model_validate(r["terms"])) for r in rows], next_cursor=next_cursor)

    def coupon(self, brand_id: UUID, coupon_id: UUID) -> CouponRecord | None:
        """One coupon of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_COUPON} WHERE c.id = %s AND c.brand_id = %s", (coupon_id, brand_id)).fetchone()
        return None if row is None else _coupon(row)

    def coupons(
        self,
        brand_id: UUID,
        product_id: UUID | None = None,
        active: bool | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The brand's coupons (of one product when given) by code."""
        page_scope = ("coupons", brand_id, product_id, active)  # the filters its cursor is bound to
        where = ["c.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if product_id is not None:
            where.append("c.product_id = %(product)s")
            params["product"] = product_id
        if active is not None:
            where.append("c.active = %(active)s")
            params["active"] = active
        if cursor:
            code, last = CODE_CURSOR.decode(cursor, page_scope)
            where.append("(c.code, c.id) > (%(c_code)s, %(c_id)s)")
            params.update(c_code=code, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_COUPON} WHERE {' AND '.join(where)} ORDER BY c.code, c.id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = CODE_CURSOR.encode(rows[-1]["code"], rows[-1]["id"], scope=page_scope) if more and rows else None
        return Page(items=[_coupon(r) for r in rows], next_cursor=next_cursor)
