"""Repayment operations (issue #5): the Softmedia notice sync at scale, and the dashboard and feeds at 1M notices.

Run alone with `python -m tests.benchmarks.notices [--quick] [--only sync|queries] [--notices N]
[--borrowers N] [--rows N]`.

1. Sync (100,000 notices matched against 1,000,000 borrowers; 10,000 against
   100,000 with --quick). The matcher reads only the customer directory
   (`read.customers`: name_key, phone, alternate_numbers, loan_numbers), so the
   borrowers are loaded straight into it with COPY, as search.py does, and its
   indexes are built from CustomerDirectory.ddl afterwards. The simulator
   (`adapters.softmedia_simulator`) serves two companies on loopback, its
   dataset generated with SimBorrowers made from the same identities, so about
   70 % of the notices belong to loaded borrowers (by loan number, by phone
   written another way, or by name alone) and the rest to strangers. Both
   sources are connected as the API connects them, every projection runner
   follows (`start_projection_runners`, as in the worker process), and one
   sync per source is requested (`SyncRequests.request`) and executed as the
   scheduler does (`Scheduler.execute(job_run_id(...))`, pages of 500); the
   clock runs until the read models have caught up with the last event.
   Printed: notices/s and total time, pages, matched share and band
   distribution from read.notices, and where the time went (HTTP fetch and
   parse, the matcher's two lookups and its scoring, recording pages, the
   rest), measured by wrapping the client factory, the matcher and
   `record_page`. Baseline: a raw pull of the same pages through
   `SoftmediaClient.pages` with nothing recorded, half before and half after
   the sync (ratio = sync rate / raw pull rate). Checks: both runs succeeded,
   read.notices holds exactly the well-formed notices the raw pull saw, every
   notice carrying a loaded borrower's loan number is matched to that
   borrower, and a second sync of the unchanged data writes no notice event
   (only the runs' own: started, one per page, finished, and the source's
   start and end), timed too.

2. Queries (1,000,000 notices in read.notices; 100,000 with --quick). The
   dashboard and feeds read only the read tables, so read.notices is loaded
   directly with COPY (5 companies of unequal size, 85 % overdue and 15 %
   upcoming, days overdue 1..720 skewed to small values with due dates to
   match, amounts 500..5,00,000 rupees with paise, 7 % inactive, matches of
   every band), read.notice_totals is filled with one INSERT ... SELECT ...
   GROUP BY, and the indexes are built from NoticeViews.ddl after the load
   (then VACUUM ANALYZE), so a change to them is what gets measured. Calls go
   through NoticeQueries, the code the API calls: the dashboard for all
   companies, for one company and for staff who see two companies, and the
   overdue feed filtered by company and a due-date window (days-past-due
   buckets 1-30, 31-60, 61-90, 91-180, 181-720) as first pages and pages 2-5
   via the cursor, for one company and for the two-company staff. Printed:
   p50/p95/p99 per kind and per window, and for any kind over target the
   EXPLAIN ANALYZE of its slowest statement: its custom plan (values known)
   and, when slower, its generic plan (psycopg prepares a statement on its
   fifth run on a connection, and PostgreSQL may then keep one plan for any
   values). Baseline: a primary-key lookup of one notice on the same table and
   pool. Checks: dashboard totals and top notices agree with plain SQL, and
   every feed page holds only active overdue notices of the asked companies
   and window, in feed order, full when more exist, and pages of a walk do not
   overlap.

A quick run takes about half a minute; a full run 20 to 30 minutes on a 2-CPU
machine: the sync about 15 (nearly all of it in the matcher's name lookups),
the queries 6 to 13 (walking to the pages 2-5 to time takes most of it).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from psycopg import sql as psycopg_sql

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from adapters.postgres import Database
from adapters.softmedia import SoftmediaClient
from adapters.softmedia_simulator import Dataset, SimBorrower, SoftmediaSimulator
from api.services.notice_syncs import SyncRequests
from domain.jobs.job import RunStatus
from domain.notices.notice import Notice
from domain.notices.triggering import job_run_id
from domain.shared.aggregate import acting_as
from domain.shared.values import mask_pan
from projections.customers import CustomerDirectory
from projections.engine import topics_of
from projections.notices import NoticeQueries, NoticeViews, Scope
from tests.benchmarks.data import FIRST_NAMES, LAST_NAMES, Borrower, BorrowerFactory
from tests.benchmarks.harness import Rate, Verdict, fresh_database, percentile, say
from tests.benchmarks.search import COLUMNS as CUSTOMER_COLUMNS
from tests.benchmarks.search import _copy_text
from workers import notice_sync
from workers.platform import Platform
from workers.runtime import scheduler_for

FULL_NOTICES, QUICK_NOTICES = 100_000, 10_000
FULL_BORROWERS, QUICK_BORROWERS = 1_000_000, 100_000
FULL_ROWS, QUICK_ROWS = 1_000_000, 100_000
FULL_CALLS, QUICK_CALLS = 300, 120  # timed calls per query kind

#: Targets of ours (the issue names none): the dashboard and a filtered overdue page at a million notices.
TARGET_DASHBOARD_P95_MS = 50.0
TARGET_FEED_P95_MS = 50.0

TODAY = date(2026, 11, 28)
TOKEN = "bench-softmedia-token"
SYNC_COMPANIES = ("SML", "KFL")
KNOWN_SHARE = 0.7
NOTICE_TOPICS = topics_of(Notice.Imported, Notice.Changed, Notice.MarkedInactive, Notice.Reactivated, Notice.Matched)

#: Companies of the query benchmark, by share of the book; the limited staff see two of them.
QUERY_COMPANIES = (("SML", 0.36), ("KFL", 0.26), ("MFL", 0.18), ("HFC", 0.13), ("AGR", 0.07))
STAFF_COMPANIES = ("KFL", "HFC")
#: Days-past-due buckets staff filter the overdue feed by (SMA-0, SMA-1, SMA-2, then NPA in two).
WINDOWS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91-180", 91, 180), ("181-720", 181, 720))
FEED_LIMIT = 50
PROGRESS_SECONDS = 15.0


# Shared ----------------------------------------------------------------------------------------------------


class Ticker:
    """Says `report()` from a background thread while a long phase runs: after `every` seconds, then at doubling
    intervals up to two minutes (a long phase prints a few dozen lines, not hundreds)."""

    def __init__(self, report: Callable[[], str], every: float = PROGRESS_SECONDS) -> None:
        self.report = report
        self.every = every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-progress", daemon=True)

    def _run(self) -> None:
        interval = self.every
        while not self.stopping.wait(interval):
            say(f"     ... {self.report()}")
            interval = min(interval * 2, 120.0)

    def __enter__(self) -> Ticker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()


def _scalar(pool: Any, sql: str, *params: Any) -> Any:
    with pool.connection() as conn:
        row = conn.execute(sql, params).fetchone()
    return next(iter(row.values())) if row else None


def _index_names(ddl: tuple[str, ...]) -> list[str]:
    """The secondary indexes a projection's DDL creates."""
    return [
        m.group(1)
        for s in ddl
        if s.lstrip().upper().startswith("CREATE INDEX") and (m := re.search(r"EXISTS\s+(\w+)", s))
    ]


