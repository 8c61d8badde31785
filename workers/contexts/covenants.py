"""Covenant monitoring: covenants per application, evaluation records per cycle, reminders and overdue notices."""

from __future__ import annotations

from api import portal_covenants
from api.routes import covenants
from api.web import NavItem
from domain.covenants.application import Covenants
from domain.covenants.covenant import Covenant, CovenantEvaluation, CovenantNotice
from domain.identity.permissions import Permission
from projections.covenant_queries import CovenantQueries
from projections.covenants import CovenantViews
from workers import covenant_jobs
from workers.bounded_context import BoundedContext, Job

CONTEXT = BoundedContext(
    application=Covenants,
    queries=(CovenantQueries,),
    projections=(CovenantViews(),),
    endpoints=covenants.ENDPOINTS,
    routes=portal_covenants.ROUTES,
    jobs=(
        Job(covenant_jobs.EVALUATION, covenant_jobs.run_evaluation),
        Job(covenant_jobs.NOTIFICATION, covenant_jobs.run_notification),
    ),
    nav=(
        NavItem("Dashboard", "/dashboard", "dashboard", None, 10),
        NavItem("Covenants", "/covenants", "covenants", Permission.COVENANTS, 20),
    ),
    permissions=(Permission.COVENANTS, Permission.COVENANT_REVIEW),
    audited=(Covenant, CovenantEvaluation, CovenantNotice),
)
