"""Re-loans across contexts (issue #15 item 5): whether a closed loan earns an offer (the brand's
`automated_reloan` on; the loan never NPA; the product's current BRE rules still passed on the facts recorded at
its submission, under the brand's current policy), the offer with the brand's `reloan_hike`, and accepting it,
which starts an application for the offered amount (KYC is on the borrower's record already, so the application
goes through the funnel's remaining steps only)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from adapters.named_locks import NamedLocks
from domain.identity.application import Identity
from domain.loans import bre
from domain.loans.application import Loans
from domain.loans.loan import Channel, Loan
from domain.loans.servicing_events import DayClosed
from domain.loans.states import LoanStatus
from domain.reloans.application import ReloanOffers, application_id
from domain.reloans.offer import OfferStatus, expiry_cutoff
from domain.shared.application import CommandResult
from domain.shared.errors import Conflict

NPA = "NPA"
#: How long a decision on an offer waits for another on the same offer (an accept holds it while it starts the
#: application, which may wait on the borrower's count itself).
DECIDING_SECONDS = 10.0


@dataclass(frozen=True)
class OfferAccepted(CommandResult):
    """An accepted offer: the offer's write (`id`, `position` in the offers' log) and the loans log position of the
    application it started (`loans_position`), so an answer waits for both read models."""

    loans_position: int = 0


@dataclass(frozen=True)
class ReloanDesk:
    """Offers on closure and their acceptance (filled by type into ports)."""

    loans: Loans
    offers: ReloanOffers
    identity: Identity
    locks: NamedLocks

    def ineligible(self, brand_id: UUID, loan: Loan) -> str | None:
        """Why the closed loan earns no offer, or None when it does."""
        if loan.status is not LoanStatus.COMPLETED:
            return f"the loan is {loan.status.words}, not completed"
        if any(
            isinstance(e, DayClosed) and e.asset_class == NPA for e in self.loans.repository.event_store.get(loan.id)
        ):
            return "the loan was NPA"
        if loan.facts is None:
            return "the loan has no recorded BRE facts"
        product = self.loans.catalogue.current(brand_id, loan.product_id)
        if not product.active:
            return "the product is no longer offered"
        today = self.loans.parties.business_date(brand_id)
        outcome = bre.evaluate(product.bre_rules, loan.recorded_facts(), self.loans.parties.policy(brand_id), today)
        if not outcome.passed:
            return "BRE rules no longer passed: " + ", ".join(str(r.rule) for r in outcome.failed)
        return None

    def offer_for(self, brand_id: UUID, loan_id: UUID) -> CommandResult | None:
        """Make the closed loan's offer when the brand automates re-loans and the borrower is eligible; None when no
        offer is due or the loan already has one (idempotent per closed loan)."""
        settings = self.identity.settings(brand_id)
        if not settings.automated_reloan:
            return None
        loan = self.loans.get(brand_id, loan_id)
        if self.ineligible(brand_id, loan) is not None:
            return None
        hike = settings.reloan_hike
        previous = getattr(loan, "sanctioned_amount", None) or loan.amount  # what was lent
        # What the product takes today: the offer is accepted as an application on its current version, so the
        # raised amount stops at its largest amount and the tenure is kept within its range.
        product = self.loans.catalogue.current(brand_id, loan.product_id)
        tenure = min(max(loan.tenure, product.min_tenure), product.max_tenure)
        return self.offers.offer(
            brand_id, loan.id, loan.loan_number, loan.customer_id, loan.product_id, tenure, previous,
            str(getattr(hike.kind, "value", hike.kind)), hike.value, product.max_amount,
        )  # fmt: skip

    def accept(self, brand_id: UUID, offer_id: UUID, channel: Channel = Channel.STAFF) -> OfferAccepted:
        """The borrower accepts: an application for the offered amount and tenure is started on the same product and
        the offer approved with it (409 unless pending). The application's id is the offer's own
        (`application_id`): of two accepts at once the second cannot start another (409), and an accept whose
        approval failed after the application was started approves that one when retried. The offer is held
        (`deciding`) from its check to its approval, so a rejection or withdrawal at the same moment comes before
        (nothing started) or after (409), never between the application and the approval. The answer carries the
        loans log position of the application (`loans_position`), so a caller answers once the loans read model
        has it too: a client reading the new application at once finds it (it could get a 404 for a moment)."""
        with self._deciding(offer_id):
            offer = self.offers.get(brand_id, offer_id)
            if offer.status is not OfferStatus.PENDING:
                raise Conflict(f"cannot accept a re-loan offer that is {offer.status.value}", id=str(offer_id))
            self._require_unexpired(brand_id, offer.id, offer.created_on)
            started = application_id(offer.id)
            if self.loans.find(started) is None:
                created = self.loans.create(
                    brand_id, offer.customer_id, offer.product_id, offer.amount, offer.tenure, None, channel, started
                )
                loans_position = created.position
            else:  # started by an accept whose approval failed: its position is not known, the log's head covers it
                loans_position = self.loans.recorder.max_notification_id() or 0
            approved = self.offers.approve(brand_id, offer_id, started)
            return OfferAccepted(approved.id, approved.position, approved.changed, loans_position)

    def expiry_cutoff(self, brand_id: UUID) -> datetime | None:
        """The brand's offers made before this instant have expired (None: they never expire), as of now."""
        settings = self.identity.settings(brand_id)
        today = self.loans.parties.business_date(brand_id)
        return expiry_cutoff(settings.reloan_offer_days, settings.timezone, today, self.offers.clock.now())

    def _require_unexpired(self, brand_id: UUID, offer_id: UUID, made_at: datetime) -> None:
        """409 when the offer was made before the brand's `reloan_offer_days` cutoff: it has expired, though the
        `reloan-offers` job (every few minutes) has not cancelled it yet. Nothing is written: the job cancels it."""
        cutoff = self.expiry_cutoff(brand_id)
        if cutoff is not None and made_at < cutoff:
            days = self.identity.settings(brand_id).reloan_offer_days
            raise Conflict(f"the re-loan offer expired: offers stay open {days} day(s)", id=str(offer_id))

    def reject(self, brand_id: UUID, offer_id: UUID, reason: str) -> CommandResult:
        """The borrower declines (409 unless pending), the offer held as `accept` holds it."""
        with self._deciding(offer_id):
            return self.offers.reject(brand_id, offer_id, reason)

    def cancel(self, brand_id: UUID, offer_id: UUID, reason: str) -> CommandResult:
        """Staff withdraw the offer (409 unless pending), the offer held as `accept` holds it."""
        with self._deciding(offer_id):
            return self.offers.cancel(brand_id, offer_id, reason)

    def _deciding(self, offer_id: UUID) -> AbstractContextManager[None]:
        def busy() -> Exception:
            return Conflict("the re-loan offer is being decided right now; try again", id=str(offer_id))

        return self.locks.holding([f"reloan-offer:{offer_id}"], DECIDING_SECONDS, busy)
