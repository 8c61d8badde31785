"""The `loan-cob` job (issue #15): the close of business of every serviced loan of a brand, date by date.

A run as of D processes each business date from the day after the last one done (or D itself, the first time) up to
D, in order. For each date: the date is planned once (its run record and partitions of `batch_size` serviced loans,
`adapters/cob_store.py`), then `workers` threads - and any other process running `drain` for the same brand and
date - claim partitions with `FOR UPDATE SKIP LOCKED`, close the day of each loan (penal charges, DPD, class, the
state move: `Loan.close_business_day`) and commit the partition on its own. Loans quiet on the date (nothing due or
overdue, no event since the COB last looked at them) are not partitioned at all (`adapters/cob_store.py`). When no partition is left the date's
record gets its totals and the brand's business date moves to the next day, as the close of business
(`CLOSE_OF_BUSINESS_ACTOR`: a brand whose date only the COB moves follows the calendar, and its scheduled run is as
of the slot's day, closing every date a scheduler outage missed; the brand's other runs meanwhile are dated the day
it brings the brand to, and those reading loan positions wait for it: workers/scheduler.py). A rerun of a done date changes nothing;
a run killed mid-date resumes with the partitions not done, and a loan closed before the kill is not charged twice
(its close is idempotent per date) yet is counted in the date's record (`Loans.recorded_close`). A thread that fails
stops the others after the partition each holds; the failed attempt counts every partition its threads committed,
and its retry the rest (docs/loans.md, "COB failed in one thread")."""

from __future__ import annotations

import contextvars
import os
import queue
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

from adapters.cob_store import CobStore, PartitionOutcome
from domain.identity.application import Identity
from domain.identity.brand_config import CLOSE_OF_BUSINESS_ACTOR
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.loans.application import Loans
from domain.loans.loan import Loan, LoanNotFound
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict
from projections.engine import ProjectionEngine
from workers.collection_jobs import NO_SWEEP, SweepPort, after_close

log = structlog.get_logger(__name__)

COB = JobDefinition(
    name="loan-cob",
    title="Loan close of business",
    description="Closes the business date for every serviced loan: overdue marking, penal charges, DPD and the RBI "
    "class, state moves; then advances the brand's business date. Missed dates are processed in order.",
    defaults=JobSettings(cron="30 23 * * *", batch_size=500, retry_count=3, retry_interval_seconds=60),
    variable_keys=frozenset({"as_of", "workers"}),
    catches_up=True,
)

#: How many times a loan's close is tried on its own after a concurrent command saved the loan first.
CLOSE_ATTEMPTS = 3


@dataclass(frozen=True)
class CobPort:
    """What the COB job uses (filled by type by the platform)."""

    loans: Loans
    identity: Identity
    engine: ProjectionEngine
    store: CobStore
    collections: SweepPort = NO_SWEEP  # the collections sweep after each date (filled by type)


def close_partition(loans: Loans, brand_id: UUID, day: date, loan_ids: Sequence[UUID]) -> PartitionOutcome:
    """Close `day` for the loans of one partition: one load, one save (each loan alone when a concurrent command
    changed one of them first: that loan is retried from its new version). The outcome counts the closes saved: one
    redone after a concurrent repayment may charge less, move no state, or record nothing. With each loan, the date
    through which its COB will record nothing while it has no other event (`Loan.cob_quiet_until`): the next dates'
    plans pass it over until then."""
    found = loans.load_many(Loan, list(loan_ids), brand_id, LoanNotFound)
    closes: dict[UUID, Close] = {}
    for loan in found:
        was = loan.status
        if loan.close_business_day(day):
            closes[loan.id] = Close(str(was), str(loan.status), tuple(loan.pending_events))
    saved = found
    if closes:
        changed = [loan for loan in found if loan.id in closes]
        try:
            loans.commit_serviced(*changed)
        except Conflict:
            # One of them moved meanwhile (a repayment), and the partition's save kept nothing: each loan is closed
            # again on its own from its latest version, and only those closes count.
            retried = {loan.id: _close_alone(loans, brand_id, loan.id, day) for loan in changed}
            closes = {loan_id: close for loan_id, (_, close) in retried.items() if close is not None}
            saved = [retried[loan.id][0] if loan.id in retried else loan for loan in found]
    events = [e for close in closes.values() for e in close.events]
    penal = sum((e.penal_charged for e in events if isinstance(e, Loan.DayClosed)), Decimal("0.00"))
    moves = [(close.was, close.now) for close in closes.values()]
    # A partition redone after its worker died: the closes that worker had saved are not recorded again, but they
    # are this date's, and the date's record counts them (before, it reported them as skipped: closes, penal charges
    # and state moves missing from the totals).
    earlier = [r for loan in saved if loan.id not in closes and (r := loans.recorded_close(loan, day)) is not None]
    penal += sum((close.penal_charged for close in earlier), Decimal("0.00"))
    moves += [(close.was, close.now) for close in earlier]
    transitions = Counter(f"{was}->{now}" for was, now in moves if now != was)
    watch = tuple((loan.id, loan.version, loan.cob_quiet_until(day)) for loan in saved)
    return PartitionOutcome(loans=len(found), closed=len(closes) + len(earlier), penal_charged=penal,
                            transitions=dict(transitions), watch=watch)  # fmt: skip


