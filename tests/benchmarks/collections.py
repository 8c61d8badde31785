"""Collections (issue #16 item 10): an executive's worklist p95 with 1,000,000 loans of which 100,000 are overdue,
and the sweep after the close of business allocating the 100,000 newly overdue loans (quick: 100,000 / 10,000).

The loans' read-model rows (`read.loans`, `read.collection_dues` with the loans' numbers) are generated directly
with COPY: the worklist and the sweep read only read models, and a million event-sourced loans take ten commands each
to reach `active` (the servicing benchmark times those). Twenty collection executives are created through the
Identity application.

- **Allocation**: `workers.collection_jobs.sweep` for the date the loans went overdue - the candidate query, the
  stage and allocation decisions, the `CaseMoves` batches recorded, the date closed - plus the collections
  projection catching up (the allocations visible on the worklists). Baseline in the same run: the sweep's
  candidate query alone.
- **Worklist**: `CollectionQueries.worklist` of a random executive (about 5,000 open cases each; 1 % with a
  callback due), first pages and the next page by cursor, p95 of the pages (one statement each). Baseline: a primary-key read of one case row.
"""

from __future__ import annotations

import io
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from adapters.postgres import Database
from domain.collections.application import Collections
from domain.collections.case import Stage
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.collection_queries import CollectionQueries
from tests.benchmarks.covenant_jobs_data import analyze, catch_up_projections, projections
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say
from workers import collection_jobs
from workers.platform import Platform

D0 = date(2026, 1, 31)
DAY = date(2026, 3, 1)  # the first instalment (28 Feb) is a day overdue for the overdue loans
EXECUTIVES = 20
TARGET_WORKLIST_P95_MS = 10.0
TARGET_ALLOCATION_SECONDS = 60.0
_DUES = "{" + ",".join((date(2026, 2, 28) + timedelta(days=30 * k)).isoformat() for k in range(12)) + "}"
_CUM = "{" + ",".join(f"{8037.57 * (k + 1):.2f}" for k in range(12)) + "}"
#: The schedule's cumulative principal, as `ServicingOpened` fills it (what a legal case asks for).
_PRINCIPAL = "{" + ",".join(f"{7083.33 * (k + 1):.2f}" for k in range(12)) + "}"


def _copy_book(platform: Platform, brand: UUID, total: int, overdue: int) -> None:
    """`total` loans of the brand in read.loans (every tenth overdue, DPD 1), their dues with their numbers and
    borrowers for the cases (`read.collection_dues`), with COPY."""
    product = uuid.uuid4()
    now = datetime.now(UTC).isoformat()
    loans, dues = io.StringIO(), io.StringIO()
    step = total // overdue
    for n in range(total):
        loan, customer = uuid.uuid4(), uuid.uuid4()
        late = n % step == 0
        loans.write(f"{loan}\t{brand}\tL{n:08d}\t{customer}\t{product}\t1\t{50000 + n % 50000}.00\t12\tstaff\t{{}}\t"
                    f"8037.57\t{'overdue' if late else 'active'}\t1\t{now}\t{now}\t{1 if late else 0}\n")  # fmt: skip
        dues.write(
            f"{loan}\t{_DUES}\t{_CUM}\t{_PRINCIPAL}\t{'0.00' if late else '8037.57'}\t{brand}\tL{n:08d}\t{customer}\n"
        )
    with platform.db.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
            "channel, pricing, instalment, status, version, created_at, updated_at, dpd) FROM STDIN"
        ) as copy:
            copy.write(loans.getvalue())
        with cur.copy(
            "COPY read.collection_dues (loan_id, due_dates, cum_due, cum_principal, paid, brand_id, loan_number, "
            "customer_id) FROM STDIN"
        ) as copy:
            copy.write(dues.getvalue())


