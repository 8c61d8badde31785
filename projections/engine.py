"""Projection engine: pure projectors, exactly-once runners, status, waiting, rebuilds and failed events.

A projection turns events into SQL writes (`Write`s) without touching the
database itself, so it is unit-testable. The runner applies a batch of writes
and moves the projection's tracking position in the same transaction, so each
event is applied exactly once even across crashes. It catches up by reading
the application's notification log in batches, then follows new events with
LISTEN/NOTIFY on the recorder's channel.

An event a projection cannot apply does not stop it: the batch is applied again
in halves (savepoints) down to the failing event, which is recorded in
``ops.projection_failures`` and skipped; later events of the same aggregate are
parked behind it, so the aggregate's read rows stay a consistent (if stale)
prefix of its history. `retry` applies them again with the current code. When
too many events fail, the fault is the projector or its tables, not an event:
the projection stops and says why (``ops.projection_tracking.error``).
"""

from __future__ import annotations

import itertools
import json
import re
import select
import threading
import time
from abc import ABC
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, PersistenceError
from eventsourcing.utils import get_topic
from psycopg import Connection, pq
from psycopg._queries import PostgresQuery  # psycopg's own %s -> $n conversion and dumping (see _PipelinedWrites)
from psycopg.adapt import Transformer

log = structlog.get_logger(__name__)

TRACKING_DDL = (
    """CREATE TABLE IF NOT EXISTS ops.projection_tracking (
        projection text PRIMARY KEY,
        source text NOT NULL,
        position bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS ops.projection_failures (
        projection text NOT NULL,
        position bigint NOT NULL,
        source text NOT NULL,
        topic text NOT NULL,
        aggregate_id uuid NOT NULL,
        aggregate_version bigint NOT NULL,
        brand_id uuid,
        status text NOT NULL CHECK (status IN ('failed', 'parked')),
        error text NOT NULL,
        attempts integer NOT NULL DEFAULT 1,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_seen timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (projection, position)
    )""",
    "CREATE INDEX IF NOT EXISTS projection_failures_aggregate_idx "
    "ON ops.projection_failures (projection, aggregate_id, position)",
)

#: Columns added to ops.projection_tracking by the failure handling. failures: rows in ops.projection_failures (a
#: batch reads it with its position: 0 means no aggregate is parked); error: why the projection stopped (NULL while
#: it runs). Added only when missing: ALTER TABLE locks the table against the live runners even when it does nothing.
TRACKING_COLUMNS = {"failures": "integer NOT NULL DEFAULT 0", "error": "text", "error_at": "timestamptz"}

#: More failing events than this in one batch, or this many unresolved in one projection, is not a bad event but a
#: broken projector or table: the projection stops (and says why) instead of skipping everything.
MAX_FAILURES_PER_BATCH = 20
MAX_OPEN_FAILURES = 100


def topics_of(*classes: type) -> tuple[str, ...]:
    """The stored topics of event classes, for `Projection.topics`."""
    return tuple(get_topic(c) for c in classes)


@dataclass(frozen=True)
class Write:
    """One SQL statement with parameters, sent in order with the batch's other writes (see _PipelinedWrites)."""

    sql: str
    params: tuple[Any, ...] | dict[str, Any]


@dataclass(frozen=True)
class Insert:
    """A new row of `table` (column -> value), inserted unless its key is taken (ON CONFLICT DO NOTHING).

    The engine inserts a batch's rows of one table and columns together, in one statement, **before** the writes
    yielded with or after them in the same chunk of the batch (``_PipelinedWrites.CHUNK``): so yield an Insert only
    for a row that none of the batch's earlier writes touches or reads -- the row of a new aggregate, keyed by its
    id -- and a Write otherwise. Values are what `json.dumps` takes, plus UUID, date/datetime, Decimal and enums;
    lists go into array columns, lists and dicts into json columns.
    """

    table: str
    row: dict[str, Any]


#: What a projection yields for an event.
Change = Write | Insert


