"""What a projection is: a pure projector (events -> `Write`s and `Insert`s), its tables, and the table of
event types its handlers form (`@handles`). No database access here: projectors are unit-testable."""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import structlog
from eventsourcing.utils import get_topic
from psycopg import Connection

from domain.shared.ddl import unless_present

log = structlog.get_logger(__name__)


def topics_of(*classes: type) -> tuple[str, ...]:
    """The stored topics of event classes, for `Projection.topics`."""
    return tuple(get_topic(c) for c in classes)


@dataclass(frozen=True)
class Write:
    """One SQL statement with parameters, sent in order with the batch's other writes (see _PipelinedWrites)."""

    sql: str
    params: tuple[Any, ...] | dict[str, Any]


@dataclass(frozen=True)
class Insert:
    """A new row of `table` (column -> value), inserted unless its key is taken (ON CONFLICT DO NOTHING).

    The engine inserts a batch's rows of one table and columns together, in one statement, **before** the writes
    yielded with or after them in the same chunk of the batch (``_PipelinedWrites.CHUNK``): so yield an Insert only
    for a row that none of the batch's earlier writes touches or reads -- the row of a new aggregate, keyed by its
    id -- and a Write otherwise. Values are what `json.dumps` takes, plus UUID, date/datetime, Decimal and enums;
    lists go into array columns, lists and dicts into json columns.
    """

    table: str
    row: dict[str, Any]


#: What a projection yields for an event.
Change = Write | Insert


#: A projector's handler: (projection, position, event) -> the writes that apply the event.
Handler = Callable[[Any, int, Any], Iterable[Change]]
_HANDLES = "__projects_events__"


def handles(*event_classes: type) -> Callable[[Handler], Handler]:
    """Mark a `Projection` method as the handler of these event classes (and their subclasses).

    The class collects its marked methods into `Projection.handlers`, the table that `project` dispatches on:

        class BlocklistView(Projection):
            @handles(E.Added)
            def _added(self, position: int, event: E.Added) -> Iterable[Write]: ...
    """
    if not event_classes:
        raise TypeError("handles() needs at least one event class")

    def mark(method: Handler) -> Handler:
        setattr(method, _HANDLES, (*getattr(method, _HANDLES, ()), *event_classes))
        return method

    return mark


