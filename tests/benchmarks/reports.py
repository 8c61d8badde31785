"""Report CSV exports over a 1M-loan book (issue #18 item 6): every report's streamed CSV (`ReportQueries.csv`, the
code the API and the portal call) at >= 50,000 rows/s with the process's peak RSS growth <= 200 MB, against a raw
`COPY ... TO STDOUT` of the same rows (no cell neutralising, no byte-order mark, no chunking) as the baseline.

The book is loaded straight into the read models: borrowers and loans by COPY FROM STDIN (rows made here), the rest
(instalments, repayments, funnels, sessions, bureau calls, timelines, collection cases and contacts, field visits)
by set-based INSERT ... SELECT from them. The tables are the projections' own (the platform creates them). A
grouped report (a row per day, bucket or person) is measured by the book rows it reads, not the few it writes.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from projections.report_book import MARK_ALL_CLOSED, MARK_ALL_COMPLETED, REFRESH_ALL_TOTALS
from projections.report_catalogue import CATALOGUE
from projections.reports import Column, Report, ReportQueries, ReportRequest, _sql, _tune
from tests.benchmarks.harness import Verdict, fresh_database, say
from workers.platform import Platform

TARGET_ROWS_PER_S = 50_000.0
TARGET_PEAK_MB = 200.0
STATUSES = [("active", 40), ("partially_paid", 10), ("overdue", 15), ("completed", 10), ("settled", 2),
            ("written_off", 2), ("rejected", 6), ("pending", 8), ("sm_approved", 4), ("awaiting_disbursal", 3)]  # fmt: skip
DISBURSED = {"active", "partially_paid", "overdue", "completed", "settled", "written_off"}
NAMES = ["Aarav", "Diya", "Ishaan", "Meera", "Kabir", "Zoë", "Farah", 'Ravi "RK"', "Anil, Jr.", "=cmd"]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """The process's peak resident memory while it runs (sampled every 5 ms), above what it was at the start."""

    def __init__(self) -> None:
        self.start = _rss_mb()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.start


