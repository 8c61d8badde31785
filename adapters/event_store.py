"""Event store plumbing: readable JSON events and a group-committing PostgreSQL recorder."""

from __future__ import annotations

import struct
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import IntegrityError, Mapper, Notification, ProgrammingError, StoredEvent
from eventsourcing.postgres import ConnectionPool, PostgresApplicationRecorder, PostgresFactory
from eventsourcing.utils import get_topic, resolve_topic, retry
from psycopg import pq
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from adapters.postgres import Availability, bound_pool, note_returned, pool_timeout, wait_for_connection
from domain.shared.aggregate import DomainEvent

_IN_COLUMNS = {"originator_id", "originator_version"}  # stored in their own columns, not in the JSON
#: Stored JSON that the fast decode cannot take: a version to upcast from, columns repeated, transcoded values.
#: (Looked for as four substrings: a third cheaper than one regular expression of the alternatives.)
_VERSIONED, _ID, _VERSION, _TRANSCODED = b'"class_version"', b'"originator_id"', b'"originator_version"', b'"_type_"'


class PydanticMapper(Mapper[UUID]):
    """Stores each pydantic event as UTF-8 JSON (readable with ``convert_from(state, 'UTF8')::jsonb``).

    Decimal, date, enum and UUID values round-trip exactly because the event
    class's annotations drive parsing. A class with ``class_version`` N > 1
    stores it and upcasts older JSON with its ``upcast_vK_vK+1`` methods.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        assert isinstance(domain_event, DomainEvent)
        version = type(domain_event).class_version
        if version > 1:
            state = domain_event.model_dump(mode="json", exclude=_IN_COLUMNS)
            state["class_version"] = version
            encoded = self.transcoder.encode(state)
        else:  # pydantic-core writes the JSON directly: the common case, on every append's path
            encoded = domain_event.model_dump_json(exclude=_IN_COLUMNS).encode()
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=encoded,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        data = stored_event.state
        if (
            cls.class_version == 1
            and data[:1] == b"{"
            and len(data) > 2
            and _VERSIONED not in data
            and _ID not in data
            and _VERSION not in data
            and _TRANSCODED not in data
        ):
            # The common case, on every replay's path: pydantic-core parses and validates the JSON in one pass,
            # with the two columns put in front of the stored object (no transcoded values to look for).
            originator_id = stored_event.originator_id
            head = b'{"originator_id":"%s","originator_version":%d,' % (
                (originator_id.hex if type(originator_id) is UUID else str(originator_id)).encode(),
                stored_event.originator_version,
            )
            return cls.__pydantic_validator__.validate_json(head + data[1:])  # = model_validate_json, one call less
        state: dict[str, Any] = self.transcoder.decode(data)
        from_version = state.pop("class_version", 1)
        while from_version < cls.class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)


class _BoundedPool(ConnectionPool[Any]):
    """eventsourcing's pool with adapters.postgres' bounded waits (the same behaviour as its BoundedPool)."""

    availability: Availability
    outages_checked: int

    def getconn(self, timeout: float | None = None) -> Any:
        return wait_for_connection(self, super().getconn, timeout)

    def putconn(self, conn: Any) -> None:
        note_returned(self, conn)
        super().putconn(conn)


class BoundedPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL factory whose pool waits at most DATABASE_POOL_TIMEOUT and fails fast in an outage."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        raw = self.env.get("DATABASE_POOL_TIMEOUT")
        pool = self.datastore.pool
        # eventsourcing builds its pool itself and takes no pool class: re-class it to a subclass that only adds
        # behaviour (its attributes are set by bound_pool).
        pool.__class__ = _BoundedPool
        bound_pool(pool, float(raw) if raw else pool_timeout())


class _Pending:
    __slots__ = ("done", "error", "events", "ids", "taken")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.taken = False  # in a group that a leader is writing
        self.done = False
        self.ids: list[int] | None = None
        self.error: Exception | None = None


class _Handover:
    __slots__ = ("before_commit", "done", "error", "events")

    def __init__(self, events: Sequence[StoredEvent], before_commit: Callable[[], None]) -> None:
        self.events = events
        self.before_commit = before_commit
        self.done = False
        self.error: BaseException | None = None


FUNCTION_PREFIX = "gc_append_v2_"
_UUID = 2950
_ARRAY_TYPES = {"uuid": (2951, _UUID), "text": (1009, 25)}  # originator id type -> (array oid, element oid)
_INT8_ARRAY, _INT8 = 1016, 20
_TEXT_ARRAY, _TEXT = 1009, 25
_BYTEA_ARRAY, _BYTEA = 1001, 17
_INT8_STRUCT = struct.Struct(">q")
_LENGTH_STRUCT = struct.Struct(">i")
_ARRAY_HEADER = struct.Struct(">iiiii")


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
def _translated_errors() -> Iterator[None]:
    """Raise psycopg errors as the eventsourcing persistence errors, as the library's datastore does."""
    try:
        yield
    except psycopg.Error as exc:
        for psycopg_error, persistence_error in _ERRORS:
            if isinstance(exc, psycopg_error):
                raise persistence_error(str(exc)) from exc
        raise