class Projection(ABC):
    """An event -> rows projector plus the DDL of the read tables it owns.

    Dispatch reads as a table: methods marked `@handles(EventClass, ...)` fill `handlers` (event class -> method,
    inherited and extended by subclasses), and `project` calls the handler of the event's class or, failing that,
    of its nearest base class; an event nobody handles writes nothing. `topics` defaults to the handled classes'
    topics, so the projection reads only those events. A projection may override `project` instead.
    """

    name: ClassVar[str]
    source: ClassVar[str]  # name of the Application whose events it reads
    topics: ClassVar[tuple[str, ...]] = ()  # event topics it handles; others are skipped in SQL
    tables: ClassVar[tuple[str, ...]] = ()  # qualified names, dropped on rebuild
    ddl: ClassVar[tuple[str, ...]] = ()  # idempotent CREATE statements
    handlers: ClassVar[dict[type, Handler]] = {}  # event class -> handler, from the @handles methods
    _resolved: ClassVar[dict[type, Handler | None]]  # event class -> its handler found along the MRO (a cache)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = dict(cls.handlers)
        own: set[type] = set()
        for attribute in cls.__dict__.values():
            for event_class in getattr(attribute, _HANDLES, ()):
                if event_class in own:
                    raise TypeError(f"{cls.__name__} handles {event_class.__qualname__} twice")
                own.add(event_class)
                table[event_class] = attribute
        cls.handlers = table
        cls._resolved = {}
        if own and "topics" not in cls.__dict__:
            cls.topics = topics_of(*table)

    def project(self, position: int, event: Any) -> Iterable[Change]:
        """Writes that apply `event` (recorded at `position`) to the read tables: its handler's, by default."""
        event_class = type(event)
        try:
            handler = self._resolved[event_class]
        except KeyError:
            handler = self._resolved[event_class] = next(
                (self.handlers[c] for c in event_class.__mro__ if c in self.handlers), None
            )
        return () if handler is None else handler(self, position, event)

    def applies_stored(self, topic: str, state: bytes) -> bool:
        """Whether the stored event (its topic and JSON, stored as its class writes it today) is applied in SQL from
        the event store by `stored_writes` rather than decoded and projected here: none by default.

        Only an event whose effect does not depend on the batch's other events may be -- an aggregate's first
        event, or a row of its own keyed by position (the activity log's): the engine sends `stored_writes` before
        the batch's other writes, so such events act as if they came first in their batch. (A stored event that
        reads rows the batch's others write is written by the projection's `end_batch` instead, after them: see
        `ActivityLog.stored_writes`.) A batch that fails is applied again event by event through `project`."""
        return False

    def stored_writes(self, events_table: str, positions: list[int]) -> Iterable[Write]:
        """The writes applying the stored events at `positions` (each `applies_stored`) in SQL, reading them from
        `events_table` (qualified and quoted: the event store and the read tables share one database, as the platform
        composes them); the first writes of their batch."""
        return ()

    #: Whether a rebuild may run two batches at once on two connections (`ProjectionEngine.rebuild`): each batch's
    #: `stored_writes` run while the batch before is still being applied; its other writes wait for that batch's
    #: commit. True only where the stored writes, while `rebuilding`, touch no row another batch writes.
    concurrent_rebuild = False

    #: Set by the engine while it replays this projection into empty tables (a rebuild): a projection may leave
    #: sums over all rows out of the batches then, and make them once from the rows in `rebuilt_statements`.
    rebuilding = False

    def rebuilt_statements(self) -> Sequence[str]:
        """Statements run once after a rebuild's replay (and after a replay that failed part way), before its
        index builds: what the batches left out while `rebuilding`. Each must also run at setup (`ddl`) when what
        it makes is missing, so a rebuild cut short by a crash is made whole by the next start."""
        return ()

    def bind_events(self, events_table: str) -> None:  # noqa: B027 - an optional hook: most read no stored event
        """Told once by the engine its source's events table (qualified and quoted), for writes that read the event
        store on any path, decoded events' too (the activity log's brand of an aggregate: `ActivityLog._entry`)."""

    def begin_batch(self) -> None:  # noqa: B027 - an optional hook: most projections keep no batch state
        """Called before a batch's events (a projection that sums over a batch resets here)."""

    def end_batch(self) -> Iterable[Change]:
        """Writes that close a batch (sums over the batch), sent after its events' writes, in its transaction."""
        return ()

    def create(self, conn: Connection[Any], *, secondary_indexes: bool = True) -> None:
        """Create the read tables and indexes if missing (without the non-unique indexes when told so)."""
        for statement in self.ddl:
            if secondary_indexes or not _secondary_index(statement):
                conn.execute(unless_present(statement))

    def create_secondary_indexes(self, conn: Connection[Any]) -> None:
        """Create the non-unique indexes (a rebuild builds them once, after the replay)."""
        for statement in self.secondary_index_statements():
            conn.execute(unless_present(statement))

    def secondary_index_statements(self) -> list[str]:
        """The DDL's non-unique indexes, each built on its own (a rebuild builds several at once)."""
        return [statement for statement in self.ddl if _secondary_index(statement)]

    def drop(self, conn: Connection[Any]) -> None:
        """Drop the read tables."""
        for table in self.tables:
            conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def _secondary_index(statement: str) -> bool:
    """A non-unique index: nothing a projection's writes rely on (ON CONFLICT needs the unique ones)."""
    return statement.lstrip()[:12].upper() == "CREATE INDEX"
