"""Re-loan offers as their borrower sees and answers them (spec "Step 7 Re-Loan": the borrower takes up the offer
made on closure): the signed-in borrower's own offers in their brand with what the loan would cost (the product's
pricing preview, as staff's quote shows it), accepting one (the staff accept's use case: the same application, the
same hold on the offer) and declining one. Another borrower's or brand's offer is a 404, never a hint that it
exists."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from api.services.reloans import ReloanDesk
from domain.loans.loan import Channel
from domain.loans.terms import LoanKind
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from domain.products.application import Products
from domain.products.quote import Quote
from domain.products.terms import tenure_unit
from domain.reloans.offer import OfferStatus, ReloanOfferNotFound
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError
from projections.reloans import BorrowerOfferRow, ReloanOfferQueries

log = logging.getLogger(__name__)

#: The reason recorded when the borrower declines without giving one.
DECLINED = "declined by the borrower"


@dataclass(frozen=True)
class BorrowerOffer:
    """An offer of the borrower's and, while it is pending, what the loan would cost (None when the product no
    longer prices it: withdrawn, or the amount or tenure now outside its ranges)."""

    offer: BorrowerOfferRow
    quote: Quote | None
    #: Pending, but made before the brand's `reloan_offer_days` cutoff: accepting it is refused (409) and the
    #: `reloan-offers` job cancels it on its next run, so the borrower is not offered the Accept button.
    expired: bool = False
    #: Pending, and accepting it now asks for the borrower's income and bank statement before the application is
    #: submitted (the brand's `reloan_refresh_days`: the statement on file is older).
    asks_for_updates: bool = False

    @property
    def tenure_unit(self) -> str | None:
        """What the tenure counts (None when the product is not in the read model)."""
        kind = self.offer.product_kind
        return tenure_unit(LoanKind(kind)) if kind else None


@dataclass(frozen=True)
class AcceptedOffer:
    """The borrower's acceptance: the offer's write and the loans log position of the application - of its
    submission when it went on to the BRE, else of its start - so an answer can wait for both read models."""

    result: CommandResult
    loans_position: int = 0
    #: The step the borrower gives next before the application is submitted (their income or bank statement: the
    #: brand's `reloan_refresh_days`), or None when it went on to the BRE at once.
    next_step: Step | None = None


@dataclass(frozen=True)
class BorrowerReloans:
    """The borrower's side of re-loan offers (filled by type into the borrower API's and web flow's ports)."""

    onboarding: Onboarding
    desk: ReloanDesk
    queries: ReloanOfferQueries
    products: Products

    def offers(self, brand_id: UUID, borrower_id: UUID) -> list[BorrowerOffer]:
        """The borrower's offers in the brand, pending first (each with its quote), then the decided ones."""
        funnel = self.onboarding.funnel(brand_id, borrower_id)
        customer = self.onboarding.record_shown(funnel)
        if customer is None:  # no Customer 360 record of theirs yet (or one found by the PAN alone): no offer
            return []
        cutoff = self.desk.expiry_cutoff(brand_id)
        rows = self.queries.of_customer(brand_id, customer)
        asks = any(r.status == OfferStatus.PENDING.value for r in rows) and self.onboarding.reloan_asks_again(funnel)
        return [self._with_quote(brand_id, row, cutoff, asks) for row in rows]

    def offer(self, brand_id: UUID, borrower_id: UUID, offer_id: UUID) -> BorrowerOffer | None:
        """One offer of the borrower's as the read model shows it (None when it is not theirs, or not there yet)."""
        funnel = self.onboarding.funnel(brand_id, borrower_id)
        customer = self.onboarding.record_shown(funnel)
        row = self.queries.of_customer_one(brand_id, customer, offer_id) if customer is not None else None
        if row is None:
            return None
        asks = row.status == OfferStatus.PENDING.value and self.onboarding.reloan_asks_again(funnel)
        return self._with_quote(brand_id, row, self.desk.expiry_cutoff(brand_id), asks)

    def accept(self, brand_id: UUID, borrower_id: UUID, offer_id: UUID) -> AcceptedOffer:
        """Accept the borrower's own offer: what staff's accept does (an application for the offered amount and
        tenure on the same product, the offer approved with it; 409 unless pending, and of two at once the second),
        the application on the borrower channel - and then submitted through the BRE, as the funnel's submitted
        step would (pending in the CX's queue, or rejected by the BRE). When the submission fails (the bureau
        down), the offer stays accepted and the application waits in onboarding for staff's submit. Where the
        brand's `reloan_refresh_days` asks for it, the borrower first gives their income and bank statement again
        (`Onboarding.ask_again_for_reloan`) and the funnel's submitted step submits the application."""
        self._require_own(brand_id, borrower_id, offer_id)
        accepted = self.desk.accept(brand_id, offer_id, Channel.BORROWER)
        started = self.desk.offers.get(brand_id, offer_id).application_id
        if started is not None:
            try:
                asked = self.onboarding.ask_again_for_reloan(brand_id, borrower_id, started, offer_id)
            except DomainError as exc:  # the funnel kept changing under it: the application waits for staff
                log.warning("re-loan application %s accepted but its funnel not opened: %s", started, exc)
                return AcceptedOffer(accepted, accepted.loans_position)
            if asked is not None:  # their income and bank statement first: the funnel's submitted step submits it
                return AcceptedOffer(accepted, accepted.loans_position, next_step=asked)
            try:  # the borrower's KYC is on file: the application goes to credit review at once
                submitted = self.onboarding.submit_reloan(brand_id, borrower_id, started)
            except DomainError as exc:  # a bureau outage or a rule of the loans context: staff submit it later
                log.warning("re-loan application %s accepted but not submitted: %s", started, exc)
            else:
                return AcceptedOffer(accepted, max(submitted.position, accepted.loans_position))
        return AcceptedOffer(accepted, accepted.loans_position)

    def decline(self, brand_id: UUID, borrower_id: UUID, offer_id: UUID, reason: str | None) -> CommandResult:
        """Decline the borrower's own offer (rejected, with their reason or `DECLINED`); 409 unless pending."""
        self._require_own(brand_id, borrower_id, offer_id)
        given = reason if reason is not None and reason.strip() else DECLINED
        return self.desk.reject(brand_id, offer_id, given)

    def _require_own(self, brand_id: UUID, borrower_id: UUID, offer_id: UUID) -> None:
        """ReloanOfferNotFound (404) unless the offer is the brand's and made to this borrower (its borrower never
        changes, so the check holds through the decision)."""
        customer = self.onboarding.own_record(brand_id, borrower_id)  # not a record found by the PAN alone
        offer = self.desk.offers.get(brand_id, offer_id)  # another brand's: ReloanOfferNotFound
        if customer is None or offer.customer_id != customer:
            raise ReloanOfferNotFound(f"ReloanOffer {offer_id} not found", id=str(offer_id))

    def _with_quote(
        self, brand_id: UUID, row: BorrowerOfferRow, cutoff: datetime | None, asks: bool = False
    ) -> BorrowerOffer:
        if row.status != OfferStatus.PENDING.value:
            return BorrowerOffer(row, None)
        if cutoff is not None and row.created_at < cutoff:  # expired, not yet cancelled: nothing to price
            return BorrowerOffer(row, None, expired=True)
        try:
            quote = self.products.quote(brand_id, row.product_id, row.amount, row.tenure)
        except DomainError:  # the product no longer prices this loan; accepting says why (422)
            quote = None
        return BorrowerOffer(row, quote, asks_for_updates=asks)
