"""The notice dashboard and filtered overdue feed at a million notices: see tests/benchmarks/notices.py."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from adapters.postgres import Database
from projections.notice_feed import NoticeFeedQueries
from projections.notice_queries import Scope
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from tests.benchmarks.notices_data import (
    QUERY_COMPANIES,
    TODAY,
    load_notices,
)
from tests.benchmarks.plans import Recorder, Ticker, explain, say_plan

FULL_ROWS, QUICK_ROWS = 1_000_000, 100_000
FULL_CALLS, QUICK_CALLS = 300, 120  # timed calls per query kind

#: The product's targets (issue #11): the dashboard and a filtered overdue page at a million notices.
TARGET_DASHBOARD_P95_MS = 5.0
TARGET_FEED_P95_MS = 5.0

STAFF_COMPANIES = ("KFL", "HFC")
#: Days-past-due buckets staff filter the overdue feed by (SMA-0, SMA-1, SMA-2, then NPA in two).
WINDOWS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91-180", 91, 180), ("181-720", 181, 720))
FEED_LIMIT = 50


@dataclass(frozen=True)
class Call:
    """One timed query: its kind, the due window when it has one, and how to make it again."""

    kind: str
    window: str | None
    run: Callable[[], Any]


def _check_feed(page: Any, companies: set[str], window: tuple[int, int], previous: set[Any]) -> None:
    """Active overdue notices of the companies and window, in feed order, not seen on an earlier page."""
    items = [asdict(i) for i in page.items]
    keys = [(-i["days_overdue"], -Decimal(i["amount_due"]), i["company"], str(i["id"])) for i in items]
    due_from, due_to = TODAY - timedelta(days=window[1]), TODAY - timedelta(days=window[0])
    wrong = [
        i for i in items
        if not i["active"] or i["mode"] != "overdue" or i["company"] not in companies
        or not due_from <= i["due_date"] <= due_to or i["id"] in previous
    ]  # fmt: skip
    if wrong or keys != sorted(keys) or (page.next_cursor and len(items) != FEED_LIMIT):
        raise AssertionError(f"a feed page is wrong: {len(wrong)} items out of filter or repeated, or out of order")
    previous.update(i["id"] for i in items)


def _walk(
    queries: Any, scope: Scope, company: str | None, window: tuple[int, int], pages: int, check: set[str] | None
) -> Any:
    """The overdue feed from the first page to page `pages` (checked when `check` names the companies)."""
    due_from, due_to = TODAY - timedelta(days=window[1]), TODAY - timedelta(days=window[0])
    cursor, page = None, None
    seen: set[Any] = set()
    for _ in range(pages):
        page = queries.feed(
            scope, kind="overdue", company=company, due_from=due_from, due_to=due_to, cursor=cursor, limit=FEED_LIMIT
        )
        if check is not None:
            _check_feed(page, check, window, seen)
        cursor = page.next_cursor
        if cursor is None:
            break
    return page


def _mix(queries: NoticeFeedQueries, brand_id: uuid.UUID, rng: random.Random, per_kind: int) -> list[Call]:
    """`per_kind` calls of each kind, shuffled; next pages walk untimed to the page before the timed one."""
    everyone, staff = Scope(brand_id), Scope(brand_id, STAFF_COMPANIES)
    companies = [c for c, _ in QUERY_COMPANIES]
    calls: list[Call] = []

    def feed_page(scope: Scope, company: str | None, window: tuple[int, int], depth: int) -> Callable[[], Any]:
        if depth == 1:
            return lambda: _walk(queries, scope, company, window, 1, None)
        cursor = _walk(queries, scope, company, window, depth - 1, None).next_cursor
        due_from, due_to = TODAY - timedelta(days=window[1]), TODAY - timedelta(days=window[0])
        return lambda: queries.feed(
            scope, kind="overdue", company=company, due_from=due_from, due_to=due_to, cursor=cursor, limit=FEED_LIMIT
        )

    for _ in range(per_kind):
        company, staff_company = rng.choice(companies), rng.choice(STAFF_COMPANIES)
        calls.append(Call("dashboard, all companies", None, lambda: queries.dashboard(everyone)))
        calls.append(Call("dashboard, one company", None, lambda c=company: queries.dashboard(everyone, c)))  # type: ignore[misc]
        calls.append(Call("dashboard, 2-company staff", None, lambda: queries.dashboard(staff)))
        for kind, scope, who in (
            ("overdue, one company", everyone, company),
            ("overdue, 2-company staff", staff, None),
            ("overdue, staff's company", staff, staff_company),
        ):
            label, low, high = rng.choice(WINDOWS)
            calls.append(Call(f"{kind}, page 1", label, feed_page(scope, who, (low, high), 1)))
            label, low, high = rng.choice(WINDOWS)
            calls.append(Call(f"{kind}, pages 2-5", label, feed_page(scope, who, (low, high), rng.randint(2, 5))))
    rng.shuffle(calls)
    return calls


def _check_queries(db: Database, queries: NoticeFeedQueries, brand_id: uuid.UUID) -> None:
    """Dashboard figures against plain SQL, and walks of the feed through several pages."""
    staff = Scope(brand_id, STAFF_COMPANIES)
    with db.pool.connection() as conn:
        totals = conn.execute(
            "SELECT count(*) AS n, sum(amount_due) AS amount, max(days_overdue) AS days FROM read.notices "
            "WHERE brand_id = %s AND active AND mode = 'overdue'",
            (brand_id,),
        ).fetchone()
        staff_max = conn.execute(
            "SELECT max(amount_due) AS amount FROM read.notices WHERE brand_id = %s AND active AND company = ANY(%s)",
            (brand_id, list(STAFF_COMPANIES)),
        ).fetchone()
    board = asdict(queries.dashboard(Scope(brand_id)))
    mine = asdict(queries.dashboard(staff))
    if (
        board["overdue"] != {"count": totals["n"], "amount": totals["amount"]}
        or board["longest_overdue"]["days_overdue"] != totals["days"]
        or Decimal(mine["highest_amount"]["amount_due"]) != staff_max["amount"]
        or mine["highest_amount"]["company"] not in STAFF_COMPANIES
        or set(mine["by_company"]) != set(STAFF_COMPANIES)
        or len(board["companies"]) != len(QUERY_COMPANIES)
    ):
        raise AssertionError(f"the dashboard disagrees with SQL: {board['overdue']} vs {dict(totals)}")
    for _, low, high in WINDOWS:
        _walk(queries, Scope(brand_id), "SML", (low, high), 4, {"SML"})
        _walk(queries, staff, None, (low, high), 4, set(STAFF_COMPANIES))


def _sample_ids(db: Database, brand_id: uuid.UUID, count: int) -> list[Any]:
    with db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT id FROM read.notices TABLESAMPLE SYSTEM (1) WHERE brand_id = %s LIMIT %s", (brand_id, count)
        ).fetchall()
    return [r["id"] for r in rows]


def run_queries(quick: bool, rows: int | None = None) -> list[Verdict]:
    """Load the notices, then time the dashboard and filtered overdue pages against a primary-key lookup."""
    total = rows or (QUICK_ROWS if quick else FULL_ROWS)
    per_kind = QUICK_CALLS if quick else FULL_CALLS
    say(f"== Notice dashboard and overdue feed at {total:,} notices")
    rng = random.Random(23)
    brand_id = uuid.UUID(int=rng.getrandbits(128), version=4)
    timings: dict[str, list[float]] = {}
    by_window: dict[tuple[str, str], list[float]] = {}
    slowest: dict[str, tuple[float, Call]] = {}
    explained: dict[str, list[str]] = {}
    with fresh_database("cd_bench_noticeq") as dsn:
        db = Database(dsn, min_size=2, max_size=4)
        try:
            db.ensure_schemas()
            load_notices(db, brand_id, total)
            queries = NoticeFeedQueries(db.pool)
            _check_queries(db, queries, brand_id)
            began = time.perf_counter()
            mix = _mix(queries, brand_id, rng, per_kind)
            say(f"   checked the dashboard against SQL and feed walks; {len(mix):,} calls prepared in"
                f" {time.perf_counter() - began:.1f} s; timing them ...")  # fmt: skip
            for call in mix[:60]:  # Warm the pool, the plan cache and the buffer cache a little.
                call.run()
            done = [0]
            with Ticker(lambda: f"{done[0]:,} of {len(mix):,} calls"):
                for call in mix:
                    began = time.perf_counter()
                    call.run()
                    ms = (time.perf_counter() - began) * 1000
                    done[0] += 1
                    timings.setdefault(call.kind, []).append(ms)
                    if call.window:
                        by_window.setdefault((call.kind.split(", page")[0], call.window), []).append(ms)
                    if call.kind not in slowest or ms > slowest[call.kind][0]:
                        slowest[call.kind] = (ms, call)
            ids = _sample_ids(db, brand_id, 2000)
            lookups: list[float] = []
            with db.pool.connection() as conn:
                for notice_id in ids:
                    began = time.perf_counter()
                    conn.execute(
                        "SELECT * FROM read.notices WHERE id = %s AND brand_id = %s", (notice_id, brand_id)
                    ).fetchone()
                    lookups.append((time.perf_counter() - began) * 1000)
            for kind, ts in timings.items():
                target = TARGET_DASHBOARD_P95_MS if kind.startswith("dashboard") else TARGET_FEED_P95_MS
                if percentile(ts, 0.95) > target:
                    recorder = Recorder(db.pool)
                    call = slowest[kind][1]
                    original, queries.pool = queries.pool, recorder
                    try:
                        call.run()
                    finally:
                        queries.pool = original
                    explained[kind] = explain(db, recorder.statements)
        finally:
            db.close()

    say(f"   {sum(map(len, timings.values())):,} calls (NoticeFeedQueries, {FEED_LIMIT} a feed page), by kind:"
        " p50 / p95 / p99 ms")  # fmt: skip
    for kind in sorted(timings, key=lambda k: (not k.startswith("dashboard"), k)):
        ts = timings[kind]
        say(
            f"     {kind:38s} n={len(ts):4d}  {percentile(ts, 0.5):7.2f} {percentile(ts, 0.95):7.2f}"
            f" {percentile(ts, 0.99):7.2f}   max {max(ts):7.2f}"
        )
    say("   overdue pages by days-past-due window (first and next pages together): p50 / p95 ms")
    for who in sorted({k for k, _ in by_window}):
        cells = [
            f"{label} {percentile(by_window[(who, label)], 0.5):.1f}/{percentile(by_window[(who, label)], 0.95):.1f}"
            for label, _, _ in WINDOWS
            if (who, label) in by_window
        ]
        say(f"     {who:26s} " + "   ".join(cells))
    dashboards = [t for k, ts in timings.items() if k.startswith("dashboard") for t in ts]
    feeds = [t for k, ts in timings.items() if not k.startswith("dashboard") for t in ts]
    pk95 = percentile(lookups, 0.95)
    dash95, feed95 = percentile(dashboards, 0.95), percentile(feeds, 0.95)
    say(
        f"   dashboard: p50 {percentile(dashboards, 0.5):.2f} ms, p95 {dash95:.2f} ms;"
        f" filtered overdue pages: p50 {percentile(feeds, 0.5):.2f} ms, p95 {feed95:.2f} ms"
    )
    say(
        f"   primary-key lookup (baseline): p50 {percentile(lookups, 0.5):.2f} ms, p95 {pk95:.2f} ms;"
        f" dashboard p95 / lookup p95 = {dash95 / pk95:.1f}x, overdue page p95 / lookup p95 = {feed95 / pk95:.1f}x"
    )
    for kind, lines in explained.items():
        say(f"   over target: {kind} (slowest call re-run, EXPLAIN ANALYZE of its slowest statement)")
        say_plan(lines)
    return [
        Verdict("notices", "dashboard p95", dash95, TARGET_DASHBOARD_P95_MS, False, " ms"),
        Verdict("notices", "filtered overdue page p95", feed95, TARGET_FEED_P95_MS, False, " ms"),
    ]
