"""Activity log: who did what and when, across every context (one projection per source, one table), and the audit
entries of operational actions that are rows, not events (`ops.activity`, adapters/ops_activity.py), merged in."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.utils import resolve_topic
from psycopg import Connection
from psycopg.types.json import Jsonb

from domain.identity.brand import Brand
from domain.jobs.queue import ManualRunQueue
from domain.shared.aggregate import SECRET_FIELDS, DomainEvent
from domain.shared.index import UniqueValue
from domain.shared.values import company_code, records_named, withheld_across_companies
from projections.batch_writes import json_document
from projections.companies import scope_companies
from projections.keyset import KeysetCursor, Page
from projections.projection import Change, Insert, Projection, Write, handles

#: Activity pages are ordered by (occurred_at, source, position), newest first.
ACTIVITY_CURSOR = KeysetCursor(datetime, str, int, name="activity")

#: The `source` of the operational actions' audit entries (`ops.activity`, adapters/ops_activity.py) in the trail.
OPS_SOURCE = "ops"

#: Events of aggregates that only enforce a rule over others' records - a unique value, the bound on a brand's queued
#: manual runs of a job - have no rows: their owners' events tell the story (a run's own `Requested`).
_UNLOGGED: tuple[type, ...] = (UniqueValue.Event, ManualRunQueue.Event)

#: Event fields never copied into the activity log.
_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "actor", "trace_id", "originator_topic", "brand_id"}


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


@functools.lru_cache(maxsize=4096)
def _summary(aggregate: str, event_name: str) -> str:
    """`covenant notice handing over` for CovenantNotice.HandingOver (one per event class, so cached)."""
    return f"{_words(aggregate)} {_words(event_name)}"


class ActivityLog(Projection):
    """Rows of `read.activity` for one source application; a rebuild clears only its own rows."""

    name: ClassVar[str]
    source: ClassVar[str]
    topics: ClassVar[tuple[str, ...]] = ()  # every event of the source (activity_projection may narrow it)
    #: Whether its rows are of records that belong to a company of the brand (the notices context's: notices,
    #: sources, sync runs; the jobs context's: a notice sync's job run): each row then carries the company of its
    #: aggregate's creation event (NULL when that event names none: a brand-wide job run), and the trail shows it
    #: only to callers who may see that company (`ActivityQueries.entries`). Elsewhere the company is NULL.
    by_company: ClassVar[bool] = False
    #: With `by_company`: the keys of a creation event naming the records it belongs to (the covenants': a record's
    #: `covenant_id`, a notice's `evaluation_ids`), whose company a creation that names none takes -- a record opened,
    #: or a notice queued, before those events carried their company is its covenant's (a notice's: its records', when
    #: they share one), live and after a rebuild. Two levels: a notice's records take their covenant's.
    company_from: ClassVar[tuple[str, ...]] = ()
    tables = ()
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.activity (
            source text NOT NULL,
            position bigint NOT NULL,
            brand_id uuid NOT NULL,
            occurred_at timestamptz NOT NULL,
            actor text NOT NULL,
            aggregate_type text NOT NULL,
            aggregate_id uuid NOT NULL,
            event_type text NOT NULL,
            summary text NOT NULL,
            details jsonb NOT NULL,
            company text,
            PRIMARY KEY (source, position)
        )""",
        # The company of a row of a company's record (`by_company`), added to tables made before it.
        "ALTER TABLE read.activity ADD COLUMN IF NOT EXISTS company text",
        "CREATE INDEX IF NOT EXISTS activity_brand_time_idx ON read.activity (brand_id, occurred_at DESC, source, position)",
        "CREATE INDEX IF NOT EXISTS activity_actor_idx ON read.activity (brand_id, actor, occurred_at DESC)",
        "CREATE INDEX IF NOT EXISTS activity_aggregate_idx ON read.activity (aggregate_id, position)",
    )

    def __init__(self) -> None:
        self._topics: dict[str, dict[str, Any] | None] = {}  # topic -> its row's constants (None: decoded)
        self._topics_document = "[]"
        self._stored: tuple[str, list[int]] | None = None  # this batch's stored events (events table, positions)
        self._events_table: str | None = None  # the source's (`bind_events`), where a creation event gives a brand

    def bind_events(self, events_table: str) -> None:
        self._events_table = events_table

    def drop(self, conn: Connection[Any]) -> None:
        conn.execute("DELETE FROM read.activity WHERE source = %s", (self.source,))

    def applies_stored(self, topic: str, state: bytes) -> bool:
        """Every event stored as its class's own JSON is copied into its row in SQL (`_STORED_BRANDED`,
        `_STORED_BRANDLESS`) -- but an index aggregate's (no row) and a brand's creation (its own brand): decoding each
        event and dumping it back to JSON for its details was most of an activity projection's time, in every runner."""
        try:
            constants = self._topics[topic]
        except KeyError:
            constants = self._topics[topic] = _row_constants(topic)
            self._topics_document = json_document([c for c in self._topics.values() if c is not None])
        return constants is not None

    def stored_writes(self, events_table: str, positions: list[int]) -> Iterable[Write]:
        """The rows of the stored events that carry their brand, first in the batch (each row is new and stands
        alone); those without wait for the batch's end (`end_batch`), when every row they may take their brand from
        -- a decoded event's too -- is written."""
        self._stored = (events_table, positions)
        if self.company_from:
            # The company's lookups make a large batch's plan look costly; JIT-compiling it takes longer than running
            # it (as the dashboard's figures, projections/dashboard.py). For this transaction only.
            yield Write("SET LOCAL jit = off", ())
        yield Write(self._statement(_STORED_BRANDED, events_table), self._stored_params(positions))

    def _statement(self, statement: str, events_table: str) -> str:
        """One of the stored rows' statements for the source's events table, with its company's SQL."""
        company = _creation_company("{events}", "e.originator_id", self.company_from)
        return statement.replace("{company}", company).replace("{events}", events_table)

    def _stored_params(self, positions: Sequence[int]) -> dict[str, Any]:
        return {"source": self.source, "topics": self._topics_document, "positions": list(positions),
                "dropped": _DROPPED, "by_company": self.by_company}  # fmt: skip

    def begin_batch(self) -> None:
        self._stored = None

    def end_batch(self) -> Iterable[Change]:
        if self._stored is not None:
            events_table, positions = self._stored
            self._stored = None
            yield Write(self._statement(_STORED_BRANDLESS, events_table), self._stored_params(positions))

    @handles(*_UNLOGGED)
    def _unlogged(self, position: int, event: DomainEvent) -> Iterable[Write]:
        return ()  # Index aggregates only enforce a rule (uniqueness, a bound); their owners' events tell the story.

    @handles(Brand.Created)
    def _brand_created(self, position: int, event: Brand.Created) -> Iterable[Change]:
        return self._entry(position, event, event.originator_id)  # A brand is its own brand.

    @handles(DomainEvent)
    def _any_event(self, position: int, event: DomainEvent) -> Iterable[Change]:
        return self._entry(position, event, getattr(event, "brand_id", None))

    #: Aggregates' brands as this projection wrote them (aggregate id -> brand id), so the rows of their later
    #: events, which carry no brand, are Inserts too; emptied when full (a miss only takes the Write's way).
    BRANDS_KEPT = 100_000

    def _entry(self, position: int, event: DomainEvent, brand: UUID | None) -> Iterable[Change]:
        """The activity row of an event (of an aggregate with no brand of its own: the brand of its earlier rows, or
        with none -- its creation is not in the trail, as a notice's import is not -- of its creation event).

        With the brand known (the event's, or the one this projection wrote the aggregate's earlier rows with) the
        row is an `Insert` (a batch's rows go as one statement, the engine's cheap path: a new row keyed by
        (source, position) that no earlier write of the batch touches); without, a `Write` that looks the brand up
        in the aggregate's earlier rows (sent after any rows held before it).
        """
        aggregate, _, event_name = type(event).__qualname__.rpartition(".")
        details = {
            k: v for k, v in event.model_dump(mode="json").items() if k not in _BASE_FIELDS and k not in SECRET_FIELDS
        }
        brands: dict[UUID, UUID] = self.__dict__.setdefault("_brands", {})
        if brand is None:
            brand = brands.get(event.originator_id)
        elif brands.get(event.originator_id) != brand:
            if len(brands) >= self.BRANDS_KEPT:
                brands.clear()
            brands[event.originator_id] = brand
        # A company's record: the company of its creation event -- this one's (None: of no company, a brand-wide
        # job run), or (a later event) the one this projection wrote its creation with, else the event store's.
        company: str | None = None
        company_known = not self.by_company
        if self.by_company:
            companies: dict[UUID, str | None] = self.__dict__.setdefault("_companies", {})
            if event.originator_version == 1:
                found = getattr(event, "company", None)
                if isinstance(found, str):
                    company, company_known = found, True
                else:  # none named: the records it belongs to (`company_from`), when this projection wrote them
                    company, company_known = self._derived_company(event, companies)
                if company_known:
                    if len(companies) >= self.BRANDS_KEPT:
                        companies.clear()
                    companies[event.originator_id] = company
            elif event.originator_id in companies:
                company, company_known = companies[event.originator_id], True
        if brand is not None and company_known:
            yield Insert(
                "read.activity",
                {
                    "source": self.source,
                    "position": position,
                    "brand_id": brand,
                    "occurred_at": event.timestamp,
                    "actor": event.actor,
                    "aggregate_type": aggregate,
                    "aggregate_id": event.originator_id,
                    "event_type": event_name,
                    "summary": _summary(aggregate, event_name),
                    "details": details,
                    "company": company,
                },
            )
            return
        created = "" if self._events_table is None else ", " + _creation_brand(self._events_table, "%(id)s::uuid")
        of_company = (
            "%(company)s::text"
            if company_known or self._events_table is None
            else _creation_company(self._events_table, "%(id)s::uuid", self.company_from)
        )
        yield Write(
            "INSERT INTO read.activity (source, position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, "
            "event_type, summary, details, company) SELECT %(source)s, %(pos)s, b.brand_id, %(at)s, %(actor)s, "
            f"%(type)s, %(id)s, %(event)s, %(summary)s, %(details)s, {of_company} FROM (SELECT coalesce(%(brand)s::uuid, (SELECT brand_id FROM read.activity "
            f"WHERE aggregate_id = %(id)s AND position < %(pos)s LIMIT 1){created}) AS brand_id) b "
            "WHERE b.brand_id IS NOT NULL ON CONFLICT DO NOTHING",
            {
                "source": self.source,
                "pos": position,
                "brand": brand,
                "at": event.timestamp,
                "actor": event.actor,
                "type": aggregate,
                "id": event.originator_id,
                "event": event_name,
                "summary": _summary(aggregate, event_name),
                "details": Jsonb(details),
                "company": company,
            },
        )

    def _derived_company(self, event: DomainEvent, companies: dict[UUID, str | None]) -> tuple[str | None, bool]:
        """The company of a creation event that names none, from the records it belongs to (`company_from`) as this
        projection wrote them: theirs when they share one, else None -- and whether it is known (False: a record not
        written by this projection, so the row's SQL finds it in the event store, `_creation_company`)."""
        parents = records_named(event, self.company_from)
        if not parents:
            return None, True
        if any(parent not in companies for parent in parents):
            return None, False
        found = {None if companies[p] is None else company_code(companies[p] or "") for p in parents}
        return (found.pop() if len(found) == 1 else None), True


