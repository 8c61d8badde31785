"""The `reloan-offers` job (issue #15 item 5): for each closed loan of the brand still without an offer, make the
offer when the brand's `automated_reloan` is on and the borrower is eligible (api/services/reloans.py), then tell
the borrowers of the offers made (and still pending) in the last days through the engagement context
(api/services/reloan_notices.py: the `reloan_offer` template, once per offer and channel). Every few minutes, so an
offer follows closure promptly; idempotent (one offer per closed loan, uuid5 of the loan; one message per offer
and channel, its key claimed before it is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from adapters.named_locks import NamedLocks
from api.services.reloan_notices import ReloanNotices
from api.services.reloans import ReloanDesk
from domain.identity.application import Identity
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from projections.engine import ProjectionEngine
from projections.reloans import ReloanOfferQueries

DEFINITION = JobDefinition(
    name="reloan-offers",
    title="Re-loan offers",
    description="Offers a re-loan on each closed loan when the brand's automated_reloan is on and the borrower is "
    "eligible (never NPA, the BRE rules still passed on the recorded facts), raised by the brand's reloan_hike, and "
    "tells the borrower (the reloan_offer template by SMS, WhatsApp and email, once per offer and channel).",
    defaults=JobSettings(cron="*/10 * * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
)


@dataclass(frozen=True)
class ReloanJobPort:
    """What the job uses (filled by type)."""

    loans: Loans
    offers: ReloanOffers
    identity: Identity
    queries: ReloanOfferQueries
    engine: ProjectionEngine
    locks: NamedLocks
    notices: ReloanNotices


def run(port: ReloanJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """One batch of the brand's closed loans without an offer (nothing to do when re-loans are not automated), then
    the offers' notifications."""
    brand_id = job_run.brand_id
    if not port.identity.configuration(brand_id).settings.automated_reloan:
        yield BatchCounts(processed=0, succeeded=0), None
        return
    port.engine.caught_up(Loans.name, 60, "re-loan offers")
    port.engine.caught_up(ReloanOffers.name, 60, "re-loan offers")
    desk = ReloanDesk(port.loans, port.offers, port.identity, port.locks)
    loan_ids = port.queries.closed_without_offer(brand_id, job_run.settings.batch_size)
    made = sum(1 for loan_id in loan_ids if desk.offer_for(brand_id, loan_id) is not None)
    yield BatchCounts(processed=len(loan_ids), succeeded=made, skipped=len(loan_ids) - made), None
    # The offers just made (and any a run before could not tell of) as the read model shows them.
    port.engine.caught_up(ReloanOffers.name, 60, "re-loan offer notices")
    offers, sent, refused = port.notices.notify_pending(brand_id, job_run.settings.batch_size)
    yield BatchCounts(processed=offers, succeeded=sent, skipped=refused), None  # refused: e.g. no email address
