"""Notice source endpoints: connect and reconfigure a company's Softmedia source, its health, sync now, sync runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import refuse_null
from api.services.notice_syncs import SyncRequests
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.notices.application import Notices
from domain.notices.health import SourceHealth
from domain.notices.source import COMPANY_PATTERN, MIN_TOKEN, TOKEN_PATTERN, URL_PATTERN, SourceNotFound
from domain.notices.sync_run import SyncRunNotFound, SyncStatus
from domain.shared.clock import Clock
from domain.shared.values import Flag, stated_pattern
from projections.engine import ProjectionEngine
from projections.notice_queries import Scope
from projections.notice_sources import NoticeSourceQueries, NoticeSourceView

SYNC_READ = (Permission.NOTICE_SYNC, Level.READ)
SYNC = (Permission.NOTICE_SYNC, Level.WRITE)
CONFIGURE = (Permission.NOTICE_SYNC, Level.ALL)

#: How long a sync run the read model does not show yet is waited for (it may have been started a moment ago).
NEW_RUN_SECONDS = 5.0


@dataclass(frozen=True)
class NoticeSourcesPort:
    """What the source and sync endpoints and pages use: the use cases, sync requests and the read models."""

    notices: Notices
    syncs: SyncRequests
    sources: NoticeSourceQueries
    engine: ProjectionEngine
    clock: Clock


def scope_of(principal: Principal) -> Scope:
    """What the caller may see: the brand, limited to their companies when they have any."""
    return Scope.of(principal.brand_id, principal.companies)


_URL = (
    "an http(s) URL without a query or fragment, e.g. https://softmedia.example.in/api; its host must be one the "
    "server may call (not a private or loopback address unless the deployment allows it)"
)


#: A source's URL and API token (`check_settings`), their schemas stated on the string types.
Url = Annotated[str, Field(max_length=500), stated_pattern(URL_PATTERN, max_length=500)]
Token = Annotated[str, Field(max_length=500), stated_pattern(TOKEN_PATTERN, max_length=500, min_length=MIN_TOKEN)]


class SourceIn(BaseModel):
    """A company's Softmedia source: where to pull from, the API token and the cron schedule."""

    model_config = ConfigDict(extra="forbid")

    company: Annotated[str, Field(max_length=30), stated_pattern(COMPANY_PATTERN, max_length=30)] = Field(
        description="the company (lender) code, e.g. SML: 1-30 letters, digits, '-' or '_' (kept upper case)"
    )
    base_url: Url = Field(description=_URL)
    token: Token = Field(description="kept apart from the record; lists show its last 4 characters")
    schedule: str = Field(max_length=100, description="cron, e.g. '*/30 * * * *'")
    enabled: Flag = True


class SourcePatch(BaseModel):
    """Change a source's URL, token, schedule or enabled flag."""

    model_config = ConfigDict(extra="forbid")

    base_url: Url | None = Field(None, description=_URL)
    token: Token | None = None
    schedule: str | None = Field(None, max_length=100)
    enabled: Flag | None = None

    # None is only "left out": a source always has a URL, a token, a schedule and a flag (an explicit null used to
    # answer 200 and change nothing).
    _no_null = field_validator("base_url", "token", "schedule", "enabled", mode="before")(refuse_null)


class RunsQuery(BaseModel):
    """Sync runs of one source, or all."""

    model_config = ConfigDict(extra="forbid")

    source_id: UUID | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class SourceHealthOut(BaseModel):
    """How the source's syncs have gone."""

    state: SourceHealth = Field(description="healthy, degraded, failing or stale")
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
    version: int | None = Field(
        description="the settings' version (a sync does not move it): send it back as If-Match on PATCH to refuse a "
        "stale change (null only for sources recorded before versions were shown, until their next change)"
    )


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


def _source(ctx: Context[NoticeSourcesPort], source_id: UUID) -> NoticeSourceView | None:
    return ctx.port.sources.source(scope_of(ctx.principal), source_id, ctx.port.clock.now())


def create_source(ctx: Context[NoticeSourcesPort]) -> Reply:
    body: SourceIn = ctx.body
    result = ctx.port.notices.connect_source(
        ctx.brand_id,
        company=body.company,
        base_url=body.base_url,
        token=body.token,
        schedule=body.schedule,
        enabled=body.enabled,
        companies=scope_of(ctx.principal).companies,
    )
    location = f"/api/v1/notice-sources/{result.id}"
    return ctx.written(result, Notices.name, lambda: _source(ctx, result.id), location)


