"""Use cases of re-loan offers: make one per closed loan (idempotent), approve with the application it started,
reject, cancel. Which loans qualify and the application itself are decided by the caller
(api/services/reloans.py), which holds the loans context too."""

from __future__ import annotations

from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.reloans.offer import ReloanOffer, ReloanOfferNotFound, hiked_amount
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ContextApplication
from domain.shared.values import MIN_REASON, clean_text

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/reloan-offers")


def offer_id(brand_id: UUID, loan_id: UUID) -> UUID:
    """The id of the offer made on a closed loan: one per loan."""
    return uuid5(_NAMESPACE, f"{brand_id}:{loan_id}")


def application_id(offer: UUID) -> UUID:
    """The id of the application accepting the offer starts: one per offer, so two accepts at once cannot start two
    (the second's is already taken: a 409), and an accept retried after a failure finds the one it started."""
    return uuid5(_NAMESPACE, f"application:{offer}")


def _reason(reason: str) -> str:
    clean = clean_text(
        reason, "reason", multiline=True, min_visible=MIN_REASON, missing="give a reason (at least 3 characters)"
    )
    return " ".join(clean.split())[:500]


class ReloanOffers(ContextApplication):
    """Re-loan offers per brand."""

    name = "reloans"

    def offer(
        self,
        brand_id: UUID,
        loan_id: UUID,
        loan_number: str,
        customer_id: UUID,
        product_id: UUID,
        tenure: int,
        previous_amount: Decimal,
        hike_kind: str,
        hike_value: Decimal,
        ceiling: Decimal | None = None,
    ) -> CommandResult | None:
        """Offer the closed loan's borrower a re-loan raised by the hike, at most `ceiling` (the product's largest
        amount: an offer above it could never be accepted); None when the loan already has its offer."""
        oid = offer_id(brand_id, loan_id)
        if self.find(oid) is not None:
            return None
        amount = hiked_amount(previous_amount, hike_kind, hike_value)
        if ceiling is not None:
            amount = min(amount, ceiling)
        made = with_id(
            ReloanOffer,
            oid,
            brand_id=brand_id,
            loan_id=loan_id,
            loan_number=loan_number,
            customer_id=customer_id,
            product_id=product_id,
            tenure=tenure,
            previous_amount=previous_amount,
            amount=amount,
            hike=f"{hike_kind} {hike_value}",
        )
        return self.commit(made)

    def get(self, brand_id: UUID, offer: UUID) -> ReloanOffer:
        """The offer, if it belongs to the brand."""
        return self.load(ReloanOffer, offer, brand_id, ReloanOfferNotFound)

    def approve(self, brand_id: UUID, offer: UUID, application_id: UUID) -> CommandResult:
        """The borrower accepted; `application_id` is the application started for it."""
        found = self.get(brand_id, offer)
        found.approve(application_id)
        return self.commit(found)

    def reject(self, brand_id: UUID, offer: UUID, reason: str) -> CommandResult:
        """The borrower declined."""
        why = _reason(reason)
        found = self.get(brand_id, offer)
        found.reject(why)
        return self.commit(found)

    def cancel(self, brand_id: UUID, offer: UUID, reason: str) -> CommandResult:
        """Staff withdrew the offer."""
        why = _reason(reason)
        found = self.get(brand_id, offer)
        found.cancel(why)
        return self.commit(found)
