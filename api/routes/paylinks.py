"""Payment link and UPI Autopay mandate endpoints (issue #15 item 2) and the gateway's payments webhook.
The use cases are `api.services.paylinks.Paylinks` and `api.services.mandates.Mandates`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio.from_thread

from adapters.paylink_store import Mandate
from adapters.webhooks import MALFORMED_HEADER, MISSING_HEADER, WebhookRejected
from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import read_body
from api.routes.disbursal_models import WebhookOut
from api.routes.disbursals import public_base
from api.routes.paylink_models import (
    MandateIn,
    MandateListOut,
    MandateOut,
    PaymentLinkIn,
    PaymentLinkListOut,
    PaymentLinkOut,
)
from api.services.paylinks import Paylinks
from domain.identity.permissions import Level, Permission

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)
WEBHOOK_PATH = "/api/v1/webhooks/payments"
_LOAN = "/api/v1/loans/{loan_id}"


@dataclass(frozen=True)
class PaylinkPort:
    """What the payment link and mandate endpoints use."""

    paylinks: Paylinks


def create_link(ctx: Context[PaylinkPort]) -> Reply:
    body: PaymentLinkIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    link = ctx.port.paylinks.create(ctx.brand_id, loan_id, body.amount, body.channel,
                                    public_base(ctx.request) + WEBHOOK_PATH)  # fmt: skip
    return Reply(link.__dict__, 201, {"Location": f"{_LOAN.format(loan_id=loan_id)}/payment-links"})


def list_links(ctx: Context[PaylinkPort]) -> Reply:
    links = ctx.port.paylinks.links(ctx.brand_id, ctx.path["loan_id"])
    return json_response({"items": [link.__dict__ for link in links]})


def _mandate(ctx: Context[PaylinkPort], mandate: Mandate, approval_url: str | None = None) -> dict[str, Any]:
    out = {k: v for k, v in mandate.__dict__.items() if k not in ("brand_id", "gateway_id")}
    debits = ctx.port.paylinks.store.debits(mandate.id)
    return {**out, "approval_url": approval_url, "debits": [d.__dict__ for d in debits]}


def register_mandate(ctx: Context[PaylinkPort]) -> Reply:
    body: MandateIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    mandate, url = ctx.port.paylinks.mandates.register(ctx.brand_id, loan_id, body.vpa, body.max_amount,
                                                       body.frequency, public_base(ctx.request) + WEBHOOK_PATH)  # fmt: skip
    return Reply(_mandate(ctx, mandate, url), 201, {"Location": f"{_LOAN.format(loan_id=loan_id)}/mandates"})


def list_mandates(ctx: Context[PaylinkPort]) -> Reply:
    mandates = ctx.port.paylinks.mandates.of_loan(ctx.brand_id, ctx.path["loan_id"])
    return json_response({"items": [_mandate(ctx, m) for m in mandates]})


def revoke_mandate(ctx: Context[PaylinkPort]) -> Reply:
    mandate = ctx.port.paylinks.mandates.revoke(ctx.brand_id, ctx.path["loan_id"], ctx.path["mandate_id"])
    return json_response(_mandate(ctx, mandate))


def payments_webhook(ctx: Context[PaylinkPort]) -> Reply:
    raw = anyio.from_thread.run(read_body, ctx.request)
    try:
        outcome = ctx.port.paylinks.webhook(raw, ctx.request.headers)
    except WebhookRejected as rejected:  # unsigned: a malformed request (400); forged or stale: 401
        status = 400 if rejected.reason in (MISSING_HEADER, MALFORMED_HEADER) else 401
        raise HttpProblem(status, rejected.detail, "invalid-signature", reason=rejected.reason) from None
    return json_response(outcome)


ENDPOINTS = serve(
    PaylinkPort,
    "paylinks",
    [
        Endpoint(
            "POST",
            f"{_LOAN}/payment-links",
            create_link,
            "Create a payment link at the gateway (amount: what is due now unless given, never above the payoff) "
            "and send it to the borrower by SMS or WhatsApp; the gateway's webhook records the payment once",
            WRITE,
            body=PaymentLinkIn,
            response=PaymentLinkOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/payment-links",
            list_links,
            "A loan's payment links and their state",
            READ,
            response=PaymentLinkListOut,
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/mandates",
            register_mandate,
            "Register a UPI Autopay mandate (UPI id, max amount, frequency): registered, active once the payer "
            "approves it (the gateway's webhook); the mandate-debits job presents due instalments",
            WRITE,
            body=MandateIn,
            response=MandateOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/mandates",
            list_mandates,
            "A loan's mandates and their debits",
            READ,
            response=MandateListOut,
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/mandates/{{mandate_id}}/revoke",
            revoke_mandate,
            "Revoke a mandate (at the gateway too); 409 when revoked already",
            WRITE,
            response=MandateOut,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            WEBHOOK_PATH,
            payments_webhook,
            "The payment gateway's signed payments webhook (payment.captured, payment.failed of payment links and "
            "mandate debits; mandate.activated, mandate.revoked)",
            None,
            response=WebhookOut,
            public=True,
            errors=(400, 401, 409, 422),
        ),
    ],
)

__all__ = ["WEBHOOK_PATH"]
