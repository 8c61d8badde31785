"""Event store persistence on PostgreSQL: the bounded factory, and the recorder's reads, bulk loads and hand-overs.

The group-committing appends (adapters/group_commit.py) build on this recorder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import BaseInfrastructureFactory, Notification, StoredEvent
from eventsourcing.postgres import ConnectionPool, PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from adapters.postgres import Availability, bound_pool, note_returned, pool_timeout, wait_for_connection
from domain.shared.ddl import unless_present


class _BoundedPool(ConnectionPool[Any]):
    """eventsourcing's pool with adapters.postgres' bounded waits (the same behaviour as its BoundedPool)."""

    availability: Availability
    outages_checked: int

    def getconn(self, timeout: float | None = None) -> Any:
        return wait_for_connection(self, super().getconn, timeout)

    def putconn(self, conn: Any) -> None:
        note_returned(self, conn)
        super().putconn(conn)


#: Environment key: the applications given the same value share one datastore (one pool of connections) in this
#: process, opened by the first of them and closed by `close_shared_datastore`; without it each application opens a
#: pool of its own. A platform's applications share one (eventsourcing_env(shared=...)): a pool each held 57
#: connections to the server in a process of 18 applications before a request, which a server at PostgreSQL's
#: default `max_connections` of 100 could not give a `serve` and a CLI command at once.
SHARED_DATASTORE = "SHARED_DATASTORE"

_shared: dict[str, PostgresDatastore] = {}
_shared_lock = threading.Lock()


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory whose pool waits at most DATABASE_POOL_TIMEOUT and fails fast in an outage,
    and which shares its datastore with the other applications of the same SHARED_DATASTORE."""

    def __init__(self, env: Any) -> None:
        environment = env if isinstance(env, Environment) else Environment(env=env)
        self.shared_key = environment.get(SHARED_DATASTORE) or None
        if self.shared_key is None:
            self._open(environment)
            return
        with _shared_lock:
            shared = _shared.get(self.shared_key)
            if shared is None:
                self._open(environment)
                _shared[self.shared_key] = self.datastore
            else:
                BaseInfrastructureFactory.__init__(self, environment)  # the settings without a pool of their own
                self.datastore = shared

    def _open(self, environment: Environment) -> None:
        super().__init__(environment)
        raw = self.env.get("DATABASE_POOL_TIMEOUT")
        pool = self.datastore.pool
        # eventsourcing builds its pool itself and takes no pool class: re-class it to a subclass that only adds
        # behaviour (its attributes are set by bound_pool).
        pool.__class__ = _BoundedPool
        bound_pool(pool, float(raw) if raw else pool_timeout())

    def close(self) -> None:
        if self.shared_key is None:  # a shared datastore is closed by its holder, after every application using it
            super().close()


def close_shared_datastore(key: str) -> None:
    """Close the datastore the applications of SHARED_DATASTORE `key` shared (none opened: nothing)."""
    with _shared_lock:
        datastore = _shared.pop(key, None)
    if datastore is not None:
        datastore.close()


class _Handover:
    """One insert_events_before_commit call: its events and outside step, and the lock its thread sleeps on until
    its group's transaction is over (`done`) or it is handed the lane to lead the next group."""

    __slots__ = ("before_commit", "done", "error", "events", "notify", "wake")

    def __init__(self, events: Sequence[StoredEvent], before_commit: Callable[[], None], notify: bool = True) -> None:
        self.events = events
        self.before_commit = before_commit
        self.notify = notify
        self.done = False
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()  # released once, by the thread that finishes its group or hands it the lane


_ERRORS: tuple[tuple[type[psycopg.Error], type[persistence.PersistenceError]], ...] = (
    (psycopg.InterfaceError, persistence.InterfaceError),
    (psycopg.OperationalError, persistence.OperationalError),
    (psycopg.DataError, persistence.DataError),
    (psycopg.IntegrityError, persistence.IntegrityError),
    (psycopg.InternalError, persistence.InternalError),
    (psycopg.ProgrammingError, persistence.ProgrammingError),
    (psycopg.NotSupportedError, persistence.NotSupportedError),
    (psycopg.DatabaseError, persistence.DatabaseError),
    (psycopg.Error, persistence.PersistenceError),
)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Raise psycopg errors as the eventsourcing persistence errors, as the library's datastore does."""
    try:
        yield
    except psycopg.Error as exc:
        for psycopg_error, persistence_error in _ERRORS:
            if isinstance(exc, psycopg_error):
                raise persistence_error(str(exc)) from exc
        raise