def _row_constants(topic: str) -> dict[str, Any] | None:
    """What an activity row of a stored event of `topic` takes from its class (None: its events are decoded): the
    aggregate and event names, the summary, and the class's defaulted fields as JSON (an optional field added since
    the event was stored is in the decoded event's details with its default, so in the stored event's too)."""
    try:
        cls = resolve_topic(topic)
    except Exception:  # noqa: BLE001 - a class gone from the code: decoding fails too, and records the event as failed
        return None
    if issubclass(cls, _UNLOGGED) or issubclass(cls, Brand.Created) or cls.class_version != 1:
        return None
    aggregate, _, event_name = cls.__qualname__.rpartition(".")
    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in cls.model_fields.items()
        if not field.is_required() and name not in _BASE_FIELDS and name not in SECRET_FIELDS
    }
    # Whether its events carry their brand: never (no such field), always (a UUID each must have), or by the value.
    brand = cls.model_fields.get("brand_id")
    branded: bool | None = None
    if brand is None:
        branded = False
    elif brand.is_required() and brand.annotation is UUID:
        branded = True
    return {"topic": topic, "aggregate_type": aggregate, "event_type": event_name,
            "summary": _summary(aggregate, event_name), "defaults": defaults, "branded": branded}  # fmt: skip


def _creation_value(events_table: str, aggregate_id: str, key: str) -> str:
    """SQL of the text at `key` in the creation event (version 1) of the aggregate `aggregate_id` (an SQL expression)
    in `events_table`: NULL when that event carries no string there. The creation event is in the event store before
    any later event of the aggregate, so a live batch, a rebuild in any batch size and a retry find the same value."""
    return (
        f"(SELECT c.s->>'{key}' FROM (SELECT convert_from(c.state, 'UTF8')::jsonb AS s "
        f"FROM {events_table} c WHERE c.originator_id = {aggregate_id} AND c.originator_version = 1 OFFSET 0) c "
        f"WHERE jsonb_typeof(c.s->'{key}') = 'string')"
    )


