"""Re-loan offer endpoints (issue #15 item 5): the list by status (fixed contract `GET /api/v1/reloan-offers?status=`),
one offer, and accept (starts an application), reject, cancel. Offers are made by the `reloan-offers` job on
closure (workers/reloan_jobs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from adapters.named_locks import NamedLocks
from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.services.reloans import ReloanDesk
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import OfferStatus, ReloanOfferNotFound
from domain.shared.values import MIN_REASON
from projections.reloans import OfferRow, ReloanOfferQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOANS, Level.WRITE)


@dataclass(frozen=True)
class ReloanPort:
    """What the re-loan endpoints and pages use: the offers, the loans context (the application an acceptance
    starts), the brand's settings, and the offers read model."""

    offers: ReloanOffers
    loans: Loans
    identity: Identity
    queries: ReloanOfferQueries
    locks: NamedLocks

    @property
    def desk(self) -> ReloanDesk:
        """Offers across contexts."""
        return ReloanDesk(self.loans, self.offers, self.identity, self.locks)


class OffersQuery(BaseModel):
    """Offer filters and paging."""

    model_config = ConfigDict(extra="forbid")

    status: OfferStatus | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class ReasonIn(BaseModel):
    """Why the offer is declined or withdrawn."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class OfferOut(BaseModel):
    """A re-loan offer."""

    id: UUID
    loan_id: UUID = Field(description="the closed loan the offer was made on")
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    product_id: UUID
    tenure: int
    previous_amount: Decimal
    amount: Decimal = Field(description="the previous amount raised by the brand's reloan_hike")
    hike: str = Field(description='the hike applied, e.g. "percent 10"')
    status: OfferStatus
    application_id: UUID | None = Field(None, description="once approved: the application it started")
    reason: str | None
    changed_by: str
    created_at: InstantOut
    changed_at: InstantOut


class OfferPageOut(BaseModel):
    """Offers, newest first."""

    items: list[OfferOut]
    next_cursor: str | None


def list_offers(ctx: Context[ReloanPort]) -> Reply:
    q: OffersQuery = ctx.query
    status = q.status.value if q.status else None
    return json_response(ctx.port.queries.offers(ctx.brand_id, status, q.cursor, q.limit))


def _offer(ctx: Context[ReloanPort], offer_id: UUID) -> OfferRow | None:
    return ctx.port.queries.offer(ctx.brand_id, offer_id)


def get_offer(ctx: Context[ReloanPort]) -> Reply:
    offer_id: UUID = ctx.path["offer_id"]
    found = _offer(ctx, offer_id)
    if found is None:
        raise ReloanOfferNotFound(f"ReloanOffer {offer_id} not found", id=str(offer_id))
    return json_response(found)


def accept_offer(ctx: Context[ReloanPort]) -> Reply:
    result = ctx.port.desk.accept(ctx.brand_id, ctx.path["offer_id"])
    # The answer names the application it started: the loans read model has it first (read-your-writes), as the
    # offers' has the approval; either still behind after the bound is a 202.
    also = ((Loans.name, result.loans_position),)
    return ctx.written(result, ReloanOffers.name, lambda: _offer(ctx, result.id), also=also)


def reject_offer(ctx: Context[ReloanPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.desk.reject(ctx.brand_id, ctx.path["offer_id"], body.reason)
    return ctx.written(result, ReloanOffers.name, lambda: _offer(ctx, result.id))


def cancel_offer(ctx: Context[ReloanPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.desk.cancel(ctx.brand_id, ctx.path["offer_id"], body.reason)
    return ctx.written(result, ReloanOffers.name, lambda: _offer(ctx, result.id))


_OFFER = "/api/v1/reloan-offers/{offer_id}"

ENDPOINTS = serve(
    ReloanPort,
    "reloans",
    [
        Endpoint(
            "GET",
            "/api/v1/reloan-offers",
            list_offers,
            "Re-loan offers made on closed loans, newest first, by status (pending, approved, rejected, cancelled)",
            READ,
            query=OffersQuery,
            response=OfferPageOut,
        ),
        Endpoint("GET", _OFFER, get_offer, "One re-loan offer", READ, response=OfferOut),
        Endpoint(
            "POST",
            f"{_OFFER}/accept",
            accept_offer,
            "The borrower accepts: an application for the offered amount and tenure is started on the same product "
            "(the borrower's KYC is on file) and the offer is approved with it; 409 unless pending",
            WRITE,
            response=OfferOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{_OFFER}/reject",
            reject_offer,
            "The borrower declines the offer (with a reason); 409 unless pending",
            WRITE,
            body=ReasonIn,
            response=OfferOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{_OFFER}/cancel",
            cancel_offer,
            "Staff withdraw the offer (with a reason); 409 unless pending",
            WRITE,
            body=ReasonIn,
            response=OfferOut,
            errors=(409,),
        ),
    ],
)
