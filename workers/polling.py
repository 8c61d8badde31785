"""The loop of a background worker that drains a queue: a pass, then a wait only when the pass found nothing."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from uuid import uuid4

import structlog

from domain.shared.aggregate import tracing

if TYPE_CHECKING:
    from projections.engine import ProjectionEngine


#: The trace id of what one pass of a background worker records: `worker-pass:<worker>:<pass id>`.
WORKER_PASS_TRACE = "worker-pass:{worker}:{pass_id}"


@contextmanager
def worker_pass(worker: str) -> Iterator[str]:
    """Trace what one pass of `worker` records, as a job run's are (`job-run:<id>`): every event it records carries
    `worker-pass:<worker>:<pass id>` beside the worker's actor, and its log lines the same `trace_id`, so an auditor
    tells which worker and which pass recorded an event (none before: these workers run outside any job run or
    request). Inside a job run or a request (the `esign-expiry` job expiring links), use theirs instead."""
    trace = WORKER_PASS_TRACE.format(worker=worker, pass_id=uuid4())
    with tracing(trace), structlog.contextvars.bound_contextvars(trace_id=trace):
        yield trace


class QueueDrainer(threading.Thread):
    """A daemon thread calling `drain()` until stopped: again at once while passes find work, and after five intervals
    when one fails (logged as `failure_event`).

    Its queues are read models, filled by the projections: given the `engine`, a pass that found nothing sleeps until
    a projection of this process moves (`ProjectionEngine.wake_on_advance`), and otherwise looks again after
    `interval` seconds, then twice as long each time it found nothing, up to IDLE_MAX_SECONDS -- the bound on how
    late it sees what no projection here announces (a runner in another process, a row whose time has come). Passes
    woken by projections come no closer than MIN_GAP_SECONDS, so a busy read side does not turn into a busy loop.
    Without the engine (or with IDLE_MAX_SECONDS at `interval`) it reads every `interval` seconds, as it used to:
    an idle `make run` made five such reads a second for nothing."""

    #: The log event of a failed pass (each worker names its own).
    failure_event = "worker.drain_failed"
    #: The longest idle wait between two passes when no projection moved.
    IDLE_MAX_SECONDS = 10.0
    #: The shortest time between the starts of two passes woken by projections moving.
    MIN_GAP_SECONDS = 0.2
    #: Whether a pass that found work is followed by a wait of `interval` (a worker whose queue is left by its read
    #: model catching up, not by the pass itself) rather than by the next pass at once.
    rest_after_work = False

    def __init__(self, name: str, interval: float = 1.0, engine: ProjectionEngine | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.engine = engine
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set by the engine when a projection moves, and by stop()

    def stop(self) -> None:
        """Ask the loop to end (after the pass it is in)."""
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        log = structlog.get_logger(type(self).__module__)  # the worker's own module names its lines
        if self.engine is not None:
            self.engine.wake_on_advance(self.wake)
        idle_wait = self.interval
        try:
            while not self.stopping.is_set():
                self.wake.clear()  # before the pass: a projection moving during it makes the next one start at once
                started = time.monotonic()
                try:
                    found = self.drain()
                except Exception:
                    log.exception(self.failure_event)
                    self.stopping.wait(self.interval * 5)
                    continue
                if found:
                    idle_wait = self.interval
                    if self.rest_after_work:
                        self.stopping.wait(self.interval)
                    continue
                idle_wait = self.idle(started, idle_wait)
        finally:
            if self.engine is not None:
                self.engine.stop_waking(self.wake)

    def idle(self, started: float, idle_wait: float) -> float:
        """Sleep after a pass (begun at `started`) that found nothing; the next idle wait."""
        if self.engine is None:
            self.stopping.wait(self.interval)
            return self.interval
        if self.wake.wait(idle_wait):
            # A projection moved: pass again, but not sooner than MIN_GAP_SECONDS after the last pass began.
            self.stopping.wait(max(0.0, started + self.MIN_GAP_SECONDS - time.monotonic()))
            return self.interval
        return min(idle_wait * 2, max(self.IDLE_MAX_SECONDS, self.interval))

    def traced_pass(self) -> contextlib.AbstractContextManager[str]:
        """The trace of one pass of this worker (`worker_pass`): each `drain` runs in one."""
        return worker_pass(self.name)

    def drain(self) -> int:
        """One pass over the queue; how many items it handled."""
        raise NotImplementedError
