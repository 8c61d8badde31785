"""Portal pages for repayment operations: dashboard KPIs, overdue and upcoming feeds, a notice, sync monitoring."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.portal import _actor_names, page
from api.portal_admin import _error_text, _uuid
from api.services.notice_syncs import SyncRequests
from api.web import keyset_page, local_time, not_found, render, templates
from domain.identity.application import Principal
from domain.identity.permissions import Level, Permission
from domain.notices.source import SyncAlreadyRunning
from domain.shared.aggregate import acting_as
from domain.shared.clock import business_date
from domain.shared.errors import DomainError
from projections.notices import Scope

READ = (Permission.NOTICES, Level.READ)
SYNC_READ = (Permission.NOTICE_SYNC, Level.READ)
SYNC = (Permission.NOTICE_SYNC, Level.WRITE)

FEED_PAGE = 25
BANDS = ("high", "medium", "low", "unmatched")


def scope_of(principal: Principal) -> Scope:
    """What the signed-in staff member may see: the brand, limited to their companies when they have any."""
    return Scope(principal.brand_id, tuple(c.upper() for c in principal.companies))


def indian_rupees(value: Any) -> str:
    """An amount in rupees with Indian digit grouping, e.g. `₹12,34,567.50`."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return "—"
    whole, fraction = f"{abs(amount):.2f}".split(".")
    if len(whole) > 3:
        head, groups = whole[:-3], [whole[-3:]]
        while head:
            groups.insert(0, head[-2:])
            head = head[:-2]
        whole = ",".join(groups)
    return f"{'-' if amount < 0 else ''}₹{whole}.{fraction}"


def day(value: date | str | None) -> str:
    """A date (or an ISO date string, as history details keep them) as staff read it, e.g. `28 Nov 2026`."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d %b %Y")
        except ValueError:
            return value
    return value.strftime("%d %b %Y") if value else "—"


def duration(ms: int | None) -> str:
    """A run's duration: `850 ms`, `12.4 s` or `3 min 05 s`."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


templates.filters["inr"] = indian_rupees
templates.filters["day"] = day
templates.filters["duration"] = duration


def _holds(principal: Principal, permission: tuple[Permission, Level]) -> bool:
    granted = principal.grants.get(permission[0])
    return granted is not None and granted.covers(permission[1])


def _company(raw: str | None) -> str | None:
    value = (raw or "").strip().upper()[:30]
    return value or None


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _who(platform: Any, brand_id: UUID, actors: set[str]) -> dict[str, str]:
    """Display names of staff and API keys, and `job:<name>` as "the <name> job"; others as recorded."""
    names = {a: f"the {a.partition(':')[2]} job" for a in actors if a.startswith("job:")}
    return names | _actor_names(platform, brand_id, actors - names.keys())


def _started_flash(platform: Any, scope: Scope, raw_run_id: str | None) -> dict[str, Any] | None:
    """The run a just-pressed "Sync now" started, looked up (never echoed from the URL)."""
    run_id = _uuid(raw_run_id or "")
    return platform.notice_queries.sync_run(scope, run_id) if run_id else None  # type: ignore[no-any-return]


# Dashboard --------------------------------------------------------------------------------------------------


@page(READ)
async def repayments(request: Request, platform: Any, principal: Principal) -> Response:
    return await _repayments(request, platform, principal, _company(request.query_params.get("company")))


