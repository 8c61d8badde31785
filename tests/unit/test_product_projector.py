"""The products projector: a product's row and its version rows, activation, coupons."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

from domain.loans.terms import AmountKind, Discount
from domain.products.product import Coupon, LoanProduct
from domain.products.terms import terms_from
from projections.products import ProductsView
from projections.projection import Write

TERMS = {
    "name": "Payday 30", "kind": "payday", "min_amount": "5000", "max_amount": "50000", "min_tenure": 7,
    "max_tenure": 45, "daily_percent": "1", "processing_fee": {"kind": "fixed", "value": "499"},
}  # fmt: skip


def _writes(position: int, event: object) -> list[tuple[str, tuple[object, ...]]]:
    """The statements and positional parameters the projector yields for an event."""
    found = []
    for change in ProductsView().project(position, event):
        assert isinstance(change, Write) and isinstance(change.params, tuple)
        found.append((change.sql, change.params))
    return found


def test_versions_each_get_a_row_and_the_product_row_follows_the_latest() -> None:
    product = LoanProduct(id=uuid.uuid4(), brand_id=uuid.uuid4(), code="PD30", terms=terms_from(TERMS))  # type: ignore[call-arg]
    product.revise(terms_from({**TERMS, "daily_percent": "0.9"}))
    product.deactivate("replaced")
    created, revised, deactivated = product.collect_events()
    (product_sql, _), (version_sql, version_1) = _writes(1, created)
    assert "INSERT INTO read.loan_products" in product_sql and "INSERT INTO read.loan_product_versions" in version_sql
    assert json.loads(str(version_1[3]))["daily_percent"] == "1"
    (update_sql, update), (_, version_2) = _writes(2, revised)
    assert "version < %s" in update_sql and update[2] == 2  # a replayed older version never wins
    assert json.loads(str(version_2[2]))["daily_percent"] == "0.9"
    ((_, off),) = _writes(3, deactivated)
    assert off[0] is False


def test_a_coupon_row_keeps_its_discount() -> None:
    coupon = Coupon(  # type: ignore[call-arg]
        id=uuid.uuid4(), brand_id=uuid.uuid4(), product_id=uuid.uuid4(), code="HALF",
        discount=Discount(kind=AmountKind.PERCENT, value=Decimal("50")), valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31), max_uses=None,
    )  # fmt: skip
    ((_, row),) = _writes(1, next(iter(coupon.collect_events())))
    assert row[3:9] == ("HALF", "percent", Decimal("50"), date(2026, 1, 1), date(2026, 12, 31), None)