#: A projector's handler: (projection, position, event) -> the writes that apply the event.
Handler = Callable[[Any, int, Any], Iterable[Change]]
_HANDLES = "__projects_events__"


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a `Projection` method as the handler of these event classes (and their subclasses).

    The class collects its marked methods into `Projection.handlers`, the table that `project` dispatches on:

        class BlocklistView(Projection):
            @handles(E.Added)
            def _added(self, position: int, event: E.Added) -> Iterable[Write]: ...
    """
    if not event_classes:
        raise TypeError("handles() needs at least one event class")

    def mark(method: Handler) -> Handler:
        setattr(method, _HANDLES, (*getattr(method, _HANDLES, ()), *event_classes))
        return method

    return mark


class Projection(ABC):
    """An event -> rows projector plus the DDL of the read tables it owns.

    Dispatch reads as a table: methods marked `@handles(EventClass, ...)` fill `handlers` (event class -> method,
    inherited and extended by subclasses), and `project` calls the handler of the event's class or, failing that,
    of its nearest base class; an event nobody handles writes nothing. `topics` defaults to the handled classes'
    topics, so the projection reads only those events. A projection may override `project` instead.
    """

    name: ClassVar[str]
    source: ClassVar[str]  # name of the Application whose events it reads
    topics: ClassVar[tuple[str, ...]] = ()  # event topics it handles; others are skipped in SQL
    tables: ClassVar[tuple[str, ...]] = ()  # qualified names, dropped on rebuild
    ddl: ClassVar[tuple[str, ...]] = ()  # idempotent CREATE statements
    handlers: ClassVar[dict[type, Handler]] = {}  # event class -> handler, from the @handles methods
    _resolved: ClassVar[dict[type, Handler | None]]  # event class -> its handler found along the MRO (a cache)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(cls.handlers)
        own: set[type] = set()
        for attribute in cls.__dict__.values():
            for event_class in getattr(attribute, _HANDLES, ()):
                if event_class in own:
                    raise TypeError(f"{cls.__name__} handles {event_class.__qualname__} twice")
                own.add(event_class)
                table[event_class] = attribute
        cls.handlers = table
        cls._resolved = {}
        if own and "topics" not in cls.__dict__:
            cls.topics = topics_of(*table)

    def project(self, position: int, event: Any) -> Iterable[Change]:
        """Writes that apply `event` (recorded at `position`) to the read tables: its handler's, by default."""
        event_class = type(event)
        try:
            handler = self._resolved[event_class]
        except KeyError:
            handler = self._resolved[event_class] = next(
                (self.handlers[c] for c in event_class.__mro__ if c in self.handlers), None
            )
        return () if handler is None else handler(self, position, event)

    def begin_batch(self) -> None:  # noqa: B027 - an optional hook: most projections keep no batch state
        """Called before a batch's events (a projection that sums over a batch resets here)."""

    def end_batch(self) -> Iterable[Change]:
        """Writes that close a batch (sums over the batch), sent after its events' writes, in its transaction."""
        return ()

    def create(self, conn: Connection[Any], *, secondary_indexes: bool = True) -> None:
        """Create the read tables and indexes if missing (without the non-unique indexes when told so)."""
        for statement in self.ddl:
            if secondary_indexes or not _secondary_index(statement):
                conn.execute(statement)

    def create_secondary_indexes(self, conn: Connection[Any]) -> None:
        """Create the non-unique indexes (a rebuild builds them once, after the replay)."""
        for statement in self.secondary_index_statements():
            conn.execute(statement)

    def secondary_index_statements(self) -> list[str]:
        """The DDL's non-unique indexes, each built on its own (a rebuild builds several at once)."""
        return [statement for statement in self.ddl if _secondary_index(statement)]

    def drop(self, conn: Connection[Any]) -> None:
        """Drop the read tables."""
        for table in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def _secondary_index(statement: str) -> bool:
    """A non-unique index: nothing a projection's writes rely on (ON CONFLICT needs the unique ones)."""
    return statement.lstrip()[:12].upper() == "CREATE INDEX"


