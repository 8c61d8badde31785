"""Batch jobs: per-brand job configuration and job runs with attempts, batches and retries."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from uuid import UUID

from croniter import croniter
from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, FieldError, InvalidInput, InvalidValue, NotFound, Throttled
from domain.shared.values import text_problem

#: The shorthands croniter reads that still fire at most once a minute (`@reboot` is not one it reads).
_CRON_ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
#: Any fixed instant: a valid expression must fire at least once after it (croniter searches a few years ahead).
_CRON_PROBE = datetime(2000, 1, 1)
#: How far before croniter's previous instant `_latest_within_offset` steps forward from (under a minute, the
#: least time between two slots).
_BEFORE_HINT = timedelta(seconds=1)
#: The last moment before a change of UTC offset (the new offset holds from the change's whole second).
_JUST_BEFORE = timedelta(microseconds=1)
#: How far apart `_next_offset_change` looks at a zone's offset.
_OFFSET_SCAN = timedelta(days=1)


@lru_cache(maxsize=4096)  # the scheduler asks each idle schedule the same every pass (a croniter each time)
def _next_cron_instant(cron: str, tz: str, instant: datetime) -> datetime:
    """The first instant of `cron`, read in `tz`, strictly after `instant` (UTC in and out)."""
    from zoneinfo import ZoneInfo

    following: datetime = croniter(cron, instant.astimezone(ZoneInfo(tz))).get_next(datetime)
    return following.astimezone(UTC)


def _prev_cron_instant(cron: str, tz: str, instant: datetime) -> datetime | None:
    """croniter's instant of `cron`, read in `tz`, before `instant` (UTC in and out), or None when it finds none.

    Only a hint: `_latest_within_offset` checks it by stepping `_next_cron_instant`, which defines the slots.
    """
    from zoneinfo import ZoneInfo

    try:
        preceding: datetime = croniter(cron, instant.astimezone(ZoneInfo(tz))).get_prev(datetime)
    except Exception:  # noqa: BLE001 - croniter signals an expression with no earlier date in several ways.
        return None
    return preceding.astimezone(UTC)


def _next_offset_change(tz: str, start: datetime, end: datetime) -> datetime | None:
    """The first instant after `start`, up to `end`, at which `tz` is at another UTC offset than at `start` (a
    daylight-saving change), to the second (zones change on whole seconds); None when the offset holds.

    Looks a day at a time (zoneinfo only, no croniter), so an offset changed and changed back within one day would
    be missed: no zone does that.
    """
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)

    def offset(instant: datetime) -> timedelta | None:
        return instant.astimezone(zone).utcoffset()

    held = offset(start)
    low = start
    while low < end:
        high = min(low + _OFFSET_SCAN, end)
        if offset(high) != held:
            lo, hi = math.floor(low.timestamp()), math.ceil(high.timestamp())
            while hi - lo > 1:  # the offset at lo is `held`, at hi not
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(datetime.fromtimestamp(mid, UTC)) == held else (lo, mid)
            return datetime.fromtimestamp(hi, UTC)
        low = high
    return None


def _latest_within_offset(cron: str, tz: str, start: datetime, end: datetime) -> datetime | None:
    """The last slot that stepping `_next_cron_instant` from `start` reaches at or before `end`, where `tz` keeps
    one UTC offset from `start` to `end` (UTC in and out), in a few croniter steps however many slots lie between.

    At one offset, croniter's next instant after any moment is the first local time the expression names after that
    moment's local time, so stepping from any moment in between joins the steps from `start`: croniter's `get_prev`
    from `end` is taken as a hint and the slots are stepped forward from just before it. A hint of no slot (one
    stepping never yields) is replaced by an earlier one, down to `start` itself.
    """
    if _next_cron_instant(cron, tz, start) > end:
        return None
    anchor = end
    while True:
        hint = _prev_cron_instant(cron, tz, anchor)
        # From just before the hint (slots are whole minutes), never from before `start`; a hint that does not go
        # back (croniter at a loss) is given up for `start`, from which a slot is due.
        anchor = start if hint is None or not start < hint - _BEFORE_HINT < anchor else hint - _BEFORE_HINT
        latest: datetime | None = None
        slot = _next_cron_instant(cron, tz, anchor)
        while slot <= end:
            latest, slot = slot, _next_cron_instant(cron, tz, slot)
        if latest is not None:
            return latest


@lru_cache(maxsize=1024)  # the scheduler checks each brand's schedules every pass; a refusal is not kept
def check_cron(field: str, expression: str) -> str:
    """A five-field cron expression (minute hour day month weekday) or a shorthand such as @daily that fires.

    croniter also reads a sixth field as seconds; a schedule of one run a second would flood the run queue, so the
    finest schedule is once a minute. An expression that never fires (30 February) is refused too: the scheduler
    could not compute its next slot.
    """
    text = expression.strip()  # what is stored and read: "@daily " was kept as typed, and croniter refused it for ever
    fields = text.split()
    if text.lower() in _CRON_ALIASES:
        return text
    if len(fields) != 5:
        raise InvalidValue(
            field,
            f"'{expression}' has {len(fields)} field(s); a schedule has 5 (minute hour day-of-month month "
            "day-of-week), so it runs at most once a minute",
        )
    if not croniter.is_valid(text):
        raise InvalidValue(field, f"'{expression}' is not a valid cron expression (e.g. '30 2 * * *')")
    try:
        croniter(text, _CRON_PROBE).get_next(datetime)
    except Exception:  # noqa: BLE001 - croniter signals an expression with no next date in several ways.
        raise InvalidValue(field, f"'{expression}' never fires") from None
    return text


def check_as_of(as_of: date, earliest: date, latest: date, *, dry_run: bool) -> None:
    """A run's as-of date lies between the brand's first business day and its business date.

    A later date would act on the future for real (records marked overdue, borrowers emailed); only a dry run,
    which writes nothing, may look ahead. An earlier date is before the brand existed (a mistyped year).
    """
    if as_of < earliest:
        raise InvalidValue(
            "as_of", f"{as_of.isoformat()} is before the brand's first business day ({earliest.isoformat()})"
        )
    if as_of > latest and not dry_run:
        raise InvalidValue(
            "as_of",
            f"{as_of.isoformat()} is after the brand's business date ({latest.isoformat()}); "
            "only a dry run, which writes nothing, may look ahead: choose that date as a dry run, or a date up to the "
            "business date",
        )


class RunQueueFull(Throttled):
    """Raised when a brand already has as many manual runs of a job waiting as it may."""


#: Manual runs of one job a brand may have waiting (requested or retrying) at once; one more is a 429. Enough for
#: a person's reruns; a client in a loop cannot pile up a queue (the scheduler is fair across brands, but a
#: brand's own runs of one job still run one at a time).
MAX_QUEUED_MANUAL_RUNS = 5
#: Seconds a client told 429 waits before asking again (a queued run usually starts within seconds).
QUEUE_RETRY_AFTER = 30


class JobNotFound(NotFound):
    """Raised when no job is registered under the name."""


class JobRunNotFound(NotFound):
    """Raised when no run has the id within the brand."""


class IncoherentCounts(ValueError):
    """Raised when a job reports a batch with more outcomes (succeeded, failed, skipped) than items processed, or a
    negative count: a bug in the job's handler, not bad input."""


