"""Insight (issue #18 items 2 and 3): the top bar's global search over borrowers, loans and staff, and the
dashboard (V1 or V2 by the brand's `dashboard_version`). No application of its own: it reads the other contexts'
read models (projections/global_search.py, projections/dashboard.py; docs/insight.md)."""

from __future__ import annotations

from typing import Any

from api.pages import insight as pages
from api.routes import insight as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.dashboard import DashboardQueries
from projections.global_search import GlobalSearchQueries
from projections.insight_figures import InsightFigures
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="insight",
    queries=(GlobalSearchQueries, DashboardQueries),
    projections=(InsightFigures(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Dashboard", "/dashboard", "dashboard", None, 10),),
    permissions=(Permission.GLOBAL_SEARCH, Permission.VIEW_DASHBOARD),
)
