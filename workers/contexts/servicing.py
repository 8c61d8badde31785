"""Loan servicing (issue #15): repayments and reversals, the payoff quote, the ledger, the close-of-business job
(`loan-cob`, workers/loan_cob.py, its bookkeeping adapters/cob_store.py). No application of its own: the Loan
aggregate records every fact (`domain.loans`)."""

from __future__ import annotations

from typing import Any

from adapters.cob_store import CobStore
from api.pages import servicing as pages
from api.routes import loan_exports
from api.routes import servicing as routes
from workers import loan_cob
from workers.bounded_context import BoundedContext, Job

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="servicing",
    queries=(CobStore,),
    endpoints=(*routes.ENDPOINTS, *loan_exports.ENDPOINTS),
    pages=pages.PAGES,
    jobs=(Job(loan_cob.COB, loan_cob.run_cob, loan_cob.CobPort),),
)
