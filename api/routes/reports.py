"""The reports (issue #18 item 1): the catalogue, a report's rows as JSON keyset pages, the same rows as a streamed
CSV (UTF-8 with BOM, RFC 4180 quoting, formula cells neutralised), and a report emailed as a job run.

    GET  /api/v1/reports                          the catalogue: slug, title, category, columns, filters
    GET  /api/v1/reports/{slug}?from=&to=&...&cursor=  JSON pages (totals on the first)
    GET  /api/v1/reports/{slug}.csv?from=&to=&...      streamed CSV
    POST /api/v1/reports/{slug}/email  {"to", "from", "to_date"}  -> 202, the job run that emails it

All of them need MASTER_REPORTS READ (emailing included: the spec's "download all reports") and read the caller's brand only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from api.services.jobs import ManualRuns, RunOrder
from api.services.teams import TEAM_HELP, TeamParam, Teams
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.errors import InvalidValue
from domain.shared.values import BusinessDate
from projections.report_catalogue import CATALOGUE
from projections.reports import Report, ReportQueries, ReportRequest, find

READ = (Permission.MASTER_REPORTS, Level.READ)
#: Every filter some report of the catalogue takes (tests/unit/test_report_catalogue.py checks each is a field of
#: ReportFilters, so a report's declared filter is never refused by the API or dropped by the page).
FILTER_NAMES = (
    "status", "channel", "state", "stage", "attribution", "pipeline", "utm_source", "sourcing", "team",
)  # fmt: skip
#: The job that emails a report (workers/report_jobs.py).
EMAIL_JOB = "report-email"
EMAIL_ADDRESS = re.compile(r"[^@\s<>\"]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class ReportPort:
    """What the report endpoints and pages use: the reports' queries, the brand's timezone and business date,
    and manual job runs (the email)."""

    queries: ReportQueries
    identity: Identity
    runs: ManualRuns
    teams: Teams


class ReportFilters(BaseModel):
    """A report's From/To dates (inclusive, brand timezone) and filters; each report takes the filters its
    catalogue entry lists (another is a 422)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: BusinessDate | None = Field(None, alias="from", description="first day (inclusive)")
    to: BusinessDate | None = Field(None, description="last day (inclusive)")
    status: str | None = Field(None, max_length=40)
    channel: str | None = Field(None, max_length=40)
    state: str | None = Field(None, max_length=40)
    stage: str | None = Field(None, max_length=40)
    attribution: str | None = Field(None, max_length=40)
    pipeline: str | None = Field(None, max_length=40)
    utm_source: str | None = Field(None, max_length=200, description="the partner: a UTM source, any case")
    sourcing: str | None = Field(None, max_length=40)
    team: TeamParam | None = Field(None, description=f"the rows of a team, {TEAM_HELP}")

    def given(self) -> dict[str, str]:
        return {name: value for name in FILTER_NAMES if (value := getattr(self, name))}


class ReportPageQuery(ReportFilters):
    """The filters, plus the page: a cursor from the previous page and its size."""

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=500)


class ColumnOut(BaseModel):
    name: str
    kind: str


class FilterOut(BaseModel):
    name: str
    description: str
    choices: list[str]


class ReportOut(BaseModel):
    """A report of the catalogue: what a row is, which date From/To filter, its columns and filters."""

    slug: str
    title: str
    category: str
    definition: str
    date_basis: str
    columns: list[ColumnOut]
    filters: list[FilterOut]


class CatalogueOut(BaseModel):
    items: list[ReportOut]


class ReportRowsOut(BaseModel):
    """A page of a report's rows (each an object of its columns) and, on the first page, the totals of the whole
    range: `rows` and the sum of each number column."""

    slug: str
    columns: list[str]
    rows: list[dict[str, Any]]
    next_cursor: str | None
    totals: dict[str, Any] | None


