"""Auditor replay: any aggregate's full history, its state as of any instant (replayed from its events, never
read from a projection), and what changed between two instants."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from itertools import chain, islice, takewhile
from typing import Any, TypedDict
from uuid import UUID

from pydantic import BaseModel, TypeAdapter

from domain.shared.aggregate import SECRET_FIELDS
from domain.shared.application import ContextApplication, replay
from domain.shared.errors import InvalidValue, NotFound
from domain.shared.gc_pause import collector_paused
from domain.shared.snapshot import SnapshotSource
from domain.shared.values import company_code, records_named, sees_company, withheld_across_companies

#: Event fields every event has; the rest is what the event says.
_BASE = {"originator_id", "originator_version", "timestamp", "actor", "trace_id", "originator_topic"}


class AuditTargetNotFound(NotFound):
    """Raised when no aggregate of the type has the id within the caller's brand."""


def snake(name: str) -> str:
    """CustomerRecord -> customer_record."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: Friendlier names for the aggregate types auditors ask about most.
ALIASES = {
    "customer": "customer_record",
    "borrower": "customer_record",
    "staff": "staff_user",
    "evaluation": "covenant_evaluation",
}


@dataclass(frozen=True)
class AuditedType:
    """An aggregate type auditors can replay: its class and the application that stores it."""

    name: str  # snake_case, as in URLs
    cls: type
    application: ContextApplication


@dataclass(frozen=True)
class HistoryEntry:
    """One event: who, when, what."""

    version: int
    event: str
    occurred_at: datetime
    actor: str
    trace_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class HistoryPage:
    """A page of an aggregate's events by version (`history_page`): those after version `after`, oldest first, at
    most `limit`; its first event and its latest version (versions run 1..latest without gaps)."""

    entries: list[HistoryEntry]
    first: HistoryEntry
    latest: int
    after: int
    limit: int

    @property
    def earlier(self) -> int | None:
        """The `after` of the page before this one, None on the first."""
        return max(self.after - self.limit, 0) if self.after > 0 else None

    @property
    def later(self) -> int | None:
        """The `after` of the page after this one, None on the last."""
        end = self.entries[-1].version if self.entries else self.after
        return end if end < self.latest else None


class ReplayedState(TypedDict):
    """A record as it was at an instant: its version then, and its state (None before it existed)."""

    as_of: datetime
    version: int
    exists: bool
    state: dict[str, Any] | None


#: A member's value at each of two instants (keys as on the wire: `from`, `to`).
FieldChange = TypedDict("FieldChange", {"from": Any, "to": Any})

#: What changed between two instants, and the events in between (keys as on the wire).
RecordDiff = TypedDict(
    "RecordDiff",
    {
        "from": datetime,
        "to": datetime,
        "from_version": int,
        "to_version": int,
        "changes": dict[str, FieldChange],
        "events": list[HistoryEntry],
    },
)


#: Exact types that are JSON values already (an enum's subclass of str or int is not one of them).
_PLAIN = frozenset({str, int, float, bool, type(None)})
#: A dataclass's field names, found once per class (a loan's hundreds of servicing facts are all alike).
_FIELDS: dict[type, tuple[str, ...]] = {}


#: Exact types rendered by one call (checked before the walk below, which they would reach last).
_LEAVES: dict[type, Callable[[Any], Any]] = {
    UUID: str,
    Decimal: str,
    datetime: datetime.isoformat,
    date: date.isoformat,
}
#: Per model class, the adapter dumping many of its instances in one call (a loan's hundreds of payments).
_MANY: dict[type, TypeAdapter[Any]] = {}


def _models(values: list[Any]) -> list[Any] | None:
    """`[v.model_dump(mode="json") for v in values]` in one pydantic call when they are all models of one class;
    None otherwise."""
    if len(values) < 2:
        return None
    kind = type(values[0])
    if not issubclass(kind, BaseModel) or any(type(v) is not kind for v in values):
        return None
    adapter = _MANY.get(kind)
    if adapter is None:
        adapter = _MANY[kind] = TypeAdapter(list[kind])  # type: ignore[valid-type]
    dumped: list[Any] = adapter.dump_python(values, mode="json")
    return dumped


def jsonable(value: Any) -> Any:
    """Plain JSON values of an aggregate's state (UUID, Decimal, dates, enums, models as strings or dicts)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    leaf = _LEAVES.get(kind)
    if leaf is not None:
        return leaf(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if kind in _FIELDS or (is_dataclass(value) and not isinstance(value, type)):  # e.g. a loan's servicing facts
        names = _FIELDS.get(kind)
        if names is None:
            names = _FIELDS[kind] = tuple(f.name for f in fields(value))
        rendered = {}
        for name in names:  # the common leaves inline: a loan renders hundreds of these
            member = getattr(value, name)
            member_kind = type(member)
            if member_kind in _PLAIN:
                rendered[name] = member
            else:
                leaf = _LEAVES.get(member_kind)
                rendered[name] = leaf(member) if leaf is not None else jsonable(member)
        return rendered
    if isinstance(value, dict):
        models = _models(list(value.values()))
        if models is not None:
            return {str(jsonable(k)): m for k, m in zip(value, models, strict=True)}
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        models = _models(list(value)) if isinstance(value, list | tuple) else None
        items = models if models is not None else [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def state_of(aggregate: Any) -> dict[str, Any]:
    """The aggregate's public state as JSON values (library bookkeeping and secrets left out)."""
    hidden = SECRET_FIELDS
    state = {
        k.lstrip("_"): v
        for k, v in vars(aggregate).items()
        if k not in ("_pending_events",) and not k.startswith("__") and k.lstrip("_") not in hidden
    }
    for key in ("id", "version", "created_on", "modified_on"):
        state[key] = getattr(aggregate, key, None)
    return {k: jsonable(v) for k, v in sorted(state.items())}


#: A type's own rendering of its replayed state: (the replay, the aggregate as of the instant, the instant) -> the
#: state's JSON members (e.g. a loan's servicing view as the system showed it then). The generic `state_of` else.
StateRenderer = Callable[["AuditReplay", Any, datetime], dict[str, Any]]


class AuditReplay:
    """Replays aggregates of every context for auditors; everything scoped to a brand."""

    def __init__(
        self,
        applications: Mapping[str, ContextApplication],
        classes: list[type],
        renderers: Mapping[str, StateRenderer] | None = None,
        snapshots: Mapping[str, SnapshotSource] | None = None,
        company_from: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`classes`: the aggregate classes auditors may replay; each is stored by its context's application.
        `renderers`: per type name, a state renderer used instead of the generic one. `snapshots`: per type name,
        where its snapshots are kept (an as-of replay starts from the newest one recorded by the instant).
        `company_from`: per context, the keys of a creation event naming the records it belongs to, whose company a
        record that names none takes (`check_company`; the covenants': `covenant_id`, `evaluation_ids`)."""
        self.company_from: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (company_from or {}).items()}
        self.renderers: dict[str, StateRenderer] = dict(renderers or {})
        self.snapshots: dict[str, SnapshotSource] = dict(snapshots or {})
        self.types: dict[str, AuditedType] = {}
        for cls in classes:
            source = cls.__module__.split(".")[1]
            self.types[snake(cls.__name__)] = AuditedType(snake(cls.__name__), cls, applications[source])

    def resolve(self, type_name: str) -> AuditedType:
        """The audited type for a URL name (snake_case class name or an alias)."""
        name = ALIASES.get(type_name.lower(), type_name.lower())
        if name not in self.types:
            raise InvalidValue("aggregate_type", f"unknown aggregate type '{type_name}'; one of {sorted(self.types)}")
        return self.types[name]

    def events(self, type_name: str, aggregate_id: UUID, brand_id: UUID | None) -> tuple[AuditedType, list[Any]]:
        """The aggregate's domain events in order; 404 for another brand's or another type's aggregate."""
        audited, events = self._decoded(type_name, aggregate_id, brand_id)
        return audited, list(events)

    def _decoded(self, type_name: str, aggregate_id: UUID, brand_id: UUID | None) -> tuple[AuditedType, Iterator[Any]]:
        """`events`, decoded as they are iterated (the first one at once, to check it): an as-of replay stops
        decoding at the first event after its instant."""
        audited = self.resolve(type_name)
        app = audited.application
        stored = app.recorder.select_events(aggregate_id)
        first = self._checked_first(audited, aggregate_id, brand_id, stored[:1])
        return audited, chain([first], map(app.mapper.to_domain_event, islice(stored, 1, None)))

    @staticmethod
    def _checked_first(audited: AuditedType, aggregate_id: UUID, brand_id: UUID | None, stored: Sequence[Any]) -> Any:
        """The aggregate's first event decoded; 404 when there is none, or it is of another type or brand."""
        missing = AuditTargetNotFound(f"{audited.cls.__name__} {aggregate_id} not found", id=str(aggregate_id))
        if not stored:
            raise missing
        first = audited.application.mapper.to_domain_event(stored[0])
        if not type(first).__qualname__.startswith(audited.cls.__name__ + "."):
            raise missing
        if brand_id is not None:
            created = replay(None, [first])
            if getattr(created, "brand_id", None) != brand_id and not (
                audited.cls.__name__ == "Brand" and aggregate_id == brand_id
            ):
                raise missing
        return first

    def history_page(
        self,
        type_name: str,
        aggregate_id: UUID,
        brand_id: UUID | None,
        after: int,
        limit: int,
        companies: Sequence[str] = (),
    ) -> HistoryPage:
        """The aggregate's events after version `after`, oldest first, at most `limit` (keyset by version: only these
        are read and decoded), with its first event and its latest version; 404 as `events`. `companies`: those the
        caller may see (empty: every company) -- fields that may name another company's records are null
        (`withheld_across_companies`: a job run's cursor)."""
        audited = self.resolve(type_name)
        recorder = audited.application.recorder
        first = self._entry(self._checked_first(audited, aggregate_id, brand_id,
                                                recorder.select_events(aggregate_id, limit=1)), companies)  # fmt: skip
        latest = recorder.select_events(aggregate_id, desc=True, limit=1)
        stored = recorder.select_events(aggregate_id, gt=max(after, 0), limit=max(limit, 1))
        decode = audited.application.mapper.to_domain_event
        return HistoryPage(
            entries=[self._entry(decode(s), companies) for s in stored],
            first=first,
            latest=int(latest[0].originator_version) if latest else first.version,
            after=max(after, 0),
            limit=max(limit, 1),
        )

    @staticmethod
    def _entry(e: Any, companies: Sequence[str] = ()) -> HistoryEntry:
        aggregate = type(e).__qualname__.rpartition(".")[0]
        return HistoryEntry(
            version=e.originator_version,
            event=type(e).__qualname__.split(".")[-1],
            occurred_at=e.timestamp,
            actor=e.actor,
            trace_id=getattr(e, "trace_id", None),
            data=withheld_across_companies(
                aggregate,
                {
                    k: "(withheld)" if k in SECRET_FIELDS else jsonable(v)
                    for k, v in e.model_dump().items()
                    if k not in _BASE
                },
                companies,
            ),
        )

    def check_company(
        self, type_name: str, aggregate_id: UUID, brand_id: UUID | None, companies: tuple[str, ...]
    ) -> None:
        """404 when a caller limited to `companies` (empty: every company) asks for a record of another company (a
        notice of KFL for one limited to SML), as the record's own endpoints answer."""
        if not companies:
            return
        audited, events = self._decoded(type_name, aggregate_id, brand_id)
        first = next(events)
        company = getattr(replay(None, [first]), "company", None)
        if not isinstance(company, str):  # a record opened before it carried its company: its covenant's
            source = audited.cls.__module__.split(".")[1]
            company = self._company_from(audited.application, first, self.company_from.get(source, ()))
        if isinstance(company, str) and not sees_company(companies, company):
            raise AuditTargetNotFound(f"{audited.cls.__name__} {aggregate_id} not found", id=str(aggregate_id))

    def _company_from(self, app: ContextApplication, created: Any, keys: Sequence[str], depth: int = 2) -> str | None:
        """The company of the records a creation event naming none belongs to (its `keys`: a record's covenant, a
        notice's records), when they all have the same one (each found the same way, `depth` levels); else None --
        the rule of the trail's rows (projections/activity.py `_creation_company`)."""
        parents = records_named(created, keys)
        if not parents or depth <= 0:
            return None
        found: set[str | None] = set()
        for parent in dict.fromkeys(parents):
            stored = app.recorder.select_events(parent, limit=1)
            if not stored:
                return None
            event = app.mapper.to_domain_event(stored[0])
            own = getattr(event, "company", None)
            found.add(company_code(own) if isinstance(own, str) else self._company_from(app, event, keys, depth - 1))
        return found.pop() if len(found) == 1 else None

    def history(
        self, type_name: str, aggregate_id: UUID, brand_id: UUID | None, companies: Sequence[str] = ()
    ) -> list[HistoryEntry]:
        """Every event of the aggregate, oldest first (`companies` as `history_page`)."""
        _, events = self.events(type_name, aggregate_id, brand_id)
        return [self._entry(e, companies) for e in events]

    def aggregate_as_of(
        self, type_name: str, aggregate_id: UUID, brand_id: UUID | None, as_of: datetime
    ) -> tuple[AuditedType, Any, int]:
        """The aggregate replayed from the events recorded at or before `as_of` (None before it existed), and its
        version then: from the newest snapshot recorded by then when the type keeps snapshots, else from its first
        event."""
        with collector_paused():  # a thousand events decoded and applied make no cyclic garbage
            audited = self.resolve(type_name)
            source = self.snapshots.get(audited.name)
            snapshot = source.snapshot_before(aggregate_id, as_of) if source is not None else None
            if snapshot is not None and isinstance(snapshot.aggregate, audited.cls):
                start = snapshot.aggregate
                if brand_id is not None and getattr(start, "brand_id", None) != brand_id:
                    raise AuditTargetNotFound(f"{audited.cls.__name__} {aggregate_id} not found", id=str(aggregate_id))
                # Only the events after it, up to the next snapshot (recorded after `as_of`), are read and decoded.
                app = audited.application
                stored = (
                    snapshot.events
                    if snapshot.events is not None  # read with the snapshot
                    else app.recorder.select_events(aggregate_id, gt=snapshot.version, lte=snapshot.until)
                )
                decode: Callable[[Any], Any] = app.mapper.to_domain_event
                tail = takewhile(lambda e: e.timestamp <= as_of, map(decode, stored))
                aggregate = replay(start, tail)
                return audited, aggregate, aggregate.version
            audited, events = self._decoded(type_name, aggregate_id, brand_id)
            # The history up to the first event after `as_of` (versions are in order; a prefix replays cleanly).
            upto = list(takewhile(lambda e: e.timestamp <= as_of, events))
            aggregate = replay(None, upto)
        return audited, aggregate, upto[-1].originator_version if upto else 0

    def state_as_of(
        self,
        type_name: str,
        aggregate_id: UUID,
        brand_id: UUID | None,
        as_of: datetime,
        companies: Sequence[str] = (),
    ) -> ReplayedState:
        """The state replayed from the events recorded at or before `as_of` (None state before it existed), rendered
        by the type's own renderer when it has one (`companies` as `history_page`)."""
        # One pause around the replay and the rendering, the aggregate dropped inside it: its objects (a loan's
        # hundreds of payments) are freed by reference counting before the collector resumes, instead of being
        # walked by the collections their allocation count triggers then (and promoted towards the oldest
        # generation, whose full collections they made more frequent).
        with collector_paused():
            audited, aggregate, version = self.aggregate_as_of(type_name, aggregate_id, brand_id, as_of)
            render = self.renderers.get(audited.name)
            state = None
            exists = aggregate is not None
            if exists:
                state = render(self, aggregate, as_of) if render is not None else state_of(aggregate)
                state = withheld_across_companies(audited.cls.__name__, state, companies)
            del aggregate
        return ReplayedState(as_of=as_of, version=version, exists=exists, state=state)

    def diff(
        self,
        type_name: str,
        aggregate_id: UUID,
        brand_id: UUID | None,
        start: datetime,
        end: datetime,
        companies: Sequence[str] = (),
    ) -> RecordDiff:
        """What changed between two instants: each field with its value then and now, and the events between
        (`companies` as `history_page`)."""
        if end < start:
            raise InvalidValue("to", "must not be before 'from'")
        before = self.state_as_of(type_name, aggregate_id, brand_id, start, companies)
        after = self.state_as_of(type_name, aggregate_id, brand_id, end, companies)
        old, new = before["state"] or {}, after["state"] or {}
        changes = {
            key: FieldChange({"from": old.get(key), "to": new.get(key)})
            for key in sorted(set(old) | set(new))
            if old.get(key) != new.get(key) and key != "modified_on"
        }
        between = [
            h for h in self.history(type_name, aggregate_id, brand_id, companies) if start < h.occurred_at <= end
        ]
        return RecordDiff(
            {
                "from": start,
                "to": end,
                "from_version": before["version"],
                "to_version": after["version"],
                "changes": changes,
                "events": between,
            }
        )
