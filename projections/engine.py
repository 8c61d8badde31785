"""Projection engine: pure projectors, exactly-once runners, status, waiting and rebuilds.

A projection turns events into SQL writes (`Write`s) without touching the
database itself, so it is unit-testable. The runner applies a batch of writes
and moves the projection's tracking position in the same transaction, so each
event is applied exactly once even across crashes. It catches up by reading
the application's notification log in batches, then follows new events with
LISTEN/NOTIFY on the recorder's channel.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
import structlog
from eventsourcing.application import Application
from psycopg import Connection

log = structlog.get_logger(__name__)

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS ops.projection_tracking (
    projection text PRIMARY KEY,
    source text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Write:
    """One SQL statement with parameters; consecutive writes of one statement run as one executemany."""

    sql: str
    params: tuple[Any, ...] | dict[str, Any]


class Projection(ABC):
    """An event -> rows projector plus the DDL of the read tables it owns."""

    name: ClassVar[str]
    source: ClassVar[str]  # name of the Application whose events it reads
    topics: ClassVar[tuple[str, ...]] = ()  # event topics it handles; others are skipped in SQL
    tables: ClassVar[tuple[str, ...]] = ()  # qualified names, dropped on rebuild
    ddl: ClassVar[tuple[str, ...]] = ()  # idempotent CREATE statements

    @abstractmethod
    def project(self, position: int, event: Any) -> Iterable[Write]:
        """Writes that apply `event` (recorded at `position`) to the read tables."""

    def create(self, conn: Connection[Any]) -> None:
        """Create the read tables and indexes if missing."""
        for statement in self.ddl:
            conn.execute(statement)

    def drop(self, conn: Connection[Any]) -> None:
        """Drop the read tables."""
        for table in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


@dataclass(frozen=True)
class ProjectionStatus:
    """A projection's position and how far behind its source it is."""

    name: str
    source: str
    position: int
    head: int
    updated_at: Any

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class ProjectionEngine:
    """Knows every projection and its source application; runs, rebuilds and reports them."""

    def __init__(self, pool: Any, applications: dict[str, Application[Any]], projections: Sequence[Projection]) -> None:
        self.pool = pool
        self.applications = applications
        self.projections = {p.name: p for p in projections}
        self._advanced = threading.Condition()

    def setup(self) -> None:
        """Create tracking and every projection's tables (idempotent)."""
        with self.pool.connection() as conn:
            conn.execute(TRACKING_DDL)
            for projection in self.projections.values():
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (projection.name,))
                    projection.create(conn)
                    conn.execute(
                        "INSERT INTO ops.projection_tracking (projection, source) VALUES (%s, %s) "
                        "ON CONFLICT (projection) DO NOTHING",
                        (projection.name, projection.source),
                    )

    def projection(self, name: str) -> Projection:
        """The projection with the name, or KeyError naming the known ones."""
        try:
            return self.projections[name]
        except KeyError:
            raise KeyError(f"unknown projection '{name}' (known: {', '.join(sorted(self.projections))})") from None

    def head(self, source: str) -> int:
        """The newest notification id of a source application."""
        return self.applications[source].recorder.max_notification_id() or 0

    def process_batch(self, conn: Connection[Any], projection: Projection, limit: int = 2000) -> int:
        """Apply the next batch of events in one transaction; return how many notifications it covered."""
        app = self.applications[projection.source]
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (projection.name,))
            row = conn.execute(
                "SELECT position FROM ops.projection_tracking WHERE projection = %s FOR UPDATE", (projection.name,)
            ).fetchone()
            position = row["position"] if row else 0
            head = app.recorder.max_notification_id() or 0
            if head <= position:
                return 0
            stop = min(head, position + limit)
            notifications = app.recorder.select_notifications(
                start=position, limit=limit, stop=stop, topics=list(projection.topics), inclusive_of_start=False
            )
            writes: list[Write] = []
            for notification in notifications:
                event = app.mapper.to_domain_event(notification)
                writes.extend(projection.project(notification.id, event))
            _execute(conn, writes)
            conn.execute(
                "UPDATE ops.projection_tracking SET position = %s, updated_at = now() WHERE projection = %s",
                (stop, projection.name),
            )
        with self._advanced:
            self._advanced.notify_all()
        return stop - position

    def status(self) -> list[ProjectionStatus]:
        """Position, head and lag of every projection."""
        with self.pool.connection() as conn:
            rows = {
                r["projection"]: r
                for r in conn.execute("SELECT projection, position, updated_at FROM ops.projection_tracking").fetchall()
            }
        heads = {source: self.head(source) for source in {p.source for p in self.projections.values()}}
        return [
            ProjectionStatus(
                name=p.name,
                source=p.source,
                position=rows[p.name]["position"] if p.name in rows else 0,
                head=heads[p.source],
                updated_at=rows[p.name]["updated_at"] if p.name in rows else None,
            )
            for p in self.projections.values()
        ]

    def wait_for(self, source: str, position: int, timeout: float = 5.0) -> bool:
        """Block until every projection of `source` has reached `position` (read-your-writes).

        Reads the tracking table each time (a rebuild elsewhere may have moved a position back);
        an in-process runner's progress wakes the wait early.
        """
        names = [p.name for p in self.projections.values() if p.source == source]
        deadline = time.monotonic() + timeout
        while True:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT position FROM ops.projection_tracking WHERE projection = ANY(%s)", (names,)
                ).fetchall()
            if len(rows) == len(names) and all(r["position"] >= position for r in rows):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._advanced:
                self._advanced.wait(min(remaining, 0.05))

    def rebuild(self, name: str, progress: Callable[[int, int], None] | None = None, batch: int = 5000) -> int:
        """Drop and replay one projection from the event store; returns events replayed."""
        projection = self.projection(name)
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
            try:
                with conn.transaction():
                    projection.drop(conn)
                    projection.create(conn)
                    conn.execute(
                        "INSERT INTO ops.projection_tracking (projection, source, position) VALUES (%s, %s, 0) "
                        "ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = now()",
                        (name, projection.source),
                    )
                done = 0
                total = self.head(projection.source)
                while True:
                    covered = self.process_batch(conn, projection, limit=batch)
                    if covered == 0:
                        break
                    done += covered
                    if progress:
                        progress(done, max(total, done))
                log.info("projection.rebuilt", projection=name, events=done)
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


