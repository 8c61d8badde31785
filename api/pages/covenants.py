"""Covenant pages: the worklist, a covenant with its history, the review actions, closing a covenant and the notices
sent to borrowers (their counts on the dashboard are api/pages/insight.py's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names, staff_and_key_names
from api.routes.documents import UPLOAD
from api.services.covenant_proofs import CovenantProofs
from api.web import (
    Page,
    act,
    after_write,
    as_id,
    caught_up,
    changed_since,
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
from domain.covenants.application import Covenants
from domain.documents.content import Uploader
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.errors import DomainError, InvalidValue, NotFound
from domain.shared.values import whole_number
from projections.borrower_loans import BorrowerLoanQueries
from projections.covenant_queries import CovenantQueries
from projections.identity import IdentityQueries
from projections.keyset import Page as ListPage

READ = (Permission.COVENANTS, Level.READ)
WRITE = (Permission.COVENANTS, Level.WRITE)  # attaching proof (the review itself is REVIEW)
REVIEW = (Permission.COVENANT_REVIEW, Level.WRITE)
#: Notices a page of "Notices sent" shows; "Older →" reads the next page (keyset on queued_at, id).
NOTICES_PAGE_SIZE = 50
#: The worklist's filters, as its address carries them (and its paging links repeat them).
FILTERS = ("status", "due_from", "due_to", "type", "assignee_id", "proof_received")


@dataclass(frozen=True)
class CovenantPagesPort:
    """What the covenant pages use: the use cases, the read model, the staff directory (assignees), the loans the
    application references name, proof documents, and the directory naming who decided a record or attached a
    proof."""

    covenants: Covenants
    queries: CovenantQueries
    staff: IdentityQueries
    loans: BorrowerLoanQueries
    proofs: CovenantProofs
    identity: Identity


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _flag(raw: str | None) -> bool | None:
    """`true` or `false` as the filter's select sends them; anything else is no filter (as a bad date is)."""
    return {"true": True, "false": False}.get(raw or "")


