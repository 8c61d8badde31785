"""Global search and dashboard figures at 1M borrowers and 1M loans (issue #18 item 6; docs/insight.md).

The search and the dashboards read only read models, so the benchmark loads them directly: read.customers with
COPY (search.py's loader, the same borrowers), then one loan per borrower in read.loans and each loan's
timeline in read.loan_events (submitted, CX-approved, sanctioned, disbursed, two repayments) made by
INSERT ... SELECT in the server, the dashboards' counters filled from them, and a staff directory. Tables and indexes come from the projections' own DDL,
so any change to them is what gets measured. Queries go through GlobalSearchQueries.search and DashboardQueries,
the code the API and portal call. The baseline is a primary-key lookup of one loan on the same pool.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

from adapters.postgres import Database
from projections.activity import ActivityLog
from projections.customers import NAME_VOCABULARY_BACKFILL, CustomerDirectory
from projections.dashboard import DashboardQueries
from projections.global_search import GlobalSearchQueries
from projections.identity_projectors import StaffDirectory
from projections.insight_figures import InsightFigures
from projections.loans import LoanViews
from tests.benchmarks.data import FIRST_NAMES, LAST_NAMES, Borrower, phone_formats
from tests.benchmarks.harness import Verdict, cpu_of, fresh_database, percentile, say
from tests.benchmarks.search import _load as load_borrowers

TARGET_P95_MS = 20.0  # global search, every kind of query (issue #18)
TODAY = date(2026, 11, 30)
TZ = "Asia/Kolkata"

#: One loan per borrower; its status by the borrower's row number modulo 20.
_STATUS = (
    "CASE n %% 20 WHEN 0 THEN 'onboarding' WHEN 1 THEN 'onboarding' WHEN 2 THEN 'pending' WHEN 3 THEN 'pending' "
    "WHEN 4 THEN 'cx_approved' WHEN 5 THEN 'rejected' WHEN 13 THEN 'partially_paid' WHEN 14 THEN 'overdue' "
    "WHEN 15 THEN 'overdue' WHEN 16 THEN 'completed' WHEN 17 THEN 'completed' WHEN 18 THEN 'completed' "
    "WHEN 19 THEN 'cancelled' ELSE 'active' END"
)
_LOANS = f"""
INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, channel,
    pricing, instalment, status, version, created_at, updated_at, disbursed_on, dpd, sanctioned_amount)
SELECT md5('loan' || n)::uuid, brand_id, 'BN-L-' || lpad(n::text, 7, '0'), id, %(product)s, 1,
    10000 + (n %% 90) * 1000, 12, 'web', '{{}}', 1000, status, 1, created, created,
    CASE WHEN status IN ('active', 'partially_paid', 'overdue', 'completed') THEN (created + interval '2 days')::date END,
    CASE WHEN status = 'overdue' THEN n %% 120 WHEN status IN ('active', 'partially_paid') THEN 0 END,
    CASE WHEN n %% 20 >= 4 AND status NOT IN ('rejected', 'cancelled') THEN 10000 + (n %% 90) * 1000 END
FROM (SELECT c.id, c.brand_id, n, {_STATUS} AS status,
        %(today)s::timestamptz - (n %% 730) * interval '1 day' - (n %% 1440) * interval '1 minute' AS created
      FROM (SELECT id, brand_id, row_number() OVER () AS n FROM read.customers) c) s
