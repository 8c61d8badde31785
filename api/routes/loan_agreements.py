"""The loan agreement and e-sign endpoints: resend the e-sign link, download the agreement PDF, and the e-sign
provider's webhook (public: authenticated by its signature, docs/loans.md "Agreement and e-sign")."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import anyio.from_thread
from starlette.responses import Response

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.request_input import read_body
from api.routes.agreement_models import AgreementOut, WebhookAckOut, with_agreement
from api.routes.loans import LoanOut
from api.services.agreements import WEBHOOK_PATH, AgreementService
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from projections.loan_agreements import AgreementQueries
from projections.loan_queries import LoanQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOANS, Level.WRITE)  # credit executives, sanction managers and heads, admins


@dataclass(frozen=True)
class AgreementPort:
    """What the agreement endpoints use: the e-sign flow and the loans' read models."""

    service: AgreementService
    loans: Loans
    queries: LoanQueries
    agreements: AgreementQueries


def _loan(ctx: Context[AgreementPort], loan_id: UUID) -> object | None:
    parties = ctx.port.loans.parties
    found = ctx.port.queries.loan(
        ctx.brand_id, loan_id, parties.repayment_calendar(ctx.brand_id), parties.business_date(ctx.brand_id)
    )
    return with_agreement(found, ctx.port.agreements.esign(ctx.brand_id, loan_id) if found else None)


def resend_esign_link(ctx: Context[AgreementPort]) -> Reply:
    loan_id: UUID = ctx.path["loan_id"]
    result = ctx.port.service.agreements.issue(ctx.brand_id, loan_id)
    return ctx.written(result, Loans.name, lambda: _loan(ctx, loan_id), f"/api/v1/loans/{loan_id}")


def download_agreement(ctx: Context[AgreementPort]) -> Response:
    stored = ctx.port.service.agreements.document(ctx.brand_id, ctx.path["loan_id"])
    return Response(
        stored.data,
        200,
        {
            "Content-Disposition": f'attachment; filename="agreement-{stored.loan_number}.pdf"',
            "X-Document-SHA256": stored.sha256,
            "ETag": f'"{stored.sha256}"',
            "Cache-Control": "private, no-store",
        },
        media_type="application/pdf",
    )


def esign_webhook(ctx: Context[AgreementPort]) -> Reply:
    # The body is read here, as bytes: the signature covers them exactly (the endpoint declares no body model).
    raw = anyio.from_thread.run(read_body, ctx.request)
    return json_response(ctx.port.service.receive_webhook(raw, ctx.request.headers))


ENDPOINTS = serve(
    AgreementPort,
    "loans",
    [
        Endpoint(
            "POST",
            "/api/v1/loans/{loan_id}/esign-link",
            resend_esign_link,
            "Send a fresh e-sign link for the sanctioned loan's agreement (the same document; a new link)",
            WRITE,
            response=LoanOut,
            accepts=True,
            errors=(503,),
        ),
        Endpoint(
            "GET",
            "/api/v1/loans/{loan_id}/agreement",
            download_agreement,
            "The loan agreement PDF as issued (its SHA-256 in X-Document-SHA256 and the ETag)",
            READ,
            response=AgreementOut,  # never rendered: the answer is the PDF itself
            media=("application/pdf",),
        ),
        Endpoint(
            "POST",
            WEBHOOK_PATH,
            esign_webhook,
            "The e-sign provider's signed callback (X-Timestamp, X-Signature v1=HMAC-SHA256; no API key)",
            None,
            response=WebhookAckOut,
            public=True,
            errors=(400, 401, 409, 422),
        ),
    ],
)
