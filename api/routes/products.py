"""Loan product and coupon endpoints: versioned products of the caller's brand, their versions, a pricing preview,
coupons on their processing fee."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.routes.product_models import (
    CouponIn,
    CouponOut,
    CouponPageOut,
    CouponQuery,
    ProductIn,
    ProductOut,
    ProductPageOut,
    ProductPatch,
    ProductQuery,
    ProductVersionOut,
    QuoteOut,
    QuoteQuery,
    ReasonIn,
)
from domain.identity.permissions import Level, Permission
from domain.products.application import Products
from domain.products.product import CouponNotFound, ProductNotFound
from domain.shared.application import CommandResult
from projections.product_queries import CouponRecord, ProductQueries, ProductRecord

READ = (Permission.BRAND_SETTINGS, Level.READ)
WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)

#: Version numbers a path may name (anything else is a 404).
_MAX_VERSION = 10**6


@dataclass(frozen=True)
class ProductsPort:
    """What the product endpoints and pages use: the use cases and the read models."""

    products: Products
    queries: ProductQueries


def _product(ctx: Context[ProductsPort], product_id: UUID) -> ProductRecord | None:
    return ctx.port.queries.product(ctx.brand_id, product_id)


def _written(ctx: Context[ProductsPort], result: CommandResult, status: int | None = None) -> Reply:
    location = f"/api/v1/loan-products/{result.id}"
    return ctx.written(result, Products.name, lambda: _product(ctx, result.id), location, status)


def list_products(ctx: Context[ProductsPort]) -> Reply:
    q: ProductQuery = ctx.query
    return json_response(ctx.port.queries.products(ctx.brand_id, q.active, q.type, q.cursor, q.limit))


def create_product(ctx: Context[ProductsPort]) -> Reply:
    body: ProductIn = ctx.body
    return _written(ctx, ctx.port.products.create(ctx.brand_id, body.code, body.terms()))


def get_product(ctx: Context[ProductsPort]) -> Reply:
    product_id: UUID = ctx.path["product_id"]
    found = _product(ctx, product_id)
    if found is None:
        raise ProductNotFound(f"LoanProduct {product_id} not found", id=str(product_id))
    return json_response(found)


def revise_product(ctx: Context[ProductsPort]) -> Reply:
    body: ProductPatch = ctx.body
    product_id: UUID = ctx.path["product_id"]
    result = ctx.port.products.revise(ctx.brand_id, product_id, body.terms(), ctx.expected_version())
    return _written(ctx, result)


def get_product_version(ctx: Context[ProductsPort]) -> Reply:
    product_id: UUID = ctx.path["product_id"]
    raw = str(ctx.path["version"])
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 7 else 0
    found = ctx.port.queries.version(ctx.brand_id, product_id, number) if 1 <= number <= _MAX_VERSION else None
    if found is None:
        raise ProductNotFound(f"LoanProduct {product_id} has no version {raw}", id=str(product_id))
    return json_response(found)


def deactivate_product(ctx: Context[ProductsPort]) -> Reply:
    body: ReasonIn = ctx.body
    return _written(ctx, ctx.port.products.deactivate(ctx.brand_id, ctx.path["product_id"], body.reason))


def reactivate_product(ctx: Context[ProductsPort]) -> Reply:
    body: ReasonIn = ctx.body
    return _written(ctx, ctx.port.products.reactivate(ctx.brand_id, ctx.path["product_id"], body.reason))


def quote_product(ctx: Context[ProductsPort]) -> Reply:
    q: QuoteQuery = ctx.query
    quote = ctx.port.products.quote(
        ctx.brand_id, ctx.path["product_id"], q.amount, q.tenure, q.coupon_code, q.disbursed_on
    )
    return json_response(QuoteOut.of(quote))


def _coupon(ctx: Context[ProductsPort], coupon_id: UUID) -> CouponRecord | None:
    return ctx.port.queries.coupon(ctx.brand_id, coupon_id)


def issue_coupon(ctx: Context[ProductsPort]) -> Reply:
    body: CouponIn = ctx.body
    result = ctx.port.products.issue_coupon(
        ctx.brand_id, body.product_id, body.code, body.kind, body.value, body.valid_from, body.valid_to, body.max_uses
    )
    return ctx.written(result, Products.name, lambda: _coupon(ctx, result.id), f"/api/v1/coupons/{result.id}")


def list_coupons(ctx: Context[ProductsPort]) -> Reply:
    q: CouponQuery = ctx.query
    return json_response(ctx.port.queries.coupons(ctx.brand_id, q.product_id, q.active, q.cursor, q.limit))


def get_coupon(ctx: Context[ProductsPort]) -> Reply:
    coupon_id: UUID = ctx.path["coupon_id"]
    found = _coupon(ctx, coupon_id)
    if found is None:
        raise CouponNotFound(f"Coupon {coupon_id} not found", id=str(coupon_id))
    return json_response(found)


def withdraw_coupon(ctx: Context[ProductsPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.products.withdraw_coupon(ctx.brand_id, ctx.path["coupon_id"], body.reason)
    return ctx.written(result, Products.name, lambda: _coupon(ctx, result.id))


ENDPOINTS = serve(
    ProductsPort,
    "products",
    [
        Endpoint(
            "GET",
            "/api/v1/loan-products",
            list_products,
            "Loan products of the brand by code, at their current versions",
            READ,
            query=ProductQuery,
            response=ProductPageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/loan-products",
            create_product,
            "Set up a loan product (version 1): ranges, interest, fees and GST, penal terms, BRE rules",
            WRITE,
            body=ProductIn,
            response=ProductOut,
            status=201,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/loan-products/{product_id}",
            get_product,
            "A loan product at its current version, and its versions",
            READ,
            response=ProductOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/loan-products/{product_id}",
            revise_product,
            "Change a product's terms: recorded with the rest as its next version (If-Match: the version changed)",
            WRITE,
            body=ProductPatch,
            response=ProductOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/loan-products/{product_id}/versions/{version}",
            get_product_version,
            "One version of a product exactly as recorded (what loans priced with it carry)",
            READ,
            response=ProductVersionOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/loan-products/{product_id}/deactivate",
            deactivate_product,
            "Take no new applications on a product (loans on it go on)",
            WRITE,
            body=ReasonIn,
            response=ProductOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/loan-products/{product_id}/reactivate",
            reactivate_product,
            "Take new applications on a product again",
            WRITE,
            body=ReasonIn,
            response=ProductOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/loan-products/{product_id}/quote",
            quote_product,
            "Price a loan on the product's current version: fees, GST, net disbursed, EMI or the bullet instalment",
            READ,
            query=QuoteQuery,
            response=QuoteOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/coupons",
            list_coupons,
            "Coupons of the brand (of one product) by code",
            READ,
            query=CouponQuery,
            response=CouponPageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/coupons",
            issue_coupon,
            "Issue a coupon on a product's processing fee (percent or fixed, valid from/to, uses limit)",
            WRITE,
            body=CouponIn,
            response=CouponOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/coupons/{coupon_id}",
            get_coupon,
            "A coupon",
            READ,
            response=CouponOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/coupons/{coupon_id}/withdraw",
            withdraw_coupon,
            "Withdraw a coupon: it applies to no new application",
            WRITE,
            body=ReasonIn,
            response=CouponOut,
            accepts=True,
        ),
    ],
)