# 1. Sync ---------------------------------------------------------------------------------------------------


@dataclass
class Meter:
    """Where a sync's time goes, added up by the wrapped client, matcher and record_page."""

    pages: int = 0
    items: int = 0
    http: float = 0.0
    by_key: float = 0.0  # matcher: borrowers by loan number or phone
    by_name: float = 0.0  # matcher: trigram-similar names
    names: int = 0  # names looked up by trigram
    matching: float = 0.0  # the matcher as a whole
    recording: float = 0.0  # record_page as a whole (includes matching)
    last_by_key: Any = None  # the arguments of the last lookup of each kind, to EXPLAIN them afterwards
    last_by_name: Any = None

    def reset(self) -> None:
        for name, value in type(self)().__dict__.items():
            setattr(self, name, value)


class _TimedClient(SoftmediaClient):
    """SoftmediaClient adding the time spent fetching and parsing each page to a meter."""

    def __init__(self, meter: Meter, base_url: str, token: str, **kwargs: Any) -> None:
        super().__init__(base_url, token, **kwargs)
        self.meter = meter

    def fetch_page(self, mode: str, company: str, page: int) -> Any:
        began = time.perf_counter()
        result = super().fetch_page(mode, company, page)
        self.meter.http += time.perf_counter() - began
        self.meter.pages += 1
        self.meter.items += len(result.items) + result.malformed
        return result


class _TimedQueries:
    """The notice queries with the matcher's two lookups timed."""

    def __init__(self, queries: Any, meter: Meter) -> None:
        self._queries = queries
        self._meter = meter

    def borrowers_by_loan_or_phone(self, *args: Any, **kwargs: Any) -> Any:
        self._meter.last_by_key = (args, kwargs)
        began = time.perf_counter()
        try:
            return self._queries.borrowers_by_loan_or_phone(*args, **kwargs)
        finally:
            self._meter.by_key += time.perf_counter() - began

    def borrowers_by_name(self, brand_id: Any, name_keys: Any, *args: Any, **kwargs: Any) -> Any:
        self._meter.last_by_name = ((brand_id, name_keys, *args), kwargs)
        began = time.perf_counter()
        try:
            return self._queries.borrowers_by_name(brand_id, name_keys, *args, **kwargs)
        finally:
            self._meter.by_name += time.perf_counter() - began
            self._meter.names += len(set(name_keys))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queries, name)


