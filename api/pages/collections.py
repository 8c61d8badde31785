"""Collections pages: the worklist (phone-width usable), a loan's collection panel with the contact and promise
forms, the team view with the reallocation form. The same rules as the API (api/routes/collections.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import staff_and_key_names
from api.pages.placed_calls import placed_call
from api.problems import HttpProblem
from api.routes.collections import (
    DESK_READ,
    DESK_WRITE,
    LEGAL,
    REALLOCATE,
    WRITE,
    CollectionsPort,
    guard,
    is_manager,
    panel,
    require_stage,
)
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
    refusal_status,
    render,
)
from domain.collections.application import Collections
from domain.collections.case import STAGE_PERMISSION, Outcome, Stage
from domain.identity.permissions import Level
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, InvalidInput, NotFound

#: The worklist's filters as its address carries them; the reallocation form's action repeats them, so its refusal
#: and the worklist after a move show the list as it was (the page of it too: `cursor`).
WORKLIST_FILTERS = ("stage", "team", "assignee", "cursor")


def _stage(request: Request, principal: Principal) -> Stage | None:
    """The stage the address names; none named, collections - or, for staff given only another stage's permission,
    the first stage they hold (the worklist they were allocated)."""
    named = request.query_params.get("stage")
    if not named:
        held = [s for s in (Stage.COLLECTIONS, Stage.PRE, Stage.POST) if principal.holds(STAGE_PERMISSION[s])]
        return held[0] if held else Stage.COLLECTIONS
    try:
        return Stage(named)
    except ValueError:
        return None


def _worklist_query(request: Request) -> str:
    """The worklist's filters as given (the reallocation form's action and its way back repeat them)."""
    params = request.query_params
    return urlencode({name: params[name] for name in WORKLIST_FILTERS if params.get(name)})


async def worklist_page(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    return await _worklist(request, port, principal)


async def _worklist(
    request: Request, port: CollectionsPort, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    """The worklist as its address filters it; `error`: why a reallocation was refused (said at its form, answered
    with `status`), the loans ticked and the executive chosen filled in again (`kept`, api/web.py)."""
    stage = _stage(request, principal)
    if stage is None:
        return await not_found(request)
    try:
        require_stage(principal, stage, Level.READ)
    except HttpProblem:
        return error_page(request, 403, "Not allowed", f"You may not see the {stage.value} worklist.")
    manager = is_manager(principal)
    assignee: UUID | None = principal.id
    raw = request.query_params.get("assignee") or ""
    unassigned = manager and raw == "unassigned"
    if manager:
        try:
            assignee = UUID(raw) if raw and not unassigned else None
        except ValueError:
            assignee = None
    # The "My team / Everyone" switch (managers): `team=mine` or a manager's id, as the API's; default everyone.
    team = (request.query_params.get("team") or None) if manager else None
    if team and (assignee is not None or unassigned):
        return error_page(request, 422, "Cannot use this input", "team: give one of executive and team")
    now = port.clock.now()

    def load() -> tuple[Any, Any]:
        members = port.teams.members(principal, team)
        items = keyset_page(request, lambda cursor: port.queries.worklist(
            principal.brand_id, stage, assignee, now, cursor, 50, unassigned, members))  # fmt: skip
        return items, port.team.collectors(principal.brand_id) if manager else []

    try:
        items, collectors = await run_in_threadpool(load)
    except InvalidInput as exc:
        return error_page(request, 422, "No such team", str(exc))
    # "Call placed" of a call this staff member placed about a loan on this page of the worklist; a call comes back to
    # the worklist as it is (stage, filters, cursor), where its loan is - also from a refused reallocation's page.
    call_placed = await placed_call(request, port.fieldwork, principal, loans={i.loan_id for i in items.items})
    filters = _worklist_query(request)
    call_back = "/collections" + (f"?{filters}" if filters else "")
    return render(request, "collections.html", status if error else 200, nav="collections", items=items,
                  stage=stage.value, stages=[s.value for s in Stage], manager=manager, assignee=assignee,
                  unassigned=unassigned, team=team, can_reallocate=principal.holds(*REALLOCATE), now=now,
                  collectors=collectors, filters=filters, reallocate_error=error, call_placed=call_placed,
                  call_back=call_back)  # fmt: skip


#: The newest payment links of the loan the case page lists.
CASE_LINKS = 10


async def _panel(
    request: Request,
    port: CollectionsPort,
    principal: Principal,
    loan_id: UUID,
    error: str | None = None,
    status: int = 422,
) -> Response:
    """The case page; `error`: why a form was refused, answered with `status` (409 for a conflict such as a case
    moved to legal meanwhile, 422 for bad input)."""
    try:
        await run_in_threadpool(guard, port, principal, loan_id, Level.READ)
    except (NotFound, HttpProblem):
        return await not_found(request)
    view = await run_in_threadpool(panel, port, principal.brand_id, loan_id)
    # The executives of the allocation history by name, not id.
    moved = {str(i) for a in view.allocations for i in (a.staff_id, a.previous) if i is not None}
    named = await run_in_threadpool(
        staff_and_key_names, port.identity, principal.brand_id, {f"staff:{i}" for i in moved}
    )
    staff_names = {actor.partition(":")[2]: name for actor, name in named.items()}
    call_placed = await placed_call(request, port.fieldwork, principal, loans=[loan_id])
    # The loan's payment links (sent by Ops or from this page), newest first: what the borrower was sent.
    links = await run_in_threadpool(port.links.links, principal.brand_id, loan_id, port.clock.now())
    # The case's forms (contact, promise, evidence, payment link): for COLLECTIONS WRITE as before, and for whoever
    # holds the case's stage at WRITE (a pre- or post-collections team without COLLECTIONS); the actions check again.
    # The call and write-off forms lead to COLLECTIONS' own endpoints: `can_write`.
    stage = view.case.stage if view.case is not None else None
    can_write = principal.holds(*WRITE)
    can_work = can_write or (stage is not None and principal.holds(STAGE_PERMISSION[Stage(stage)], Level.WRITE))
    return render(request, "collection_case.html", status if error else 200, nav="collections", view=view,
                  links=list(reversed(links))[:CASE_LINKS],
                  outcomes=[o.value for o in Outcome], can_write=can_write, can_work=can_work,
                  manager=is_manager(principal), error=error, call_placed=call_placed,
                  staff_names=staff_names)  # fmt: skip


async def panel_page(
    request: Request,
    port: CollectionsPort,
    principal: Principal,
    loan_id: UUID,
    error: str | None = None,
    status: int = 422,
) -> Response:
    """A loan's collection panel; `error`: why a form of it was refused (said at the top, `status`: 422 by
    default)."""
    return await _panel(request, port, principal, loan_id, error, status)


async def case_page(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    return await _panel(request, port, principal, loan_id)


async def _write(request: Request, port: CollectionsPort, principal: Principal, work: Any) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    try:
        await run_in_threadpool(guard, port, principal, loan_id, Level.WRITE)
    except NotFound:
        return await not_found(request)
    except HttpProblem as exc:
        return error_page(request, 403, "Not allowed", exc.detail)
    try:
        result = await act(principal, lambda: work(loan_id))
    except DomainError as exc:
        return await _panel(request, port, principal, loan_id, error=error_text(exc), status=refusal_status(exc))
    except ValueError:
        return await _panel(request, port, principal, loan_id, error="check the values entered")
    return await after_write(request, Collections.name, result.position, f"/collections/loans/{loan_id}")


def _staff(principal: Principal) -> UUID | None:
    return principal.id if principal.kind == "staff" else None


async def contact_add(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    def work(loan_id: UUID) -> Any:
        outcome = Outcome(form_text(request, "outcome"))
        raw = form_text(request, "callback_at")
        callback = datetime.fromisoformat(raw) if raw else None
        if callback is not None and callback.tzinfo is None:
            callback = callback.replace(tzinfo=_tz(request))
        return port.collections.log_contact(principal.brand_id, loan_id, outcome, form_text(request, "remarks"),
                                            callback, staff_id=_staff(principal))  # fmt: skip

    return await _write(request, port, principal, work)


def _tz(request: Request) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(getattr(request.state, "timezone", "Asia/Kolkata"))


async def ptp_add(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    def work(loan_id: UUID) -> Any:
        due = date.fromisoformat(form_text(request, "date"))
        # The amount as typed: the shared MONEY rule reads it (422 naming `amount`), as the API's and other forms'.
        amount = form_text(request, "amount")
        return port.collections.promise(principal.brand_id, loan_id, due, amount, _staff(principal))

    return await _write(request, port, principal, work)


async def legal_move(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None or not is_manager(principal):
        return await not_found(request)
    reason = form_text(request, "reason")
    try:
        result = await act(principal, lambda: port.collections.move_to_post(principal.brand_id, loan_id, reason))
    except DomainError as exc:
        return await _panel(request, port, principal, loan_id, error=error_text(exc), status=refusal_status(exc))
    return await after_write(request, Collections.name, result.position, f"/collections/loans/{loan_id}")


async def allocate(request: Request, port: CollectionsPort, principal: Principal) -> Response:
    """Move the ticked loans to the executive chosen; refused, the worklist (as the form's action filters it) says
    why at the form, the ticks and the choice kept - 409 for a conflict, else 422 (a loan no longer in collections
    included: it is named)."""
    form = request.state.form
    try:
        loans = [UUID(v) for v in form.getlist("loan_id") if isinstance(v, str)]
        staff = UUID(form_text(request, "staff_id"))
    except ValueError:
        return await _worklist(request, port, principal, "Choose the loans and an executive.", 422)
    try:
        day = await run_in_threadpool(port.identity.business_date, principal.brand_id)
        result = await act(principal, lambda: port.collections.reallocate(principal.brand_id, loans, staff, day))
    except DomainError as exc:
        status = refusal_status(exc)
        return await _worklist(request, port, principal, error_text(exc), status)
    query = _worklist_query(request)
    return await after_write(
        request, Collections.name, result.position, "/collections" + (f"?{query}" if query else "")
    )


PAGES = pages(
    CollectionsPort,
    [
        Page("GET", "/collections", worklist_page, DESK_READ),
        Page("GET", "/collections/loans/{loan_id}", case_page, DESK_READ),
        Page("POST", "/collections/loans/{loan_id}/contacts", contact_add, DESK_WRITE, form=True),
        Page("POST", "/collections/loans/{loan_id}/ptps", ptp_add, DESK_WRITE, form=True),
        Page("POST", "/collections/loans/{loan_id}/legal", legal_move, LEGAL,
             form=True),
        Page("POST", "/collections/allocations", allocate, REALLOCATE, form=True),
    ],
)  # fmt: skip
