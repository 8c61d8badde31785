"""Close of business over a real book (issue #15 item 9): 1,000,000 active loans, 10 % overdue, target <= 10 minutes.

The book: two template loans are made through the Loans application (every command, as in the e2e tests; EMI,
85,000 over 12 months at 24 %, penal 0.1 % a day, disbursed 31 Jan 2026): one paid its 28 Feb instalment (healthy),
one did not and has had the COB of 1-10 Mar (overdue, DPD 10, SMA-0). Their event rows and `read.loans` rows are then
copied set-based inside PostgreSQL (`INSERT ... SELECT` over `generate_series`: no Python per row) to `total` loans
under new ids - 10 % overdue, 3 % healthy loans paid since the last COB (their watch is for the version before), the
rest healthy as the COB of 10 Mar left them (`ops.loan_cob_watch`: quiet until the next due date, 31 Mar). Every
loan has its full event history (11 events healthy, 22 overdue): any of them loads and closes like a loan the
commands made.

Timed: the COB of 11 Mar over the whole book (`CobStore.plan` + `loan_cob.drain` + `finish`: what the `loan-cob` job
runs per date), drained by WORKERS = 2 worker processes (started and connected before the clock starts) claiming
partitions with SKIP LOCKED, as any number of the job's processes do. Baseline, same run, same database: the per-loan path (`plan(selective=False)`: every
serviced loan loaded and closed, the COB before the quiet-loan watch) over a copy of the book at 1/50 in another
brand, projected linearly to the book's size. `--quick`: a 50,000-loan book, its target scaled (600 s x 5 %)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from adapters.cob_store import CobDay, CobStore
from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.loans.application import Loans
from tests.benchmarks.covenant_jobs_data import analyze, catch_up_projections, projections
from tests.benchmarks.harness import Verdict, fresh_database, say
from tests.benchmarks.servicing import D0, DUE, _Catalogue, _disburse
from workers import loan_cob
from workers.platform import Platform

TARGET_SECONDS = 600.0
BOOK = 1_000_000
OVERDUE_DAYS = 10
DAY = DUE + timedelta(days=OVERDUE_DAYS + 1)  # 11 Mar 2026: the date the COB closes
EMI = "8037.57"
WORKERS = 2  # the machine's CPUs (PostgreSQL shares them)


def run(quick: bool) -> list[Verdict]:
    """Load the book, run the per-loan baseline over a 1/50 copy, then the COB of the whole book."""
    total = 50_000 if quick else BOOK
    sample = total // 50
    target = TARGET_SECONDS * total / BOOK
    say(f"== Close of business over {total:,} active loans (10 % overdue)")
    with fresh_database("cd_bench_cob") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        try:
            loans = platform.get(Loans)
            loans._catalogue = _Catalogue()
            identity = platform.get(Identity)
            store = platform.get(CobStore)
            store.setup()
            book = identity.create_brand("bench-cob", "Bench COB Finance").id
            base = identity.create_brand("bench-cob-base", "Bench COB Baseline").id
            began = time.perf_counter()
            templates = {brand: _templates(platform, loans, identity, brand) for brand in (book, base)}
            catch_up_projections(platform, projections(platform, {"loans", "identity"}))
            say(f"   templates made through the commands in {time.perf_counter() - began:.1f} s")
            began = time.perf_counter()
            kinds = _copy(platform, book, templates[book], total, watch=True)
            _copy(platform, base, templates[base], sample, watch=False)
            analyze(platform)
            say(f"   book of {total:,} + baseline copy of {sample:,} loaded set-based in "
                f"{time.perf_counter() - began:.1f} s ({_events(platform):,} loan events)")  # fmt: skip

            baseline, base_day = _cob(dsn, store, base, selective=False)
            projected = baseline * (total + 2) / max(base_day.loans, 1)
            say(f"   baseline, the per-loan path over {base_day.loans:,} loans: {baseline:.1f} s "
                f"({base_day.loans / baseline:,.0f} loans/s), projected to the book: {projected:,.0f} s")  # fmt: skip
            seconds, day = _cob(dsn, store, book, selective=True)
            say(f"   COB of {DAY}: {seconds:.1f} s for {day.loans:,} loans - {day.loans - day.quiet:,} planned and "
                f"loaded, {day.quiet:,} quiet passed over; {day.closed:,} closed with something recorded, penal "
                f"{day.penal_charged:,}, {day.transitions or 'no state moves'}; {projected / seconds:.1f}x the baseline")  # fmt: skip
            _check(day, kinds, total)
        finally:
            platform.close()
    name = f"COB of {total:,} active loans (10 % overdue), {WORKERS} worker processes"
    return [Verdict("cob", name, seconds, target, False, " s")]


def _templates(platform: Platform, loans: Loans, identity: Identity, brand: UUID) -> dict[str, Any]:
    """A healthy and an overdue loan made by the commands, as the COB of the day before DAY left them."""
    identity.change_configuration(brand, {"business_date": D0})
    customer = platform.get(Customers).register(
        brand, name="Meera Iyer", phone="9876500003", date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    ).id  # fmt: skip
    healthy, overdue = _disburse(loans, brand, customer, 1), _disburse(loans, brand, customer, 2)
    identity.change_configuration(brand, {"business_date": DUE})
    loans.record_repayment(brand, healthy, EMI, "nach", f"NACH-{brand}")
    for n in range(1, OVERDUE_DAYS + 1):
        identity.change_configuration(brand, {"business_date": DUE + timedelta(days=n)})
        loans.close_business_day(brand, overdue, DUE + timedelta(days=n))
    identity.change_configuration(brand, {"business_date": DAY})
    kept = loans.get(brand, healthy)
    quiet = kept.cob_quiet_until(DAY - timedelta(days=1))
    assert quiet is not None and quiet > DAY, quiet
    return {"healthy": healthy, "overdue": overdue, "version": kept.version, "quiet_until": quiet}


def _copy(platform: Platform, brand: UUID, template: dict[str, Any], count: int, *, watch: bool) -> dict[str, int]:
    """`count` copies of the templates under new ids: event rows, read-model rows and (`watch`) the COB's watch.
    Returns the copies by kind (O overdue, P paid since the last COB, H healthy and quiet)."""
    # Ids rising with n (a brand's own prefix): the copies are written in key order, so every index takes them at
    # its right edge instead of at random pages.
    prefix = f"{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:4]}-4{uuid.uuid4().hex[:3]}-8{uuid.uuid4().hex[:3]}-"
    args = template | {"count": count, "brand": brand, "prefix": prefix}
    pick = "CASE WHEN b.kind = 'O' THEN %(overdue)s::uuid ELSE %(healthy)s::uuid END"
    with platform.db.pool.connection() as conn:
        columns = [
            r["column_name"]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'read' "
                "AND table_name = 'loans' ORDER BY ordinal_position"
            ).fetchall()
        ]
        values = ", ".join(
            {"id": "b.id", "loan_number": "t.loan_number || '-' || b.n"}.get(c, f"t.{c}") for c in columns
        )
        conn.execute("DROP TABLE IF EXISTS bench_book")
        steps = [time.perf_counter()]
        conn.execute(
            "CREATE UNLOGGED TABLE bench_book AS SELECT (%(prefix)s || lpad(to_hex(n), 12, '0'))::uuid AS id, n, "
            "CASE WHEN n %% 10 = 0 THEN 'O' WHEN n %% 33 = 1 THEN 'P' ELSE 'H' END AS kind "
            "FROM generate_series(1, %(count)s) n ORDER BY n",
            args,
        )
        conn.execute(  # a nested loop over the book in n (= id) order: the rows arrive in key order, unsorted
            "INSERT INTO events.loans_events (originator_id, originator_version, topic, state) "
            "SELECT b.id, e.originator_version, e.topic, e.state FROM bench_book b CROSS JOIN LATERAL "
            "(SELECT originator_version, topic, state FROM events.loans_events "
            f"WHERE originator_id = {pick} ORDER BY originator_version) e",
            args,
        )
        steps.append(time.perf_counter())
        conn.execute(
            f"INSERT INTO read.loans ({', '.join(columns)}) SELECT {values} FROM bench_book b CROSS JOIN LATERAL "
            f"(SELECT * FROM read.loans WHERE id = {pick}) t",
            args,
        )
        steps.append(time.perf_counter())
        if watch:  # as the COB of the day before left the healthy ones; 'P': paid since (the watch is older)
            conn.execute(
                "INSERT INTO ops.loan_cob_watch (loan_id, brand_id, version, quiet_until) SELECT b.id, %(brand)s, "
                "CASE WHEN b.kind = 'P' THEN %(version)s - 1 ELSE %(version)s END, %(quiet_until)s "
                "FROM bench_book b WHERE b.kind <> 'O'",
                args,
            )
        steps.append(time.perf_counter())
        rows = conn.execute("SELECT kind, count(*) AS n FROM bench_book GROUP BY kind").fetchall()
        conn.execute("DROP TABLE bench_book")
    say(f"   {count:,} copies: events {steps[1] - steps[0]:.1f} s, read.loans {steps[2] - steps[1]:.1f} s, "
        f"watch {steps[3] - steps[2]:.1f} s")  # fmt: skip
    return {r["kind"]: r["n"] for r in rows}


def _events(platform: Platform) -> int:
    with platform.db.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM events.loans_events").fetchone()
    return int(row["n"] if isinstance(row, dict) else row[0])  # type: ignore[index]


def _cob(dsn: str, store: CobStore, brand: UUID, *, selective: bool) -> tuple[float, CobDay]:
    """Plan DAY, drain its partitions in WORKERS processes (started and connected before the clock starts, as the
    job's workers are), finish: seconds and the run record."""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(WORKERS + 1)
    go = context.Event()
    pool = [context.Process(target=_drain, args=(dsn, str(brand), ready, go)) for _ in range(WORKERS)]
    for process in pool:
        process.start()
    ready.wait(timeout=300)
    began = time.perf_counter()
    assert store.plan(brand, DAY, datetime.now(UTC), 500, selective=selective)
    go.set()
    for process in pool:
        process.join()
        assert process.exitcode == 0, process.exitcode
    day = store.finish(brand, DAY, datetime.now(UTC))
    seconds = time.perf_counter() - began
    assert day is not None and day.state == "done" and not store.pending(brand, DAY)
    return seconds, day


def _drain(dsn: str, brand: str, ready: Any, go: Any) -> None:
    """One worker process: its own platform, then partitions claimed until none is left."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
    try:
        loans = platform.get(Loans)
        loans._catalogue = _Catalogue()
        port = loan_cob.CobPort(loans, platform.get(Identity), platform.engine, platform.get(CobStore))
        ready.wait(timeout=300)
        go.wait(timeout=300)
        while not port.store.day(UUID(brand), DAY):  # the plan is committed before `go`: never long
            time.sleep(0.01)
        for _ in loan_cob.drain(port, UUID(brand), DAY, f"bench-{os.getpid()}"):
            pass
    finally:
        platform.close()


def _check(day: CobDay, kinds: dict[str, int], total: int) -> None:
    """The run did the work: every overdue loan closed (and no other), the quiet healthy ones passed over, the
    healthy ones paid since the last COB loaded (the templates are loans of the book too)."""
    assert day.loans == total + 2 and day.closed == kinds["O"] + 1 and day.quiet == kinds["H"], (day, kinds)
