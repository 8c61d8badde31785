"""Collection money endpoints (issue #16 items 5-7): partial collections approved by Ops or a collection manager
or head, a full repayment an executive collected (applied at once, closing the loan), manual receipts confirmed by
Ops, penal-charge waivers approved by a collection manager or head, settlements approved by the collection head,
write-off by an admin (directly, or approving a write-off a collection executive proposed). Requests are recorded on
the Loan; a request's id finds its loan through `read.loan_recovery_requests`, within the caller's brand (another
brand's: 404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.routes.collections import CollectionsPort, desk_scoped, guard
from api.routes.documents import UPLOAD
from api.routes.recovery_models import (
    CollectionIn,
    FullRepaymentIn,
    ReasonIn,
    RecoveryRequestListOut,
    RecoveryRequestOut,
    RecoveryRequestPageOut,
    RequestsQuery,
    SettlementIn,
    WaiverIn,
    WriteOffOut,
)
from api.routes.servicing import repayment_answer
from api.routes.servicing_models import RepaymentOut
from api.services.no_due import NoDueCertificates
from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.loans.application import Loans
from domain.loans.loan_recoveries import RecoveryRequestNotFound
from domain.loans.recovery_events import CollectionKind, CollectionRequest
from domain.shared.application import CommandResult
from projections.loan_recovery_views import RecoveryQueries, RecoveryRequestRow

P = Permission
COLLECT = (P.COLLECTIONS, Level.WRITE)
COLLECT_READ = (P.COLLECTIONS, Level.READ)


@dataclass(frozen=True)
class RecoveriesPort:
    """What the collection-money endpoints and pages use."""

    loans: Loans
    queries: RecoveryQueries
    documents: Documents
    collections: CollectionsPort  # the portal's money pages show an executive only the loans they work
    identity: Identity  # the portal's pages name who asked and who decided
    customers: Customers  # the no-due certificate a full repayment issues names the borrower

    @property
    def certificates(self) -> NoDueCertificates:
        """The no-due certificates (issued when a full repayment closes the loan)."""
        return NoDueCertificates(self.loans, self.customers, self.identity)

    def upload_receipt(
        self,
        brand_id: UUID,
        loan_id: UUID,
        money: tuple[Any, str, str, date | None],
        filename: str,
        data: bytes,
    ) -> tuple[CommandResult, CollectionRequest]:
        """A manual receipt: the money (amount, mode, reference, day collected) checked against the loan first, so a
        refused receipt stores no document; then the file stored among the borrower's documents and the request made
        citing it. The same file again is that document (`existing_ok`): a receipt whose request was refused after
        its file was stored (a payment landing in between lowered the payoff, the database went away) is sent again
        as it was, not refused as "already uploaded" for good. A second receipt of the same money is still refused,
        by its reference (409), before anything is stored."""
        amount, mode, reference, collected_on = money
        receipt = CollectionKind.RECEIPT
        loan, _ = self.loans.collection_request(brand_id, loan_id, amount, mode, reference, collected_on, kind=receipt)
        stored = self.documents.upload(
            brand_id, loan.customer_id, DocumentKind.OTHER, filename, data, Uploader.STAFF, existing_ok=True
        )
        return self.loans.request_collection(
            brand_id, loan_id, amount, mode, reference, collected_on, kind=receipt, document_id=stored.id
        )


def _row(ctx: Context[RecoveriesPort], request_id: UUID, kind: str) -> RecoveryRequestRow | None:
    return ctx.port.queries.request(ctx.brand_id, request_id, (kind,))


def _found(ctx: Context[RecoveriesPort], kind: str) -> RecoveryRequestRow:
    request_id: UUID = ctx.path["request_id"]
    row = _row(ctx, request_id, kind)
    if row is None:
        raise RecoveryRequestNotFound(f"{kind} {request_id} not found", id=str(request_id))
    return row


def _answer(
    ctx: Context[RecoveriesPort],
    result: CommandResult,
    request_id: UUID | str,
    kind: str,
    where: str,
    status: int | None = None,
) -> Reply:
    rid = UUID(str(request_id))
    return ctx.written(result, Loans.name, lambda: _row(ctx, rid, kind), f"/api/v1/{where}/{rid}", status)


def _works_it(ctx: Context[RecoveriesPort]) -> None:
    """Asking for money on a loan (a collection, receipt, waiver or settlement) is for who works it, as every
    collections action: an executive only on the loans allocated to them, managers on any (404 otherwise, as for a
    loan of another brand), the loan's stage permission at WRITE (`api.routes.collections.guard`)."""
    guard(ctx.port.collections, ctx.principal, ctx.path["loan_id"], Level.WRITE)


# Partial collections and receipts ------------------------------------------------------------------------------


def create_collection_request(ctx: Context[RecoveriesPort]) -> Reply:
    body: CollectionIn = ctx.body
    _works_it(ctx)
    result, request = ctx.port.loans.request_collection(
        ctx.brand_id, ctx.path["loan_id"], body.amount, body.mode, body.reference, body.collected_on
    )
    return _answer(ctx, result, request.request_id, "collection", "collection-requests", 201)


