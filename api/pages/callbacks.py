"""The callback queue page: borrowers' callback requests, oldest first, filtered by status and assignee (mine by
default for those who have any, else everyone's), each open one with the form to answer it (outcome, remarks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import staff_and_key_names
from api.routes.callbacks import READ, WRITE, assigned_filter
from api.web import Page, act, after_write, error_text, form_text, keyset_page, not_found, pages, path_id, render
from domain.callbacks.application import Callbacks
from domain.collections.case import Outcome
from domain.identity.application import Identity
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound
from projections.callbacks import CallbackQueries

STATUSES = ("open", "closed", "all")
ASSIGNED = ("me", "unassigned", "")


@dataclass(frozen=True)
class CallbackPagePort:
    """What the callback pages use: the use cases, the queue, and staff names for who answered."""

    callbacks: Callbacks
    queries: CallbackQueries
    identity: Identity


def _filters(request: Request) -> dict[str, str]:
    status = request.query_params.get("status", "open")
    assigned = request.query_params.get("assigned_to", "")
    return {"status": status if status in STATUSES else "open", "assigned_to": assigned if assigned in ASSIGNED else ""}


async def _queue(request: Request, port: CallbackPagePort, principal: Principal, error: str | None = None,
                 status: int = 200) -> Response:  # fmt: skip
    shown = _filters(request)

    def load() -> tuple[Any, int, int, dict[str, str]]:
        assigned = assigned_filter(shown["assigned_to"], principal.id)
        wanted = None if shown["status"] == "all" else shown["status"]
        page = keyset_page(request, lambda cursor: port.queries.queue(principal.brand_id, wanted, assigned, cursor, 50))
        brand = principal.brand_id
        names = staff_and_key_names(port.identity, brand, {r.responded_by for r in page.items if r.responded_by})
        return page, port.queries.open_count(brand, principal.id), port.queries.open_count(brand), names

    page, mine, everyone, actors = await run_in_threadpool(load)
    more = urlencode({**shown, "cursor": page.next_cursor}) if page.next_cursor else None
    return render(
        request,
        "callbacks.html",
        422 if error else status,
        nav="callbacks",
        page=page,
        filters=shown,
        more=more,
        open_mine=mine,
        open_all=everyone,
        outcomes=[o.value for o in Outcome],
        actors=actors,
        can_respond=principal.holds(*WRITE),
        error=error,
    )


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
        result = await act(principal, lambda: port.callbacks.respond(principal.brand_id, request_id, outcome, remarks))
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _queue(request, port, principal, error_text(exc))
    return await after_write(request, Callbacks.name, result.position, "/callback-requests")


PAGES = pages(
    CallbackPagePort,
    [
        Page("GET", "/callback-requests", callbacks_page, READ),
        Page("POST", "/callback-requests/{callback_id}/respond", callback_respond, WRITE, form=True),
    ],
)