@contextmanager
def _instrumented(platform: Platform, meter: Meter) -> Iterator[None]:
    """Time HTTP, matching and recording inside the real job (module hooks restored afterwards)."""

    class TimedMatcher(notice_sync.BorrowerMatcher):
        def __init__(self, platform: Any) -> None:
            super().__init__(platform)
            self.queries = _TimedQueries(self.queries, meter)

        def __call__(self, brand_id: Any, notices: Any) -> Any:
            began = time.perf_counter()
            try:
                return super().__call__(brand_id, notices)
            finally:
                meter.matching += time.perf_counter() - began

    record_page = platform.notices.record_page

    def timed_record_page(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return record_page(*args, **kwargs)
        finally:
            meter.recording += time.perf_counter() - began

    factory, matcher = notice_sync.client_factory, notice_sync.BorrowerMatcher
    notice_sync.client_factory = lambda url, token: _TimedClient(meter, url, token, page_size=notice_sync.PAGE_SIZE)
    notice_sync.BorrowerMatcher = TimedMatcher  # type: ignore[misc]
    platform.notices.record_page = timed_record_page  # type: ignore[method-assign]
    try:
        yield
    finally:
        notice_sync.client_factory, notice_sync.BorrowerMatcher = factory, matcher  # type: ignore[misc]
        del platform.notices.record_page


def _customer_line(b: Borrower, brand: uuid.UUID, rng: random.Random, created: datetime) -> str:
    """One read.customers row for COPY, shaped as the customer directory writes it."""
    alternates = [{"phone": b.alternate_phone, "label": "spouse"}] if b.alternate_phone else []
    address = {"kind": "current", "line1": "12 MG Road", "line2": None, "city": b.city, "state": b.state,
               "pincode": b.pincode}  # fmt: skip
    dob = f"{rng.randrange(1960, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    return "\t".join(
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            str(brand),
            _copy_text(b.name),
            _copy_text(b.name.lower()),
            b.phone,
            _copy_text(json.dumps(alternates)),
            "{" + (b.alternate_phone or "") + "}",
            _copy_text(b.email) if b.email else "\\N",
            b.pan,
            mask_pan(b.pan) or "\\N",
            dob,
            _copy_text(json.dumps([address])),
            "{" + ",".join(b.loan_numbers) + "}",
            "1",
            created.isoformat(),
            created.isoformat(),
        )
    )


def _load_borrowers(platform: Platform, brand_id: uuid.UUID, total: int) -> list[SimBorrower]:
    """COPY `total` borrowers into read.customers (indexes dropped, rebuilt after); their identities for the
    simulator."""
    factory = BorrowerFactory(seed=31)
    rng = random.Random(31)
    epoch = datetime(2021, 1, 1, tzinfo=UTC)
    identities: list[SimBorrower] = []
    directory = CustomerDirectory()
    with platform.db.pool.connection() as conn:
        for name in _index_names(directory.ddl):
            conn.execute(f"DROP INDEX IF EXISTS read.{name}")
    began = time.perf_counter()
    with platform.db.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy(f"COPY read.customers ({CUSTOMER_COLUMNS}) FROM STDIN") as copy:
            lines: list[str] = []
            for i in range(total):
                b = factory.borrower()
                lines.append(_customer_line(b, brand_id, rng, epoch + timedelta(minutes=i)))
                identities.append(SimBorrower(b.name, b.phone, list(b.loan_numbers)))
                if len(lines) == 20_000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
                if (i + 1) % 250_000 == 0 and i + 1 < total:
                    say(f"     ... {i + 1:,} borrowers copied ({time.perf_counter() - began:.0f} s)")
            if lines:
                copy.write("\n".join(lines) + "\n")
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    with platform.db.pool.connection() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        directory.create_secondary_indexes(conn)
        conn.execute("VACUUM ANALYZE read.customers")
    say(
        f"   loaded {total:,} borrowers into read.customers with COPY in {loaded:.1f} s, built its"
        f" {len(_index_names(directory.ddl))} indexes and analyzed in {time.perf_counter() - began:.1f} s"
    )
    return identities


@dataclass
class Pull:
    """A raw pull of every page of the sources."""

    rate: Rate
    pages: int
    malformed: int
    ids: set[tuple[str, str]] = field(default_factory=set)  # (company, notice id) of the well-formed notices


def _raw_pull(base_url: str, companies: tuple[str, ...]) -> Pull:
    """Every page of both modes of each company through SoftmediaClient, nothing recorded (the baseline)."""
    ids: set[tuple[str, str]] = set()
    pages = malformed = fetched = 0
    began = time.perf_counter()
    with SoftmediaClient(base_url, TOKEN, page_size=notice_sync.PAGE_SIZE) as client:
        for company in companies:
            for mode in ("overdue", "upcoming"):
                for page in client.pages(mode, company):
                    pages += 1
                    malformed += page.malformed
                    fetched += len(page.items) + page.malformed
                    ids.update((item.company_code, item.notice_id) for item in page.items)
    return Pull(Rate(fetched, time.perf_counter() - began), pages, malformed, ids)


@dataclass
class Synced:
    """One sync per source, executed and checked."""

    seconds: float  # every source's run, executed one after the other
    catch_up: float  # the read models reaching the last event after the last run
    runs: list[dict[str, Any]]  # read.sync_runs rows

    @property
    def total(self) -> float:
        return self.seconds + self.catch_up

    @property
    def fetched(self) -> int:
        return sum(r["fetched"] for r in self.runs)


