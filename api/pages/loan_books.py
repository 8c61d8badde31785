"""Portal pages of the loan book (issue #15 items 4 and 8): completed loans with their all / closed / settled /
written-off tabs (COMPLETED_LOANS; keyset over `read.loans` by the instant each closed, latest first), each with a
search, a product and closing-date filter and its CSV export; and the close-of-business runs per business date with a
"run COB for date" form (the `loan-cob` job, as the jobs API starts it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from adapters.cob_store import CobStore
from api.csv_download import csv_chunks, safe
from api.services.jobs import ManualRuns, RunOrder, RunsRequested
from api.web import Page, act, after_write, error_page, error_text, form_text, keyset_page, pages, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import Jobs
from domain.shared.errors import DomainError, FieldChecks, FieldError, InvalidInput, InvalidValue, Throttled
from domain.shared.values import clean_text, parse_date
from projections.loan_queries import COMPLETED as COMPLETED_STATUSES
from projections.loan_queries import CompletedFilter, CompletedPage, LoanQueries
from projections.product_queries import ProductQueries

COMPLETED = (Permission.COMPLETED_LOANS, Level.READ)
COB_READ = (Permission.JOBS, Level.READ)
COB_RUN = (Permission.JOBS, Level.WRITE)
#: The completed-loans tabs and the loan statuses each lists (the spec's All Completed, Closed, Settlement, Write-off).
TABS = {
    "all": COMPLETED_STATUSES,
    "closed": ("completed",),
    "settled": ("settled",),
    "written_off": ("written_off",),
}
#: Rows a CSV export reads a page at a time.
EXPORT_BATCH = 1_000
COB_JOB = "loan-cob"


@dataclass(frozen=True)
class LoanBookPagesPort:
    """What the loan-book pages use: the loans read model, the COB run records and manual job runs."""

    queries: LoanQueries
    products: ProductQueries
    cob: CobStore
    runs: ManualRuns


def _shown(request: Request) -> tuple[str, CompletedFilter, dict[str, str]]:
    """The tab, the filter the page's address asks for (dates are the business days the loans closed on, as their
    no-due certificates say) and the address's values as the form shows them; InvalidInput naming each bad one."""
    params = request.query_params
    tab = params.get("tab") or "closed"
    if tab not in TABS:
        tab = "closed"
    values = {name: (params.get(name) or "").strip() for name in ("q", "product", "from", "to")}
    checks = FieldChecks()
    product = checks.check(lambda: _product_id(values["product"])) if values["product"] else None
    start = checks.check(lambda: parse_date(values["from"], "from")) if values["from"] else None
    end = checks.check(lambda: parse_date(values["to"], "to")) if values["to"] else None
    if start is not None and end is not None and start > end:
        checks.errors.append(FieldError("to", "is before from"))
    search = checks.check(lambda: clean_text(values["q"], "q")[:100]) if values["q"] else None
    checks.raise_if_any()
    shown = CompletedFilter(
        statuses=TABS[tab],
        q=search,
        product_id=product,
        closed_from=start,
        closed_to=end,
    )
    return tab, shown, values


def _product_id(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidValue("product", "is not a product of this brand") from None


async def completed_loans(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    products = await run_in_threadpool(lambda: port.products.products(principal.brand_id, limit=200).items)
    try:
        tab, shown, values = _shown(request)
    except InvalidInput as exc:
        return render(request, "completed_loans.html", 422, nav="completed-loans", rows=None, tab="closed",
                      tabs=list(TABS), values={}, products=products, error=error_text(exc), query="")  # fmt: skip

    def load(cursor: str | None) -> CompletedPage:
        return port.queries.completed(principal.brand_id, shown, cursor, 50)

    rows = await run_in_threadpool(keyset_page, request, load)
    query = urlencode({k: v for k, v in values.items() if v})
    return render(request, "completed_loans.html", nav="completed-loans", rows=rows, tab=tab, tabs=list(TABS),
                  values=values, products=products, error=None, query=query)  # fmt: skip


async def completed_loans_csv(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    """The tab's loans as the page filters them, every page of them, as CSV (UTF-8 with BOM, formula-safe)."""
    tz = getattr(request.state, "timezone", "Asia/Kolkata")
    try:
        tab, shown, _ = _shown(request)
    except InvalidInput as exc:
        return error_page(request, 422, "Cannot export these loans", error_text(exc))
    zone = ZoneInfo(tz)

    def rows() -> Iterator[tuple[object, ...]]:
        cursor: str | None = None
        while True:
            page = port.queries.completed(principal.brand_id, shown, cursor, EXPORT_BATCH)
            for loan in page.items:
                yield (loan.loan_number, safe(loan.borrower_name or ""), loan.borrower_number or "",
                       loan.product_code or "", loan.amount, loan.tenure, loan.status,
                       loan.closed_on.isoformat(), loan.closed_at.astimezone(zone).isoformat())  # fmt: skip
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    header = ("loan_number", "borrower", "borrower_number", "product", "amount", "tenure", "status", "closed_on",
              "closed_at")  # fmt: skip
    chunks = iterate_in_threadpool(csv_chunks(header, rows()))
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="completed-loans-{tab}.csv"'})  # fmt: skip


async def _cob(request: Request, port: LoanBookPagesPort, principal: Principal, error: str | None = None) -> Response:
    days: list[Any] = await run_in_threadpool(port.cob.days, principal.brand_id, 60)
    return render(request, "cob_runs.html", 422 if error else 200, nav="loan-cob", days=days,
                  can_run=principal.holds(*COB_RUN), error=error)  # fmt: skip


async def cob_runs(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    return await _cob(request, port, principal)


async def run_cob(request: Request, port: LoanBookPagesPort, principal: Principal) -> Response:
    raw_as_of = form_text(request, "as_of").strip()

    def start() -> RunsRequested:
        order = RunOrder(as_of=parse_date(raw_as_of, "as_of") if raw_as_of else None, dry_run=False)
        return port.runs.start(principal.brand_id, COB_JOB, order, caller=principal, companies=principal.companies)

    try:
        requested = await act(principal, start)
    except Throttled as exc:
        busy = error_page(request, 429, "Too many runs waiting", str(exc))
        busy.headers["Retry-After"] = str(exc.retry_after)
        return busy
    except (DomainError, ValueError) as exc:  # at the form, the date as typed
        return await _cob(request, port, principal, error=str(exc))
    return await after_write(request, Jobs.name, requested.position, "/loan-cob?started=1")


PAGES = pages(
    LoanBookPagesPort,
    [
        Page("GET", "/completed-loans", completed_loans, COMPLETED),
        Page("GET", "/completed-loans.csv", completed_loans_csv, COMPLETED),
        Page("GET", "/loan-cob", cob_runs, COB_READ),
        Page("POST", "/loan-cob/run", run_cob, COB_RUN, form=True),
    ],
)
