"""The agreement worker and the e-sign expiry job (docs/loans.md, "Agreement and e-sign").

`AgreementWorker` (a background thread of `make run`'s process) follows `read.loan_agreements` (woken when a read
model moves, or at the latest every 10 s): it issues the agreement of every newly sanctioned loan (a provider
failure is retried with a growing delay), records live links past their expiry as expired, and moves signed loans
whose borrower's bank account became verified into the disbursal queue. The `esign-expiry` job does the expiry part per brand on its
schedule (every 15 minutes by default), for deployments that run jobs without the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as time_of_day
from uuid import UUID
from zoneinfo import ZoneInfo

import structlog

from api.services.agreements import AgreementService
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError
from projections.engine import ProjectionEngine
from projections.loan_agreements import ISSUE, QUEUE, AgreementQueries, AgreementWork
from workers.polling import QueueDrainer

log = structlog.get_logger(__name__)

ACTOR = "job:esign"
#: How often signed loans are checked for a verified bank account (each check reads the verification model).
QUEUE_CHECK_EVERY = timedelta(seconds=5)
#: The longest wait before issuing again after a provider failure.
MAX_BACKOFF = timedelta(minutes=5)
#: The longest a signed loan not ready for the queue (its payout account not verified yet) waits to be looked at
#: again: once that account is verified, the loan enters the queue within about a minute.
RECHECK_LONGEST = timedelta(minutes=1)
#: Rows of a work list read a query (the worker walks the whole list past the loans waiting out a delay).
WORK_PAGE = 500
#: Loans kept waiting out a delay, per list, before the memory is cleared (each then waits once more).
WAITING_KEPT = 100_000


def _back_off(
    waiting: dict[UUID, tuple[float, float]], loan_id: UUID, now: float, longest: timedelta = MAX_BACKOFF
) -> float:
    """Make `loan_id` wait: 5 s the first time, then twice the last delay, up to `longest`; the delay."""
    last = waiting.get(loan_id)
    delay = min((last[1] * 2) if last else 5.0, longest.total_seconds())
    waiting[loan_id] = (now + delay, delay)
    return delay


EXPIRY = JobDefinition(
    name="esign-expiry",
    title="E-sign link expiry",
    description="Records every unsigned e-sign link past its expiry (the brand's esign_link_expiry_days) as "
    "expired, by now or by the start of the run's business date when the brand's date is ahead; staff resend a "
    "fresh link.",
    defaults=JobSettings(cron="*/15 * * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
)


@dataclass(frozen=True)
class AgreementJobPort:
    """What the worker and the job use."""

    service: AgreementService
    queries: AgreementQueries
    engine: ProjectionEngine  # wakes the worker when a read model moves


def expire_links(port: AgreementJobPort, now: datetime, limit: int, brand_id: UUID | None = None) -> int:
    """Record up to `limit` links past their expiry by `now` as expired; how many were."""
    done = 0
    agreements = port.service.agreements
    with acting_as(ACTOR):
        for item in port.queries.expired_links(now, limit, brand_id):
            try:
                if agreements.expire(item.brand_id, item.loan_id, now) is not None:
                    done += 1
            except DomainError as exc:  # changed meanwhile (signed, cancelled): the read model catches up
                log.info("esign.expire_skipped", loan=str(item.loan_id), error=str(exc))
    return done


def run_expiry(port: AgreementJobPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The `esign-expiry` job: the brand's links expired by now, or by the start of the run's business date (`as_of`)
    when the brand's business date is ahead of the calendar, in batches."""
    size = job_run.settings.batch_size
    settings = port.service.identity.settings(job_run.brand_id)
    day_start = datetime.combine(job_run.as_of, time_of_day.min, tzinfo=ZoneInfo(settings.timezone))
    cutoff = max(port.service.clock.now(), day_start)  # a brand running ahead of the calendar expires by its date
    while True:
        done = expire_links(port, cutoff, size, job_run.brand_id)
        yield BatchCounts(processed=done, succeeded=done), None
        if done < size:
            return