def _creation_brand(events_table: str, aggregate_id: str) -> str:
    """SQL of the brand in the aggregate's creation event (`_creation_value`; NULL for a brand's own creation). Every
    aggregate's creation event carries its brand (docs/architecture.md). Only asked when the aggregate has no earlier
    row (coalesce stops at the first value)."""
    return f"{_creation_value(events_table, aggregate_id, 'brand_id')}::uuid"


def _creation_company(events_table: str, aggregate_id: str, parents: Sequence[str] = ()) -> str:
    """SQL of the company in the aggregate's creation event (`_creation_value`; NULL when it names none): the company
    a row of a company's record is of (`by_company`). With `parents` (`ActivityLog.company_from`), a creation that
    names none takes the company of the records its `parents` keys name (a uuid or a list of them), when they all
    have the same one (upper case, `company_code`), each found the same way one level further (a notice's records,
    then their covenant). Index probes by key only, with no set-returning function: a plan that looks costly is
    compiled by PostgreSQL's JIT, seconds per statement."""
    if not parents:
        return _creation_value(events_table, aggregate_id, "company")
    return (
        f"(SELECT coalesce({_own_company('a')}, {_parents_company(events_table, 'a', parents, 1)}) "
        f"FROM (SELECT convert_from(c.state, 'UTF8')::jsonb AS s FROM {events_table} c "
        f"WHERE c.originator_id = {aggregate_id} AND c.originator_version = 1 OFFSET 0) a)"
    )


