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

import re
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.application import Application
from psycopg import Connection, pq

from domain.shared.ddl import unless_present
from domain.shared.gc_pause import collector_paused
from projections.batch_writes import _PipelinedWrites
from projections.failures import (
    _ADVANCE,
    _ADVANCE_COUNTING,
    _FAILURE_COLUMNS,
    NoSuchFailure,
    ProjectionFailure,
    ProjectionStalled,
    ProjectionStatus,
    RetryOutcome,
    _Isolation,
    _parked_note,
    describe_error,
    is_transient,
)
from projections.idle_watch import IdleWatch
from projections.projection import Projection, Write

log = structlog.get_logger(__name__)


def _events_table(app: Any) -> str:
    """The qualified, quoted name of an application's events table."""
    recorder = app.recorder
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


#: A batch of a rebuild run in pairs (`ProjectionEngine._replay_in_pairs`) holds a transaction lock named by its start
#: position, (hashtext(projection), start): a two-int advisory lock, apart from the runners' one-key lock ...
_PAIR_BEGIN = (
    "SELECT pg_advisory_xact_lock(hashtext(%s), (%s::bigint %% 2147483647)::int), "
    "set_config('synchronous_commit', 'off', true)"
)
#: ... and after its stored writes waits for the lock of the batch before (its commit or rollback), then moves the
#: position on from where this batch starts, or raises (the batch before did not commit).
_PAIR_ADVANCE = "SELECT ops.projection_advance_after(%s::text, %s::bigint, %s::bigint, %s::bigint)"

_INSERT_INTO = re.compile(r"INSERT INTO ([\w.\"]+)", re.IGNORECASE)

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
    """CREATE OR REPLACE FUNCTION ops.projection_advance_after(
        p_projection text, p_before bigint, p_start bigint, p_stop bigint) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF p_before IS NOT NULL THEN  -- Wait for the batch before (it holds this lock till it ends), not holding it.
            PERFORM pg_advisory_lock_shared(hashtext(p_projection), (p_before % 2147483647)::int);
            PERFORM pg_advisory_unlock_shared(hashtext(p_projection), (p_before % 2147483647)::int);
        END IF;
        UPDATE ops.projection_tracking SET position = p_stop, updated_at = now(), error = NULL
        WHERE projection = p_projection AND position = p_start;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'projection % is not at position %: the batch before it did not commit', p_projection, p_start;
        END IF;
    END $$""",
)

#: A rebuild's `rebuilt_statements` have run (by the rebuild, or by the batch after a rebuild that was killed).
_REBUILT = "UPDATE ops.projection_tracking SET rebuilding = false WHERE projection = %s AND rebuilding"

#: Columns added to ops.projection_tracking by the failure handling. failures: rows in ops.projection_failures (a
#: batch reads it with its position: 0 means no aggregate is parked); error: why the projection stopped (NULL while
#: it runs); rebuilding: a rebuild began and has not yet run its `rebuilt_statements` (true after one was killed:
#: the next batch runs them). Run through `unless_present`, as all start-up DDL: only when one of them is missing.
TRACKING_COLUMNS = (
    "ALTER TABLE ops.projection_tracking ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0, "
    "ADD COLUMN IF NOT EXISTS error text, ADD COLUMN IF NOT EXISTS error_at timestamptz, "
    "ADD COLUMN IF NOT EXISTS rebuilding boolean NOT NULL DEFAULT false"
)


#: How far behind a runner's pass head (in notification ids) a projection may be for its batch to take that head
#: (no head of its own) and share the pass's read of the batch's events (`_batch_events`): following the writes a
#: few events at a time, where one read instead of one a projection is most of a batch's saving. Further behind (a
#: busy writer, a catch-up) it reads a head of its own, so the writes since the pass began make one bigger batch.
SHARED_READ_MAX = 100