def record_full_repayment(ctx: Context[RecoveriesPort]) -> Reply:
    """A full repayment the executive collected, applied at once (no approval: the amount is what the loan owes, so
    nothing is left to judge); the payment closes the loan and, completed, it gets its no-due certificate as an Ops
    repayment closing it does (`POST /loans/{id}/repayments`)."""
    body: FullRepaymentIn = ctx.body
    _works_it(ctx)
    loan_id: UUID = ctx.path["loan_id"]
    result, record = ctx.port.loans.record_full_repayment(
        ctx.brand_id, loan_id, body.amount, body.mode, body.reference, body.collected_on
    )
    loan, issued = ctx.port.certificates.issued_on_closing(ctx.brand_id, loan_id)
    ctx.settled(Loans.name, max(result.position, issued))
    location = f"/api/v1/loans/{loan_id}/repayments/{record.payment_id}"
    return Reply(repayment_answer(loan, record.payment_id), 201, {"Location": location})


def upload_receipt(ctx: Context[RecoveriesPort]) -> Reply:
    form: CollectionIn = ctx.body
    assert ctx.upload is not None  # the wrapper answers 422 without one
    _works_it(ctx)
    money = (form.amount, form.mode, form.reference, form.collected_on)
    result, request = ctx.port.upload_receipt(
        ctx.brand_id, ctx.path["loan_id"], money, ctx.upload.filename, ctx.upload.data
    )
    return _answer(ctx, result, request.request_id, "receipt", "receipts", 201)


def _decide(kind: str, where: str, approve: bool) -> Callable[[Context[RecoveriesPort]], Reply]:
    def decide(ctx: Context[RecoveriesPort]) -> Reply:
        row = _found(ctx, kind)
        reason = "" if approve else (ctx.body.reason or "")
        result = ctx.port.loans.decide(
            ctx.brand_id, row.loan_id, kind, str(row.id), approve=approve, reason=reason,
            one_person_may_decide=ctx.principal is not None and ctx.principal.admin,
        )  # fmt: skip
        return _answer(ctx, result, row.id, kind, where)

    decide.__name__ = f"{'approve' if approve else 'reject'}_{kind}"
    return decide


def _queue(kind: str) -> Callable[[Context[RecoveriesPort]], Reply]:
    def queue(ctx: Context[RecoveriesPort]) -> Reply:
        q: RequestsQuery = ctx.query
        return json_response(ctx.port.queries.requests(ctx.brand_id, kind, q.status.value, q.cursor, q.limit))

    queue.__name__ = f"list_{kind}_requests"
    return queue


def loan_requests(ctx: Context[RecoveriesPort]) -> Reply:
    """A loan's money requests: whoever reads loans (the loan page shows them) reads any loan's; anyone else - and a
    collection executive, whose LOANS READ is the collection roles' (`desk_scoped`) - only as the loan's money page
    shows them (`api.pages.recoveries`): an executive the loans allocated to them, 404 otherwise."""
    if not ctx.principal.holds(P.LOANS, Level.READ) or desk_scoped(ctx.principal):
        guard(ctx.port.collections, ctx.principal, ctx.path["loan_id"], Level.READ)
    loan = ctx.port.loans.get(ctx.brand_id, ctx.path["loan_id"])  # 404 for another brand's loan
    return json_response({"items": ctx.port.queries.of_loan(ctx.brand_id, loan.id)})


# Waivers, settlements, write-off -------------------------------------------------------------------------------


def create_waiver(ctx: Context[RecoveriesPort]) -> Reply:
    body: WaiverIn = ctx.body
    _works_it(ctx)
    result, waiver = ctx.port.loans.request_waiver(ctx.brand_id, ctx.path["loan_id"], body.amount, body.justification)
    return _answer(ctx, result, waiver.waiver_id, "waiver", "waivers", 201)


def create_settlement(ctx: Context[RecoveriesPort]) -> Reply:
    body: SettlementIn = ctx.body
    _works_it(ctx)
    result, settlement = ctx.port.loans.propose_settlement(ctx.brand_id, ctx.path["loan_id"], body.amount, body.remarks)
    return _answer(ctx, result, settlement.settlement_id, "settlement", "settlements", 201)


def create_write_off_request(ctx: Context[RecoveriesPort]) -> Reply:
    body: ReasonIn = ctx.body
    _works_it(ctx)
    result, proposal = ctx.port.loans.propose_write_off(ctx.brand_id, ctx.path["loan_id"], body.reason)
    return _answer(ctx, result, proposal.write_off_id, "write_off", "write-offs", 201)


def write_off(ctx: Context[RecoveriesPort]) -> Reply:
    body: ReasonIn = ctx.body
    loan_id: UUID = ctx.path["loan_id"]
    result, ending = ctx.port.loans.write_off(ctx.brand_id, loan_id, body.reason)
    ctx.settled(Loans.name, result.position)
    return json_response(
        {
            "loan_id": loan_id,
            "status": "written_off",
            "written_off_on": ending.on,
            "principal": ending.principal,
            "interest": ending.interest,
            "penal": ending.penal,
            "total": ending.total,
        }
    )


