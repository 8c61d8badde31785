"""Batch job endpoints: the job list with settings, configuration, manual runs and run history."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, Instant, Reply, json_response
from domain.identity.permissions import Level, Permission
from domain.jobs.job import JobRunNotFound, JobSettings, RunStatus
from domain.shared.clock import business_date

READ = (Permission.JOBS, Level.READ)
WRITE = (Permission.JOBS, Level.WRITE)
ADMIN = (Permission.JOBS, Level.ALL)


class RunRequest(BaseModel):
    """A manual run: the as-of business date (default: today in the brand's timezone) and overrides."""

    model_config = ConfigDict(extra="forbid")

    as_of: date | None = None
    variables: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, str] = Field(default_factory=dict)
    batch_size: int | None = Field(None, ge=1, le=100_000)


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
    """A run was requested; poll its URL."""

    run_id: UUID
    status: RunStatus


class RunOut(BaseModel):
    """A job run."""

    id: UUID
    job_name: str
    trigger: str = Field(description="manual or schedule")
    requested_by: str
    as_of: date
    settings: JobSettings
    status: RunStatus
    attempt: int
    batches: int
    processed: int
    succeeded: int
    failed: int
    skipped: int
    error: str | None
    retry_at: Instant | None
    requested_at: Instant
    started_at: Instant | None
    finished_at: Instant | None


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


def request_run(ctx: Context) -> Reply:
    body: RunRequest = ctx.body
    name = ctx.path["name"]
    brand = ctx.platform.identity.brand(ctx.brand_id)
    as_of = body.as_of or business_date(ctx.platform.clock.now(), brand.timezone)
    result = ctx.platform.jobs.request_run(
        ctx.brand_id,
        name,
        trigger="manual",
        requested_by=ctx.principal.actor,
        as_of=as_of,
        variables=body.variables,
        filters=body.filters,
        batch_size=body.batch_size,
    )
    ctx.platform.engine.wait_for("jobs", result.position)
    ctx.platform.wake_scheduler()
    return json_response(
        {"run_id": result.id, "status": "requested"}, 202, headers={"Location": f"/api/v1/jobs/runs/{result.id}"}
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
        "Trigger a run (202; poll the run)",
        WRITE,
        body=RunRequest,
        response=RunAccepted,
        status=202,
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
