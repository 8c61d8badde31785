"""Softmedia notice sync: triggering runs (schedule or staff), the pull job, staleness, matching and rematching."""

from __future__ import annotations

import contextvars
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import structlog

from adapters.operational import OperationalStore
from adapters.softmedia import NoticePage, SoftmediaClient, SoftmediaError, SourceNotice
from api.services.notice_syncs import SyncRequests
from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.notices.application import Notices
from domain.notices.matching import Candidate, MatchResult, match, name_key, phone_key
from domain.notices.notice import Match, Notice, NoticeFacts, NoticeMode, notice_id_for
from domain.notices.source import NoticeSource, SyncAlreadyRunning
from domain.notices.triggering import JOB
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.errors import DomainError
from domain.shared.gc_pause import collector_paused
from projections.engine import ProjectionEngine
from projections.notice_queries import EnabledSource, NoticeQueries
from workers.brand_configurations import BrandConfigurations
from workers.polling import QueueDrainer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class NoticeJobPort:
    """What the sync job, the source slots and the rematcher use (filled by type by the port)."""

    notices: Notices
    notice_queries: NoticeQueries
    customers: Customers
    configurations: BrandConfigurations
    ops: OperationalStore
    engine: ProjectionEngine
    sync_requests: SyncRequests


PAGE_SIZE = 500
PAGE_ATTEMPTS = 3

DEFINITION = JobDefinition(
    name=JOB,
    title="Softmedia notice sync",
    description="Pulls a source's overdue and upcoming notices page by page, records what changed, matches "
    "notices to borrower records and, after a complete pull, marks notices no longer listed as inactive. "
    "Each source's own cron schedule requests these runs; staff request them from the dashboard.",
    # A sync retries transient faults itself; a run that dies is ended by the next trigger, not retried.
    defaults=JobSettings(cron=None, batch_size=PAGE_SIZE, retry_count=0, retry_interval_seconds=60),
    variable_keys=frozenset({"as_of", "source_id", "sync_run_id"}),
    scheduled=False,
)


def fire_source_slots(port: NoticeJobPort, now: datetime) -> None:
    """Request a sync for each enabled source whose cron slot has come (the latest missed slot only). One source
    that cannot be fired (its brand gone, say) is logged and skipped: it never holds up the others.

    Every 5 s on the scheduler's leader: the sources' last slots are read in one query and each brand's timezone
    once, not both for every source (an idle pass was two reads a source), and that from `BrandConfigurations`: one
    read of the identity head a pass while no brand changed (it was a replay of each brand and its configuration)."""
    sources = port.notice_queries.enabled_sources()
    if not sources:
        return
    slots = port.ops.last_slots()
    port.configurations.refresh()  # the brands' timezones are replayed only when identity recorded something
    zones: dict[UUID, str] = {}
    for source in sources:
        try:
            if source.brand_id not in zones:
                zones[source.brand_id] = port.configurations.timezone(source.brand_id)
            last = slots.get((source.brand_id, _slot_key(source)))
            _fire_source_slot(port, source, now, zones[source.brand_id], last)
        except DomainError as exc:
            log.warning("notices.sync_slot_failed", source=str(source.id), error=exc.message)
        except Exception:  # one source's fault (a schedule stored before it was checked as jobs' are) is its own
            log.exception("notices.sync_slot_failed", source=str(source.id))


def _slot_key(source: EnabledSource) -> str:
    return f"{JOB}:{source.id}"


def _fire_source_slot(
    port: NoticeJobPort, source: EnabledSource, now: datetime, zone: str, last: datetime | None
) -> None:
    slot_key = _slot_key(source)
    settings = JobSettings(cron=source.schedule)
    if last is None:
        port.ops.set_last_slot(source.brand_id, slot_key, now)
        return
    due = settings.latest_fire_between(last, now, zone)
    if due is None:
        return
    try:  # requested, then the slot noted (as the jobs' slots): a failure between loses no scheduled sync
        with acting_as("scheduler"):
            run_id = port.sync_requests.request(
                source.brand_id, source.id, trigger="schedule", requested_by="scheduler"
            )
        log.info("notices.sync_scheduled", company=source.company, run=str(run_id), slot=due.isoformat())
    except SyncAlreadyRunning:
        log.info("notices.sync_slot_skipped", company=source.company, reason="a sync is running")
    port.ops.set_last_slot(source.brand_id, slot_key, due)


