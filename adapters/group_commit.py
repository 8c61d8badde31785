"""Group-committing appends: concurrent appends share one table lock, one transaction and one commit."""

from __future__ import annotations

import struct
import threading
import time
import weakref
from collections.abc import Sequence
from contextlib import suppress
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing import persistence
from eventsourcing.persistence import IntegrityError, ProgrammingError, StoredEvent
from psycopg import pq
from psycopg.sql import SQL, Identifier

from adapters.event_recorder import EventRecorder, translated_errors


class _Pending:
    __slots__ = ("done", "error", "events", "ids", "taken", "thread", "written")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.thread = threading.get_ident()
        self.taken = False  # in a group that a leader is writing
        self.done = False
        self.ids: list[int] | None = None
        self.error: Exception | None = None
        # Held until the leader has written the group: a member waits on its own lock, not on the recorder's
        # condition (woken alone, it returns without taking the condition's lock again).
        self.written = threading.Lock()
        self.written.acquire()


FUNCTION_PREFIX = "gc_append_v2_"
_UUID = 2950
_ARRAY_TYPES = {"uuid": (2951, _UUID), "text": (1009, 25)}  # originator id type -> (array oid, element oid)
_INT8_ARRAY, _INT8 = 1016, 20
_TEXT_ARRAY, _TEXT = 1009, 25
_BYTEA_ARRAY, _BYTEA = 1001, 17
_INT8_STRUCT = struct.Struct(">q")
_LENGTH_STRUCT = struct.Struct(">i")
_ARRAY_HEADER = struct.Struct(">iiiii")


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


class _KeptWriters:
    """The connections a datastore's group-committing recorders keep between groups, out of its pool: one per group
    in flight of each recorder, up to MOST for a datastore the applications of a process share (a busy recorder
    keeps one; the others take the pool's). Given back to the pool when the datastore closes. Also which of the
    datastore's connections hold which recorder's prepared append."""

    MOST = 4
    _attaching = threading.Lock()

    def __init__(self) -> None:
        self.most = 0
        self._conns: list[Any] = []
        self._prepared: weakref.WeakKeyDictionary[Any, set[bytes]] = weakref.WeakKeyDictionary()  # conn -> names
        self._lock = threading.Lock()

    @classmethod
    def of(cls, datastore: Any, groups_in_flight: int) -> _KeptWriters:
        """The datastore's kept writers (made, and given back as it closes, on its first recorder's asking), now
        also keeping `groups_in_flight` for one more recorder."""
        with cls._attaching:
            kept: _KeptWriters | None = getattr(datastore, "kept_writers", None)
            if kept is None:
                kept = datastore.kept_writers = cls()
                close_datastore = datastore.close

                def close() -> None:
                    kept.give_back(datastore.pool)
                    close_datastore()

                datastore.close = close
            kept.most = min(kept.most + groups_in_flight, max(cls.MOST, groups_in_flight))
        return kept

    def take(self) -> Any | None:
        with self._lock:
            return self._conns.pop() if self._conns else None

    def keep(self, conn: Any) -> bool:
        """Keep `conn`: False when as many are kept as may be."""
        with self._lock:
            if len(self._conns) >= self.most:
                return False
            self._conns.append(conn)
            return True

    def prepared(self, conn: Any, name: bytes) -> bool:
        """Whether `conn` holds the prepared statement `name`: a connection of a shared pool may have prepared it for
        another recorder of the same table (a second application of a context), and preparing again fails."""
        with self._lock:
            return name in self._prepared.get(conn, ())

    def note_prepared(self, conn: Any, name: bytes, *, gone: bool = False) -> None:
        with self._lock:
            names = self._prepared.setdefault(conn, set())
            if gone:
                names.discard(name)
            else:
                names.add(name)

    def give_back(self, pool: Any) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with suppress(Exception):
                pool.putconn(conn)


