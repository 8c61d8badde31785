"""The staff onboarding lists at 1M borrowers: "in progress" (by step or any), "completed", next pages, and the
conversion per step, p95 <= 10 ms each.

The lists read only the read model, so the benchmark loads read.onboarding directly with COPY (replaying 1M
funnels would measure the projection, not the lists) and fills read.onboarding_steps from it as the projection's
counters would be. Tables and indexes come from OnboardingView.ddl, so any change to them is what gets measured.
Queries go through OnboardingQueries, the code the API and the portal call. The baseline is a primary-key lookup
of one borrower on the same table and pool.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.postgres import Database
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.steps import STEPS, Step
from projections.onboarding import OnboardingQueries, OnboardingView
from tests.benchmarks.data import FIRST_NAMES, LAST_NAMES
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say

TARGET_P95_MS = 10.0  # for every kind of read
COLUMNS = "id, brand_id, phone, name, pan_masked, customer_id, status, step, step_since, started_at, updated_at, reason"
#: Where borrowers stop: most leave early, a fifth complete (the rest of the funnel is in between).
STUCK_WEIGHTS = [0, 30, 18, 10, 9, 2, 6, 4, 3, 0]


def _load(db: Database, brand_ids: list[uuid.UUID], weights: list[float], total: int) -> None:
    """COPY `total` funnels into read.onboarding, then count them per step as the projection does."""
    rng = random.Random(13)
    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    with db.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy(f"COPY read.onboarding ({COLUMNS}) FROM STDIN") as copy:
            lines: list[str] = []
            for i in range(total):
                brand = rng.choices(brand_ids, weights)[0]
                started = epoch + timedelta(seconds=i * 30)
                since = started + timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
                roll = rng.random()
                if roll < 0.2:
                    status, step = FunnelStatus.COMPLETED, Step.SUBMITTED
                elif roll < 0.25:
                    status, step = FunnelStatus.REJECTED, rng.choices(STEPS, STUCK_WEIGHTS)[0]
                else:
                    status, step = FunnelStatus.IN_PROGRESS, rng.choices(STEPS, STUCK_WEIGHTS)[0]
                named = step.position > Step.PERSONAL.position or status is FunnelStatus.COMPLETED
                name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" if named else "\\N"
                lines.append(
                    "\t".join(
                        (
                            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            str(brand),
                            f"+919{rng.randrange(10**9):09d}",
                            name,
                            "ABCDE****F" if named else "\\N",
                            str(uuid.UUID(int=rng.getrandbits(128), version=4)) if named else "\\N",
                            status.value,
                            step.value,
                            since.isoformat(),
                            started.isoformat(),
                            since.isoformat(),
                            "inactive for 30 days: closed automatically" if status is FunnelStatus.REJECTED else "\\N",
                        )
                    )
                )
                if len(lines) == 20_000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
            if lines:
                copy.write("\n".join(lines) + "\n")
    order = ", ".join(f"('{s.value}', {s.position})" for s in STEPS)
    with db.pool.connection() as conn:
        # reached: funnels past the step (completed ones: every step); waiting: in progress at it.
        conn.execute(
            "INSERT INTO read.onboarding_steps (brand_id, step, reached, waiting) "
            "SELECT o.brand_id, s.step, count(*) FILTER (WHERE p.position > s.position OR o.status = 'completed'), "
            "count(*) FILTER (WHERE o.status = 'in_progress' AND o.step = s.step) "
            f"FROM read.onboarding o JOIN (VALUES {order}) AS p(step, position) ON p.step = o.step "
            f"CROSS JOIN (VALUES {order}) AS s(step, position) GROUP BY o.brand_id, s.step"
        )


def run(quick: bool) -> list[Verdict]:
    """Load the funnels, then time the staff lists and conversion against a primary-key lookup."""
    total = 100_000 if quick else 1_000_000
    reads = 300 if quick else 1_200
    say(f"== Onboarding lists at {total:,} borrowers")
    brand_ids = [uuid.uuid4() for _ in range(4)]
    weights = [0.85, 0.1, 0.04, 0.01]
    timings: dict[str, list[float]] = {}
    lookups: list[float] = []
    with fresh_database("cd_bench_onboarding") as dsn:
        db = Database(dsn, min_size=2, max_size=4)
        try:
            db.ensure_schemas()
            view = OnboardingView()
            tables = [s for s in view.ddl if "CREATE INDEX" not in s.upper()]
            indexes = [s for s in view.ddl if "CREATE INDEX" in s.upper()]
            with db.pool.connection() as conn:
                for statement in tables:
                    conn.execute(statement)
            began = time.perf_counter()
            _load(db, brand_ids, weights, total)
            loaded = time.perf_counter() - began
            began = time.perf_counter()
            with db.pool.connection() as conn:
                conn.execute("SET maintenance_work_mem = '256MB'")
                for statement in indexes:
                    conn.execute(statement)
                for table in view.tables:
                    conn.execute(f"VACUUM ANALYZE {table}")
            say(
                f"   loaded read.onboarding with COPY and counted the steps in {loaded:.1f} s; built"
                f" {len(indexes)} indexes and analyzed in {time.perf_counter() - began:.1f} s"
                f" ({weights[0]:.0%} of rows in the listed brand)"
            )
            queries = OnboardingQueries(db.pool)
            brand = brand_ids[0]
            rng = random.Random(7)
            waiting_steps = [s for s in STEPS if s not in (Step.MOBILE, Step.SUBMITTED)]

            def in_progress() -> object:
                return queries.borrowers(brand, FunnelStatus.IN_PROGRESS)

            def by_step() -> object:
                return queries.borrowers(brand, FunnelStatus.IN_PROGRESS, rng.choice(waiting_steps))

            def completed() -> object:
                return queries.borrowers(brand, FunnelStatus.COMPLETED)

            cursors = [
                queries.borrowers(brand, FunnelStatus.IN_PROGRESS, step).next_cursor for step in waiting_steps[:4]
            ]
            cursors += [queries.borrowers(brand, FunnelStatus.COMPLETED).next_cursor]

            def next_page() -> object:
                pick = rng.randrange(len(cursors))
                status = FunnelStatus.COMPLETED if pick == len(cursors) - 1 else FunnelStatus.IN_PROGRESS
                step = None if status is FunnelStatus.COMPLETED else waiting_steps[pick]
                return queries.borrowers(brand, status, step, cursors[pick])

            def conversion() -> object:
                return queries.conversion(brand)

            kinds: dict[str, Callable[[], object]] = {
                "in progress, first page": in_progress,
                "in progress, by step": by_step,
                "completed, first page": completed,
                "next page": next_page,
                "conversion per step": conversion,
            }
            for read in kinds.values():  # Warm the pool, the plan cache and the buffer cache a little.
                for _ in range(20):
                    read()
            for _ in range(reads):
                name, read = rng.choice(list(kinds.items()))
                began = time.perf_counter()
                read()
                timings.setdefault(name, []).append((time.perf_counter() - began) * 1000)
            figures = queries.conversion(brand)
            with db.pool.connection() as conn:
                ids = [
                    r["id"]
                    for r in conn.execute(
                        "SELECT id FROM read.onboarding TABLESAMPLE SYSTEM (1) WHERE brand_id = %s LIMIT 1000", (brand,)
                    ).fetchall()
                ]
                for borrower_id in ids:
                    began = time.perf_counter()
                    conn.execute(
                        "SELECT * FROM read.onboarding WHERE id = %s AND brand_id = %s", (borrower_id, brand)
                    ).fetchone()
                    lookups.append((time.perf_counter() - began) * 1000)
        finally:
            db.close()

    say(f"   {sum(len(t) for t in timings.values()):,} reads (OnboardingQueries, 50 per page): p50 / p95 / p99 ms")
    for kind, ts in timings.items():
        say(
            f"     {kind:26s} n={len(ts):4d}  {percentile(ts, 0.5):7.2f} {percentile(ts, 0.95):7.2f}"
            f" {percentile(ts, 0.99):7.2f}   max {max(ts):7.2f}"
        )
    say(
        f"   conversion of the listed brand: {figures.started:,} started, "
        + ", ".join(f"{s.step} {s.percent}%" for s in figures.steps[1:])
    )
    say(
        f"   primary-key lookup (baseline): p50 {percentile(lookups, 0.5):.2f} ms, p95 {percentile(lookups, 0.95):.2f} ms"
    )
    return [
        Verdict("onboarding", f"p95 {kind}", percentile(ts, 0.95), TARGET_P95_MS, False, " ms")
        for kind, ts in sorted(timings.items())
    ]