async def _repayments(
    request: Request,
    platform: Any,
    principal: Principal,
    company: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    scope = scope_of(principal)
    can_sync = _holds(principal, SYNC)

    def load() -> dict[str, Any]:
        return {
            "kpis": platform.notice_queries.dashboard(scope, company),
            "sources": platform.notice_queries.sources(scope, platform.clock.now()) if can_sync else [],
            "started": _started_flash(platform, scope, request.query_params.get("started")),
        }

    data = await run_in_threadpool(load)
    return render(
        request,
        "repayments.html",
        status,
        principal=principal,
        nav="repayments",
        tab="dashboard",
        company=company,
        can_sync=can_sync,
        error=error,
        **data,
    )


# Feeds ------------------------------------------------------------------------------------------------------


async def _feed(request: Request, platform: Any, principal: Principal, kind: str) -> Response:
    params = request.query_params
    scope = scope_of(principal)
    mode = params.get("mode") if params.get("mode") in ("overdue", "upcoming") else None
    filters: dict[str, Any] = {
        "mode": mode,
        "company": _company(params.get("company")),
        "due_from": _date(params.get("due_from")),
        "due_to": _date(params.get("due_to")),
    }
    try:
        limit = min(max(int(params.get("limit", FEED_PAGE)), 1), 100)
    except ValueError:
        limit = FEED_PAGE

    def load() -> dict[str, Any]:
        rows = keyset_page(
            request,
            lambda cursor: platform.notice_queries.feed(scope, kind=kind, cursor=cursor, limit=limit, **filters),
        )
        return {"rows": rows, "kpis": platform.notice_queries.dashboard(scope, filters["company"])}

    data = await run_in_threadpool(load)
    query = {k: str(v) for k, v in filters.items() if v}
    if limit != FEED_PAGE:
        query["limit"] = str(limit)
    next_url = None
    if data["rows"].next_cursor:
        next_url = f"/{kind}?{urlencode({**query, 'cursor': data['rows'].next_cursor})}"
    today = business_date(platform.clock.now(), request.state.timezone)
    return render(
        request,
        "notice_feed.html",
        principal=principal,
        nav="repayments",
        tab=kind,
        kind=kind,
        shown_mode=mode or kind,
        filters=filters,
        next_url=next_url,
        first_url=f"/{kind}?{urlencode(query)}" if params.get("cursor") else None,
        today=today,
        **data,
    )


@page(READ)
async def overdue(request: Request, platform: Any, principal: Principal) -> Response:
    return await _feed(request, platform, principal, "overdue")


@page(READ)
async def upcoming(request: Request, platform: Any, principal: Principal) -> Response:
    return await _feed(request, platform, principal, "upcoming")


# A notice ---------------------------------------------------------------------------------------------------


@page(READ)
async def notice_detail(request: Request, platform: Any, principal: Principal) -> Response:
    notice_id = _uuid(request.path_params["notice_id"])
    if notice_id is None:
        return await not_found(request)
    scope = scope_of(principal)

    def load() -> dict[str, Any] | None:
        row = platform.notice_queries.notice(scope, notice_id)
        if row is None:
            return None
        match = row["match"]
        borrower_ids = {str(c["customer_id"]) for c in match["candidates"]}
        if match["customer_id"]:
            borrower_ids.add(str(match["customer_id"]))
        names: dict[str, str] = {}
        for raw in borrower_ids:
            profile = platform.customer_queries.profile(principal.brand_id, UUID(raw), 1)
            if profile is not None:
                names[raw] = profile.name
        actors = _who(platform, principal.brand_id, {h["actor"] for h in row["history"]})
        return {"n": row, "names": names, "actors": actors}

    data = await run_in_threadpool(load)
    if data is None:
        return await not_found(request)
    return render(request, "notice.html", principal=principal, nav="repayments", tab=None, **data)


# Sync monitoring and "Sync now" -----------------------------------------------------------------------------


@page(SYNC_READ)
async def sync_page(request: Request, platform: Any, principal: Principal) -> Response:
    return await _sync_page(request, platform, principal)


async def _sync_page(
    request: Request, platform: Any, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    params = request.query_params
    scope = scope_of(principal)
    source_id = _uuid(params.get("source_id", ""))

    def load() -> dict[str, Any]:
        sources = platform.notice_queries.sources(scope, platform.clock.now())
        runs = keyset_page(request, lambda cursor: platform.notice_queries.sync_runs(scope, source_id, cursor, 25))
        actors = _who(platform, principal.brand_id, {r["requested_by"] for r in runs.items})
        started = _started_flash(platform, scope, params.get("started"))
        return {"sources": sources, "runs": runs, "actors": actors, "started": started}

    data = await run_in_threadpool(load)
    query = {"source_id": str(source_id)} if source_id else {}
    older_url = (
        f"/sync?{urlencode({**query, 'cursor': data['runs'].next_cursor})}" if data["runs"].next_cursor else None
    )
    return render(
        request,
        "sync.html",
        status,
        principal=principal,
        nav="sync",
        source_filter=source_id,
        can_sync=_holds(principal, SYNC),
        older_url=older_url,
        error=error,
        **data,
    )


@page(SYNC, form=True)
async def sync_now(request: Request, platform: Any, principal: Principal) -> Response:
    form = request.state.form
    back_to_dashboard = form.get("back") == "repayments"
    company = _company(str(form.get("company", ""))) if back_to_dashboard else None
    source_id = _uuid(request.path_params["source_id"])
    scope = scope_of(principal)
    source = None
    if source_id is not None:
        source = await run_in_threadpool(platform.notice_queries.source, scope, source_id, platform.clock.now())
    if source_id is None or source is None:
        return await not_found(request)  # another brand's source, or a company the staff member may not see

    def trigger() -> UUID:
        with acting_as(principal.actor):
            run_id = platform.port(SyncRequests).request(
                principal.brand_id, source_id, trigger="manual", requested_by=principal.actor
            )
        platform.engine.wait_for("notices", platform.engine.head("notices"))
        return run_id

    async def again(message: str, status: int) -> Response:
        if back_to_dashboard:
            return await _repayments(request, platform, principal, company, error=message, status=status)
        return await _sync_page(request, platform, principal, error=message, status=status)

    try:
        run_id = await run_in_threadpool(trigger)
    except SyncAlreadyRunning as exc:
        return await again(await _running_text(request, platform, principal, source, exc), 409)
    except DomainError as exc:
        return await again(f"Could not start a sync of {source['company']}: {_error_text(exc)}", 422)
    if back_to_dashboard:
        return RedirectResponse(
            f"/repayments?{urlencode({**({'company': company} if company else {}), 'started': str(run_id)})}",
            status_code=303,
        )
    return RedirectResponse(f"/sync?{urlencode({'started': str(run_id)})}", status_code=303)


async def _running_text(
    request: Request, platform: Any, principal: Principal, source: dict[str, Any], exc: SyncAlreadyRunning
) -> str:
    """The 409 in words: which run is still running, since when and for whom."""
    running = _uuid(str(exc.details.get("running_run_id", "")))
    text = f"A sync of {source['company']} is already running"
    run = await run_in_threadpool(platform.notice_queries.sync_run, scope_of(principal), running) if running else None
    if run is not None:
        who = await run_in_threadpool(_who, platform, principal.brand_id, {run["requested_by"]})
        by = who.get(run["requested_by"], run["requested_by"])
        text += f" (run {running}, started {local_time(run['started_at'], request.state.timezone)} by {by})"
    elif running:
        text += f" (run {running})"
    return text + ". It will finish on its own; try again once it has."


ROUTES: list[Route] = [
    Route("/repayments", repayments, methods=["GET"]),
    Route("/overdue", overdue, methods=["GET"]),
    Route("/upcoming", upcoming, methods=["GET"]),
    Route("/notices/{notice_id}", notice_detail, methods=["GET"]),
    Route("/sync", sync_page, methods=["GET"]),
    Route("/sync/{source_id}/run", sync_now, methods=["POST"]),
]
