"""The reports page (issue #18 item 1): choose a report, its dates and filters, see its rows a page at a time with
the range's totals, export the CSV (streamed, as the API does) and email the report as a job run."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api.problems import field_errors_from_pydantic
from api.routes.reports import (
    EMAIL_ADDRESS,
    EMAIL_JOB,
    FILTER_NAMES,
    ReportFilters,
    ReportPort,
    report_request,
    team_manager,
)
from api.services.jobs import RunOrder, RunsRequested
from api.web import Page, act, after_write, error_page, error_text, form_text, pages, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import Jobs
from domain.shared.errors import DomainError, InvalidInput, InvalidValue, NotFound, Throttled
from projections.keyset import InvalidCursor
from projections.report_catalogue import CATALOGUE, EMAILED
from projections.reports import Report, ReportPage

READ = (Permission.MASTER_REPORTS, Level.READ)


class UnknownReport(NotFound):
    """Raised when an address names a report the catalogue does not have."""


def _chosen(request: Request) -> tuple[Report, ReportFilters, dict[str, str]]:
    """The report of the address (the master report when none is named) and its dates and filters, as given; a
    report name not in the catalogue is UnknownReport (never another report's rows in its place)."""
    slug = request.query_params.get("report") or EMAILED
    report = CATALOGUE.get(slug)
    if report is None:
        raise UnknownReport(f"there is no report “{slug[:60]}”: choose one from the list on the Reports page")
    taken = {f.name for f in report.filters}
    names = ("from", "to", *(n for n in FILTER_NAMES if n in taken))
    raw = {k: v for k in names if (v := request.query_params.get(k))}
    return report, ReportFilters.model_validate(raw), raw


def _said(exc: ValidationError) -> str:
    """A refused address's filters, each named, in words (not pydantic's report of the model)."""
    return error_text(InvalidInput(field_errors_from_pydantic(exc)))


def _unknown(request: Request, exc: UnknownReport) -> Response:
    return error_page(request, 404, "No such report", exc.message[:1].upper() + exc.message[1:] + ".")


async def reports_page(request: Request, port: ReportPort, principal: Principal) -> Response:
    try:
        report, filters, raw = _chosen(request)
    except UnknownReport as exc:
        return _unknown(request, exc)
    except ValidationError as exc:
        return error_page(request, 422, "Cannot run this report", _said(exc))
    generate = request.query_params.get("generate") == "1"
    cursor = request.query_params.get("cursor") or None

    def load() -> tuple[ReportPage | None, dict[str, Any] | None, datetime | None]:
        if not generate:
            return None, None, None
        team = team_manager(port.teams, principal, report, filters)
        req = report_request(port.identity, principal.brand_id, filters, team)
        try:
            page = port.queries.page(report, req, cursor, 50)
        except InvalidCursor:
            request.state.notice = "That page link is out of date: showing the first page."
            page = port.queries.page(report, req, None, 50)
        if cursor is None:  # generating the report sums its range afresh; the pages after it show those totals
            return page, port.queries.totals(report, req), None
        totals, at = port.queries.recent_totals(report, req)
        return page, totals, at

    try:
        page, totals, totals_at = await run_in_threadpool(load)
    except InvalidInput as exc:
        return error_page(request, 422, "Cannot run this report", error_text(exc))
    today = await run_in_threadpool(port.identity.business_date, principal.brand_id)
    return _render(request, report, raw, today, page, totals, totals_at)


def _render(
    request: Request,
    report: Report,
    raw: dict[str, str],
    today: date,
    page: ReportPage | None = None,
    totals: dict[str, Any] | None = None,
    totals_at: datetime | None = None,
    email_error: str | None = None,
) -> Response:
    return render(
        request,
        "reports.html",
        422 if email_error else 200,
        nav="reports",
        reports=list(CATALOGUE.values()),
        report=report,
        raw=raw,
        page=page,
        totals=totals,
        totals_at=totals_at,
        query=urlencode(raw),
        today=today.isoformat(),  # the email form's dates: the brand's business date, not the server's day
        email_error=email_error,
    )


async def export_csv(request: Request, port: ReportPort, principal: Principal) -> Response:
    try:
        report, filters, _ = _chosen(request)
        team = await run_in_threadpool(team_manager, port.teams, principal, report, filters)
        req = report_request(port.identity, principal.brand_id, filters, team)
        chunks = port.queries.csv(report, req)
    except UnknownReport as exc:
        return _unknown(request, exc)
    except ValidationError as exc:
        return error_page(request, 422, "Cannot export this report", _said(exc))
    except InvalidInput as exc:
        return error_page(request, 422, "Cannot export this report", error_text(exc))
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report.slug}.csv"', "Cache-Control": "no-store"},
    )


def _form_date(request: Request, name: str) -> date:
    try:
        return date.fromisoformat(form_text(request, name).strip())
    except ValueError:
        raise InvalidValue(name, "give a date as YYYY-MM-DD") from None


async def email_report(request: Request, port: ReportPort, principal: Principal) -> Response:
    slug, to = form_text(request, "report") or EMAILED, form_text(request, "to").strip()

    def start() -> RunsRequested:
        if slug not in CATALOGUE:
            raise InvalidValue("report", "is not a report")
        if not EMAIL_ADDRESS.fullmatch(to):
            raise InvalidValue("to", "is not an email address")
        start, end = _form_date(request, "from"), _form_date(request, "to_date")
        if start > end:
            raise InvalidValue("to_date", "is before from")
        order = RunOrder(variables={"slug": slug, "to": to, "from": start.isoformat(), "to_date": end.isoformat()})
        return port.runs.start(principal.brand_id, EMAIL_JOB, order, caller=principal, companies=())

    try:
        requested = await act(principal, start)
    except Throttled as exc:
        busy = error_page(request, 429, "Too many emails waiting", str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except DomainError as exc:  # said at the form, what was typed kept (the report shown is the one asked for)
        today = await run_in_threadpool(port.identity.business_date, principal.brand_id)
        return _render(request, CATALOGUE.get(slug, CATALOGUE[EMAILED]), {}, today, email_error=error_text(exc))
    return await after_write(request, Jobs.name, requested.position, f"/reports?report={slug}&emailed=1")


PAGES = pages(
    ReportPort,
    [
        Page("GET", "/reports", reports_page, READ),
        Page("GET", "/reports/export.csv", export_csv, READ),
        Page("POST", "/reports/email", email_report, READ, form=True),
    ],
)
