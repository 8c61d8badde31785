"""The runner thread of one source application's projections: catches up in batches, then follows new events
with LISTEN/NOTIFY."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import structlog

from projections.failures import ProjectionStalled, describe_error, is_transient
from projections.listening import Listener, NotifyWaiter

if TYPE_CHECKING:
    from projections.engine import ProjectionEngine

log = structlog.get_logger(__name__)


class ProjectionRunner(threading.Thread):
    """Keeps projections of one source current: catch up in batches, then follow LISTEN/NOTIFY.

    One runner (one thread) serves every projection of a source application, and the runners of a process share one
    listening connection (`Listener`), so a process holds a handful of connections however many read models it has.
    """

    #: A stopped projection is tried again after this many seconds (an operator may have fixed its cause).
    STOPPED_RETRY_SECONDS = 5.0
    #: Notifications a catching-up batch covers at most (one transaction). A runner behind a busy writer in the same
    #: process pays each of a batch's round trips again in waiting for the GIL, so bigger batches catch up faster:
    #: the covenant read model following a 1M-covenant evaluation run (2M events) reached the head 2.8 s after the run
    #: with 10,000 (8,032 covenants/s in all) and 37 s after with 2,000 (6,956/s); quick runs 10,016 and 10,303
    #: against 8,933 and 7,037/s. A batch holds its notifications and decoded events in memory at once.
    BATCH = 10_000

    def __init__(
        self,
        engine: ProjectionEngine,
        names: str | list[str],
        dsn: str,
        batch: int = BATCH,
        listener: Listener | None = None,
    ) -> None:
        """`listener`: the process's shared one (started and stopped by its owner); without it the runner listens on
        a connection of its own."""
        chosen = [names] if isinstance(names, str) else list(names)
        super().__init__(name=f"projection-{'+'.join(chosen)}", daemon=True)
        self.engine = engine
        self.projections = [engine.projection(name) for name in chosen]
        sources = {p.source for p in self.projections}
        if len(sources) != 1:
            raise ValueError(f"a runner follows one source application, not {sorted(sources)}")
        self.dsn = dsn
        self.batch = batch
        self.stopping = threading.Event()
        self.waiter = NotifyWaiter()  # woken by the listener's notifications, and by stop()
        self.listener = listener
        self.resume_at: dict[str, float] = {}  # stopped projection -> when to try it again
        self.source = sources.pop()
        self.channel = engine.applications[self.source].recorder.channel_name  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.stopping.set()
        self.waiter.wake()

    def run(self) -> None:
        listener = self.listener
        if listener is None:  # a runner alone: a listener (one connection) of its own
            listener = Listener(self.dsn)
            listener.start()
        listener.subscribe(self.channel, self.waiter)
        try:
            self._run()
        finally:
            listener.unsubscribe(self.channel, self.waiter)
            if listener is not self.listener:
                listener.stop()
                listener.join(timeout=3)
        self.waiter.close()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._follow()
            except Exception as exc:
                names = [p.name for p in self.projections]
                if is_transient(exc):  # An outage: say so once a second, without a traceback each time.
                    log.warning("projection.runner_waiting_for_database", projections=names, error=describe_error(exc))
                else:
                    log.exception("projection.runner_failed", projections=names)
                self.stopping.wait(1.0)

    def _follow(self) -> None:
        watch = self.engine.idle_watch
        key = id(self)
        watch.enter()
        try:
            while not self.stopping.is_set():
                covered, head = self._pass()
                if covered:
                    continue
                # Caught up (each projection found nothing after the pass's head): sleep until the listener hands on
                # the recorder's NOTIFY, or the process's idle watch seeing what a NOTIFY does not announce (events
                # recorded without one, a projection moved back elsewhere), or a stopped projection's next try.
                retry = min(self.resume_at.values(), default=None)
                timeout = None if retry is None else max(retry - time.monotonic(), 0.0)
                watch.idle(key, self.source, self._running(), head, self.waiter.wake)
                self.waiter.wait(None, timeout)
                watch.busy(key)
        finally:
            watch.leave(key)

    def _pass(self) -> tuple[int, int]:
        """One pass over the projections up to the source's head, read once: how many notifications it covered, and
        that head."""
        head = self.engine.head(self.source)
        covered = 0
        shared: dict[tuple[int, int], Any] = {}  # this pass's batches of events, read once (process_batch)
        for projection in self.projections:
            # One stopped projection must not hold up the others of its source.
            if self.resume_at.get(projection.name, 0.0) > time.monotonic():
                continue
            try:
                with self.engine.pool.connection() as conn:
                    covered += self.engine.process_batch(conn, projection, self.batch, head=head, shared=shared)
                self.resume_at.pop(projection.name, None)
            except ProjectionStalled:
                self.resume_at[projection.name] = time.monotonic() + self.STOPPED_RETRY_SECONDS
        return covered, head

    def _running(self) -> list[str]:
        """The projections the runner keeps at the head: not a stopped one (it stays behind until it is retried)."""
        return [p.name for p in self.projections if p.name not in self.resume_at]