# The pull -----------------------------------------------------------------------------------------------------


def _facts(item: SourceNotice) -> NoticeFacts:
    return NoticeFacts(
        loan_number=item.loan_number,
        customer_name=" ".join(item.customer_name.split()),
        phone=item.phone,
        phone_e164=phone_key(item.phone) if item.phone else None,
        due_date=item.due_date,
        instalment_no=item.instalment_no,
        amount_due=item.amount_due,
        days_overdue=item.days_overdue,
        mode=NoticeMode(item.mode),
        source_updated_at=item.updated_at,
    )


#: Builds the client for a source (tests and benchmarks pass their own timeouts and sleeps).
ClientFactory = Callable[[str, str], SoftmediaClient]


def _default_client(base_url: str, token: str) -> SoftmediaClient:
    return SoftmediaClient(base_url, token, page_size=PAGE_SIZE)


client_factory: ClientFactory = _default_client


def run_sync(port: NoticeJobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The job: pull each mode page by page, then (only after a complete pull of every mode) inactivate the
    source's active notices no page listed, and end the sync run."""
    if "sync_run_id" not in run.settings.variables:
        # Only `request_sync` (a source's cron, the dashboard, the jobs API) makes runs of this job; it names them.
        raise LookupError("this run names no sync run; sync a source with POST /api/v1/notice-sources/{id}/sync")
    sync_run_id = UUID(run.settings.variables["sync_run_id"])
    sync = port.notices.sync_run(run.brand_id, sync_run_id)
    source = port.notices.source(run.brand_id, sync.source_id)
    token = port.ops.source_token(source.id) or ""
    plain = BorrowerMatcher(port.notice_queries)
    seen: set[UUID] = set()
    error: str | None = None
    retries = 0
    client = client_factory(source.base_url, token)
    try:
        for mode in sync.modes:
            pages = client.pages(mode.value, source.company)
            for page, items, matcher in _prefetching(pages, lambda p: _prepared_page(port, source, p, plain)):
                malformed = page.malformed + len(page.items) - len(items)
                for attempt in range(1, PAGE_ATTEMPTS + 1):
                    try:
                        # A page makes many short-lived objects and no cycles: the collector's passes were about
                        # 40% of the sync's CPU (#11), so it is paused while the page is recorded.
                        with collector_paused():
                            counts, ids = port.notices.record_page(
                                sync.id,
                                mode=mode,
                                page=page.page,
                                total_pages=page.total_pages,
                                items=items,
                                malformed=malformed,
                                errors=page.errors,
                                match=matcher,
                            )
                        break
                    except ConcurrentModification:  # A rematch saved one of these notices first: redo the page.
                        if attempt == PAGE_ATTEMPTS:
                            raise
                seen.update(ids)
                yield (
                    BatchCounts(
                        processed=counts.fetched,
                        succeeded=counts.fetched - counts.malformed,
                        skipped=counts.malformed,
                    ),
                    f"{mode.value}:{page.page}",
                )
    except SoftmediaError as exc:
        error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        retries = client.retries
        client.close()
        _finish(port, sync.id, error, 0, retries)
        raise
    retries = client.retries
    client.close()
    inactivated = 0
    if error is None:
        # Staleness from the read model of this source's active notices, caught up to this run's last page.
        # Not caught up within the bound (a stopped or far-behind projection): inactivate nothing this run rather
        # than judge staleness from a read model that may not show this run's own pages; the next run will.
        if port.engine.wait_for("notices", port.engine.head("notices"), timeout=60):
            stale = [i for i in port.notice_queries.active_notice_ids(source.id, sync.modes) if i not in seen]
            inactivated = port.notices.inactivate(sync.id, stale)
            if inactivated:
                yield BatchCounts(processed=inactivated, succeeded=inactivated), "inactivate"
        else:
            log.warning("notices.staleness_skipped", run=str(sync.id), reason="notice read model behind after 60 s")
    status = _finish(port, sync.id, error, inactivated, retries)
    log.info("notices.sync_finished", run=str(sync.id), company=source.company, status=status, error=error)
    if error is not None:
        raise RuntimeError(error)


#: A fetched page, its notices' facts (those our rules accept) and a matcher with their matches prepared.
PreparedPage = tuple[NoticePage, list[tuple[str, NoticeFacts]], "BorrowerMatcher"]
_Page = TypeVar("_Page")
_Prepared = TypeVar("_Prepared")


def _prepared_page(port: NoticeJobPort, source: NoticeSource, page: NoticePage, plain: BorrowerMatcher) -> PreparedPage:
    """A fetched page made ready to record, on a preparing thread: its facts, and the matches of its notices
    that are new or changed what matching looks at, as far as the read model tells (a hint: `record_page` decides
    which notices it matches, and matches any the hint missed itself). Matching here, a page ahead, overlaps the
    matcher's lookups (waits on PostgreSQL, about 40% of a sync at a million borrowers) with the recording."""
    items = []
    for item in page.items:
        try:
            items.append((item.notice_id, _facts(item)))
        except ValueError as exc:  # A value our rules refuse: skipped and counted like a malformed one.
            page.errors.append(f"{item.notice_id}: {exc}")
    ids = [notice_id_for(source.id, sid) for sid, _ in items]
    known = port.notice_queries.notice_match_keys(ids)
    fresh = [
        facts for (_, facts), notice_id in zip(items, ids, strict=True) if known.get(notice_id) != _match_key(facts)
    ]
    return page, items, plain.prepare(source.brand_id, fresh) if fresh else plain


#: Pages prepared ahead of the one being recorded: two, so one's lookups wait on PostgreSQL while the other's
#: candidates are scored (one ahead left the recording waiting for the matching about half of a sync).
PREPARED_AHEAD = 2


def _prefetching(
    pages: Iterator[_Page], prepare: Callable[[_Page], _Prepared], ahead: int = PREPARED_AHEAD
) -> Generator[_Prepared, None, None]:
    """The source's pages, the next ones fetched (one at a time, in order, on a thread of their own) and prepared
    (`ahead` at a time, on threads of theirs) while the caller records this one: the source's latency, the parse and
    the matching overlap the recording instead of adding to it. A fetch's or a preparation's error is raised where
    its page would have been; a caller that stops early does not wait for the work in flight."""
    fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notice-fetch")
    preparers = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="notice-prepare")
    context = contextvars.copy_context()  # the fetch's and the preparation's log lines keep the run's bound context

    def fetch() -> _Page | None:
        return context.run(next, pages, None)  # one fetch at a time: this context is never entered twice

    def prepared(fetched: Future[_Page | None]) -> _Prepared | None:
        page = fetched.result()
        return None if page is None else context.copy().run(prepare, page)

    queued: deque[Future[_Prepared | None]] = deque()

    def queue() -> None:
        queued.append(preparers.submit(prepared, fetcher.submit(fetch)))

    try:
        for _ in range(ahead):
            queue()
        while (page := queued.popleft().result()) is not None:
            queue()
            yield page
    finally:
        fetcher.shutdown(wait=False, cancel_futures=True)
        preparers.shutdown(wait=False, cancel_futures=True)


