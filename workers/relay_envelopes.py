"""The relay's records: each stored event in its envelope (docs/events/envelope.json), keyed by aggregate.

kafka-python's `send` is pure Python and so is the relay: they take turns on the GIL, so every microsecond spent
here is one the producer does not get. PostgreSQL therefore builds the envelope (`RecordReader`): it reads the
four fields the envelope needs from the stored JSON, finds a missing brand in the aggregate's first event, and
splices the stored JSON into the record as it is, in its own process, while the relay sends the batch before.
Python adds what PostgreSQL cannot compute without an extension: the event id (uuid5, its SHA-1 computed
without UUID objects) and the key's partition hash (a word-at-a-time murmur2, remembered per key; the producer
then skips its partitioner). An event stored at an older class version, or whose JSON repeats what is in
columns, takes the general path (`envelope`): parsed, upcast, and written out again in Python. Both paths make
the same record.

Credentials are never published: the top-level keys of `SECRET_FIELDS` (staff password hashes, API key hashes,
invite and sign-in code hashes) are withheld from every payload, the key left out (docs/integration.md). PostgreSQL
tells such an event apart with the same jsonb key test that sends events carrying `class_version` down the general
path, and `envelope` drops the keys there; the few events that carry a credential (a staff user created, a password
changed, an invite, a key issued, a sign-in code sent) are built in Python, every other record as before.
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha1
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, StoredEvent, UUIDAsHex
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier
from pydantic_core import from_json, to_json

from adapters.event_mapper import PydanticMapper
from adapters.group_commit import GroupCommitRecorder
from adapters.kafka import Message, murmur2
from domain.audit.replay import snake
from domain.shared.aggregate import SECRET_FIELDS

if TYPE_CHECKING:
    from workers.platform import Platform

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


def postgres_recorder(app: Application[Any]) -> GroupCommitRecorder:
    """The application's recorder, which the relay reads with SQL of its own (PostgreSQL, the project's recorder)."""
    recorder = app.recorder
    if not isinstance(recorder, GroupCommitRecorder):
        raise TypeError(f"the relay reads PostgreSQL event tables; {app.name} records with {type(recorder).__name__}")
    return recorder


def log_tables(platform: Platform) -> dict[str, LogTable]:
    """Each source application's event table."""
    tables = {}
    for source, app in platform.engine.applications.items():
        recorder = postgres_recorder(app)
        tables[source] = LogTable(recorder.datastore.schema, recorder.events_table_name)
    return tables


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
#: Partition hashes of recent keys: an aggregate's later events reuse its hash.
_KEY_HASHES: dict[bytes, int] = {}
#: Keys that send an event down the general path: it was stored at another version, or its JSON carries what is
#: otherwise in columns.
_NOT_AS_STORED = frozenset({"class_version", "originator_id", "originator_version"})
#: Payload keys never published: credentials (hashes too), as the activity trail and the audit pages withhold them.
WITHHELD = SECRET_FIELDS
#: Keys whose presence in the stored JSON sends an event down the general path (`envelope`), for PostgreSQL's test.
_GENERAL_PATH_KEYS = sorted(_NOT_AS_STORED | WITHHELD)


