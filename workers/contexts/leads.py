"""Leads and attribution: lead CSV imports deduped against the brand's leads and borrowers, the lead funnel."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.postgres import Database
from api.pages import leads as lead_pages
from api.routes import leads as routes
from api.routes import ratings as rating_routes
from api.routes import sales as sales_routes
from api.web import NavItem
from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.staff import StaffNotFound
from domain.leads.application import Leads
from domain.leads.lead import Lead, LeadImport
from domain.leads.rating import RatingMatrix, StaffRating
from projections.lead_attribution import AttributionViews
from projections.lead_queries import LeadQueries
from projections.leads import LeadViews
from projections.ratings import RatingQueries, RatingViews
from projections.sales_queries import SalesQueries
from workers.bounded_context import BackgroundWorker, BoundedContext, Kit
from workers.lead_jobs import LeadJobPort, SignupLinker


@dataclass(frozen=True)
class BrandStaff:
    """The leads context's `StaffDirectory`, answered by the identity context."""

    identity: Identity

    def has_staff(self, brand_id: UUID, staff_id: UUID) -> bool:
        try:
            self.identity.staff(brand_id, staff_id)
        except StaffNotFound:
            return False
        return True


@dataclass(frozen=True)
class BrandCustomers:
    """The leads context's `CustomerDirectory`, answered by the customers context (its event store: a borrower just
    registered is known at once)."""

    customers: Customers

    def has_customer(self, brand_id: UUID, customer_id: UUID) -> bool:
        try:
            self.customers.get(brand_id, customer_id)
        except CustomerNotFound:
            return False
        return True


def _leads(kit: Kit) -> Leads:
    """The application, deduping against the read models (`LeadQueries.known`), rating the brand's staff, linking
    leads only to the brand's borrowers."""
    return Leads(
        env=kit.env,
        clock=kit.clock,
        directory=LeadQueries(kit.get(Database).pool),
        staff=BrandStaff(kit.get(Identity)),
        customers=BrandCustomers(kit.get(Customers)),
    )


CONTEXT = BoundedContext(
    application=Leads,
    build=_leads,
    queries=(LeadQueries, RatingQueries, SalesQueries),
    projections=(LeadViews(), AttributionViews(), RatingViews()),
    endpoints=(*routes.ENDPOINTS, *rating_routes.ENDPOINTS, *sales_routes.ENDPOINTS),
    pages=lead_pages.PAGES,
    workers=(BackgroundWorker(SignupLinker, LeadJobPort),),
    nav=(
        NavItem("Leads", "/leads", "leads", Permission.LEADS, 85),
        NavItem("Sales", "/sales", "sales", Permission.MASTER_REPORTS, 86),
        NavItem("Rating matrix", "/rating-matrix", "ratings", Permission.BRAND_SETTINGS, 96),
    ),
    permissions=(
        Permission.LEADS,
        Permission.BRAND_SETTINGS,
        Permission.PARTNER_USER_MANAGEMENT,
        Permission.MASTER_REPORTS,
    ),
    audited=(Lead, LeadImport, RatingMatrix, StaffRating),
)