_LOAN = "/api/v1/loans/{loan_id}"


def _workflow(kind: str, where: str, approve_word: str, permission: Permission, who: str) -> list[Endpoint[Any]]:
    base = f"/api/v1/{where}"
    return [
        Endpoint(
            "GET",
            base,
            _queue(kind),
            f"The {kind} requests of the brand, pending approval unless `status` says otherwise, newest first ({who})",
            (permission, Level.READ),
            query=RequestsQuery,
            response=RecoveryRequestPageOut,
        ),
        Endpoint(
            "POST",
            f"{base}/{{request_id}}/{approve_word}",
            _decide(kind, where, True),
            f"{approve_word.capitalize()} a pending {kind} ({who}); already decided: 409",
            (permission, Level.WRITE),
            response=RecoveryRequestOut,
            errors=(409,),
            accepts=True,
        ),
        Endpoint(
            "POST",
            f"{base}/{{request_id}}/reject",
            _decide(kind, where, False),
            f"Reject a pending {kind} with a reason ({who}); already decided: 409",
            (permission, Level.WRITE),
            body=ReasonIn,
            response=RecoveryRequestOut,
            errors=(409,),
            accepts=True,
        ),
    ]


ENDPOINTS = serve(
    RecoveriesPort,
    "recoveries",
    [
        Endpoint(
            "POST",
            f"{_LOAN}/collection-requests",
            create_collection_request,
            "Record money an executive collected (less than the due): pending_approval until Ops or a "
            "collection manager or head approves; a reference already used is a 409, above the payoff a 422",
            COLLECT,
            body=CollectionIn,
            response=RecoveryRequestOut,
            status=201,
            errors=(409,),
            accepts=True,
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/full-repayment",
            record_full_repayment,
            "Record a full repayment an executive collected, applied at once (no approval): the amount must be what "
            "the loan owes on `collected_on` (its payoff, or what is left of an approved settlement), else a 422 (a "
            "part-payment is a collection request); the loan closes - completed with its no-due certificate, or "
            "settled - and the answer is the repayment. A written-off loan, a loan not serviced or a reference "
            "already used is a 409",
            COLLECT,
            body=FullRepaymentIn,
            response=RepaymentOut,
            status=201,
            errors=(409,),
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/receipts",
            upload_receipt,
            "Upload a manual receipt (multipart: the file, amount, mode, reference, collected_on): stored as the "
            "borrower's document, pending until Ops confirms it",
            COLLECT,
            body=CollectionIn,
            response=RecoveryRequestOut,
            status=201,
            errors=(409,),
            accepts=True,
            upload=UPLOAD,
        ),
        Endpoint(
            "GET",
            f"{_LOAN}/recovery-requests",
            loan_requests,
            "A loan's collection requests, receipts, waivers and settlements with their decisions",
            COLLECT_READ,
            response=RecoveryRequestListOut,
        ),
        *_workflow(
            "collection", "collection-requests", "approve", P.COLLECTION_APPROVALS, "Ops, collection managers and heads"
        ),
        *_workflow("receipt", "receipts", "confirm", P.LOAN_OPS, "Ops"),
        Endpoint(
            "POST",
            f"{_LOAN}/waivers",
            create_waiver,
            "Ask to waive penal charges (at most those outstanding: 422) with a justification",
            COLLECT,
            body=WaiverIn,
            response=RecoveryRequestOut,
            status=201,
            errors=(409,),
            accepts=True,
        ),
        *_workflow("waiver", "waivers", "approve", P.PENAL_WAIVERS, "collection managers and heads"),
        Endpoint(
            "POST",
            f"{_LOAN}/settlements",
            create_settlement,
            "Propose a settlement below the payoff (422 otherwise); once approved, payments count toward it and "
            "the one completing it ends the loan settled",
            COLLECT,
            body=SettlementIn,
            response=RecoveryRequestOut,
            status=201,
            errors=(409,),
            accepts=True,
        ),
        *_workflow("settlement", "settlements", "approve", P.POST_COLLECTIONS, "the collection head"),
        Endpoint(
            "POST",
            f"{_LOAN}/write-offs",
            create_write_off_request,
            "Propose writing the loan off with a reason (a serviced loan; one pending at a time: 409): pending until "
            "a holder of LOAN_WRITE_OFF other than the proposer approves it (the write-off) or rejects it",
            COLLECT,
            body=ReasonIn,
            response=RecoveryRequestOut,
            status=201,
            errors=(409,),
            accepts=True,
        ),
        *_workflow(
            "write_off",
            "write-offs",
            "approve",
            P.LOAN_WRITE_OFF,
            "a holder of LOAN_WRITE_OFF; the loan no longer serviced: 409",
        ),
        Endpoint(
            "POST",
            f"{_LOAN}/write-off",
            write_off,
            "Write the loan off with a reason (admin): written_off, its balance off the ledger; later payments "
            "are recoveries",
            (P.LOAN_WRITE_OFF, Level.WRITE),
            body=ReasonIn,
            response=WriteOffOut,
            errors=(409,),
        ),
    ],
)