def _sync_all(
    platform: Platform, brand_id: uuid.UUID, sources: dict[str, uuid.UUID], meter: Meter, label: str
) -> Synced:
    """Request and execute one sync per source as the scheduler does; wait for the read models."""
    run_ids: list[uuid.UUID] = []
    seconds = 0.0
    started = time.perf_counter()

    def progress() -> str:
        elapsed = time.perf_counter() - started
        return (
            f"{label}: {meter.pages:,} pages, {meter.items:,} notices in {elapsed:.0f} s ({meter.items / elapsed:,.0f}/s;"
            f" HTTP {meter.http:.0f} s, recording {meter.recording:.0f} s of which matching {meter.matching:.0f} s:"
            f" by loan or phone {meter.by_key:.0f} s, by trigram name {meter.by_name:.0f} s for {meter.names:,} names)"
        )

    with Ticker(progress), _instrumented(platform, meter):
        for company, source_id in sources.items():
            run_id = platform.port(SyncRequests).request(brand_id, source_id, trigger="manual", requested_by="bench")
            began = time.perf_counter()
            scheduler_for(platform).execute(job_run_id(run_id))
            seconds += time.perf_counter() - began
            job = platform.jobs.run(brand_id, job_run_id(run_id))
            if job.status is not RunStatus.SUCCEEDED:
                raise AssertionError(f"the {company} sync job ended {job.status.value}: {getattr(job, 'error', None)}")
            run_ids.append(run_id)
        began = time.perf_counter()
        if not platform.engine.wait_for("notices", platform.engine.head("notices"), timeout=1800):
            raise AssertionError("the notice read models did not catch up within 30 minutes")
        catch_up = time.perf_counter() - began
    runs = [platform.notice_queries.sync_run(Scope(brand_id), run_id) for run_id in run_ids]
    for company, run in zip(sources, runs, strict=True):
        if run is None or run["status"] != "succeeded":
            raise AssertionError(f"the {company} sync run did not succeed: {run}")
    return Synced(seconds, catch_up, [r for r in runs if r is not None])


def _check_notices(platform: Platform, brand_id: uuid.UUID, pull: Pull) -> dict[str, int]:
    """read.notices holds exactly the well-formed notices, and known loan numbers matched their borrower."""
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT company, source_notice_id FROM read.notices WHERE brand_id = %s AND active", (brand_id,)
        ).fetchall()
        stored = {(r["company"], r["source_notice_id"]) for r in rows}
        inactive = conn.execute("SELECT count(*) AS n FROM read.notices WHERE NOT active").fetchone()
        loans = conn.execute(
            "SELECT count(*) AS known, count(*) FILTER (WHERE n.match_customer_id = c.id) AS right, "
            "count(*) FILTER (WHERE n.match_band = 'high') AS high FROM read.notices n "
            "JOIN LATERAL (SELECT id FROM read.customers c WHERE c.brand_id = n.brand_id "
            "AND c.loan_numbers && ARRAY[n.loan_number]) c ON true WHERE n.brand_id = %s",
            (brand_id,),
        ).fetchone()
    if stored != pull.ids or len(rows) != len(pull.ids) or inactive["n"]:
        raise AssertionError(
            f"read.notices has {len(rows):,} active notices ({inactive['n']} inactive); the pull had {len(pull.ids):,}"
            f" well-formed ones; {len(pull.ids - stored):,} missing, {len(stored - pull.ids):,} unexpected"
        )
    if loans["known"] == 0 or loans["right"] != loans["known"] or loans["high"] != loans["known"]:
        raise AssertionError(
            f"of {loans['known']:,} notices carrying a loaded borrower's loan number, {loans['right']:,} matched that"
            f" borrower and {loans['high']:,} in the high band"
        )
    return {"known_by_loan": loans["known"]}


def _bands(platform: Platform, brand_id: uuid.UUID) -> tuple[int, Counter[str]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT match_band, count(*) AS n, count(match_customer_id) AS matched FROM read.notices "
            "WHERE brand_id = %s GROUP BY match_band",
            (brand_id,),
        ).fetchall()
    return sum(r["matched"] for r in rows), Counter({r["match_band"]: r["n"] for r in rows})


def _explain_matcher(platform: Platform, meter: Meter) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the statements the matcher's last two lookups ran (made again on a recording pool)."""
    plans: dict[str, list[str]] = {}
    if meter.last_by_key is not None:
        (brand_id, loans, phones, *rest), kwargs = meter.last_by_key
        recorder = _Recorder(platform.db.pool)
        NoticeQueries(recorder).borrowers_by_loan_or_phone(brand_id, loans, phones, *rest, **kwargs)
        label = f"lookup by loan number or phone ({len(set(loans))} loan numbers, {len(set(phones))} phones)"
        plans[label] = _explain(platform.db, recorder.statements)
    if meter.last_by_name is not None:
        (brand_id, names, *rest), kwargs = meter.last_by_name
        recorder = _Recorder(platform.db.pool)
        NoticeQueries(recorder).borrowers_by_name(brand_id, names, *rest, **kwargs)
        plans[f"lookup by trigram name ({len(set(names))} names)"] = _explain(platform.db, recorder.statements)
    return plans


