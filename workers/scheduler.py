"""The scheduler: one leader (PostgreSQL advisory lock) fires cron slots and executes runs with retries."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import structlog

from domain.jobs.job import BatchCounts, JobRun, RunStatus
from domain.shared.aggregate import acting_as, tracing
from domain.shared.clock import business_date
from domain.shared.errors import Conflict

log = structlog.get_logger(__name__)

LEADER_LOCK_KEY = 7_316_001
STALLED_AFTER = timedelta(minutes=15)

JobHandler = Callable[[Any, JobRun], Iterator[tuple[BatchCounts, str | None]]]
SlotFirer = Callable[[Any, datetime], None]


class Scheduler(threading.Thread):
    """Fires scheduled runs and executes requested or retrying runs; only the leader does either."""

    def __init__(
        self,
        platform: Any,
        handlers: dict[str, JobHandler],
        interval: float = 5.0,
        firers: list[SlotFirer] | None = None,
    ) -> None:
        super().__init__(name="scheduler", daemon=True)
        self.platform = platform
        self.handlers = handlers
        self.firers = list(firers or [])
        self.interval = interval
        self.stopping = threading.Event()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.is_leader = False

    def stop(self) -> None:
        self.stopping.set()
        self.platform.wake_scheduler()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.platform.dsn, autocommit=True) as lock_conn:
                    self._lead(lock_conn)
            except Exception:
                log.exception("scheduler.failed")
                self.is_leader = False
                self.stopping.wait(self.interval)

    def _lead(self, lock_conn: psycopg.Connection[Any]) -> None:
        while not self.stopping.is_set():
            if not self.is_leader:
                row = lock_conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
                self.is_leader = bool(row and row[0])
                if self.is_leader:
                    log.info("scheduler.leader_acquired", worker=self.worker)
            else:
                lock_conn.execute("SELECT 1")  # Notice a lost connection (and so lost leadership) early.
            if self.is_leader:
                self.tick()
            self.platform.scheduler_wake.wait(self.interval)
            self.platform.scheduler_wake.clear()

    def tick(self) -> None:
        """One pass: fire due cron slots, recover stalled runs, execute due runs."""
        now = self.platform.clock.now()
        self.fire_due_slots(now)
        for fire in self.firers:
            try:
                fire(self.platform, now)
            except Exception:
                log.exception("scheduler.firer_failed", firer=getattr(fire, "__name__", repr(fire)))
        self.recover_stalled(now)
        for run_id, _brand_id, _job in self.platform.job_queries.due(now):
            if self.stopping.is_set():
                return
            self.execute(run_id)

    def fire_due_slots(self, now: datetime) -> None:
        """Request a run for the latest missed cron slot of each enabled job of each brand."""
        for brand in self.platform.brand_queries.all():
            for name in self.platform.jobs.catalogue:
                settings = self.platform.jobs.settings(brand.id, name)
                if not settings.cron or not settings.enabled:
                    continue
                last = self.platform.ops.last_slot(brand.id, name)
                if last is None:  # First sight: start the schedule now rather than backfilling history.
                    self.platform.ops.set_last_slot(brand.id, name, now)
                    continue
                slot = settings.next_fire_after(last, brand.timezone)
                due = None
                while slot is not None and slot <= now:
                    due, slot = slot, settings.next_fire_after(slot, brand.timezone)
                if due is None:
                    continue
                with acting_as("scheduler"):
                    self.platform.jobs.request_run(
                        brand.id,
                        name,
                        trigger="schedule",
                        requested_by="scheduler",
                        as_of=business_date(due, brand.timezone),
                        scheduled_for=due,
                    )
                self.platform.ops.set_last_slot(brand.id, name, due)
                log.info("scheduler.slot_fired", brand=brand.slug, job=name, slot=due.isoformat())
        self.platform.engine.wait_for("jobs", self.platform.engine.head("jobs"), timeout=2.0)

    def recover_stalled(self, now: datetime) -> None:
        """A run left 'running' by a dead worker gets a failed attempt, so it retries (from its cursor).

        A worker process on this host that no longer exists (killed, crashed, restarted) is known dead at once;
        a worker elsewhere is presumed dead when its run has shown no progress for STALLED_AFTER.
        """
        stalled = set(self.platform.job_queries.stalled(now - STALLED_AFTER))
        for run_id in self.platform.job_queries.running():
            if run_id in stalled:
                continue
            run = self.platform.jobs.run(None, run_id)
            if run.status == RunStatus.RUNNING and run.worker and not _alive(run.worker):
                with acting_as("scheduler"):
                    self.platform.jobs.fail_attempt(run, f"worker {run.worker} is gone (process exited)")
                log.warning("scheduler.run_orphaned", run=str(run_id), worker=run.worker)
        for run_id in stalled:
            run = self.platform.jobs.run(None, run_id)
            if run.status == RunStatus.RUNNING:
                with acting_as("scheduler"):
                    self.platform.jobs.fail_attempt(run, "worker stopped responding")
                log.warning("scheduler.run_stalled", run=str(run_id))

    def execute(self, run_id: Any) -> None:
        """Run one attempt of a run: batches, then success; an exception becomes a retry or a failure."""
        try:
            with acting_as(f"job:{self.worker}"):
                run = self.platform.jobs.start_attempt(run_id, self.worker)
        except Conflict:
            return  # Another worker took it, or its retry time has not come.
        handler = self.handlers.get(run.job_name)
        log.info("job.started", run=str(run_id), job=run.job_name, attempt=run.attempt, as_of=run.as_of.isoformat())
        with acting_as(f"job:{run.job_name}"), tracing(f"job-run:{run_id}"):
            try:
                if handler is None:
                    raise LookupError(f"no handler for job '{run.job_name}' in this worker")
                for counts, cursor in handler(self.platform, run):
                    self.platform.jobs.complete_batch(run, counts, cursor)
                self.platform.jobs.succeed(run)
                log.info("job.succeeded", run=str(run_id), job=run.job_name, processed=run.totals.processed)
            except Exception as exc:  # noqa: BLE001 - any failure is recorded on the run and retried.
                log.warning("job.attempt_failed", run=str(run_id), job=run.job_name, error=str(exc))
                self.platform.jobs.fail_attempt(run, f"{type(exc).__name__}: {exc}")
        self.platform.engine.wait_for("jobs", self.platform.engine.head("jobs"), timeout=2.0)


def _alive(worker: str) -> bool:
    """False only when `worker` ("host:pid") names a process of this host that no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