@dataclass(frozen=True)
class Close:
    """One loan's close as saved: its status before and after, and the events (`DayClosed`, perhaps
    `StatusMoved`)."""

    was: str
    now: str
    events: tuple[Any, ...]


def _close_alone(loans: Loans, brand_id: UUID, loan_id: UUID, day: date) -> tuple[Loan, Close | None]:
    """Close `day` on the loan's latest version and save it alone - again, up to `CLOSE_ATTEMPTS` times, while
    another command saves the loan first. The loan as saved (or as loaded, when there was nothing to close) and its
    close as saved (None: nothing to close)."""
    for attempt in range(1, CLOSE_ATTEMPTS + 1):
        fresh = loans.get(brand_id, loan_id)
        was = fresh.status
        if not fresh.close_business_day(day):
            return fresh, None
        close = Close(str(was), str(fresh.status), tuple(fresh.pending_events))
        try:
            loans.commit_serviced(fresh)
        except Conflict:
            if attempt == CLOSE_ATTEMPTS:
                raise
            continue
        return fresh, close
    raise AssertionError("unreachable")


def drain(
    port: CobPort, brand_id: UUID, day: date, worker: str, stop: threading.Event | None = None
) -> Iterator[PartitionOutcome]:
    """Claim and process partitions of the date until none is left (any number of workers may drain at once), or
    until `stop` is set: the partition in hand is finished and committed, no other is claimed."""
    while not (stop is not None and stop.is_set()) and (outcome := port.store.work(
        brand_id, day, worker, lambda ids: close_partition(port.loans, brand_id, day, ids)
    )) is not None:  # fmt: skip
        yield outcome


def _work(
    port: CobPort, brand_id: UUID, day: date, name: str, outcomes: queue.Queue[object], stop: threading.Event
) -> None:
    """One thread of a run: each partition it commits goes to the run as it is committed; a failure stops the other
    threads of the run after the partition they hold (the attempt fails and its retry claims the rest)."""
    try:
        for outcome in drain(port, brand_id, day, name, stop):
            outcomes.put(outcome)
    except Exception as exc:  # noqa: BLE001 - handed to the run, which fails and is retried
        stop.set()
        outcomes.put(exc)
    finally:
        outcomes.put(None)


def dates_to_close(port: CobPort, brand_id: UUID, as_of: date) -> list[date]:
    """The business dates a run as of `as_of` processes, oldest first."""
    last = port.store.last_done(brand_id)
    first = as_of if last is None or last >= as_of else last + timedelta(days=1)
    return [first + timedelta(days=n) for n in range((as_of - first).days + 1)] if first <= as_of else []


def resume_after_close(port: CobPort, brand_id: UUID, days: Sequence[date]) -> None:
    """Finish the last done date's work after its close when an attempt failed there (the collections sweep, the
    business date moved on): the date is done, so the retry (or the next run) does not close it again and would
    otherwise never sweep it. The sweep of a date already swept does nothing."""
    last = port.store.last_done(brand_id)
    if last is None or last in days:
        return  # nothing done yet, or the run closes that date again anyway (a rerun of a done date)
    after_close(port.collections, brand_id, last)
    move_business_date(port, brand_id, last)