class EmailIn(BaseModel):
    """Email the report of `from` to `to_date` to `to`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str = Field(max_length=254, description="the recipient's email address")
    from_: BusinessDate = Field(alias="from")
    to_date: BusinessDate


class EmailQueuedOut(BaseModel):
    """The job run that will email the report."""

    run_id: UUID
    job: str
    status: str = "queued"


def describe(report: Report) -> ReportOut:
    """A report as the catalogue lists it."""
    return ReportOut(
        slug=report.slug,
        title=report.title,
        category=report.category,
        definition=report.definition,
        date_basis=report.date_basis,
        columns=[ColumnOut(name=c.name, kind=c.kind) for c in report.columns],
        filters=[FilterOut(name=f.name, description=f.description, choices=list(f.choices)) for f in report.filters],
    )


def report_request(
    identity: Identity, brand_id: UUID, filters: ReportFilters, team: UUID | None = None
) -> ReportRequest:
    """The request of a report in the brand's timezone, as of its business date; `team`: the manager the `team`
    filter names (`team_manager`: `mine` is the caller)."""
    tz = identity.settings(brand_id).timezone
    given = filters.given()
    if team is not None:
        given["team"] = str(team)
    return ReportRequest(brand_id, filters.from_, filters.to, tz, identity.business_date(brand_id), given)


def team_manager(teams: Teams, principal: Principal, report: Report, filters: ReportFilters) -> UUID | None:
    """The manager whose team the `team` filter asks for (`mine`: the caller), when the report takes the filter
    (422 naming `team` when it names no staff member of the brand); a report that does not take it refuses it."""
    if not filters.team or "team" not in {f.name for f in report.filters}:
        return None
    return teams.manager(principal, filters.team)


def catalogue(ctx: Context[ReportPort]) -> Reply:
    return json_response({"items": [describe(r) for r in CATALOGUE.values()]})


def report_rows(ctx: Context[ReportPort]) -> Reply:
    report = find(CATALOGUE, ctx.path["slug"])
    query: ReportPageQuery = ctx.query
    team = team_manager(ctx.port.teams, ctx.principal, report, query)
    request = report_request(ctx.port.identity, ctx.brand_id, query, team)
    page = ctx.port.queries.page(report, request, query.cursor, query.limit)
    totals = None if query.cursor else ctx.port.queries.totals(report, request)
    return json_response(
        {"slug": report.slug, "columns": report.header, "rows": page.rows, "next_cursor": page.next_cursor,
         "totals": totals}
    )  # fmt: skip


def report_csv(ctx: Context[ReportPort]) -> StreamingResponse:
    report = find(CATALOGUE, ctx.path["slug"])
    query: ReportFilters = ctx.query
    team = team_manager(ctx.port.teams, ctx.principal, report, query)
    request = report_request(ctx.port.identity, ctx.brand_id, query, team)
    chunks = ctx.port.queries.csv(report, request)  # bad filters raise here, before the answer starts
    span = "-".join(d.isoformat() for d in (request.start, request.end) if d is not None)
    name = f"{report.slug}{'-' + span if span else ''}.csv"
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def email_report(ctx: Context[ReportPort]) -> Reply:
    report = find(CATALOGUE, ctx.path["slug"])
    body: EmailIn = ctx.body
    if not EMAIL_ADDRESS.fullmatch(body.to):
        raise InvalidValue("to", "is not an email address")
    if body.from_ > body.to_date:
        raise InvalidValue("to_date", "is before from")
    order = RunOrder(
        variables={"slug": report.slug, "to": body.to, "from": body.from_.isoformat(),
                   "to_date": body.to_date.isoformat()},
    )  # fmt: skip
    requested = ctx.port.runs.start(ctx.brand_id, EMAIL_JOB, order, caller=ctx.principal, companies=())
    return json_response({"run_id": requested.run_ids[0], "job": EMAIL_JOB}, 202)


ENDPOINTS = serve(
    ReportPort,
    "reports",
    [
        Endpoint(
            "GET",
            "/api/v1/reports",
            catalogue,
            "The reports: each with its slug, title, category, definition, date basis, columns and filters",
            READ,
            response=CatalogueOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/reports/{slug}.csv",
            report_csv,
            "A report as CSV, streamed (UTF-8 with BOM, RFC 4180 quoting, cells starting = + - @ tab CR prefixed '), "
            "rows in the report's order",
            READ,
            query=ReportFilters,
            response=ReportRowsOut,
            media=("text/csv",),
        ),
        Endpoint(
            "GET",
            "/api/v1/reports/{slug}",
            report_rows,
            "A page of a report's rows from `from` to `to` (inclusive), with its filters; totals on the first page",
            READ,
            query=ReportPageQuery,
            response=ReportRowsOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/reports/{slug}/email",
            email_report,
            "Email a report (the master report, or any other) of `from` to `to_date` to `to`, as a job run",
            READ,
            body=EmailIn,
            response=EmailQueuedOut,
            status=202,
            errors=(429,),
        ),
    ],
)
