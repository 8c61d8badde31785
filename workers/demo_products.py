"""Demo loan products and a coupon for the `demo` brand: an EMI product (percent processing fee with GST on top, a
fixed convenience fee with GST inside), a payday product and a consumer EMI with no rules of its own; idempotent."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.products.application import Products
from domain.products.product import coupon_id, product_id
from domain.shared.errors import Conflict

if TYPE_CHECKING:
    from workers.platform import Platform

#: The demo products by code, with the terms of their version 1.
DEMO_PRODUCTS: dict[str, dict[str, Any]] = {
    "SAL-EMI": {
        "name": "Salaried personal loan (EMI)",
        "kind": "emi",
        "min_amount": "15000",
        "max_amount": "500000",
        "min_tenure": 3,
        "max_tenure": 36,
        "annual_percent": "22",
        "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
        "convenience_fee": {"kind": "fixed", "value": "499", "gst_inclusive": True},
        "gst_percent": "18",
        "penal": {"kind": "simple", "daily_percent": "0.1"},
        "max_active_loans": 1,
        "bre_rules": [
            {"rule": "CREDIT_SCORE", "min": "700"},
            {"rule": "SALARY"},
            {"rule": "AGE"},
            {"rule": "PINCODE"},
            {"rule": "FOIR", "max": "55"},
            {"rule": "DPD", "max": "0"},
        ],
    },
    "PAYDAY-30": {
        "name": "Payday advance (up to 45 days)",
        "kind": "payday",
        "min_amount": "5000",
        "max_amount": "50000",
        "min_tenure": 7,
        "max_tenure": 45,
        "daily_percent": "1",
        "processing_fee": {"kind": "fixed", "value": "499", "gst_inclusive": False},
        "convenience_fee": {"kind": "percent", "value": "1", "gst_inclusive": True},
        "gst_percent": "18",
        "penal": {"kind": "compound", "daily_percent": "0.5"},
        "max_active_loans": 1,
        "bre_rules": [
            {"rule": "CREDIT_SCORE", "min": "650"},
            {"rule": "SALARY", "min": "20000"},
            {"rule": "EXISTING_LOANS", "max": "3"},
        ],
    },
    "CONSUMER-EMI": {
        "name": "Consumer durable EMI",
        "kind": "emi",
        "min_amount": "10000",
        "max_amount": "200000",
        "min_tenure": 3,
        "max_tenure": 24,
        "annual_percent": "16",
        "processing_fee": {"kind": "percent", "value": "1.5", "gst_inclusive": True},
        "max_active_loans": 2,
        "bre_rules": [],
    },
}

#: The demo coupon: half the processing fee off the salaried EMI product, 500 uses.
DEMO_COUPON_PRODUCT, DEMO_COUPON = "SAL-EMI", "WELCOME50"


def demo_product_id(brand_id: UUID, code: str) -> UUID:
    """The id of a demo product (for other demo data: applications on it)."""
    return product_id(brand_id, code)


def seed_products(platform: Platform, brand_id: UUID, today: date) -> dict[str, int]:
    """Create the demo products and coupon unless they exist; how many of each it created."""
    products = platform.get(Products)
    created = {"products": 0, "coupons": 0}
    for code, terms in DEMO_PRODUCTS.items():
        if products.find(product_id(brand_id, code)) is None:
            try:
                products.create(brand_id, code, terms)
                created["products"] += 1
            except Conflict:  # made by a concurrent seed
                pass
    owner = product_id(brand_id, DEMO_COUPON_PRODUCT)
    if products.find(coupon_id(owner, DEMO_COUPON)) is None:
        try:
            products.issue_coupon(
                brand_id,
                owner,
                DEMO_COUPON,
                "percent",
                "50",
                today - timedelta(days=30),
                today + timedelta(days=365),
                500,
            )
            created["coupons"] += 1
        except Conflict:
            pass
    return created