@dataclass(frozen=True)
class ProjectionStatus:
    """A projection's position, how far behind its source it is, and what it could not apply."""

    name: str
    source: str
    position: int
    head: int
    updated_at: Any
    failed: int = 0  # events recorded as failed (skipped)
    parked: int = 0  # later events of those events' aggregates, held behind them
    error: str | None = None  # why the projection stopped, while it is stopped

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def healthy(self) -> bool:
        return not (self.failed or self.parked or self.error)


@dataclass(frozen=True)
class ProjectionFailure:
    """An event a projection could not apply (failed), or a later event of its aggregate held behind it (parked)."""

    projection: str
    position: int
    status: str
    topic: str
    aggregate_id: UUID
    aggregate_version: int
    brand_id: UUID | None
    error: str
    attempts: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class RetryOutcome:
    """What `ProjectionEngine.retry` did: positions applied now, and those still failing with their errors."""

    applied: list[int] = field(default_factory=list)
    still_failing: dict[int, str] = field(default_factory=dict)


class ProjectionStalled(Exception):
    """Raised when a projection stops: so many events fail that the fault is the projector or its tables."""


class NoSuchFailure(LookupError):
    """Raised when a retry names a position that is not a failed event of the projection."""


def is_transient(exc: BaseException) -> bool:
    """An error of reaching or using the database (outage, lost connection, timeout), not of an event.

    The batch is retried as it is and no event is blamed: psycopg's operational and interface errors, a pool's own
    "unavailable" error (a psycopg error that is not a database error), and failures reading the notification log.
    """
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PersistenceError):
        return True
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.DatabaseError)


def describe_error(exc: BaseException) -> str:
    """The error as one storable line: type, SQLSTATE when there is one, message (NUL and lone surrogates escaped)."""
    state = getattr(exc, "sqlstate", None)
    text = f"{type(exc).__name__}{f' [{state}]' if state else ''}: {exc}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:2000]


_FAILURE_COLUMNS = (
    "projection, position, status, topic, aggregate_id, aggregate_version, brand_id, error, attempts, "
    "first_seen, last_seen"
)
_RECORD_FAILURE = (
    "INSERT INTO ops.projection_failures (projection, position, source, topic, aggregate_id, aggregate_version, "
    "brand_id, status, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (projection, position) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, "
    "last_seen = now(), attempts = ops.projection_failures.attempts + 1"
)
_ADVANCE = "UPDATE ops.projection_tracking SET position = %s, updated_at = now(), error = NULL WHERE projection = %s"
_ADVANCE_COUNTING = (
    "UPDATE ops.projection_tracking SET position = %s, updated_at = now(), error = NULL, "
    "failures = (SELECT count(*) FROM ops.projection_failures f WHERE f.projection = %s) WHERE projection = %s"
)


def _parked_note(position: int) -> str:
    return f"parked behind the failed event at position {position} of the same aggregate"