def run_sync(quick: bool, notices: int | None = None, borrowers: int | None = None) -> list[Verdict]:
    """Load the borrowers, serve the notices, time a sync per source against a raw pull, check, sync again."""
    total_notices = notices or (QUICK_NOTICES if quick else FULL_NOTICES)
    total_borrowers = borrowers or (QUICK_BORROWERS if quick else FULL_BORROWERS)
    per_company = total_notices // len(SYNC_COMPANIES)
    say(
        f"== Softmedia notice sync ({per_company * len(SYNC_COMPANIES):,} notices of {len(SYNC_COMPANIES)} companies"
        f" on loopback, matched against {total_borrowers:,} borrowers)"
    )
    meter = Meter()
    with fresh_database("cd_bench_notices") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        simulator: SoftmediaSimulator | None = None
        try:
            brand_id = platform.identity.create_brand("bench-notices", "Bench Repayments Finance").id
            identities = _load_borrowers(platform, brand_id, total_borrowers)
            began = time.perf_counter()
            dataset = Dataset.generate(
                7, list(SYNC_COMPANIES), per_company, TODAY, borrowers=identities, known_share=KNOWN_SHARE
            )
            del identities
            simulator = SoftmediaSimulator(dataset, token=TOKEN)
            simulator.start()
            counts = {m: sum(dataset.count(m, c) for c in SYNC_COMPANIES) for m in ("overdue", "upcoming")}
            say(
                f"   simulator dataset generated and served in {time.perf_counter() - began:.1f} s:"
                f" {counts['overdue']:,} overdue and {counts['upcoming']:,} upcoming notices,"
                f" about {KNOWN_SHARE:.0%} of them of loaded borrowers"
            )
            platform.outbound.allow(simulator.base_url)  # a loopback simulator: allowed like the demo's
            with acting_as("bench"):
                sources = {
                    company: platform.notices.connect_source(
                        brand_id, company=company, base_url=simulator.base_url, token=TOKEN, schedule="0 * * * *"
                    ).id
                    for company in SYNC_COMPANIES
                }
            for source_id in sources.values():
                platform.ops.set_source_token(brand_id, source_id, TOKEN)

            raw_before = _raw_pull(simulator.base_url, SYNC_COMPANIES)
            platform.start_projection_runners()
            for source in {p.source for p in platform.engine.projections.values()}:
                platform.engine.wait_for(source, platform.engine.head(source), timeout=60)
            say(
                f"   sources connected, every projection runner following; raw pull {raw_before.rate.per_second:,.0f}"
                f" notices/s; syncing (progress after {PROGRESS_SECONDS:.0f} s, then at doubling intervals) ..."
            )
            first = _sync_all(platform, brand_id, sources, meter, "first sync")
            timing = Meter(**meter.__dict__)
            plans = _explain_matcher(platform, timing)
            raw_after = _raw_pull(simulator.base_url, SYNC_COMPANIES)
            checks = _check_notices(platform, brand_id, raw_before)
            matched, bands = _bands(platform, brand_id)

            events_before = platform.notices.recorder.max_notification_id() or 0
            meter.reset()
            second = _sync_all(platform, brand_id, sources, meter, "second sync")
            events_after = platform.notices.recorder.max_notification_id() or 0
            written = platform.notices.recorder.select_notifications(
                start=events_before, limit=1_000_000, stop=events_after, topics=list(NOTICE_TOPICS),
                inclusive_of_start=False,
            )  # fmt: skip
        finally:
            if simulator is not None:
                simulator.stop()
            for runner in platform.runners:
                runner.stop()
            for runner in platform.runners:
                runner.join(timeout=5)  # Longer than close() gives them, so none outlives the database.
            platform.close()

    raw = raw_before.rate + raw_after.rate
    rate = Rate(first.fetched, first.total)
    pages = sum(r["pages"] for r in first.runs)
    say(
        f"   raw pull, nothing recorded (baseline)   {raw.per_second:9,.0f} notices/s  ({raw_before.pages:,} pages,"
        f" {raw_before.rate.operations:,} notices: {raw_before.rate.seconds:.1f} s before the sync,"
        f" {raw_after.rate.seconds:.1f} s after)"
    )
    say(
        f"   sync as the scheduler runs it           {rate.per_second:9,.0f} notices/s  ({first.fetched:,} notices in"
        f" {pages:,} pages in {first.total:.1f} s: runs {first.seconds:.1f} s, read models caught up"
        f" {first.catch_up:.1f} s after)   ratio to raw pull {rate.per_second / raw.per_second:.4f}"
        f" (the raw pull is {raw.per_second / rate.per_second:,.0f}x faster)"
    )
    for company, run in zip(sources, first.runs, strict=True):
        say(
            f"     {company}: {run['pages']} pages, {run['fetched']:,} fetched, {run['created']:,} created,"
            f" {run['matched']:,} matched, {run['malformed']} malformed, run recorded {run['duration_ms'] / 1000:.1f} s"
        )
    rest = first.seconds - timing.http - timing.recording
    say(
        f"   where the runs' {first.seconds:.1f} s went: HTTP fetch + parse {timing.http:.1f} s"
        f" ({timing.http / first.seconds:.0%}), recording pages {timing.recording - timing.matching:.1f} s"
        f" ({(timing.recording - timing.matching) / first.seconds:.0%}: load notices, events, commit),"
        f" matching {timing.matching:.1f} s ({timing.matching / first.seconds:.0%}), the rest {rest:.1f} s"
        f" ({rest / first.seconds:.0%}: job batches, staleness, start and finish)"
    )
    say(
        f"     matching: borrowers by loan number or phone {timing.by_key:.1f} s, by trigram name"
        f" {timing.by_name:.1f} s for {timing.names:,} names"
        f" ({timing.by_name / max(timing.names, 1) * 1000:.1f} ms a name),"
        f" scoring {timing.matching - timing.by_key - timing.by_name:.1f} s"
    )
    total = sum(bands.values())
    say(
        f"   matched {matched:,} of {total:,} notices ({matched / total:.1%}; about {KNOWN_SHARE:.0%} belong to"
        f" loaded borrowers): "
        + ", ".join(
            f"{band} {bands[band]:,} ({bands[band] / total:.1%})" for band in ("high", "medium", "low", "unmatched")
        )
    )
    for label, lines in plans.items():
        say(f"   EXPLAIN ANALYZE of the matcher's last {label}:")
        _say_plan(lines)
    expected_events = sum(r["pages"] + 4 for r in second.runs)
    say(
        f"   checked: read.notices has the {len(raw_before.ids):,} well-formed notices; all"
        f" {checks['known_by_loan']:,} carrying a loaded borrower's loan number matched it (high)"
    )
    say(
        f"   second sync, data unchanged: {second.total:.1f} s ({second.fetched / second.total:,.0f} notices/s),"
        f" {sum(r['unchanged'] for r in second.runs):,} unchanged, {len(written)} notice events,"
        f" {events_after - events_before} events in all (the runs' own: {expected_events})"
    )
    if (
        written
        or events_after - events_before != expected_events
        or any(r["created"] or r["updated"] or r["reactivated"] for r in second.runs)
    ):
        raise AssertionError(f"the second sync wrote {len(written)} notice events: {second.runs}")
    return []


