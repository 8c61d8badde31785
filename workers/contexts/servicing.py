"""Loan servicing (issue #15): repayments and reversals, the payoff quote, the ledger, the close-of-business job
(`loan-cob`). No application of its own: the Loan aggregate records every fact (`domain.loans`)."""

from __future__ import annotations

from typing import Any

from api.routes import servicing as routes
from workers.bounded_context import BoundedContext

CONTEXT: BoundedContext[Any] = BoundedContext(
    application=None,
    label="servicing",
    endpoints=routes.ENDPOINTS,
)