def _error(result: Any, pgconn: Any) -> psycopg.Error:
    """The psycopg error of a failed low-level result; a lost connection is an OperationalError."""
    if pgconn.status != pq.ConnStatus.OK:
        return psycopg.OperationalError(result.get_error_message() or "the connection to the server was lost")
    return psycopg.errors.error_from_result(result)


def _binary_array(element_oid: int, items: list[bytes]) -> bytes:
    """A one-dimensional, null-free PostgreSQL array in binary wire format."""
    parts = [_ARRAY_HEADER.pack(1, 0, element_oid, len(items), 1)]
    for item in items:
        parts.append(_LENGTH_STRUCT.pack(len(item)))
        parts.append(item)
    return b"".join(parts)


class GroupCommitRecorder(PostgresApplicationRecorder):
    """Application recorder that commits concurrent appends together.

    The library's recorder takes an EXCLUSIVE table lock per append (so
    notification ids follow commit order), which serialises writers at one
    transaction each. Here a writer that finds a free write slot leads: it takes
    every append queued meanwhile and writes them in one transaction under one
    lock: one commit (one WAL flush) for many commands. One group is in flight
    at a time (``groups_in_flight``): the table lock is held through the
    commit's WAL flush, so a second group in flight would only wait for the lock
    inside PostgreSQL and halve the appends per flush (measured in alternating
    rounds with four writers: 0.73 of raw INSERTs with one group in flight, 0.60
    with two). With more than one, a further group starts only when at least
    ``parallel_group_min`` appends wait, so commits stay big. Each append succeeds or fails on its
    own: keys that already exist, or that an earlier append in the same group
    takes, fail only that append with IntegrityError, so optimistic concurrency
    per aggregate is unchanged.

    The fast path is one round trip: a PL/pgSQL function (created with the
    table) that sets the lock timeout, locks the table, notifies the channel and
    inserts the whole group, committing as one autocommit statement. It is
    called with libpq's blocking prepared execution and binary parameters,
    which costs about a third of the client CPU of a psycopg cursor call (this
    path is the event store's throughput limit under the GIL). When the call
    hits a unique violation (a conflicting append, rare) nothing of the group is
    written, and the group is written again on the checked path, which looks up
    the taken keys under the lock first and fails only the conflicting appends.
    Without the function (tables made with CREATE_TABLE off) every group takes
    the checked path.
    """

    #: Takes `beside=(write, ...)` save kwargs: rows kept outside the event history (a source's token), each write
    #: run with the cursor of the transaction that records the events (the library's path, not a group).
    writes_beside = True
    #: Groups written at once; a further one waits for the table lock (held through the WAL flush) in PostgreSQL.
    groups_in_flight = 1
    #: A group starts beside one in flight only with at least this many appends; a lone append
    #: waits for the group in flight and then leads everything queued by then (fewer, bigger commits).
    parallel_group_min = 2

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._queue: list[_Pending] = []
        self._turn = threading.Condition()
        self._handovers: list[_Handover] = []  # insert_events_before_commit callers waiting for a transaction
        self._handovers_turn = threading.Condition()
        self._handing_over = False
        self._writing = 0
        id_type = self.datastore.originator_id_type
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        self._select_existing = SQL(
            "SELECT e.originator_id, e.originator_version FROM {schema}.{table} e "
            "JOIN unnest(%s::{id_type}[], %s::bigint[]) AS k(id, v) "
            "ON e.originator_id = k.id AND e.originator_version = k.v"
        ).format(schema=schema, table=table, id_type=SQL(id_type))
        self._insert_returning = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING originator_id, originator_version, notification_id"
        ).format(schema=schema, table=table, id_type=SQL(id_type))

        # The version in the name lets a changed signature or return type coexist with an older database's function.
        function = Identifier(
            self.datastore.schema, (FUNCTION_PREFIX + self.events_table_name)[: self.MAX_IDENTIFIER_LEN]
        )
        self._fast_path = True
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()  # connections holding the prepared call
        # Connections the fast path keeps between groups (one per group in flight): taking a pooled
        # connection per group rotates through the pool's server processes, which costs more client
        # CPU and wall time than the append itself. They go back to the pool when the datastore closes.
        self._writers: list[Any] = []
        self._writers_lock = threading.Lock()
        close_datastore = self.datastore.close

        def close() -> None:
            self._return_writers()
            close_datastore()

        self.datastore.close = close  # type: ignore[method-assign]
        self._id_array_oid, self._id_oid = _ARRAY_TYPES[id_type]
        self._call_name = (FUNCTION_PREFIX + self.events_table_name).encode()
        self._call_sql = SQL("SELECT {function}($1, $2, $3, $4)").format(function=function).as_string().encode()
        # Returns the notification ids in the order of the arguments.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY WITH ins AS ("
                "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING originator_id, originator_version, notification_id) "
                "SELECT ins.notification_id FROM unnest(ids, versions) WITH ORDINALITY AS k(id, v, n) "
                "JOIN ins ON ins.originator_id = k.id AND ins.originator_version = k.v ORDER BY k.n; "
                "END $body$"
            ).format(
                function=function,
                id_type=SQL(id_type),
                lock_timeout=self.datastore.lock_timeout,
                schema=schema,
                table=table,
                channel=Identifier(self.channel_name),
            )
        )

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
            _translated_errors(),
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
            "WHERE originator_id = ANY(%s::{id_type}[]) ORDER BY originator_id, originator_version"
        ).format(
            schema=Identifier(self.datastore.schema),
            table=Identifier(self.events_table_name),
            id_type=SQL(self.datastore.originator_id_type),
        )
        # Binary tuples, as select_events reads: no hex decoding of each state, no dict per row.
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as curs,
        ):
            curs.execute(statement, (list(originator_ids),), prepare=True)
            return [StoredEvent(*row) for row in curs]

    def insert_events_before_commit(
        self, stored_events: Sequence[StoredEvent], before_commit: Callable[[], None]
    ) -> None:
        """Insert events in a transaction and call `before_commit` just before it commits.

        For a record that must exist if, and only if, something outside happened (an email committed at a mail
        server): the outside step runs inside the transaction, so a crash before it rolls the record back, and the
        commit follows it by one message. A failing `before_commit` rolls its own insert back.

        Callers that arrive while a transaction is under way share the next one (the table lock and the commit are
        most of its cost): each insert and its `before_commit` run in a savepoint of their own, so one failing
        rolls back only its own insert; the commit follows the last of them.
        """
        handover = _Handover(stored_events, before_commit)
        with self._handovers_turn:
            self._handovers.append(handover)
            while self._handing_over and not handover.done:
                self._handovers_turn.wait()
            if handover.done:
                if handover.error is not None:
                    raise handover.error
                return
            self._handing_over = True
            group, self._handovers = self._handovers, []
        try:
            self._hand_over(group)
        finally:
            with self._handovers_turn:
                self._handing_over = False
                self._handovers_turn.notify_all()
        if handover.error is not None:
            raise handover.error

    def _hand_over(self, group: list[_Handover]) -> None:
        try:
            with self.datastore.get_connection() as conn, conn.transaction():
                for handover in group:
                    try:
                        with _translated_errors(), conn.transaction(), conn.cursor() as curs:
                            self._insert_stored_events(curs, handover.events)
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

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or kwargs.get("beside") or not stored_events:
            return super().insert_events(stored_events, **kwargs)
        pending = _Pending(stored_events)
        group: list[_Pending] | None = None
        with self._turn:
            self._queue.append(pending)
            while not pending.taken and (
                self._writing >= self.groups_in_flight or (self._writing and len(self._queue) < self.parallel_group_min)
            ):
                self._turn.wait()
            if not pending.taken:  # A slot is free: lead everything queued so far, this append included.
                self._writing += 1
                group, self._queue = self._queue, []
                for p in group:
                    p.taken = True
            else:
                while not pending.done:
                    self._turn.wait()
        if group is not None:
            try:
                self._write_group(group)
            finally:
                with self._turn:
                    self._writing -= 1
                    self._turn.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.ids

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's hook inside the insert's transaction: run the `beside` writes there too."""
        super()._insert_events(curs, stored_events, **kwargs)
        for write in kwargs.get("beside", ()):
            write(curs)

    def _write_group(self, group: list[_Pending]) -> None:
        try:
            if not (self._fast_path and self._write_group_fast(group)):
                self._write_group_checked(group)
        except Exception as exc:  # noqa: BLE001 - the whole group failed to commit: every member sees the error.
            for p in group:
                if p.error is None:
                    p.error = exc
                    p.ids = None
        finally:
            for p in group:
                p.done = True

    def _write_group_fast(self, group: list[_Pending]) -> bool:
        """Append the whole group in one statement; False when it must go the checked way instead."""
        rows = [e for p in group for e in p.events]
        if self._id_oid == _UUID:
            keys = [
                e.originator_id.bytes if isinstance(e.originator_id, UUID) else UUID(e.originator_id).bytes
                for e in rows
            ]
        else:
            keys = [str(e.originator_id).encode() for e in rows]
        params = [
            _binary_array(self._id_oid, keys),
            _binary_array(_INT8, [_INT8_STRUCT.pack(e.originator_version) for e in rows]),
            _binary_array(_TEXT, [e.topic.encode() for e in rows]),
            _binary_array(_BYTEA, [bytes(e.state) for e in rows]),
        ]
        # A connection the server closed (restart, idle timeout) fails without running anything: try
        # the next one, as the library's recorder retries; the pool replaces the closed ones.
        attempts = self.datastore.pool.max_size + 1
        for attempt in range(1, attempts + 1):
            conn = self._take_writer()
            try:
                with _translated_errors(), conn.lock:
                    ids = self._call_append(conn, params)
            except persistence.OperationalError:
                self._return_writer(conn, keep=False)
                if attempt < attempts and conn.pgconn.status != pq.ConnStatus.OK:
                    continue
                raise
            except BaseException:
                self._return_writer(conn, keep=False)
                raise
            self._return_writer(conn, keep=True)
            break
        if ids is None:
            return False
        if len(ids) != len(rows):
            raise ProgrammingError(f"expected {len(rows)} notification ids, got {len(ids)}")
        offset = 0
        for p in group:
            p.ids = ids[offset : offset + len(p.events)]
            offset += len(p.events)
        return True

    def _call_append(self, conn: Any, params: list[bytes]) -> list[int] | None:
        """Run the append function on `conn`; None when the group must go the checked way instead."""
        pgconn = conn.pgconn
        if conn not in self._prepared:
            types = [self._id_array_oid, _INT8_ARRAY, _TEXT_ARRAY, _BYTEA_ARRAY]
            prepared = pgconn.prepare(self._call_name, self._call_sql, types)
            if prepared.status != pq.ExecStatus.COMMAND_OK:
                if prepared.error_field(pq.DiagnosticField.SQLSTATE) == b"42883":  # undefined_function
                    self._fast_path = False  # The table was made without our DDL: always check first.
                    return None
                raise _error(prepared, pgconn)
            self._prepared.add(conn)
        result = pgconn.exec_prepared(self._call_name, params, [1, 1, 1, 1], 1)
        if result.status != pq.ExecStatus.TUPLES_OK:
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            if state == b"23505":  # unique_violation: nothing of the group was written.
                return None
            if state == b"26000":  # The prepared call is gone (DEALLOCATE ALL): prepare again next time.
                self._prepared.discard(conn)
                return None
            if state == b"42883":  # The function was dropped: check first from now on.
                self._fast_path = False
                return None
            raise _error(result, pgconn)
        return [_INT8_STRUCT.unpack(result.get_value(i, 0) or b"")[0] for i in range(result.ntuples)]

    def _take_writer(self) -> Any:
        """A kept connection in working order, else one from the pool."""
        while True:
            with self._writers_lock:
                conn = self._writers.pop() if self._writers else None
            if conn is None:
                break
            if not conn.closed and conn.pgconn.status == pq.ConnStatus.OK:
                return conn
            self._return_writer(conn, keep=False)
        with _translated_errors():
            timeout = self.datastore.pool_open_timeout
            self.datastore.pool.open(timeout is not None, timeout or 30.0)
            return self.datastore.pool.getconn()

    def _return_writer(self, conn: Any, *, keep: bool) -> None:
        """Keep `conn` for the next group, or give it back to the pool (which replaces broken ones)."""
        if keep and not conn.closed and not self.datastore.pool.closed:
            with self._writers_lock:
                if len(self._writers) < self.groups_in_flight:
                    self._writers.append(conn)
                    return
        with suppress(Exception):  # A closed pool closes what it is given back.
            self.datastore.pool.putconn(conn)

    def _return_writers(self) -> None:
        """Give the kept connections back to the pool (when the datastore closes)."""
        with self._writers_lock:
            writers, self._writers = self._writers, []
        for conn in writers:
            with suppress(Exception):
                self.datastore.pool.putconn(conn)

    def _write_group_checked(self, group: list[_Pending]) -> None:
        """Look up taken keys under the table lock, fail only the conflicting appends, insert the rest."""
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement, prepare=True)
            keys = [e for p in group for e in p.events]
            curs.execute(
                self._select_existing,
                ([e.originator_id for e in keys], [e.originator_version for e in keys]),
                prepare=True,
            )
            taken = {(row["originator_id"], row["originator_version"]) for row in curs.fetchall()}
            accepted: list[_Pending] = []
            for p in group:
                own = {(e.originator_id, e.originator_version) for e in p.events}
                if own & taken or len(own) != len(p.events):
                    p.error = IntegrityError("an event with this aggregate id and version is already recorded")
                else:
                    taken |= own
                    accepted.append(p)
            rows = [e for p in accepted for e in p.events]
            if rows:
                curs.execute(
                    self._insert_returning,
                    (
                        [e.originator_id for e in rows],
                        [e.originator_version for e in rows],
                        [e.topic for e in rows],
                        [e.state for e in rows],
                    ),
                    prepare=True,
                )
                ids = {(r["originator_id"], r["originator_version"]): r["notification_id"] for r in curs.fetchall()}
                curs.execute(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))
                for p in accepted:
                    p.ids = [ids[(e.originator_id, e.originator_version)] for e in p.events]
