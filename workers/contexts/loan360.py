"""Loans meeting the rest of the desk (issue #15 items 4-6, 8): a borrower's loans for Customer 360 and the
portal's completed-loans and COB-run pages. No application of its own: the Loan aggregate records every fact."""

from __future__ import annotations

from typing import Any

from projections.borrower_loans import BorrowerLoanQueries
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="loan360",
    queries=(BorrowerLoanQueries,),
)