async def worklist(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    params = request.query_params
    brand_id = principal.brand_id

    def load() -> dict[str, Any]:
        rows = keyset_page(
            request,
            lambda cursor: port.queries.worklist(
                brand_id,
                status=params.get("status") or None,
                due_from=_date(params.get("due_from")),
                due_to=_date(params.get("due_to")),
                type=params.get("type") or None,
                assignee_id=as_id(params.get("assignee_id")),
                proof_received=_flag(params.get("proof_received")),
                cursor=cursor,
                companies=principal.companies,
            ),
        )
        staff = port.staff.staff_list(brand_id, None, None, 200).items
        return {"rows": rows, "counts": port.queries.counts(brand_id, principal.companies), "staff": staff}

    data = await run_in_threadpool(load)
    query = "&".join(f"{k}={params.get(k)}" for k in FILTERS if params.get(k))
    return render(request, "covenants.html", nav="covenants", filters=params, query=query, **data)


async def _detail(
    request: Request,
    port: CovenantPagesPort,
    principal: Principal,
    covenant_id: UUID,
    error: str | None = None,
    status: int = 422,
    refused_at: UUID | None = None,
    assignee_error: str | None = None,
) -> Response:
    """The covenant with its records; `error`: why a form was refused, answered with `status` (409 for a conflict
    such as a record someone already decided, 422 for bad input), said at record `refused_at`'s forms when given,
    else at the top; `assignee_error`: why the assignee form was refused, said at that form. The refused form is
    filled again with what was typed (`kept`, api/web.py)."""
    # Another company's covenant (for one limited to companies) is a 404, as an unknown id.
    history = await run_in_threadpool(port.queries.history, principal.brand_id, covenant_id, principal.companies)
    if history is None:
        return await not_found(request)
    can_edit = principal.holds(*WRITE)  # the API's PATCH /api/v1/covenants/{id} (reassign) needs the same
    staff = []
    if can_edit:  # the assignee form lists who may follow the covenant up
        staff = await run_in_threadpool(lambda: port.staff.staff_list(principal.brand_id, None, None, 200).items)
    loan = None  # the application reference may name a Covenant Desk loan (issue #15): linked
    if history.application_ref and principal.holds(Permission.LOANS):
        loan = await run_in_threadpool(port.loans.by_number, principal.brand_id, history.application_ref)
    recorded = {e.reviewed_by for e in history.evaluations if e.reviewed_by}
    recorded |= {p.attached_by for e in history.evaluations for p in e.proofs if p.attached_by}
    if history.assignee_id is not None:  # named like the actors (the page shows who follows the covenant up)
        recorded.add(f"staff:{history.assignee_id}")
    actors = await run_in_threadpool(actor_names, port.identity, principal.brand_id, recorded)
    # After an assignee save (`?assigned=<staff id>` or `nobody`): who, said above the card as the Jobs and sync
    # pages say a save. Only a staff member of the brand is named; any other value says nothing.
    assigned = None
    if error is None and assignee_error is None and (raw := request.query_params.get("assigned")):
        assigned = await _assigned_words(port, principal, raw)
    # After the close form (`?closed=1`): said only when the covenant is closed (a hand-typed address says nothing).
    closed = error is None and request.query_params.get("closed") == "1" and history.status == "closed"
    return render(
        request,
        "covenant.html",
        status if error or assignee_error else 200,
        nav="covenants",
        can_review=principal.holds(*REVIEW),
        can_attach=can_edit,
        can_edit=can_edit,
        staff=staff,
        assignee_error=assignee_error,
        assigned=assigned,
        closed=closed,
        error=error,
        refused_at=refused_at,
        c=history,
        loan=loan,
        actors=actors,
        evaluations=history.evaluations,
    )


async def covenant_detail(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    covenant_id = path_id(request, "covenant_id")
    if covenant_id is None:
        return await not_found(request)
    return await _detail(request, port, principal, covenant_id)


async def reassign(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    """The covenant page's assignee form: the API's reassign (PATCH /api/v1/covenants/{id}) with the version the
    page showed, so a covenant changed since is refused (409, in words with the assignee now), nothing saved."""
    covenant_id = path_id(request, "covenant_id")
    if covenant_id is None:
        return await not_found(request)
    raw = form_text(request, "assignee_id").strip()
    assignee_id = as_id(raw)
    if raw and assignee_id is None:
        message = "assignee: choose a staff member from the list"
        return await _detail(request, port, principal, covenant_id, assignee_error=message)
    shown = whole_number(form_text(request, "expected_version").strip())
    try:
        result = await act(
            principal,
            lambda: port.covenants.reassign(
                principal.brand_id, covenant_id, assignee_id, expected_version=shown, companies=principal.companies
            ),
        )
    except NotFound:  # another brand's (or an unseen company's) covenant, or none
        return await not_found(request)
    except ConcurrentModification:
        await caught_up(request, Covenants.name)  # the page shows the covenant (and its version) as it is now
        now = await run_in_threadpool(port.covenants.covenant, principal.brand_id, covenant_id)
        message = changed_since("this covenant", await _assignee_words(port, principal, now.assignee_id))
        return await _detail(request, port, principal, covenant_id, status=409, assignee_error=message)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _detail(request, port, principal, covenant_id, status=status, assignee_error=error_text(exc))
    saved = str(assignee_id) if assignee_id is not None else "nobody"
    target = f"/covenants/{covenant_id}?{urlencode({'assigned': saved})}#covenant-assignee"
    return await after_write(request, Covenants.name, result.position, target)


async def close(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    """The covenant page's close form: the API's close (POST /api/v1/covenants/{id}/close, COVENANTS WRITE) with its
    reason; refused (no reason 422, a covenant not active 409) on the page with what was typed, else back to the page
    saying it is closed."""
    covenant_id = path_id(request, "covenant_id")
    if covenant_id is None:
        return await not_found(request)
    reason = form_text(request, "reason")
    try:
        result = await act(
            principal,
            lambda: port.covenants.close_covenant(principal.brand_id, covenant_id, reason, principal.companies),
        )
    except NotFound:  # another brand's (or an unseen company's) covenant, or none
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _detail(request, port, principal, covenant_id, error=error_text(exc), status=status)
    return await after_write(request, Covenants.name, result.position, f"/covenants/{covenant_id}?closed=1")


#: What the "Notices sent" page says when its address names no borrower of the brand (it lists every notice).
UNKNOWN_BORROWER = "That link names no borrower of this brand, so these are the notices to every borrower."


async def notices(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    """The emails sent (or still owed) to borrowers about records due or overdue, newest first, in keyset pages (the
    API's GET /api/v1/covenant-notices), within the caller's brand; `?customer_id=` keeps one borrower's (the
    Customer 360's covenant card links there; each row's borrower links to their own), its pages keeping the filter.
    An address naming no borrower of the brand lists every notice and says so (422)."""
    raw = request.query_params.get("customer_id") or ""
    brand, companies = principal.brand_id, principal.companies  # a notice of another company's records: left out

    def load() -> tuple[ListPage, dict[UUID, str], UUID | None]:
        wanted = as_id(raw)
        borrower = wanted if wanted is not None and port.queries.customer_names(brand, [wanted]) else None
        if raw and borrower is None:
            request.state.notice = UNKNOWN_BORROWER
            page = port.queries.notice_page(brand, None, None, NOTICES_PAGE_SIZE, companies)
        else:
            page = keyset_page(
                request, lambda cursor: port.queries.notice_page(brand, borrower, cursor, NOTICES_PAGE_SIZE, companies)
            )
        ids = {n.customer_id for n in page.items} | ({borrower} if borrower else set())
        return page, port.queries.customer_names(brand, ids), borrower

    page, names, borrower = await run_in_threadpool(load)
    shown = {"customer_id": str(borrower)} if borrower else {}  # the filter the links repeat
    older = f"/covenant-notices?{urlencode(shown | {'cursor': page.next_cursor})}" if page.next_cursor else None
    newest = f"/covenant-notices?{urlencode(shown)}".rstrip("?") if request.query_params.get("cursor") else None
    return render(
        request,
        "covenant_notices.html",
        nav="covenants",
        notices=page.items,
        names=names,
        borrower=borrower,
        older=older,
        newest=newest,
    )


async def _assigned_words(port: CovenantPagesPort, principal: Principal, raw: str) -> str | None:
    """The flash of an assignee save (`?assigned=`): "Assigned to <name>." for a staff member of the brand,
    "Assignee removed: ..." for `nobody`, None for anything else (a hand-typed address names nobody)."""
    if raw == "nobody":
        return "Assignee removed: nobody follows this covenant up."
    staff_id = as_id(raw)
    if staff_id is None:
        return None
    actor = f"staff:{staff_id}"
    names = await run_in_threadpool(staff_and_key_names, port.identity, principal.brand_id, {actor})
    return f"Assigned to {names[actor]}." if actor in names else None


async def _assignee_words(port: CovenantPagesPort, principal: Principal, assignee_id: UUID | None) -> str:
    """Who follows the covenant up, as the page names them."""
    if assignee_id is None:
        return "assigned to nobody"
    actor = f"staff:{assignee_id}"
    names = await run_in_threadpool(actor_names, port.identity, principal.brand_id, {actor})
    return f"assigned to {names.get(actor, str(assignee_id))}"


def _review(
    request: Request, port: CovenantPagesPort, action: str, companies: tuple[str, ...]
) -> Callable[[UUID, UUID, str], CommandResult] | None:
    """The use case a review form names, or None; comply takes the proofs the reviewer ticked as approved. Each
    refuses a record of a covenant of a company other than `companies` (the caller's; empty: every company): 404."""
    if action == "comply":
        form = request.state.form
        ticked = [value for value in form.getlist("proof_document_ids") if isinstance(value, str)]
        return lambda brand_id, evaluation_id, text: port.proofs.comply(
            brand_id, evaluation_id, text, [_proof_id(raw) for raw in ticked], companies
        )
    if action == "waive":
        return lambda brand_id, evaluation_id, text: port.covenants.waive(brand_id, evaluation_id, text, companies)
    if action == "submit-value":
        return lambda brand_id, evaluation_id, text: port.covenants.submit_value(
            brand_id, evaluation_id, text, companies
        )
    return None


def _proof_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidValue("proof_document_ids", "tick proofs listed on the record") from None


async def review(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    evaluation_id = path_id(request, "evaluation_id")
    use_case = _review(request, port, str(request.path_params["action"]), principal.companies)
    if evaluation_id is None or use_case is None:
        return await not_found(request)
    row = await run_in_threadpool(port.queries.evaluation, principal.brand_id, evaluation_id, principal.companies)
    if row is None:
        return await not_found(request)
    text = form_text(request, "text")
    try:
        result = await act(principal, lambda: use_case(principal.brand_id, evaluation_id, text))
    except DomainError as exc:
        return await _refused(request, port, principal, row.covenant_id, evaluation_id, exc)
    return await after_write(request, Covenants.name, result.position, f"/covenants/{row.covenant_id}")


async def _refused(
    request: Request, port: CovenantPagesPort, principal: Principal, covenant_id: UUID, at: UUID, exc: DomainError
) -> Response:
    """A record's form refused: the covenant page with why at that record, 409 for a conflict (the record already
    decided, closed, or saved by someone else meanwhile), else 422."""
    status = refusal_status(exc)
    return await _detail(request, port, principal, covenant_id, error=error_text(exc), status=status, refused_at=at)


async def attach_proof(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    evaluation_id = path_id(request, "evaluation_id")
    if evaluation_id is None:
        return await not_found(request)
    row = await run_in_threadpool(port.queries.evaluation, principal.brand_id, evaluation_id, principal.companies)
    if row is None:
        return await not_found(request)
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return await _detail(
            request, port, principal, row.covenant_id, error="file: choose the proof document", refused_at=evaluation_id
        )
    name, data = file.filename, await file.read(UPLOAD.max_bytes + 1)
    try:
        result = await act(
            principal,
            lambda: port.proofs.attach(
                principal.brand_id, evaluation_id, name, data, Uploader.STAFF, companies=principal.companies
            ),
        )
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _refused(request, port, principal, row.covenant_id, evaluation_id, exc)
    return await after_write(request, Covenants.name, result.position, f"/covenants/{row.covenant_id}")


async def proof_file(request: Request, port: CovenantPagesPort, principal: Principal) -> Response:
    evaluation_id, document_id = path_id(request, "evaluation_id"), path_id(request, "document_id")
    if evaluation_id is None or document_id is None:
        return await not_found(request)
    try:
        found = await run_in_threadpool(
            port.proofs.content, principal.brand_id, evaluation_id, document_id, principal.companies
        )
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # the stored bytes were altered: said, never served
        return error_page(request, 409, "Proof unavailable", error_text(exc))
    proof = found.proof
    return Response(
        found.data,
        media_type=proof.content_type.value,
        headers={
            "Content-Disposition": f'attachment; filename="{found.served_name}"',
            "X-Content-Type-Options": "nosniff",
            "X-Document-SHA256": proof.sha256,
            "Cache-Control": "private, no-store",
        },
    )


PAGES = pages(
    CovenantPagesPort,
    [
        Page("GET", "/covenants", worklist, READ),
        Page("GET", "/covenants/{covenant_id}", covenant_detail, READ),
        Page("POST", "/covenants/{covenant_id}/assignee", reassign, WRITE, form=True),
        Page("POST", "/covenants/{covenant_id}/close", close, WRITE, form=True),
        Page("GET", "/covenant-notices", notices, READ),
        # Before the review forms' `{action}`, which would take `proofs` for an action.
        Page(
            "POST",
            "/covenant-evaluations/{evaluation_id}/proofs",
            attach_proof,
            WRITE,
            form=True,
            upload_bytes=UPLOAD.max_bytes,
        ),
        Page("GET", "/covenant-evaluations/{evaluation_id}/proofs/{document_id}", proof_file, READ),
        Page("POST", "/covenant-evaluations/{evaluation_id}/{action}", review, REVIEW, form=True),
    ],
)
