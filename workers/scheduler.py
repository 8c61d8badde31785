"""The scheduler: one leader (PostgreSQL advisory lock) fires cron slots and hands runs to a few executor threads,
brand by brand in turn; runs of one brand and lane never overlap."""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import structlog

from adapters.operational import OperationalStore
from adapters.postgres import Database
from domain.identity.application import Identity
from domain.jobs.application import Jobs, RunBell
from domain.jobs.job import BatchCounts, JobRun, JobSettings, RunStatus, check_cron
from domain.shared.aggregate import acting_as, tracing
from domain.shared.clock import Clock, business_date
from domain.shared.errors import Conflict, InvalidInput
from projections.brands import BrandQueries
from projections.engine import ProjectionEngine
from projections.jobs import JobRunQueries
from workers.brand_configurations import BrandConfigurations

log = structlog.get_logger(__name__)

LEADER_LOCK_KEY = 7_316_001
#: First key of the two-key advisory locks an executor holds on the lane (brand, lane) of the run it executes.
LANE_LOCK_CLASS = 7_316_002
STALLED_AFTER = timedelta(minutes=15)
#: Seconds of a long cron-firing pass between two dispatches of the runs already due.
DISPATCH_DURING_FIRING = 1.0
#: Executor threads by default (JOB_WORKERS overrides): runs of different brands, or of different lanes of one
#: brand, proceed in parallel up to this many.
DEFAULT_WORKERS = 4

#: A job's handler bound to its port (see Platform.job_handlers): yields (counts, cursor) per batch of a run.
JobHandler = Callable[[JobRun], Iterator[tuple[BatchCounts, str | None]]]
#: A schedule kept outside job settings, bound to its port: requests the runs due at `now`.
Firer = Callable[[datetime], None]


@dataclass(frozen=True)
class SchedulerPort:
    """What the scheduler uses: the jobs context, the brands, slot bookkeeping and the read side."""

    db: Database
    jobs: Jobs
    job_queries: JobRunQueries
    brand_queries: BrandQueries
    identity: Identity
    configurations: BrandConfigurations
    ops: OperationalStore
    engine: ProjectionEngine
    clock: Clock
    bell: RunBell


