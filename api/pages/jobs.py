"""Jobs pages: every job with the brand's settings and latest run, the run history, and "Run now"."""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.routes.jobs import JobsPort
from api.services.jobs import RunOrder, RunsRequested
from api.web import Page, act, after_write, error_page, form_text, keyset_page, pages, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import Jobs
from domain.shared.errors import DomainError, Throttled
from domain.shared.values import parse_date
from projections.jobs import RunPage

READ = (Permission.JOBS, Level.READ)
WRITE = (Permission.JOBS, Level.WRITE)


async def _jobs(request: Request, port: JobsPort, principal: Principal, error: str | None = None) -> Response:
    def history(cursor: str | None) -> RunPage:
        return port.queries.history(principal.brand_id, None, cursor, 25)

    jobs = await run_in_threadpool(port.board.all, principal.brand_id)
    runs = await run_in_threadpool(keyset_page, request, history)
    # After "Run now" (`?requested=<job>`): which job's run was asked for, said above the tables. Any other value
    # names no job of the catalogue and is ignored.
    named = request.query_params.get("requested") if error is None else None
    requested = next((j.definition for j in jobs if j.definition.name == named), None)
    return render(request, "jobs.html", 422 if error else 200, nav="jobs", jobs=jobs, history=runs,
                  can_run=principal.holds(*WRITE), error=error, refused=request.path_params.get("name"),
                  requested=requested, requested_dry_run=request.query_params.get("dry_run") == "1")  # fmt: skip


async def jobs_page(request: Request, port: JobsPort, principal: Principal) -> Response:
    return await _jobs(request, port, principal)


async def run_job(request: Request, port: JobsPort, principal: Principal) -> Response:
    name = request.path_params["name"]
    raw_as_of = form_text(request, "as_of").strip()
    dry_run = form_text(request, "dry_run") == "on"

    def start() -> RunsRequested:
        order = RunOrder(as_of=parse_date(raw_as_of, "as_of") if raw_as_of else None, dry_run=dry_run)
        return port.runs.start(principal.brand_id, name, order, actor=principal.actor, companies=principal.companies)

    try:
        requested = await act(principal, start)
    except Throttled as exc:
        busy = error_page(request, 429, "Too many runs waiting", str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except (DomainError, ValueError) as exc:  # at the job's row, its date and dry run as typed
        return await _jobs(request, port, principal, error=str(exc))
    shown = f"/jobs?requested={quote(name)}" + ("&dry_run=1" if dry_run else "")
    return await after_write(request, Jobs.name, requested.position, shown)


PAGES = pages(
    JobsPort,
    [
        Page("GET", "/jobs", jobs_page, READ),
        Page("POST", "/jobs/{name}/run", run_job, WRITE, form=True),
    ],
)
