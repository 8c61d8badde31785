"""Loan servicing endpoints (issue #15): staff-recorded repayments and their reversal, the payoff quote, the ledger.
Figures are the loan's events replayed (domain/loans/servicing_views.py); refusals record nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from starlette.responses import Response

from adapters.cob_store import CobStore
from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.problems import HttpProblem
from api.routes.servicing_models import (
    CobDayListOut,
    CobDaysQuery,
    LedgerOut,
    NoDueOut,
    PayoffOut,
    PayoffQuery,
    PdfDocumentOut,
    RepaymentIn,
    RepaymentListOut,
    RepaymentOut,
    RepaymentsQuery,
    ReverseIn,
)
from api.services.loan_documents import LoanDocument, LoanDocuments
from api.services.no_due import NoDueCertificates
from api.services.no_due_links import NoDueLinks
from api.services.repayment_pages import REPAYMENTS_PAGE, received_page
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.loan_servicing import NoDueCertificateWithdrawn
from domain.loans.money_received import Received, money_received
from domain.loans.servicing_views import ledger

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)


@dataclass(frozen=True)
class ServicingPort:
    """What the servicing endpoints use: the loans application (the Loan's events are the figures)."""

    loans: Loans
    customers: Customers
    identity: Identity
    cob: CobStore

    @property
    def certificates(self) -> NoDueCertificates:
        """The no-due certificates."""
        return NoDueCertificates(self.loans, self.customers, self.identity)

    @property
    def documents(self) -> LoanDocuments:
        """Repayment receipts and settlement letters."""
        return LoanDocuments(self.loans, self.customers, self.identity)


def repayment_answer(loan: Loan, payment_id: str) -> dict[str, Any]:
    """The answer about one of the loan's repayments (a RepaymentOut): what `GET /loans/{id}/repayments` lists."""
    return _repayment(loan, _received(loan, payment_id))


def _repayment(loan: Loan, received: Received) -> dict[str, Any]:
    record = received.record
    return {
        "id": record.payment_id,
        "loan_id": str(loan.id),
        "amount": record.amount,
        "mode": str(record.mode),
        "reference": record.reference,
        "paid_on": record.paid_on,
        "allocation": [a.model_dump() for a in record.allocation],
        "closes_loan": record.closes_loan,
        "status": str(loan.status),
        "payoff_after": record.payoff_after,
        "reversed_on": record.reversed_on,
        "reversal_reason": record.reversal_reason,
        "kind": str(received.kind),
        "request_id": received.request_id,
        "settlement_id": received.settlement_id,
    }


def _received(loan: Loan, payment_id: str) -> Received:
    return next(r for r in money_received(loan) if r.record.payment_id == payment_id)


def record_repayment(ctx: Context[ServicingPort]) -> Reply:
    body: RepaymentIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    result, record = ctx.port.loans.record_repayment(
        ctx.brand_id, loan_id, body.amount, body.mode, body.reference, body.paid_on
    )
    loan, issued = ctx.port.certificates.issued_on_closing(ctx.brand_id, loan_id)  # closed: its no-due certificate
    ctx.settled(Loans.name, max(result.position, issued))
    location = f"/api/v1/loans/{loan_id}/repayments/{record.payment_id}"
    return Reply(repayment_answer(loan, record.payment_id), 201, {"Location": location})


def list_repayments(ctx: Context[ServicingPort]) -> Reply:
    q: RepaymentsQuery = ctx.query
    loan = ctx.port.loans.get(ctx.brand_id, ctx.path["loan_id"])
    if q.limit is None and q.cursor is None:  # The list's answer before it was paged: every repayment, no cursor.
        return json_response({"items": [_repayment(loan, r) for r in money_received(loan)], "next_cursor": None})
    page = received_page(ctx.brand_id, loan, q.cursor, q.limit or REPAYMENTS_PAGE)
    return json_response({"items": [_repayment(loan, r) for r in page.items], "next_cursor": page.next_cursor})


def reverse_repayment(ctx: Context[ServicingPort]) -> Reply:
    body: ReverseIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    payment_id = str(ctx.path["repayment_id"])
    result = ctx.port.loans.reverse_repayment(ctx.brand_id, loan_id, payment_id, body.reason)
    ctx.settled(Loans.name, result.position)
    loan = ctx.port.loans.get(ctx.brand_id, loan_id)
    return json_response(_repayment(loan, _received(loan, payment_id)))


def get_payoff(ctx: Context[ServicingPort]) -> Reply:
    q: PayoffQuery = ctx.query
    loan_id: UUID = ctx.path["loan_id"]
    quote = ctx.port.loans.payoff(ctx.brand_id, loan_id, q.as_of)
    return json_response({"loan_id": str(loan_id), "total": quote.total, **_fields(quote)})


def _fields(quote: Any) -> dict[str, Any]:
    names = ("as_of", "overdue_penal", "overdue_interest", "overdue_principal", "principal_not_due",
             "accrued_interest", "interest_paid_ahead", "current_instalment")  # fmt: skip
    return {n: getattr(quote, n) for n in names}


def get_ledger(ctx: Context[ServicingPort]) -> Reply:
    loan_id: UUID = ctx.path["loan_id"]
    loan = ctx.port.loans.serviced(ctx.brand_id, loan_id)
    as_of = ctx.port.loans.parties.business_date(ctx.brand_id)
    postings = ledger(loan, as_of)
    items = [{**p.__dict__, "running": {**p.running.__dict__, "total": p.running.total}} for p in postings]
    return json_response({"loan_id": str(loan_id), "as_of": as_of, "items": items})


def no_due_certificate(ctx: Context[ServicingPort]) -> Response:
    loan_id: UUID = ctx.path["loan_id"]
    pdf, _ = ctx.port.certificates.ensure(ctx.brand_id, loan_id)
    loan = ctx.port.loans.get(ctx.brand_id, loan_id)
    headers = {"Content-Disposition": f'attachment; filename="no-due-{loan.loan_number}.pdf"'}
    if loan.no_due is not None:
        headers["X-Content-SHA256"] = loan.no_due.sha256
        headers["X-Verification-Code"] = loan.no_due.verification_code
    return Response(pdf, 200, headers, media_type="application/pdf")


def pdf_response(document: LoanDocument, disposition: str = "attachment") -> Response:
    """A rendered document as its PDF, with its SHA-256 (`X-Content-SHA256`)."""
    headers = {"Content-Disposition": f'{disposition}; filename="{document.filename}"',
               "X-Content-SHA256": document.sha256, "Cache-Control": "private, no-store"}  # fmt: skip
    return Response(document.pdf, 200, headers, media_type="application/pdf")


def repayment_receipt(ctx: Context[ServicingPort]) -> Response:
    payment_id = str(ctx.path["repayment_id"])
    return pdf_response(ctx.port.documents.receipt(ctx.brand_id, ctx.path["loan_id"], payment_id))


def settlement_letter(ctx: Context[ServicingPort]) -> Response:
    return pdf_response(ctx.port.documents.settlement_letter(ctx.brand_id, ctx.path["loan_id"]))


def shared_no_due_certificate(ctx: Context[ServicingPort]) -> Response:
    opened = NoDueLinks.open(str(ctx.path["token"])[:200], datetime.now(UTC))
    if opened is None:
        # 404, not 403: a changed, forged or expired link names no certificate (and tells a prober nothing more).
        raise HttpProblem(404, "no certificate at this link (changed, forged or expired); ask the lender for a new one")
    brand_id, loan_id = opened
    try:
        pdf, _ = ctx.port.certificates.ensure(brand_id, loan_id)
    except NoDueCertificateWithdrawn as exc:
        # The borrower's link, no login: which certificate and when, not the staff's reason nor the payment's id.
        w = exc.withdrawn
        again = ", so the loan is open again; a new certificate is issued once it is paid off"
        raise HttpProblem(
            410,
            f"the no-due certificate {w.certificate.verification_code} of the loan's closure on "
            f"{w.certificate.closed_on.isoformat()} was withdrawn on {w.withdrawn_on.isoformat()}: a payment was "
            f"reversed{again if exc.status.servicing else ''}",
            "gone",
            verification_code=w.certificate.verification_code,
            closed_on=w.certificate.closed_on.isoformat(),
            withdrawn_on=w.withdrawn_on.isoformat(),
        ) from None
    loan = ctx.port.loans.get(brand_id, loan_id)
    headers = {"Content-Disposition": f'inline; filename="no-due-{loan.loan_number}.pdf"',
               "Cache-Control": "private, no-store"}  # fmt: skip
    if loan.no_due is not None:
        headers["X-Content-SHA256"] = loan.no_due.sha256
        headers["X-Verification-Code"] = loan.no_due.verification_code
    return Response(pdf, 200, headers, media_type="application/pdf")


def cob_days(ctx: Context[ServicingPort]) -> Reply:
    q: CobDaysQuery = ctx.query
    days = ctx.port.cob.days(ctx.brand_id, q.limit)
    return json_response({"items": [d.__dict__ | {"duration_seconds": d.duration_seconds} for d in days]})


_LOAN = "/api/v1/loans/{loan_id}"

ENDPOINTS = serve(
    ServicingPort,
    "servicing",
    [
        Endpoint(
            "GET",
            "/api/v1/loan-cob/days",
            cob_days,
            "The close of business's run records, newest date first: partitions, loans, loans closed, penal charged, "
            "transitions by kind (e.g. active->overdue), start, end and duration",
            (Permission.JOBS, Level.READ),
            query=CobDaysQuery,
            response=CobDayListOut,
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/repayments",
            record_repayment,
            "Record a repayment received (amount, mode, reference, paid_on) and its allocation: oldest instalment "
            "first, penal then interest then principal; a duplicate reference is a 409, more than the payoff a 422, "
            "a loan not disbursed a 409",
            WRITE,
            body=RepaymentIn,
            response=RepaymentOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/repayments",
            list_repayments,
            "A loan's repayments and recoveries, in the order recorded: all of them without `limit` or `cursor` (as "
            "always), else a page at a time (`limit` at most 200, default 50 with a cursor; `cursor`: the "
            "`next_cursor` of the page before, null on the last page); a cursor of another loan or list is a 422; "
            "another brand's loan a 404",
            READ,
            query=RepaymentsQuery,
            response=RepaymentListOut,
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/repayments/{{repayment_id}}/reverse",
            reverse_repayment,
            "Reverse a repayment with a reason: what it paid re-opens, DPD and penal charges recomputed from its date",
            WRITE,
            body=ReverseIn,
            response=RepaymentOut,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/payoff",
            get_payoff,
            "The payoff quote as of a date (overdue penal, interest, principal, principal not due, interest accrued)",
            READ,
            query=PayoffQuery,
            response=PayoffOut,
            errors=(409,),
        ),
        Endpoint(
            "GET",
            "/api/v1/no-due-certificates/{token}",
            shared_no_due_certificate,
            "The no-due certificate (PDF) through the borrower's signed share link (the 'loan fully paid' "
            "message's); no login; 404 when the link is changed, forged or expired; 410 while the loan has no "
            "certificate because a reversed payment re-opened it (the withdrawn one is never served; once the loan "
            "is completed again the link serves the new closure's certificate)",
            None,
            response=NoDueOut,
            media=("application/pdf",),
            public=True,
            errors=(404, 409, 410, 422),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/no-due-certificate",
            no_due_certificate,
            "The no-due certificate (PDF) of a completed loan: borrower, loan number, amounts disbursed and repaid, "
            "closure date, verification code; generated once per closure, its SHA-256 recorded (X-Content-SHA256); "
            "409 for a loan not completed, 410 for one a reversed payment re-opened (its certificate withdrawn: "
            "`verification_code`, `closed_on`, `withdrawn_on`, `payment_id` say which; the next closure is issued "
            "a new one)",
            READ,
            response=NoDueOut,
            media=("application/pdf",),
            errors=(409, 410),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/repayments/{{repayment_id}}/receipt",
            repayment_receipt,
            "The receipt (PDF) of one of the loan's repayments (or a recovery after a write-off): lender, borrower, "
            "loan number, receipt number, amount, mode, reference, paid and recorded on, the allocation per "
            "instalment and the payoff after it; a reversed one says REVERSED with the date and reason. The same "
            "bytes on every download (SHA-256 in X-Content-SHA256); an unknown repayment is a 404",
            READ,
            response=PdfDocumentOut,  # never rendered: the answer is the PDF itself
            media=("application/pdf",),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/settlement-letter",
            settlement_letter,
            "The settlement letter (PDF) of a settled loan: the settlement amount paid, what was waived, the "
            "settlement date, closed as settled (reported to credit bureaus as settled); 409 for a loan not settled",
            READ,
            response=PdfDocumentOut,  # never rendered: the answer is the PDF itself
            media=("application/pdf",),
            errors=(409,),
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/ledger",
            get_ledger,
            "The loan ledger: disbursal, fees and GST, interest due, penal charges, payments and their allocation, "
            "reversals, with the running outstanding split into principal, interest, penal and fees",
            READ,
            response=LedgerOut,
            errors=(409,),
        ),
    ],
)