class Scheduler(threading.Thread):
    """Fires scheduled runs and executes requested or retrying runs; only the leader does either."""

    def __init__(
        self,
        port: SchedulerPort,
        handlers: Mapping[str, JobHandler],
        interval: float = 5.0,
        firers: Sequence[Firer] = (),
        workers: int | None = None,
    ) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.port = port
        self.handlers = handlers
        self.firers = list(firers or [])
        self.interval = interval
        self.stopping = threading.Event()
        self.worker = WORKER
        self.is_leader = False
        self.workers = max(1, workers or int(os.environ.get("JOB_WORKERS", DEFAULT_WORKERS)))
        #: Executors one brand may hold while another brand waits (the rest stay free for the others).
        self.per_brand = max(1, self.workers // 2)
        self._lock = threading.Lock()
        self._in_flight: dict[UUID, tuple[UUID, str]] = {}  # run id -> (brand, lane)
        self._lanes: set[tuple[UUID, str]] = set()
        self._brand_load: Counter[UUID] = Counter()
        self._last_brand: UUID | None = None  # where the round robin over brands resumes
        self._handoff: queue.Queue[tuple[UUID, UUID, str] | None] = queue.Queue()
        self._executors: list[threading.Thread] = []
        self._refused_crons: set[tuple[UUID, str]] = set()
        # A firing pass's reads (`_start_pass`): last slots, and settings kept while the jobs head stays.
        self._last_slots: dict[tuple[UUID, str], datetime] = {}
        self._settings: dict[tuple[UUID, str], JobSettings] = {}
        self._settings_head: int | None = None
        #: Per brand, its close of business under way (run id, as-of): read once a pass when first needed, and
        #: the ones the pass asks for (`_closing_runs`).
        self._closing: dict[UUID, tuple[UUID, date]] | None = None

    def stop(self) -> None:
        self.stopping.set()
        for _ in self._executors:
            self._handoff.put(None)
        self.port.bell.ring()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.port.db.dsn, autocommit=True) as lock_conn:
                    self._lead(lock_conn)
            except Exception:
                log.exception("scheduler.failed")
                self.is_leader = False
                self.stopping.wait(self.interval)

    def _lead(self, lock_conn: psycopg.Connection[Any]) -> None:
        next_tick = 0.0
        while not self.stopping.is_set():
            self.port.bell.clear()  # Before the work: a wake during it is not lost.
            if not self.is_leader:
                row = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
                self.is_leader = bool(row and row[0])
                if self.is_leader:
                    log.info("scheduler.leader_acquired", worker=self.worker)
            else:
                lock_conn.execute("SELECT 1")  # Notice a lost connection (and so lost leadership) early.
            if self.is_leader:
                # A wake (a run requested, an executor freed) only dispatches; cron slots and recovery keep their
                # interval, however many runs finish in between.
                if time.monotonic() >= next_tick:
                    self.tick()
                    next_tick = time.monotonic() + self.interval
                else:
                    self.dispatch(self.port.clock.now())
            self.port.bell.wait(max(0.0, next_tick - time.monotonic()) if self.is_leader else self.interval)

    def tick(self) -> None:
        """One pass: recover stalled runs, fire due cron slots, hand due runs to the executors. Recovery comes first:
        a run a dead worker left is due for its retry while a long firing pass dispatches (see `fire_due_slots`)."""
        now = self.port.clock.now()
        self.recover_stalled(now)
        self.fire_due_slots(now, dispatching=True)
        for fire in self.firers:
            try:
                fire(now)
            except Exception:
                log.exception("scheduler.firer_failed", firer=getattr(fire, "__name__", repr(fire)))
        if not self.stopping.is_set():
            self.dispatch(self.port.clock.now())

    def fire_due_slots(self, now: datetime, dispatching: bool = False) -> None:
        """Request a run for the latest missed cron slot of each enabled job of each brand. `dispatching` (the
        leader's tick): runs already asked for are dispatched every DISPATCH_DURING_FIRING seconds of the pass, so a
        worker starting on many brands' missed slots (minutes of writes) does not hold back a run asked for meanwhile."""
        dispatched = time.monotonic()
        self._start_pass()
        # A brand's close of business first: the pass's other runs of a brand it is catching up are dated by it.
        names = self.port.jobs.kinds().firing_order
        for brand in self.port.brand_queries.all():
            for name in names:
                if self.stopping.is_set():
                    return
                try:
                    self._fire_slot(brand, name, now)
                except Exception:  # One brand's bad schedule must not stop the others'.
                    log.exception("scheduler.slot_failed", brand=brand.slug, job=name)
                if dispatching and time.monotonic() - dispatched >= DISPATCH_DURING_FIRING:
                    # Due by the clock now, not at the pass's start: a retry recovered just before it is due at
                    # its failure time, after the pass's `now`.
                    self.dispatch(self.port.clock.now())
                    dispatched = time.monotonic()
        self._settle()

    def _start_pass(self) -> None:
        """Read what a firing pass needs in two reads instead of two a brand and job: every last fired slot (only
        the leader writes them), and the jobs context's head, which keeps the settings read in earlier passes
        while nothing was recorded there (any change of settings is an event of that context)."""
        self._last_slots = self.port.ops.last_slots()
        self._closing = None
        head = self.port.engine.head(Jobs.name)
        if head != self._settings_head:
            self._settings.clear()
            self._settings_head = head

    def _job_settings(self, brand_id: UUID, name: str) -> JobSettings:
        key = (brand_id, name)
        if key not in self._settings:
            self._settings[key] = self.port.jobs.settings(brand_id, name)
        return self._settings[key]

    def _closing_runs(self) -> dict[UUID, tuple[UUID, date]]:
        """Per brand, its close of business under way (queued, running or retrying): run id and as-of date. Read
        once a pass, when first needed; the pass adds the ones it asks for."""
        if self._closing is None:
            self._closing = self.port.job_queries.closing(list(self.port.jobs.kinds().closing))
        return self._closing

    def _fire_slot(self, brand: Any, name: str, now: datetime) -> None:
        definition = self.port.jobs.definition(name)
        if not definition.scheduled:
            return
        settings = self._job_settings(brand.id, name)
        if not settings.cron or not settings.enabled:
            return
        try:
            check_cron("cron", settings.cron)
        except InvalidInput as exc:  # Stored before schedules were limited to once a minute: not fired.
            if (brand.id, name) not in self._refused_crons:
                self._refused_crons.add((brand.id, name))
                log.warning("scheduler.cron_refused", brand=brand.slug, job=name, error=exc.message)
            return
        last = self._last_slots.get((brand.id, name))
        if last is None:  # First sight: start the schedule now rather than backfilling history.
            self.port.ops.set_last_slot(brand.id, name, now)
            return
        due = settings.latest_fire_between(last, now, brand.timezone)  # the latest missed slot, in a few steps
        if due is None:
            return
        # A brand held at a business date an admin set runs as of that date, never after it. The close of business
        # of a brand following the calendar runs as of the slot's day: after the scheduler was down it closes every
        # date missed, in order, and moves the business date on to the slot's day + 1 (Identity.business_date_held).
        # While it is under way, the brand's other runs are dated as of the date it brings the brand to (never after
        # their slot's day); those reading loan positions wait for it to end (`JobDefinition.waits_for_close`).
        day = business_date(due, brand.timezone)
        # The business date and whether it is held, as of now: one small read (the identity application's head)
        # while nothing was recorded there since the last, not a replay of the brand and its configuration.
        self.port.configurations.refresh()
        state = self.port.configurations.state(brand.id)
        catching_up = definition.catches_up and not state.business_date_held
        closing = None if catching_up or state.business_date_held else self._closing_runs().get(brand.id)
        if catching_up:
            as_of = day
        elif closing is not None:
            as_of = min(day, max(state.business_date, closing[1] + timedelta(days=1)))
        else:
            as_of = min(day, state.business_date)
        try:
            with acting_as("scheduler"):
                result = self.port.jobs.request_run(
                    brand.id, name, trigger="schedule", requested_by="scheduler", as_of=as_of, scheduled_for=due,
                    catching_up=catching_up,
                    closing_run=closing[0] if closing is not None and as_of > state.business_date else None,
                )  # fmt: skip
        except InvalidInput as exc:  # The slot's date is outside the brand's calendar: skipped, not retried.
            log.warning("scheduler.slot_refused", brand=brand.slug, job=name, slot=due.isoformat(), error=exc.message)
        else:
            log.info("scheduler.slot_fired", brand=brand.slug, job=name, slot=due.isoformat(), as_of=as_of.isoformat())
            if catching_up:  # the read model may not show it yet
                under_way = self._closing_runs()
                if brand.id not in under_way or under_way[brand.id][1] <= as_of:
                    under_way[brand.id] = (result.id, as_of)
        self.port.ops.set_last_slot(brand.id, name, due)

    # Dispatch ----------------------------------------------------------------------------------------------

    def dispatch(self, now: datetime) -> int:
        """Hand due runs to free executors, brand by brand in turn; returns how many were handed over.

        A run waits while another run of its brand and lane is in flight, and a run of a job reading loan positions
        (`waits_for_close`) while a close of business of its brand dated before it has not ended (`JobRunQueries.due`:
        after a scheduler outage, the catching-up one). A brand may hold `per_brand` executors
        while other brands have runs to start; beyond that it may use all but one, so a brand that asks next still
        finds an executor free.
        """
        self._start_executors()
        queued: dict[UUID, list[tuple[UUID, str]]] = {}
        kinds = self.port.jobs.kinds()  # worked out once, not on every dispatch
        for run in self.port.job_queries.due(now, closing=list(kinds.closing), waiting=list(kinds.waiting)):
            queued.setdefault(run.brand_id, []).append((run.id, self.port.jobs.lane(run.job_name)))
        handed = 0
        with self._lock:
            for cap, limit in ((self.per_brand, self.workers), (self.workers, self.workers - 1)):
                while len(self._in_flight) < limit:
                    picked = self._next_run(queued, cap)
                    if picked is None:
                        break
                    run_id, brand_id, lane = picked
                    self._in_flight[run_id] = (brand_id, lane)
                    self._lanes.add((brand_id, lane))
                    self._brand_load[brand_id] += 1
                    self._last_brand = brand_id
                    self._handoff.put(picked)
                    handed += 1
        return handed

    def _next_run(self, queued: dict[UUID, list[tuple[UUID, str]]], cap: int) -> tuple[UUID, UUID, str] | None:
        """The oldest startable run of the next brand after the last one served that has one (caller holds the lock)."""
        brands = sorted(queued)
        if self._last_brand is not None:
            brands = [b for b in brands if b > self._last_brand] + [b for b in brands if b <= self._last_brand]
        for brand_id in brands:
            if self._brand_load[brand_id] >= cap:
                continue
            for index, (run_id, lane) in enumerate(queued[brand_id]):
                if run_id in self._in_flight or (brand_id, lane) in self._lanes:
                    continue
                del queued[brand_id][index]
                return run_id, brand_id, lane
        return None

    def in_flight(self) -> set[UUID]:
        """The runs this scheduler's executors hold now."""
        with self._lock:
            return set(self._in_flight)

    def _start_executors(self) -> None:
        while len(self._executors) < self.workers:
            thread = threading.Thread(
                target=self._execute_handed, name=f"job-executor-{len(self._executors)}", daemon=True
            )
            self._executors.append(thread)
            thread.start()

    def _execute_handed(self) -> None:
        """An executor: take handed runs one by one and execute each holding its lane's lock in PostgreSQL."""
        conn: psycopg.Connection[Any] | None = None
        while (item := self._handoff.get()) is not None:
            run_id, brand_id, lane = item
            executed = False
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.port.db.dsn, autocommit=True)
                executed = self._execute_in_lane(conn, run_id, brand_id, lane)
            except Exception:  # The run's own failures are recorded by execute; this is the lane's.
                log.exception("scheduler.executor_failed", run=str(run_id))
                if conn is not None:
                    conn.close()
                conn = None
            finally:
                with self._lock:
                    self._in_flight.pop(run_id, None)
                    self._lanes.discard((brand_id, lane))
                    self._brand_load[brand_id] -= 1
                if executed:
                    self.port.bell.ring()  # An executor is free: the next run starts now, not next tick.
        if conn is not None:
            conn.close()

    def _execute_in_lane(self, conn: psycopg.Connection[Any], run_id: UUID, brand_id: UUID, lane: str) -> bool:
        """Execute the run unless another process holds its lane (a leader that lost its lock, still running)."""
        key = (LANE_LOCK_CLASS, f"{brand_id}:{lane}")
        row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key).fetchone()
        if not (row and row[0]):
            log.info("scheduler.lane_busy", run=str(run_id), lane=lane)
            return False
        try:
            # Not started (the run history behind: it still lists a run another worker took): no bell, or dispatch,
            # reading the same stale list, handed the same run out again in a tight loop until it caught up.
            return self.execute(run_id)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def recover_stalled(self, now: datetime) -> None:
        """A run left 'running' by a dead worker gets a failed attempt, so it retries (from its cursor).

        A worker process on this host that no longer exists (killed, crashed, restarted) is known dead at once,
        whatever runs live workers hold; a worker elsewhere is presumed dead when its run has shown no progress for
        STALLED_AFTER.
        """
        mine = self.in_flight()  # Alive by definition: this process's executors are running them.
        for worker, run_ids in self.port.job_queries.running_by_worker().items():
            if worker is not None and _alive(worker):
                continue
            for run_id in run_ids:
                if run_id in mine:
                    continue
                run = self.port.jobs.run(None, run_id)  # the run itself: the read model may lag, or predate `worker`
                if run.status == RunStatus.RUNNING and run.worker and not _alive(run.worker):
                    with acting_as("scheduler"), tracing(f"job-run:{run_id}"):
                        self.port.jobs.fail_attempt(run, f"worker {run.worker} is gone (process exited)")
                    log.warning("scheduler.run_orphaned", run=str(run_id), worker=run.worker)
        for run_id in self.port.job_queries.stalled(now - STALLED_AFTER, besides=mine):
            run = self.port.jobs.run(None, run_id)
            if run.status == RunStatus.RUNNING:
                with acting_as("scheduler"), tracing(f"job-run:{run_id}"):
                    self.port.jobs.fail_attempt(run, "worker stopped responding")
                log.warning("scheduler.run_stalled", run=str(run_id))

    def execute(self, run_id: Any) -> bool:
        """Run one attempt of a run: batches, then success; an exception becomes a retry or a failure. False when no
        attempt was started (another worker took it, or its retry time has not come)."""
        try:
            # the attempt's start is the run's too: traced to it as what the attempt records is (not the event's id)
            with acting_as(f"job:{self.worker}"), tracing(f"job-run:{run_id}"):
                run = self.port.jobs.start_attempt(run_id, self.worker)
        except Conflict:
            return False  # Another worker took it, or its retry time has not come.
        handler = self.handlers.get(run.job_name)
        log.info(
            "job.started",
            run=str(run_id),
            job=run.job_name,
            attempt=run.attempt,
            as_of=run.as_of.isoformat(),
            dry_run=run.dry_run,
        )
        with acting_as(f"job:{run.job_name}"), tracing(f"job-run:{run_id}"):
            try:
                if handler is None:
                    raise LookupError(f"no handler for job '{run.job_name}' in this worker")
                for counts, cursor in handler(run):
                    self.port.jobs.complete_batch(run, counts, cursor)
                self.port.jobs.succeed(run)
                log.info("job.succeeded", run=str(run_id), job=run.job_name, processed=run.totals.processed)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run and retried.
                log.warning("job.attempt_failed", run=str(run_id), job=run.job_name, error=str(exc))
                self.port.jobs.fail_attempt(run, f"{type(exc).__name__}: {exc}")
        self._settle()
        return True

    def _settle(self) -> None:
        """Let the run history (which dispatch reads) catch up, briefly: a lagging read model delays, never blocks."""
        if not self.port.engine.wait_for(Jobs.name, self.port.engine.head(Jobs.name), timeout=2.0):
            log.info("scheduler.run_history_behind")


#: This process's worker id, "host:pid:token": the token tells a process from an earlier one given the same pid (a
#: container restarted keeps its hostname and runs `serve` as pid 1 again, and its leader took the runs the old
#: process left for its own, alive, until they stalled for STALLED_AFTER).
WORKER = f"{socket.gethostname()}:{os.getpid()}:t{uuid.uuid4().hex[:8]}"


def _alive(worker: str) -> bool:
    """False only when `worker` ("host:pid:token", or "host:pid" as recorded before) names a process of this host
    that no longer exists: its pid is gone, or it is this process's pid under another token."""
    parts = worker.split(":")
    token = parts.pop() if len(parts) >= 3 and parts[-1].startswith("t") else None
    pid = parts.pop() if parts else ""
    host = ":".join(parts)
    if host != socket.gethostname() or not pid.isdigit():
        return True
    if int(pid) == os.getpid() and token is not None:
        return worker == WORKER
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