def withheld(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` without its credentials (the keys of WITHHELD): what a published record carries."""
    return {k: v for k, v in payload.items() if k not in WITHHELD}


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
        if WITHHELD.isdisjoint(stored):
            # The stored JSON is the payload as it is: the two columns go in front of it, instead of parsing it
            # into objects and writing it out again.
            payload_json = b'{"originator_id":"%s","originator_version":%d%s' % (
                aggregate_id.encode(),
                version,
                b"," + state[1:] if stored else b"}",
            )
            payload = stored
        else:  # the stored JSON as it is, but for the credentials
            payload = {"originator_id": aggregate_id, "originator_version": version, **withheld(stored)}
            payload_json = to_json(payload)
    else:
        # Stored at an older version: publish the current shape (upcast), which schema_version names.
        event = StoredEvent(uuid.UUID(aggregate_id), version, row.topic, state)
        payload = withheld(mapper.to_domain_event(event).model_dump(mode="json"))
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
    key_hash = _KEY_HASHES.get(key)
    if key_hash is None:
        if len(_KEY_HASHES) >= 100_000:
            _KEY_HASHES.clear()
        key_hash = _KEY_HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return Message(
        kind.kafka_topic,
        key,
        to_json(value)[:-1] + b',"payload":' + payload_json + b"}",
        [("type", kind.type_header), ("trace_id", trace.encode()), ("event_id", eid.encode())],
        key_hash,
    )


#: The records of a source's next stored events, their envelope JSON built by PostgreSQL (see the module's
#: docstring). Per row: position, key (the aggregate id), version, stored topic, the event-id name
#: (`source:aggregate:version`), the envelope after its first three members, the trace id, and the stored state
#: when the event takes the general path (its topic not yet known to be at class version 1, its JSON not an
#: object, holding what is in columns, or holding a credential the record withholds: `_GENERAL_PATH_KEYS`).
_RECORDS_SQL = """
SELECT e.notification_id, convert_to(e.originator_id::text, 'UTF8'), e.originator_version, e.topic,
       convert_to(%(source)s || ':' || e.originator_id::text || ':' || e.originator_version, 'UTF8'),
       convert_to(
           ',"aggregate_id":"' || e.originator_id::text || '","aggregate_version":' || e.originator_version
           || ',"brand_id":' || coalesce(to_json(coalesce(
                  e.j ->> 'brand_id',
                  (SELECT coalesce(
                              convert_from(f.state, 'UTF8')::jsonb ->> 'brand_id',
                              CASE WHEN f.topic LIKE '%%:Brand.Created' THEN f.originator_id::text END)
                     FROM {log} AS f WHERE f.originator_id = e.originator_id
                    ORDER BY f.originator_version LIMIT 1)))::text, 'null')
           || ',"occurred_at":' || coalesce((e.j -> 'timestamp')::text, 'null')
           || ',"position":' || e.notification_id
           || ',"actor":' || coalesce((e.j -> 'actor')::text, '"system"')
           || ',"payload":{{"originator_id":"' || e.originator_id::text || '","originator_version":'
           || e.originator_version || CASE WHEN e.j = '{{}}' THEN '}}' ELSE ',' || substr(e.s, 2) END || '}}',
           'UTF8'),
       convert_to(nullif(e.j ->> 'trace_id', ''), 'UTF8'),
       CASE WHEN e.j IS NULL OR e.j ?| %(general)s::text[] OR NOT e.topic = ANY(%(plain)s) THEN e.state END
  FROM (SELECT l.*, CASE WHEN left(l.s, 1) = '{{' THEN l.s::jsonb END AS j  -- OFFSET 0: parsed once, not per use
          FROM (SELECT t.*, convert_from(t.state, 'UTF8') AS s FROM {log} AS t
                 WHERE t.notification_id > %(after)s ORDER BY t.notification_id LIMIT %(limit)s) AS l
        OFFSET 0) AS e
 ORDER BY e.notification_id
"""


class RecordReader:
    """A source's next stored events as records, PostgreSQL building their envelopes (see the module's docstring).

    `read` gives the same records as `envelope` over `read_log`'s rows, in the same order.
    """

    def __init__(self, source: str, log: LogTable, prefix: str, brands: BrandLookup, mapper: Any) -> None:
        self.source, self.log, self.prefix, self.brands, self.mapper = source, log, prefix, brands, mapper
        self.query = SQL(_RECORDS_SQL).format(log=SQL("{}.{}").format(Identifier(log.schema), Identifier(log.table)))
        #: Stored topics of classes at version 1 (their records need no upcast): what the envelope says of each.
        self.plain: dict[str, tuple[str, bytes, bytes]] = {}

    def read(self, conn: psycopg.Connection[Any], after: int, limit: int) -> tuple[int, list[Message]]:
        """The position of the last event read (`after` when none) and the records of up to `limit` events."""
        return self.build(self.fetch(conn, after, limit), after)

    def fetch(
        self, conn: psycopg.Connection[Any], after: int, limit: int, plain: list[str] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows `build` makes the records of: PostgreSQL's part of `read`, which another thread may run while
        this one builds the records of rows fetched before. `plain` is the stored topics known to need no upcast
        (`list(self.plain)` when not given): a topic learnt after the snapshot only sends its rows down the
        general path, which makes the same records."""
        params = {
            "source": self.source,
            "plain": list(self.plain) if plain is None else plain,
            "general": _GENERAL_PATH_KEYS,
        }
        with conn.cursor(row_factory=tuple_row, binary=True) as cursor:
            cursor.execute(self.query, {**params, "after": after, "limit": limit})
            return cursor.fetchall()

    @staticmethod
    def last(rows: list[tuple[Any, ...]], after: int) -> int:
        """The position of the last of fetched `rows` (`after` when there are none)."""
        return int(rows[-1][0]) if rows else after

    def build(self, rows: list[tuple[Any, ...]], after: int) -> tuple[int, list[Message]]:
        """The position of the last of fetched `rows` (`after` when none) and their records, in order."""
        source, plain, hashes = self.source, self.plain, _KEY_HASHES
        records: list[Message] = []
        append = records.append
        for position, key, version, topic, name, tail, trace, state in rows:
            if state is not None:  # the general path: a topic new to PostgreSQL's list, or JSON that needs it
                if topic not in plain:
                    self._learn(topic)
                row = StoredRow(position, key.decode(), version, topic, bytes(state))
                append(envelope(source, row, self.brands, self.prefix, self.mapper))
                continue
            kafka_topic, head, type_header = plain[topic]  # PostgreSQL built the record: the topic is in `plain`
            digest = bytearray(sha1(_NAMESPACE_BYTES + name).digest()[:16])
            digest[6] = (digest[6] & 0x0F) | 0x50  # uuid5: version 5, RFC 4122 variant
            digest[8] = (digest[8] & 0x3F) | 0x80
            h = digest.hex()
            eid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()
            key_hash = hashes.get(key)
            if key_hash is None:
                if len(hashes) >= 100_000:
                    hashes.clear()
                key_hash = hashes[key] = murmur2(key) & 0x7FFFFFFF
            append(
                Message(
                    kafka_topic,
                    key,
                    b'{"event_id":"' + eid + head + tail,
                    [("type", type_header), ("trace_id", trace or eid), ("event_id", eid)],
                    key_hash,
                )
            )
        return self.last(rows, after), records

    def _learn(self, topic: str) -> None:
        """Note what the envelope says of an event class at version 1 (its records need no upcast); a class at a
        later version stays out of `plain`, so its records keep taking the general path."""
        kind = _event_type(self.source, topic, self.prefix)
        if kind.schema_version == 1:
            members = to_json({"type": topic, "schema_version": 1, "aggregate_type": kind.aggregate_type})[1:-1]
            self.plain[topic] = (kind.kafka_topic, b'",' + members, kind.type_header)


def standalone_mapper() -> PydanticMapper:
    """The applications' event mapper, for a process that reads stored events without opening the applications."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):  # as eventsourcing's Application registers
        transcoder.register(transcoding)
    return PydanticMapper(transcoder=transcoder)
