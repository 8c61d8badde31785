"""The credit-decision worklists (issue #14) with 1M loans in the book (quick: 200k), on PostgreSQL.

`read.loans` is built by the projection's own DDL (LoanViews: the queue indexes and the decision indexes) and filled
with one brand's book by SQL: 200 credit executives, statuses spread as a live book (most loans disbursed or closed,
~5 % pending, ~2 % CX-approved), created over two years. Measured through `DecisionQueries`: the CX worklist (a random
CX's first page, and the page after it), the SM queue (first and a later page) and the Sanction Head's view of one
SM's loans, and the team figures (queue size, age and escalations per assigned SM over the CX-approved loans; each
SM's decisions and approval rate from `read.sm_figures`); each p95 <= 10 ms (issue #14, item 7).
"""

from __future__ import annotations

import random
import time
import uuid

import psycopg
from psycopg_pool import ConnectionPool

from projections.loan_decision_queries import DecisionQueries
from projections.loans import LoanViews
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say

TARGET_P95_MS = 10.0
FULL, QUICK = 1_000_000, 200_000
CXS, SMS = 200, 10
SAMPLES = 300
BRAND = uuid.UUID("00000000-0000-4000-8000-00000000b001")

_FILL = """
INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, channel,
    pricing, instalment, status, assignee, version, created_at, updated_at, status_since, cx_approved_amount, sm_actor,
    sanction_assignee)
SELECT gen_random_uuid(), %(brand)s, 'B-L-' || lpad(n::text, 7, '0'), gen_random_uuid(), %(product)s, 1, 50000, 12,
    'borrower', '{}'::jsonb, 4727.98,
    CASE WHEN r < 0.05 THEN 'pending' WHEN r < 0.07 THEN 'cx_approved' WHEN r < 0.08 THEN 'onboarding'
         WHEN r < 0.15 THEN 'rejected' WHEN r < 0.55 THEN 'active' ELSE 'completed' END,
    (%(cxs)s::uuid[])[1 + (n %% %(cx_count)s)], 3,
    now() - make_interval(secs => (%(total)s - n) * 60), now(), now() - make_interval(secs => (%(total)s - n) * 60),
    CASE WHEN r >= 0.05 AND r < 0.07 THEN 45000 END,
    CASE WHEN r >= 0.05 THEN 'staff:' || ((%(sms)s::uuid[])[1 + (n %% %(sm_count)s)])::text END,
    CASE WHEN r >= 0.05 AND r < 0.06 THEN (%(sms)s::uuid[])[1 + (n %% %(sm_count)s)] END
FROM (SELECT n, random() AS r FROM generate_series(1, %(total)s) AS n) AS g
"""


def _load(dsn: str, total: int, cxs: list[uuid.UUID], sms: list[uuid.UUID]) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS read")
        conn.execute("CREATE TABLE read.customers (id uuid PRIMARY KEY, brand_id uuid, name text)")
        conn.execute("CREATE TABLE read.staff (id uuid PRIMARY KEY, brand_id uuid, name text)")
        for statement in LoanViews.ddl:
            if not statement.lstrip().upper().startswith("CREATE INDEX"):
                conn.execute(statement)
        conn.execute(_FILL, {"brand": BRAND, "product": uuid.uuid4(), "cxs": cxs, "cx_count": len(cxs), "sms": sms,
                             "sm_count": len(sms), "total": total})  # fmt: skip
        # Each SM's decisions as the projection counts them (sanctioned: the loans past sanction).
        conn.execute(
            "INSERT INTO read.sm_figures (brand_id, actor, sanctioned, rejected, sent_back) SELECT brand_id, sm_actor, "
            "count(*) FILTER (WHERE status IN ('active', 'completed')), count(*) FILTER (WHERE status = 'rejected'), "
            "count(*) FILTER (WHERE status = 'pending') FROM read.loans WHERE sm_actor IS NOT NULL "
            "GROUP BY brand_id, sm_actor"
        )
        conn.execute("INSERT INTO read.staff (id, brand_id, name) SELECT s, %s, 'SM ' || s::text FROM unnest(%s::uuid[]) s",
                     (BRAND, sms))  # fmt: skip
        for statement in LoanViews.ddl:
            if statement.lstrip().upper().startswith("CREATE INDEX"):
                conn.execute(statement)
        # The visibility map autovacuum keeps in a live book: the team figures' queue count is an index-only scan
        # (without it, ~16 ms at 1M loans with 20k awaiting sanction, every row a heap fetch).
        conn.execute("VACUUM ANALYZE read.loans")
    return time.perf_counter() - started


def _p95(run: object) -> float:
    timings = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return percentile(timings, 0.95)


def run(quick: bool) -> list[Verdict]:
    total = QUICK if quick else FULL
    cxs = [uuid.uuid4() for _ in range(CXS)]
    sms = [uuid.uuid4() for _ in range(SMS)]
    say(f"== Credit worklists ({total:,} loans in one brand, {CXS} CXs, {SMS} SMs)")
    with fresh_database("cd_bench_credit") as dsn:
        loaded = _load(dsn, total, cxs, sms)
        say(f"   loaded and indexed in {loaded:.1f} s")
        with ConnectionPool(
            dsn, min_size=1, max_size=2, open=True, kwargs={"row_factory": psycopg.rows.dict_row}
        ) as pool:
            queries = DecisionQueries(pool)
            rng = random.Random(14)
            second = queries.sm_queue(BRAND, None, 50).next_cursor
            cx_page = _p95(lambda: queries.cx_worklist(BRAND, rng.choice(cxs), None, 50))
            first = queries.cx_worklist(BRAND, cxs[0], None, 20)
            cx_next = _p95(lambda: queries.cx_worklist(BRAND, cxs[0], first.next_cursor, 20))
            sm_page = _p95(lambda: queries.sm_queue(BRAND, None, 50))
            sm_next = _p95(lambda: queries.sm_queue(BRAND, second, 50))
            head = _p95(lambda: queries.sm_loans(BRAND, f"staff:{rng.choice(sms)}", None, 50))
            figures = queries.team_figures(BRAND)
            assert len(figures.managers) == SMS and figures.queue_size > 0
            team = _p95(lambda: queries.team_figures(BRAND))
    say(f"   p95 ms: CX worklist {cx_page:.2f} (next page {cx_next:.2f}), SM queue {sm_page:.2f} "
        f"(next page {sm_next:.2f}), Sanction Head per SM {head:.2f}, team figures {team:.2f} "
        f"({figures.queue_size:,} awaiting sanction)")  # fmt: skip
    return [
        Verdict("credit", "CX worklist p95", max(cx_page, cx_next), TARGET_P95_MS, False, " ms"),
        Verdict("credit", "SM queue p95", max(sm_page, sm_next), TARGET_P95_MS, False, " ms"),
        Verdict("credit", "Sanction Head view p95", head, TARGET_P95_MS, False, " ms"),
        Verdict("credit", "Team figures p95", team, TARGET_P95_MS, False, " ms"),
    ]