def _load(pool: Any, brand: uuid.UUID, other: uuid.UUID, loans: int) -> None:
    """The book: `loans` borrowers with a loan each (1 % in another brand), and what hangs off them."""
    rng = random.Random(18)
    weights = [w for _, w in STATUSES]
    kinds = [s for s, _ in STATUSES]
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    product = uuid.uuid4()
    staff = [uuid.uuid4() for _ in range(25)]  # credit executives (assignees) and field agents
    with pool.connection() as conn, conn.cursor() as cur:
        with (
            cur.copy(
                "COPY read.customers (id, brand_id, name, name_key, phone, email, pan, pan_masked, number, version, "
                "created_at, updated_at) FROM STDIN"
            ) as copy,
            pool.connection() as conn2,
            conn2.cursor() as cur2,
            cur2.copy(
                "COPY read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
                "channel, pricing, instalment, status, assignee, version, created_at, updated_at, sanctioned_at, "
                "sanctioned_amount, sanctioned_by, disbursed_on, status_since, closed_on, dpd, asset_class, rejected_on, "
                "rejection, created_on, sanctioned_on) "
                "FROM STDIN"
            ) as loan_copy,
        ):
            for n in range(loans):
                b = other if n % 100 == 99 else brand
                cid, lid = uuid.uuid4(), uuid.uuid4()
                name = f"{NAMES[n % len(NAMES)]} {n}"
                at = t0 + timedelta(minutes=n % 500_000)
                copy.write_row((cid, b, name, name.lower(), f"9{n:09d}", f"b{n}@mail.in", f"ABCDE{n % 10000:04d}F",
                                "XXXXX0000X", f"C-{n:07d}", 1, at, at))  # fmt: skip
                status = rng.choices(kinds, weights)[0]
                sanctioned = status not in ("pending", "rejected")
                disbursed = status in DISBURSED
                amount = 10_000 + (n % 90) * 1_000
                loan_copy.write_row((
                    lid, b, f"L-{n:08d}", cid, product, 1, amount, 3, "borrower" if n % 3 else "staff", "{}",
                    round(amount / 3, 2), status, staff[n % len(staff)], 1, at, at, at + timedelta(days=1) if sanctioned else None,
                    amount if sanctioned else None, "staff:x" if sanctioned else None,
                    (at + timedelta(days=2)).date() if disbursed else None, at + timedelta(days=40),
                    (at + timedelta(days=40)).date() if status in ("completed", "settled", "written_off") else None,
                    (n % 120) if disbursed else None, "standard" if disbursed else None,
                    (at + timedelta(days=1)).date() if status == "rejected" else None,
                    '{"code": "LOW_SALARY", "label": "Income below our minimum", "remarks": "low, \\"really\\""}'
                    if status == "rejected" else None,
                    at.date(), (at + timedelta(days=1)).date() if sanctioned else None,
                ))  # fmt: skip
        conn.commit()
        d = "read.loans l WHERE l.disbursed_on IS NOT NULL"
        for statement in (
            "INSERT INTO read.report_loan_brands SELECT id, brand_id FROM read.loans",
            "INSERT INTO read.report_instalments (loan_id, no, brand_id, due_date, principal, interest, "
            "paid_principal, paid_interest) SELECT l.id, k, l.brand_id, l.disbursed_on + 30 * k, "
            "round(l.amount / 3, 2), 200, CASE WHEN k = 1 THEN round(l.amount / 3, 2) ELSE 0 END, "
            "CASE WHEN k = 1 THEN 200 ELSE 0 END FROM read.loans l, generate_series(1, 3) k "
            "WHERE l.disbursed_on IS NOT NULL",
            "INSERT INTO read.report_payments (payment_id, loan_id, brand_id, amount, principal, interest, penal, "
            "mode, reference, paid_on, recorded_on, recorded_by, allocation, closes_loan) SELECT 'p1', l.id, "
            "l.brand_id, round(l.amount / 3, 2) + 200, round(l.amount / 3, 2), 200, 0, 'upi', 'UTR-' || l.loan_number, "
            f"l.disbursed_on + 30, l.disbursed_on + 30, 'staff:x', '[]', false FROM {d} AND right(l.loan_number, 1) <> '0'",
            "INSERT INTO read.field_visits (id, brand_id, loan_id, loan_number, customer_id, assignee_id, reason, "
            "address, status, flagged_by, created_at, updated_at) SELECT gen_random_uuid(), l.brand_id, l.id, "
            "l.loan_number, l.customer_id, l.assignee, 'no answer, 3 calls', '4 Lake Road, Chennai', 'assigned', "
            "'staff:x', l.created_at, l.created_at FROM read.loans l WHERE l.status = 'overdue'",
            "INSERT INTO read.onboarding (id, brand_id, phone, name, customer_id, status, step, step_since, "
            "started_at, updated_at) SELECT c.id, c.brand_id, c.phone, c.name, c.id, 'completed', 'submitted', "
            "c.created_at, c.created_at, c.created_at FROM read.customers c",
            # the leads context: every sign-up's UTM (half with a source), an imported lead for a third of the
            # borrowers (a fifth of them organic), linked to the borrower
            "INSERT INTO read.borrower_attribution (borrower_id, brand_id, customer_id, phone, utm_source, utm_medium, "
            "utm_campaign, signed_up_at) SELECT f.id, f.brand_id, f.customer_id, f.phone, CASE WHEN right(f.phone, 1) "
            "< '5' THEN 'facebook' END, 'cpc', 'diwali-' || right(f.phone, 1), f.started_at FROM read.onboarding f",
            "INSERT INTO read.leads (id, brand_id, import_id, line, source, is_organic, name, phone, campaign_name, "
            "status, borrower_id, version, created_at, updated_at) SELECT gen_random_uuid(), c.brand_id, "
            "'00000000-0000-0000-0000-000000000018', 2, 'facebook', right(c.phone, 2) < '20', c.name, c.phone, "
            "CASE WHEN right(c.phone, 2) >= '20' THEN 'Diwali ' || right(c.phone, 1) END, (ARRAY['new', 'contacted', "
            "'applied', 'converted', 'rejected'])[1 + mod(right(c.phone, 1)::int, 5)], c.id, 1, c.created_at - "
            "interval '1 day', c.created_at FROM read.customers c WHERE right(c.phone, 1) IN ('1', '4', '7')",
            "INSERT INTO read.report_borrower_sessions (id, brand_id, borrower_id, started_at, expires_at) "
            "SELECT gen_random_uuid(), c.brand_id, c.id, c.created_at, c.created_at + interval '30 days' "
            "FROM read.customers c",
            "INSERT INTO ops.provider_calls (id, brand_id, customer_id, provider, vendor, kind, status, outcome, "
            "http_status, latency_ms, attempts, at) SELECT gen_random_uuid(), c.brand_id, c.id, 'bureau', "
            "CASE WHEN random() < 0.5 THEN 'equifax' ELSE 'cibil' END, 'pull', 'ok', 'report', 200, 120, 1, "
            "c.created_at FROM read.customers c",
            # each event's business day (`day`, what team-performance-report ranges over), as the projection keeps it
            "INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, details, at, day) "
            "SELECT l.id, 2, l.brand_id, 'sanctioned', 'sm_approved', 'staff:x', '{}', l.sanctioned_at, "
            "coalesce(l.sanctioned_on, (l.sanctioned_at AT TIME ZONE 'Asia/Kolkata')::date) "
            "FROM read.loans l WHERE l.sanctioned_at IS NOT NULL",
            "INSERT INTO read.collection_cases (loan_id, brand_id, stage, open, dpd, amount, due_on, contacts, "
            "opened_at, opened_on, updated_at) SELECT l.id, l.brand_id, 'early', true, l.dpd, l.amount, "
            "l.disbursed_on + 60, 1, l.created_at, l.disbursed_on + 61, l.created_at FROM read.loans l "
            "WHERE l.status = 'overdue'",
            "INSERT INTO read.collection_contacts (contact_id, loan_id, brand_id, outcome, remarks, channel, actor, "
            "at) SELECT gen_random_uuid(), c.loan_id, c.brand_id, 'ptp', 'said, \"next week\"', 'call', 'staff:x', "
            "c.opened_at FROM read.collection_cases c",
            REFRESH_ALL_TOTALS,  # each loan's totals row, as the projection keeps it
            MARK_ALL_CLOSED,  # and whether the loan is closed
            MARK_ALL_COMPLETED,  # and its instalments whether it is completed
        ):
            cur.execute(statement)
        conn.commit()
        for table in ("read.customers", "read.loans", "read.report_instalments", "read.report_payments",
                      "read.onboarding", "read.report_borrower_sessions", "ops.provider_calls", "read.loan_events",
                      "read.collection_cases", "read.collection_contacts", "read.field_visits",
                      "read.borrower_attribution", "read.leads", "read.report_loan_totals"):  # fmt: skip
            cur.execute(f"VACUUM ANALYZE {table}")