"""
#: Each loan's timeline as far as its status says it went, hours apart; two repayments of a disbursed loan.
_EVENTS = """
INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, details, at)
SELECT l.id, e.version, l.brand_id, e.kind, e.status, 'staff:bench', e.details, l.created_at + e.after
FROM read.loans l CROSS JOIN LATERAL (VALUES
    (2, 'submitted', 'pending', interval '1 hour', 1, '{}'::jsonb),
    (3, 'cx_approved', 'cx_approved', interval '20 hours', 2, '{}'),
    (4, 'sanctioned', 'sm_approved', interval '30 hours', 3, '{}'),
    (5, 'disbursed', 'active', interval '48 hours', 4,
        jsonb_build_object('disbursed_on', (l.created_at + interval '2 days')::date)),
    (6, 'repayment_recorded', 'active', interval '32 days', 4, jsonb_build_object('payment_id', l.id || '-1',
        'amount', '1000.00', 'paid_on', (l.created_at + interval '32 days')::date)),
    (7, 'repayment_recorded', 'overdue', interval '62 days', 4, jsonb_build_object('payment_id', l.id || '-2',
        'amount', '500.00', 'paid_on', (l.created_at + interval '62 days')::date))
) AS e(version, kind, status, after, stage, details)
WHERE CASE WHEN l.status IN ('onboarding', 'rejected', 'cancelled') THEN 0 WHEN l.status = 'pending' THEN 1
      WHEN l.status = 'cx_approved' THEN 2 ELSE 4 END >= e.stage
  AND l.created_at + e.after <= %(today)s::timestamptz
