"""A loan's `disbursement` block as the API and the portal show it: the read model's payout state and attempts, and
the simulator's settle URL of the attempt in flight (while the gateway simulator runs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from uuid import UUID

from adapters.payout_store import PayoutStore
from projections.disbursal_queries import AttemptView, DisbursalQueries


@dataclass(frozen=True)
class DisbursementBlock:
    """A loan's disbursement (see `api.routes.disbursal_models.DisbursementOut`)."""

    state: str
    mode: str | None
    gateway_reference: str | None
    net_disbursed: Decimal
    reason: str | None
    exported_file_id: str | None
    disbursed_on: date | None
    attempts: list[AttemptView]
    simulator_url: str | None


@dataclass(frozen=True)
class DisbursementBlocks:
    """Reads a loan's disbursement block."""

    queries: DisbursalQueries
    store: PayoutStore

    def block(self, brand_id: UUID, loan_id: UUID) -> DisbursementBlock | None:
        """None until the loan reached the Ops queue."""
        view = self.queries.disbursement(brand_id, loan_id)
        if view is None:
            return None
        settle = None
        if view.state == "initiated" and view.gateway_reference:
            record = self.store.attempt(view.gateway_reference)
            settle = record.simulator_url if record else None
        return DisbursementBlock(
            view.state, view.mode, view.gateway_reference, view.net_disbursed, view.reason, view.exported_file_id,
            view.disbursed_on, view.attempts, settle,
        )  # fmt: skip
