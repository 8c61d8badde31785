"""Aggregate snapshots for the auditor's as-of replay: an aggregate's state at a version, encoded as JSON, so that an
as-of state replays only the events after the newest snapshot taken before the instant instead of the whole history.

A snapshot is a cache, never a source: `snapshot_of` stores one only when decoding it gives back exactly the state
it was taken from (every member of the same type and value, recursively, checked when it is taken), and a
decoded snapshot is the aggregate as replayed from its events up to that version. Classes are named by their
topic and only this application's own (`domain.*`) models, dataclasses and enums are ever resolved, so a row
cannot make the decoder build anything else (no pickle).

The encoding: JSON values as themselves; every other value as a one-key object naming its kind - `u` UUID, `n`
Decimal, `a` date, `z` datetime, `e` enum, `m` pydantic model (its JSON dump, validated again by its
class, and which fields were set when some were left to their defaults), `c`
dataclass (its fields), `d` dict (key, value pairs), `l` list, `t` tuple, `s` set, `f` frozenset; a dict's values
or a sequence made only of models and dataclasses (a loan's payments and facts) as `D`, `L`, `T`, `S`, `F`: their
classes, each value's class and their JSON dumps, validated by one pydantic call per class.

The layout (`encode`): `MAGIC`, the length of the header as 10 ASCII digits, the header (the document above, JSON),
then the segments: each batch's JSON dumps of one class are not in the header but one segment of raw JSON bytes
(`dump_json`), named in the header by its offset and length, and decoded straight from those bytes by pydantic
(`validate_json`: no Python dicts built first, about half the CPU of `json.loads` + `validate_python` for a loan's
481 payments). A snapshot without `MAGIC` (taken before the segments) is one JSON document, its dumps inline; it
decodes as before.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

import structlog
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel, TypeAdapter

log = structlog.get_logger(__name__)

#: Aggregate members that are the library's bookkeeping of unsaved events, never state.
_SKIPPED = frozenset({"_pending_events"})
_PLAIN = (str, int, float, bool, type(None))


class SnapshotError(ValueError):
    """Raised when a snapshot names a class this application does not have, or cannot be decoded."""


@dataclass(frozen=True)
class Snapshot:
    """An aggregate as replayed from its events up to `version` (the last of them recorded at `recorded_at`), and
    the version of the next snapshot when it was taken after the instant asked for (the events to replay end
    there), else None. `events`: the stored events after `version` (up to `until`) when the source read them with
    the snapshot (one round trip), else None (the replay reads them)."""

    version: int
    recorded_at: datetime
    aggregate: Any
    until: int | None = None
    events: Sequence[Any] | None = None


class SnapshotSource(Protocol):
    """Where the snapshots of one aggregate type are kept (adapters/loan_checkpoints.py for loans)."""

    def snapshot_before(self, aggregate_id: UUID, as_of: datetime) -> Snapshot | None:
        """The newest snapshot of the aggregate whose last event was recorded at or before `as_of`."""


class SnapshotKeeper(Protocol):
    """Where an application keeps its aggregates' snapshots (adapters/aggregate_snapshots.py)."""

    def keep(self, aggregate: Any) -> None:
        """Store the aggregate's snapshot at its version (a cache: none when it cannot be taken)."""


# Encoding ------------------------------------------------------------------------------------------------------


#: The first bytes of a snapshot with segments (a JSON document never starts with them).
MAGIC = b"\x00CDS2"
_HEADER_DIGITS = 10