def list_sources(ctx: Context[NoticeSourcesPort]) -> Reply:
    return json_response({"items": ctx.port.sources.sources(scope_of(ctx.principal), ctx.port.clock.now())})


def get_source(ctx: Context[NoticeSourcesPort]) -> Reply:
    source_id = ctx.path["source_id"]
    source = _source(ctx, source_id)
    if source is None:
        raise SourceNotFound(f"NoticeSource {source_id} not found", id=str(source_id))
    return json_response(source)


def update_source(ctx: Context[NoticeSourcesPort]) -> Reply:
    body: SourcePatch = ctx.body
    source_id = ctx.path["source_id"]
    result = ctx.port.notices.reconfigure_source(
        ctx.brand_id,
        source_id,
        base_url=body.base_url,
        token=body.token,
        schedule=body.schedule,
        enabled=body.enabled,
        companies=scope_of(ctx.principal).companies,
        expected_version=ctx.expected_version(),
    )
    return ctx.written(result, Notices.name, lambda: _source(ctx, source_id))


def trigger_sync(ctx: Context[NoticeSourcesPort]) -> Reply:
    run_id = ctx.port.syncs.request(
        ctx.brand_id,
        ctx.path["source_id"],
        trigger="manual",
        requested_by=ctx.principal.actor,
        companies=scope_of(ctx.principal).companies,
    )
    return json_response(
        SyncAcceptedOut(run_id=run_id, status=SyncStatus.RUNNING), headers={"Location": f"/api/v1/sync-runs/{run_id}"}
    )


def get_sync_run(ctx: Context[NoticeSourcesPort]) -> Reply:
    run_id = ctx.path["run_id"]
    run = ctx.port.sources.sync_run(scope_of(ctx.principal), run_id)
    if run is None:
        # The run may be newer than the read model (just triggered): wait for it a bounded time.
        engine = ctx.port.engine
        if engine.wait_for(Notices.name, engine.head(Notices.name), timeout=NEW_RUN_SECONDS):
            run = ctx.port.sources.sync_run(scope_of(ctx.principal), run_id)
    if run is None:
        raise SyncRunNotFound(f"SyncRun {run_id} not found", id=str(run_id))
    return json_response(run)


def list_sync_runs(ctx: Context[NoticeSourcesPort]) -> Reply:
    q: RunsQuery = ctx.query
    return json_response(ctx.port.sources.sync_runs(scope_of(ctx.principal), q.source_id, q.cursor, q.limit))


ENDPOINTS = serve(
    NoticeSourcesPort,
    "notices",
    [
        Endpoint(
            "POST",
            "/api/v1/notice-sources",
            create_source,
            "Connect a company's Softmedia source",
            CONFIGURE,
            body=SourceIn,
            response=SourceOut,
            status=201,
            accepts=True,
            etag=True,
        ),
        Endpoint(
            "GET", "/api/v1/notice-sources", list_sources, "Sources with health", SYNC_READ, response=SourceListOut
        ),
        Endpoint(
            "GET",
            "/api/v1/notice-sources/{source_id}",
            get_source,
            "A source with health (ETag: its settings' version)",
            SYNC_READ,
            response=SourceOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/notice-sources/{source_id}",
            update_source,
            "Change a source's URL, token, schedule or enabled flag; If-Match with the version read refuses a "
            "stale change with 409",
            CONFIGURE,
            body=SourcePatch,
            response=SourceOut,
            accepts=True,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/notice-sources/{source_id}/sync",
            trigger_sync,
            "Sync now (202 with the run id; 409 while a sync of the source runs)",
            SYNC,
            response=SyncAcceptedOut,
            status=202,
        ),
        Endpoint(
            "GET",
            "/api/v1/sync-runs",
            list_sync_runs,
            "Sync runs, newest first",
            SYNC_READ,
            query=RunsQuery,
            response=SyncRunPageOut,
        ),
        Endpoint("GET", "/api/v1/sync-runs/{run_id}", get_sync_run, "One sync run", SYNC_READ, response=SyncRunOut),
    ],
)