def _input_rows(pool: Any, report: Report, request: ReportRequest) -> int:
    """How many book rows the report reads: its rows, or for a grouped report the rows it groups."""
    counted = dataclasses.replace(report, group_by=None, columns=(Column("one", "1", "int"),), key=report.key[-1:])
    if report.group_by is None:
        counted = report
    sql, params = _sql(counted, request, safe=False, keys=False)
    with pool.connection() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM ({sql}) q", params).fetchone()
    return int(row["n"])


def _raw_copy(pool: Any, report: Report, sql: str, params: dict[str, Any]) -> tuple[int, float]:
    """The baseline: the report's rows by a bare COPY, with the session settings the export uses (work_mem and the
    report's planner settings)."""
    began = time.perf_counter()
    size = 0
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        _tune(conn, report)
        with cur.copy(sql, params) as copy:
            for data in copy:
                size += len(data)
    return size, time.perf_counter() - began


def _ms(call: Any, *args: Any) -> tuple[float, Any]:
    """Milliseconds `call(*args)` took, and what it returned."""
    began = time.perf_counter()
    found = call(*args)
    return (time.perf_counter() - began) * 1e3, found


def _csv_rows(queries: ReportQueries, report: Report, request: ReportRequest) -> int:
    """The rows of the report's CSV export (read to the end), its header aside."""
    return sum(chunk.count(b"\n") for chunk in queries.csv(report, request)) - 1


