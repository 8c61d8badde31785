"""Portal pages of collection money (issue #16 items 5-7): a loan's collection-money page (what it owes, its
requests and their decisions, the forms to report a collection, record a full repayment, upload a receipt, ask for
a waiver, propose a settlement, propose a write-off and write it off - each shown to those holding its permission),
and the approvers' queues with their approve / reject forms. The loan page shows the same forms
(`templates/loan_recoveries.html`). Who may open a loan's money page and post its forms is decided as for the
collections pages (`api.routes.collections.guard`): managers any loan of the brand, an executive the loans allocated
to them (a closed case they worked: read only), 404 otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.actors import actor_names
from api.problems import HttpProblem
from api.routes.collections import guard
from api.routes.documents import UPLOAD
from api.routes.recoveries import RecoveriesPort
from api.web import Page, act, after_write, error_text, form_text, keyset_page, not_found, pages, path_id, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.servicing_views import servicing_view
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidValue, NotFound
from projections.loan_recovery_views import RecoveryRequestRow

P = Permission
COLLECT_READ = (P.COLLECTIONS, Level.READ)
COLLECT = (P.COLLECTIONS, Level.WRITE)
PageHandler = Callable[[Request, RecoveriesPort, Principal], Awaitable[Response]]

#: kind -> (queue path segment, title, the permission deciding it, the approve button's word)
QUEUES: dict[str, tuple[str, str, Permission, str]] = {
    "collection": ("collections", "Partial collections", P.COLLECTION_APPROVALS, "approve"),
    "receipt": ("receipts", "Manual receipts", P.LOAN_OPS, "confirm"),
    "waiver": ("waivers", "Penal waivers", P.PENAL_WAIVERS, "approve"),
    "settlement": ("settlements", "Settlements", P.POST_COLLECTIONS, "approve"),
    "write_off": ("write-offs", "Write-offs", P.LOAN_WRITE_OFF, "approve"),
}


def _date(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(field, "give a date as YYYY-MM-DD") from None


def _names(port: RecoveriesPort, brand: UUID, rows: Sequence[RecoveryRequestRow]) -> dict[str, str]:
    """Who asked for and who decided each request, by name (the rows hold the recorded `staff:<id>` actors)."""
    return actor_names(port.identity, brand, {a for r in rows for a in (r.requested_by, r.decided_by) if a})


def _money_page(port: RecoveriesPort, brand: UUID, loan_id: UUID) -> dict[str, Any]:
    loan = port.loans.serviced(brand, loan_id)
    today = port.loans.parties.business_date(brand)
    view = servicing_view(loan, today) if loan.servicing_open else None
    penal = loan.penal_outstanding(today) if loan.servicing_open and loan.status.servicing else None
    settlement = loan.live_settlement
    requests = port.queries.of_loan(brand, loan_id)
    # What the loan owes today: the figure a full repayment must be (the form "Record full repayment").
    owing = loan.owing(today) if loan.servicing_open and loan.status.servicing else None
    return {
        "loan": loan,
        "view": view,
        "penal_outstanding": penal,
        "today": today,
        "settlement": settlement,
        "settlement_left": loan.settlement_remaining(settlement) if settlement else None,
        "owing": owing,
        "requests": requests,
        "actors": _names(port, brand, requests),
        "recoveries": list(loan.recoveries.values()),
        "ending": loan.ending,
    }


async def _loan_money(
    request: Request, port: RecoveriesPort, principal: Principal, loan_id: UUID, error: str | None = None
) -> Response:
    try:
        await run_in_threadpool(guard, port.collections, principal, loan_id, Level.READ)
        data = await run_in_threadpool(_money_page, port, principal.brand_id, loan_id)
    except (NotFound, HttpProblem):
        return await not_found(request)
    return render(request, "recoveries.html", 422 if error else 200, nav="approvals", error=error, **data)


async def loan_money_page(request: Request, port: RecoveriesPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    return await _loan_money(request, port, principal, loan_id)


def _on_loan(work: Callable[[RecoveriesPort, Principal, UUID, Request], CommandResult]) -> PageHandler:
    async def handler(request: Request, port: RecoveriesPort, principal: Principal) -> Response:
        loan_id = path_id(request, "loan_id")
        if loan_id is None:
            return await not_found(request)
        try:  # like the collections pages: an executive works only the loans on their worklist
            await run_in_threadpool(guard, port.collections, principal, loan_id, Level.WRITE)
        except (NotFound, HttpProblem):
            return await not_found(request)
        try:
            result = await act(principal, lambda: work(port, principal, loan_id, request))
        except NotFound:
            return await not_found(request)
        except DomainError as exc:
            return await _loan_money(request, port, principal, loan_id, error_text(exc))
        return await after_write(request, Loans.name, result.position, f"/loans/{loan_id}/recoveries")

    handler.__name__ = work.__name__.lstrip("_") + "_form"
    return handler


def _money_received(request: Request) -> tuple[str, str, str, date | None]:
    """Money collected as a form gives it: amount, mode, reference and the day collected (a collection, a receipt,
    a full repayment)."""
    on = _date(form_text(request, "collected_on"), "collected_on")
    return form_text(request, "amount"), form_text(request, "mode"), form_text(request, "reference"), on


def _collection(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    return port.loans.request_collection(principal.brand_id, loan_id, *_money_received(request))[0]


def _full_repayment(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    """A full repayment collected, applied at once; the page waits for the no-due certificate it issues too."""
    result, _ = port.loans.record_full_repayment(principal.brand_id, loan_id, *_money_received(request))
    issued = port.certificates.issued_on_closing(principal.brand_id, loan_id)[1]
    return replace(result, position=max(result.position, issued))


def _receipt(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        raise InvalidValue("file", "choose the receipt (PDF, JPEG or PNG)")
    data = file.file.read()
    return port.upload_receipt(principal.brand_id, loan_id, _money_received(request), file.filename, data)[0]


def _waiver(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    return port.loans.request_waiver(
        principal.brand_id, loan_id, form_text(request, "amount"), form_text(request, "justification")
    )[0]


def _settlement(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    return port.loans.propose_settlement(
        principal.brand_id, loan_id, form_text(request, "amount"), form_text(request, "remarks")
    )[0]


def _write_off_proposal(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    return port.loans.propose_write_off(principal.brand_id, loan_id, form_text(request, "reason"))[0]


def _write_off(port: RecoveriesPort, principal: Principal, loan_id: UUID, request: Request) -> CommandResult:
    return port.loans.write_off(principal.brand_id, loan_id, form_text(request, "reason"))[0]


# The approvers' queues -----------------------------------------------------------------------------------------

#: Requests a page of a queue (or its history) shows; "Older →" reads the next page (keyset, the read model's cursor).
PAGE_SIZE = 50


async def _queue(
    request: Request, port: RecoveriesPort, principal: Principal, kind: str, error: str | None = None
) -> Response:
    status = request.query_params.get("status") or "pending_approval"
    if status not in ("pending_approval", "approved", "rejected"):
        status = "pending_approval"
    page = await run_in_threadpool(
        keyset_page, request, lambda cursor: port.queries.requests(principal.brand_id, kind, status, cursor, PAGE_SIZE)
    )
    actors = await run_in_threadpool(_names, port, principal.brand_id, page.items)
    tabs = [(k, seg, title) for k, (seg, title, perm, _) in QUEUES.items() if principal.holds(perm, Level.READ)]
    segment, title, permission, word = QUEUES[kind]
    shown = {} if status == "pending_approval" else {"status": status}  # the filter the links repeat
    return render(
        request,
        "approvals.html",
        422 if error else 200,
        nav="approvals",
        kind=kind,
        segment=segment,
        title=title,
        word=word,
        tabs=tabs,
        items=page.items,
        actors=actors,
        showing=status,
        older=f"/approvals/{segment}?{urlencode(shown | {'cursor': page.next_cursor})}" if page.next_cursor else None,
        newest=f"/approvals/{segment}?{urlencode(shown)}".rstrip("?") if request.query_params.get("cursor") else None,
        error=error,
        can_decide=principal.holds(permission, Level.WRITE),
    )


#: Any one of these lets its holder use some queue: the nav entry "Approvals" is shown to them (workers/contexts).
APPROVERS: tuple[Permission, ...] = tuple(dict.fromkeys(perm for _, _, perm, _ in QUEUES.values()))


async def approvals_page(request: Request, port: RecoveriesPort, principal: Principal) -> Response:
    """`/approvals` (the nav entry): the first queue the staff member may open - a holder of LOAN_WRITE_OFF alone
    lands on the write-offs. Holding none, the partial collections' queue, which says the permission it needs."""
    usable = [segment for segment, _, perm, _ in QUEUES.values() if principal.holds(perm, Level.READ)]
    return RedirectResponse(f"/approvals/{(usable or ['collections'])[0]}", status_code=303)


