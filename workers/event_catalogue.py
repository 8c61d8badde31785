"""The event catalogue: a JSON Schema per event type (and version), generated from the pydantic event models.

`docs/events/<context>/<Aggregate>.<Event>.v<N>.json` holds the schema of version N of each event (the payload as
published: the event's own fields plus `originator_id`, `originator_version`, `timestamp` and `actor`; a
credential the event stores, one of `SECRET_FIELDS`, is withheld from every published record and left out of the
schema, which names it under `x-withheld`). `check` fails when the code and the committed schemas disagree, and when a change would break an existing
consumer: a field removed or retyped, or a new field made required, without a new `class_version` and an upcaster
`upcast_vN_vN+1` — or an event type that disappeared. Older versions' schemas stay committed, so consumers of an
earlier shape keep their contract.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.utils import get_topic

import domain
from domain.shared.aggregate import SECRET_FIELDS, Aggregate, DomainEvent

CATALOGUE = Path(__file__).resolve().parent.parent / "docs" / "events"
ENVELOPE_FILE = "envelope.json"


def event_classes() -> list[type[DomainEvent]]:
    """Every event class an aggregate of a bounded context stores, by topic.

    The classes nested in each aggregate class; its `Event` base and, when another nested event is the created
    event, its `Created` base are never stored.
    """
    for module in pkgutil.walk_packages(domain.__path__, "domain."):
        importlib.import_module(module.name)
    found: dict[str, type[DomainEvent]] = {}

    def walk(cls: type[Aggregate]) -> None:
        for aggregate in cls.__subclasses__():
            nested = {
                name: value
                for name, value in vars(aggregate).items()
                if isinstance(value, type) and issubclass(value, DomainEvent) and name != "Event"
            }
            created = nested.get("Created")
            others = [v for v in nested.values() if v is not created]
            if created is not None and any(issubclass(v, Aggregate.Created) for v in others):
                del nested["Created"]
            for event_class in nested.values():
                found[get_topic(event_class)] = event_class
            walk(aggregate)

    walk(Aggregate)
    return [found[t] for t in sorted(found)]


def context_of(cls: type) -> str:
    """The bounded context of an event class (`domain.<context>.<module>`)."""
    return cls.__module__.split(".")[1]


def schema_path(cls: type[DomainEvent], version: int, root: Path = CATALOGUE) -> Path:
    """Where version `version` of the event's schema lives."""
    return root / context_of(cls) / f"{cls.__qualname__}.v{version}.json"