class EventRecorder(PostgresApplicationRecorder):
    """The library's application recorder with binary reads, bulk loads, writes beside the events and hand-overs.

    Appends go the library's way (a table lock and a transaction each); GroupCommitRecorder groups them.
    """

    #: Takes `beside=(write, ...)` save kwargs: rows kept outside the event history (a source's token), each write
    #: run with the cursor of the transaction that records the events (the library's path, not a group).
    writes_beside = True

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._handovers: list[_Handover] = []  # insert_events_before_commit callers waiting for a transaction
        self._handovers_lock = threading.Lock()  # guards _handovers and _handing_over
        self._handing_over = False  # a group's transaction is under way (or its leader is being woken)

    def _create_table(self, curs: Any) -> None:
        """The library's statements (its `_create_table`), each index made only when missing (`unless_present`): a
        process starting beside running appends took the events table's SHARE lock for an index there already, waiting
        for the appends in flight and holding up the ones after them."""
        for statement in self.sql_create_statements:
            text = statement.as_string(curs)
            if "CREATE TYPE" not in text:  # (the library makes its types in transactions of their own)
                curs.execute(unless_present(text), prepare=False)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """One aggregate's events, as the library selects them, read as binary tuples.

        The library reads dict rows in text format, every state's bytea hex-decoded: a good share of the time
        to load or replay an aggregate with a long history.
        """
        statement = SQL(
            "SELECT originator_version, topic, state FROM {schema}.{table} WHERE originator_id = %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        params: list[Any] = [originator_id]
        if gt is not None:
            params.append(gt)
            statement += SQL(" AND originator_version > %s")
        if lte is not None:
            params.append(lte)
            statement += SQL(" AND originator_version <= %s")
        statement += SQL(" ORDER BY originator_version DESC" if desc else " ORDER BY originator_version ASC")
        if limit is not None:
            params.append(limit)
            statement += SQL(" LIMIT %s")
        aggregate_id = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(statement, params, prepare=True)
            return [StoredEvent(aggregate_id, version, topic, state) for version, topic, state in curs]

    @retry((persistence.InterfaceError, persistence.OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's notification query, read as binary tuples (as `select_events`).

        The library reads dict rows in text format and hex-decodes every state: most of the client time of
        reading the log, which every projection batch and the relay do.
        """
        conditions: list[str] = []
        params: list[Any] = []
        if start is not None:
            conditions.append("notification_id >= %s" if inclusive_of_start else "notification_id > %s")
            params.append(start)
        if stop is not None:
            conditions.append("notification_id <= %s")
            params.append(stop)
        if topics:
            conditions.append("topic = ANY(%s)")
            params.append(list(topics))
        params.append(limit)
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id FROM {schema}.{table}"
            + (" WHERE " + " AND ".join(conditions) if conditions else "")
            + " ORDER BY notification_id LIMIT %s"
        ).format(schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name))
        with (
            translated_errors(),
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(statement, params, prepare=True)
            return [Notification(*row) for row in curs.fetchall()]  # the dataclass field order: id last

    def select_events_many(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of the given aggregates in one round trip, by aggregate then version (for bulk loads)."""
        if not originator_ids:
            return []
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%b::{id_type}[]) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=SQL(self.datastore.originator_id_type),
        )
        # Binary tuples, as select_events reads: no hex decoding of each state, no dict per row. The ids go in binary
        # too (%b): a list passed as %s goes through psycopg's text array dumper, element by element in Python.
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(statement, (list(originator_ids),), prepare=True)
            return [StoredEvent(*row) for row in curs]

    def insert_events_before_commit(
        self, stored_events: Sequence[StoredEvent], before_commit: Callable[[], None], *, notify: bool = True
    ) -> None:
        """Insert events in a transaction and call `before_commit` just before it commits.

        For a record that must exist if, and only if, something outside happened (an email committed at a mail
        server): the outside step runs inside the transaction, so a crash before it rolls the record back, and the
        commit follows it by one message. A failing `before_commit` rolls its own insert back.

        Callers that arrive while a transaction is under way share the next one (the table lock and the commit are
        most of its cost): their inserts go as one statement, then each `before_commit` runs; one failing rolls
        back only its own insert, and a taken key only its own (`_hand_over_together`); the commit follows the
        last of them.

        `notify=False` leaves the channel's NOTIFY out (when every caller of the transaction says so): followers
        (projection runners, the relay) read these events with the next notified commit, or at their periodic
        re-check (within ten seconds), instead of waking for each small transaction. For records whose readers need
        not see them at once (a notification job's hand-overs, each followed by the page's Sent within a page).
        """
        handover = _Handover(stored_events, before_commit, notify)
        with self._handovers_lock:
            self._handovers.append(handover)
            leads = not self._handing_over
            self._handing_over = True
        if not leads:
            # Asleep until the group that takes this hand-over is over, or until this caller is to lead one: each
            # caller is woken once, by name (a shared condition's notify_all woke every waiter for every group,
            # some ten context switches a hand-over with 24 senders).
            handover.wake.acquire()
            if handover.done:
                if handover.error is not None:
                    raise handover.error
                return
        with self._handovers_lock:
            group, self._handovers = self._handovers, []
        try:
            self._hand_over(group)
        finally:
            with self._handovers_lock:
                following = self._handovers[0] if self._handovers else None
                self._handing_over = following is not None
            if following is not None:
                # The oldest waiter leads the next group, woken first: the next end-of-data marks wait on it, while
                # this group's callers only go on to read their servers' answers.
                following.wake.release()
            for member in group:
                if member is not handover:
                    member.wake.release()
        if handover.error is not None:
            raise handover.error

    def _hand_over(self, group: list[_Handover]) -> None:
        try:
            # Pipeline mode: a group is two round trips (`_hand_over_together`); the fallback for a taken key sends
            # each caller through a savepoint of its own.
            with self.datastore.get_connection() as conn, conn.pipeline() as pipeline:
                if not self._hand_over_together(conn, pipeline, group):
                    with conn.transaction():
                        for handover in group:
                            try:
                                with translated_errors(), conn.transaction(), conn.cursor() as curs:
                                    self._insert_handed_over(curs, handover.events, handover.notify)
                                    pipeline.sync()
                                    handover.before_commit()
                            except Exception as exc:  # noqa: BLE001 - this caller's own failure: its savepoint rolled back.
                                handover.error = exc
        except Exception as exc:  # noqa: BLE001 - the transaction failed: every caller in it sees the error.
            for handover in group:
                if handover.error is None:
                    handover.error = exc
        finally:
            for handover in group:
                handover.done = True

    def _hand_over_together(self, conn: Any, pipeline: Any, group: list[_Handover]) -> bool:
        """The group's inserts as one (one table lock, one statement), then each caller's outside step, in two
        round trips: BEGIN, the lock and the insert go out together and `sync` waits for the insert's outcome
        before any outside step runs; then COMMIT. (psycopg's transaction blocks sync the pipeline as they open and
        close, a savepoint inside twice more: five round trips a group, each a wait for the GIL and a CPU on a busy
        machine, or a network's round trip to a remote server. In a notification run on two CPUs a group took
        13-17 ms with five, 10-11 ms with two.)

        A step that fails takes the group's inserts back and inserts again those of the steps that ran (their
        outside effect happened: their record must commit), so each still stands or falls alone. False, with
        nothing kept, when the insert fails (a taken key): then each caller goes in a savepoint of its own.
        """
        notify = any(handover.notify for handover in group)
        try:
            with translated_errors():
                self._in_transaction(conn, pipeline, [e for handover in group for e in handover.events], notify)
        except persistence.IntegrityError:
            return False
        failed = False
        for handover in group:
            try:
                handover.before_commit()
            except Exception as exc:  # noqa: BLE001 - this caller's own failure, handed back to it.
                handover.error = exc
                failed = True
        with translated_errors():
            try:
                if failed:
                    conn.rollback()
                    kept = [e for handover in group if handover.error is None for e in handover.events]
                    if kept:
                        self._in_transaction(conn, pipeline, kept, notify)
                conn.commit()  # COMMIT and a sync
            except BaseException:
                self._roll_back(conn)
                raise
        return True

    def _in_transaction(self, conn: Any, pipeline: Any, events: list[StoredEvent], notify: bool) -> None:
        """Open a transaction and insert `events` in it: one round trip, the insert's error raised here."""
        try:
            conn.execute("BEGIN")
            with conn.cursor() as curs:
                self._insert_handed_over(curs, events, notify)
            pipeline.sync()
        except BaseException:
            self._roll_back(conn)
            raise

    @staticmethod
    def _roll_back(conn: Any) -> None:
        """End a transaction begun by hand (psycopg also forgets the statements prepared in it); a broken
        connection is the pool's to discard."""
        with suppress(psycopg.Error):
            conn.rollback()

    def _insert_handed_over(self, curs: Any, stored_events: Sequence[StoredEvent], notify: bool) -> None:
        """The library's insert under the table lock, with the channel's NOTIFY or (`notify=False`) without."""
        if notify:
            self._insert_stored_events(curs, stored_events)
            return
        self._lock_table(curs)
        super(PostgresApplicationRecorder, self)._insert_stored_events(curs, stored_events)

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's hook inside the insert's transaction: run the `beside` writes there too."""
        super()._insert_events(curs, stored_events, **kwargs)
        for write in kwargs.get("beside", ()):
            write(curs)
