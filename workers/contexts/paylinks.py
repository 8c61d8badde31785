"""Payment links and UPI Autopay mandates (issue #15 item 2): gateway orders sent to the borrower, mandates and
their debits (`mandate-debits` job), and the gateway's payments webhook. No application of its own: each payment is
recorded on the Loan through the servicing use case; `adapters/paylink_store.py` maps gateway orders to loans."""

from __future__ import annotations

from typing import Any

from adapters.paylink_store import PaylinkStore
from api.pages import pay as pay_pages
from api.pages import paylinks as pages
from api.routes import paylinks as routes
from workers import mandate_debits
from workers.bounded_context import BoundedContext, Job

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="paylinks",
    queries=(PaylinkStore,),
    endpoints=routes.ENDPOINTS,
    pages=(*pages.PAGES, *pay_pages.PAGES),
    jobs=(Job(mandate_debits.MANDATE_DEBITS, mandate_debits.run_mandate_debits, mandate_debits.MandateJobPort),),
)
