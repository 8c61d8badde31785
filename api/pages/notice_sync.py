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
from api.routes.notice_sources import CONFIGURE, scope_of
from api.web import (
    Page,
    act,
    after_write,
    caught_up,
    changed_since,
    error_text,
    form_text,
    keyset_page,
    local_time,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
)
from domain.identity.principal import Principal
from domain.notices.application import Notices, SourceAlreadyConnected
from domain.notices.source import SourceNotFound, SyncAlreadyRunning
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.errors import DomainError, FieldError, InvalidInput, NotFound
from domain.shared.values import whole_number
from projections.notice_queries import Scope
from projections.notice_sources import NoticeSourceView, SyncRunPage


async def sync_page(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    return await _sync_page(request, port, principal)


async def _sync_page(
    request: Request,
    port: RepaymentPagesPort,
    principal: Principal,
    error: str | None = None,
    status: int = 200,
    settings_error: tuple[UUID, str] | None = None,
    connect_error: str | None = None,
) -> Response:
    """The sync page; `error`: why a sync was refused (said at the top), `settings_error`: the source whose settings
    form was refused and why (said at that source's form, filled again with what was typed: `kept`, api/web.py),
    `connect_error`: why the "Connect a source" form was refused (said at that form, filled again the same way,
    never with the token)."""
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
        # After a settings save (`?configured=<source id>`): which source, said above the cards.
        saved = params.get("configured") if settings_error is None else None
        configured = next((s for s in sources if str(s.id) == saved), None)
        # After a connect (`?connected=<source id>`): which source, said the same way (a source the page does not
        # list, another brand's or not in the read model yet, says nothing).
        joined = params.get("connected") if connect_error is None else None
        connected = next((s for s in sources if str(s.id) == joined), None)
        return {"sources": sources, "runs": runs, "actors": actors, "started": started, "configured": configured,
                "connected": connected}  # fmt: skip

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
        can_configure=principal.holds(*CONFIGURE),
        older_url=older_url,
        error=error,
        settings_refused=settings_error[0] if settings_error else None,
        settings_error=settings_error[1] if settings_error else None,
        connect_error=connect_error,
        **data,
    )


async def _visible_source(
    request: Request, port: RepaymentPagesPort, scope: Scope
) -> tuple[UUID, NoticeSourceView] | None:
    """The path's source as the staff member may see it (their brand, their companies), or None (the page's 404)."""
    source_id = path_id(request, "source_id")
    if source_id is None:
        return None
    source = await run_in_threadpool(port.sources.source, scope, source_id, port.clock.now())
    return None if source is None else (source_id, source)


async def sync_now(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    back_to_dashboard = form_text(request, "back") == "repayments"
    company = company_param(form_text(request, "company")) if back_to_dashboard else None
    scope = scope_of(principal)
    found = await _visible_source(request, port, scope)
    if found is None:
        return await not_found(request)  # another brand's source, or a company the staff member may not see
    source_id, source = found

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


async def configure_source(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    """A source's settings form: the API's reconfigure (PATCH /api/v1/notice-sources/{id}) with the settings'
    version the page showed, so settings changed since are refused (409, in words with the settings now), nothing
    saved. An empty token keeps the source's token."""
    scope = scope_of(principal)
    found = await _visible_source(request, port, scope)
    if found is None:
        return await not_found(request)  # another brand's source, or a company the staff member may not see
    source_id, source = found
    shown = whole_number(form_text(request, "expected_version").strip())
    try:
        result = await act(
            principal,
            lambda: port.notices.reconfigure_source(
                principal.brand_id,
                source_id,
                base_url=form_text(request, "base_url"),
                token=form_text(request, "token") or None,
                schedule=form_text(request, "schedule"),
                enabled=form_text(request, "enabled") == "on",
                companies=scope.companies,
                expected_version=shown,
            ),
        )
    except NotFound:
        return await not_found(request)
    except ConcurrentModification:
        await caught_up(request, Notices.name)  # the page shows the source (and its version) as it is now
        now = await run_in_threadpool(port.sources.source, scope, source_id, port.clock.now())
        words = _source_words(now) if now is not None else "removed"
        message = changed_since(f"the settings of {source.company}", words)
        return await _sync_page(request, port, principal, status=409, settings_error=(source_id, message))
    except DomainError as exc:
        status = refusal_status(exc)
        return await _sync_page(request, port, principal, status=status, settings_error=(source_id, error_text(exc)))
    return await after_write(request, Notices.name, result.position, f"/sync?{urlencode({'configured': source_id})}")


#: The longest values the API's SourceIn takes (api/routes/notice_sources.py); the use case checks the rest.
CONNECT_LENGTHS = {"company": 30, "base_url": 500, "token": 500, "schedule": 100}


async def connect_source(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    """The "Connect a source" form: the API's connect (POST /api/v1/notice-sources, NOTICE_SYNC at ALL) for a
    company of the brand (one of the staff member's companies when they have some). Bad input is a 422 naming each
    field and a company that already has a source a 409, both at the form with what was typed (never the token),
    nothing connected; connected, the sync page says so (`?connected=<source id>`)."""
    scope = scope_of(principal)
    values = {name: form_text(request, name) for name in CONNECT_LENGTHS}
    too_long = [
        FieldError(name, f"at most {limit} characters")
        for name, limit in CONNECT_LENGTHS.items()
        if len(values[name]) > limit
    ]

    def connect() -> CommandResult:
        if too_long:
            raise InvalidInput(too_long)
        return port.notices.connect_source(
            principal.brand_id,
            company=values["company"],
            base_url=values["base_url"],
            token=values["token"],
            schedule=values["schedule"],
            enabled=form_text(request, "enabled") == "on",
            companies=scope.companies,
        )

    try:
        result = await act(principal, connect)
    except SourceNotFound:  # a company outside the staff member's companies: a field to correct, not a page gone
        mine = ", ".join(scope.companies)
        message = f"company: {values['company'].strip()} is not one of the companies you manage ({mine})"
        return await _sync_page(request, port, principal, status=422, connect_error=message)
    except SourceAlreadyConnected:
        company = values["company"].strip().upper()
        message = (
            f"{company} already has a notice source, so nothing was connected: change its settings with "
            "Edit settings on its card."
        )
        return await _sync_page(request, port, principal, status=409, connect_error=message)
    except DomainError as exc:
        status = refusal_status(exc)
        return await _sync_page(request, port, principal, status=status, connect_error=error_text(exc))
    return await after_write(request, Notices.name, result.position, f"/sync?{urlencode({'connected': result.id})}")


def _source_words(source: NoticeSourceView) -> str:
    """A source's settings in words (its token by its last characters only)."""
    state = "enabled" if source.enabled else "disabled"
    return f"{source.base_url}, schedule {source.schedule}, {state}, token {source.token}"


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
        Page("POST", "/sync/{source_id}/settings", configure_source, CONFIGURE, form=True),
        Page("POST", "/sync/connect", connect_source, CONFIGURE, form=True),
    ],
)