class _Segments:
    """The raw JSON segments of a snapshot being encoded, and their offsets."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> list[int]:
        at = [self.size, len(data)]
        self.parts.append(data)
        self.size += len(data)
        return at


def _encode(value: Any, segments: _Segments | None = None) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, BaseModel):
        return {"m": [get_topic(kind), value.model_dump(mode="json", exclude_unset=True)]}
    if isinstance(value, Enum):
        return {"e": [get_topic(kind), value.value]}
    if is_dataclass(value) and not isinstance(value, type):
        return {"c": [get_topic(kind), {f.name: _encode(getattr(value, f.name), segments) for f in fields(value)}]}
    if kind is dict:
        batch = _batch(list(value.values()), segments)
        if batch is not None:
            return {"D": [[_encode(k, segments) for k in value], batch]}
        return {"d": [[_encode(k, segments), _encode(v, segments)] for k, v in value.items()]}
    if kind in _SEQUENCES:
        batch = _batch(list(value), segments)
        if batch is not None:
            return {_SEQUENCES[kind].upper(): batch}
        return {_SEQUENCES[kind]: [_encode(v, segments) for v in value]}
    if kind is UUID:
        return {"u": value.hex}
    if kind is Decimal:
        return {"n": str(value)}
    if kind is datetime:
        return {"z": value.isoformat()}
    if kind is date:
        return {"a": value.isoformat()}
    raise SnapshotError(f"cannot snapshot a {kind.__qualname__}")


_SEQUENCES: dict[type, str] = {list: "l", tuple: "t", set: "s", frozenset: "f"}
#: Per class, the pydantic adapter that dumps and validates a list of its instances in one call.
_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(list[cls])  # type: ignore[valid-type]
    return found


def _batch(values: list[Any], segments: _Segments | None = None) -> list[Any] | None:
    """Many models or dataclasses (a loan's hundreds of payments and facts) as [their classes' topics, each one's
    class, their JSON dumps], decoded by one pydantic call per class instead of a walk per value; None for values
    of any other kind. With `segments`: [topics, each one's class (None when they are all of one), per class the
    [offset, length] of the segment holding its values' JSON]."""
    if len(values) < 2:
        return None
    classes: dict[type, int] = {}
    for value in values:
        kind = type(value)
        if kind not in classes:
            if not (issubclass(kind, BaseModel) or (is_dataclass(kind) and not kind.__module__.startswith("builtins"))):
                return None
            classes[kind] = len(classes)
    which = [classes[type(v)] for v in values]
    if segments is not None:
        spans = []
        for kind, index in classes.items():
            of_kind = values if len(classes) == 1 else [v for v, w in zip(values, which, strict=True) if w == index]
            spans.append(segments.add(_adapter(kind).dump_json(of_kind, exclude_unset=True)))
        return [[get_topic(k) for k in classes], which if len(classes) > 1 else None, spans]
    dumps: list[Any] = [None] * len(values)
    for kind, index in classes.items():
        at = [i for i, w in enumerate(which) if w == index]
        dumped = _adapter(kind).dump_python([values[i] for i in at], mode="json", exclude_unset=True)
        for i, d in zip(at, dumped, strict=True):
            dumps[i] = d
    return [[get_topic(k) for k in classes], which, dumps]


def encode(aggregate: Any) -> bytes:
    """The aggregate's members as a JSON header (its class named by topic) and the segments of its batches."""
    segments = _Segments()
    members = {k: _encode(v, segments) for k, v in vars(aggregate).items() if k not in _SKIPPED}
    header = json.dumps({"class": get_topic(type(aggregate)), "members": members}, separators=(",", ":")).encode()
    return b"".join((MAGIC, b"%0*d" % (_HEADER_DIGITS, len(header)), header, *segments.parts))


# Decoding ------------------------------------------------------------------------------------------------------

#: The modules whose classes a snapshot may name (tests add their own).
PACKAGES: tuple[str, ...] = ("domain.",)
_CLASSES: dict[str, type] = {}


def _class(topic: str) -> type:
    found = _CLASSES.get(topic)
    if found is None:
        if not topic.startswith(PACKAGES):
            raise SnapshotError(f"a snapshot names {topic!r}, not a class of this application")
        try:
            found = resolve_topic(topic)
        except Exception as exc:
            raise SnapshotError(f"a snapshot names {topic!r}, which does not exist") from exc
        if not isinstance(found, type):
            raise SnapshotError(f"a snapshot names {topic!r}, which is not a class")
        _CLASSES[topic] = found
    return found


def _model(payload: list[Any]) -> Any:
    cls = _class(payload[0])
    if not issubclass(cls, BaseModel):
        raise SnapshotError(f"{payload[0]} is not a model")
    return cls.model_validate(payload[1])


def _enum(payload: list[Any]) -> Any:
    cls = _class(payload[0])
    if not issubclass(cls, Enum):
        raise SnapshotError(f"{payload[0]} is not an enum")
    return cls(payload[1])


def _dataclass(payload: list[Any]) -> Any:
    cls = _class(payload[0])
    if not is_dataclass(cls):
        raise SnapshotError(f"{payload[0]} is not a dataclass")
    return cls(**{k: _decode(v) for k, v in payload[1].items()})


#: Per thread, the segments of the snapshot being decoded (bytes after its header), else None.
_reading = threading.local()


def _batch_class(topic: str) -> type:
    cls = _class(topic)
    if not (issubclass(cls, BaseModel) or is_dataclass(cls)):
        raise SnapshotError(f"{topic} is neither a model nor a dataclass")
    return cls


def _unbatch(payload: list[Any]) -> list[Any]:
    topics, which, dumps = payload
    segments: bytes | None = getattr(_reading, "segments", None)
    if segments is not None:  # per class, the [offset, length] of its values' raw JSON
        decoded = [
            _adapter(_batch_class(topic)).validate_json(segments[at : at + length])
            for topic, (at, length) in zip(topics, dumps, strict=True)
        ]
        if which is None:
            (only,) = decoded
            return list(only)
        iterators = [iter(d) for d in decoded]
        return [next(iterators[w]) for w in which]
    values: list[Any] = [None] * len(dumps)
    for index, topic in enumerate(topics):
        cls = _batch_class(topic)
        at = [i for i, w in enumerate(which) if w == index]
        for i, value in zip(at, _adapter(cls).validate_python([dumps[i] for i in at]), strict=True):
            values[i] = value
    return values


def _dict(payload: list[Any]) -> dict[Any, Any]:
    keys, batch = payload
    return dict(zip(map(_decode, keys), _unbatch(batch), strict=True))


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "D": _dict,
    "L": _unbatch,
    "T": lambda payload: tuple(_unbatch(payload)),
    "S": lambda payload: set(_unbatch(payload)),
    "F": lambda payload: frozenset(_unbatch(payload)),
    "m": _model,
    "e": _enum,
    "c": _dataclass,
    "d": lambda items: {_decode(k): _decode(v) for k, v in items},
    "l": lambda items: [_decode(v) for v in items],
    "t": lambda items: tuple(_decode(v) for v in items),
    "s": lambda items: {_decode(v) for v in items},
    "f": lambda items: frozenset(_decode(v) for v in items),
    "u": UUID,
    "n": Decimal,
    "z": datetime.fromisoformat,
    "a": date.fromisoformat,
}