def _queue_page(kind: str) -> PageHandler:
    async def queue(request: Request, port: RecoveriesPort, principal: Principal) -> Response:
        return await _queue(request, port, principal, kind)

    queue.__name__ = f"{kind}_queue_page"
    return queue


def _decision(kind: str, approve: bool) -> PageHandler:
    async def decide(request: Request, port: RecoveriesPort, principal: Principal) -> Response:
        request_id = path_id(request, "request_id")
        row = (
            None
            if request_id is None
            else await run_in_threadpool(port.queries.request, principal.brand_id, request_id, (kind,))
        )
        if row is None:
            return await not_found(request)
        reason = "" if approve else form_text(request, "reason")

        def work() -> CommandResult:
            return port.loans.decide(
                principal.brand_id, row.loan_id, kind, str(row.id), approve=approve, reason=reason,
                one_person_may_decide=principal.admin,
            )  # fmt: skip

        try:
            result = await act(principal, work)
        except DomainError as exc:
            return await _queue(request, port, principal, kind, error_text(exc))
        return await after_write(request, Loans.name, result.position, f"/approvals/{QUEUES[kind][0]}")

    decide.__name__ = f"{'approve' if approve else 'reject'}_{kind}_page"
    return decide


def _queue_pages() -> list[Page[RecoveriesPort]]:
    declared: list[Page[RecoveriesPort]] = []
    for kind, (segment, _, permission, word) in QUEUES.items():
        declared += [
            Page("GET", f"/approvals/{segment}", _queue_page(kind), (permission, Level.READ)),
            Page(
                "POST",
                f"/approvals/{segment}/{{request_id}}/{word}",
                _decision(kind, True),
                (permission, Level.WRITE),
                form=True,
            ),
            Page(
                "POST",
                f"/approvals/{segment}/{{request_id}}/reject",
                _decision(kind, False),
                (permission, Level.WRITE),
                form=True,
            ),
        ]
    return declared


PAGES = pages(
    RecoveriesPort,
    [
        Page("GET", "/loans/{loan_id}/recoveries", loan_money_page, COLLECT_READ),
        Page("POST", "/loans/{loan_id}/collection-requests", _on_loan(_collection), COLLECT, form=True),
        Page("POST", "/loans/{loan_id}/full-repayment", _on_loan(_full_repayment), COLLECT, form=True),
        Page(
            "POST", "/loans/{loan_id}/receipts", _on_loan(_receipt), COLLECT, form=True, upload_bytes=UPLOAD.max_bytes
        ),
        Page("POST", "/loans/{loan_id}/waivers", _on_loan(_waiver), COLLECT, form=True),
        Page("POST", "/loans/{loan_id}/settlements", _on_loan(_settlement), COLLECT, form=True),
        Page("POST", "/loans/{loan_id}/write-offs", _on_loan(_write_off_proposal), COLLECT, form=True),
        Page("POST", "/loans/{loan_id}/write-off", _on_loan(_write_off), (P.LOAN_WRITE_OFF, Level.WRITE), form=True),
        Page("GET", "/approvals", approvals_page, None),
        *_queue_pages(),
    ],
)
