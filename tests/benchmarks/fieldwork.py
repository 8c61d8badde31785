"""Fieldwork reads at scale (issue #16 items 8, 9, 11), on PostgreSQL: `read.field_visits` with 1M visits (quick:
100k) over 1,000 field agents and `read.dialer_calls` with 1M calls (quick: 100k) over 500 executives, built by the
projection's own DDL and filled by SQL. Measured through `FieldworkQueries` and `CollectionDashboardQueries`: an
agent's open visits (first page and the next, keyset), a loan's calls, and the dashboard's calls per executive over
30 days; each p95 <= 10 ms. The baseline, measured in the same run, is a primary-key read of one visit (the floor a
list query can reach on this machine at this moment)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg_pool import ConnectionPool

from projections.collection_dashboard import CollectionDashboardQueries
from projections.fieldwork import FieldworkView
from projections.fieldwork_queries import FieldworkQueries
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say, timings_ms

TARGET_P95_MS = 10.0
FULL, QUICK = 1_000_000, 100_000
AGENTS, EXECUTIVES, LOANS = 1_000, 500, 50_000
SAMPLES = 300
BRAND = uuid.UUID("00000000-0000-4000-8000-00000000f001")

_VISITS = """
INSERT INTO read.field_visits (id, brand_id, loan_id, loan_number, customer_id, assignee_id, reason, address, status,
    flagged_by, created_at, updated_at)
SELECT gen_random_uuid(), %(brand)s, (%(loans)s::uuid[])[1 + (n %% %(loan_count)s)], 'F-L-' || lpad(n::text, 7, '0'),
    gen_random_uuid(), (%(agents)s::uuid[])[1 + (n %% %(agent_count)s)], 'skip tracing', '4 Lake Road, Chennai',
    CASE WHEN random() < 0.2 THEN 'assigned' WHEN random() < 0.95 THEN 'visited' ELSE 'cancelled' END, 'staff:x',
    now() - make_interval(secs => (%(total)s - n) * 30), now()
FROM generate_series(1, %(total)s) AS n
"""
_CALLS = """
INSERT INTO read.dialer_calls (id, brand_id, loan_id, customer_id, staff_id, extension, destination, alternate,
    provider_call_id, status, duration_seconds, placed_at)
SELECT gen_random_uuid(), %(brand)s, (%(loans)s::uuid[])[1 + (n %% %(loan_count)s)], gen_random_uuid(),
    (%(execs)s::uuid[])[1 + (n %% %(exec_count)s)], '1021', '+919876543210', false, 'call_' || n,
    CASE WHEN random() < 0.6 THEN 'answered' ELSE 'no_answer' END, (random() * 300)::int,
    now() - make_interval(secs => (%(total)s - n) * 60)
FROM generate_series(1, %(total)s) AS n
"""


def _load(dsn: str, total: int, agents: list[uuid.UUID], execs: list[uuid.UUID], loans: list[uuid.UUID]) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS read")
        conn.execute("CREATE TABLE read.staff (id uuid PRIMARY KEY, brand_id uuid, name text)")
        conn.execute("INSERT INTO read.staff SELECT s, %s, 'Agent ' || left(s::text, 8) FROM unnest(%s::uuid[]) s",
                     (BRAND, agents + execs))  # fmt: skip
        creates = [s for s in FieldworkView.ddl if not s.lstrip().upper().startswith("CREATE INDEX")]
        indexes = [s for s in FieldworkView.ddl if s.lstrip().upper().startswith("CREATE INDEX")]
        for statement in creates:
            conn.execute(statement)
        common = {"brand": BRAND, "loans": loans, "loan_count": len(loans), "total": total}
        conn.execute(_VISITS, {**common, "agents": agents, "agent_count": len(agents)})
        conn.execute(_CALLS, {**common, "execs": execs, "exec_count": len(execs)})
        conn.execute(  # what the projection keeps per executive and day
            "INSERT INTO read.dialer_call_days (brand_id, day, staff_id, calls, answered, talk_seconds) "
            "SELECT brand_id, (placed_at AT TIME ZONE 'UTC')::date, staff_id, count(*), "
            "count(*) FILTER (WHERE status = 'answered'), sum(duration_seconds) FROM read.dialer_calls GROUP BY 1, 2, 3"
        )
        for statement in indexes:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE read.field_visits")
        conn.execute("VACUUM ANALYZE read.dialer_calls")
        conn.execute("VACUUM ANALYZE read.dialer_call_days")
    return time.perf_counter() - started


def _p95(run: Callable[[], object]) -> float:
    return percentile(timings_ms(run, SAMPLES), 0.95)


def run(quick: bool) -> list[Verdict]:
    total = QUICK if quick else FULL
    agents = [uuid.uuid4() for _ in range(AGENTS)]
    execs = [uuid.uuid4() for _ in range(EXECUTIVES)]
    loans = [uuid.uuid4() for _ in range(LOANS)]
    say(f"== Fieldwork ({total:,} field visits over {AGENTS} agents, {total:,} dialer calls over {EXECUTIVES})")
    with fresh_database("cd_bench_fieldwork") as dsn:
        say(f"   loaded and indexed in {_load(dsn, total, agents, execs, loans):.1f} s")
        with ConnectionPool(
            dsn, min_size=1, max_size=2, open=True, kwargs={"row_factory": psycopg.rows.dict_row}
        ) as pool:
            visits, dashboard = FieldworkQueries(pool), CollectionDashboardQueries(pool)
            rng = random.Random(16)
            one = visits.visits(BRAND, limit=1).items[0].id
            baseline = _p95(lambda: visits.visit(BRAND, one))
            agent_page = _p95(lambda: visits.visits(BRAND, assignee_id=rng.choice(agents), status="assigned", limit=50))
            busiest = visits.visits(BRAND, assignee_id=agents[0], limit=20)
            assert busiest.next_cursor is not None
            next_page = _p95(lambda: visits.visits(BRAND, assignee_id=agents[0], cursor=busiest.next_cursor, limit=20))
            loan_calls = _p95(lambda: visits.calls(BRAND, loan_id=rng.choice(loans), limit=50))
            since = datetime.now(UTC) - timedelta(days=30)
            per_exec = dashboard.calls_per_executive(BRAND, since)
            assert len(per_exec) == min(EXECUTIVES, 50) and per_exec[0].calls > 0
            calls_board = _p95(lambda: dashboard.calls_per_executive(BRAND, since))
    say(f"   p95 ms: one visit by id (baseline) {baseline:.2f}; agent's open visits {agent_page:.2f} (next page "
        f"{next_page:.2f}); a loan's calls {loan_calls:.2f}; calls per executive, 30 days {calls_board:.2f} "
        f"(ratios to the baseline {agent_page / baseline:.1f}, {calls_board / baseline:.1f})")  # fmt: skip
    return [
        Verdict("fieldwork", "agent's visit list p95", max(agent_page, next_page), TARGET_P95_MS, False, " ms"),
        Verdict("fieldwork", "a loan's calls p95", loan_calls, TARGET_P95_MS, False, " ms"),
        Verdict("fieldwork", "calls per executive (dashboard) p95", calls_board, TARGET_P95_MS, False, " ms"),
    ]