def run(quick: bool) -> list[Verdict]:
    """Load the book, allocate the overdue loans, time executives' worklists."""
    total, overdue = (100_000, 10_000) if quick else (1_000_000, 100_000)
    say(f"== Collections ({total:,} loans, {overdue:,} overdue, {EXECUTIVES} executives)")
    with fresh_database("cd_bench_collections") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        try:
            identity = platform.get(Identity)
            brand = identity.create_brand("bench-coll", "Bench Collections Finance").id
            identity.change_configuration(brand, {"business_date": DAY, "auto_allocate_collections": True})
            staff = [
                identity.create_staff(
                    brand, f"exec{n}@bench.in", f"Executive {n}", ["collection_executive"], granter=OPERATOR
                ).id
                for n in range(EXECUTIVES)
            ]
            catch_up_projections(platform, projections(platform, {"identity", "collections"}))
            began = time.perf_counter()
            _copy_book(platform, brand, total, overdue)
            analyze(platform)
            say(f"   {total:,} loans and their dues copied in {time.perf_counter() - began:.1f} s")

            port = collection_jobs.SweepPort(platform.get(Collections), identity, platform.engine,
                                             platform.get(Database))  # fmt: skip
            baseline = _candidates_alone(port, brand)
            began = time.perf_counter()
            counts = collection_jobs.sweep(port, brand, DAY)
            swept = time.perf_counter() - began
            catch_up_projections(platform, projections(platform, {"collections"}))
            allocation = time.perf_counter() - began
            say(f"   sweep allocating {counts['allocated']:,} newly overdue loans: {allocation:.1f} s "
                f"(sweep {swept:.1f} s + projection {allocation - swept:.1f} s); baseline, the candidate query alone: "
                f"{baseline:.1f} s")  # fmt: skip
            with platform.db.pool.connection() as conn:
                conn.execute(
                    "UPDATE read.collection_cases SET attention_at = now() - interval '1 hour', "
                    "callback_at = now() - interval '1 hour' WHERE brand_id = %s AND random() < 0.01", (brand,)
                )  # fmt: skip
                conn.execute("ANALYZE read.collection_cases")
                spread = conn.execute(
                    "SELECT count(DISTINCT assignee) AS n, max(c) - min(c) AS gap FROM (SELECT assignee, count(*) AS c "
                    "FROM read.collection_cases WHERE brand_id = %s AND open GROUP BY assignee) s", (brand,),
                ).fetchone()  # fmt: skip
            say(f"   allocated over {spread['n']} executives, largest minus smallest worklist: {spread['gap']}")
            p95, base_p95 = _worklists(platform, brand, staff, 400 if quick else 2000)
        finally:
            platform.close()
    return [
        Verdict("collections", f"executive worklist p95 ({total:,} loans, {overdue:,} overdue; baseline PK read "
                f"{base_p95:.2f} ms)", p95,
                TARGET_WORKLIST_P95_MS, False, " ms"),
        Verdict("collections", f"allocating {counts['allocated']:,} newly overdue loans (sweep + read model; "
                f"baseline candidate query {baseline:.1f} s)",
                allocation, TARGET_ALLOCATION_SECONDS, False, " s"),
    ]  # fmt: skip


def _candidates_alone(port: collection_jobs.SweepPort, brand: UUID) -> float:
    window = [DAY + timedelta(days=n) for n in range(1, 4)]
    began = time.perf_counter()
    with port.db.pool.connection() as conn:
        rows = conn.execute(collection_jobs._CANDIDATES, {
            "brand": brand, "day": DAY, "hard": ["overdue", "settled", "written_off"], "window": window,
        }).fetchall()  # fmt: skip
    assert rows
    return time.perf_counter() - began


def _worklists(platform: Platform, brand: UUID, staff: list[UUID], samples: int) -> tuple[float, float]:
    queries = platform.get(CollectionQueries)
    rng = random.Random(16)
    now = datetime.now(UTC)
    timings: list[float] = []
    base: list[float] = []
    with platform.db.pool.connection() as conn:
        ids = [r["loan_id"] for r in conn.execute(
            "SELECT loan_id FROM read.collection_cases WHERE brand_id = %s LIMIT 1000", (brand,)
        ).fetchall()]  # fmt: skip
    for n in range(samples):
        executive = rng.choice(staff)
        began = time.perf_counter()
        page = queries.worklist(brand, Stage.COLLECTIONS, executive, now, None, 50)
        timings.append((time.perf_counter() - began) * 1000)
        assert page.items, "an executive with an empty worklist"
        if n % 2 and page.next_cursor:  # every other one, the next page too
            began = time.perf_counter()
            queries.worklist(brand, Stage.COLLECTIONS, executive, now, page.next_cursor, 50)
            timings.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        with platform.db.pool.connection() as conn:
            conn.execute("SELECT * FROM read.collection_cases WHERE loan_id = %s", (rng.choice(ids),)).fetchone()
        base.append((time.perf_counter() - began) * 1000)
    p95, base_p95 = percentile(timings, 0.95), percentile(base, 0.95)
    say(f"   executive worklist: p50 {percentile(timings, 0.5):.2f} ms, p95 {p95:.2f} ms ({len(timings)} pages: {samples} "
        f"first pages, every other one's next page); baseline, one case by primary key: p95 {base_p95:.2f} ms")  # fmt: skip
    return p95, base_p95
