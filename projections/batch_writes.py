"""How a batch of `Write`s and `Insert`s reaches PostgreSQL: prepared statements in pipeline mode, and a
batch's new rows of one table in one multi-row INSERT."""

from __future__ import annotations

import itertools
import re
import select
from typing import Any

import psycopg
import structlog
from psycopg import Connection, pq
from psycopg._queries import PostgresQuery  # psycopg's own %s -> $n conversion and dumping (see _PipelinedWrites)
from psycopg.adapt import Transformer
from pydantic_core import to_json

from projections.projection import Change, Insert, Write

log = structlog.get_logger(__name__)


def insert_rows(table: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> Write:
    """One statement inserting `rows` (ON CONFLICT DO NOTHING), typed by the table's own row type.

    pydantic-core writes the JSON (UUID, date/datetime, Decimal and enums included) in Rust: four times faster than
    `json.dumps` with a `default` for those types, on every rebuild's registrations.
    """
    names = ", ".join(columns)
    return Write(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) "
        "ON CONFLICT DO NOTHING",
        (json_document(rows),),
    )


def json_document(rows: Any) -> str:
    """`rows` as one JSON text parameter, written by pydantic-core (UUID, date/datetime, Decimal, enums and pydantic
    models included); a NUL character raises the DataError a text parameter would."""
    document = to_json(rows)
    if b"\\u0000" in document and _NUL.search(document):  # The error a Write's text parameter gets from psycopg.
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return document.decode()


#: A NUL character in JSON text: a \u0000 escape not itself escaped (preceded by an even number of backslashes).
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


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

    def send_command(self, sql: bytes) -> None:
        """Send a statement with no parameters, unprepared (BEGIN, COMMIT: a rebuild's batches on two connections)."""
        self.pgconn.send_query_params(sql, None)
        self.unsynced += 1

    def settle(self) -> None:
        """Sync and read every result sent so far (raising the first error): a round trip, then the caller goes on."""
        self._sync()
        while self.syncs:
            self._read_segment()
        if self.error is not None:
            raise psycopg.errors.error_from_result(self.error, encoding=self.conn.info.encoding)

    def push(self) -> None:
        """Send what is queued now (a sync point), so the server starts on it while the caller works on."""
        if self.unsynced and not self.held:
            self._sync()

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
