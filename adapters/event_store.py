"""Event store plumbing: readable JSON events and a group-committing PostgreSQL recorder."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Mapper, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg.sql import SQL, Identifier

from domain.shared.aggregate import DomainEvent


class PydanticMapper(Mapper[UUID]):
    """Stores each pydantic event as UTF-8 JSON (readable with ``convert_from(state, 'UTF8')::jsonb``).

    Decimal, date, enum and UUID values round-trip exactly because the event
    class's annotations drive parsing. A class with ``class_version`` N > 1
    stores it and upcasts older JSON with its ``upcast_vK_vK+1`` methods.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        assert isinstance(domain_event, DomainEvent)
        state = domain_event.model_dump(mode="json", exclude={"originator_id", "originator_version"})
        version = type(domain_event).class_version
        if version > 1:
            state["class_version"] = version
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        from_version = state.pop("class_version", 1)
        while from_version < cls.class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        return cls.model_validate(state)


class _Pending:
    __slots__ = ("done", "error", "events", "ids")

    def __init__(self, events: Sequence[StoredEvent]) -> None:
        self.events = events
        self.done = False
        self.ids: list[int] | None = None
        self.error: Exception | None = None


class GroupCommitRecorder(PostgresApplicationRecorder):
    """Application recorder that commits concurrent appends together.

    The library's recorder takes an EXCLUSIVE table lock per append (so
    notification ids follow commit order), which serialises writers at one
    transaction each. Here, one writer at a time leads: it takes every append
    queued meanwhile and writes them in one transaction under one lock: one
    commit (one WAL flush) for many commands. Each append still succeeds or
    fails on its own: keys that already exist, or that an earlier append in the
    same group takes, fail only that append with IntegrityError, so optimistic
    concurrency per aggregate is unchanged.

    The fast path is one round trip: a PL/pgSQL function (created with the
    table) that sets the lock timeout, locks the table, notifies the channel and
    inserts the whole group, committing as one autocommit statement. When it
    hits a unique violation (a conflicting append, rare) nothing of the group is
    written, and the group is written again on the checked path, which looks up
    the taken keys under the lock first and fails only the conflicting appends.
    Without the function (tables made with CREATE_TABLE off) the checked path
    is used for every group.
    """

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._queue: list[_Pending] = []
        self._turn = threading.Condition()
        self._leading = False
        schema, table = Identifier(self.datastore.schema), Identifier(self.events_table_name)
        self._select_existing = SQL(
            "SELECT e.originator_id, e.originator_version FROM {schema}.{table} e "
            "JOIN unnest(%s::{id_type}[], %s::bigint[]) AS k(id, v) "
            "ON e.originator_id = k.id AND e.originator_version = k.v"
        ).format(schema=schema, table=table, id_type=SQL(self.datastore.originator_id_type))
        self._insert_returning = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::{id_type}[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING originator_id, originator_version, notification_id"
        ).format(schema=schema, table=table, id_type=SQL(self.datastore.originator_id_type))
        function = Identifier(self.datastore.schema, ("gc_append_" + self.events_table_name)[: self.MAX_IDENTIFIER_LEN])
        self._append_function_ok = True
        self._call_append_function = SQL(
            "SELECT o_id, o_version, n_id FROM {function}(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(function=function, id_type=SQL(self.datastore.originator_id_type))
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {function}("
                "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS TABLE (o_id {id_type}, o_version bigint, n_id bigint) LANGUAGE plpgsql AS $body$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) "
                "RETURNING t.originator_id, t.originator_version, t.notification_id; "
                "END $body$"
            ).format(
                function=function,
                id_type=SQL(self.datastore.originator_id_type),
                lock_timeout=self.datastore.lock_timeout,
                schema=schema,
                table=table,
                channel=Identifier(self.channel_name),
            )
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None or not stored_events:
            return super().insert_events(stored_events, **kwargs)
        pending = _Pending(stored_events)
        with self._turn:
            self._queue.append(pending)
            while self._leading and not pending.done:
                self._turn.wait()
            if not pending.done:  # Lead: write everything queued so far, this append included.
                self._leading = True
                group, self._queue = self._queue, []
        if not pending.done:
            try:
                self._write_group(group)
            finally:
                with self._turn:
                    self._leading = False
                    self._turn.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.ids

    def _write_group(self, group: list[_Pending]) -> None:
        try:
            if not (self._append_function_ok and self._write_group_fast(group)):
                self._write_group_checked(group)
        except Exception as exc:  # noqa: BLE001 - the group failed to commit: every member gets the error.
            # (re-raised in each waiting caller by insert_events)
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
        try:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(
                    self._call_append_function,
                    (
                        [e.originator_id for e in rows],
                        [e.originator_version for e in rows],
                        [e.topic for e in rows],
                        [e.state for e in rows],
                    ),
                    prepare=True,
                )
                recorded = curs.fetchall()
        except IntegrityError:  # A key is taken (or taken twice in the group): nothing was written.
            return False
        except ProgrammingError as exc:
            if "gc_append_" not in str(exc):
                raise
            self._append_function_ok = False  # Table made without our DDL: always check first.
            return False
        self._assign_ids(group, recorded)
        return True

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
                recorded = curs.fetchall()
                curs.execute(SQL("NOTIFY {0}").format(Identifier(self.channel_name)))
                self._assign_ids(accepted, recorded)

    @staticmethod
    def _assign_ids(appends: list[_Pending], recorded: list[Any]) -> None:
        """Give each append the notification ids of its own events, in its events' order."""
        ids = {(r[0], r[1]): r[2] for r in (tuple(row.values()) for row in recorded)}
        for p in appends:
            p.ids = [ids[(e.originator_id, e.originator_version)] for e in p.events]
