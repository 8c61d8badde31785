"""Portal forms of servicing on the loan page (issue #15): record a repayment, download the no-due certificate, a
repayment's receipt and a settled loan's settlement letter (the card itself is `templates/loan_servicing.html`,
shown by the loan page); and the loan's ledger page (`/loans/{id}/ledger`, LOANS READ: the figures of
`GET /api/v1/loans/{id}/ledger`, a page at a time, api/services/ledger_pages.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.loans import loan_page_with_error
from api.services.ledger_pages import ledger_page
from api.services.loan_documents import LoanDocument, LoanDocuments
from api.services.no_due import NoDueCertificates
from api.web import (
    Page,
    act,
    after_write,
    error_page,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    render,
)
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.shared.errors import DomainError, Gone, InvalidValue, NotFound
from projections.identity import IdentityQueries
from projections.loan_agreements import AgreementQueries
from projections.loan_queries import LoanQueries

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)


@dataclass(frozen=True)
class ServicingPagesPort:
    """What the servicing forms use (and what the loan page needs to show a refusal)."""

    loans: Loans
    customers: Customers
    queries: LoanQueries
    staff: IdentityQueries
    identity: Identity
    agreements: AgreementQueries


def _date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidValue("paid_on", "give a date as YYYY-MM-DD") from None


async def record_repayment(request: Request, port: ServicingPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    try:
        paid_on = _date(form_text(request, "paid_on"))

        def record() -> int:
            result, _ = port.loans.record_repayment(
                principal.brand_id, loan_id, form_text(request, "amount"), form_text(request, "mode"),
                form_text(request, "reference"), paid_on,
            )  # fmt: skip
            certificates = NoDueCertificates(port.loans, port.customers, port.identity)
            return max(result.position, certificates.issued_on_closing(principal.brand_id, loan_id)[1])

        position = await act(principal, record)
    except DomainError as exc:
        return await loan_page_with_error(request, port, principal, loan_id, error_text(exc))
    return await after_write(request, Loans.name, position, f"/loans/{loan_id}")


async def no_due_pdf(request: Request, port: ServicingPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    certificates = NoDueCertificates(port.loans, port.customers, port.identity)
    try:
        pdf, _ = await act(principal, lambda: certificates.ensure(principal.brand_id, loan_id))
    except Gone as exc:  # withdrawn: a reversed payment re-opened the loan (never the old PDF)
        return error_page(request, 410, "No-due certificate withdrawn", error_text(exc))
    except (NotFound, DomainError):
        return await not_found(request)
    headers = {"Content-Disposition": 'inline; filename="no-due-certificate.pdf"', "Cache-Control": "private, no-store"}
    return Response(pdf, 200, headers, media_type="application/pdf")


def _pdf(document: LoanDocument) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{document.filename}"', "Cache-Control": "private, no-store",
               "X-Content-SHA256": document.sha256}  # fmt: skip
    return Response(document.pdf, 200, headers, media_type="application/pdf")


async def receipt_pdf(request: Request, port: ServicingPagesPort, principal: Principal) -> Response:
    loan_id, payment_id = path_id(request, "loan_id"), path_id(request, "repayment_id")
    if loan_id is None or payment_id is None:
        return await not_found(request)
    documents = LoanDocuments(port.loans, port.customers, port.identity)
    try:
        document = await act(principal, lambda: documents.receipt(principal.brand_id, loan_id, str(payment_id)))
    except NotFound:
        return await not_found(request)
    return _pdf(document)


async def settlement_letter_pdf(request: Request, port: ServicingPagesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    documents = LoanDocuments(port.loans, port.customers, port.identity)
    try:
        document = await act(principal, lambda: documents.settlement_letter(principal.brand_id, loan_id))
    except (NotFound, DomainError):  # another brand's, or not settled: the page shows no link to it
        return await not_found(request)
    return _pdf(document)


async def loan_ledger_page(request: Request, port: ServicingPagesPort, principal: Principal) -> Response:
    """The loan's ledger through the business date, oldest first, a page at a time (keyset by date and place)."""
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    brand = principal.brand_id

    def load() -> tuple[Any, Any, Any]:
        summary = port.queries.summary(brand, loan_id)
        if summary is None:
            return None, None, None
        try:
            loan = port.loans.serviced(brand, loan_id)
        except LoanNotFound:
            return None, None, None
        as_of = port.loans.parties.business_date(brand)
        return summary, as_of, keyset_page(request, lambda cursor: ledger_page(brand, loan, as_of, cursor))

    loan, as_of, rows = await run_in_threadpool(load)
    if loan is None or rows is None:
        return await not_found(request)
    return render(request, "loan_ledger.html", nav="loans", loan=loan, as_of=as_of, rows=rows)


PAGES = pages(
    ServicingPagesPort,
    [
        Page("GET", "/loans/{loan_id}/ledger", loan_ledger_page, READ),
        Page("POST", "/loans/{loan_id}/repayments", record_repayment, WRITE, form=True),
        Page("GET", "/loans/{loan_id}/no-due-certificate.pdf", no_due_pdf, READ),
        Page("GET", "/loans/{loan_id}/repayments/{repayment_id}/receipt.pdf", receipt_pdf, READ),
        Page("GET", "/loans/{loan_id}/settlement-letter.pdf", settlement_letter_pdf, READ),
    ],
)
