"""Repayment pages: the dashboard's KPIs, the overdue and upcoming feeds, and a notice with its match and history (and
the form confirming or correcting its borrower match)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.routes.notice_sources import scope_of
from api.routes.notices import confirm_notice_match, remove_notice_match
from api.services.notice_syncs import SyncRequests
from api.web import (
    Page,
    act,
    after_write,
    caught_up,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    refusal_status,
    render,
    templates,
)
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.notices.application import Notices
from domain.notices.notice import NO_BORROWER
from domain.shared.clock import Clock, business_date
from domain.shared.errors import DomainError, FieldError, InvalidInput, NotFound
from projections.borrower_loans import BorrowerLoanQueries
from projections.customer_queries import CustomerQueries
from projections.engine import ProjectionEngine
from projections.notice_feed import NoticeFeedQueries, NoticePage
from projections.notice_queries import Scope
from projections.notice_sources import NoticeSourceQueries, SyncRunView

READ = (Permission.NOTICES, Level.READ)
SYNC_READ = (Permission.NOTICE_SYNC, Level.READ)
SYNC = (Permission.NOTICE_SYNC, Level.WRITE)
WRITE = (Permission.NOTICES, Level.WRITE)

FEED_PAGE = 25


@dataclass(frozen=True)
class RepaymentPagesPort:
    """What the repayment and sync pages use: the notice read models, sync requests, and names to show."""

    feed: NoticeFeedQueries
    notices: Notices  # a source's settings changed from the sync page (api/pages/notice_sync.py)
    sources: NoticeSourceQueries
    syncs: SyncRequests
    identity: Identity
    customers: CustomerQueries
    engine: ProjectionEngine
    clock: Clock
    loans: BorrowerLoanQueries
    records: Customers  # a corrected match's borrower, checked to be the brand's


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


templates.filters["duration"] = duration


def company_param(raw: str | None) -> str | None:
    """A company code from an address or form (upper case), or None."""
    value = (raw or "").strip().upper()[:30]
    return value or None


def id_param(raw: str | None) -> UUID | None:
    """A record id from an address or form, or None when it is not one."""
    try:
        return UUID(raw or "")
    except ValueError:
        return None


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def started_run(port: RepaymentPagesPort, scope: Scope, raw_run_id: str | None) -> SyncRunView | None:
    """The run a just-pressed "Sync now" started, looked up (never echoed from the URL)."""
    run_id = id_param(raw_run_id)
    return port.sources.sync_run(scope, run_id) if run_id else None


# Dashboard --------------------------------------------------------------------------------------------------


async def repayments(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    return await repayments_page(request, port, principal, company_param(request.query_params.get("company")))


async def repayments_page(
    request: Request,
    port: RepaymentPagesPort,
    principal: Principal,
    company: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The dashboard, for one company or all; with an error when "Sync now" on it was refused."""
    scope = scope_of(principal)
    can_sync = principal.holds(*SYNC)

    def load() -> dict[str, Any]:
        return {
            "kpis": port.feed.dashboard(scope, company),
            "sources": port.sources.sources(scope, port.clock.now()) if can_sync else [],
            "started": started_run(port, scope, request.query_params.get("started")),
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


async def _feed(request: Request, port: RepaymentPagesPort, principal: Principal, kind: str) -> Response:
    params = request.query_params
    scope = scope_of(principal)
    mode = params.get("mode") if params.get("mode") in ("overdue", "upcoming") else None
    company = company_param(params.get("company"))
    due_from, due_to = _date(params.get("due_from")), _date(params.get("due_to"))
    filters: dict[str, Any] = {"mode": mode, "company": company, "due_from": due_from, "due_to": due_to}
    try:
        limit = min(max(int(params.get("limit", FEED_PAGE)), 1), 100)
    except ValueError:
        limit = FEED_PAGE

    def page(cursor: str | None) -> NoticePage:
        return port.feed.feed(
            scope, kind=kind, mode=mode, company=company, due_from=due_from, due_to=due_to, cursor=cursor, limit=limit
        )

    def load() -> dict[str, Any]:
        return {"rows": keyset_page(request, page), "kpis": port.feed.dashboard(scope, company)}

    data = await run_in_threadpool(load)
    query = {k: str(v) for k, v in filters.items() if v}
    if limit != FEED_PAGE:
        query["limit"] = str(limit)
    next_url = None
    if data["rows"].next_cursor:
        next_url = f"/{kind}?{urlencode({**query, 'cursor': data['rows'].next_cursor})}"
    today = business_date(port.clock.now(), request.state.timezone)
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


async def overdue(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    return await _feed(request, port, principal, "overdue")


async def upcoming(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    return await _feed(request, port, principal, "upcoming")


# A notice ---------------------------------------------------------------------------------------------------


async def notice_detail(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    notice_id = path_id(request, "notice_id")
    if notice_id is None:
        return await not_found(request)
    return await notice_page(request, port, principal, notice_id)


#: The flash after a match form's save (`?match=`): known values only.
MATCH_SAVED = {
    "confirmed": "Match confirmed.",
    "corrected": "Match corrected.",
    "unchanged": "Already confirmed.",
    "removed": "Match removed: the notice is unmatched, and automatic matching will not pick that borrower again.",
}


async def notice_page(
    request: Request,
    port: RepaymentPagesPort,
    principal: Principal,
    notice_id: UUID,
    match_error: str | None = None,
    status: int = 200,
    form: str = "match",
) -> Response:
    """A notice with its match and history; `match_error`: the match form (`form`: "match" or "unmatch") refused
    (said at that form)."""
    scope = scope_of(principal)

    def load() -> dict[str, Any] | None:
        notice = port.feed.notice(scope, notice_id)
        if notice is None:
            return None
        match = notice.match
        borrower_ids = {c.customer_id for c in match.candidates}
        if match.customer_id:
            borrower_ids.add(match.customer_id)
        for h in notice.history:
            for key in ("customer_id", "previous_customer_id"):
                if (found := id_param(h.detail.get(key))) is not None:
                    borrower_ids.add(found)
        names: dict[str, str] = {}
        for borrower_id in borrower_ids:
            profile = port.customers.profile(principal.brand_id, borrower_id, 1)
            if profile is not None:
                names[str(borrower_id)] = profile.name
        actors = actor_names(port.identity, principal.brand_id, {h.actor for h in notice.history})
        own_loan = None  # a Covenant Desk loan with the notice's number (issue #15): linked
        if notice.loan_number and principal.holds(Permission.LOANS):
            own_loan = port.loans.by_number(principal.brand_id, notice.loan_number)
        return {"n": notice, "names": names, "actors": actors, "own_loan": own_loan}

    data = await run_in_threadpool(load)
    if data is None:
        return await not_found(request)
    saved = MATCH_SAVED.get(request.query_params.get("match", "")) if status == 200 else None
    return render(request, "notice.html", status, principal=principal, nav="repayments", tab=None,
                  can_match=principal.holds(*WRITE), match_error=match_error if form == "match" else None,
                  unmatch_error=match_error if form == "unmatch" else None, match_saved=saved, **data)  # fmt: skip


def _shown_match(request: Request) -> UUID | None:
    """The borrower the form's page showed matched: its `expected_customer_id`, left empty by a page that showed the
    notice matched to nobody (`NO_BORROWER`, so a match made since is a 409 too); None when the form has no such
    field."""
    if "expected_customer_id" not in request.state.form:
        return None
    shown = form_text(request, "expected_customer_id").strip()
    return id_param(shown) if shown else NO_BORROWER


async def confirm_match(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    """The notice page's match form: the API's POST /api/v1/notices/{id}/match (NOTICES WRITE) with the borrower
    picked (a candidate, or another borrower's id typed), the reason, and the borrower the page showed matched (a
    match changed since is a 409, nothing saved)."""
    notice_id = path_id(request, "notice_id")
    if notice_id is None:
        return await not_found(request)
    other = form_text(request, "other_customer_id").strip()
    raw = other or form_text(request, "customer_id").strip()
    customer_id = id_param(raw)
    expected = _shown_match(request)
    try:
        if customer_id is None:
            field = "other_customer_id" if other else "customer_id"
            raise InvalidInput(
                [FieldError(field, "pick a borrower, or give a borrower's id (from their Customer 360)")]
            )
        result = await act(principal, lambda: confirm_notice_match(
            port.notices, port.records, principal, notice_id, customer_id, form_text(request, "reason"), expected))  # fmt: skip
    except NotFound:  # another brand's notice, or a company the staff member may not see
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        if status == 409:
            await caught_up(request, Notices.name)  # the page shows the match as it is now
        return await notice_page(request, port, principal, notice_id, error_text(exc), status)
    outcome = "unchanged" if not result.changed else ("confirmed" if expected == customer_id else "corrected")
    return await after_write(request, Notices.name, result.position,
                             f"/notices/{notice_id}?match={outcome}#notice-match")  # fmt: skip


async def remove_match(request: Request, port: RepaymentPagesPort, principal: Principal) -> Response:
    """The notice page's "Remove the match" form: the API's POST /api/v1/notices/{id}/unmatch (NOTICES WRITE) with
    the reason and the borrower the page showed matched (a match changed since, or none now, is a 409, nothing
    saved)."""
    notice_id = path_id(request, "notice_id")
    if notice_id is None:
        return await not_found(request)
    expected = _shown_match(request)
    try:
        result = await act(principal, lambda: remove_notice_match(
            port.notices, principal, notice_id, form_text(request, "reason"), expected))  # fmt: skip
    except NotFound:  # another brand's notice, or a company the staff member may not see
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        if status == 409:
            await caught_up(request, Notices.name)  # the page shows the match as it is now
        return await notice_page(request, port, principal, notice_id, error_text(exc), status, form="unmatch")
    return await after_write(request, Notices.name, result.position, f"/notices/{notice_id}?match=removed#notice-match")


PAGES = pages(
    RepaymentPagesPort,
    [
        Page("GET", "/repayments", repayments, READ),
        Page("GET", "/overdue", overdue, READ),
        Page("GET", "/upcoming", upcoming, READ),
        Page("GET", "/notices/{notice_id}", notice_detail, READ),
        Page("POST", "/notices/{notice_id}/match", confirm_match, WRITE, form=True),
        Page("POST", "/notices/{notice_id}/unmatch", remove_match, WRITE, form=True),
    ],
)
