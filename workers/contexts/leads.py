"""Leads and attribution: lead CSV imports deduped against the brand's leads and borrowers, the lead funnel."""

from __future__ import annotations

from adapters.postgres import Database
from api.routes import leads as routes
from domain.identity.permissions import Permission
from domain.leads.application import Leads
from domain.leads.lead import Lead, LeadImport
from projections.lead_attribution import AttributionViews
from projections.lead_queries import LeadQueries
from projections.leads import LeadViews
from workers.bounded_context import BoundedContext, Kit


def _leads(kit: Kit) -> Leads:
    """The application, deduping against the read models (`LeadQueries.known`)."""
    return Leads(env=kit.env, clock=kit.clock, directory=LeadQueries(kit.get(Database).pool))


CONTEXT = BoundedContext(
    application=Leads,
    build=_leads,
    queries=(LeadQueries,),
    projections=(LeadViews(), AttributionViews()),
    endpoints=routes.ENDPOINTS,
    pages=(),
    nav=(),
    permissions=(Permission.LEADS,),
    audited=(Lead, LeadImport),
)