def _decode(value: Any) -> Any:
    if type(value) is dict:
        ((tag, payload),) = value.items()
        return _DECODERS[tag](payload)
    return value


def decode(data: bytes | str) -> Any:
    """The aggregate `encode` stored (a new object; no event pending); also a snapshot of one JSON document (taken
    before segments)."""
    segments = None
    if isinstance(data, bytes | bytearray) and data.startswith(MAGIC):
        start = len(MAGIC) + _HEADER_DIGITS
        try:
            end = start + int(data[len(MAGIC) : start])
        except ValueError as exc:
            raise SnapshotError("a snapshot's header length is unreadable") from exc
        document = json.loads(data[start:end])
        segments = bytes(data[end:])
    else:
        document = json.loads(data)
    cls = _class(document["class"])
    aggregate: Any = object.__new__(cls)
    _reading.segments = segments
    try:
        members = {k: _decode(v) for k, v in document["members"].items()}
    finally:
        _reading.segments = None
    members["_pending_events"] = []
    aggregate.__dict__.update(members)
    return aggregate


# Checking ------------------------------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Whether two values are the same: the same types all the way down and equal values (Decimal('1.0') is not
    Decimal('1.00'), an enum member is not its string, a naive datetime is not an aware one)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:  # in the same order too (a replay iterates members in insertion order)
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    if kind in (list, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if kind in (set, frozenset):
        return a == b and all(any(same(x, y) for y in b) for x in a)
    if isinstance(a, BaseModel):
        return (
            a.__pydantic_fields_set__ == b.__pydantic_fields_set__
            and a.__pydantic_extra__ == b.__pydantic_extra__
            and a.__pydantic_private__ == b.__pydantic_private__
            and same(dict(a.__dict__), dict(b.__dict__))
        )
    if is_dataclass(a) and not isinstance(a, type):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if kind is Decimal:
        return bool(a.as_tuple() == b.as_tuple())
    if kind is datetime:
        return a == b and a.utcoffset() == b.utcoffset() and (a.tzinfo is None) == (b.tzinfo is None)
    return bool(a == b)


def snapshot_of(aggregate: Any) -> bytes | None:
    """The aggregate's snapshot, or None when its state cannot be encoded so that it decodes to exactly the same
    state (a member of a kind the encoding does not know, or a model whose JSON does not give it back)."""
    try:
        data = encode(aggregate)
        again = decode(data)
    except (SnapshotError, ValueError, TypeError) as exc:
        log.warning("audit.snapshot_refused", type=type(aggregate).__qualname__, id=str(aggregate.id), error=str(exc))
        return None
    original = {k: v for k, v in vars(aggregate).items() if k not in _SKIPPED}
    decoded = {k: v for k, v in vars(again).items() if k not in _SKIPPED}
    if not same(original, decoded):
        log.warning("audit.snapshot_refused", type=type(aggregate).__qualname__, id=str(aggregate.id),
                    error="its state does not decode to itself")  # fmt: skip
        return None
    return data