def move_business_date(port: CobPort, brand_id: UUID, closed: date) -> None:
    """Move the brand's business date on to the day after the date just closed, unless it is already past it. As
    the close of business (`CLOSE_OF_BUSINESS_ACTOR`), whoever runs this: the brand's configuration history tells
    the COB's moves from an admin's, and a brand whose date only the COB moved follows the calendar
    (`Identity.business_date_held`)."""
    if port.identity.business_date(brand_id) <= closed:
        with acting_as(CLOSE_OF_BUSINESS_ACTOR):
            port.identity.change_configuration(brand_id, {"business_date": closed + timedelta(days=1)})


def run_cob(port: CobPort, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The job's handler: every date due, partitions drained by `workers` threads, the business date advanced."""
    workers = max(1, min(16, int(run.settings.variables.get("workers", "2") or 2)))
    days = dates_to_close(port, run.brand_id, run.as_of)
    resume_after_close(port, run.brand_id, days)
    for day in days:
        # Newly disbursed loans included, and the versions of the day before's closes (the quiet loans' watch).
        port.engine.caught_up(Loans.name, 60, f"close of business {day.isoformat()}")
        started = datetime.now(UTC)
        port.store.plan(run.brand_id, day, started, run.settings.batch_size)
        outcomes: queue.Queue[object] = queue.Queue()
        stop = threading.Event()

        tag = f"{os.getpid()}-{run.id}"
        # Each thread runs in a copy of this context: the run's actor (`job:loan-cob`) and trace (`job-run:<id>`)
        # go on the events it records (a bare thread started with the defaults: "system", no trace).
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run,
                args=(_work, port, run.brand_id, day, f"{tag}-{n}", outcomes, stop),
                daemon=True,
            )
            for n in range(workers)
        ]
        for thread in threads:
            thread.start()
        done = Counter[str]()
        errors: list[Exception] = []
        try:
            # Every thread's partitions are the run's until every thread has ended - after a failure too: a thread
            # that failed stops the others after the partition each holds, and what they commit meanwhile is this
            # attempt's work (before, the run stopped reading at the first failure: the partitions the other threads
            # committed after it were closed, charged and marked done, yet no attempt of the run ever counted them).
            running = len(threads)
            while running:
                item = outcomes.get()
                if item is None:
                    running -= 1
                elif isinstance(item, Exception):
                    errors.append(item)
                    log.warning("loan_cob.partition_failed", brand_id=str(run.brand_id), day=day.isoformat(),
                                error=f"{type(item).__name__}: {item}")  # fmt: skip
                elif isinstance(item, PartitionOutcome):
                    done.update(partitions=1, loans=item.loans, closed=item.closed)
                    counts = BatchCounts(processed=item.loans, succeeded=item.closed, skipped=item.loans - item.closed)
                    yield counts, day.isoformat()
        finally:
            # The attempt is over (failed, or its caller stopped reading): no thread claims another partition.
            stop.set()
            for thread in threads:
                thread.join()
        if errors:
            # No query here: the database may be what failed, and the run must record this error, not another.
            log.warning("loan_cob.day_failed", brand_id=str(run.brand_id), day=day.isoformat(),
                        partitions=done["partitions"], loans=done["loans"], closed=done["closed"],
                        error=f"{type(errors[0]).__name__}: {errors[0]}")  # fmt: skip
            raise errors[0]
        if port.store.pending(run.brand_id, day):
            raise RuntimeError(f"partitions of {day.isoformat()} are still held by another worker")
        record = port.store.finish(run.brand_id, day, datetime.now(UTC))
        log.info("loan_cob.day_done", brand_id=str(run.brand_id), day=day.isoformat(),
                 loans=record.loans if record else None, transitions=record.transitions if record else None)  # fmt: skip
        after_close(port.collections, run.brand_id, day)  # collections: stages, allocation, promises judged
        move_business_date(port, run.brand_id, day)
