"""Base aggregate and pydantic domain events shared by every bounded context."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from eventsourcing.domain import (
    BaseAggregate,
    CanInitAggregate,
    CanMutateAggregate,
    datetime_now_with_tzinfo,
)
from pydantic import BaseModel, ConfigDict

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="system")

#: Event fields and aggregate attributes that hold credentials (hashes too): never shown in logs, trails or replays.
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

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("actor", current_actor())
        kwargs.setdefault("trace_id", current_trace())
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        kwargs.setdefault("actor", current_actor())
        kwargs.setdefault("trace_id", current_trace())
        super().trigger_event(event_class, **kwargs)


A = TypeVar("A", bound="Aggregate")


def with_id(cls: type[A], aggregate_id: UUID, **kwargs: Any) -> A:
    """Construct an aggregate whose id is given (a uuid5 of its natural key) instead of random.

    The class must annotate ``id: UUID`` so eventsourcing accepts the ``id`` argument.
    """
    return cls(id=aggregate_id, **kwargs)  # type: ignore[call-arg]


def utc_now() -> datetime:
    """A timezone-aware UTC instant."""
    return datetime_now_with_tzinfo()