"""


#: The dashboards' counters (projections/insight_figures.py) of the loaded book, as its projection would have
#: left them: filled from the loans and their timeline in the server (a replay of 1M loans' events is not what
#: is measured here).
_COUNTERS = (
    "INSERT INTO read.insight_loans (loan_id, brand_id, status, dpd, principal, created_at, submitted_at, "
    "cx_approved_at, sanctioned_at) SELECT id, brand_id, status, dpd, COALESCE(sanctioned_amount, amount), created_at, "
    "(SELECT at FROM read.loan_events e WHERE e.loan_id = l.id AND kind = 'submitted'), "
    "(SELECT at FROM read.loan_events e WHERE e.loan_id = l.id AND kind = 'cx_approved'), "
    "(SELECT at FROM read.loan_events e WHERE e.loan_id = l.id AND kind = 'sanctioned') FROM read.loans l",
    "INSERT INTO read.insight_counts (brand_id, dimension, key, loans, amount) "
    "SELECT brand_id, 'status', status, count(*), sum(principal) FROM read.insight_loans GROUP BY 1, 2, 3 "
    "UNION ALL SELECT brand_id, 'bucket', read.insight_bucket(status, dpd), count(*), sum(principal) "
    "FROM read.insight_loans WHERE read.insight_bucket(status, dpd) IS NOT NULL GROUP BY 1, 2, 3",
    "INSERT INTO read.insight_daily (brand_id, metric, day, n, amount) "
    "SELECT brand_id, 'disbursed', disbursed_on, count(*), sum(COALESCE(sanctioned_amount, amount)) FROM read.loans "
    "WHERE disbursed_on IS NOT NULL GROUP BY 1, 2, 3 UNION ALL "
    "SELECT brand_id, 'collected', (details->>'paid_on')::date, count(*), sum((details->>'amount')::numeric) "
    "FROM read.loan_events WHERE kind = 'repayment_recorded' GROUP BY 1, 2, 3",
    "INSERT INTO read.insight_stage_ends (brand_id, stage, ended_at, loan_id, seconds) "
    "SELECT e.brand_id, s.stage, e.at, e.loan_id, extract(epoch FROM e.at - COALESCE((SELECT max(f.at) "
    "FROM read.loan_events f WHERE f.loan_id = e.loan_id AND f.kind = s.began), l.created_at)) "
    "FROM read.loan_events e JOIN read.loans l ON l.id = e.loan_id JOIN (VALUES ('submitted', 'application', '-'), "
    "('cx_approved', 'credit review', 'submitted'), ('sanctioned', 'sanction', 'cx_approved'), "
    "('disbursed', 'disbursal', 'sanctioned')) AS s(kind, stage, began) ON s.kind = e.kind",
    "INSERT INTO read.insight_overdue_spells (brand_id, loan_id, fell_at) "
    "SELECT brand_id, loan_id, at FROM read.loan_events WHERE status = 'overdue' ON CONFLICT DO NOTHING",
    # The per-day rows the dashboard reads (local days of the brand's timezone, as the projection keys them).
    f"INSERT INTO read.insight_stage_days (brand_id, stage, day, tenths, loans, seconds) "
    f"SELECT brand_id, stage, (ended_at AT TIME ZONE '{TZ}')::date, round(seconds::numeric / 360)::int, count(*), "
    f"sum(seconds::numeric) FROM read.insight_stage_ends GROUP BY 1, 2, 3, 4",
    f"INSERT INTO read.insight_loan_steps (loan_id, step, day) "
    f"SELECT loan_id, 'created', (created_at AT TIME ZONE '{TZ}')::date FROM read.insight_loans UNION ALL "
    f"SELECT loan_id, stage, (max(ended_at) AT TIME ZONE '{TZ}')::date FROM read.insight_stage_ends GROUP BY 1, 2 "
    f"UNION ALL SELECT loan_id, 'overdue', (max(fell_at) AT TIME ZONE '{TZ}')::date FROM read.insight_overdue_spells "
    f"GROUP BY 1",
    "INSERT INTO read.insight_flow_days (brand_id, step, day, loans, recovered) "
    "SELECT l.brand_id, s.step, s.day, count(*), count(*) FILTER (WHERE s.step = 'overdue' "
    "AND l.status IN ('active', 'partially_paid', 'completed')) "
    "FROM read.insight_loan_steps s JOIN read.insight_loans l USING (loan_id) GROUP BY 1, 2, 3",
)


@dataclass(frozen=True)
class Query:
    kind: str
    text: str


def _queries(sample: list[Borrower], loans: list[str], staff: list[tuple[str, str]], rng: random.Random,
             count: int) -> list[Query]:  # fmt: skip
    """What staff type in the top bar: names, phones, emails, PANs, loan numbers whole and in part, colleagues."""
    common = [n.lower() for n in FIRST_NAMES[:30] + LAST_NAMES[:15]] + ["kumar", "sharma"]
    partial = [n.lower()[:4] for n in FIRST_NAMES[::7]] + [n.lower()[1:5] for n in LAST_NAMES[::9]]
    emails = [b.email for b in sample if b.email]
    two_letters = ["ra", "an", "sh", "ku", "pr", "ma", "ar", "ni", "su", "de"]  # the shortest query searched
    kinds: list[tuple[str, Callable[[], str]]] = [
        ("borrower name, common word", lambda: rng.choice(common)),
        ("borrower full name", lambda: rng.choice(sample).name),
        ("name fragment", lambda: rng.choice(partial)),
        ("phone, any format", lambda: rng.choice(phone_formats(rng.choice(sample).phone))),
        ("email prefix", lambda: rng.choice(emails)[: rng.randrange(4, 12)]),
        ("PAN", lambda: rng.choice(sample).pan),
        ("loan id, whole", lambda: rng.choice(loans).lower()),
        ("loan id, last digits", lambda: rng.choice(loans)[-rng.randrange(4, 8) :]),
        ("staff name or email", lambda: rng.choice(staff)[rng.randrange(2)][:7]),
        ("two letters", lambda: rng.choice(two_letters)),
        ("no match", lambda: rng.choice(["xqzv", "zzyzx", "qwerty", "jjjj", "qx"])),
    ]
    weights = [15, 8, 10, 15, 8, 8, 10, 12, 8, 6, 6]
    return [Query(kind, make()) for kind, make in rng.choices(kinds, weights, k=count)]


def _build(db: Database, brands: list[uuid.UUID], total: int) -> list[Borrower]:
    """Load the borrowers, one loan each with its timeline, a staff directory; index and analyze; a sample."""
    projections = (CustomerDirectory(), LoanViews(), StaffDirectory(), InsightFigures())
    statements = [s for p in projections for s in p.ddl] + list(ActivityLog.ddl)
    indexes = [s for s in statements if "CREATE INDEX" in s.upper() or "CREATE UNIQUE INDEX" in s.upper()]
    with db.pool.connection() as conn:
        for statement in statements:
            if statement not in indexes and statement != NAME_VOCABULARY_BACKFILL:
                conn.execute(statement)
    began = time.perf_counter()
    sample = [b for _, b in load_borrowers(db, brands, [0.85, 0.1, 0.04, 0.01], total)]
    with db.pool.connection() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(_LOANS, {"product": uuid.uuid4(), "today": datetime.combine(TODAY, clock_time(), UTC)})
        conn.execute(_EVENTS, {"today": datetime.combine(TODAY, clock_time(), UTC)})
        for statement in _COUNTERS:
            conn.execute(statement)
        rng = random.Random(3)
        with conn.cursor().copy(
            "COPY read.staff (id, brand_id, name, name_key, email, roles, has_password, version, created_at, "
            "updated_at) FROM STDIN"
        ) as copy:
            for i in range(3000):
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
                copy.write_row((uuid.uuid4(), brands[0 if i % 4 else 1], name, name.lower(), f"staff{i}@lender.in",
                                ["credit_executive"], True, 1, datetime.now(UTC), datetime.now(UTC)))  # fmt: skip
        loaded = time.perf_counter() - began
        began = time.perf_counter()
        conn.execute(NAME_VOCABULARY_BACKFILL)
        for statement in indexes:
            conn.execute(statement)
        for table in ("read.customers", "read.customer_name_vocabulary", "read.loans", "read.loan_events",
                      "read.staff", *InsightFigures.tables):  # fmt: skip
            conn.execute(f"VACUUM ANALYZE {table}")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM read.loans) AS loans, (SELECT count(*) FROM read.loan_events) AS events"
        ).fetchone()
    say(
        f"   loaded {total:,} borrowers, {counts['loans']:,} loans and {counts['events']:,} timeline events in"
        f" {loaded:.1f} s; {len(indexes)} indexes and analyze in {time.perf_counter() - began:.1f} s"
    )
    return sample


def run(quick: bool) -> list[Verdict]:
    total = 100_000 if quick else 1_000_000
    searches = 400 if quick else 1_500
    say(f"== Global search and dashboard figures at {total:,} borrowers and {total:,} loans")
    brands = [uuid.uuid4() for _ in range(4)]
    rng = random.Random(18)
    with fresh_database("cd_bench_global_search") as dsn:
        db = Database(dsn, min_size=2, max_size=4)
        try:
            db.ensure_schemas()
            sample = _build(db, brands, total)
            brand = brands[0]
            with db.pool.connection() as conn:
                loans = [r["loan_number"] for r in conn.execute(
                    "SELECT loan_number FROM read.loans TABLESAMPLE SYSTEM (1) WHERE brand_id = %s LIMIT 500",
                    (brand,)).fetchall()]  # fmt: skip
                staff = [(r["name"], r["email"]) for r in conn.execute(
                    "SELECT name, email FROM read.staff WHERE brand_id = %s LIMIT 200", (brand,)).fetchall()]  # fmt: skip
                loan_ids = [r["id"] for r in conn.execute(
                    "SELECT id FROM read.loans TABLESAMPLE SYSTEM (1) WHERE brand_id = %s LIMIT 2000",
                    (brand,)).fetchall()]  # fmt: skip
            search = GlobalSearchQueries(db.pool)
            mix = _queries(sample, loans, staff, rng, searches)
            for query in mix[:50]:
                search.search(brand, query.text)
            timings: dict[str, list[float]] = {}
            cpu: dict[str, list[float]] = {}  # per search: this process's and the server backends' CPU, ms
            backends = _backends(db)
            misses = 0
            for query in mix:
                began, began_cpu, server = time.perf_counter(), time.thread_time(), cpu_of(backends)
                found = search.search(brand, query.text)
                timings.setdefault(query.kind, []).append((time.perf_counter() - began) * 1000)
                cpu.setdefault(query.kind, []).append(
                    (time.thread_time() - began_cpu) * 1000 + (cpu_of(backends) - server) * 1000
                )
                hits = {"loan id, whole": found.loans, "PAN": found.borrowers, "borrower full name": found.borrowers}
                if query.kind in hits and not hits[query.kind]:
                    misses += 1
            lookups = []
            with db.pool.connection() as conn:
                for loan_id in loan_ids:
                    began = time.perf_counter()
                    conn.execute(
                        "SELECT * FROM read.loans WHERE id = %s AND brand_id = %s", (loan_id, brand)
                    ).fetchone()
                    lookups.append((time.perf_counter() - began) * 1000)
            figures = _dashboard(DashboardQueries(db.pool), brand, 5 if quick else 10)
        finally:
            db.close()
    if misses:
        raise AssertionError(f"{misses} searches for a known loan id, PAN or name found nothing")
    everything = [t for ts in timings.values() for t in ts]
    say(
        f"   {len(everything):,} searches (GlobalSearchQueries.search, 8 a group), by kind: p50 / p95 / p99 ms wall;"
        " mean CPU ms per search (client thread + PostgreSQL backends, from /proc: what the load does not inflate)"
    )
    for kind, ts in sorted(timings.items()):
        used = sum(cpu[kind]) / len(cpu[kind]) if backends else float("nan")
        say(f"     {kind:28s} n={len(ts):4d}  {percentile(ts, 0.5):7.2f} {percentile(ts, 0.95):7.2f}"
            f" {percentile(ts, 0.99):7.2f}   max {max(ts):7.2f}   CPU {used:5.2f}")  # fmt: skip
    p95, pk95 = percentile(everything, 0.95), percentile(lookups, 0.95)
    say(f"   all searches: p50 {percentile(everything, 0.5):.2f} ms, p95 {p95:.2f} ms; primary-key lookup of a loan"
        f" (baseline) p95 {pk95:.2f} ms; search p95 / lookup p95 = {p95 / pk95:.1f}x")  # fmt: skip
    dash95 = percentile(figures, 0.95)
    # No product target for the dashboard (issue #11's rule: a benchmark without one prints none): figures only.
    say(f"   V2 dashboard figures (every query of the page; no target): p50 {percentile(figures, 0.5):.1f} ms,"
        f" p95 {dash95:.1f} ms = {dash95 / pk95:.0f}x the lookup")  # fmt: skip
    return [
        Verdict("global search", "p95 every query", p95, TARGET_P95_MS, False, " ms"),
        *[
            Verdict("global search", f"p95 {kind}", percentile(ts, 0.95), TARGET_P95_MS, False, " ms")
            for kind, ts in sorted(timings.items())
        ],
    ]


def _backends(db: Database) -> list[int]:
    """The pids of this database's server backends when the server runs on this machine (else none)."""
    with db.pool.connection() as conn:
        pids = [r["pid"] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}/stat")]


