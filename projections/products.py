"""Read models of loan products: each product's current terms, every version as recorded, and coupons."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from domain.products.application import Products
from domain.products.product import Coupon, LoanProduct
from projections.projection import Projection, Write, handles

P = LoanProduct
C = Coupon


class ProductsView(Projection):
    """One row per product (its current version), one per version, one per coupon."""

    name = "products"
    source = Products.name
    tables = ("read.loan_products", "read.loan_product_versions", "read.coupons")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.loan_products (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            code text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            version integer NOT NULL,
            active boolean NOT NULL,
            terms jsonb NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            changed_at timestamptz NOT NULL,
            changed_by text NOT NULL
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS loan_products_code_idx ON read.loan_products (brand_id, code, id)",
        """CREATE TABLE IF NOT EXISTS read.loan_product_versions (
            product_id uuid NOT NULL,
            version integer NOT NULL,
            brand_id uuid NOT NULL,
            terms jsonb NOT NULL,
            recorded_at timestamptz NOT NULL,
            recorded_by text NOT NULL,
            PRIMARY KEY (product_id, version)
        )""",
        """CREATE TABLE IF NOT EXISTS read.coupons (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            product_id uuid NOT NULL,
            code text NOT NULL,
            kind text NOT NULL,
            value numeric(16, 4) NOT NULL,
            valid_from date NOT NULL,
            valid_to date NOT NULL,
            max_uses integer,
            active boolean NOT NULL,
            created_at timestamptz NOT NULL,
            created_by text NOT NULL,
            changed_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS coupons_product_idx ON read.coupons (brand_id, product_id, code, id)",
        "CREATE INDEX IF NOT EXISTS coupons_code_idx ON read.coupons (brand_id, code, id)",
    )

    @handles(P.Created)
    def _created(self, position: int, event: P.Created) -> Iterable[Write]:
        terms = event.terms
        yield Write(
            "INSERT INTO read.loan_products (id, brand_id, code, name, kind, version, active, terms, created_at, "
            "created_by, changed_at, changed_by) VALUES (%s, %s, %s, %s, %s, 1, true, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.code, terms.name, terms.kind.value, terms.model_dump_json(),
             event.timestamp, event.actor, event.timestamp, event.actor),
        )  # fmt: skip
        yield _version_row(event.originator_id, event.brand_id, 1, event)

    @handles(P.Revised)
    def _revised(self, position: int, event: P.Revised) -> Iterable[Write]:
        terms = event.terms
        yield Write(
            "UPDATE read.loan_products SET name = %s, kind = %s, version = %s, terms = %s, changed_at = %s, "
            "changed_by = %s WHERE id = %s AND version < %s",
            (terms.name, terms.kind.value, event.version, terms.model_dump_json(), event.timestamp, event.actor,
             event.originator_id, event.version),
        )  # fmt: skip
        yield Write(
            "INSERT INTO read.loan_product_versions (product_id, version, brand_id, terms, recorded_at, recorded_by) "
            "SELECT %s, %s, brand_id, %s, %s, %s FROM read.loan_products WHERE id = %s "
            "ON CONFLICT (product_id, version) DO NOTHING",
            (event.originator_id, event.version, terms.model_dump_json(), event.timestamp, event.actor,
             event.originator_id),
        )  # fmt: skip

    @handles(P.Deactivated, P.Reactivated)
    def _activity(self, position: int, event: P.Deactivated | P.Reactivated) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_products SET active = %s, changed_at = %s, changed_by = %s WHERE id = %s",
            (isinstance(event, P.Reactivated), event.timestamp, event.actor, event.originator_id),
        )

    @handles(C.Created)
    def _coupon(self, position: int, event: C.Created) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.coupons (id, brand_id, product_id, code, kind, value, valid_from, valid_to, max_uses, "
            "active, created_at, created_by, changed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.product_id, event.code, event.discount.kind.value,
             event.discount.value, event.valid_from, event.valid_to, event.max_uses, event.timestamp, event.actor,
             event.timestamp),
        )  # fmt: skip

    @handles(C.Withdrawn)
    def _withdrawn(self, position: int, event: C.Withdrawn) -> Iterable[Write]:
        yield Write(
            "UPDATE read.coupons SET active = false, changed_at = %s WHERE id = %s",
            (event.timestamp, event.originator_id),
        )


def _version_row(product: Any, brand: Any, version: int, event: P.Created) -> Write:
    return Write(
        "INSERT INTO read.loan_product_versions (product_id, version, brand_id, terms, recorded_at, recorded_by) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (product_id, version) DO NOTHING",
        (product, version, brand, event.terms.model_dump_json(), event.timestamp, event.actor),
    )