# 2. Queries ------------------------------------------------------------------------------------------------

NOTICE_COLUMNS = (
    "id, brand_id, source_id, company, source_notice_id, loan_number, customer_name, phone, phone_e164, due_date, "
    "instalment_no, amount_due, days_overdue, mode, active, source_updated_at, match_customer_id, match_confidence, "
    "match_band, match_methods, match_candidates, version, first_seen_at, updated_at"
)
_BANDS = (("high", 0.55, (80, 100)), ("medium", 0.1, (50, 79)), ("low", 0.05, (30, 49)), ("unmatched", 0.3, (0, 0)))
_METHODS = ("{loan_number,phone,name}", "{loan_number,phone}", "{loan_number}", "{phone,name}", "{phone}", "{name}")


def _amount_paise(rng: random.Random, overdue_days: int) -> int:
    """An instalment of 500 to 5,00,000 rupees with paise, mostly a few thousand; penal charges when overdue."""
    rupees = max(500, min(int(rng.lognormvariate(9.0, 0.9)), 480_000))
    paise = rupees * 100 + (0 if rng.random() < 0.4 else rng.randint(1, 99))
    if overdue_days:
        paise += paise * min(overdue_days, 180) // 1500
    return min(paise, 50_000_000)


def _notice_line(
    rng: random.Random, serial: int, brand: uuid.UUID, company: str, source: uuid.UUID, now: datetime
) -> str:
    """One read.notices row for COPY, shaped as the notice views write it."""
    overdue = rng.random() < 0.85
    if overdue:
        days = min(720, 1 + int(rng.expovariate(1 / 60)))
        due = TODAY - timedelta(days=days)
    else:
        days = 0
        due = TODAY + timedelta(days=rng.randint(0, 60))
    paise = _amount_paise(rng, days)
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    digits = f"{rng.randrange(6, 10)}{rng.randrange(10**9):09d}"
    phone = rng.choice((digits, f"{digits[:5]} {digits[5:]}", f"+91 {digits}", f"0{digits[:5]}-{digits[5:]}"))
    band, _, (low, high) = rng.choices(_BANDS, weights=[b[1] for b in _BANDS])[0]
    customer = "\\N" if band == "unmatched" else str(uuid.UUID(int=rng.getrandbits(128), version=4))
    candidates = (
        "[]"
        if band in ("high", "unmatched")
        else json.dumps([{"customer_id": customer, "confidence": low, "methods": ["name"]}])
    )
    seen = now - timedelta(days=min(days, 400) + rng.randint(0, 30), minutes=rng.randint(0, 1440))
    return "\t".join(
        (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            str(brand),
            str(source),
            company,
            f"{company}-{serial:08d}",
            f"{company}{rng.randrange(10**9, 10**10):010d}",
            name,
            phone,
            "+91" + digits,
            due.isoformat(),
            str(rng.randint(1, 36)),
            f"{paise // 100}.{paise % 100:02d}",
            str(days),
            "overdue" if overdue else "upcoming",
            "f" if rng.random() < 0.07 else "t",
            (now - timedelta(hours=rng.randint(1, 72))).isoformat(),
            customer,
            str(rng.randint(low, high)),
            band,
            "{}" if band == "unmatched" else rng.choice(_METHODS),
            candidates,
            str(rng.randint(2, 6)),
            seen.isoformat(),
            (now - timedelta(hours=rng.randint(1, 72))).isoformat(),
        )
    )


