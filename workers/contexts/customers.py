"""Borrower records: registration, contact details, alternate phones, loan numbers; directory and Customer 360."""

from __future__ import annotations

from adapters.aggregate_snapshots import AggregateSnapshots
from adapters.postgres import Database
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
    app = Customers(env=kit.env, clock=kit.clock, numbers=number_series(kit))
    # A borrower record's snapshot every 100 events: the auditor's as-of replay decodes at most the 100 after it.
    app.snapshot_every, app.snapshot_keeper = 100, AggregateSnapshots(kit.get(Database).pool)
    return app


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
