"""Blocklists: PAN, mobile, Aadhaar, bank account and pincode values a brand refuses, and the check others call."""

from __future__ import annotations

from api.pages import blocklist as pages
from api.routes import blocklist as routes
from api.web import NavItem
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlocklistEntry
from domain.identity.permissions import Permission
from projections.blocklist import BlocklistQueries, BlocklistView
from workers.bounded_context import BoundedContext

CONTEXT = BoundedContext(
    application=Blocklists,
    queries=(BlocklistQueries,),
    projections=(BlocklistView(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Blocklist", "/blocklist", "blocklist", Permission.BLOCKLIST, 80),),
    permissions=(Permission.BLOCKLIST,),
    audited=(BlocklistEntry,),
)
