"""Activity log: who did what and when, across every context (one projection per source, one table)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from domain.identity.brand import Brand
from domain.shared.aggregate import SECRET_FIELDS, DomainEvent
from domain.shared.index import UniqueValue
from projections.keyset import KeysetCursor, Page
from projections.projection import Change, Insert, Projection, Write, handles

#: Activity pages are ordered by (occurred_at, source, position), newest first.
ACTIVITY_CURSOR = KeysetCursor(datetime, str, int)

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
            PRIMARY KEY (source, position)
        )""",
        "CREATE INDEX IF NOT EXISTS activity_brand_time_idx ON read.activity (brand_id, occurred_at DESC, source, position)",
        "CREATE INDEX IF NOT EXISTS activity_actor_idx ON read.activity (brand_id, actor, occurred_at DESC)",
        "CREATE INDEX IF NOT EXISTS activity_aggregate_idx ON read.activity (aggregate_id, position)",
    )

    def drop(self, conn: Connection[Any]) -> None:
        conn.execute("DELETE FROM read.activity WHERE source = %s", (self.source,))

    @handles(UniqueValue.Event)
    def _uniqueness(self, position: int, event: UniqueValue.Event) -> Iterable[Write]:
        return ()  # Index aggregates only enforce uniqueness; their owner's events tell the story.

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
        """The activity row of an event (of an aggregate with no brand of its own: the brand of its earlier rows).

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
        if brand is not None:
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
                },
            )
            return
        yield Write(
            "INSERT INTO read.activity (source, position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, "
            "event_type, summary, details) SELECT %(source)s, %(pos)s, b.brand_id, %(at)s, %(actor)s, %(type)s, %(id)s, "
            "%(event)s, %(summary)s, %(details)s FROM (SELECT coalesce(%(brand)s::uuid, (SELECT brand_id FROM read.activity "
            "WHERE aggregate_id = %(id)s LIMIT 1)) AS brand_id) b WHERE b.brand_id IS NOT NULL ON CONFLICT DO NOTHING",
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
            },
        )


def activity_projection(source: str, topics: tuple[str, ...] = ()) -> ActivityLog:
    """The activity projection of one source application (only `topics`' events when given)."""
    attrs: dict[str, Any] = {"name": f"activity_{source}", "source": source}
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
    ) -> ActivityPage:
        """The brand's activity matching the filters, newest first; a keyset page."""
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
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
            at, source, position = ACTIVITY_CURSOR.decode(cursor)
            where.append("(occurred_at, source, position) < (%(c_at)s, %(c_src)s, %(c_pos)s)")
            params.update(c_at=at, c_src=source, c_pos=position)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT occurred_at, source, position, actor, aggregate_type, aggregate_id, event_type, summary, details "
                f"FROM read.activity WHERE {' AND '.join(where)} "
                "ORDER BY occurred_at DESC, source DESC, position DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            ACTIVITY_CURSOR.encode(rows[-1]["occurred_at"], rows[-1]["source"], rows[-1]["position"])
            if more and rows
            else None
        )
        items = [ActivityEntry(**{k: v for k, v in r.items() if k not in ("source", "position")}) for r in rows]
        return ActivityPage(items=items, next_cursor=next_cursor)
