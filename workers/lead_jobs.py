"""The sign-up linker: a background worker that links a brand's lead to the borrower who signed up with its phone
(moving it to applied), from the queue `read.lead_signup_queue` the attribution projection fills."""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from domain.leads.application import Leads
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError
from projections.engine import ProjectionEngine
from projections.lead_queries import LeadQueries
from workers.polling import QueueDrainer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LeadJobPort:
    """What the linker uses."""

    leads: Leads
    queries: LeadQueries
    engine: ProjectionEngine  # wakes the linker when a read model moves


class SignupLinker(QueueDrainer):
    """Drains the sign-up queue (woken when a read model moves, at the latest every 10 s)."""

    failure_event = "leads.signup_link_failed"

    def __init__(self, port: LeadJobPort, interval: float = 1.0) -> None:
        super().__init__("lead-signup-linker", interval, port.engine)
        self.port = port

    def drain(self, limit: int = 100) -> int:
        """One pass over the queue; how many sign-ups it handled."""
        with self.traced_pass():
            pending = self.port.queries.pending_signups(limit)
            for signup in pending:
                try:
                    with acting_as("lead-linker"):
                        linked = self.port.leads.link_signup(signup.brand_id, signup.phone, signup.customer_id)
                except DomainError as exc:  # e.g. the lead was linked concurrently: nothing more to do
                    log.info("leads.signup_not_linked", borrower=str(signup.borrower_id), reason=exc.message)
                    linked = None
                if linked is not None:
                    log.info("leads.signup_linked", lead=str(linked.id), customer=str(signup.customer_id))
                self.port.queries.signup_done(signup)
            return len(pending)
