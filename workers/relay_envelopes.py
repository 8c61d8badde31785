"""The relay's records: each stored event in its envelope (docs/events/envelope.json), built in a child process.

kafka-python's `send` is pure Python, and so is building an envelope: in one process the two take turns on the
GIL, and a relay doing both publishes little more than half what a bare producer sends. The relay's process
therefore only publishes; an `EnvelopeBuilder` child process reads the notification log and builds the next batch
of records (topic, key, value, headers and the key's partition hash) while the relay sends the last one.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha1
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, StoredEvent, UUIDAsHex
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from pydantic_core import from_json, to_json

from adapters.event_store import PydanticMapper
from adapters.kafka import Message, murmur2
from domain.audit.replay import snake

_EVENT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://covenant-desk/event")
_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes


def topic_name(prefix: str, context: str, aggregate_type: str) -> str:
    """The topic of an aggregate type's events: `<prefix>.<context>.<aggregate>`."""
    return f"{prefix}.{context}.{snake(aggregate_type)}"


def event_id(context: str, aggregate_id: uuid.UUID, version: int) -> uuid.UUID:
    """A stable id per event (the same on every re-publication), for consumers to deduplicate on."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{context}:{aggregate_id}:{version}")


def _event_id_text(context: str, aggregate_id: str, version: int) -> str:
    """`str(event_id(...))` for an aggregate id in text: uuid5's SHA-1 without building UUID objects."""
    digest = bytearray(sha1(_NAMESPACE_BYTES + f"{context}:{aggregate_id}:{version}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class LogTable(NamedTuple):
    """Where a source application's events are stored."""

    schema: str
    table: str


class StoredRow(NamedTuple):
    """One stored event as the relay reads it from the notification log."""

    id: int
    originator_id: str  # as text: the envelope and the key want text, and PostgreSQL formats it
    originator_version: int
    topic: str
    state: bytes


def log_tables(platform: Any) -> dict[str, LogTable]:
    """Each source application's event table."""
    return {
        source: LogTable(app.recorder.datastore.schema, app.recorder.events_table_name)
        for source, app in platform.engine.applications.items()
    }


def read_log(conn: psycopg.Connection[Any], log: LogTable, after: int, limit: int) -> list[StoredRow]:
    """The next `limit` stored events after notification id `after`, oldest first."""
    query = SQL(
        "SELECT notification_id, originator_id::text, originator_version, topic, state FROM {}.{}"
        " WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
    ).format(Identifier(log.schema), Identifier(log.table))
    with conn.cursor(row_factory=tuple_row, binary=True) as cursor:
        cursor.execute(query, (after, limit))
        return [StoredRow._make(row) for row in cursor]


def first_event(conn: psycopg.Connection[Any], log: LogTable, aggregate_id: str) -> tuple[str, bytes] | None:
    """The topic and state of an aggregate's first stored event."""
    query = SQL("SELECT topic, state FROM {}.{} WHERE originator_id = %s ORDER BY originator_version LIMIT 1").format(
        Identifier(log.schema), Identifier(log.table)
    )
    with conn.cursor(row_factory=tuple_row, binary=True) as cursor:
        row = cursor.execute(query, (uuid.UUID(aggregate_id),)).fetchone()
    return (row[0], bytes(row[1])) if row else None


class BrandLookup:
    """The brand of an aggregate whose event does not carry it: from its first event, cached."""

    def __init__(self, first: Callable[[str, str], tuple[str, bytes] | None], size: int = 200_000) -> None:
        self.first = first  # (source, aggregate id) -> the aggregate's first event (topic, state)
        self.cache: OrderedDict[str, str | None] = OrderedDict()
        self.size = size

    def remember(self, aggregate_id: str, brand_id: str | None) -> None:
        self.cache[aggregate_id] = brand_id
        if len(self.cache) > self.size:
            self.cache.popitem(last=False)

    def __call__(self, source: str, aggregate_id: str) -> str | None:
        if aggregate_id in self.cache:
            self.cache.move_to_end(aggregate_id)
            return self.cache[aggregate_id]
        first = self.first(source, aggregate_id)
        brand = json.loads(first[1]).get("brand_id") if first else None
        if brand is None and first:  # A brand's own aggregate: the brand is itself.
            brand = aggregate_id if first[0].endswith(":Brand.Created") else None
        self.remember(aggregate_id, brand)
        return brand


@dataclass(frozen=True)
class _EventType:
    """What the envelope needs of an event class, worked out once per stored topic."""

    aggregate_type: str
    schema_version: int
    kafka_topic: str
    type_header: bytes


_EVENT_TYPES: dict[tuple[str, str, str], _EventType] = {}
#: Keys that send an event down the general path: it was stored at another version, or its JSON carries what is
#: otherwise in columns.
_NOT_AS_STORED = frozenset({"class_version", "originator_id", "originator_version"})


def _event_type(source: str, topic: str, prefix: str) -> _EventType:
    known = _EVENT_TYPES.get((source, topic, prefix))
    if known is None:
        aggregate_type = topic.partition(":")[2].split(".")[0]
        known = _EVENT_TYPES[(source, topic, prefix)] = _EventType(
            aggregate_type,
            int(getattr(resolve_topic(topic), "class_version", 1)),
            topic_name(prefix, source, aggregate_type),
            topic.encode(),
        )
    return known


def envelope(source: str, row: StoredRow, brands: BrandLookup, prefix: str, mapper: Any) -> Message:
    """The published record of one stored event."""
    kind = _event_type(source, row.topic, prefix)
    state = row.state
    stored = from_json(state)
    aggregate_id, version = row.originator_id, row.originator_version
    if kind.schema_version == 1 and state[:1] == b"{" and _NOT_AS_STORED.isdisjoint(stored):
        # The stored JSON is the payload as it is: the two columns go in front of it, instead of parsing it into
        # objects and writing it out again.
        payload_json = b'{"originator_id":"%s","originator_version":%d%s' % (
            aggregate_id.encode(),
            version,
            b"," + state[1:] if stored else b"}",
        )
        payload = stored
    else:
        # Stored at an older version: publish the current shape (upcast), which schema_version names.
        event = StoredEvent(uuid.UUID(aggregate_id), version, row.topic, state)
        payload = mapper.to_domain_event(event).model_dump(mode="json")
        payload_json = to_json(payload)
    brand = payload.get("brand_id")
    if brand is not None:
        brands.remember(aggregate_id, brand)
    else:
        brand = brands(source, aggregate_id)
    eid = _event_id_text(source, aggregate_id, version)
    trace = payload.get("trace_id") or eid
    value = {
        "event_id": eid,
        "type": row.topic,
        "schema_version": kind.schema_version,
        "aggregate_type": kind.aggregate_type,
        "aggregate_id": aggregate_id,
        "aggregate_version": version,
        "brand_id": brand,
        "occurred_at": payload.get("timestamp"),
        "position": row.id,
        "actor": payload.get("actor", "system"),
    }
    key = aggregate_id.encode()
    return Message(
        topic=kind.kafka_topic,
        key=key,
        value=to_json(value)[:-1] + b',"payload":' + payload_json + b"}",
        headers=[("type", kind.type_header), ("trace_id", trace.encode()), ("event_id", eid.encode())],
        key_hash=murmur2(key) & 0x7FFFFFFF,
    )


def standalone_mapper() -> PydanticMapper:
    """The applications' event mapper, for a process that reads stored events without opening the applications."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as eventsourcing's Application registers
        transcoder.register(transcoding)
    return PydanticMapper(transcoder=transcoder)


class Built(NamedTuple):
    """A batch of records: the notification id of its last event (`after` when there was none) and the records."""

    last: int
    records: list[Message]


class EnvelopeBuilder:
    """A child process that reads a source's log after a position and builds the records of the next batch.

    `request` asks for a batch without waiting; `result` returns the answers in order. The child is a fresh
    interpreter (`python -m workers.relay_envelopes`) talking over two pipes; it exits when the relay closes them,
    or dies (the pipes close with it).
    """

    def __init__(self, dsn: str, prefix: str, logs: dict[str, LogTable], timeout: float = 30.0) -> None:
        self.timeout = timeout
        requests_read, requests_write = os.pipe()
        answers_read, answers_write = os.pipe()
        _widen(answers_write)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.relay_envelopes", str(requests_read), str(answers_write)],
                pass_fds=(requests_read, answers_write),
                cwd=Path(__file__).resolve().parent.parent,
            )
        finally:
            os.close(requests_read)
            os.close(answers_write)
        self._requests = Connection(requests_write, readable=False)
        self._answers = Connection(answers_read, writable=False)
        self._requests.send((dsn, prefix, dict(logs)))  # by pipe, not argv: a DSN may hold a password
        self._pending = 0

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self._requests.closed

    def request(self, source: str, after: int, limit: int) -> None:
        """Ask for up to `limit` records of `source` after notification id `after`."""
        try:
            self._requests.send((source, after, limit))
        except OSError as exc:
            raise RuntimeError(f"the envelope builder process is gone ({exc})") from None
        self._pending += 1

    def result(self) -> Built:
        """The answer to the oldest request (RuntimeError when the child failed or is gone)."""
        if not self._answers.poll(self.timeout):
            raise RuntimeError(f"the envelope builder did not answer within {self.timeout:.0f} s")
        self._pending -= 1
        try:
            answer = self._answers.recv()
        except (EOFError, OSError):
            raise RuntimeError("the envelope builder process is gone") from None
        if answer[0] != "ok":
            raise RuntimeError(f"the envelope builder failed: {answer[1]}")
        return Built(answer[1], answer[2])

    def discard(self) -> None:
        """Drop the answers still owed (after a failure mid-pass), so the next request gets its own."""
        while self._pending:
            try:
                self.result()
            except RuntimeError:
                self.close()
                return

    def close(self) -> None:
        """Stop the child."""
        self._pending = 0
        self._requests.close()
        self._answers.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def _widen(pipe: int) -> None:
    """Let a whole batch's answer (about 1 MB) sit in the pipe: with the default 64 KiB the child waits for the
    relay to read each 64 KiB, a context switch apiece, while the relay is busy sending the previous batch."""
    try:
        limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, min(limit, 4 * 1024 * 1024))
    except (OSError, ValueError, AttributeError):
        return  # not Linux, or not allowed: the default size works, only slower


def _serve(requests: Connection, answers: Connection) -> None:
    """The envelope builder's process: answer (source, after, limit) requests until the relay closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the relay stops us.
    dsn, prefix, logs = requests.recv()
    mapper = standalone_mapper()
    with psycopg.connect(dsn, autocommit=True) as conn:
        brands = BrandLookup(lambda source, aggregate_id: first_event(conn, logs[source], aggregate_id))
        while True:
            try:
                source, after, limit = requests.recv()
            except (EOFError, OSError):
                return
            try:
                rows = read_log(conn, logs[source], after, limit)
                records = [tuple(envelope(source, row, brands, prefix, mapper)) for row in rows]
                answer: tuple[Any, ...] = ("ok", rows[-1].id if rows else after, records)
            except Exception as exc:  # noqa: BLE001 - reported to the relay, which starts a new builder later.
                answer = ("error", f"{type(exc).__name__}: {exc}")
            try:
                answers.send(answer)
            except OSError:
                return
            if answer[0] != "ok":
                return  # the database connection may be broken: a new process starts afresh


if __name__ == "__main__":
    try:
        _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
    except (EOFError, OSError, KeyboardInterrupt):
        sys.exit(0)
