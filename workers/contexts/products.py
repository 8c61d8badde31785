"""Loan products: versioned ranges, pricing, penal terms and BRE rules per brand, and coupons on their fees; the
`Products` application is the loans context's `ProductCatalogue`."""

from __future__ import annotations

from uuid import UUID

from api.pages import products as pages
from api.routes import products as routes
from api.web import NavItem
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.loans.due_dates import RepaymentCalendar
from domain.products.application import Products
from domain.products.product import Coupon, LoanProduct
from projections.product_queries import ProductQueries
from projections.products import ProductsView
from workers.bounded_context import BoundedContext, Kit


def _products(kit: Kit) -> Products:
    identity = kit.get(Identity)

    def repayment_calendar(brand_id: UUID) -> RepaymentCalendar:
        # The one the loans context schedules with (workers/contexts/loans.py), so a preview's due dates are the loan's.
        settings = identity.settings(brand_id)
        return RepaymentCalendar(sunday_off=settings.sunday_off, holidays=frozenset(settings.repayment_holidays))

    return Products(
        env=kit.env,
        clock=kit.clock,
        business_day=identity.business_date,
        repayment_calendar=repayment_calendar,
        loan_minimum=identity.loan_minimum,
    )


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