class GroupCommitRecorder(EventRecorder):
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

    #: Groups written at once; a further one waits for the table lock (held through the WAL flush) in PostgreSQL.
    groups_in_flight = 1
    #: A group starts beside one in flight only with at least this many appends; a lone append
    #: waits for the group in flight and then leads everything queued by then (fewer, bigger commits).
    parallel_group_min = 2
    #: A forming group waits for the last group's writers for at most this share of a group's write time...
    gather_share = 0.5
    #: ...and at most this long (a commit's WAL flush on a fast disk is well below it).
    gather_max_seconds = 0.002

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._queue: list[_Pending] = []
        self._turn = threading.Condition()
        self._writing = 0  # groups being written, and the append handed the lead (a slot passed on)
        self._handed: _Pending | None = None  # the append handed the lead that has not taken its group yet
        self._forming = False  # a leader is gathering its group
        self._gathering = 0  # appends a leader waits for before it writes (0: none is waiting)
        self._last_writers: frozenset[int] = frozenset()  # the threads whose appends the last group wrote
        self._write_seconds = 0.0  # moving average of a group's write (its round trip and commit)
        self._last_written = 0.0  # when the last group's write ended (time.perf_counter)
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
        # Connections the fast path keeps between groups (one per group in flight): taking a pooled
        # connection per group rotates through the pool's server processes, which costs more client
        # CPU and wall time than the append itself. The datastore's recorders keep them together (a shared
        # datastore's recorders take each other's), and they go back to the pool when the datastore closes.
        self._kept = _KeptWriters.of(self.datastore, self.groups_in_flight)
        self._id_array_oid, self._id_oid = _ARRAY_TYPES[id_type]
        self._call_name = (FUNCTION_PREFIX + self.events_table_name).encode()
        self._call_sql = SQL("SELECT {function}($1, $2, $3, $4)").format(function=function).as_string().encode()
        # Returns the notification ids in the order of the arguments: INSERT ... SELECT over unnest() inserts the
        # rows, draws their ids from the sequence and returns them in the arrays' order (the library's own
        # es_insert_events function relies on the same). Joining the returned keys back to the arguments to
        # order them cost about a fifth of the function's server CPU, all of it under the table lock.
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $body$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY "
                "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING notification_id; "
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

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or kwargs.get("beside") or not stored_events:
            return super().insert_events(stored_events, **kwargs)
        pending = _Pending(stored_events)
        group: list[_Pending] | None = None
        with self._turn:
            self._queue.append(pending)
            if self._gathering and len(self._queue) >= self._gathering:
                # This append completes the group a leader is gathering: it takes the lead (and the leader's slot)
                # and writes the group now; the gatherer, asleep on its own lock, is woken with the other members
                # once the group is written. Waking the gatherer to write instead put one more thread wake-up in
                # series between two groups.
                self._gathering = 0
                self._forming = False
                group = self._claim_queue()
            elif (
                self._handed is None  # else the append handed the lead takes this one with its group
                and not self._forming  # else the leader gathering takes this one with its group
                and self._writing < self.groups_in_flight
                and (not self._writing or len(self._queue) >= self.parallel_group_min)
            ):
                self._writing += 1
                group = self._take_group(pending)
        if not group and not pending.taken:
            # Released once a leader has written this append's group, or to hand this append the lead (a slot
            # came free with it first in the queue). A member is woken once, by its own lock, when it is done.
            pending.written.acquire()
            if not pending.taken:
                with self._turn:  # Handed the lead: its slot is counted in `_writing` already.
                    self._handed = None
                    group = self._take_group(pending)
        if not group:  # A member of a group another append leads (perhaps one that completed this one's gathering).
            if not pending.done:
                pending.written.acquire()
            if pending.error is not None:
                raise pending.error
            return pending.ids
        began = time.perf_counter()
        successor: _Pending | None = None
        try:
            self._write_group(group)
        finally:
            with self._turn:
                self._last_written = time.perf_counter()
                self._write_seconds += (self._last_written - began - self._write_seconds) / 8
                if self._queue and self._handed is None and not self._forming:
                    # Appends came during the write and no leader is taking them: the first of them leads the
                    # next group (the slot passes to it, so `_writing` stays as it is).
                    successor = self._handed = self._queue[0]
                else:
                    self._writing -= 1
            for p in group:
                if p is not pending:
                    p.written.release()
            if successor is not None:
                successor.written.release()
        if pending.error is not None:
            raise pending.error
        return pending.ids

    def _claim_queue(self) -> list[_Pending]:
        """Take every queued append as the group to write (the lock held by the caller)."""
        group, self._queue = self._queue, []
        for p in group:
            p.taken = True
        self._last_writers = frozenset(p.thread for p in group)
        return group

    def _take_group(self, leader: _Pending) -> list[_Pending] | None:
        """Gather (the lock held by the caller), then take every queued append as the group to write; None when
        the append that completed the gathering took the group (and the lead) instead."""
        self._forming = True  # no other append leads while this group forms (the gather lets go of the lock)
        if not self._gather(leader):
            return None  # The thief has reset `_forming` (and another group may be forming by now).
        self._forming = False
        return self._claim_queue()

    def _gather(self, leader: _Pending) -> bool:
        """Wait briefly (the lock held by the caller) for the appends of the writers the last group served; False
        when the append that completed the group took it (`leader` is then a member of that group).

        With one group in flight, the writers whose appends the last group wrote are still on their way back when
        the next group forms: without a wait, groups alternate between the writers that were queued and those that
        were not (four writers: groups of 2-3 where 4 would fit), and each group costs a WAL flush. So a leader
        waits until the writers of the last group and of the queue have all queued an append again, for at most
        `gather_share` of a group's write time (an append path's Python is a small part of that) and never more
        than `gather_max_seconds`. A lone writer never waits (it is the only writer it expects), and neither does a
        group formed longer than that wait after the last one ended (its writers are not coming straight back).
        The leader waits on its own append's lock: the last expected append to come takes the group and writes it,
        and the leader wakes only when it is written, as any member does.
        """
        timeout = min(self._write_seconds * self.gather_share, self.gather_max_seconds)
        now = time.perf_counter()
        if now - self._last_written > timeout:
            return True  # the last group is not just done: its writers are not on their way back
        expected = len(self._last_writers | {p.thread for p in self._queue})
        if len(self._queue) >= expected:
            return True
        deadline = now + timeout
        self._gathering = expected
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            self._turn.release()
            try:
                written = leader.written.acquire(timeout=left)
            finally:
                self._turn.acquire()
            if written:
                leader.written.release()  # taken and written already: the caller's wait returns at once
            if leader.taken:
                return False
        self._gathering = 0
        return True

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
                with translated_errors(), conn.lock:
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
        if not self._kept.prepared(conn, self._call_name):
            types = [self._id_array_oid, _INT8_ARRAY, _TEXT_ARRAY, _BYTEA_ARRAY]
            prepared = pgconn.prepare(self._call_name, self._call_sql, types)
            if prepared.status != pq.ExecStatus.COMMAND_OK:
                if prepared.error_field(pq.DiagnosticField.SQLSTATE) == b"42883":  # undefined_function
                    self._fast_path = False  # The table was made without our DDL: always check first.
                    return None
                raise _error(prepared, pgconn)
            self._kept.note_prepared(conn, self._call_name)
        result = pgconn.exec_prepared(self._call_name, params, [1, 1, 1, 1], 1)
        if result.status != pq.ExecStatus.TUPLES_OK:
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            if state == b"23505":  # unique_violation: nothing of the group was written.
                return None
            if state == b"26000":  # The prepared call is gone (DEALLOCATE ALL): prepare again next time.
                self._kept.note_prepared(conn, self._call_name, gone=True)
                return None
            if state == b"42883":  # The function was dropped: check first from now on.
                self._fast_path = False
                return None
            raise _error(result, pgconn)
        return [_INT8_STRUCT.unpack(result.get_value(i, 0) or b"")[0] for i in range(result.ntuples)]

    def _take_writer(self) -> Any:
        """A kept connection in working order, else one from the pool."""
        while (conn := self._kept.take()) is not None:
            if not conn.closed and conn.pgconn.status == pq.ConnStatus.OK:
                return conn
            self._return_writer(conn, keep=False)
        with translated_errors():
            timeout = self.datastore.pool_open_timeout
            self.datastore.pool.open(timeout is not None, timeout or 30.0)
            return self.datastore.pool.getconn()

    def _return_writer(self, conn: Any, *, keep: bool) -> None:
        """Keep `conn` for the next group, or give it back to the pool (which replaces broken ones)."""
        if keep and not conn.closed and not self.datastore.pool.closed and self._kept.keep(conn):
            return
        with suppress(Exception):  # A closed pool closes what it is given back.
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