class ProjectionEngine:
    """Knows every projection and its source application; runs, rebuilds and reports them."""

    def __init__(self, pool: Any, applications: dict[str, Application[Any]], projections: Sequence[Projection]) -> None:
        self.pool = pool
        self.applications = applications
        self.projections = {p.name: p for p in projections}
        self._advanced = threading.Condition()

    def setup(self) -> None:
        """Create tracking, the failure table and every projection's tables (idempotent)."""
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('ops.projection_tracking'))")
                for statement in TRACKING_DDL:
                    conn.execute(statement)
                present = {
                    r["column_name"]
                    for r in conn.execute(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_schema = 'ops' AND table_name = 'projection_tracking'"
                    ).fetchall()
                }
                for column, definition in TRACKING_COLUMNS.items():
                    if column not in present:
                        conn.execute(f"ALTER TABLE ops.projection_tracking ADD COLUMN {column} {definition}")
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
        """Apply the next batch of events in one transaction; return how many notifications it covered.

        When the batch fails because of its events (not the database), it is applied again with the failing
        events isolated, recorded and skipped (see the module docstring); ProjectionStalled when too many fail.
        """
        try:
            covered = self._process(conn, projection, limit, isolate=False)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("projection.batch_failed", projection=projection.name, error=describe_error(exc))
            try:
                covered = self._process(conn, projection, limit, isolate=True)
            except ProjectionStalled as stalled:
                log.error("projection.stalled", projection=projection.name, error=str(stalled))
                with conn.transaction():
                    conn.execute(
                        "UPDATE ops.projection_tracking SET error = %s, "
                        "error_at = CASE WHEN error IS NULL THEN now() ELSE error_at END WHERE projection = %s",
                        (str(stalled), projection.name),
                    )
                raise
        if covered:
            with self._advanced:
                self._advanced.notify_all()
        return covered

    def _process(self, conn: Connection[Any], projection: Projection, limit: int, *, isolate: bool) -> int:
        app = self.applications[projection.source]
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (projection.name,))
            row = conn.execute(
                "SELECT position, failures FROM ops.projection_tracking WHERE projection = %s FOR UPDATE",
                (projection.name,),
            ).fetchone()
            position, failures = (row["position"], row["failures"]) if row else (0, 0)
            head = app.recorder.max_notification_id() or 0
            if head <= position:
                return 0
            stop = min(head, position + limit)
            notifications = app.recorder.select_notifications(
                start=position, limit=limit, stop=stop, topics=list(projection.topics), inclusive_of_start=False
            )
            if not failures and not isolate:  # The hot path: no aggregate is parked, nothing has failed.
                self._apply(conn, projection, app, notifications, [Write(_ADVANCE, (stop, projection.name))])
                return stop - position
            isolation = _Isolation(
                self, conn, projection, app, self._parked_aggregates(conn, projection) if failures else {}
            )
            advance = Write(_ADVANCE_COUNTING, (stop, projection.name, projection.name))
            if not isolate:  # Nothing fails, but some aggregates wait behind failed events: park theirs.
                ready = isolation.hold(notifications)
                self._apply(conn, projection, app, ready, [*isolation.records(), advance])
            else:
                isolation.open_failures = self._open_failures(conn, projection)
                isolation.apply(notifications)
                with _PipelinedWrites(conn) as out:
                    for write in [*isolation.records(), advance]:
                        out.send(write)
        if isolation.failed:
            log.error(
                "projection.events_failed",
                projection=projection.name,
                positions=[n.id for n, _, _ in isolation.failed],
                parked=len(isolation.parked),
            )
        return stop - position

    def _apply(
        self,
        conn: Connection[Any],
        projection: Projection,
        app: Any,
        notifications: Sequence[Any],
        tail: Sequence[Write],
    ) -> None:
        """Decode, project and write `notifications` (one projection batch), then `tail`, on `conn`."""
        # Writes stream to the server while later events are still being decoded and projected.
        projection.begin_batch()
        with _PipelinedWrites(conn) as out:
            for notification in notifications:
                event = app.mapper.to_domain_event(notification)
                for write in projection.project(notification.id, event):
                    out.send(write)
            for write in projection.end_batch():
                out.send(write)
            for write in tail:
                out.send(write)

    def _parked_aggregates(self, conn: Connection[Any], projection: Projection) -> dict[Any, tuple[int, Any]]:
        """Aggregates with an unresolved failure: aggregate id -> (position of its first failure, brand id)."""
        rows = conn.execute(
            "SELECT DISTINCT ON (aggregate_id) aggregate_id, position, brand_id FROM ops.projection_failures "
            "WHERE projection = %s ORDER BY aggregate_id, position",
            (projection.name,),
        ).fetchall()
        return {r["aggregate_id"]: (r["position"], r["brand_id"]) for r in rows}

    def _open_failures(self, conn: Connection[Any], projection: Projection) -> int:
        row = conn.execute(
            "SELECT count(*) AS n FROM ops.projection_failures WHERE projection = %s AND status = 'failed'",
            (projection.name,),
        ).fetchone()
        return int(row["n"]) if row else 0

    def failures(self, name: str | None = None) -> list[ProjectionFailure]:
        """Failed and parked events, of one projection or of all, by projection and position."""
        if name is not None:
            self.projection(name)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_FAILURE_COLUMNS} FROM ops.projection_failures "
                "WHERE %(name)s::text IS NULL OR projection = %(name)s ORDER BY projection, position",
                {"name": name},
            ).fetchall()
        return [ProjectionFailure(**r) for r in rows]

    def retry(self, name: str, position: int | None = None) -> RetryOutcome:
        """Apply a projection's failed events again with the current code (one, or all), each followed by the events
        parked behind it; what applies is cleared, what fails again stays recorded with the new error."""
        projection = self.projection(name)
        app = self.applications[projection.source]
        outcome = RetryOutcome()
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (projection.name,))
                conn.execute("SELECT 1 FROM ops.projection_tracking WHERE projection = %s FOR UPDATE", (name,))
                rows = conn.execute(
                    "SELECT position, status, aggregate_id FROM ops.projection_failures WHERE projection = %s "
                    "ORDER BY aggregate_id, position",
                    (name,),
                ).fetchall()
                chains: dict[UUID, list[dict[str, Any]]] = {}
                for r in rows:
                    chains.setdefault(r["aggregate_id"], []).append(r)
                if position is not None:
                    chain = next((c for c in chains.values() if any(r["position"] == position for r in c)), None)
                    if chain is None:
                        raise NoSuchFailure(f"{name} has no failed event at position {position}")
                    if chain[0]["position"] != position:
                        raise NoSuchFailure(
                            f"position {position} is parked behind the failed event at position "
                            f"{chain[0]['position']} of the same aggregate: retry that one"
                        )
                    chains = {chain[0]["aggregate_id"]: chain}
                for chain in sorted(chains.values(), key=lambda c: c[0]["position"]):
                    self._retry_chain(conn, projection, app, [r["position"] for r in chain], outcome)
                conn.execute(
                    "UPDATE ops.projection_tracking SET failures = "
                    "(SELECT count(*) FROM ops.projection_failures f WHERE f.projection = %s) WHERE projection = %s",
                    (name, name),
                )
        if outcome.applied:
            log.info("projection.failures_retried", projection=name, applied=outcome.applied,
                     still_failing=sorted(outcome.still_failing))  # fmt: skip
            with self._advanced:
                self._advanced.notify_all()
        return outcome

    def _retry_chain(
        self, conn: Connection[Any], projection: Projection, app: Any, positions: list[int], outcome: RetryOutcome
    ) -> None:
        """Apply one aggregate's recorded events in order; the first that fails again stops the rest (still parked)."""
        for index, at in enumerate(positions):
            notifications = app.recorder.select_notifications(start=at, limit=1, stop=at, inclusive_of_start=True)
            try:
                with conn.transaction():
                    self._apply(conn, projection, app, notifications, [])
            except Exception as exc:
                if is_transient(exc):
                    raise
                error = describe_error(exc)
                outcome.still_failing[at] = error
                conn.execute(
                    "UPDATE ops.projection_failures SET status = 'failed', error = %s, attempts = attempts + 1, "
                    "last_seen = now() WHERE projection = %s AND position = %s",
                    (error, projection.name, at),
                )
                if positions[index + 1 :]:
                    conn.execute(
                        "UPDATE ops.projection_failures SET error = %s WHERE projection = %s AND position = ANY(%s)",
                        (_parked_note(at), projection.name, positions[index + 1 :]),
                    )
                return
            conn.execute(
                "DELETE FROM ops.projection_failures WHERE projection = %s AND position = %s", (projection.name, at)
            )
            outcome.applied.append(at)

    def status(self) -> list[ProjectionStatus]:
        """Position, head, lag, failures and stop reason of every projection."""
        with self.pool.connection() as conn:
            return self.status_on(conn)

    def status_on(self, conn: Connection[Any]) -> list[ProjectionStatus]:
        """`status` read over `conn` alone (two round trips), so a health check can use a connection of its own."""
        sources = sorted({p.source for p in self.projections.values()})
        heads_sql = psycopg.sql.SQL("SELECT {}").format(
            psycopg.sql.Composed(
                [
                    psycopg.sql.SQL("(SELECT max(notification_id) FROM {}.{}) AS {}").format(
                        psycopg.sql.Identifier(self.applications[s].recorder.datastore.schema),  # type: ignore[attr-defined]
                        psycopg.sql.Identifier(self.applications[s].recorder.events_table_name),  # type: ignore[attr-defined]
                        psycopg.sql.Identifier(s),
                    )
                    for s in sources
                ]
            ).join(", ")
        )
        heads: dict[str, Any] = conn.execute(heads_sql).fetchone() or {}  # dict rows, as the platform's pool gives
        rows = {
            r["projection"]: r
            for r in conn.execute(
                "SELECT t.projection, t.position, t.updated_at, t.error, "
                "count(f.position) FILTER (WHERE f.status = 'failed') AS failed, "
                "count(f.position) FILTER (WHERE f.status = 'parked') AS parked "
                "FROM ops.projection_tracking t LEFT JOIN ops.projection_failures f ON f.projection = t.projection "
                "GROUP BY t.projection"
            ).fetchall()
        }
        statuses = []
        for p in self.projections.values():
            row = rows.get(p.name)
            statuses.append(
                ProjectionStatus(
                    name=p.name,
                    source=p.source,
                    position=row["position"] if row else 0,
                    head=heads.get(p.source) or 0,
                    updated_at=row["updated_at"] if row else None,
                    failed=row["failed"] if row else 0,
                    parked=row["parked"] if row else 0,
                    error=row["error"] if row else None,
                )
            )
        return statuses

    def wait_for(self, source: str, position: int, timeout: float = 5.0) -> bool:
        """Block until every running projection of `source` has reached `position` (read-your-writes).

        Reads the tracking table each time (a rebuild elsewhere may have moved a position back);
        an in-process runner's progress wakes the wait early. A stopped projection is not waited
        for: it will not move until an operator acts, and /health reports it.
        """
        names = [p.name for p in self.projections.values() if p.source == source]
        deadline = time.monotonic() + timeout
        while True:
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT position, error IS NOT NULL AS stopped FROM ops.projection_tracking "
                    "WHERE projection = ANY(%s)",
                    (names,),
                ).fetchall()
            if len(rows) == len(names) and all(r["position"] >= position or r["stopped"] for r in rows):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._advanced:
                self._advanced.wait(min(remaining, 0.05))

    #: Connections building a rebuilt projection's secondary indexes at once (a GIN index builds on one CPU).
    INDEX_BUILDERS = 2

    def _build_indexes(self, statements: Sequence[str]) -> None:
        """Build indexes on up to INDEX_BUILDERS pool connections at once, each in a transaction of its own."""

        def build(statement: str) -> None:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
                conn.execute(statement)

        # The slowest (GIN) first, so the others fill in around them.
        ordered = sorted(statements, key=lambda s: " using gin " not in s.lower())
        with ThreadPoolExecutor(max_workers=self.INDEX_BUILDERS, thread_name_prefix="rebuild-index") as builders:
            for future in [builders.submit(build, statement) for statement in ordered]:
                future.result()

    def rebuild(self, name: str, progress: Callable[[int, int], None] | None = None, batch: int = 5000) -> int:
        """Drop and replay one projection from the event store (its recorded failures too); returns events replayed."""
        projection = self.projection(name)
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
            try:
                with conn.transaction():
                    projection.drop(conn)
                    # Secondary indexes are built once at the end: bulk builds beat maintaining them row by row.
                    projection.create(conn, secondary_indexes=False)
                    conn.execute("DELETE FROM ops.projection_failures WHERE projection = %s", (name,))
                    conn.execute(
                        "INSERT INTO ops.projection_tracking (projection, source, position) VALUES (%s, %s, 0) "
                        "ON CONFLICT (projection) DO UPDATE SET position = 0, updated_at = now(), failures = 0, "
                        "error = NULL, error_at = NULL",
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
                self._build_indexes(projection.secondary_index_statements())
                log.info("projection.rebuilt", projection=name, events=done)
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))


