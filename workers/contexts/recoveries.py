"""Collection money (issue #16 items 5-7): partial collections and manual receipts approved before they count,
penal-charge waivers, settlements and write-off. No application of its own: the Loan aggregate records every fact
(`domain/loans/loan_recoveries.py`); `read.loan_recovery_requests` holds the approvers' queues."""

from __future__ import annotations

from typing import Any

from api.pages import recoveries as pages
from api.routes import recoveries as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.loan_recovery_views import RecoveryQueries, RecoveryRequestViews
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="recoveries",
    queries=(RecoveryQueries,),
    projections=(RecoveryRequestViews(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Approvals", "/approvals", "approvals", pages.APPROVERS, 29),),
    permissions=(Permission.COLLECTION_APPROVALS, Permission.PENAL_WAIVERS, Permission.LOAN_WRITE_OFF),
)
