"""Portal pages of the loan book (issue #15 items 4 and 8): completed loans with their closed / settled /
written-off tabs (COMPLETED_LOANS; keyset over `read.loans` by status), and the close-of-business runs per business
date with a "run COB for date" form (the `loan-cob` job, as the jobs API starts it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapters.cob_store import CobStore
from api.services.jobs import ManualRuns, RunOrder, RunsRequested
from api.web import Page, act, after_write, error_page, form_text, keyset_page, pages, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import Jobs
from domain.shared.errors import DomainError, Throttled
from domain.shared.values import parse_date
from projections.loan_queries import LoanPage, LoanQueries

COMPLETED = (Permission.COMPLETED_LOANS, Level.READ)
COB_READ = (Permission.JOBS, Level.READ)
COB_RUN = (Permission.JOBS, Level.WRITE)
#: The completed-loans tabs and the loan status each lists (settled and written-off arrive with collections).
TABS = {"closed": "completed", "settled": "settled", "written_off": "written_off"}
COB_JOB = "loan-cob"


@dataclass(frozen=True)
class LoanBookPagesPort:
    """What the loan-book pages use: the loans read model, the COB run records and manual job runs."""

    queries: LoanQueries
    cob: CobStore
    runs: ManualRuns


async def completed_loans(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    tab = request.query_params.get("tab") or "closed"
    if tab not in TABS:
        tab = "closed"

    def load(cursor: str | None) -> LoanPage:
        return port.queries.loans(principal.brand_id, TABS[tab], None, None, cursor, 50)

    rows = await run_in_threadpool(keyset_page, request, load)
    return render(request, "completed_loans.html", nav="completed-loans", rows=rows, tab=tab, tabs=list(TABS))


async def cob_runs(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    days: list[Any] = await run_in_threadpool(port.cob.days, principal.brand_id, 60)
    return render(request, "cob_runs.html", nav="loan-cob", days=days, can_run=principal.holds(*COB_RUN))


async def run_cob(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    raw_as_of = form_text(request, "as_of").strip()

    def start() -> RunsRequested:
        order = RunOrder(as_of=parse_date(raw_as_of, "as_of") if raw_as_of else None, dry_run=False)
        return port.runs.start(principal.brand_id, COB_JOB, order, actor=principal.actor, companies=principal.companies)

    try:
        requested = await act(principal, start)
    except Throttled as exc:
        busy = error_page(request, 429, "Too many runs waiting", str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except (DomainError, ValueError) as exc:
        return error_page(request, 422, "Could not start the close of business", str(exc))
    return await after_write(request, Jobs.name, requested.position, "/loan-cob?started=1")


PAGES = pages(
    LoanBookPagesPort,
    [
        Page("GET", "/completed-loans", completed_loans, COMPLETED),
        Page("GET", "/loan-cob", cob_runs, COB_READ),
        Page("POST", "/loan-cob/run", run_cob, COB_RUN, form=True),
    ],
)