class _Isolation:
    """Applies a batch whose events failed together: halves in savepoints down to the failing events.

    Each failing event is kept to be recorded as failed; later events of its aggregate (in this batch, or already
    parked) are kept to be recorded as parked. Both go in the batch's transaction, with the position.
    """

    def __init__(
        self,
        engine: ProjectionEngine,
        conn: Connection[Any],
        projection: Projection,
        app: Any,
        parked_aggregates: dict[Any, tuple[int, Any]],
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.projection = projection
        self.app = app
        self.behind = parked_aggregates  # aggregate id -> (position of its first failure, brand id)
        self.open_failures = 0
        self.failed: list[tuple[Notification, str, Any]] = []  # (event, error, brand id)
        self.parked: list[tuple[Notification, int, Any]] = []  # (event, position it waits behind, brand id)

    def hold(self, notifications: Sequence[Notification]) -> list[Notification]:
        """The events to apply now; those of aggregates with a failure are kept to be parked."""
        ready = []
        for n in notifications:
            behind = self.behind.get(n.originator_id)
            if behind is None:
                ready.append(n)
            else:
                self.parked.append((n, behind[0], behind[1]))
        return ready

    def apply(self, notifications: Sequence[Notification]) -> None:
        """Apply in a savepoint; when that fails because of the events, split it until the failing ones are alone."""
        ready = self.hold(notifications)
        if not ready:
            return
        try:
            with self.conn.transaction():
                self.engine._apply(self.conn, self.projection, self.app, ready, [])
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(ready) > 1:
                middle = len(ready) // 2
                self.apply(ready[:middle])
                self.apply(ready[middle:])
            else:
                self._fail(ready[0], exc)

    def _fail(self, notification: Notification, exc: Exception) -> None:
        error = describe_error(exc)
        if len(self.failed) >= MAX_FAILURES_PER_BATCH or self.open_failures + len(self.failed) >= MAX_OPEN_FAILURES:
            first = self.failed[0] if self.failed else (notification, error, None)
            why = (
                f"over {MAX_FAILURES_PER_BATCH} events of one batch failed"
                if len(self.failed) >= MAX_FAILURES_PER_BATCH
                else f"{MAX_OPEN_FAILURES} failed events are unresolved"
            )
            message = (
                f"stopped: {why}, so the projector or its table is broken rather than an event; "
                f"first at position {first[0].id}: {first[1]}"
            )
            raise ProjectionStalled(message) from exc
        brand = self._brand_of(notification)
        self.failed.append((notification, error, brand))
        self.behind[notification.originator_id] = (notification.id, brand)

    def _brand_of(self, notification: Notification) -> Any:
        """The event's brand id, read from the decoded event or, when it does not decode, from its JSON."""
        try:
            brand = getattr(self.app.mapper.to_domain_event(notification), "brand_id", None)
        except Exception:  # noqa: BLE001 - an event that does not decode still names its brand in its JSON.
            try:
                brand = json.loads(notification.state).get("brand_id")
            except (ValueError, AttributeError):
                brand = None
        try:
            return UUID(str(brand)) if brand is not None else None
        except ValueError:
            return None

    def records(self) -> list[Write]:
        """The rows recording this batch's failed and parked events."""
        name, source = self.projection.name, self.projection.source
        rows = [(n, "failed", error, brand) for n, error, brand in self.failed]
        rows += [(n, "parked", _parked_note(behind), brand) for n, behind, brand in self.parked]
        return [
            Write(
                _RECORD_FAILURE,
                (name, n.id, source, n.topic, n.originator_id, n.originator_version, brand, status, error),
            )
            for n, status, error, brand in rows
        ]


def _json_value(value: Any) -> Any:
    """What `json.dumps` cannot write itself, as PostgreSQL reads it back into a column."""
    if type(value) is UUID:
        return value.hex  # PostgreSQL reads the 32 digits without hyphens too, and hex is cheaper than str
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot write {type(value).__name__} into a row")


def insert_rows(table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Write:
    """One statement inserting `rows` (ON CONFLICT DO NOTHING), typed by the table's own row type."""
    names = ", ".join(columns)
    document = json.dumps(rows, default=_json_value, separators=(",", ":"))
    if "\\u0000" in document and _NUL.search(document):  # The error a Write's text parameter gets from psycopg.
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return Write(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
        "ON CONFLICT DO NOTHING",
        (document,),
    )


#: A NUL character in JSON text: a \u0000 escape not itself escaped (preceded by an even number of backslashes).
_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


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

    `Insert` rows are held and sent as one statement per table and columns (the
    rows as one JSON document, expanded by ``jsonb_populate_recordset``: one
    C-encoded parameter instead of a statement and a dump per row); the writes
    that come after a held row wait behind it, so every ``CHUNK`` changes the
    rows go first, then the held writes in their order.
    """

    SEGMENT = 256  # statements per sync point; the results of a segment are a few kilobytes
    MAX_PREPARED = 50  # statement shapes prepared per batch; any further shapes run unprepared
    CHUNK = 2000  # changes held behind Insert rows before they are sent

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
        self.rows: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = {}  # held Insert rows
        self.behind: list[Write] = []  # writes held behind them
        self.held = 0

    def __enter__(self) -> _PipelinedWrites:
        self.conn.lock.acquire()
        try:
            self.pgconn.enter_pipeline_mode()
        except BaseException:
            self.conn.lock.release()
            raise
        return self

    def send(self, change: Change) -> None:
        """Queue one change: an Insert row is held, a Write is sent unless rows are held before it."""
        if isinstance(change, Insert):
            self.rows.setdefault((change.table, tuple(change.row)), []).append(change.row)
        elif self.held:
            self.behind.append(change)
        else:
            self._send(change)
            return
        self.held += 1
        if self.held >= self.CHUNK:
            self._send_held()

    def _send_held(self) -> None:
        """Send the held rows (one statement per table and columns), then the writes held behind them."""
        rows, behind, self.rows, self.behind, self.held = self.rows, self.behind, {}, [], 0
        for (table, columns), values in rows.items():
            self._send(insert_rows(table, columns, values))
        for write in behind:
            self._send(write)

    def _send(self, write: Write) -> None:
        """Send one statement; every SEGMENT statements, sync and read the segment before."""
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
        failed: Exception | None = None  # sending the held rows failed: raised once the pipeline is drained
        try:
            if self.pgconn.status == pq.ConnStatus.OK:
                if exc_type is None and self.held:
                    try:
                        self._send_held()
                    except Exception as exc:  # noqa: BLE001 - raised below, after the pipeline is drained.
                        failed = exc
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
        if failed is not None:
            raise failed
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

    #: A stopped projection is tried again after this many seconds (an operator may have fixed its cause).
    STOPPED_RETRY_SECONDS = 5.0

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
        self.resume_at: dict[str, float] = {}  # stopped projection -> when to try it again
        self.channel = engine.applications[sources.pop()].recorder.channel_name  # type: ignore[attr-defined]

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
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
        with psycopg.connect(self.dsn, autocommit=True) as listen_conn:
            listen_conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(self.channel)))
            while not self.stopping.is_set():
                covered = 0
                for projection in self.projections:
                    # One stopped projection must not hold up the others of its source.
                    if self.resume_at.get(projection.name, 0.0) > time.monotonic():
                        continue
                    try:
                        with self.engine.pool.connection() as conn:
                            covered += self.engine.process_batch(conn, projection, self.batch)
                    except ProjectionStalled:
                        self.resume_at[projection.name] = time.monotonic() + self.STOPPED_RETRY_SECONDS
                if covered:
                    continue
                # Caught up: sleep until the recorder's NOTIFY (or a periodic re-check).
                list(listen_conn.notifies(timeout=1.0, stop_after=1))