class AgreementWorker(QueueDrainer):
    """Issues agreements of sanctioned loans, expires stale links, queues signed loans once their account is
    verified (see the module doc). After a pass that did something it rests `interval` seconds (its queue is a read
    model, which the work leaves only once it catches up); after an empty one it sleeps until a projection moves."""

    failure_event = "esign.worker_failed"
    rest_after_work = True

    def __init__(self, port: AgreementJobPort, interval: float = 1.0) -> None:
        super().__init__("agreement-worker", interval, port.engine)
        self.port = port
        self._retry_at: dict[UUID, tuple[float, float]] = {}  # loan -> (monotonic time, delay): issue failed
        self._recheck_at: dict[UUID, tuple[float, float]] = {}  # loan -> (monotonic time, delay): signed, not ready
        self._queue_checked = 0.0

    def drain(self, limit: int = 50, *, check_queue: bool = False) -> int:
        """One pass: issue, expire, and (every QUEUE_CHECK_EVERY, or when asked) queue; how much was done."""
        with self.traced_pass():
            done = self.issue_pending(limit)
            done += expire_links(self.port, self.port.service.clock.now(), limit)
            now = time.monotonic()
            if check_queue or now - self._queue_checked >= QUEUE_CHECK_EVERY.total_seconds():
                self._queue_checked = now
                done += self.queue_signed(limit * 4)
            return done

    def issue_pending(self, limit: int) -> int:
        """Issue the agreements of sanctioned loans that have none (skipping loans in their retry delay)."""
        done = 0
        agreements = self.port.service.agreements
        now = time.monotonic()
        for item in self._due(ISSUE, limit, self._retry_at, now):
            try:
                with acting_as(ACTOR):
                    agreements.issue(item.brand_id, item.loan_id)
            except DomainError as exc:
                delay = _back_off(self._retry_at, item.loan_id, now)
                log.warning("esign.issue_failed", loan=str(item.loan_id), error=str(exc), retry_in=delay)
                continue
            self._retry_at.pop(item.loan_id, None)
            done += 1
        return done

    def queue_signed(self, limit: int) -> int:
        """Move signed loans whose borrower's bank account is verified into the disbursal queue."""
        done = 0
        agreements = self.port.service.agreements
        now = time.monotonic()
        for item in self._due(QUEUE, limit, self._recheck_at, now):
            try:
                with acting_as(ACTOR):
                    queued = agreements.queue_if_ready(item.brand_id, item.loan_id)
            except DomainError as exc:
                queued = None
                log.info("esign.queue_skipped", loan=str(item.loan_id), error=str(exc))
            if queued is not None:
                self._recheck_at.pop(item.loan_id, None)
                done += 1
            else:  # not ready (its payout account not verified yet): looked at again later, doubling up to a minute
                _back_off(self._recheck_at, item.loan_id, now, RECHECK_LONGEST)
        return done

    def _due(
        self, kind: str, limit: int, waiting: dict[UUID, tuple[float, float]], now: float
    ) -> Iterator[AgreementWork]:
        """Up to `limit` items of the `kind` work list not waiting in `waiting` at `now`, oldest change first. The
        list is walked in pages past the waiting ones: a head of loans that cannot move yet (an issue that keeps
        failing, a signed loan whose payout account is not verified) never hides the loans behind it, however
        many there are."""
        if len(waiting) > WAITING_KEPT:  # loans long gone from the lists; those still in them wait once more
            waiting.clear()
        after, given = None, 0
        while given < limit:
            page = self.port.queries.work(kind, WORK_PAGE, after)
            for item in page:
                retry = waiting.get(item.loan_id)
                if retry is None or now >= retry[0]:
                    yield item
                    given += 1
                    if given >= limit:
                        return
            if len(page) < WORK_PAGE:
                return
            after = page[-1]
