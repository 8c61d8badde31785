"""A payment link sent by collection staff (the spec: a collection executive may "Send payment links to customers
via SMS/WhatsApp"): the payment-link use case (`api.services.paylinks.Paylinks.create`: the amount due now unless
given, never above the payoff, sent by SMS or WhatsApp), allowed by the collections desk's own rule - COLLECTIONS
or a stage's permission at WRITE declared, then the loan's stage permission at WRITE and, unless a manager, only a loan allocated to the caller
(`guard`: another's loan is a 404, like another brand's). Ops keep `POST /api/v1/loans/{id}/payment-links`
(LOAN_OPS WRITE) for any loan; collectors are given no LOAN_OPS."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from api.endpoint import Context, Endpoint, Reply, serve
from api.routes.collections import DESK_WRITE, CollectionsPort, guard
from api.routes.disbursals import public_base
from api.routes.paylink_models import PaymentLinkIn, PaymentLinkOut
from api.routes.paylinks import WEBHOOK_PATH
from api.services.paylinks import Paylinks
from domain.identity.permissions import Level
from domain.identity.principal import Principal


@dataclass(frozen=True)
class CollectionPaylinkPort:
    """The collections desk (who may work the loan) and the payment links."""

    desk: CollectionsPort
    paylinks: Paylinks


def send_collection_link(
    port: CollectionPaylinkPort, principal: Principal, loan_id: UUID, amount: Any, channel: str, callback: str
) -> Any:
    """Create and send a payment link for a loan the principal may work (CollectionCaseNotFound, a 404, otherwise;
    a 403 without the loan's stage permission at WRITE): the desk's check first, so a refusal sends nothing."""
    guard(port.desk, principal, loan_id, Level.WRITE)
    return port.paylinks.create(principal.brand_id, loan_id, amount, channel, callback)


def create_collection_link(ctx: Context[CollectionPaylinkPort]) -> Reply:
    body: PaymentLinkIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    callback = public_base(ctx.request) + WEBHOOK_PATH
    link = send_collection_link(ctx.port, ctx.principal, loan_id, body.amount, body.channel, callback)
    return Reply(link.__dict__, 201, {"Location": f"/api/v1/loans/{loan_id}/payment-links"})


ENDPOINTS = serve(
    CollectionPaylinkPort,
    "collections",
    [
        Endpoint(
            "POST",
            "/api/v1/loans/{loan_id}/collection-payment-links",
            create_collection_link,
            "Collection staff create a payment link for a loan they work and send it to the borrower by SMS or "
            "WhatsApp (amount: what is due now unless given, never above the payoff): the loan's stage permission "
            "at WRITE, and an executive only for a loan allocated to them (another's: 404)",
            DESK_WRITE,
            body=PaymentLinkIn,
            response=PaymentLinkOut,
            status=201,
            errors=(404, 409),
        ),
    ],
)
