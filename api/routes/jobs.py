"""Batch job endpoints: the job list with settings, configuration, manual runs and run history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response
from domain.identity.permissions import Level, Permission
from domain.jobs.job import JobRunNotFound, JobSettings, RunQueueFull, RunStatus
from domain.notices.source import SourceNotFound, SyncAlreadyRunning
from domain.notices.triggering import JOB as SYNC_JOB
from domain.notices.triggering import job_run_id, request_sync
from domain.shared.errors import InvalidValue
from domain.shared.values import BusinessDate
from projections.notices import Scope

READ = (Permission.JOBS, Level.READ)
WRITE = (Permission.JOBS, Level.WRITE)
ADMIN = (Permission.JOBS, Level.ALL)

#: Manual runs of one job a brand may have waiting (requested or retrying) at once; one more is a 429. Enough for
#: a person's reruns; a client in a loop cannot pile up a queue (the scheduler is fair across brands, but a
#: brand's own runs of one job still run one at a time).
MAX_QUEUED_MANUAL_RUNS = 5
#: Seconds a client told 429 waits before asking again (a queued run usually starts within seconds).
QUEUE_RETRY_AFTER = 30


class RunRequest(BaseModel):
    """A manual run: the as-of business date (default: the brand's business date), overrides, or a dry run."""

    model_config = ConfigDict(extra="forbid")

    as_of: BusinessDate | None = Field(
        None, description="Between the brand's first business day and its business date (later only for a dry run)"
    )
    variables: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, str] = Field(default_factory=dict)
    batch_size: int | None = Field(None, ge=1, le=100_000)
    dry_run: bool = Field(False, description="Compute and report counts without writing anything")


class JobSettingsPatch(BaseModel):
    """Settings to change for the caller's brand."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, max_length=100)
    enabled: bool | None = None
    batch_size: int | None = Field(None, ge=1, le=100_000)
    retry_count: int | None = Field(None, ge=0, le=20)
    retry_interval_seconds: int | None = Field(None, ge=0, le=86_400)
    filters: dict[str, str] | None = None
    variables: dict[str, str] | None = None


class RunHistoryQuery(BaseModel):
    """Run history paging."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class RunAccepted(BaseModel):
    """A run was requested; poll its URL (a notice sync of every source requests one run per source)."""

    run_id: UUID
    status: RunStatus
    run_ids: list[UUID]


class RunOut(BaseModel):
    """A job run."""

    id: UUID
    job_name: str
    trigger: str = Field(description="manual or schedule")
    requested_by: str
    as_of: date
    dry_run: bool
    settings: JobSettings
    status: RunStatus
    attempt: int
    batches: int
    processed: int
    succeeded: int
    failed: int
    skipped: int
    error: str | None
    retry_at: InstantOut | None
    requested_at: InstantOut
    started_at: InstantOut | None
    finished_at: InstantOut | None


class JobOut(BaseModel):
    """A registered job with the brand's settings and its latest run."""

    name: str
    title: str
    description: str
    settings: JobSettings
    filter_keys: list[str]
    last_run: RunOut | None


class JobListOut(BaseModel):
    """Every registered job."""

    items: list[JobOut]


class RunPageOut(BaseModel):
    """A page of run history, newest first."""

    items: list[RunOut]
    next_cursor: str | None


def _job(ctx: Context, name: str, last: Any) -> dict[str, Any]:
    definition = ctx.platform.jobs.definition(name)
    return {
        "name": definition.name,
        "title": definition.title,
        "description": definition.description,
        "settings": ctx.platform.jobs.settings(ctx.brand_id, name),
        "filter_keys": sorted(definition.filter_keys),
        "last_run": last,
    }


def list_jobs(ctx: Context) -> Reply:
    last_runs = ctx.platform.job_queries.last_runs(ctx.brand_id)
    items = [_job(ctx, name, last_runs.get(name)) for name in sorted(ctx.platform.jobs.catalogue)]
    return json_response({"items": items})


def configure_job(ctx: Context) -> Reply:
    body: JobSettingsPatch = ctx.body
    name = ctx.path["name"]
    result = ctx.platform.jobs.configure(ctx.brand_id, name, body.model_dump(exclude_unset=True))
    if result.position:
        ctx.platform.engine.wait_for("jobs", result.position)
    return json_response(_job(ctx, name, ctx.platform.job_queries.last_runs(ctx.brand_id).get(name)))


