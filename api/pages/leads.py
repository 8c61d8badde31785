"""Portal pages of leads and attribution: the lead list with the import form, an import's result table, moving a
lead in the funnel, linking a lead by hand to the borrower it became, the Sales Manager / Head view, the rating
matrix and a staff member's ratings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.routes.leads import UPLOAD, import_view
from api.routes.ratings import rating_history
from api.routes.sales import SalesPort, sales_overview, sales_targets
from api.web import (
    Page,
    act,
    after_write,
    as_id,
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
from domain.identity.application import Identity
from domain.identity.permissions import ROLES, Level, Permission
from domain.identity.principal import Principal
from domain.leads.application import Leads
from domain.leads.csv_import import LeadSource
from domain.leads.lead import LeadStatus
from domain.leads.rating import PERIOD, Criterion, Metric
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidValue, NotFound
from domain.shared.values import looks_like_phone, normalise_phone, whole_number
from projections.lead_queries import LeadFilter, LeadQueries
from projections.ratings import RatingQueries

LEADS_READ = (Permission.LEADS, Level.READ)
LEADS_WRITE = (Permission.LEADS, Level.WRITE)
SALES_READ = (Permission.MASTER_REPORTS, Level.READ)
MATRIX_READ = (Permission.BRAND_SETTINGS, Level.READ)
MATRIX_WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
RATINGS_READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)
RATINGS_WRITE = (Permission.PARTNER_USER_MANAGEMENT, Level.WRITE)
MATRIX_ROWS = 8  # rows of the matrix form (filled ones plus empty ones)


@dataclass(frozen=True)
class LeadPagesPort:
    """What the lead, sales and rating pages use."""

    leads: Leads
    queries: LeadQueries
    ratings: RatingQueries
    sales: SalesPort
    identity: Identity


def _choice(request: Request, name: str, kind: type[LeadStatus] | type[LeadSource]) -> str | None:
    value = request.query_params.get(name) or None
    return value if value in {k.value for k in kind} else None


async def _leads(
    request: Request, port: LeadPagesPort, principal: Principal, error: str | None = None, status_code: int = 422
) -> Response:
    status, source = _choice(request, "status", LeadStatus), _choice(request, "source", LeadSource)
    organic = {"true": True, "false": False}.get(request.query_params.get("organic", ""))
    page = await run_in_threadpool(
        keyset_page,
        request,
        lambda cursor: port.queries.leads(
            principal.brand_id,
            LeadFilter(
                status=LeadStatus(status) if status else None,
                source=LeadSource(source) if source else None,
                organic=organic,
            ),
            cursor,
            50,
        ),
    )
    linked = None
    if error is None and (linked_id := as_id(request.query_params.get("linked", ""))) is not None:
        linked = await run_in_threadpool(_linked, port, principal.brand_id, linked_id)
    # The month's targets and progress, read-only, for every Sales agent (the managers' /sales has the rest).
    targets = await run_in_threadpool(sales_targets, port.sales, principal.brand_id, None)
    return render(
        request,
        "leads.html",
        status_code if error else 200,
        targets=targets,
        nav="leads",
        page=page,
        chosen_status=status,
        source=source,
        organic=request.query_params.get("organic", ""),
        statuses=[s.value for s in LeadStatus],
        sources=[s.value for s in LeadSource],
        can_edit=principal.holds(*LEADS_WRITE),
        linked=linked,
        error=error,
    )


def _linked(port: LeadPagesPort, brand_id: UUID, lead_id: UUID) -> str | None:
    """What the list says after a lead was linked to its borrower (`?linked=<lead id>`: post/redirect/get)."""
    lead = port.queries.lead(brand_id, lead_id)
    if lead is None or lead.borrower_id is None:
        return None
    names = port.queries.matched_names(brand_id, (), (lead.borrower_id,))
    return f"{lead.name} is linked to the borrower {names.get(lead.borrower_id, str(lead.borrower_id))}."


async def leads_page(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    return await _leads(request, port, principal)


async def leads_import(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile):
        return await _leads(request, port, principal, error="file: choose a lead CSV")
    data = await file.read(UPLOAD.max_bytes + 1)
    if len(data) > UPLOAD.max_bytes:
        return await _leads(request, port, principal, error="file: the file is too large (20 MiB at most)")
    chosen = form_text(request, "source")
    source = LeadSource(chosen) if chosen in {s.value for s in LeadSource} else None
    name = file.filename or "leads.csv"
    try:
        result = await act(principal, lambda: port.leads.import_file(principal.brand_id, data, name, source))
    except DomainError as exc:
        return await _leads(request, port, principal, error=error_text(exc))
    return await after_write(request, Leads.name, result.position, f"/leads/imports/{result.id}")


async def lead_import_page(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    import_id = path_id(request, "import_id")
    row = await run_in_threadpool(port.queries.lead_import, principal.brand_id, import_id) if import_id else None
    if row is None:
        return await not_found(request)
    result = import_view(row)
    # The leads and borrowers the lines matched, by name (the page showed their ids).
    leads = {x.matched_id for x in result.lines if x.matched_kind == "lead" and x.matched_id}
    borrowers = {x.matched_id for x in result.lines if x.matched_kind == "borrower" and x.matched_id}
    names = await run_in_threadpool(port.queries.matched_names, principal.brand_id, leads, borrowers)
    return render(request, "lead_import.html", nav="leads", result=result, names=names)


async def lead_move(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    lead_id = path_id(request, "lead_id")
    if lead_id is None:
        return await not_found(request)
    chosen = form_text(request, "status")
    if chosen not in {s.value for s in LeadStatus}:
        return await _leads(request, port, principal, error="status: choose a funnel step")
    version = form_text(request, "version")
    expected = whole_number(version)
    try:
        result = await act(
            principal,
            lambda: port.leads.move(principal.brand_id, lead_id, LeadStatus(chosen), None, expected),
        )
    except DomainError as exc:  # a lead moved since the page was read: 409, as every portal form's conflict
        return await _leads(request, port, principal, error=error_text(exc), status_code=refusal_status(exc))
    return await after_write(request, Leads.name, result.position, "/leads")


def _borrower_named(port: LeadPagesPort, brand_id: UUID, given: str) -> UUID:
    """The borrower a link form names, as the API's `borrower_id` takes it: the customer id (the record's id or its
    formatted id, DEMO-C-000123) or their primary phone in any spelling; InvalidValue naming `borrower` otherwise."""
    text = given.strip()
    if not text:
        raise InvalidValue("borrower", "give the borrower's phone or customer id")
    given_id = as_id(text)
    if given_id is not None:
        return given_id  # the API's borrower_id (the use case checks it is a borrower of the brand)
    if looks_like_phone(text):
        found = port.queries.borrower_id(brand_id, phone=normalise_phone(text, "borrower"))
        if found is None:
            raise InvalidValue("borrower", "no borrower of this brand has this phone number")
        return found
    found = port.queries.borrower_id(brand_id, number=text.upper())
    if found is None:
        raise InvalidValue("borrower", "no borrower of this brand has this customer id or phone number")
    return found


async def lead_link(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    lead_id = path_id(request, "lead_id")
    if lead_id is None:
        return await not_found(request)
    if await run_in_threadpool(port.queries.lead, principal.brand_id, lead_id) is None:
        return await not_found(request)  # none, or another brand's: as if there were none, whatever the form says
    given = form_text(request, "borrower")

    def link() -> CommandResult:
        borrower = _borrower_named(port, principal.brand_id, given)
        return port.leads.link(principal.brand_id, lead_id, borrower)

    try:
        result = await act(principal, link)
    except NotFound:  # none, or another brand's lead: as if there were none
        return await not_found(request)
    except DomainError as exc:  # a borrower not found (422), a lead linked to another borrower already (409)
        return await _leads(request, port, principal, error=error_text(exc), status_code=refusal_status(exc))
    return await after_write(request, Leads.name, result.position, f"/leads?linked={lead_id}")


async def sales_page(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    month = request.query_params.get("month") or None
    if month is not None and not PERIOD.match(month):
        return error_page(request, 422, "Cannot use this input", "month: a month is YYYY-MM")
    overview = await run_in_threadpool(sales_overview, port.sales, principal.brand_id, month)
    return render(request, "sales.html", nav="sales", overview=overview)


async def _matrix(
    request: Request, port: LeadPagesPort, principal: Principal, error: str | None = None, status: int = 422
) -> Response:
    matrix = await run_in_threadpool(port.ratings.matrix, principal.brand_id)
    criteria = matrix.criteria if matrix else []
    return render(
        request,
        "rating_matrix.html",
        status if error else 200,
        nav="ratings",
        criteria=criteria,
        blanks=max(0, MATRIX_ROWS - len(criteria)),
        version=matrix.version if matrix else 0,
        metrics=[m.value for m in Metric],
        roles=sorted(ROLES),
        can_edit=principal.holds(*MATRIX_WRITE),
        error=error,
    )


async def matrix_page(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    return await _matrix(request, port, principal)


def _criteria(request: Request) -> list[Criterion]:
    form = request.state.form
    metrics, labels, weights = form.getlist("metric"), form.getlist("label"), form.getlist("weight")
    roles, targets = form.getlist("role"), form.getlist("target")
    criteria = []
    for i, (metric, label, weight, role, target) in enumerate(
        zip(metrics, labels, weights, roles, targets, strict=False)
    ):
        if not str(metric) or not str(weight).strip():
            continue  # an empty row
        try:
            criteria.append(
                Criterion(
                    metric=Metric(str(metric)),
                    label=str(label).strip() or str(metric),
                    weight=int(str(weight)),
                    role=str(role),
                    target=Decimal(str(target).strip() or "1"),
                )
            )
        except (ValueError, InvalidOperation):
            raise DomainError(f"row {i + 1}: give a metric, a whole-number weight and a number target") from None
    return criteria


async def matrix_save(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    version = form_text(request, "version")
    try:
        criteria = _criteria(request)
        result = await act(
            principal,
            lambda: port.leads.set_matrix(principal.brand_id, criteria, whole_number(version)),
        )
    except DomainError as exc:  # saved by someone else since the page was read: 409 (the rows typed kept)
        return await _matrix(request, port, principal, error=error_text(exc), status=refusal_status(exc))
    return await after_write(request, Leads.name, result.position, "/rating-matrix")


async def _ratings(request: Request, port: LeadPagesPort, principal: Principal, error: str | None = None) -> Response:
    staff_id = path_id(request, "staff_id")
    history = (
        await run_in_threadpool(rating_history, port.identity, port.ratings, principal.brand_id, staff_id)
        if staff_id
        else None
    )
    if history is None:
        return await not_found(request)
    metrics = sorted({c.metric for p in history.periods for c in p.criteria} | {Metric.MANUAL.value})
    return render(
        request,
        "staff_ratings.html",
        422 if error else 200,
        nav="staff",
        history=history,
        metrics=metrics,
        can_rate=principal.holds(*RATINGS_WRITE),
        error=error,
    )


async def ratings_page(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    return await _ratings(request, port, principal)


async def ratings_save(request: Request, port: LeadPagesPort, principal: Principal) -> Response:
    staff_id = path_id(request, "staff_id")
    if staff_id is None:
        return await not_found(request)
    form = request.state.form
    scores: dict[str, int] = {}
    for metric in Metric:
        raw = str(form.get(f"score_{metric.value}", "")).strip()
        if raw:
            score = whole_number(raw, max_digits=9)
            if score is None:
                return await _ratings(request, port, principal, error=f"{metric.value}: a rating is 1 to 10")
            scores[metric.value] = score
    period, note = form_text(request, "period"), form_text(request, "note") or None
    try:
        result = await act(principal, lambda: port.leads.rate(principal.brand_id, staff_id, period, scores, note))
    except DomainError as exc:
        return await _ratings(request, port, principal, error=error_text(exc))
    return await after_write(request, Leads.name, result.position, f"/staff/{staff_id}/ratings")


PAGES = pages(
    LeadPagesPort,
    [
        Page("GET", "/leads", leads_page, LEADS_READ),
        Page("POST", "/leads/imports", leads_import, LEADS_WRITE, form=True, upload_bytes=UPLOAD.max_bytes),
        Page("GET", "/leads/imports/{import_id}", lead_import_page, LEADS_READ),
        Page("POST", "/leads/{lead_id}/status", lead_move, LEADS_WRITE, form=True),
        Page("POST", "/leads/{lead_id}/borrower", lead_link, LEADS_WRITE, form=True),
        Page("GET", "/sales", sales_page, SALES_READ),
        Page("GET", "/rating-matrix", matrix_page, MATRIX_READ),
        Page("POST", "/rating-matrix", matrix_save, MATRIX_WRITE, form=True),
        Page("GET", "/staff/{staff_id}/ratings", ratings_page, RATINGS_READ),
        Page("POST", "/staff/{staff_id}/ratings", ratings_save, RATINGS_WRITE, form=True),
    ],
)
