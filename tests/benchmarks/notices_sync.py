"""The Softmedia notice sync at scale: see tests/benchmarks/notices.py."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from adapters.outbound import OutboundPolicy
from adapters.simulators.softmedia import Dataset, SoftmediaSimulator
from adapters.softmedia import SoftmediaClient
from api.services.notice_syncs import SyncRequests
from domain.identity.application import Identity
from domain.jobs.application import Jobs
from domain.jobs.job import RunStatus
from domain.notices.application import Notices
from domain.notices.notice import Notice
from domain.notices.triggering import job_run_id
from domain.shared.aggregate import acting_as
from projections.notice_queries import NoticeQueries, Scope
from projections.notice_sources import NoticeSourceQueries
from projections.projection import topics_of
from tests.benchmarks.harness import CpuSplit, Rate, Verdict, fresh_database, say
from tests.benchmarks.notices_data import (
    KNOWN_SHARE,
    SYNC_COMPANIES,
    TODAY,
    TOKEN,
    load_borrowers,
)
from tests.benchmarks.plans import PROGRESS_SECONDS, Recorder, Ticker, explain, say_plan
from workers import notice_sync
from workers.platform import Platform
from workers.runtime import scheduler_for

FULL_NOTICES, QUICK_NOTICES = 100_000, 10_000
FULL_BORROWERS, QUICK_BORROWERS = 1_000_000, 100_000

#: The product's target (issue #11): 100,000 notices matched against a million borrowers in under a minute.
TARGET_NOTICES_PER_SECOND = 2_000.0

NOTICE_TOPICS = topics_of(Notice.Imported, Notice.Changed, Notice.MarkedInactive, Notice.Reactivated, Notice.Matched)


@dataclass
class Meter:
    """Where a sync's time goes, added up by the wrapped client, matcher and record_page."""

    pages: int = 0
    items: int = 0
    http: float = 0.0  # fetching and parsing pages (on the sync's fetching thread, beside the recording)
    ahead: float = 0.0  # matching a page ahead, on the fetching thread (lookups and scoring)
    waiting: float = 0.0  # the job waiting for its next page (the fetch's time not hidden behind the recording)
    by_key: float = 0.0  # matcher: borrowers by loan number or phone
    by_name: float = 0.0  # matcher: borrowers by name keys
    names: int = 0  # names looked up by their keys
    matching: float = 0.0  # the matcher as the recording calls it (notices not matched ahead)
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
        def __init__(self, queries: Any, *args: Any) -> None:
            timed: Any = queries if isinstance(queries, _TimedQueries) else _TimedQueries(queries, meter)
            super().__init__(timed, *args)

        def prepare(self, brand_id: Any, facts: Any) -> Any:
            began = time.perf_counter()
            try:
                return super().prepare(brand_id, facts)
            finally:
                meter.ahead += time.perf_counter() - began

        def __call__(self, brand_id: Any, notices: Any) -> Any:
            began = time.perf_counter()
            try:
                return super().__call__(brand_id, notices)
            finally:
                meter.matching += time.perf_counter() - began

    record_page = platform.get(Notices).record_page

    def timed_record_page(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return record_page(*args, **kwargs)
        finally:
            meter.recording += time.perf_counter() - began

    prefetching = notice_sync._prefetching

    def timed_prefetching(
        pages: Iterator[Any], prepare: Any, ahead: int = notice_sync.PREPARED_AHEAD
    ) -> Generator[Any, None, None]:
        inner = prefetching(pages, prepare, ahead)
        try:
            while True:
                began = time.perf_counter()
                page = next(inner, None)
                meter.waiting += time.perf_counter() - began
                if page is None:
                    return
                yield page
        finally:
            inner.close()

    factory, matcher = notice_sync.client_factory, notice_sync.BorrowerMatcher
    notice_sync.client_factory = lambda url, token: _TimedClient(meter, url, token, page_size=notice_sync.PAGE_SIZE)
    notice_sync.BorrowerMatcher = TimedMatcher  # type: ignore[misc,assignment]
    notice_sync._prefetching = timed_prefetching
    platform.get(Notices).record_page = timed_record_page  # type: ignore[method-assign]
    try:
        yield
    finally:
        notice_sync.client_factory, notice_sync.BorrowerMatcher = factory, matcher  # type: ignore[misc]
        notice_sync._prefetching = prefetching
        del platform.get(Notices).record_page


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
    cpu: float  # CPU seconds of this process meanwhile (the job, the projection runners, the simulator)
    split: CpuSplit  # the same by thread, and PostgreSQL's

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
    started, cpu = time.perf_counter(), time.process_time()
    split = CpuSplit().start()

    def progress() -> str:
        elapsed = time.perf_counter() - started
        return (
            f"{label}: {meter.pages:,} pages, {meter.items:,} notices in {elapsed:.0f} s ({meter.items / elapsed:,.0f}/s;"
            f" HTTP {meter.http:.0f} s, matching ahead {meter.ahead:.0f} s, recording {meter.recording:.0f} s of which"
            f" matching {meter.matching:.0f} s:"
            f" by loan or phone {meter.by_key:.0f} s, by name {meter.by_name:.0f} s for {meter.names:,} names)"
        )

    with Ticker(progress), _instrumented(platform, meter):
        for company, source_id in sources.items():
            run_id = platform.port(SyncRequests).request(brand_id, source_id, trigger="manual", requested_by="bench")
            began = time.perf_counter()
            scheduler_for(platform).execute(job_run_id(run_id))
            seconds += time.perf_counter() - began
            job = platform.get(Jobs).run(brand_id, job_run_id(run_id))
            if job.status is not RunStatus.SUCCEEDED:
                raise AssertionError(f"the {company} sync job ended {job.status.value}: {getattr(job, 'error', None)}")
            run_ids.append(run_id)
        began = time.perf_counter()
        if not platform.engine.wait_for("notices", platform.engine.head("notices"), timeout=1800):
            raise AssertionError("the notice read models did not catch up within 30 minutes")
        catch_up = time.perf_counter() - began
    found = [platform.get(NoticeSourceQueries).sync_run(Scope(brand_id), run_id) for run_id in run_ids]
    runs = [asdict(r) if r is not None else None for r in found]
    for company, run in zip(sources, runs, strict=True):
        if run is None or run["status"] != "succeeded":
            raise AssertionError(f"the {company} sync run did not succeed: {run}")
    cpu = time.process_time() - cpu
    return Synced(seconds, catch_up, [r for r in runs if r is not None], cpu, split.stop())


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
        recorder = Recorder(platform.db.pool)
        NoticeQueries(recorder).borrowers_by_loan_or_phone(brand_id, loans, phones, *rest, **kwargs)
        label = f"lookup by loan number or phone ({len(set(loans))} loan numbers, {len(set(phones))} phones)"
        plans[label] = explain(platform.db, recorder.statements)
    if meter.last_by_name is not None:
        (brand_id, names, *rest), kwargs = meter.last_by_name
        recorder = Recorder(platform.db.pool)
        NoticeQueries(recorder).borrowers_by_name(brand_id, names, *rest, **kwargs)
        plans[f"lookup by name keys ({len(set(names))} names)"] = explain(platform.db, recorder.statements)
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
            brand_id = platform.get(Identity).create_brand("bench-notices", "Bench Repayments Finance").id
            identities = load_borrowers(platform, brand_id, total_borrowers)
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
            platform.get(OutboundPolicy).allow(simulator.base_url)  # a loopback simulator: allowed like the demo's
            with acting_as("bench"):
                sources = {
                    company: platform.get(Notices)
                    .connect_source(
                        brand_id, company=company, base_url=simulator.base_url, token=TOKEN, schedule="0 * * * *"
                    )
                    .id
                    for company in SYNC_COMPANIES
                }

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

            events_before = platform.get(Notices).recorder.max_notification_id() or 0
            meter.reset()
            second = _sync_all(platform, brand_id, sources, meter, "second sync")
            events_after = platform.get(Notices).recorder.max_notification_id() or 0
            written = platform.get(Notices).recorder.select_notifications(
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
    rest = first.seconds - timing.waiting - timing.recording
    say(
        f"   where the runs' {first.seconds:.1f} s went: waiting for the next page {timing.waiting:.1f} s"
        f" ({timing.waiting / first.seconds:.0%}; fetching and parsing pages took {timing.http:.1f} s on the fetching"
        f" thread, and matching their new notices ahead {timing.ahead:.1f} s, both beside the recording),"
        f" recording pages {timing.recording - timing.matching:.1f} s"
        f" ({(timing.recording - timing.matching) / first.seconds:.0%}: load notices, events, commit),"
        f" matching notices not matched ahead {timing.matching:.1f} s ({timing.matching / first.seconds:.0%}),"
        f" the rest {rest:.1f} s"
        f" ({rest / first.seconds:.0%}: job batches, staleness, start and finish)"
    )
    say(
        f"     CPU of this process meanwhile (the job, the projection runners, the simulator): {first.cpu:.1f} s"
        f" ({first.cpu / first.fetched * 1e6:,.0f} us a notice; wall time per notice"
        f" {first.total / first.fetched * 1e6:,.0f} us: the rest is waiting, on PostgreSQL or for a CPU)"
    )
    say(f"     CPU by thread: {first.split.line()}")
    say(
        f"     matching (ahead and not): borrowers by loan number or phone {timing.by_key:.1f} s, by name keys"
        f" {timing.by_name:.1f} s for {timing.names:,} names"
        f" ({timing.by_name / max(timing.names, 1) * 1000:.1f} ms a name),"
        f" scoring {timing.ahead + timing.matching - timing.by_key - timing.by_name:.1f} s"
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
        say_plan(lines)
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
    return [
        Verdict("notices", "notice sync (end to end)", rate.per_second, TARGET_NOTICES_PER_SECOND, True, " notices/s")
    ]
