"""Disbursal (issue #14 items 4, 5): the Ops queue, payouts through the payment gateway and its webhook, bank payout
files. No application of its own: the Loan aggregate records every step (`domain.loans`), the service
`api.services.disbursals.Disbursals` orchestrates the gateway, the verified bank account and the SMS."""

from __future__ import annotations

from typing import Any

from adapters.payout_store import PayoutStore
from api.pages import disbursals as pages
from api.routes import disbursals as routes
from api.web import NavItem
from domain.identity.permissions import Permission
from projections.disbursal_queries import DisbursalQueries
from projections.disbursals import DisbursalViews
from workers import payout_reconciliation
from workers.bounded_context import BoundedContext, Job

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="disbursal",
    queries=(DisbursalQueries, PayoutStore),
    projections=(DisbursalViews(),),
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    nav=(NavItem("Disbursal", "/disbursals", "disbursals", Permission.LOAN_OPS, 27),),
    permissions=(Permission.LOAN_OPS,),
    jobs=(
        Job(
            payout_reconciliation.PAYOUT_RECONCILIATION,
            payout_reconciliation.run_payout_reconciliation,
            payout_reconciliation.PayoutReconciliationPort,
        ),
    ),
)
