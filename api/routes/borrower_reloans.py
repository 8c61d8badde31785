"""Borrower endpoints of re-loan offers (spec "Step 7 Re-Loan"): the signed-in borrower's own offers with what the
loan would cost, accepting one (an application is started, as staff's accept starts it) and declining one. Offers
are made on closure by the `reloan-offers` job (workers/reloan_jobs.py; docs/loan360.md)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_OR_BLANK
from api.routes.product_models import QuoteOut
from api.services.borrower_reloans import BorrowerOffer, BorrowerReloans
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import OfferStatus
from domain.shared.application import CommandResult


@dataclass(frozen=True)
class BorrowerReloanPort:
    """What the borrower's re-loan endpoints use."""

    reloans: BorrowerReloans


class DeclineIn(BaseModel):
    """Why the borrower declines (optional: `{}` records "declined by the borrower")."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None,
        max_length=500,
        description=f"Optional (blank: declined); given, {VISIBLE_MIN_REASON}",
        json_schema_extra=VISIBLE_OR_BLANK,
    )


class BorrowerOfferOut(BaseModel):
    """A re-loan offer made to the borrower on the closure of `loan_number`: the amount and tenure on the product,
    what it costs (`quote`, while pending and the product still prices it: EMI or the bullet, fees, net disbursed,
    total repayable, as the product's pricing preview computes them), and once accepted the application started."""

    id: UUID
    loan_number: str = Field(description="the closed loan the offer was made on")
    product_id: UUID
    product_name: str | None
    amount: Decimal
    tenure: int
    tenure_unit: str | None = Field(description="months (EMI products) or days (payday)")
    previous_amount: Decimal = Field(description="what the closed loan lent")
    status: OfferStatus
    quote: QuoteOut | None = Field(None, description="the loan's cost on the product today (pending offers only)")
    expired: bool = Field(
        False,
        description="pending but past the brand's `reloan_offer_days`: accepting it is a 409, and the reloan-offers "
        "job cancels it (reason `expired`) on its next run",
    )
    asks_for_updates: bool = Field(
        False,
        description="pending, and accepting it now asks for your income and bank statement before the application is "
        "submitted (the brand's `reloan_refresh_days`: the statement on file is older); false: submitted at once",
    )
    application_id: UUID | None = Field(None, description="once accepted: the application it started")
    application_number: str | None = Field(None, description="its loan number (once the loans read model has it)")
    application_status: str | None = Field(None, description="its status, as `GET .../applications/{id}` says")
    reason: str | None = Field(None, description="why it was declined or withdrawn")
    created_at: InstantOut
    changed_at: InstantOut

    @classmethod
    def of(cls, found: BorrowerOffer) -> BorrowerOfferOut:
        o = found.offer
        return cls(
            id=o.id, loan_number=o.loan_number, product_id=o.product_id, product_name=o.product_name,
            amount=o.amount, tenure=o.tenure, tenure_unit=found.tenure_unit, previous_amount=o.previous_amount, status=OfferStatus(o.status),
            quote=QuoteOut.of(found.quote) if found.quote is not None else None, expired=found.expired,
            asks_for_updates=found.asks_for_updates,
            application_id=o.application_id,
            application_number=o.application_number, application_status=o.application_status, reason=o.reason,
            created_at=o.created_at, changed_at=o.changed_at,
        )  # fmt: skip


class BorrowerOffersOut(BaseModel):
    """The borrower's offers: pending first, then the newest."""

    items: list[BorrowerOfferOut]


def borrower_offers(ctx: Context[BorrowerReloanPort]) -> Reply:
    assert ctx.borrower is not None
    found = ctx.port.reloans.offers(ctx.brand_id, ctx.borrower.borrower_id)
    return json_response(BorrowerOffersOut(items=[BorrowerOfferOut.of(o) for o in found]))


def _answer(ctx: Context[BorrowerReloanPort], offer_id: UUID, position: int) -> Reply:
    assert ctx.borrower is not None
    borrower_id = ctx.borrower.borrower_id

    def read() -> BorrowerOfferOut | None:
        found = ctx.port.reloans.offer(ctx.brand_id, borrower_id, offer_id)
        return BorrowerOfferOut.of(found) if found is not None else None

    location = "/api/v1/borrower/reloan-offers"
    return ctx.written(CommandResult(offer_id, position), ReloanOffers.name, read, location)


def borrower_accept_offer(ctx: Context[BorrowerReloanPort]) -> Reply:
    assert ctx.borrower is not None
    accepted = ctx.port.reloans.accept(ctx.brand_id, ctx.borrower.borrower_id, ctx.path["offer_id"])
    # The answer shows the application's status: the loans read model has its submission first (bounded wait; if it
    # is still behind, the offer's own read says what the loans read model has so far).
    ctx.settled(Loans.name, accepted.loans_position)
    return _answer(ctx, accepted.result.id, accepted.result.position)


def borrower_decline_offer(ctx: Context[BorrowerReloanPort]) -> Reply:
    assert ctx.borrower is not None
    body: DeclineIn = ctx.body
    result = ctx.port.reloans.decline(ctx.brand_id, ctx.borrower.borrower_id, ctx.path["offer_id"], body.reason)
    return _answer(ctx, result.id, result.position)


_OFFER = "/api/v1/borrower/reloan-offers/{offer_id}"

ENDPOINTS = serve(
    BorrowerReloanPort,
    "borrower",
    [
        Endpoint(
            "GET",
            "/api/v1/borrower/reloan-offers",
            borrower_offers,
            "The borrower's own re-loan offers in their brand, pending first: amount, tenure, product, and what the "
            "loan costs (EMI, fees, net disbursed) while pending",
            None,
            response=BorrowerOffersOut,
            borrower=True,
        ),
        Endpoint(
            "POST",
            f"{_OFFER}/accept",
            borrower_accept_offer,
            "Accept the borrower's own offer: an application for the offered amount and tenure is started on the same "
            "product (KYC on file) and the offer approved with it; 409 unless pending (two at once: one application, "
            "the other 409); another borrower's or brand's offer 404",
            None,
            response=BorrowerOfferOut,
            errors=(409,),
            accepts=True,
            borrower=True,
        ),
        Endpoint(
            "POST",
            f"{_OFFER}/decline",
            borrower_decline_offer,
            'Decline the borrower\'s own offer (`{}` or `{"reason"}`): rejected; 409 unless pending',
            None,
            body=DeclineIn,
            response=BorrowerOfferOut,
            errors=(409,),
            accepts=True,
            borrower=True,
        ),
    ],
)