def _finish(port: NoticeJobPort, sync_run_id: UUID, error: str | None, inactivated: int, retries: int) -> str:
    status = port.notices.finish_sync(sync_run_id, error=error, inactivated=inactivated, retries=retries)
    return str(status.value)


# Matching -----------------------------------------------------------------------------------------------------


#: What a match depends on besides the borrower records: a notice's loan number, E.164 phone and name.
MatchKey = tuple[str, str | None, str]


def _match_key(facts: NoticeFacts) -> MatchKey:
    return facts.loan_number, facts.phone_e164, facts.customer_name


class BorrowerMatcher:
    """Scores notices against borrower records found by blocking: exact loan number, phone (primary or alternate),
    and, for notices without a high match that way, their names' keys (`NoticeQueries.borrowers_by_name`).

    `prepare` matches a page's notices ahead (the sync does it on threads of their own for the next pages while it
    records one, so the lookups' waits on PostgreSQL overlap the recording); the matcher it returns answers those
    notices from what it prepared and matches any other as usual."""

    def __init__(
        self, queries: NoticeQueries, brand_id: UUID | None = None, prepared: dict[MatchKey, Match] | None = None
    ) -> None:
        self.queries = queries
        self._brand_id = brand_id
        self._prepared = prepared or {}

    def prepare(self, brand_id: UUID, facts: Sequence[NoticeFacts]) -> BorrowerMatcher:
        """A matcher holding these notices' matches as the borrower records stand now (a borrower changing before
        the page is saved is matched again by the rematcher, as with a match made at the save)."""
        keys = list(dict.fromkeys(_match_key(f) for f in facts))
        results = self.results(brand_id, keys)
        return type(self)(self.queries, brand_id, {k: _to_match(r) for k, r in zip(keys, results, strict=True)})

    def __call__(self, brand_id: UUID, notices: Sequence[Notice]) -> dict[UUID, Match]:
        prepared = self._prepared if brand_id == self._brand_id else {}
        keys = {notice.id: _match_key(notice.facts) for notice in notices}
        missing = list(dict.fromkeys(k for k in keys.values() if k not in prepared))
        # A Match is immutable: notices of one key share theirs.
        found = (
            {k: _to_match(r) for k, r in zip(missing, self.results(brand_id, missing), strict=True)} if missing else {}
        )
        return {nid: prepared[k] if k in prepared else found[k] for nid, k in keys.items()}

    def results(self, brand_id: UUID, keys: Sequence[MatchKey]) -> list[MatchResult]:
        """The match of each notice's key (loan number, phone, name), in order."""
        loans = sorted({loan for loan, _, _ in keys if loan})
        phones = sorted({phone for _, phone, _ in keys if phone})
        by_key = self.queries.borrowers_by_loan_or_phone(brand_id, loans, phones)
        results: list[MatchResult] = []
        weak: list[tuple[int, dict[UUID, Candidate]]] = []
        for at, (loan, phone, name) in enumerate(keys):
            found = {c.customer_id: c for c in by_key.get(("loan", loan or ""), ())}
            found.update((c.customer_id, c) for c in by_key.get(("phone", phone or ""), ()))
            if not found:  # nothing by loan number or phone: the name decides
                results.append(_UNMATCHED)
                weak.append((at, found))
                continue
            result = match(loan, phone, name, found.values())
            results.append(result)
            if result.band != "high":
                weak.append((at, found))
        if weak:
            names = [name_key(keys[at][2]) for at, _ in weak]
            similar = self.queries.borrowers_by_name(brand_id, names)
            for (at, found), key in zip(weak, names, strict=True):
                more = similar.get(key)
                if more:
                    loan, phone, name = keys[at]
                    found.update((c.customer_id, c) for c in more)
                    results[at] = match(loan, phone, name, found.values())
        return results