def start_manual_run(
    platform: Any, brand_id: UUID, actor: str, companies: Sequence[str], name: str, body: RunRequest
) -> list[UUID]:
    """Request a manual run (the API's and the portal's); returns the job run ids it requested.

    RunQueueFull (429) when the brand already has MAX_QUEUED_MANUAL_RUNS of the job waiting. A notice sync runs per
    source: `variables.source_id` names one, otherwise every enabled source the caller may see is synced.
    """
    platform.jobs.definition(name)
    if name == SYNC_JOB:
        return _request_syncs(platform, Scope(brand_id, tuple(c.upper() for c in companies)), actor, body)
    as_of = body.as_of or platform.identity.business_date(brand_id)
    with platform.job_queries.manual_request(brand_id, name) as queued:
        if queued >= MAX_QUEUED_MANUAL_RUNS:
            raise RunQueueFull(
                f"{queued} manual runs of {name} are already waiting for this brand (at most "
                f"{MAX_QUEUED_MANUAL_RUNS}); try again once one has started",
                retry_after=QUEUE_RETRY_AFTER,
                queued=queued,
                limit=MAX_QUEUED_MANUAL_RUNS,
            )
        result = platform.jobs.request_run(
            brand_id,
            name,
            trigger="manual",
            requested_by=actor,
            as_of=as_of,
            variables=body.variables,
            filters=body.filters,
            batch_size=body.batch_size,
            dry_run=body.dry_run,
        )
        # Inside the lock, so the next request counts this run.
        platform.engine.wait_for("jobs", result.position)
    platform.wake_scheduler()
    return [result.id]


def _request_syncs(platform: Any, scope: Scope, actor: str, body: RunRequest) -> list[UUID]:
    """A manual softmedia-sync: one sync run (and job run) per source, as the dashboard's sync button does."""
    given = {
        "as_of": body.as_of is not None,
        "filters": bool(body.filters),
        "batch_size": body.batch_size is not None,
        "dry_run": body.dry_run,
    }
    for field, present in given.items():
        if present:
            raise InvalidValue(
                field, f"{SYNC_JOB} pulls each source's current notices; it takes only variables.source_id"
            )
    unknown = sorted(set(body.variables) - {"source_id"})
    if unknown:
        raise InvalidValue("variables", f"unknown variable(s) {unknown}; {SYNC_JOB} accepts ['source_id']")
    now = platform.clock.now()
    if "source_id" in body.variables:
        raw = body.variables["source_id"]
        try:
            source_id = UUID(raw)
        except ValueError:
            raise InvalidValue("variables.source_id", f"'{raw}' is not a notice source id") from None
        if platform.notice_queries.source(scope, source_id, now) is None:
            raise SourceNotFound(f"NoticeSource {source_id} not found", id=str(source_id))
        sync_id = request_sync(platform, scope.brand_id, source_id, trigger="manual", requested_by=actor)
        platform.engine.wait_for("jobs", platform.engine.head("jobs"))
        return [job_run_id(sync_id)]
    sources = [s for s in platform.notice_queries.sources(scope, now) if s["enabled"]]
    if not sources:
        raise InvalidValue("variables.source_id", "there is no enabled notice source to sync; connect one first")
    started: list[UUID] = []
    busy: SyncAlreadyRunning | None = None
    for source in sources:
        try:
            sync_id = request_sync(platform, scope.brand_id, source["id"], trigger="manual", requested_by=actor)
        except SyncAlreadyRunning as exc:  # That source is syncing now: this request is already being served.
            busy = exc
            continue
        started.append(job_run_id(sync_id))
    if not started and busy is not None:
        raise busy
    platform.engine.wait_for("jobs", platform.engine.head("jobs"))  # the runs are readable at their Location
    return started


def request_run(ctx: Context) -> Reply:
    run_ids = start_manual_run(
        ctx.platform, ctx.brand_id, ctx.principal.actor, ctx.principal.companies, ctx.path["name"], ctx.body
    )
    first = run_ids[0]
    return json_response(
        {"run_id": first, "status": "requested", "run_ids": run_ids},
        202,
        headers={"Location": f"/api/v1/jobs/runs/{first}"},
    )


def job_runs(ctx: Context) -> Reply:
    q: RunHistoryQuery = ctx.query
    ctx.platform.jobs.definition(ctx.path["name"])
    page = ctx.platform.job_queries.history(ctx.brand_id, ctx.path["name"], q.cursor, q.limit)
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def get_run(ctx: Context) -> Reply:
    run = ctx.platform.job_queries.run(ctx.brand_id, ctx.path["run_id"])
    if run is None:
        raise JobRunNotFound(f"JobRun {ctx.path['run_id']} not found")
    return json_response(run)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/jobs",
        list_jobs,
        "Registered jobs with settings and latest run",
        READ,
        response=JobListOut,
        tags=["jobs"],
    ),
    Endpoint(
        "PATCH",
        "/api/v1/jobs/{name}",
        configure_job,
        "Change a job's schedule, batching, retries, filters, variables",
        ADMIN,
        body=JobSettingsPatch,
        response=JobOut,
        tags=["jobs"],
    ),
    Endpoint(
        "POST",
        "/api/v1/jobs/{name}/runs",
        request_run,
        "Trigger a run (202; poll the run); 429 when the brand has too many runs of the job waiting",
        WRITE,
        body=RunRequest,
        response=RunAccepted,
        status=202,
        errors=(429,),
        tags=["jobs"],
    ),
    Endpoint(
        "GET",
        "/api/v1/jobs/{name}/runs",
        job_runs,
        "Run history of a job, newest first",
        READ,
        query=RunHistoryQuery,
        response=RunPageOut,
        tags=["jobs"],
    ),
    Endpoint(
        "GET",
        "/api/v1/jobs/runs/{run_id}",
        get_run,
        "One run: status, attempts, counts, error",
        READ,
        response=RunOut,
        tags=["jobs"],
    ),
]