def _own_company(alias: str) -> str:
    return f"CASE WHEN jsonb_typeof({alias}.s->'company') = 'string' THEN {alias}.s->>'company' END"


def _parents_company(events_table: str, alias: str, parents: Sequence[str], further: int) -> str:
    """SQL of the one company of the records the creation event `alias` names at its `parents` keys (NULL: none
    named, or not all of one company), each its own or (`further` levels) its parents'."""
    ids = " || ".join(
        f"coalesce(CASE jsonb_typeof({alias}.s->'{key}') WHEN 'string' THEN ARRAY[({alias}.s->>'{key}')::uuid] "
        f"WHEN 'array' THEN translate(({alias}.s->'{key}')::text, '[]\"', '{{}}')::uuid[] END, '{{}}'::uuid[])"
        for key in parents
    )
    inner = f"p{further}"
    company = _own_company(inner)
    if further > 0:
        company = f"coalesce({company}, {_parents_company(events_table, inner, parents, further - 1)})"
    return (
        f"(SELECT CASE WHEN count(*) > 0 AND count(q.company) = count(*) AND count(DISTINCT upper(q.company)) = 1 "
        f"THEN min(upper(q.company)) END FROM (SELECT {company} AS company FROM (SELECT convert_from(c.state, "
        f"'UTF8')::jsonb AS s FROM {events_table} c WHERE c.originator_id = ANY({ids}) AND c.originator_version = 1 "
        f"OFFSET 0) {inner}) q)"
    )