class RunStatus(StrEnum):
    """Where a run is in its life."""

    REQUESTED = "requested"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _text_errors(name: str, values: dict[str, str]) -> list[FieldError]:
    """Each name and value of a job's `filters` or `variables` (`name`) that no text input may hold (`text_problem`):
    the portal's form decodes its JSON itself, so `"SML\\u0000"` typed there was a real NUL, stored with the settings,
    and PostgreSQL's jsonb then refused it in the activity projection."""
    errors = []
    for key, value in values.items():
        if (problem := text_problem(key, multiline=False)) is not None:
            errors.append(FieldError(name, f"a name {problem}"))
        elif (problem := text_problem(value)) is not None:
            errors.append(FieldError(f"{name}.{key}", problem))
    return errors


class JobSettings(BaseModel):
    """How a job runs for a brand: schedule, batching, retries, filters and input variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str | None
    enabled: bool = True
    batch_size: int = 500
    retry_count: int = 3
    retry_interval_seconds: int = 60
    filters: dict[str, str] = {}
    variables: dict[str, str] = {}

    def checked(self) -> JobSettings:
        """Validate the cron expression, the numeric limits and the text of the filters and variables; the settings
        with the cron expression as it is read (`check_cron`: without the spaces around it)."""
        if self.cron is not None and (cron := check_cron("cron", self.cron)) != self.cron:
            return self.model_copy(update={"cron": cron}).checked()
        if not 1 <= self.batch_size <= 100_000:
            raise InvalidValue("batch_size", "must be between 1 and 100000")
        if not 0 <= self.retry_count <= 20:
            raise InvalidValue("retry_count", "must be between 0 and 20")
        if not 0 <= self.retry_interval_seconds <= 86_400:
            raise InvalidValue("retry_interval_seconds", "must be between 0 and 86400")
        errors = [*_text_errors("filters", self.filters), *_text_errors("variables", self.variables)]
        if errors:
            raise InvalidInput(errors)
        return self

    def next_fire_after(self, instant: datetime, tz: str) -> datetime | None:
        """The first scheduled instant strictly after `instant`, read in the brand's timezone."""
        if self.cron is None or not self.enabled:
            return None
        return _next_cron_instant(self.cron, tz, instant.astimezone(UTC)).astimezone(instant.tzinfo)

    def latest_fire_between(self, after: datetime, until: datetime, tz: str) -> datetime | None:
        """The last of the slots that stepping `next_fire_after` from `after` reaches at or before `until`, or None
        when the first step already passes `until`: the one slot to fire after downtime.

        A few croniter steps however many slots were missed (stepping took one per slot: 1,440 for an every-minute
        job down a day), a few more for each daylight-saving change in between. Where the brand's timezone keeps
        one offset, the latest slot is found from croniter's previous instant (`_latest_within_offset`); across a
        change of offset, croniter reads a skipped or repeated local time differently depending on where it starts
        (a daily 01:30 fires twice at the autumn change, a yearly one once), so the slot before the change is
        stepped across it exactly as `next_fire_after` steps.
        """
        if self.cron is None or not self.enabled:
            return None
        base, end = after.astimezone(UTC), until.astimezone(UTC)
        if _next_cron_instant(self.cron, tz, base) > end:
            return None  # nothing due (remembered: an idle schedule asks this every pass)
        latest: datetime | None = None
        while True:
            change = _next_offset_change(tz, base, end)
            within = _latest_within_offset(self.cron, tz, base, end if change is None else change - _JUST_BEFORE)
            if within is not None:
                latest = base = within
            if change is None:
                break
            crossed = _next_cron_instant(self.cron, tz, base)  # at or after `change`: the step across it
            if crossed > end:
                break
            latest = base = crossed
        return None if latest is None else latest.astimezone(after.tzinfo)