def _load_notices(db: Database, brand_id: uuid.UUID, total: int) -> None:
    """COPY `total` notices into read.notices, then totals, sources, the product's indexes and statistics."""
    views = NoticeViews()
    rng = random.Random(17)
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=3)
    sources = {company: uuid.UUID(int=rng.getrandbits(128), version=4) for company, _ in QUERY_COMPANIES}
    names, weights = [c for c, _ in QUERY_COMPANIES], [w for _, w in QUERY_COMPANIES]
    with db.pool.connection() as conn:
        views.create(conn, secondary_indexes=False)
    began = time.perf_counter()
    serials: Counter[str] = Counter()
    with db.pool.connection() as conn, conn.cursor() as cur:
        with cur.copy(f"COPY read.notices ({NOTICE_COLUMNS}) FROM STDIN") as copy:
            lines: list[str] = []
            for i in range(total):
                company = rng.choices(names, weights)[0]
                serials[company] += 1
                lines.append(_notice_line(rng, serials[company], brand_id, company, sources[company], now))
                if len(lines) == 20_000:
                    copy.write("\n".join(lines) + "\n")
                    lines = []
                if (i + 1) % 250_000 == 0 and i + 1 < total:
                    say(f"     ... {i + 1:,} notices copied ({time.perf_counter() - began:.0f} s)")
            if lines:
                copy.write("\n".join(lines) + "\n")
    loaded = time.perf_counter() - began
    began = time.perf_counter()
    with db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.notice_totals (brand_id, company, mode, count, total) "
            "SELECT brand_id, company, mode, count(*), sum(amount_due) FROM read.notices WHERE active "
            "GROUP BY brand_id, company, mode"
        )
        for company, source_id in sources.items():
            conn.execute(
                "INSERT INTO read.notice_sources (id, brand_id, company, base_url, schedule, enabled, token_hint, "
                "last_status, last_success_at, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, '*/30 * * * *', true, '…oken', 'succeeded', %s, %s, %s)",
                (source_id, brand_id, company, f"https://{company.lower()}.softmedia.example", now, now, now),
            )
        conn.execute("SET maintenance_work_mem = '256MB'")
        views.create_secondary_indexes(conn)
        conn.execute("VACUUM ANALYZE read.notices")
        conn.execute("ANALYZE read.notice_totals")
        conn.execute("ANALYZE read.notice_sources")
    say(
        f"   loaded read.notices directly with COPY in {loaded:.1f} s; totals, sources, its"
        f" {len(_index_names(views.ddl))} indexes and statistics in {time.perf_counter() - began:.1f} s"
        f" (companies {', '.join(f'{c} {w:.0%}' for c, w in QUERY_COMPANIES)})"
    )


@dataclass(frozen=True)
class Call:
    """One timed query: its kind, the due window when it has one, and how to make it again."""

    kind: str
    window: str | None
    run: Callable[[], Any]


