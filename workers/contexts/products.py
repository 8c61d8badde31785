"""Loan products: versioned ranges, pricing, penal terms and BRE rules per brand, and coupons on their fees; the
`Products` application is the loans context's `ProductCatalogue`."""

from __future__ import annotations

from api.pages import products as pages
from api.routes import products as routes
from api.web import NavItem
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.products.application import Products
from domain.products.product import Coupon, LoanProduct
from projections.product_queries import ProductQueries
from projections.products import ProductsView
from workers.bounded_context import BoundedContext, Kit


def _products(kit: Kit) -> Products:
    return Products(env=kit.env, clock=kit.clock, business_day=kit.get(Identity).business_date)


CONTEXT = BoundedContext(
    application=Products,
    build=_products,
    queries=(ProductQueries,),
    projections=(ProductsView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Products", "/products", "products", Permission.BRAND_SETTINGS, 65),),
    permissions=(Permission.BRAND_SETTINGS,),
    audited=(LoanProduct, Coupon),
)