#: What a row's details leave out of the event's JSON (`_entry`'s filter).
_DROPPED = sorted(_BASE_FIELDS | SECRET_FIELDS)

#: Activity rows of stored events (`ActivityLog.applies_stored`), read from the event store by position, as `_entry`
#: builds them from the decoded event: the details are the stored JSON over the class's defaults, less the base and
#: secret fields. The stored JSON is the class's own as it writes it today (class version 1: docs/events.md -- a field
#: removed, retyped or made required needs a new class_version, and then the event is decoded in Python). JSON that
#: jsonb refuses (a NUL escape) fails the batch, which is applied again event by event, where the event fails as
#: decoded. `{events}` is the events table; %(topics)s the constants of every topic (`_row_constants`): a statement
#: parses only the JSON of the events of topics that may have rows of its kind (`branded`), the subquery fenced so.
_STORED_ROWS = """INSERT INTO read.activity (source, position, brand_id, occurred_at, actor, aggregate_type,
    aggregate_id, event_type, summary, details, company)
SELECT %(source)s, e.notification_id, {brand}, (j.s->>'timestamp')::timestamptz, coalesce(j.s->>'actor', 'system'),
    e.aggregate_type, e.originator_id, e.event_type, e.summary, (e.defaults || j.s) - %(dropped)s::text[],
    CASE WHEN %(by_company)s THEN CASE WHEN e.originator_version = 1 AND jsonb_typeof(j.s->'company') = 'string'
        THEN j.s->>'company' ELSE {company} END END
FROM (
    SELECT e.notification_id, e.originator_id, e.originator_version, e.state, t.* FROM {events} e
    JOIN jsonb_to_recordset(%(topics)s::jsonb) AS t(topic text, aggregate_type text, event_type text, summary text,
        defaults jsonb, branded boolean) ON t.topic = e.topic
    WHERE e.notification_id = ANY(%(positions)s::bigint[]) AND t.branded IS NOT {skipped} OFFSET 0
) AS e CROSS JOIN LATERAL (SELECT convert_from(e.state, 'UTF8')::jsonb AS s OFFSET 0) AS j
{lookup}WHERE {which}
ON CONFLICT DO NOTHING"""

#: The stored events that carry their brand: rows that stand alone, written first in their batch.
_STORED_BRANDED = _STORED_ROWS.format(
    brand="(j.s->>'brand_id')::uuid",
    events="{events}",
    company="{company}",
    skipped="false",
    lookup="",
    which="jsonb_typeof(j.s->'brand_id') = 'string'",
)
#: The others take their aggregate's brand from its earlier rows (as `_entry`'s Write does), at the batch's end: an
#: earlier row may be one of this batch's, stored or decoded; with none (its creation is not in the trail), from its
#: creation event in the event store (`_creation_brand`). None found: no row, as for a decoded event.
_STORED_BRANDLESS = _STORED_ROWS.format(
    brand="b.brand_id",
    events="{events}",
    company="{company}",
    skipped="true",
    lookup="CROSS JOIN LATERAL (SELECT coalesce((SELECT a.brand_id FROM read.activity a WHERE a.aggregate_id = "
    f"e.originator_id AND a.position < e.notification_id LIMIT 1), {_creation_brand('{events}', 'e.originator_id')}) "
    "AS brand_id) AS b\n",
    which="jsonb_typeof(j.s->'brand_id') IS DISTINCT FROM 'string' AND b.brand_id IS NOT NULL",
)