def _pages(queries: ReportQueries, request: ReportRequest) -> None:
    """Figures without a target (the issue set none): each report's first and next JSON page and its totals, for all
    dates (`request`) and for one month (the median registration's), and the month's CSV export (which may read a
    report's `probed_source`)."""
    with queries.pool.connection() as conn:
        found = conn.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY created_at) AS at FROM read.customers "
            "WHERE brand_id = %s",
            (request.brand_id,),
        ).fetchone()
    start = found["at"].date().replace(day=1)
    month = dataclasses.replace(request, start=start, end=(start + timedelta(days=32)).replace(day=1) - timedelta(1))
    say(f"   pages (50 rows) and totals, ms, all dates | {start:%b %Y}; that month's CSV export:")
    say(f"   {'report':<44} {'first':>7} {'next':>7} {'totals':>7} | {'first':>7} {'next':>7} {'totals':>7} "
        f"{'rows':>8} {'rows/s':>9}")  # fmt: skip
    slowest: list[tuple[float, str]] = []
    for slug, report in CATALOGUE.items():
        figures = []
        for asked in (request, month):
            first, page = _ms(queries.page, report, asked, None)
            after = page.next_cursor
            following = _ms(queries.page, report, asked, after)[0] if after else float("nan")
            figures += [first, following, _ms(queries.totals, report, asked)[0]]
        slowest.append((max(f for f in figures if f == f), slug))
        seconds, rows = _ms(_csv_rows, queries, report, month)
        say(f"   {slug:<44} " + " ".join(f"{f:7.1f}" for f in figures[:3]) + " | "
            + " ".join(f"{f:7.1f}" for f in figures[3:]) + f" {rows:>8,} {rows / seconds * 1e3:>9,.0f}")  # fmt: skip
    worst = sorted(slowest, reverse=True)[:3]
    say(
        "   slowest: " + ", ".join(f"{slug} {ms:.0f} ms" for ms, slug in worst) + " (no target; totals read every row "
        "in the range, and a grouped report's page computes its groups)"
    )


def run(quick: bool) -> list[Verdict]:
    """Load the book, then export every report's CSV against its raw COPY."""
    loans = 100_000 if quick else 1_000_000
    say(f"== Report CSV exports over {loans:,} loans ({len(CATALOGUE)} reports)")
    verdicts: list[Verdict] = []
    brand, other = uuid.uuid4(), uuid.uuid4()
    with fresh_database("cd_bench_reports") as dsn:
        platform = Platform.open(dsn)
        try:
            pool = platform.db.pool
            began = time.perf_counter()
            _load(pool, brand, other, loans)
            say(f"   book loaded in {time.perf_counter() - began:.0f} s (COPY + INSERT ... SELECT)")
            queries = ReportQueries(pool)
            request = ReportRequest(brand, None, None, "Asia/Kolkata", date(2026, 6, 30))
            say(
                f"   {'report':<44} {'rows':>9} {'csv rows/s':>11} {'raw rows/s':>11} {'ratio':>6} {'MB':>6} {'peak MB':>8}"
            )
            for slug, report in CATALOGUE.items():
                rows = _input_rows(pool, report, request)
                raw_sql, params = queries.copy_sql(report, request, safe=False)
                _, raw_seconds = _raw_copy(pool, report, raw_sql, params)
                size = 0
                with PeakRss() as memory:
                    started = time.perf_counter()
                    for chunk in queries.csv(report, request):
                        size += len(chunk)
                    seconds = time.perf_counter() - started
                rate, raw_rate = rows / seconds, rows / raw_seconds
                say(f"   {slug:<44} {rows:>9,} {rate:>11,.0f} {raw_rate:>11,.0f} {seconds / raw_seconds:>6.2f} "
                    f"{size / 2**20:>6.1f} {memory.growth:>8.1f}")  # fmt: skip
                verdicts.append(Verdict("reports", f"{slug} CSV rows/s", rate, TARGET_ROWS_PER_S, True))
                verdicts.append(Verdict("reports", f"{slug} CSV peak RSS growth", memory.growth, TARGET_PEAK_MB,
                                        False, " MB"))  # fmt: skip
            say(f"   (ratio: the export's time over the raw COPY's; process RSS {_rss_mb():.0f} MB; pid {os.getpid()})")
            say("   (total-recovery-report and recovery-efficiency-report read a row a day of read.report_due_days, "
                "the instalments' sums kept as they change: their rows are those days)")  # fmt: skip
            _pages(queries, request)
        finally:
            platform.close()
    return verdicts
