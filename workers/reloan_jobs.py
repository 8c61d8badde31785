"""The `reloan-offers` job (issue #15 item 5): for each closed loan of the brand still without an offer, make the
offer when the brand's `automated_reloan` is on and the borrower is eligible (api/services/reloans.py), then tell
the borrowers of the offers made (and still pending) in the last days through the engagement context
(api/services/reloan_notices.py: the `reloan_offer` template, once per offer and channel). First it cancels, with
the reason "expired", the offers still pending after the brand's `reloan_offer_days` (unset: offers never expire).
Every few minutes, so an offer follows closure promptly; idempotent (one offer per closed loan, uuid5 of the loan;
one message per offer and channel, its key claimed before it is sent; an expired offer is no longer pending)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import structlog

from adapters.named_locks import NamedLocks
from api.services.reloan_notices import ReloanNotices
from api.services.reloans import ReloanDesk
from domain.identity.application import Identity
from domain.identity.brand_config import BrandSettings
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import expiry_cutoff
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict
from projections.engine import ProjectionEngine
from projections.reloans import ReloanOfferQueries

log = structlog.get_logger(__name__)

#: The reason an offer left unanswered past the brand's `reloan_offer_days` is cancelled with.
EXPIRED = "expired"

DEFINITION = JobDefinition(
    name="reloan-offers",
    title="Re-loan offers",
    description="Offers a re-loan on each closed loan when the brand's automated_reloan is on and the borrower is "
    "eligible (never NPA, the BRE rules still passed on the recorded facts), raised by the brand's reloan_hike, and "
    "tells the borrower (the reloan_offer template by SMS, WhatsApp and email, once per offer and channel); first "
    "cancels as expired the offers still pending after the brand's reloan_offer_days.",
    defaults=JobSettings(cron="*/10 * * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
    waits_for_close=True,  # reads a closed loan's class history (never NPA), which the close of business records
)
ACTOR = f"job:{DEFINITION.name}"


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


def expire(port: ReloanJobPort, job_run: JobRun, settings: BrandSettings) -> Iterator[tuple[BatchCounts, str | None]]:
    """Cancel the brand's offers still pending past its `reloan_offer_days` with the reason "expired", the job as
    the actor, one batch at a time (oldest first). Each is cancelled as staff cancel (`ReloanDesk.cancel`: held
    against an accept at the same moment); one decided meanwhile is skipped (409), and a rerun finds none left."""
    cutoff = expiry_cutoff(settings.reloan_offer_days, settings.timezone, job_run.as_of, port.offers.clock.now())
    if cutoff is None:
        return
    brand_id = job_run.brand_id
    port.engine.caught_up(ReloanOffers.name, 60, "re-loan offer expiry")
    desk = ReloanDesk(port.loans, port.offers, port.identity, port.locks)
    after = None
    while page := port.queries.pending_before(brand_id, cutoff, after, job_run.settings.batch_size):
        cancelled = 0
        with acting_as(ACTOR):
            for offer in page:
                try:
                    desk.cancel(brand_id, offer.id, EXPIRED)
                    cancelled += 1
                except Conflict as exc:  # accepted or declined meanwhile, or being decided right now
                    log.info("reloan.expiry_skipped", offer=str(offer.id), reason=exc.message)
        yield BatchCounts(processed=len(page), succeeded=cancelled, skipped=len(page) - cancelled), None
        after = (page[-1].created_at, page[-1].id)


def run(port: ReloanJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The expired offers cancelled, then one batch of the brand's closed loans without an offer (nothing to do
    when re-loans are not automated), then the offers' notifications."""
    brand_id = job_run.brand_id
    settings = port.identity.settings(brand_id)
    yield from expire(port, job_run, settings)
    if not settings.automated_reloan:
        yield BatchCounts(processed=0, succeeded=0), None
        return
    port.engine.caught_up(Loans.name, 60, "re-loan offers")
    port.engine.caught_up(ReloanOffers.name, 60, "re-loan offers")
    desk = ReloanDesk(port.loans, port.offers, port.identity, port.locks)
    now = port.offers.clock.now()
    loan_ids = port.queries.closed_without_offer(brand_id, now, job_run.settings.batch_size)
    without = [loan_id for loan_id in loan_ids if desk.offer_for(brand_id, loan_id) is None]
    port.queries.note_checked(brand_id, without, now)  # looked at again a day later; the next closures come first
    made = len(loan_ids) - len(without)
    yield BatchCounts(processed=len(loan_ids), succeeded=made, skipped=len(without)), None
    # The offers just made (and any a run before could not tell of) as the read model shows them.
    port.engine.caught_up(ReloanOffers.name, 60, "re-loan offer notices")
    offers, sent, refused = port.notices.notify_pending(brand_id, job_run.settings.batch_size)
    # The unit is the message (an offer is told on each of its channels); refused: e.g. no email address.
    log.info("reloan.offers_notified", brand=str(brand_id), offers=offers, sent=sent, refused=refused)
    yield BatchCounts(processed=sent + refused, succeeded=sent, skipped=refused), None