class JobConfiguration(Aggregate):
    """A brand's settings for one registered job; every change is on the record."""

    id: UUID  # Passed in (uuid5 of the natural key) rather than random.

    class Configured(Aggregate.Created):
        """Settings were first stored (from the job's defaults or an admin's change)."""

        brand_id: UUID
        job_name: str
        settings: JobSettings

    class Reconfigured(Aggregate.Event):
        """Settings changed."""

        settings: JobSettings

    @event(Configured)
    def __init__(self, brand_id: UUID, job_name: str, settings: JobSettings) -> None:
        self.brand_id = brand_id
        self.job_name = job_name
        self.settings = settings

    @event(Reconfigured)
    def reconfigure(self, settings: JobSettings) -> None:
        self.settings = settings


class BatchCounts(BaseModel):
    """What one batch did: `processed` items of the job's unit (a covenant cycle, a message, a loan), each at most
    once `succeeded`, `failed` or `skipped` (so processed >= succeeded + failed + skipped; JobRun.complete_batch
    refuses a batch that counts more outcomes than items)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0


class JobRun(Aggregate):
    """One execution of a job for a brand and an as-of business date."""

    id: UUID  # Passed in (uuid5 of the natural key) rather than random.

    class Requested(Aggregate.Created):
        """A run was asked for, by the schedule or by a person."""

        brand_id: UUID
        job_name: str
        trigger: str
        requested_by: str
        as_of: date
        settings: JobSettings
        scheduled_for: datetime | None = None
        dry_run: bool = False  # compute and report counts, write nothing (may look past the business date)
        #: The company of the brand whose record the run works on (a notice sync's source's), or None: a brand-wide
        #: job. A staff member limited to companies sees only their companies' runs and the brand-wide ones. Runs
        #: requested before the field have none (brand-wide).
        company: str | None = None

    class AttemptStarted(Aggregate.Event):
        """A worker began an attempt."""

        attempt: int
        worker: str

    class BatchCompleted(Aggregate.Event):
        """A batch finished; counts are for the batch, `cursor` is where the next one starts."""

        counts: BatchCounts
        cursor: str | None = None

    class AttemptFailed(Aggregate.Event):
        """An attempt failed; another is due at `retry_at`."""

        attempt: int
        error: str
        retry_at: datetime

    class Succeeded(Aggregate.Event):
        """The run finished all its work."""

    class Failed(Aggregate.Event):
        """The run failed for good (retries used up)."""

        error: str

    @event(Requested)
    def __init__(
        self,
        brand_id: UUID,
        job_name: str,
        trigger: str,
        requested_by: str,
        as_of: date,
        settings: JobSettings,
        scheduled_for: datetime | None,
        dry_run: bool = False,
        company: str | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.job_name = job_name
        self.trigger = trigger
        self.requested_by = requested_by
        self.as_of = as_of
        self.settings = settings
        self.scheduled_for = scheduled_for
        self.dry_run = dry_run
        self.company = company
        self.status = RunStatus.REQUESTED
        self.attempt = 0
        self.totals = BatchCounts()
        self.batches = 0
        self.cursor: str | None = None
        self.error: str | None = None
        self.retry_at: datetime | None = None
        self.worker: str | None = None

    def start_attempt(self, worker: str, now: datetime) -> None:
        """Begin the next attempt; only a requested run, or a retrying one whose time has come."""
        if self.status == RunStatus.RETRYING and self.retry_at is not None and now < self.retry_at:
            raise Conflict(f"run retries at {self.retry_at.isoformat()}, not before")
        if self.status not in (RunStatus.REQUESTED, RunStatus.RETRYING):
            raise Conflict(f"run is {self.status.value}; only requested or retrying runs can start")
        self._attempt_started(attempt=self.attempt + 1, worker=worker)

    @event(AttemptStarted)
    def _attempt_started(self, attempt: int, worker: str) -> None:
        self.status = RunStatus.RUNNING
        self.attempt = attempt
        self.worker = worker
        self.retry_at = None

    def complete_batch(self, counts: BatchCounts, cursor: str | None) -> None:
        """Record a finished batch of a running attempt; counts with more outcomes than items processed are a job's
        bug (an operator reads "processed 16, succeeded 20" as nonsense), refused before anything is recorded."""
        self._require_running()
        outcomes = counts.succeeded + counts.failed + counts.skipped
        if min(counts.processed, counts.succeeded, counts.failed, counts.skipped) < 0 or outcomes > counts.processed:
            raise IncoherentCounts(f"{self.job_name}: a batch counted {outcomes} outcomes of {counts.processed} items")
        self._batch_completed(counts=counts, cursor=cursor)

    @event(BatchCompleted)
    def _batch_completed(self, counts: BatchCounts, cursor: str | None) -> None:
        self.batches += 1
        self.cursor = cursor
        self.totals = BatchCounts(
            processed=self.totals.processed + counts.processed,
            succeeded=self.totals.succeeded + counts.succeeded,
            failed=self.totals.failed + counts.failed,
            skipped=self.totals.skipped + counts.skipped,
        )

    def fail_attempt(self, error: str, now: datetime) -> None:
        """Record a failed attempt: retry later while retries remain, else fail the run."""
        self._require_running()
        if self.attempt <= self.settings.retry_count:
            self._attempt_failed(
                attempt=self.attempt,
                error=error[:2000],
                retry_at=now + timedelta(seconds=self.settings.retry_interval_seconds),
            )
        else:
            self._failed(error=error[:2000])

    @event(AttemptFailed)
    def _attempt_failed(self, attempt: int, error: str, retry_at: datetime) -> None:
        self.status = RunStatus.RETRYING
        self.error = error
        self.retry_at = retry_at

    @event(Failed)
    def _failed(self, error: str) -> None:
        self.status = RunStatus.FAILED
        self.error = error

    def succeed(self) -> None:
        """Mark the running attempt as having finished all work."""
        self._require_running()
        self._succeeded()

    @event(Succeeded)
    def _succeeded(self) -> None:
        self.status = RunStatus.SUCCEEDED
        self.error = None

    def _require_running(self) -> None:
        if self.status != RunStatus.RUNNING:
            raise Conflict(f"run is {self.status.value}, not running")
