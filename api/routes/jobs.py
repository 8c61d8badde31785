"""Batch job endpoints: the job list with settings, configuration, manual runs and run history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.services.jobs import JobBoard, ManualRuns, RunOrder, check_company_filter
from domain.identity.permissions import Level, Permission
from domain.jobs.application import Jobs
from domain.jobs.job import JobRunNotFound, JobSettings, RunStatus
from domain.shared.values import BusinessDate, Flag, WholeNumber
from projections.jobs import JobRunQueries

READ = (Permission.JOBS, Level.READ)
WRITE = (Permission.JOBS, Level.WRITE)
ADMIN = (Permission.JOBS, Level.ALL)


@dataclass(frozen=True)
class JobsPort:
    """What the jobs endpoints and pages use: the job board, configuration, manual runs and the run history."""

    board: JobBoard
    jobs: Jobs
    runs: ManualRuns
    queries: JobRunQueries


class RunRequest(BaseModel):
    """A manual run: the as-of business date (default: the brand's business date), overrides, or a dry run."""

    model_config = ConfigDict(extra="forbid")

    as_of: BusinessDate | None = Field(
        None, description="Between the brand's first business day and its business date (later only for a dry run)"
    )
    variables: dict[str, str] = Field(default_factory=dict)
    filters: dict[str, str] = Field(default_factory=dict)
    batch_size: WholeNumber | None = Field(None, ge=1, le=100_000)
    dry_run: Flag = Field(False, description="Compute and report counts without writing anything")


class JobSettingsPatch(BaseModel):
    """Settings to change for the caller's brand."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, max_length=100)
    enabled: Flag | None = None
    batch_size: WholeNumber | None = Field(None, ge=1, le=100_000)
    retry_count: WholeNumber | None = Field(None, ge=0, le=20)
    retry_interval_seconds: WholeNumber | None = Field(None, ge=0, le=86_400)
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
    company: str | None = Field(
        None,
        description="the company of the brand whose records the run works on (a notice sync's source's, or the "
        "company a covenant job's run is filtered to); null: a brand-wide run. Staff limited to companies see only "
        "their companies' runs and the brand-wide ones",
    )


class JobOut(BaseModel):
    """A registered job with the brand's settings and its latest run."""

    name: str
    title: str
    description: str
    settings: JobSettings
    filter_keys: list[str]
    last_run: RunOut | None
    version: int = Field(
        description="the brand's settings' version (0 while they are the job's defaults): send it back as If-Match "
        "on PATCH to refuse a stale change"
    )


class JobListOut(BaseModel):
    """Every registered job."""

    items: list[JobOut]


class RunPageOut(BaseModel):
    """A page of run history, newest first."""

    items: list[RunOut]
    next_cursor: str | None


def list_jobs(ctx: Context[JobsPort]) -> Reply:
    return json_response({"items": ctx.port.board.all(ctx.brand_id, ctx.principal.companies)})


def configure_job(ctx: Context[JobsPort]) -> Reply:
    body: JobSettingsPatch = ctx.body
    name = ctx.path["name"]
    if body.filters is not None:
        check_company_filter(body.filters, ctx.principal.companies)
    ctx.port.jobs.configure(
        ctx.brand_id, name, body.model_dump(exclude_unset=True), expected_version=ctx.expected_version()
    )
    # Settings are read from the configuration record itself, so the answer is current without a read model.
    return json_response(ctx.port.board.one(ctx.brand_id, name, ctx.principal.companies))


def get_job(ctx: Context[JobsPort]) -> Reply:
    return json_response(ctx.port.board.one(ctx.brand_id, ctx.path["name"], ctx.principal.companies))


def request_run(ctx: Context[JobsPort]) -> Reply:
    body: RunRequest = ctx.body
    order = RunOrder(
        as_of=body.as_of,
        variables=body.variables,
        filters=body.filters,
        batch_size=body.batch_size,
        dry_run=body.dry_run,
    )
    requested = ctx.port.runs.start(
        ctx.brand_id, ctx.path["name"], order, caller=ctx.principal, companies=ctx.principal.companies
    )
    first = requested.run_ids[0]
    accepted = RunAccepted(run_id=first, status=RunStatus.REQUESTED, run_ids=requested.run_ids)
    return json_response(accepted, 202, headers={"Location": f"/api/v1/jobs/runs/{first}"})


def job_runs(ctx: Context[JobsPort]) -> Reply:
    q: RunHistoryQuery = ctx.query
    page = ctx.port.board.history(ctx.brand_id, ctx.path["name"], q.cursor, q.limit, ctx.principal.companies)
    return json_response(page)


def get_run(ctx: Context[JobsPort]) -> Reply:
    # Another company's run (a notice sync of its source) is 404 for a caller limited to companies, as its sync run is.
    run = ctx.port.queries.run(ctx.brand_id, ctx.path["run_id"], ctx.principal.companies)
    if run is None:
        raise JobRunNotFound(f"JobRun {ctx.path['run_id']} not found")
    return json_response(run)


ENDPOINTS = serve(
    JobsPort,
    "jobs",
    [
        Endpoint(
            "GET",
            "/api/v1/jobs",
            list_jobs,
            "Registered jobs with settings and latest run",
            READ,
            response=JobListOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/jobs/{name}",
            get_job,
            "One registered job with the brand's settings and its latest run (ETag: the settings' version)",
            READ,
            response=JobOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/jobs/{name}",
            configure_job,
            "Change a job's schedule, batching, retries, filters, variables; If-Match with the version read "
            "refuses a stale change with 409",
            ADMIN,
            body=JobSettingsPatch,
            response=JobOut,
            if_match=True,
            etag=True,
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
        ),
        Endpoint(
            "GET",
            "/api/v1/jobs/{name}/runs",
            job_runs,
            "Run history of a job, newest first",
            READ,
            query=RunHistoryQuery,
            response=RunPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/jobs/runs/{run_id}",
            get_run,
            "One run: status, attempts, counts, error",
            READ,
            response=RunOut,
        ),
    ],
)