def schema_of(cls: type[DomainEvent]) -> dict[str, Any]:
    """The event's JSON Schema (serialisation mode: what is published). The credentials the event stores (its
    fields among SECRET_FIELDS) are never published (workers/relay_envelopes.py): they are not among its properties
    (no record may carry them: `additionalProperties` is false) and `x-withheld` names them."""
    schema = cls.model_json_schema(mode="serialization")
    hidden = sorted(SECRET_FIELDS & set(schema.get("properties", {})))
    if hidden:
        for name in hidden:
            del schema["properties"][name]
        schema["required"] = [name for name in schema.get("required", []) if name not in SECRET_FIELDS]
        schema["x-withheld"] = hidden
    schema["title"] = cls.__qualname__
    schema["x-topic"] = get_topic(cls)
    schema["x-class-version"] = cls.class_version
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def envelope_schema() -> dict[str, Any]:
    """The Kafka envelope every published event is wrapped in (`payload` is the event's own schema)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Covenant Desk event envelope",
        "type": "object",
        "required": [
            "event_id",
            "type",
            "schema_version",
            "aggregate_type",
            "aggregate_id",
            "aggregate_version",
            "brand_id",
            "occurred_at",
            "position",
            "actor",
            "payload",
        ],
        "properties": {
            "event_id": {"type": "string", "format": "uuid", "description": "stable per event: dedupe on it"},
            "type": {"type": "string", "description": "the event's topic, e.g. domain.notices.notice:Notice.Imported"},
            "schema_version": {"type": "integer", "minimum": 1, "description": "the payload's class_version"},
            "aggregate_type": {"type": "string"},
            "aggregate_id": {"type": "string", "format": "uuid"},
            "aggregate_version": {"type": "integer", "minimum": 1},
            "brand_id": {"type": ["string", "null"], "format": "uuid"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "position": {"type": "integer", "minimum": 1, "description": "position in the context's event log"},
            "actor": {"type": "string"},
            "payload": {"type": "object"},
        },
        "additionalProperties": False,
    }


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Problem:
    """Something the check found."""

    path: str
    message: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'out of date'}: {self.path}: {self.message}"


def write(root: Path = CATALOGUE) -> list[Path]:
    """Write the current version's schema of every event and the envelope; older versions' files stay."""
    written = []
    for cls in event_classes():
        path = schema_path(cls, cls.class_version, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = _dump(schema_of(cls))
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    envelope = root / ENVELOPE_FILE
    if not envelope.exists() or envelope.read_text() != _dump(envelope_schema()):
        envelope.write_text(_dump(envelope_schema()))
        written.append(envelope)
    return written


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    return dict(schema.get("properties", {}))


def _type_of(prop: dict[str, Any]) -> Any:
    """What a consumer relies on: the JSON type (or reference / union), not titles and descriptions."""
    return {k: v for k, v in prop.items() if k in ("type", "$ref", "anyOf", "items", "format", "enum", "const")}


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Why a consumer of `old` would break on `new` (removed or retyped fields, newly required ones)."""
    reasons = []
    old_props, new_props = _properties(old), _properties(new)
    withheld = set(new.get("x-withheld", []))  # stored, never published: a consumer never had it to lose
    for name, prop in old_props.items():
        if name in withheld:
            continue
        if name not in new_props:
            reasons.append(f"field '{name}' was removed")
        elif _type_of(prop) != _type_of(new_props[name]):
            reasons.append(f"field '{name}' changed type: {_type_of(prop)} -> {_type_of(new_props[name])}")
    for name in set(new.get("required", [])) - set(old.get("required", [])):
        if name in old_props or name not in new_props:
            continue
        reasons.append(f"new field '{name}' is required (older events lack it)")
    old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
    for name, definition in old_defs.items():
        if name in new_defs:
            reasons += [f"{name}: {r}" for r in breaking_changes(definition, new_defs[name])]
    return reasons


def check(root: Path = CATALOGUE) -> list[Problem]:
    """Compare the code's event models with the committed schemas."""
    problems: list[Problem] = []
    current = {get_topic(cls): cls for cls in event_classes()}
    committed: dict[str, dict[int, Path]] = {}
    for path in sorted(root.glob("*/*.v*.json")):
        schema = json.loads(path.read_text())
        committed.setdefault(schema["x-topic"], {})[int(schema["x-class-version"])] = path
    for topic, versions in committed.items():
        if topic not in current:
            gone = str(versions[max(versions)].relative_to(root))
            problems.append(Problem(gone, f"event type {topic} is gone; consumers still expect it", True))
    for topic, cls in current.items():
        versions = committed.get(topic, {})
        path = schema_path(cls, cls.class_version, root)
        rel = str(path.relative_to(root))
        generated = schema_of(cls)
        if cls.class_version not in versions:
            problems.append(Problem(rel, "no committed schema: run `covenant-desk events write`", False))
        elif json.loads(versions[cls.class_version].read_text()) != generated:
            old = json.loads(versions[cls.class_version].read_text())
            reasons = breaking_changes(old, generated)
            if reasons:
                problems.append(
                    Problem(
                        rel,
                        "; ".join(reasons) + f" — bump class_version to {cls.class_version + 1} and add "
                        f"upcast_v{cls.class_version}_v{cls.class_version + 1}",
                        True,
                    )
                )
            else:
                problems.append(Problem(rel, "differs from the code: run `covenant-desk events write`", False))
        for older in sorted(v for v in versions if v < cls.class_version):
            if not callable(getattr(cls, f"upcast_v{older}_v{older + 1}", None)):
                problems.append(
                    Problem(rel, f"version {older} is committed but upcast_v{older}_v{older + 1} is missing", True)
                )
        for newer in sorted(v for v in versions if v > cls.class_version):
            problems.append(Problem(rel, f"version {newer} is committed but the code is at {cls.class_version}", True))
    envelope = root / ENVELOPE_FILE
    if not envelope.exists() or json.loads(envelope.read_text()) != envelope_schema():
        problems.append(Problem(ENVELOPE_FILE, "differs from the code: run `covenant-desk events write`", False))
    return problems


def iter_topics() -> Iterator[tuple[str, int]]:
    """(topic, class_version) of every event type."""
    for cls in event_classes():
        yield get_topic(cls), cls.class_version
