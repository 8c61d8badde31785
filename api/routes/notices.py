"""Repayment operations endpoints: notice sources and their health, sync runs, dashboard KPIs, feeds, notices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response
from api.services.notice_syncs import SyncRequests
from domain.identity.permissions import Level, Permission
from domain.notices.notice import MatchCandidate, NoticeMode, NoticeNotFound
from domain.notices.source import SourceNotFound
from domain.notices.sync_run import SyncRunNotFound, SyncStatus
from domain.shared.values import BusinessDate
from projections.notices import Scope

READ = (Permission.NOTICES, Level.READ)
SYNC_READ = (Permission.NOTICE_SYNC, Level.READ)
SYNC = (Permission.NOTICE_SYNC, Level.WRITE)
CONFIGURE = (Permission.NOTICE_SYNC, Level.ALL)


class SourceIn(BaseModel):
    """A company's Softmedia source: where to pull from, the API token and the cron schedule."""

    model_config = ConfigDict(extra="forbid")

    company: str = Field(max_length=30, description="the company (lender) code, e.g. SML")
    base_url: str = Field(max_length=500)
    token: str = Field(max_length=500, description="kept apart from the record; lists show its last 4 characters")
    schedule: str = Field(max_length=100, description="cron, e.g. '*/30 * * * *'")
    enabled: bool = True


class SourcePatch(BaseModel):
    """Change a source's URL, token, schedule or enabled flag."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, max_length=500)
    token: str | None = Field(None, max_length=500)
    schedule: str | None = Field(None, max_length=100)
    enabled: bool | None = None


class RunsQuery(BaseModel):
    """Sync runs of one source, or all."""

    model_config = ConfigDict(extra="forbid")

    source_id: UUID | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class DashboardQuery(BaseModel):
    """One company's view, or every company the caller may see."""

    model_config = ConfigDict(extra="forbid")

    company: str | None = Field(None, max_length=30)


class FeedQuery(BaseModel):
    """Feed filters and keyset paging."""

    model_config = ConfigDict(extra="forbid")

    mode: str | None = Field(None, pattern="^(overdue|upcoming)$")
    company: str | None = Field(None, max_length=30)
    due_from: BusinessDate | None = None
    due_to: BusinessDate | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class SourceHealthOut(BaseModel):
    """How the source's syncs have gone."""

    state: str = Field(description="healthy, degraded, failing or stale")
    last_run_id: UUID | None
    last_status: SyncStatus | None
    last_success_at: InstantOut | None
    last_failure_at: InstantOut | None
    last_error: str | None
    consecutive_failures: int


class SourceOut(BaseModel):
    """A company's notice source (token masked) with its health."""

    id: UUID
    company: str
    base_url: str
    schedule: str
    enabled: bool
    token: str = Field(description="the token's last 4 characters")
    running_run_id: UUID | None
    health: SourceHealthOut
    created_at: InstantOut


class SourceListOut(BaseModel):
    """Sources by company."""

    items: list[SourceOut]


class SyncAcceptedOut(BaseModel):
    """A sync started; poll its URL."""

    run_id: UUID
    status: SyncStatus


class SyncRunOut(BaseModel):
    """A sync run: who, status, pages and counts, retries, error."""

    id: UUID
    brand_id: UUID
    source_id: UUID
    company: str
    trigger: str = Field(description="manual or schedule")
    requested_by: str
    status: SyncStatus
    pages: int
    fetched: int
    created: int
    updated: int
    unchanged: int
    reactivated: int
    malformed: int
    matched: int
    inactivated: int
    retries: int
    error: str | None
    malformed_examples: list[str]
    started_at: InstantOut
    finished_at: InstantOut | None
    duration_ms: int | None


class SyncRunPageOut(BaseModel):
    """Sync runs, newest first."""

    items: list[SyncRunOut]
    next_cursor: str | None


class NoticeMatchOut(BaseModel):
    """The borrower the notice was matched to (none when unmatched), with confidence 0-100."""

    customer_id: UUID | None
    confidence: int
    band: str
    methods: list[str]


class NoticeItemOut(BaseModel):
    """A notice as feeds show it, with its match."""

    id: UUID
    company: str
    source_notice_id: str
    loan_number: str
    customer_name: str
    phone: str
    amount_due: Decimal
    days_overdue: int
    due_date: date
    instalment_no: int
    mode: NoticeMode
    active: bool
    match: NoticeMatchOut


