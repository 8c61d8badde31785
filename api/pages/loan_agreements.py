"""Portal forms of the agreement and e-sign on the loan page: send a fresh e-sign link, download the agreement PDF
(the card itself is `templates/loan_esign.html`, shown by the loan page)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.loans import loan_page_with_error
from api.services.agreements import AgreementService
from api.web import Page, act, after_write, error_page, error_text, not_found, pages, path_id
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.shared.errors import DomainError, NotFound
from projections.identity import IdentityQueries
from projections.loan_agreements import AgreementQueries
from projections.loan_queries import LoanQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOANS, Level.WRITE)


@dataclass(frozen=True)
class AgreementPagesPort:
    """What the agreement forms use (and what the loan page needs to show a refusal)."""

    service: AgreementService
    loans: Loans
    queries: LoanQueries
    staff: IdentityQueries
    identity: Identity
    agreements: AgreementQueries


async def resend_link(request: Request, port: AgreementPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    try:
        result = await act(principal, lambda: port.service.agreements.issue(principal.brand_id, loan_id))
    except DomainError as exc:
        return await loan_page_with_error(request, port, principal, loan_id, error_text(exc))
    return await after_write(request, Loans.name, result.position, f"/loans/{loan_id}")


async def agreement_pdf(request: Request, port: AgreementPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    try:
        stored = await run_in_threadpool(port.service.agreements.document, principal.brand_id, loan_id)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # the stored document is missing or altered and the events render another: said, not 500
        return error_page(request, 409, "Agreement unavailable", error_text(exc))
    return Response(
        stored.data,
        200,
        {
            "Content-Disposition": f'inline; filename="agreement-{stored.loan_number}.pdf"',
            "X-Document-SHA256": stored.sha256,
            "Cache-Control": "private, no-store",
        },
        media_type="application/pdf",
    )


PAGES = pages(
    AgreementPagesPort,
    [
        Page("POST", "/loans/{loan_id}/esign-link", resend_link, WRITE, form=True),
        Page("GET", "/loans/{loan_id}/agreement.pdf", agreement_pdf, READ),
    ],
)