def _dashboard(queries: DashboardQueries, brand: uuid.UUID, rounds: int) -> list[float]:
    """Time the V2 dashboard's every query `rounds` times (as DashboardDesk runs them), printing each part once."""
    start = TODAY - timedelta(days=29)
    parts: dict[str, Callable[[], object]] = {
        "loan counts": lambda: queries.loan_counts(brand),
        "recent activity": lambda: queries.recent_activity(brand),
        "by day (30 days)": lambda: queries.daily(brand, start, TODAY),
        "month actuals": lambda: queries.month(brand, TODAY.replace(day=1), TODAY),
        "DPD buckets": lambda: queries.dpd_buckets(brand),
        "recovery": lambda: queries.recovery(brand, start),
        "TAT": lambda: queries.tat(brand, start),
        "funnel": lambda: queries.funnel(brand, start),
    }
    each: dict[str, list[float]] = {}
    totals = []
    for _ in range(rounds + 1):
        total = 0.0
        for name, part in parts.items():
            began = time.perf_counter()
            part()
            took = (time.perf_counter() - began) * 1000
            each.setdefault(name, []).append(took)
            total += took
        totals.append(total)
    say("   dashboard parts, median ms: " + ", ".join(f"{n} {percentile(t[1:], 0.5):.1f}" for n, t in each.items()))
    return totals[1:]  # the first round warms the caches