class NoticePageOut(BaseModel):
    """A page of a feed, in priority order."""

    items: list[NoticeItemOut]
    next_cursor: str | None


class NoticeListOut(BaseModel):
    """Notices matched to a borrower, active first, then longest overdue."""

    items: list[NoticeItemOut]


class NoticeMatchDetailOut(NoticeMatchOut):
    """The match with the candidates staff may review, best first."""

    candidates: list[MatchCandidate]


class NoticeHistoryOut(BaseModel):
    """One thing that happened to the notice."""

    version: int
    at: InstantOut
    actor: str
    kind: str
    detail: dict[str, Any] = Field(description="what changed; its members depend on `kind`")


class NoticeOut(NoticeItemOut):
    """A notice with its facts, match candidates and history (newest first)."""

    source_id: UUID
    phone_e164: str | None
    source_updated_at: InstantOut | None
    first_seen_at: InstantOut
    updated_at: InstantOut
    match: NoticeMatchDetailOut
    history: list[NoticeHistoryOut]


class KpiOut(BaseModel):
    """How many notices, and their total amount due."""

    count: int
    amount: Decimal


class CompanyKpisOut(BaseModel):
    """Overdue and upcoming figures."""

    overdue: KpiOut
    upcoming: KpiOut


class NoticeDashboardOut(BaseModel):
    """Overdue and upcoming counts and totals, combined and by company; the notices to look at first."""

    company: str | None
    companies: list[str] = Field(description="every company with a source or notices (the pills)")
    overdue: KpiOut
    upcoming: KpiOut
    by_company: dict[str, CompanyKpisOut]
    longest_overdue: NoticeItemOut | None
    highest_amount: NoticeItemOut | None


def scope_of(ctx: Context) -> Scope:
    """What the caller may see: the brand, limited to their companies when they have any."""
    return Scope(ctx.brand_id, tuple(c.upper() for c in ctx.principal.companies))


def _source_body(ctx: Context, source_id: UUID, position: int = 0) -> dict[str, Any]:
    if position:
        ctx.platform.engine.wait_for("notices", position)
    source = ctx.platform.notice_queries.source(scope_of(ctx), source_id, ctx.platform.clock.now())
    if source is None:
        raise SourceNotFound(f"NoticeSource {source_id} not found", id=str(source_id))
    return dict(source)


def create_source(ctx: Context) -> Reply:
    body: SourceIn = ctx.body
    scope = scope_of(ctx)
    if scope.companies and body.company.strip().upper() not in scope.companies:
        raise SourceNotFound(f"company {body.company} is not one you may manage", company=body.company)
    result = ctx.platform.notices.connect_source(
        ctx.brand_id,
        company=body.company,
        base_url=body.base_url,
        token=body.token,
        schedule=body.schedule,
        enabled=body.enabled,
    )
    out = _source_body(ctx, result.id, result.position)
    return json_response(out, 201, headers={"Location": f"/api/v1/notice-sources/{result.id}"})


def list_sources(ctx: Context) -> Reply:
    return json_response({"items": ctx.platform.notice_queries.sources(scope_of(ctx), ctx.platform.clock.now())})


def get_source(ctx: Context) -> Reply:
    return json_response(_source_body(ctx, ctx.path["source_id"]))


def update_source(ctx: Context) -> Reply:
    body: SourcePatch = ctx.body
    source_id = ctx.path["source_id"]
    _source_body(ctx, source_id)  # 404 for a source of another brand or an unauthorised company
    result = ctx.platform.notices.reconfigure_source(
        ctx.brand_id, source_id, base_url=body.base_url, token=body.token, schedule=body.schedule, enabled=body.enabled
    )
    return json_response(_source_body(ctx, source_id, result.position))


def trigger_sync(ctx: Context) -> Reply:
    source_id = ctx.path["source_id"]
    _source_body(ctx, source_id)
    syncs = ctx.platform.port(SyncRequests)
    run_id = syncs.request(ctx.brand_id, source_id, trigger="manual", requested_by=ctx.principal.actor)
    return json_response(
        {"run_id": run_id, "status": "running"}, 202, headers={"Location": f"/api/v1/sync-runs/{run_id}"}
    )


