"""Field visit pages, made for a phone: the agent's visits (keyset pages of PAGE_SIZE, by status; a manager's by
agent too), one visit with its record form (outcome, the phone's location through the browser's geolocation, a photo
from the camera), flagging a loan for a visit, and a manager's reassign and cancel forms on the visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.routes.collections import CollectionsPort, guard
from api.routes.field_visits import MANAGE, UPLOAD, agent_scope
from api.web import (
    Page,
    act,
    after_write,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.fieldwork.application import FieldWork
from domain.fieldwork.visit import FieldVisitNotFound, VisitOutcome, VisitStatus
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidValue, NotFound
from domain.shared.values import parse_date
from projections.fieldwork_queries import FieldworkPicks, FieldworkQueries

READ = (Permission.COLLECTIONS, Level.READ)
WRITE = (Permission.COLLECTIONS, Level.WRITE)


@dataclass(frozen=True)
class FieldVisitPagesPort:
    """What the field visit pages use."""

    fieldwork: FieldWork
    queries: FieldworkQueries
    picks: FieldworkPicks
    collections: CollectionsPort


#: Visits a page of the list shows; "Older →" reads the next page (keyset, the read model's cursor).
PAGE_SIZE = 50


def _list_filters(request: Request, scope: UUID | None) -> dict[str, str]:
    """The list's filters from the address (`status`; `agent` for those who see every agent's visits), only those
    set, as the links repeat them."""
    status = request.query_params.get("status", "")
    agent = request.query_params.get("agent", "")
    try:
        agent = str(UUID(agent)) if agent and scope is None else ""
    except ValueError:
        agent = ""
    shown = {"status": status if status in {s.value for s in VisitStatus} else "", "agent": agent}
    return {name: value for name, value in shown.items() if value}


async def _list(
    request: Request, port: FieldVisitPagesPort, principal: Principal, error: str | None = None
) -> Response:
    scope = agent_scope(principal)
    filters = _list_filters(request, scope)
    assignee = scope or (UUID(filters["agent"]) if "agent" in filters else None)
    page = await run_in_threadpool(
        keyset_page,
        request,
        lambda cursor: port.queries.visits(
            principal.brand_id, assignee_id=assignee, status=filters.get("status"), cursor=cursor, limit=PAGE_SIZE
        ),
    )
    can_flag = principal.holds(*WRITE)
    # The agents to pick: whom to flag a visit for, and (for those seeing everyone's visits) whose to list.
    agents = await run_in_threadpool(port.picks.staff, principal.brand_id, True) if can_flag or scope is None else []
    query = urlencode(filters)
    return render(
        request,
        "field_visits.html",
        422 if error else 200,
        nav="field-visits",
        visits=page.items,
        shown_status=filters.get("status"),
        shown_agent=filters.get("agent", ""),
        statuses=[s.value for s in VisitStatus],
        mine=scope is not None,
        can_flag=can_flag,
        agents=agents,
        older=f"/field-visits?{urlencode({**filters, 'cursor': page.next_cursor})}" if page.next_cursor else None,
        newest=f"/field-visits?{query}" if request.query_params.get("cursor") else None,
        error=error,
    )


async def field_visits_page(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    return await _list(request, port, principal)


async def flag_visit(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    number = form_text(request, "loan_number").strip()
    try:
        assignee = UUID(form_text(request, "assignee_id"))
    except ValueError:
        return await _list(request, port, principal, error="assignee_id: choose the field agent")
    raw_due = form_text(request, "due_on").strip()
    try:
        due: date | None = parse_date(raw_due, "due_on") if raw_due else None
    except InvalidValue as exc:
        return await _list(request, port, principal, error=error_text(exc))
    loan_id = await run_in_threadpool(port.picks.loan_id, principal.brand_id, number) if number else None
    if loan_id is None:
        return await _list(request, port, principal, error="loan_number: no loan of this brand has this number")
    reason = form_text(request, "reason")

    def flag() -> CommandResult:
        guard(port.collections, principal, loan_id, Level.WRITE)  # executives flag their own loans only
        return port.fieldwork.flag_visit(principal.brand_id, loan_id, assignee, reason, due)

    try:
        result = await act(principal, flag)
    except DomainError as exc:
        return await _list(request, port, principal, error=error_text(exc))
    return await after_write(request, FieldWork.name, result.position, "/field-visits")


#: What a visit's page says after a manager's change (`?done=` on the redirect: post/redirect/get).
DONE = {"reassigned": "The visit was given to {agent}.", "cancelled": "The visit was cancelled."}


async def _visit(
    request: Request,
    port: FieldVisitPagesPort,
    principal: Principal,
    visit_id: UUID,
    error: str | None = None,
    status: int = 422,
) -> Response:
    row = await run_in_threadpool(port.queries.visit, principal.brand_id, visit_id)
    scope = agent_scope(principal)
    if row is None or (scope is not None and row.assignee_id != scope):
        return await not_found(request)
    # Reassigning and cancelling need what the API's reassign and cancel need (COLLECTION_REALLOCATE_LOANS WRITE),
    # and an open visit.
    can_manage = principal.holds(*MANAGE) and row.status == "assigned"
    agents = await run_in_threadpool(port.picks.staff, principal.brand_id, True) if can_manage else []
    done = DONE.get(request.query_params.get("done", "")) if error is None else None
    return render(
        request,
        "field_visit.html",
        status if error else 200,
        nav="field-visits",
        v=row,
        outcomes=[o.value for o in VisitOutcome],
        can_record=principal.holds(*WRITE) and row.status == "assigned",
        can_add_photo=principal.holds(*WRITE) and row.status == "visited" and len(row.photos) < 6,
        can_manage=can_manage,
        agents=[a for a in agents if a.id != row.assignee_id],
        done=done.format(agent=row.assignee_name or "the agent") if done else None,
        error=error,
    )


async def field_visit_page(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    if visit_id is None:
        return await not_found(request)
    return await _visit(request, port, principal, visit_id)


async def _photo_upload(request: Request) -> tuple[str, bytes] | None:
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return None
    return file.filename, await file.read(UPLOAD.max_bytes + 1)


async def record_visit(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    if visit_id is None:
        return await not_found(request)
    try:
        outcome = VisitOutcome(form_text(request, "outcome"))
    except ValueError:
        return await _visit(request, port, principal, visit_id, error="outcome: choose what the visit found")
    upload = await _photo_upload(request)
    if upload is None:
        return await _visit(request, port, principal, visit_id, error="file: take or choose a photo of the visit")
    name, data = upload
    latitude, longitude = form_text(request, "latitude"), form_text(request, "longitude")
    remarks = form_text(request, "remarks")
    try:
        result = await act(
            principal,
            lambda: port.fieldwork.record_visit(
                principal.brand_id,
                visit_id,
                agent_scope(principal),
                outcome=outcome,
                latitude=latitude,
                longitude=longitude,
                remarks=remarks,
                filename=name,
                data=data,
            ),
        )
    except (FieldVisitNotFound, NotFound):
        return await not_found(request)
    except DomainError as exc:
        return await _visit(request, port, principal, visit_id, error=error_text(exc))
    return await after_write(request, FieldWork.name, result.position, f"/field-visits/{visit_id}")


async def add_photo(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    if visit_id is None:
        return await not_found(request)
    upload = await _photo_upload(request)
    if upload is None:
        return await _visit(request, port, principal, visit_id, error="file: take or choose a photo")
    name, data = upload
    try:
        result = await act(
            principal,
            lambda: port.fieldwork.add_visit_photo(principal.brand_id, visit_id, agent_scope(principal), name, data),
        )
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _visit(request, port, principal, visit_id, error=error_text(exc))
    return await after_write(request, FieldWork.name, result.position, f"/field-visits/{visit_id}")


async def visit_photo(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    sha256 = str(request.path_params.get("sha256", ""))
    if visit_id is None:
        return await not_found(request)
    try:
        photo, data = await run_in_threadpool(
            port.fieldwork.visit_photo, principal.brand_id, visit_id, sha256, agent_scope(principal)
        )
    except NotFound:
        return await not_found(request)
    return Response(
        data, media_type=photo.content_type, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private"}
    )


async def reassign_visit(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    if visit_id is None:
        return await not_found(request)
    try:
        assignee = UUID(form_text(request, "assignee_id"))
    except ValueError:
        return await _visit(request, port, principal, visit_id, error="assignee: choose the field agent to send")
    try:
        result = await act(principal, lambda: port.fieldwork.reassign_visit(principal.brand_id, visit_id, assignee))
    except NotFound:  # none, or another brand's: as if there were none
        return await not_found(request)
    except DomainError as exc:
        return await _visit(request, port, principal, visit_id, error_text(exc), refusal_status(exc))
    return await after_write(request, FieldWork.name, result.position, f"/field-visits/{visit_id}?done=reassigned")


async def cancel_visit(request: Request, port: FieldVisitPagesPort, principal: Principal) -> Response:
    visit_id = path_id(request, "visit_id")
    if visit_id is None:
        return await not_found(request)
    reason = form_text(request, "reason")
    try:
        result = await act(principal, lambda: port.fieldwork.cancel_visit(principal.brand_id, visit_id, reason))
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _visit(request, port, principal, visit_id, error_text(exc), refusal_status(exc))
    return await after_write(request, FieldWork.name, result.position, f"/field-visits/{visit_id}?done=cancelled")


PAGES = pages(
    FieldVisitPagesPort,
    [
        Page("GET", "/field-visits", field_visits_page, READ),
        Page("POST", "/field-visits", flag_visit, WRITE, form=True),
        Page("GET", "/field-visits/{visit_id}", field_visit_page, READ),
        Page("POST", "/field-visits/{visit_id}/visit", record_visit, WRITE, form=True, upload_bytes=UPLOAD.max_bytes),
        Page("POST", "/field-visits/{visit_id}/photos", add_photo, WRITE, form=True, upload_bytes=UPLOAD.max_bytes),
        Page("GET", "/field-visits/{visit_id}/photos/{sha256}", visit_photo, READ),
        Page("POST", "/field-visits/{visit_id}/reassign", reassign_visit, MANAGE, form=True),
        Page("POST", "/field-visits/{visit_id}/cancel", cancel_visit, MANAGE, form=True),
    ],
)
