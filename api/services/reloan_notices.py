"""Telling a borrower of their re-loan offer (spec "Step 7 Re-Loan"): the brand's `reloan_offer` template (a kind
of the engagement context: defaults in English and Hindi, editable and versioned, WhatsApp approved) on each of its
channels, sent through `Engagement.send` - so opt-outs, quiet hours, the borrower's language, delivery receipts and
retries apply as to every borrower message - with the amount and the link to the web flow's status page, where the
borrower accepts or declines it. Exactly once per offer and channel: the message's key is claimed before it is
sent, so the job's reruns send nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import structlog

from api.services.engagement import Engagement
from api.services.engagement_delivery import public_base
from domain.engagement.defaults import kind_channels
from domain.engagement.templates import Channel, Kind
from domain.shared.errors import DomainError
from domain.shared.rupees import rupees
from projections.reloans import OfferRow, ReloanOfferQueries

log = structlog.get_logger(__name__)

#: Offers made this long ago and still pending are told of on the next run (a run missed, a provider down).
NOTICE_WINDOW = timedelta(days=3)


def notice_key(offer_id: UUID, channel: Channel) -> str:
    """The idempotency key of an offer's message on a channel (`auto:` is prefixed by the engagement context)."""
    return f"reloan_offer:{offer_id}:{channel.value}"


@dataclass(frozen=True)
class ReloanNotices:
    """Offer notifications (filled by type into the `reloan-offers` job's port)."""

    engagement: Engagement
    queries: ReloanOfferQueries

    def channels(self, brand_id: UUID) -> tuple[Channel, ...]:
        """The brand's channels for offers (its `notification_channels`, else SMS, WhatsApp and email)."""
        named = self.engagement.identity.settings(brand_id).notification_channels.get(Kind.RELOAN_OFFER.value)
        return tuple(Channel(c) for c in named) if named is not None else kind_channels(Kind.RELOAN_OFFER)

    def notify(self, brand_id: UUID, offer: OfferRow) -> tuple[int, int]:
        """Send the offer's message on each of the brand's channels (once per channel: a repeat returns the first
        message); (channels sent or already sent, channels refused - no email address, no usable template)."""
        slug = self.engagement.identity.brand(brand_id).slug
        values = {"amount": rupees(offer.amount), "offer_link": f"{public_base()}/apply/{slug}/status"}
        done = refused = 0
        for channel in self.channels(brand_id):
            try:
                self.engagement.send(
                    brand_id, offer.customer_id, channel, idempotency_key=notice_key(offer.id, channel),
                    kind=Kind.RELOAN_OFFER, variables=values, loan_id=offer.loan_id, source="auto",
                )  # fmt: skip
                done += 1
            except DomainError as exc:  # this channel cannot reach the borrower; the others still go
                log.info("reloan.notice_refused", offer=str(offer.id), channel=channel.value, reason=exc.message)
                refused += 1
        return done, refused

    def notify_pending(self, brand_id: UUID, limit: int = 200) -> tuple[int, int, int]:
        """Tell the borrowers of the brand's offers made within `NOTICE_WINDOW` and still pending (those told before
        are found by their keys and sent nothing); (offers, channels sent, channels refused)."""
        since = self.engagement.clock.now() - NOTICE_WINDOW
        offers = sent = refused = 0
        after = None
        while page := self.queries.pending_since(brand_id, since, after, limit):
            for offer in page:
                done, failed = self.notify(brand_id, offer)
                offers, sent, refused = offers + 1, sent + done, refused + failed
            after = (page[-1].created_at, page[-1].id)
        return offers, sent, refused
