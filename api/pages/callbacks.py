"""The callback queue page: borrowers' callback requests, oldest first, filtered by status and assignee (mine by
default for those who have any, else everyone's), each open one with the form to answer it (outcome, remarks, and the
time to call again for outcome callback_requested, which opens the follow-up) and, about an application the caller
may call about (api/services/credit_calls.py), the "Call borrower" button: the call it placed is then named by the
close form (`call_id`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.actors import staff_and_key_names
from api.pages.credit_calls import place_credit_call
from api.pages.placed_calls import called
from api.routes.callbacks import READ, WRITE, assigned_filter, follow_up_owner
from api.services.credit_calls import CreditCalls, offers_credit_call
from api.services.placed_calls import placed_by
from api.web import (
    Page,
    act,
    after_write,
    error_text,
    form_instant,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.callbacks.application import Callbacks
from domain.collections.case import Outcome
from domain.identity.application import Identity
from domain.identity.principal import Principal
from domain.shared.errors import Conflict, DomainError, InvalidValue, NotFound
from projections.callbacks import CallbackQueries, CallbackRow
from projections.loan_queries import LoanQueries

STATUSES = ("open", "closed", "all")
ASSIGNED = ("me", "unassigned", "")


@dataclass(frozen=True)
class CallbackPagePort:
    """What the callback pages use: the use cases, the queue, and staff names for who answered."""

    callbacks: Callbacks
    queries: CallbackQueries
    identity: Identity
    loans: LoanQueries
    credit_calls: CreditCalls


def _filters(request: Request) -> dict[str, str]:
    status = request.query_params.get("status", "open")
    assigned = request.query_params.get("assigned_to", "")
    return {"status": status if status in STATUSES else "open", "assigned_to": assigned if assigned in ASSIGNED else ""}


async def _queue(request: Request, port: CallbackPagePort, principal: Principal, error: str | None = None,
                 status: int = 422) -> Response:  # fmt: skip
    shown = _filters(request)

    can_respond = principal.holds(*WRITE)

    call_for, call_id = called(request, "callback"), called(request)

    def load() -> tuple[Any, int, int, dict[str, str], set[UUID], dict[UUID, UUID]]:
        assigned = assigned_filter(shown["assigned_to"], principal)
        wanted = None if shown["status"] == "all" else shown["status"]
        page = keyset_page(request, lambda cursor: port.queries.queue(principal.brand_id, wanted, assigned, cursor, 50))
        brand = principal.brand_id
        names = staff_and_key_names(port.identity, brand, {r.responded_by for r in page.items if r.responded_by})
        return page, port.queries.open_count(brand, principal.id), port.queries.open_count(brand), names, (
            _callable(port, principal, page.items) if can_respond else set()), _placed(port, principal, page.items,
                                                                                        call_for, call_id)  # fmt: skip

    page, mine, everyone, actors, callable_ids, placed = await run_in_threadpool(load)
    more = urlencode({**shown, "cursor": page.next_cursor}) if page.next_cursor else None
    return render(
        request,
        "callbacks.html",
        status if error else 200,
        nav="callbacks",
        page=page,
        filters=shown,
        more=more,
        open_mine=mine,
        open_all=everyone,
        outcomes=[o.value for o in Outcome],
        actors=actors,
        can_respond=can_respond,
        callable_ids=callable_ids,
        placed=placed,
        now=port.callbacks.clock.now(),
        error=error,
    )


def _placed(port: CallbackPagePort, principal: Principal, rows: list[CallbackRow], call_for: UUID | None,
            call_id: UUID | None) -> dict[UUID, UUID]:  # fmt: skip
    """The call placed from the queue for an open request on this page (`?called=&callback=`): shown ("Call placed")
    and named by its close form only when it is a call the signed-in staff member placed, of the brand, to that
    request's borrower."""
    row = next((r for r in rows if r.id == call_for and r.status == "open"), None)
    if row is None or call_id is None or row.customer_id is None:
        return {}
    placed = placed_by(port.credit_calls.fieldwork, principal, call_id, customer_id=row.customer_id)
    return {row.id: call_id} if placed else {}