def _execute(conn: Connection[Any], writes: list[Write]) -> None:
    """Run writes in order, batching runs of the same statement into executemany."""
    i = 0
    with conn.cursor() as cur:
        while i < len(writes):
            j = i
            while j < len(writes) and writes[j].sql == writes[i].sql:
                j += 1
            if j - i == 1:
                cur.execute(writes[i].sql, writes[i].params)
            else:
                cur.executemany(writes[i].sql, [w.params for w in writes[i:j]])
            i = j


class ProjectionRunner(threading.Thread):
    """Keeps one projection current: catch up in batches, then follow LISTEN/NOTIFY."""

    def __init__(self, engine: ProjectionEngine, name: str, dsn: str, batch: int = 2000) -> None:
        super().__init__(name=f"projection-{name}", daemon=True)
        self.engine = engine
        self.projection = engine.projection(name)
        self.dsn = dsn
        self.batch = batch
        self.stopping = threading.Event()
        self.channel = engine.applications[self.projection.source].recorder.channel_name  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._follow()
            except Exception:
                log.exception("projection.runner_failed", projection=self.projection.name)
                self.stopping.wait(1.0)

    def _follow(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as listen_conn:
            listen_conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel)))
            while not self.stopping.is_set():
                with self.engine.pool.connection() as conn:
                    covered = self.engine.process_batch(conn, self.projection, self.batch)
                if covered:
                    continue
                # Caught up: sleep until the recorder's NOTIFY (or a periodic re-check).
                list(listen_conn.notifies(timeout=1.0, stop_after=1))
