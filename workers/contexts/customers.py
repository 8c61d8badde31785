"""Borrower records: registration, contact details, alternate phones, loan numbers; directory and Customer 360."""

from __future__ import annotations

from api.pages import customers as pages
from api.routes import customers as routes
from api.web import NavItem
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.identity.permissions import Permission
from projections.customer_queries import CustomerQueries
from projections.customers import CustomerDirectory, CustomerTimeline
from workers.bounded_context import BoundedContext, Kit
from workers.numbering import number_series


def _customers(kit: Kit) -> Customers:
    return Customers(env=kit.env, clock=kit.clock, numbers=number_series(kit))


CONTEXT = BoundedContext(
    application=Customers,
    build=_customers,
    queries=(CustomerQueries,),
    projections=(CustomerDirectory(), CustomerTimeline()),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Customers", "/customers", "customers", Permission.CUSTOMER, 40),),
    permissions=(Permission.CUSTOMER,),
    audited=(CustomerRecord,),
)
