"""Portal pages of global search and the dashboard: `/dashboard` (V1 or V2 by the brand's `dashboard_version`,
with the covenant counts for those who hold COVENANTS) and `/search?q=` (the top bar's box without script; with
script, /static/search.js shows the same groups as suggestions from `GET /api/v1/search`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.pages.charts import Bar, bars, columns
from api.routes.insight import SEARCH, for_reader
from api.services.dashboard import Dashboard, DashboardDesk
from api.web import Page, pages, render
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.identity.principal import Principal
from domain.shared.rupees import rupees
from projections.covenant_queries import CovenantQueries
from projections.global_search import MIN_LENGTH, GlobalSearchQueries


@dataclass(frozen=True)
class InsightPagesPort:
    """What the pages use: the search, the dashboard and the covenant counts."""

    search: GlobalSearchQueries
    desk: DashboardDesk
    covenants: CovenantQueries
    identity: Identity  # the recent activity's actors, by name


def charts(board: Dashboard) -> dict[str, Any]:
    """The V2 charts, rendered."""
    if board.daily is None or board.dpd_buckets is None or board.funnel is None:
        return {}
    days = board.daily
    return {
        "disbursals": columns(
            "Disbursals by day",
            [Bar(d.day.strftime("%d %b"), Decimal(d.disbursed_count),
                 f"{d.disbursed_count} loans, {rupees(d.disbursed_amount)}") for d in days],
        ),
        "collections": columns(
            "Collections by day",
            [Bar(d.day.strftime("%d %b"), d.collected_amount,
                 f"{rupees(d.collected_amount)} in {d.collected_count} payments") for d in days],
            css="series-b",
        ),
        "buckets": bars(
            "Serviced loans by DPD bucket",
            [Bar(b.bucket, Decimal(b.loans), f"{b.loans} · {rupees(b.amount)}") for b in board.dpd_buckets],
            css="series-c",
        ),
        "funnel": bars(
            "Approval funnel", [Bar(s.stage, Decimal(s.loans), str(s.loans)) for s in board.funnel]
        ),
    }  # fmt: skip


async def dashboard_page(request: Request, port: InsightPagesPort, principal: Principal) -> Response:
    def load() -> dict[str, Any]:
        board = (
            port.desk.dashboard(principal.brand_id, principal.companies)
            if principal.holds(Permission.VIEW_DASHBOARD)
            else None
        )
        counts = (
            port.covenants.counts(principal.brand_id, principal.companies)
            if principal.holds(Permission.COVENANTS)
            else None
        )
        actors = (
            actor_names(port.identity, principal.brand_id, {a.actor for a in board.recent_activity if a.actor})
            if board is not None and board.recent_activity
            else {}
        )
        return {"board": board, "counts": counts, "charts": charts(board) if board else {}, "actors": actors}

    return render(request, "dashboard.html", nav="dashboard", **await run_in_threadpool(load))


async def search_page(request: Request, port: InsightPagesPort, principal: Principal) -> Response:
    # `q` from this page's form, `find` from the top bar's box (named apart so a page's own `q` field stays unique).
    params = request.query_params
    q = " ".join((params.get("q") or params.get("find") or "")[:100].split())
    results = None
    if len(q) >= MIN_LENGTH:
        results = for_reader(await run_in_threadpool(port.search.search, principal.brand_id, q), principal)
    return render(request, "search.html", q=q, results=results, min_length=MIN_LENGTH)


PAGES = pages(
    InsightPagesPort,
    [
        Page("GET", "/dashboard", dashboard_page, None),
        Page("GET", "/search", search_page, SEARCH),
    ],
)
