"""Base aggregate and pydantic domain events shared by every bounded context."""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    _create_id_param_names,
    _init_mentions_id,
    datetime_now_with_tzinfo,
)
from eventsourcing.utils import get_topic, resolve_topic
from pydantic import BaseModel, ConfigDict

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="system")

#: Event fields and aggregate attributes that hold credentials (hashes too): never shown in logs, trails or replays,
#: nor published on Kafka (the relay withholds them: workers/relay_envelopes.py, docs/integration.md).
SECRET_FIELDS = frozenset({"password_hash", "secret_hash", "code_hash", "invite"})


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    """Record `actor` (e.g. ``staff:<id>``, ``apikey:<id>``, ``job:<name>``) on events triggered inside."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> str:
    """The actor that commands in this context act for."""
    return _actor.get()


_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


@contextmanager
def tracing(trace_id: str | None) -> Iterator[None]:
    """Record `trace_id` (a request id, a job run id) on events triggered inside, for consumers to correlate."""
    token = _trace.set(trace_id)
    try:
        yield
    finally:
        _trace.reset(token)


def current_trace() -> str | None:
    """The trace id commands in this context carry."""
    return _trace.get()


class DomainEvent(BaseModel):
    """An immutable fact; serialised to readable JSON by the event store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Bump with an ``upcast_vN_vN+1(state: dict)`` staticmethod when the shape changes.
    class_version: ClassVar[int] = 1

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    actor: str = "system"
    trace_id: str | None = None


class Aggregate(BaseAggregate[UUID]):
    """Base aggregate: every aggregate belongs to one brand."""

    if TYPE_CHECKING:  # Set by each aggregate's created event; not a dataclass field.
        brand_id: UUID

    @staticmethod
    def create_id(*_: Any, **__: Any) -> UUID:
        """A fresh random id (index aggregates pass their uuid5 `id` instead)."""
        return uuid4()

    class Event(DomainEvent, CanMutateAggregate[UUID]):
        """Base event of an aggregate."""

        def _as_dict(self) -> dict[str, Any]:
            # Shallow, so nested models reach the decorated method as models, not dicts. A pydantic model keeps
            # its fields in __dict__, and the library only reads what this returns: no copy on every replayed
            # event (a comprehension of getattr calls was a tenth of an as-of replay).
            return self.__dict__

    class Created(Event, CanInitAggregate[UUID]):
        """Base creation event."""

        originator_topic: str

        def mutate(self, aggregate: Any) -> Any:
            """Construct the aggregate as the library's `CanInitAggregate.mutate` does (a shell of the topic's class,
            its base init, its `__init__` with the event's fields it names, the event's `apply`), with the class and
            the parameter names looked up once per topic instead of on every event: every new and every replayed
            aggregate comes through here (a batch job creates and loads thousands)."""
            assert aggregate is None
            try:
                cls, base_names, init_names, init_id = _INITS[self.originator_topic]
            except KeyError:
                cls, base_names, init_names, init_id = _INITS[self.originator_topic] = _init_of(self.originator_topic)
            agg = cls.__new__(cls)
            fields = self._as_dict()
            if base_names is None:  # the library's own base init
                agg.__base_init__(fields["originator_id"], fields["originator_version"], fields["timestamp"])
            else:
                agg.__base_init__(**{k: v for k, v in fields.items() if k in base_names})
            init_kwargs = {k: v for k, v in fields.items() if k in init_names}
            if init_id:
                init_kwargs["id"] = fields["originator_id"]
            agg.__init__(**init_kwargs)
            self.apply(agg)
            return agg

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        """The library's `BaseAggregate._create` (the same checks, event and aggregate), without its copies of the
        arguments: new aggregates are made in bulk by batch jobs (an evaluation record per covenant)."""
        kwargs.setdefault("actor", current_actor())
        kwargs.setdefault("trace_id", current_trace())
        if getattr(cls, "TOPIC", None):  # explicitly registered topics: the library checks them
            return super()._create(event_class, id=id, **kwargs)
        if id is None:
            id = cls.create_id(**{k: kwargs[k] for k in _create_id_param_names[cls] if k in kwargs})
            if not isinstance(id, (UUID, str)):
                raise TypeError(
                    f"{cls.create_id.__module__}.{cls.create_id.__qualname__} did not return UUID or str, it "
                    f"returned: {id!r}"
                )
        elif not isinstance(id, (UUID, str)):
            raise TypeError(f"Given id was not a UUID or str: {id!r}")
        kwargs["originator_topic"] = get_topic(cls)
        kwargs["originator_id"] = id
        kwargs["originator_version"] = cls.INITIAL_VERSION
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        try:
            created_event = event_class(**kwargs)
        except TypeError as e:
            raise TypeError(f"Unable to construct '{event_class.__qualname__}' event: {e}") from e
        agg = created_event.mutate(None)
        agg._pending_events.append(created_event)
        return agg

    def record_again(self, facts: Sequence[Any]) -> None:
        """Apply `facts` - the events another copy of this record made and then lost the race to save - again on
        this copy, as its next versions, stamped now: for facts that stand whatever was saved meanwhile (a
        provider's answer, already paid for), never for decisions made on what the other copy showed. A creation
        among them is left out: the record exists (another request made it at the same moment)."""
        for fact in facts:
            if isinstance(fact, Aggregate.Created):
                continue
            again = fact.model_copy(
                update={"originator_version": self.version + 1, "timestamp": type(fact).create_timestamp()}
            )
            again.mutate(self)
            self._pending_events.append(again)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """The library's `trigger_event` (the next version's event, applied and kept pending), without its copy of
        the arguments."""
        kwargs.setdefault("actor", current_actor())
        kwargs.setdefault("trace_id", current_trace())
        if getattr(type(self), "TOPIC", None):  # explicitly registered topics: the library checks them
            super().trigger_event(event_class, **kwargs)
            return
        kwargs["originator_id"] = self.id
        kwargs["originator_version"] = self.version + 1
        if kwargs.get("timestamp") is None:
            kwargs["timestamp"] = event_class.create_timestamp()
        try:
            new_event = event_class(**kwargs)
        except TypeError as e:
            raise TypeError(f"Can't construct event {event_class}: {e}") from None
        new_event.mutate(self)
        self._pending_events.append(new_event)


#: Created event topic -> (aggregate class, its base init's parameter names (None: the library's own), its
#: `__init__`'s parameter names, whether that takes the id): `Aggregate.Created.mutate`'s lookups, once per topic.
_INITS: dict[str, tuple[Any, frozenset[str] | None, frozenset[str], bool]] = {}


def _init_of(topic: str) -> tuple[Any, frozenset[str] | None, frozenset[str], bool]:
    cls = resolve_topic(topic)
    base_init = cls.__base_init__
    base_names = (
        None
        if getattr(base_init, "__func__", base_init) is BaseAggregate.__base_init__
        else frozenset(inspect.signature(base_init).parameters)
    )
    return cls, base_names, frozenset(inspect.signature(cls.__init__).parameters), cls in _init_mentions_id


A = TypeVar("A", bound="Aggregate")


def with_id(cls: type[A], aggregate_id: UUID, **kwargs: Any) -> A:
    """Construct an aggregate whose id is given (a uuid5 of its natural key) instead of random.

    The class must annotate ``id: UUID`` so eventsourcing accepts the ``id`` argument.
    """
    return cls(id=aggregate_id, **kwargs)  # type: ignore[call-arg]


def utc_now() -> datetime:
    """A timezone-aware UTC instant."""
    return datetime_now_with_tzinfo()
