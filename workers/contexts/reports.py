"""Reports (issue #18 item 1): the spec's 29 report types and the performance reports, over the read models, as
JSON pages and streamed CSV, and emailed as a job. Its own read model (projections/report_book.py) keeps each
disbursed loan's instalments and repayments and the borrowers' sessions; no application of its own."""

from __future__ import annotations

from typing import Any

from api.pages import reports as pages
from api.routes import reports as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.report_book import BorrowerActivityView, ReportBookView
from projections.reports import ReportQueries
from workers import report_jobs
from workers.bounded_context import BoundedContext, Job

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="reports",
    queries=(ReportQueries,),
    projections=(ReportBookView(), BorrowerActivityView()),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Reports", "/reports", "reports", Permission.MASTER_REPORTS, 85),),
    permissions=(Permission.MASTER_REPORTS,),
    jobs=(Job(report_jobs.DEFINITION, report_jobs.run, report_jobs.ReportJobPort),),
)