def activity_projection(
    source: str, topics: tuple[str, ...] = (), *, by_company: bool = False, company_from: tuple[str, ...] = ()
) -> ActivityLog:
    """The activity projection of one source application (only `topics`' events when given; `by_company`: its
    records belong to companies, `ActivityLog.by_company`, `company_from` those a record of none takes it from)."""
    attrs: dict[str, Any] = {"name": f"activity_{source}", "source": source, "by_company": by_company,
                             "company_from": company_from}  # fmt: skip
    if topics:
        attrs["topics"] = topics
    cls: type[ActivityLog] = type(f"{source.title()}Activity", (ActivityLog,), attrs)
    return cls()


@dataclass(frozen=True)
class ActivityEntry:
    """One thing somebody (or the system) did."""

    occurred_at: datetime
    actor: str
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    summary: str
    details: dict[str, Any]


@dataclass(frozen=True)
class ActivityPage(Page):
    """A keyset page of the activity trail, newest first."""

    items: list[ActivityEntry]


class ActivityQueries:
    """Brand-scoped activity log: by actor, aggregate type or id, and time range; keyset pages."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def entries(
        self,
        brand_id: UUID,
        *,
        actor: str | None = None,
        aggregate_type: str | None = None,
        aggregate_id: UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
        companies: Sequence[str] = (),
    ) -> ActivityPage:
        """The brand's activity matching the filters, newest first; a keyset page. `companies`: those the caller may
        see (empty: every company) -- a row of another company's record (`ActivityLog.by_company`) is left out, and
        a field of a kept row that may name another company's record (`ACROSS_COMPANIES`: a job run's cursor) is null."""
        page_scope = (brand_id, actor, aggregate_type, aggregate_id, since, until)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1, "ops": OPS_SOURCE}
        if scoped := scope_companies(companies, params):
            where.append(scoped)
        for column, value in (("actor", actor), ("aggregate_type", aggregate_type), ("aggregate_id", aggregate_id)):
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if since is not None:
            where.append("occurred_at >= %(since)s")
            params["since"] = since
        if until is not None:
            where.append("occurred_at < %(until)s")
            params["until"] = until
        if cursor:
            at, source, position = ACTIVITY_CURSOR.decode(cursor, page_scope)
            where.append("(occurred_at, source, position) < (%(c_at)s, %(c_src)s, %(c_pos)s)")
            params.update(c_at=at, c_src=source, c_pos=position)
        # The events' rows and the operational actions' entries (`ops.activity`, source `ops`: rows that are not
        # events, written with the change they audit, of no company's record), each side newest first and limited,
        # then merged.
        condition = " AND ".join(where)
        columns = "occurred_at, source, position, actor, aggregate_type, aggregate_id, event_type, summary, details"
        order = "ORDER BY occurred_at DESC, source DESC, position DESC LIMIT %(limit)s"
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT * FROM ((SELECT {columns} FROM read.activity WHERE {condition} {order}) UNION ALL "
                f"(SELECT {columns} FROM (SELECT brand_id, NULL::text AS company, "
                f"{columns.replace('source', '%(ops)s::text AS source')} FROM ops.activity) o WHERE {condition} {order})) a {order}",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            ACTIVITY_CURSOR.encode(rows[-1]["occurred_at"], rows[-1]["source"], rows[-1]["position"], scope=page_scope)
            if more and rows
            else None
        )
        # A field that may name another company's record (a job run's cursor) is null to a caller limited to companies.
        items = [
            ActivityEntry(
                **{k: v for k, v in r.items() if k not in ("source", "position", "details")},
                details=withheld_across_companies(r["aggregate_type"], r["details"], companies),
            )
            for r in rows
        ]
        return ActivityPage(items=items, next_cursor=next_cursor)