_UNMATCHED = match(None, None, "", ())


def _to_match(result: MatchResult) -> Match:
    """The event's value of a result, validated from plain values in one call of pydantic-core (a third of the
    CPU of constructing each candidate's model in Python, and less than `model_construct`, which is Python too)."""
    return Match.model_validate(
        {
            "customer_id": result.customer_id,
            "confidence": result.confidence,
            "band": result.band,
            "methods": list(result.methods),
            "candidates": [
                {"customer_id": c.customer_id, "confidence": c.confidence, "methods": list(c.methods)}
                for c in result.candidates
            ],
        }
    )


def rematch_borrower(port: NoticeJobPort, customer_id: UUID) -> int:
    """Match again the notices a changed borrower record may concern; returns how many matches changed."""
    record = port.customers.find(customer_id)
    if not isinstance(record, CustomerRecord):
        return 0
    phones = [p for p in [record.phone, *record.alternate_phones] if p]
    ids = port.notice_queries.notices_for_borrower(
        record.brand_id, record.id, list(record.loan_numbers), phones, name_key(record.name)
    )
    if not ids:
        return 0
    with acting_as("rematcher"):
        return int(port.notices.rematch(record.brand_id, ids, BorrowerMatcher(port.notice_queries), "borrower changed"))


class Rematcher(QueueDrainer):
    """Drains the queue of changed borrower records, matching their notices again (a worker, in `make run`'s
    process): within a second or two of a new alternate phone or a linked loan number, notices follow."""

    failure_event = "notices.rematch_failed"

    def __init__(self, port: NoticeJobPort, interval: float = 1.0) -> None:
        super().__init__("notice-rematcher", interval, port.engine)
        self.port = port

    def drain(self, limit: int = 100) -> int:
        """One pass over the queue; returns how many borrowers it handled."""
        with self.traced_pass():
            pending = self.port.notice_queries.pending_rematches(limit)
            started = time.monotonic()
            for row in pending:
                changed = rematch_borrower(self.port, row.customer_id)
                self.port.notice_queries.rematched(row.customer_id, row.position)
                if changed:
                    log.info("notices.rematched", customer=str(row.customer_id), changed=changed)
            if pending:
                log.debug("notices.rematch_pass", borrowers=len(pending), seconds=round(time.monotonic() - started, 3))
            return len(pending)
