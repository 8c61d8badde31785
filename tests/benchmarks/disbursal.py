"""Credit-decision and disbursal queues with 1M loans in the book, and a 10,000-loan payout file (issue #14 item 7).

The queues read only read models, so the benchmark fills `read.loans` (with the decision columns), the borrowers
and staff they join, and `read.loan_disbursals` directly in SQL (`generate_series`: a rebuild from millions of
events would measure the projections, not the queries). Tables and indexes come from the projections' own DDL
(`LoanViews`, `DisbursalViews`), so a change to them is what gets measured. The queries are the API's:
`DecisionQueries.cx_worklist` (a credit executive's pending applications), `DecisionQueries.sm_queue`
(CX-approved loans awaiting sanction) and `DisbursalQueries.queue` (the Ops queue), each oldest first, first pages
and deep pages (a keyset cursor taken from walking the list). The book: 85 % of the loans in the measured brand,
most of them active or closed; 5 % pending over 40 credit executives, 3 % CX-approved, 2 % awaiting disbursal.

The payout file: 10,000 lines through what `Disbursals.export` does after the loans are checked — the new
accounts query, both workbooks (openpyxl) and storing the file and its loans (`PayoutStore.claim`, COPY). Loading
and marking 10,000 Loan aggregates is not in the figure (an event-store write per loan, measured by `append`).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from adapters.payout_files import beneficiary_workbook, payout_workbook
from adapters.payout_store import PayoutFileRecord, PayoutStore
from adapters.postgres import Database
from domain.loans.payout_lines import PayoutLine, control_total
from projections.customers import CustomerDirectory
from projections.disbursal_queries import DisbursalQueries
from projections.disbursals import DisbursalViews
from projections.identity_projectors import StaffDirectory
from projections.keyset import Page
from projections.loan_decision_queries import DecisionQueries
from projections.loans import LoanViews
from tests.benchmarks.harness import Verdict, fresh_database, percentile, say

TARGET_P95_MS = 10.0
TARGET_FILE_SECONDS = 10.0
FILE_LOANS = 10_000
EXECUTIVES = 40
BIG = uuid.UUID("00000000-0000-4000-8000-00000000b001")
OTHERS = [uuid.UUID(f"00000000-0000-4000-8000-00000000b00{n}") for n in range(2, 5)]
PRICING = (
    '{"processing_fee": {"amount": "1700.00", "gst": "306.00"}, "convenience_fee": {"amount": "500.00", '
    '"gst": "76.27"}, "processing_fee_before_discount": "1700.00", "gst": "382.27", "net_disbursed": "82494.00"}'
)


def _uuid_sql(kind: int, expr: str) -> str:
    """A deterministic uuid for row `expr` of kind `kind` (borrowers 1, loans 2, staff 3)."""
    return f"('00000000-0000-4000-{8000 + kind}-' || lpad(to_hex({expr}), 12, '0'))::uuid"


def staff_id(n: int) -> uuid.UUID:
    return uuid.UUID(f"00000000-0000-4000-8003-{n:012x}")


def _tables(ddl: tuple[str, ...]) -> tuple[list[str], list[str]]:
    indexes = [s for s in ddl if "CREATE INDEX" in s.upper() or "CREATE UNIQUE INDEX" in s.upper()]
    return [s for s in ddl if s not in indexes], indexes


def _load(db: Database, total: int) -> None:
    borrowers = max(total // 5, 1000)
    with db.pool.connection() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            "INSERT INTO read.customers (id, brand_id, name, name_key, phone, version, created_at, updated_at) "
            f"SELECT {_uuid_sql(1, 'n')}, %s, 'Borrower ' || n, 'borrower ' || n, '+9198' || lpad(n::text, 8, '0'), "
            "1, now(), now() FROM generate_series(1, %s) n",
            (BIG, borrowers),
        )
        conn.execute(
            "INSERT INTO read.staff (id, brand_id, name, name_key, email, roles, has_password, version, created_at, "
            f"updated_at) SELECT {_uuid_sql(3, 'n')}, %s, 'CX ' || n, 'cx ' || n, 'cx' || n || '@lender.in', "
            "ARRAY['credit_executive'], true, 1, now(), now() FROM generate_series(1, %s) n",
            (BIG, EXECUTIVES),
        )
        # Status by bucket of 100: 0-4 pending, 5-7 cx_approved, 8-9 awaiting_disbursal, 10-69 active, 70-89
        # completed, 90-97 rejected, 98-99 onboarding. 85 % of rows in the measured brand.
        conn.execute(
            "INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, "
            "tenure, channel, pricing, instalment, status, assignee, version, created_at, updated_at, status_since, "
            "sm_actor) "
            f"SELECT {_uuid_sql(2, 'n')}, CASE WHEN mod(n, 20) < 17 THEN %(big)s ELSE (%(others)s::uuid[])[1 + mod(n, 3)] END, "
            "'BENCH-L-' || lpad(n::text, 7, '0'), "
            f"{_uuid_sql(1, '1 + mod(n, ' + str(borrowers) + ')')}, %(product)s, 1, 100000, 12, 'staff', %(pricing)s::jsonb, "
            "9456.00, s.status, "
            f"CASE WHEN s.status IN ('pending', 'cx_approved') THEN {_uuid_sql(3, '1 + mod(n, ' + str(EXECUTIVES) + ')')} END, "
            "5, t.at, t.at, t.at, CASE WHEN s.status IN ('awaiting_disbursal', 'active', 'rejected') AND mod(n, 7) = 0 "
            "THEN 'staff:sm-' || mod(n, 5) END "
            "FROM generate_series(1, %(total)s) n, "
            "LATERAL (SELECT CASE WHEN mod(n * 37, 100) < 5 THEN 'pending' WHEN mod(n * 37, 100) < 8 THEN 'cx_approved' "
            "WHEN mod(n * 37, 100) < 10 THEN 'awaiting_disbursal' WHEN mod(n * 37, 100) < 70 THEN 'active' "
            "WHEN mod(n * 37, 100) < 90 THEN 'completed' WHEN mod(n * 37, 100) < 98 THEN 'rejected' "
            "ELSE 'onboarding' END AS status) s, "
            "LATERAL (SELECT timestamptz '2024-01-01' + n * interval '45 seconds' AS at) t",
            {"big": BIG, "others": OTHERS, "product": uuid.uuid4(), "pricing": PRICING, "total": total},
        )
        conn.execute(
            "INSERT INTO read.loan_disbursals (loan_id, brand_id, net_disbursed, bank_account_ref, state, mode, "
            "gateway_reference, attempts, reason, queued_at, updated_at) "
            "SELECT id, brand_id, 82494.00, 'acct', (ARRAY['queued', 'queued', 'failed', 'initiated'])[1 + n % 4], "
            "CASE WHEN n % 4 >= 2 THEN 'IMPS' END, CASE WHEN n % 4 >= 2 THEN 'pout_' || n END, "
            "CASE WHEN n % 4 >= 2 THEN 1 ELSE 0 END, CASE WHEN n % 4 = 2 THEN 'beneficiary_bank_offline' END, "
            "created_at, created_at "
            "FROM (SELECT id, brand_id, created_at, row_number() OVER () AS n FROM read.loans "
            "WHERE status = 'awaiting_disbursal') a"
        )


def _cursors(first: Callable[[str | None], Page], pages: int) -> list[str | None]:
    """Cursors of the first `pages` pages (None is the first), by walking the list."""
    found: list[str | None] = [None]
    cursor: str | None = None
    for _ in range(pages):
        cursor = first(cursor).next_cursor
        if cursor is None:
            break
        found.append(cursor)
    return found


def _measure(name: str, runs: int, load: Callable[[str | None], Page], rng: random.Random) -> list[float]:
    cursors = _cursors(load, 40)
    for cursor in cursors[:10]:  # warm the plan and buffer caches a little
        load(cursor)
    times = []
    for _ in range(runs):
        cursor = rng.choice(cursors)
        began = time.perf_counter()
        load(cursor)
        times.append((time.perf_counter() - began) * 1000)
    say(
        f"   {name:28s} n={len(times):4d} over {len(cursors)} pages: p50 {percentile(times, 0.5):6.2f}  "
        f"p95 {percentile(times, 0.95):6.2f}  p99 {percentile(times, 0.99):6.2f}  max {max(times):6.2f} ms"
    )
    return times


def _payout_file(store: PayoutStore) -> float:
    rng = random.Random(3)
    lines = [
        PayoutLine(
            uuid.uuid4(),
            f"BENCH-L-{n:07d}",
            f"Borrower {n}",
            f"{rng.randrange(10**11, 10**12)}",
            "HDFC0001234",
            Decimal(rng.randrange(500_000, 50_000_000)) / 100,
        )
        for n in range(FILE_LOANS)
    ]
    began = time.perf_counter()
    fresh = store.new_accounts(BIG, lines)
    now = datetime.now(UTC)
    file_id = uuid.uuid4()
    total = control_total(lines)
    record = PayoutFileRecord(file_id, BIG, now, "bench", total.count, total.amount, len(fresh), "exported", None)
    payout = payout_workbook(lines, file_id=file_id, brand="Bench", created_at=now)
    beneficiaries = beneficiary_workbook(fresh)
    store.claiming(record, lines, payout, beneficiaries)(None)
    seconds = time.perf_counter() - began
    say(
        f"   payout file of {FILE_LOANS:,} loans: {seconds:.2f} s (payout file {len(payout) / 1024:,.0f} KiB, "
        f"beneficiary file {len(beneficiaries) / 1024:,.0f} KiB for {len(fresh):,} new accounts, total Rs "
        f"{total.amount:,})"
    )
    return seconds


def run(quick: bool) -> list[Verdict]:
    """Load the book, time the three queues and the payout file."""
    total = 200_000 if quick else 1_000_000
    runs = 200 if quick else 600
    say(f"== Credit decision and disbursal queues at {total:,} loans; a {FILE_LOANS:,}-loan payout file")
    rng = random.Random(7)
    with fresh_database("cd_bench_disbursal") as dsn:
        db = Database(dsn, min_size=2, max_size=4)
        try:
            db.ensure_schemas()
            tables: list[str] = []
            indexes: list[str] = []
            # The borrowers and staff joined for their names: their tables only (their search indexes are the
            # search benchmark's); the loans and disbursals with every index they declare.
            for ddl in (CustomerDirectory.ddl, StaffDirectory.ddl):
                tables += [s for s in ddl if s.lstrip().startswith("CREATE TABLE")]
            for ddl in (LoanViews.ddl, DisbursalViews.ddl):
                made, indexed = _tables(tuple(ddl))
                tables += made
                indexes += indexed
            with db.pool.connection() as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                for statement in tables:
                    conn.execute(statement)
            began = time.perf_counter()
            _load(db, total)
            loaded = time.perf_counter() - began
            began = time.perf_counter()
            with db.pool.connection() as conn:
                conn.execute("SET maintenance_work_mem = '256MB'")
                for statement in indexes:
                    conn.execute(statement)
                for table in ("read.loans", "read.customers", "read.staff", "read.loan_disbursals"):
                    conn.execute(f"VACUUM ANALYZE {table}")
                counts = conn.execute(
                    "SELECT status, count(*) AS n FROM read.loans WHERE brand_id = %s GROUP BY status ORDER BY 2 DESC",
                    (BIG,),
                ).fetchall()
            say(f"   loaded in {loaded:.1f} s, indexed and analyzed in {time.perf_counter() - began:.1f} s; the brand: "
                + ", ".join(f"{r['status']} {r['n']:,}" for r in counts))  # fmt: skip

            decisions = DecisionQueries(db.pool)
            disbursals = DisbursalQueries(db.pool)
            executive = staff_id(7)
            cx = _measure("CX worklist (one CX)", runs, lambda c: decisions.cx_worklist(BIG, executive, c), rng)
            sm = _measure("SM queue", runs, lambda c: decisions.sm_queue(BIG, c), rng)
            ops = _measure("Ops disbursal queue", runs, lambda c: disbursals.queue(BIG, c), rng)
            seconds = _payout_file(PayoutStore(db.pool))
        finally:
            db.close()
    return [
        Verdict("disbursal", "CX worklist p95", percentile(cx, 0.95), TARGET_P95_MS, False, " ms"),
        Verdict("disbursal", "SM queue p95", percentile(sm, 0.95), TARGET_P95_MS, False, " ms"),
        Verdict("disbursal", "Ops disbursal queue p95", percentile(ops, 0.95), TARGET_P95_MS, False, " ms"),
        Verdict("disbursal", f"payout file of {FILE_LOANS:,} loans", seconds, TARGET_FILE_SECONDS, False, " s"),
    ]
