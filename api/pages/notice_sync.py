"""Sync pages: every source with its health and the sync runs, newest first; "Sync now" from here or the dashboard."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.actors import actor_names
from api.pages.notices import (
    SYNC,
    SYNC_READ,
    RepaymentPagesPort,
    company_param,
    id_param,
    repayments_page,
    started_run,
)
from api.routes.notice_sources import scope_of
from api.web import Page, act, error_text, form_text, keyset_page, local_time, not_found, pages, path_id, render
from domain.identity.principal import Principal
from domain.notices.application import Notices
from domain.notices.source import SyncAlreadyRunning
from domain.shared.errors import DomainError
from projections.notice_sources import NoticeSourceView, SyncRunPage


async def sync_page(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    return await _sync_page(request, port, principal)


async def _sync_page(
    request: Request, port: RepaymentPagesPort, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    params = request.query_params
    scope = scope_of(principal)
    source_id = id_param(params.get("source_id"))

    def runs_page(cursor: str | None) -> SyncRunPage:
        return port.sources.sync_runs(scope, source_id, cursor, 25)

    def load() -> dict[str, Any]:
        sources = port.sources.sources(scope, port.clock.now())
        runs = keyset_page(request, runs_page)
        actors = actor_names(port.identity, principal.brand_id, {r.requested_by for r in runs.items})
        started = started_run(port, scope, params.get("started"))
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
        can_sync=principal.holds(*SYNC),
        older_url=older_url,
        error=error,
        **data,
    )


async def sync_now(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    back_to_dashboard = form_text(request, "back") == "repayments"
    company = company_param(form_text(request, "company")) if back_to_dashboard else None
    source_id = path_id(request, "source_id")
    scope = scope_of(principal)
    source = None
    if source_id is not None:
        source = await run_in_threadpool(port.sources.source, scope, source_id, port.clock.now())
    if source_id is None or source is None:
        return await not_found(request)  # another brand's source, or a company the staff member may not see

    def trigger() -> tuple[UUID, bool]:
        run_id = port.syncs.request(principal.brand_id, source_id, trigger="manual", requested_by=principal.actor)
        return run_id, port.engine.wait_for(Notices.name, port.engine.head(Notices.name))

    async def again(message: str, status: int) -> Response:
        if back_to_dashboard:
            return await repayments_page(request, port, principal, company, error=message, status=status)
        return await _sync_page(request, port, principal, error=message, status=status)

    try:
        run_id, shown = await act(principal, trigger)
    except SyncAlreadyRunning as exc:
        return await again(await _running_text(request, port, principal, source, exc), 409)
    except DomainError as exc:
        return await again(f"Could not start a sync of {source.company}: {error_text(exc)}", 422)
    # The run is requested either way; when the page would not show it yet, it says so (`saved=pending`).
    query = {"started": str(run_id), **({} if shown else {"saved": "pending"})}
    if back_to_dashboard:
        return RedirectResponse(
            f"/repayments?{urlencode({**({'company': company} if company else {}), **query})}", status_code=303
        )
    return RedirectResponse(f"/sync?{urlencode(query)}", status_code=303)


async def _running_text(
    request: Request, port: RepaymentPagesPort, principal: Principal, source: NoticeSourceView, exc: SyncAlreadyRunning
) -> str:
    """The 409 in words: which run is still running, since when and for whom."""
    running = id_param(str(exc.details.get("running_run_id", "")))
    text = f"A sync of {source.company} is already running"
    run = await run_in_threadpool(port.sources.sync_run, scope_of(principal), running) if running else None
    if run is not None:
        who = await run_in_threadpool(actor_names, port.identity, principal.brand_id, {run.requested_by})
        by = who.get(run.requested_by, run.requested_by)
        text += f" (run {running}, started {local_time(run.started_at, request.state.timezone)} by {by})"
    elif running:
        text += f" (run {running})"
    return text + ". It will finish on its own; try again once it has."


PAGES = pages(
    RepaymentPagesPort,
    [
        Page("GET", "/sync", sync_page, SYNC_READ),
        Page("POST", "/sync/{source_id}/run", sync_now, SYNC, form=True),
    ],
)