class _Recorder:
    """A pool whose connections note each statement (to EXPLAIN the slowest statement of a slow call)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            yield _RecordingConnection(conn, self.statements)


class _RecordingConnection:
    def __init__(self, conn: Any, statements: list[tuple[str, Any]]) -> None:
        self.conn = conn
        self.statements = statements

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:  # transaction() and the rest, unrecorded
        return getattr(self.conn, name)


def _check_feed(page: Any, companies: set[str], window: tuple[int, int], previous: set[Any]) -> None:
    """Active overdue notices of the companies and window, in feed order, not seen on an earlier page."""
    items = page.items
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


def _mix(queries: NoticeQueries, brand_id: uuid.UUID, rng: random.Random, per_kind: int) -> list[Call]:
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


def _check_queries(db: Database, queries: NoticeQueries, brand_id: uuid.UUID) -> None:
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
    board = queries.dashboard(Scope(brand_id))
    mine = queries.dashboard(staff)
    if (
        board["overdue"] != {"count": totals["n"], "amount": str(totals["amount"])}
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


def _numbered(text: str, params: Any) -> tuple[str, list[Any]]:
    """A psycopg statement (%s or %(name)s placeholders) with $1, $2, ... instead, and its values in that order."""
    values: list[Any] = []
    if isinstance(params, dict):
        numbers: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in numbers:
                numbers[match.group(1)] = len(numbers) + 1
                values.append(params[match.group(1)])
            return f"${numbers[match.group(1)]}"

        text = re.sub(r"(?<!%)%\((\w+)\)s", number, text)
    else:
        values = list(params or ())
        counter = iter(range(1, len(values) + 1))
        text = re.sub(r"(?<!%)%s", lambda _: f"${next(counter)}", text)
    return text.replace("%%", "%"), values


def _explain(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN ANALYZE of the slowest of the statements (all run again, in order, in one transaction), with the
    values known (a custom plan) and, when it is slower, as a generic plan: psycopg prepares a statement on its
    fifth run on a connection, and PostgreSQL may then plan it once for any values."""
    if not statements:
        return []
    timed: list[tuple[float, str, Any]] = []
    # In one transaction, in order, so that a SET LOCAL among them holds for the statements after it.
    with db.pool.connection() as conn, conn.transaction():
        for text, params in statements:
            began = time.perf_counter()
            cursor = conn.execute(text, params, prepare=False)
            if cursor.description is not None:  # a SET has no rows
                cursor.fetchall()
            timed.append(((time.perf_counter() - began) * 1000, text, params))
        custom_ms, text, params = max(timed, key=lambda t: t[0])
        custom = [r["QUERY PLAN"] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params, prepare=False)]
        numbered, values = _numbered(text, params)
        arguments = psycopg_sql.SQL(", ").join(psycopg_sql.Literal(v) for v in values)
        conn.execute(f"PREPARE bench_plan AS {numbered}")
        try:
            conn.execute("SET plan_cache_mode = force_generic_plan")
            execute = psycopg_sql.SQL("EXECUTE bench_plan ({})").format(arguments) if values else "EXECUTE bench_plan"
            conn.execute(execute).fetchall()
            began = time.perf_counter()
            conn.execute(execute).fetchall()
            generic_ms = (time.perf_counter() - began) * 1000
            generic = [
                r["QUERY PLAN"]
                for r in conn.execute(psycopg_sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(execute)).fetchall()
            ]
        finally:
            conn.execute("RESET plan_cache_mode")
            conn.execute("DEALLOCATE bench_plan")
    shown = text if len(text) < 400 else text[:200] + " ... " + text[-190:]
    lines = [
        f"slowest statement: {custom_ms:.1f} ms with a custom plan, {generic_ms:.1f} ms with a generic plan: {shown}",
        "custom plan (values known):",
        *custom,
    ]
    if generic_ms > 2 * custom_ms and generic_ms > 5:
        lines += ["generic plan (a prepared statement's, values unknown when planned):", *generic]
    return lines


def _say_plan(lines: list[str], width: int = 180) -> None:
    """A plan without its buffer and planning lines, each line cut to `width` (literal arrays run long)."""
    for line in lines:
        if line.lstrip().startswith(("Buffers:", "Planning:")):
            continue
        say(f"     {line if len(line) <= width else line[: width - 1] + '…'}")


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
            _load_notices(db, brand_id, total)
            queries = NoticeQueries(db.pool)
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
                    recorder = _Recorder(db.pool)
                    call = slowest[kind][1]
                    original, queries.pool = queries.pool, recorder
                    try:
                        call.run()
                    finally:
                        queries.pool = original
                    explained[kind] = _explain(db, recorder.statements)
        finally:
            db.close()

    say(f"   {sum(map(len, timings.values())):,} calls (NoticeQueries, {FEED_LIMIT} a feed page), by kind:"
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
        _say_plan(lines)
    return [
        Verdict("notices", "dashboard p95", dash95, TARGET_DASHBOARD_P95_MS, False, " ms"),
        Verdict("notices", "filtered overdue page p95", feed95, TARGET_FEED_P95_MS, False, " ms"),
    ]


def run(quick: bool) -> list[Verdict]:
    """Both repayment-operations benchmarks."""
    return run_sync(quick) + run_queries(quick)


def main(argv: list[str] | None = None) -> int:
    """Run this benchmark alone and report; the exit status says whether every target was met."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.notices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller data (a smoke test)")
    parser.add_argument("--only", choices=("sync", "queries"), help="run one of the two benchmarks")
    parser.add_argument("--notices", type=int, help=f"notices the sync pulls (default {FULL_NOTICES:,})")
    parser.add_argument(
        "--borrowers", type=int, help=f"borrowers the sync matches against (default {FULL_BORROWERS:,})"
    )
    parser.add_argument("--rows", type=int, help=f"notices in read.notices for the queries (default {FULL_ROWS:,})")
    args = parser.parse_args(argv)
    # The library and pool log at INFO per connection; the report is the output here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    chosen: list[Callable[[], list[Verdict]]] = []
    if args.only in (None, "sync"):
        chosen.append(lambda: run_sync(args.quick, args.notices, args.borrowers))
    if args.only in (None, "queries"):
        chosen.append(lambda: run_queries(args.quick, args.rows))
    started = time.perf_counter()
    say(f"Repayment operations benchmarks ({'quick' if args.quick else 'full'} run)")
    say()
    verdicts: list[Verdict] = []
    for benchmark in chosen:
        began = time.perf_counter()
        verdicts += benchmark()
        say(f"   ({time.perf_counter() - began:.0f} s)")
        say()
    for verdict in verdicts:
        say(verdict.line())
    failed = [v for v in verdicts if not v.passed]
    say(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} targets met in {time.perf_counter() - started:.0f} s"
        + (" -- FAILED" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