def _batch_events(
    app: Any,
    projection: Projection,
    position: int,
    stop: int,
    shared: dict[tuple[int, int], Sequence[Any] | None] | None,
) -> Sequence[Any]:
    """The stored events of a batch (position, stop] of the projection's topics. With `shared` (a runner's pass), the
    first projection of the pass at that batch reads its own topics and notes the batch; a second reads every topic
    once for itself and the rest, each filtering its own here. Projections at different positions (each batch asked
    for once) read no more than alone."""
    key = (position, stop)
    if shared is not None and key in shared:
        every = shared[key]
        if every is None:
            every = shared[key] = app.recorder.select_notifications(
                start=position, limit=stop - position, stop=stop, inclusive_of_start=False
            )
        if not projection.topics:
            return every
        topics = set(projection.topics)
        return [n for n in every if n.topic in topics]
    if shared is not None:
        shared.clear()  # one batch noted: the pass's projections are at one position when they follow the writes
        shared[key] = None
    return app.recorder.select_notifications(  # type: ignore[no-any-return]
        start=position, limit=stop - position, stop=stop, topics=list(projection.topics), inclusive_of_start=False
    )


class ProjectionEngine:
    """Knows every projection and its source application; runs, rebuilds and reports them."""

    def __init__(self, pool: Any, applications: dict[str, Application[Any]], projections: Sequence[Projection]) -> None:
        self.pool = pool
        self.applications = applications
        self.projections = {p.name: p for p in projections}
        for projection in projections:
            if projection.source in applications:
                projection.bind_events(_events_table(applications[projection.source]))
        self._advanced = threading.Condition()
        self._committed_at: dict[str, int] = {}  # projection -> the position its last in-process batch committed
        # Set whenever an in-process batch moves a projection (`wake_on_advance`).
        self._wakes: list[threading.Event] = []
        #: The idle re-check of this process's runners: one read for all of them.
        self.idle_watch = IdleWatch(self)

    def setup(self) -> None:
        """Create tracking, the failure table and every projection's tables (idempotent)."""
        with self.pool.connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('ops.projection_tracking'))")
                for statement in (*TRACKING_DDL, TRACKING_COLUMNS):
                    conn.execute(unless_present(statement))
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

    def positions(self, names: Sequence[str]) -> dict[str, int]:
        """The committed position of each named projection (one without a tracking row is left out)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT projection, position FROM ops.projection_tracking WHERE projection = ANY(%s)", (list(names),)
            ).fetchall()
        return {row["projection"]: int(row["position"]) for row in rows}

    def heads_and_positions(
        self, sources: Sequence[str], names: Sequence[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """Each source's head and the committed position of each named projection, in one statement (the idle
        runners' re-check, `IdleWatch`)."""
        heads = [
            psycopg.sql.SQL("(SELECT max(notification_id) FROM {}.{}) AS {}").format(
                psycopg.sql.Identifier(self.applications[s].recorder.datastore.schema),  # type: ignore[attr-defined]
                psycopg.sql.Identifier(self.applications[s].recorder.events_table_name),  # type: ignore[attr-defined]
                psycopg.sql.Identifier(f"head_{i}"),
            )
            for i, s in enumerate(sources)
        ]
        statement = psycopg.sql.SQL("SELECT {}").format(
            psycopg.sql.Composed(
                [
                    *heads,
                    psycopg.sql.SQL(
                        "(SELECT coalesce(json_object_agg(projection, position), '{}') FROM ops.projection_tracking "
                        "WHERE projection = ANY(%s)) AS positions"
                    ),
                ]
            ).join(", ")
        )
        with self.pool.connection() as conn:
            row = conn.execute(statement, (list(names),)).fetchone()
        assert row is not None
        return (
            {s: int(row[f"head_{i}"] or 0) for i, s in enumerate(sources)},
            {name: int(position) for name, position in row["positions"].items()},
        )

    def process_batch(
        self,
        conn: Connection[Any],
        projection: Projection,
        limit: int = 2000,
        *,
        head: int | None = None,
        shared: dict[tuple[int, int], Sequence[Any] | None] | None = None,
    ) -> int:
        """Apply the next batch of events in one transaction; return how many notifications it covered.

        When the batch fails because of its events (not the database), it is applied again with the failing
        events isolated, recorded and skipped (see the module docstring); ProjectionStalled when too many fail.

        A runner passes its source's `head` as read once for a pass over its projections, and a `shared` dict for
        that pass: a projection within SHARED_READ_MAX of that head takes it instead of reading its own, and the
        projections with a batch in common share one read of its events (`_batch_events`). The events up to a head
        once read are final (notification ids follow commit order), so a later read would return the same rows.
        """
        try:
            with collector_paused():  # a batch's objects die by reference counting: see gc_pause
                covered, stop = self._process(conn, projection, limit, isolate=False, head=head, shared=shared)
        except Exception as exc:
            if is_transient(exc):
                raise
            log.warning("projection.batch_failed", projection=projection.name, error=describe_error(exc))
            try:
                with collector_paused():
                    covered, stop = self._process(conn, projection, limit, isolate=True, head=head, shared=shared)
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
            self._advance(projection.name, stop)
        return covered

    def _process(
        self,
        conn: Connection[Any],
        projection: Projection,
        limit: int,
        *,
        isolate: bool,
        head: int | None = None,
        shared: dict[tuple[int, int], Sequence[Any] | None] | None = None,
    ) -> tuple[int, int]:
        """One batch's transaction: (notifications covered, the position committed); (0, position) when there was
        nothing to do."""
        app = self.applications[projection.source]
        with conn.transaction():
            # Asynchronous commit (this transaction only): a batch's commit does not wait for its WAL flush (5-6 ms
            # a batch of 5,000 here). A crash may lose the last batches' commits, but each whole -- its rows with
            # its tracking position -- so they are applied again from the position that survived: still exactly once.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s)), set_config('synchronous_commit', 'off', true)",
                (projection.name,),
            )
            row = conn.execute(
                "SELECT position, failures, rebuilding FROM ops.projection_tracking WHERE projection = %s FOR UPDATE",
                (projection.name,),
            ).fetchone()
            position, failures = (row["position"], row["failures"]) if row else (0, 0)
            if row and row["rebuilding"] and not projection.rebuilding:
                # A rebuild was killed after some of its batches (which leave out what `rebuilt_statements` makes)
                # and before it ran them: run them now, before this batch goes on from the rows it committed - as a
                # rebuild that failed does in its `finally`. (Before, a directory rebuild killed while a `serve` ran
                # left the names it had replayed out of the vocabulary for good: no name search found them.)
                log.warning("projection.rebuild_cut_short", projection=projection.name, position=position)
                for statement in projection.rebuilt_statements():
                    conn.execute(statement)
                conn.execute(_REBUILT, (projection.name,))
            if head is None or head - position > SHARED_READ_MAX:
                # Further behind than a few events (or not in a runner's pass): a head of its own, so the writes
                # since the pass began make one bigger batch, and a read of its own topics, as before.
                head, shared = app.recorder.max_notification_id() or 0, None
            if head <= position:
                return 0, position
            stop = min(head, position + limit)
            notifications = _batch_events(app, projection, position, stop, shared)
            if not failures and not isolate:  # The hot path: no aggregate is parked, nothing has failed.
                advance_only = [Write(_ADVANCE, (stop, projection.name))]
                self._apply(conn, projection, app, notifications, advance_only, stored=True)
                return stop - position, stop
            isolation = _Isolation(
                self, conn, projection, app, self._parked_aggregates(conn, projection) if failures else {}
            )
            advance = Write(_ADVANCE_COUNTING, (stop, projection.name, projection.name))
            if not isolate:  # Nothing fails, but some aggregates wait behind failed events: park theirs.
                ready = isolation.hold(notifications)
                self._apply(conn, projection, app, ready, [*isolation.records(), advance], stored=True)
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
        return stop - position, stop

    def _apply(
        self,
        conn: Connection[Any],
        projection: Projection,
        app: Any,
        notifications: Sequence[Any],
        tail: Sequence[Write],
        *,
        stored: bool = False,
    ) -> None:
        """Decode, project and write `notifications` (one projection batch), then `tail`, on `conn`.

        With `stored`, the events the projection applies in SQL from the event store (`Projection.applies_stored`,
        stored as their class's current JSON) are not decoded here: their `stored_writes` go first, and the server
        runs them while the other events are decoded and projected."""
        overridden = type(projection).applies_stored is not Projection.applies_stored
        current = getattr(app.mapper, "stored_as_current", None) if stored and overridden else None
        positions: list[int] = []
        if current is not None:
            applies, rest = projection.applies_stored, []
            for notification in notifications:
                if applies(notification.topic, notification.state) and current(notification):
                    positions.append(notification.id)
                else:
                    rest.append(notification)
            notifications = rest
        # Writes stream to the server while later events are still being decoded and projected.
        projection.begin_batch()
        with _PipelinedWrites(conn) as out:
            if positions:
                for stored_write in projection.stored_writes(_events_table(app), positions):
                    out.send(stored_write)
                out.push()
            for notification in notifications:
                event = app.mapper.to_domain_event(notification)
                for write in projection.project(notification.id, event):
                    out.send(write)
            for write in projection.end_batch():
                out.send(write)
            for write in tail:
                out.send(write)

    def _committed(self, conn: Connection[Any], projection: Projection) -> int:
        with conn.transaction():
            row = conn.execute(
                "SELECT position FROM ops.projection_tracking WHERE projection = %s", (projection.name,)
            ).fetchone()
        return int(row["position"]) if row else 0

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

    #: How often `wait_for` reads the tracking again when no in-process batch says the projections it waits for are
    #: there (a runner in another process, a rebuild elsewhere).
    POLL_SECONDS = 0.05

    def wait_for(
        self, source: str, position: int, timeout: float = 5.0, projections: Collection[str] | None = None
    ) -> bool:
        """Block until every running projection of `source` (a source application's name) - or only those of it named
        in `projections` - has reached `position` (read-your-writes); KeyError for a name that is not a source.

        The answer is always the tracking table's (a rebuild elsewhere may have moved a position back). Between
        reads the wait sleeps until the in-process batches have committed `position` for every projection the last
        read found behind -- one read more, not one a batch: a source's runner moves its projections one after
        another -- or for a poll, which sees runners in other processes. A stopped projection is not waited for:
        it will not move until an operator acts, and /health reports it.
        """
        if source not in self.applications:
            # A projection's name here (e.g. "activity_customers") would match no projection and "catch up" at once.
            raise KeyError(f"{source!r} is not a source application (one of {sorted(self.applications)})")
        names = [
            p.name
            for p in self.projections.values()
            if p.source == source and (projections is None or p.name in projections)
        ]
        deadline = time.monotonic() + timeout
        while True:
            # Noted before the read: a batch committed after it (even before the sleep below begins) shows as a
            # change here, so the wait reads again at once instead of one poll later.
            with self._advanced:
                before = dict(self._committed_at)
            with self.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT projection, position, error IS NOT NULL AS stopped FROM ops.projection_tracking "
                    "WHERE projection = ANY(%s)",
                    (names,),
                ).fetchall()
            reached = {r["projection"] for r in rows if r["position"] >= position or r["stopped"]}
            behind = [name for name in names if name not in reached]
            if not behind:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            poll_ends = time.monotonic() + min(remaining, self.POLL_SECONDS)
            with self._advanced:
                while not self._committed_since(before, behind, position):
                    if (left := poll_ends - time.monotonic()) <= 0:
                        break
                    self._advanced.wait(left)

    def _committed_since(self, before: dict[str, int], names: list[str], position: int) -> bool:
        """Whether in-process batches have committed `position` for each of `names` since `before` (a copy of
        `_committed_at`, under `_advanced`). Only what changed since counts: an older position (say, before a
        rebuild elsewhere reset it) is what the read after `before` has just contradicted."""
        return all(
            (at := self._committed_at.get(name)) is not None and at != before.get(name) and at >= position
            for name in names
        )

    def _advance(self, name: str, position: int) -> None:
        """Wake the `wait_for`s of this process: a batch has moved projection `name` to `position` (committed)."""
        with self._advanced:
            self._committed_at[name] = position
            self._advanced.notify_all()
            for wake in self._wakes:
                wake.set()

    def wake_on_advance(self, wake: threading.Event) -> None:
        """Set `wake` each time a batch of this process moves any projection: a worker draining a read model's queue
        (`workers.polling.QueueDrainer`) sleeps on it instead of reading its queue every second."""
        with self._advanced:
            self._wakes.append(wake)

    def stop_waking(self, wake: threading.Event) -> None:
        """Forget a `wake_on_advance` event."""
        with self._advanced:
            if wake in self._wakes:
                self._wakes.remove(wake)

    def caught_up(self, source: str, timeout: float, purpose: str) -> bool:
        """Wait for every running read model of `source` to reach the source's head, for a job about to read them;
        when they have not within `timeout`, log a warning naming `purpose` and answer False. The caller goes on with
        what they show (what they miss is picked up by its next run or date), so an operator sees why it did less."""
        head = self.head(source)
        if self.wait_for(source, head, timeout=timeout):
            return True
        log.warning("projection.read_model_lagging", source=source, head=head, waited_seconds=timeout, purpose=purpose)
        return False

    #: Connections building a rebuilt projection's secondary indexes at once (a GIN index builds on one CPU). Three on
    #: two CPUs: a B-tree build ends by syncing its file to disk, time in which a third build works (the index phase
    #: of a 20,000-event directory rebuild: 0.19-0.30 s with two, 0.11-0.26 s with three, alternating, load 5).
    INDEX_BUILDERS = 3

    def _build_indexes(self, statements: Sequence[str], first: Sequence[str] = ()) -> None:
        """Build indexes on up to INDEX_BUILDERS pool connections at once, each in a transaction of its own.

        `first` (a projection's `rebuilt_statements`) run in order beside the builds (each in its own transaction), then the
        builds of the indexes of the tables they insert into (the directory's vocabulary count and its trigram
        index: 0.27-0.34 s at 160,000 rows, no longer alone between the replay and the builds)."""

        def build(statement: str) -> None:
            with self.pool.connection() as conn, conn.transaction():
                # Asynchronous commit, as the batches commit: an index lost to a crash is made again by `setup` at
                # the next start (the DDL's CREATE INDEX IF NOT EXISTS), so each build need not wait for a WAL flush.
                conn.execute(
                    "SELECT set_config('maintenance_work_mem', '256MB', true), "
                    "set_config('synchronous_commit', 'off', true)"
                )
                conn.execute(statement)

        def build_after(statements: Sequence[str]) -> None:
            for statement in statements:
                build(statement)

        filled = {m.group(1) for statement in first for m in _INSERT_INTO.finditer(statement)}
        after = [s for s in statements if any(f" ON {table} " in s for table in filled)] if first else []
        # The slowest (GIN) first, so the others fill in around them.
        ordered = sorted((s for s in statements if s not in after), key=lambda s: " using gin " not in s.lower())
        with ThreadPoolExecutor(max_workers=self.INDEX_BUILDERS, thread_name_prefix="rebuild-index") as builders:
            tasks = [builders.submit(build_after, [*first, *after])] if first else []
            tasks += [builders.submit(build, statement) for statement in ordered]
            for future in tasks:
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
                        "INSERT INTO ops.projection_tracking (projection, source, position, rebuilding) "
                        "VALUES (%s, %s, 0, true) ON CONFLICT (projection) DO UPDATE SET position = 0, "
                        "updated_at = now(), failures = 0, error = NULL, error_at = NULL, rebuilding = true",
                        (name, projection.source),
                    )
                total = self.head(projection.source)
                projection.rebuilding = True
                replayed = False
                try:
                    done = self._replay_in_pairs(conn, projection, batch, progress, total)
                    while True:  # (the rest, or all of it: batch by batch, isolating events that fail)
                        covered = self.process_batch(conn, projection, limit=batch)
                        if covered == 0:
                            break
                        done += covered
                        if progress:
                            progress(done, max(total, done))
                    replayed = True
                finally:
                    projection.rebuilding = False
                    if not replayed:  # The live runners go on from the rows committed: make what they rely on.
                        with conn.transaction():
                            for statement in projection.rebuilt_statements():
                                conn.execute(statement)
                            conn.execute(_REBUILT, (name,))
                self._build_indexes(projection.secondary_index_statements(), projection.rebuilt_statements())
                conn.execute(_REBUILT, (name,))
                log.info("projection.rebuilt", projection=name, events=done)
                return done
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))

    def _replay_in_pairs(
        self,
        conn: Connection[Any],
        projection: Projection,
        limit: int,
        progress: Callable[[int, int], None] | None,
        total: int,
    ) -> int:
        """Replay a rebuilt projection's batches on two connections at once, while they apply cleanly; return the
        events covered (the caller goes on batch by batch from the position committed, isolating any that fail).

        Each batch is one transaction sent whole in pipeline mode without waiting for it: its stored writes (the
        bulk of a rebuild: see `Projection.applies_stored`) run on one backend while the batch before is still being
        applied on the other, so the server works on two CPUs and the client decodes in between. Order and
        exactly-once still hold: a batch first takes a transaction lock of its own, then -- after its stored writes,
        before anything else -- waits for the lock of the batch before (that batch's commit or rollback), moves the
        tracking position from where that batch left it (`_ADVANCE_FROM` raises if it is not there) and only then
        sends its other writes, which so see every row of the batches before. Only for a projection that says its
        stored writes touch no row another batch writes (`Projection.concurrent_rebuild`), and only while no event
        fails: the first error stops the pairs (the batches after the failed one roll back)."""
        if not projection.concurrent_rebuild:
            return 0
        try:
            other = self.pool.getconn(timeout=0.5)
        except Exception:  # noqa: BLE001 - no second connection free: batch by batch on the one
            return 0
        app = self.applications[projection.source]
        events = _events_table(app)
        current = getattr(app.mapper, "stored_as_current", None)
        topics = list(projection.topics)
        conns = (conn, other)
        in_flight: list[_PipelinedWrites | None] = [None, None]
        position, done, turn, failed = 0, 0, 0, False
        before: int | None = None  # the start of the batch sent before

        def settle(index: int) -> None:
            nonlocal failed
            writes = in_flight[index]
            in_flight[index] = None
            if writes is None:
                return
            try:
                writes.__exit__(None, None, None)
            except Exception as exc:  # noqa: BLE001 - the batch rolled back; the caller goes on batch by batch
                if not failed:
                    log.warning(
                        "projection.rebuild_pairs_stopped", projection=projection.name, error=describe_error(exc)
                    )
                failed = True
            if conns[index].pgconn.transaction_status != pq.TransactionStatus.IDLE:
                conns[index].rollback()

        try:
            while not failed:
                with collector_paused():  # per batch, as process_batch
                    head = app.recorder.max_notification_id() or 0
                    if head <= position:
                        break
                    stop = min(head, position + limit)
                    notifications = app.recorder.select_notifications(
                        start=position, limit=limit, stop=stop, topics=topics, inclusive_of_start=False
                    )
                    settle(turn)  # this connection's batch before last
                    if failed:
                        break
                    writes = in_flight[turn] = _PipelinedWrites(conns[turn]).__enter__()
                    try:
                        writes.send_command(b"BEGIN")
                        writes.send(Write(_PAIR_BEGIN, (projection.name, position)))
                        writes.settle()  # this batch holds its lock before the next batch can wait for it
                        positions, rest = [], []
                        for notification in notifications:
                            if (
                                current is not None
                                and projection.applies_stored(notification.topic, notification.state)
                                and current(notification)
                            ):
                                positions.append(notification.id)
                            else:
                                rest.append(notification)
                        if positions:
                            for stored_write in projection.stored_writes(events, positions):
                                writes.send(stored_write)
                        writes.send(Write(_PAIR_ADVANCE, (projection.name, before, position, stop)))
                        writes.push()
                        projection.begin_batch()
                        for notification in rest:
                            event = app.mapper.to_domain_event(notification)
                            for write in projection.project(notification.id, event):
                                writes.send(write)
                        for write in projection.end_batch():
                            writes.send(write)
                        if writes.held:
                            writes._send_held()
                        writes.send_command(b"COMMIT")
                        writes.push()
                    except Exception as exc:  # noqa: BLE001 - an event that does not decode or project: stop here
                        log.warning("projection.rebuild_pairs_stopped", projection=projection.name,
                                     error=describe_error(exc))  # fmt: skip
                        failed = True
                        writes.rows, writes.behind, writes.held = {}, [], 0  # (nothing after the ROLLBACK)
                        writes.send_command(b"ROLLBACK")
                        settle(turn)
                        break
                    done += stop - position
                    before, position = position, stop
                    turn ^= 1
                    if progress:
                        progress(done, max(total, done))
        finally:
            settle(turn)  # the earlier batch first (the later one waits for it)
            settle(turn ^ 1)
            self.pool.putconn(other)
        committed = self._committed(conn, projection)
        if done:
            self._advance(projection.name, committed)
        return committed
