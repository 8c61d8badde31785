"""Audit: auditor replay of any record as of any instant, and the activity trail of every context."""

from __future__ import annotations

from typing import Any

from api.pages import audit as pages
from api.routes import activity, audit
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.activity import ActivityQueries
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="audit",
    queries=(ActivityQueries,),
    endpoints=(*audit.ENDPOINTS, *activity.ENDPOINTS),
    pages=pages.PAGES,
    nav=(NavItem("Audit", "/audit", "audit", Permission.AUDIT_REPLAY, 110),),
    permissions=(Permission.AUDIT_REPLAY,),
)
