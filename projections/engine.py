"""Projection engine: pure projectors, exactly-once runners, status, waiting and rebuilds.

A projection turns events into SQL writes (`Write`s) without touching the
database itself, so it is unit-testable. The runner applies a batch of writes
and moves the projection's tracking position in the same transaction, so each
event is applied exactly once even across crashes. It catches up by reading
the application's notification log in batches, then follows new events with
LISTEN/NOTIFY on the recorder's channel.
"""

from __future__ import annotations

import itertools
import select
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.utils import get_topic
from psycopg import Connection, pq
from psycopg._queries import PostgresQuery  # psycopg's own %s -> $n conversion and dumping (see _PipelinedWrites)
from psycopg.adapt import Transformer

log = structlog.get_logger(__name__)

TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS ops.projection_tracking (
    projection text PRIMARY KEY,
    source text NOT NULL,
    position bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
)
"""


def topics_of(*classes: type) -> tuple[str, ...]:
    """The stored topics of event classes, for `Projection.topics`."""
    return tuple(get_topic(c) for c in classes)


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

    def begin_batch(self) -> None:  # noqa: B027 - an optional hook: most projections keep no batch state
        """Called before a batch's events (a projection that sums over a batch resets here)."""

    def end_batch(self) -> Iterable[Write]:
        """Writes that close a batch (sums over the batch), sent after its events' writes, in its transaction."""
        return ()

    def create(self, conn: Connection[Any], *, secondary_indexes: bool = True) -> None:
        """Create the read tables and indexes if missing (without the non-unique indexes when told so)."""
        for statement in self.ddl:
            if secondary_indexes or not _secondary_index(statement):
                conn.execute(statement)

    def create_secondary_indexes(self, conn: Connection[Any]) -> None:
        """Create the non-unique indexes (a rebuild builds them once, after the replay)."""
        for statement in self.ddl:
            if _secondary_index(statement):
                conn.execute(statement)

    def drop(self, conn: Connection[Any]) -> None:
        """Drop the read tables."""
        for table in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def _secondary_index(statement: str) -> bool:
    """A non-unique index: nothing a projection's writes rely on (ON CONFLICT needs the unique ones)."""
    return statement.lstrip()[:12].upper() == "CREATE INDEX"


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
            # Writes stream to the server while later events are still being decoded and projected.
            projection.begin_batch()
            with _PipelinedWrites(conn) as out:
                for notification in notifications:
                    event = app.mapper.to_domain_event(notification)
                    for write in projection.project(notification.id, event):
                        out.send(write)
                for write in projection.end_batch():
                    out.send(write)
                out.send(
                    Write(
                        "UPDATE ops.projection_tracking SET position = %s, updated_at = now() WHERE projection = %s",
                        (stop, projection.name),
                    )
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
                    # Secondary indexes are built once at the end: bulk builds beat maintaining them row by row.
                    projection.create(conn, secondary_indexes=False)
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
                with conn.transaction():
                    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
                    projection.create_secondary_indexes(conn)
                log.info("projection.rebuilt", projection=name, events=done)
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


_STATEMENT_NAMES = itertools.count()  # unique per process, so statements of different batches never clash


class _PipelinedWrites:
    """Sends writes over one connection in libpq pipeline mode, reading results one segment behind.

    A batch's writes are the projection's throughput limit, and psycopg's cursor
    costs about 25 us of Python per statement even in pipeline mode. Here each
    statement is converted and dumped with psycopg's own adaptation (the same
    parameter types as ``cursor.execute``), prepared once per batch and shape,
    and sent with libpq directly; a sync point every ``SEGMENT`` statements lets
    the server work on one segment while the caller decodes and projects the
    next events. The batch's prepared statements are closed at the end (psycopg
    may DEALLOCATE ALL on a connection at any time, so none outlives its batch).
    The first error is raised on exit, after the pipeline is drained, so the
    surrounding transaction rolls back. Waits poll the socket with the GIL
    released, as psycopg's own waits do.
    """

    SEGMENT = 256  # statements per sync point; the results of a segment are a few kilobytes
    MAX_PREPARED = 50  # statement shapes prepared per batch; any further shapes run unprepared

    def __init__(self, conn: Connection[Any]) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.transformer = Transformer(conn)
        self.queries: dict[str, PostgresQuery] = {}
        self.prepared: dict[tuple[bytes, tuple[int, ...]], bytes] = {}
        self.unsynced = 0  # statements sent since the last sync point
        self.syncs = 0  # sync points whose results are not read yet
        self.error: pq.abc.PGresult | None = None
        self.poller = select.poll()

    def __enter__(self) -> _PipelinedWrites:
        self.conn.lock.acquire()
        try:
            self.pgconn.enter_pipeline_mode()
        except BaseException:
            self.conn.lock.release()
            raise
        return self

    def send(self, write: Write) -> None:
        """Queue one statement; every SEGMENT statements, sync and read the segment before."""
        query = self.queries.get(write.sql)
        if query is None:
            query = self.queries[write.sql] = PostgresQuery(self.transformer)
            query.convert(write.sql, write.params)
        else:
            query.dump(write.params)
        types = tuple(query.types)
        name = self.prepared.get((query.query, types))
        if name is None and len(self.prepared) < self.MAX_PREPARED:
            name = b"cd_projection_%d" % next(_STATEMENT_NAMES)
            self.pgconn.send_prepare(name, query.query, types)
            self.prepared[(query.query, types)] = name
        if name is None:
            self.pgconn.send_query_params(query.query, query.params, types, query.formats)
        else:
            self.pgconn.send_query_prepared(name, query.params, query.formats)
        self.unsynced += 1
        if self.unsynced >= self.SEGMENT:
            self._sync()
            while self.syncs > 1:
                self._read_segment()

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if self.pgconn.status == pq.ConnStatus.OK:
                if self.unsynced:
                    self._sync()
                # Closes go in a segment of their own: an error aborts the rest of its segment only.
                for name in self.prepared.values():
                    self.pgconn.send_close_prepared(name)
                self._sync()
                while self.syncs:
                    self._read_segment()
                self.pgconn.exit_pipeline_mode()
        finally:
            self.conn.lock.release()
        if self.error is not None and exc_type is None:
            raise psycopg.errors.error_from_result(self.error, encoding=self.conn.info.encoding)

    def _sync(self) -> None:
        self.pgconn.pipeline_sync()
        self.syncs += 1
        self.unsynced = 0
        fd = self.pgconn.socket
        while self.pgconn.flush():  # Output left: wait until writable, reading results meanwhile.
            self._wait(fd, select.POLLIN | select.POLLOUT)
            self.pgconn.consume_input()

    def _read_segment(self) -> None:
        """Read results up to the oldest unread sync point, keeping the first error."""
        fd = self.pgconn.socket
        while True:
            while self.pgconn.is_busy():
                self._wait(fd, select.POLLIN)
                self.pgconn.consume_input()
            result = self.pgconn.get_result()
            if result is None:  # End of one statement's results.
                continue
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                self.syncs -= 1
                return
            if result.status == pq.ExecStatus.FATAL_ERROR and self.error is None:
                self.error = result

    def _wait(self, fd: int, events: int) -> None:
        self.poller.register(fd, events)
        try:
            self.poller.poll()
        finally:
            self.poller.unregister(fd)


class ProjectionRunner(threading.Thread):
    """Keeps projections of one source current: catch up in batches, then follow LISTEN/NOTIFY.

    One runner (one thread, one listening connection) serves every projection of a source
    application, so a process holds a handful of connections however many read models it has.
    """

    def __init__(self, engine: ProjectionEngine, names: str | list[str], dsn: str, batch: int = 2000) -> None:
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
        self.channel = engine.applications[sources.pop()].recorder.channel_name  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._follow()
            except Exception:
                log.exception("projection.runner_failed", projections=[p.name for p in self.projections])
                self.stopping.wait(1.0)

    def _follow(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as listen_conn:
            listen_conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel)))
            while not self.stopping.is_set():
                covered = 0
                for projection in self.projections:
                    with self.engine.pool.connection() as conn:
                        covered += self.engine.process_batch(conn, projection, self.batch)
                if covered:
                    continue
                # Caught up: sleep until the recorder's NOTIFY (or a periodic re-check).
                list(listen_conn.notifies(timeout=1.0, stop_after=1))
