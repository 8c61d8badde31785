"""Loans meeting the rest of the desk (issue #15 items 4-6, 8): a borrower's loans for Customer 360, the portal's
completed-loans page (closed / settled / written-off) and the close-of-business runs page with its "run COB for
date" form. No application of its own: the Loan aggregate records every fact."""

from __future__ import annotations

from typing import Any

from api.pages import loan_books
from api.routes import loan360 as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.borrower_loans import BorrowerLoanQueries
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="loan360",
    queries=(BorrowerLoanQueries,),
    endpoints=routes.ENDPOINTS,
    pages=loan_books.PAGES,
    nav=(
        NavItem("Completed loans", "/completed-loans", "completed-loans", Permission.COMPLETED_LOANS, 28),
        NavItem("COB", "/loan-cob", "loan-cob", Permission.JOBS, 91),
    ),
    permissions=(Permission.COMPLETED_LOANS,),
)