def get_sync_run(ctx: Context) -> Reply:
    run_id = ctx.path["run_id"]
    row = ctx.platform.notice_queries.sync_run(scope_of(ctx), run_id)
    if row is None:
        # The run may be newer than the read model (just triggered): answer from the record itself.
        ctx.platform.engine.wait_for("notices", ctx.platform.engine.head("notices"), timeout=5)
        row = ctx.platform.notice_queries.sync_run(scope_of(ctx), run_id)
    if row is None:
        raise SyncRunNotFound(f"SyncRun {run_id} not found", id=str(run_id))
    return json_response(row)


def list_sync_runs(ctx: Context) -> Reply:
    q: RunsQuery = ctx.query
    page = ctx.platform.notice_queries.sync_runs(scope_of(ctx), q.source_id, q.cursor, q.limit)
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def notice_dashboard(ctx: Context) -> Reply:
    q: DashboardQuery = ctx.query
    return json_response(ctx.platform.notice_queries.dashboard(scope_of(ctx), q.company))


def _feed(ctx: Context, kind: str) -> Reply:
    q: FeedQuery = ctx.query
    page = ctx.platform.notice_queries.feed(
        scope_of(ctx),
        kind=kind,
        mode=q.mode,
        company=q.company,
        due_from=q.due_from,
        due_to=q.due_to,
        cursor=q.cursor,
        limit=q.limit,
    )
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def overdue_feed(ctx: Context) -> Reply:
    return _feed(ctx, "overdue")


def upcoming_feed(ctx: Context) -> Reply:
    return _feed(ctx, "upcoming")


def get_notice(ctx: Context) -> Reply:
    notice_id = ctx.path["notice_id"]
    row = ctx.platform.notice_queries.notice(scope_of(ctx), notice_id)
    if row is None:
        raise NoticeNotFound(f"Notice {notice_id} not found", id=str(notice_id))
    return json_response(row)


def customer_notices(ctx: Context) -> Reply:
    customer_id = ctx.path["customer_id"]
    ctx.platform.customers.get(ctx.brand_id, customer_id)  # 404 for another brand's borrower
    return json_response({"items": ctx.platform.notice_queries.of_customer(scope_of(ctx), customer_id)})


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/notice-sources",
        create_source,
        "Connect a company's Softmedia source",
        CONFIGURE,
        body=SourceIn,
        response=SourceOut,
        status=201,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notice-sources",
        list_sources,
        "Sources with health",
        SYNC_READ,
        response=SourceListOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notice-sources/{source_id}",
        get_source,
        "A source with health",
        SYNC_READ,
        response=SourceOut,
        tags=["notices"],
    ),
    Endpoint(
        "PATCH",
        "/api/v1/notice-sources/{source_id}",
        update_source,
        "Change a source's URL, token, schedule or enabled flag",
        CONFIGURE,
        body=SourcePatch,
        response=SourceOut,
        tags=["notices"],
    ),
    Endpoint(
        "POST",
        "/api/v1/notice-sources/{source_id}/sync",
        trigger_sync,
        "Sync now (202 with the run id; 409 while a sync of the source runs)",
        SYNC,
        response=SyncAcceptedOut,
        status=202,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/sync-runs",
        list_sync_runs,
        "Sync runs, newest first",
        SYNC_READ,
        query=RunsQuery,
        response=SyncRunPageOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/sync-runs/{run_id}",
        get_sync_run,
        "One sync run",
        SYNC_READ,
        response=SyncRunOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notices/dashboard",
        notice_dashboard,
        "KPIs: overdue and upcoming counts and totals, longest overdue, highest amount",
        READ,
        query=DashboardQuery,
        response=NoticeDashboardOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notices/overdue",
        overdue_feed,
        "Active notices by priority: longest overdue, highest amount, company",
        READ,
        query=FeedQuery,
        response=NoticePageOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notices/upcoming",
        upcoming_feed,
        "Active upcoming notices: soonest due, highest amount",
        READ,
        query=FeedQuery,
        response=NoticePageOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/notices/{notice_id}",
        get_notice,
        "A notice with its history",
        READ,
        response=NoticeOut,
        tags=["notices"],
    ),
    Endpoint(
        "GET",
        "/api/v1/customers/{customer_id}/notices",
        customer_notices,
        "Notices matched to a borrower",
        READ,
        response=NoticeListOut,
        tags=["notices"],
    ),
]