def _callable(port: CallbackPagePort, principal: Principal, rows: list[CallbackRow]) -> set[UUID]:
    """The open requests about an application the signed-in staff member may call about (its current assignee, one
    query for the page)."""
    about = {r.loan_id for r in rows if r.status == "open" and r.loan_id is not None}
    if not about or not offers_credit_call(principal, principal.id):  # none of them callable: no query
        return set()
    assignees = port.loans.assignees(principal.brand_id, list(about))
    return {r.id for r in rows if r.loan_id in assignees and r.status == "open"
            and offers_credit_call(principal, assignees[r.loan_id])}  # fmt: skip


async def callbacks_page(request: Request, port: CallbackPagePort, principal: Principal) -> Response:
    return await _queue(request, port, principal)


async def callback_respond(request: Request, port: CallbackPagePort, principal: Principal) -> Response:
    request_id = path_id(request, "callback_id")
    if request_id is None:
        return await not_found(request)
    try:
        outcome = Outcome(form_text(request, "outcome"))
    except ValueError:
        return await _queue(request, port, principal, "outcome: choose how the call went")
    remarks = form_text(request, "remarks")
    try:
        raw_call = form_text(request, "call_id").strip()
        call_id = UUID(raw_call) if raw_call else None
    except ValueError:
        return await _queue(request, port, principal, "call_id: not a dialer call's id")
    try:
        callback_at = form_instant(request, "callback_at")  # the picker's time, in the brand's timezone
    except InvalidValue as exc:
        return await _queue(request, port, principal, error_text(exc))
    owner = follow_up_owner(principal)
    try:
        result = await act(principal, lambda: port.callbacks.respond(principal.brand_id, request_id, outcome, remarks,
                                                                     call_id, callback_at, staff_id=owner))  # fmt: skip
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # answered already (a second close, or two at once) is a conflict, not bad input
        if isinstance(exc, Conflict) and isinstance(answered_by := exc.details.get("responded_by"), str):
            names = await run_in_threadpool(staff_and_key_names, port.identity, principal.brand_id, {answered_by})
            return await _queue(request, port, principal, f"This request was already answered by "
                                f"{names.get(answered_by, answered_by)}.", 409)  # fmt: skip
        return await _queue(request, port, principal, error_text(exc), refusal_status(exc))
    # Back to the queue as it was filtered (the form's action carries the filters).
    return await after_write(
        request, Callbacks.name, result.position, f"/callback-requests?{urlencode(_filters(request))}"
    )


async def callback_call(request: Request, port: CallbackPagePort, principal: Principal) -> Response:
    request_id = path_id(request, "callback_id")
    if request_id is None:
        return await not_found(request)
    row = await run_in_threadpool(port.queries.request, principal.brand_id, request_id)
    if row is None:
        return await not_found(request)
    if row.status != "open":
        return await _queue(request, port, principal, "this callback request was already answered", 409)
    if row.loan_id is None:
        return await _queue(request, port, principal, "loan_id: only an open request about an application is called "
                            "from here")  # fmt: skip
    outcome = await place_credit_call(request, port.credit_calls, principal, row.loan_id)
    if outcome.call_id is None:
        return await _queue(request, port, principal, outcome.error, outcome.status)
    back = {**_filters(request), "called": str(outcome.call_id), "callback": str(request_id)}
    return RedirectResponse(f"/callback-requests?{urlencode(back)}#callback-{request_id}", status_code=303)


PAGES = pages(
    CallbackPagePort,
    [
        Page("GET", "/callback-requests", callbacks_page, READ),
        Page("POST", "/callback-requests/{callback_id}/respond", callback_respond, WRITE, form=True),
        Page("POST", "/callback-requests/{callback_id}/call", callback_call, WRITE, form=True),
    ],
)
