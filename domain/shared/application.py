"""Base class of every bounded context's application service."""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import (
    CanInitAggregate,
    CanMutateAggregate,
    DecoratedFuncCaller,
    OriginatorIDError,
    OriginatorVersionError,
    decorated_funcs,
)
from eventsourcing.persistence import IntegrityError

from domain.shared.aggregate import Aggregate
from domain.shared.clock import Clock, SystemClock
from domain.shared.errors import Conflict, NotFound
from domain.shared.snapshot import SnapshotKeeper

A = TypeVar("A", bound=Aggregate)
log = structlog.get_logger(__name__)

#: Writes every save made in this context runs beside its events, in their transaction (on a recorder that
#: `writes_beside`): an API request with an Idempotency-Key marks its key applied this way (api/idempotency.py), so
#: a request that dies after recording something is never run again under the same key.
SAVE_BESIDE: ContextVar[tuple[Callable[[Any], None], ...]] = ContextVar("save_beside", default=())
#: Called when a command made something outside our stores act - a provider call that reached the provider and may
#: have taken effect (an order made, a text sent): an API request with an Idempotency-Key marks its key applied, so a
#: retry after a later failure is told so instead of making the provider act twice (api/idempotency.py).
ACTED_OUTSIDE: ContextVar[tuple[Callable[[], None], ...]] = ContextVar("acted_outside", default=())


def acted_outside() -> None:
    """Tell whoever is listening (`ACTED_OUTSIDE`) that the command made a provider act."""
    for note in ACTED_OUTSIDE.get():
        note()


def replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """Apply events in order to an aggregate (None before its created event), as eventsourcing's projector does.

    The library's `project_aggregate` asserts each event against a runtime-checkable Protocol: about 13 us an
    event on Python 3.11, a good share of a replay. Our events all derive from Aggregate.Event, which mutates.
    An event of an ``@event``-decorated method is applied here the way the library's `mutate` and
    `DecoratedFuncCaller.apply` do it (the same checks, call and bookkeeping), with the method's parameter names
    looked up once per event class instead of on every event: half the cost of applying it.
    """
    appliers = _APPLIERS
    for domain_event in events:
        try:
            applier = appliers[type(domain_event)]
        except KeyError:
            applier = appliers[type(domain_event)] = _applier(type(domain_event))
        if applier is None or aggregate is None:
            aggregate = domain_event.mutate(aggregate)
            continue
        method, names = applier
        if domain_event.originator_id != aggregate.id:
            raise OriginatorIDError(domain_event.originator_id, aggregate.id)
        next_version = aggregate.version + 1
        if domain_event.originator_version != next_version:
            raise OriginatorVersionError(domain_event.originator_version, next_version)
        method(aggregate, **{k: v for k, v in domain_event.__dict__.items() if k in names})
        aggregate.version = domain_event.originator_version
        aggregate.modified_on = domain_event.timestamp
    return aggregate


#: Event class -> (its decorated method, the method's parameter names), or None to call the event's own `mutate`.
_APPLIERS: dict[type, tuple[Callable[..., Any], frozenset[str]] | None] = {}


def _applier(cls: type) -> tuple[Callable[..., Any], frozenset[str]] | None:
    """How `replay` applies events of `cls` itself: only for a plain ``@event`` method's event class, whose
    `mutate`, `apply` and `_as_dict` are the library's and Aggregate.Event's, and nothing else in its classes
    applies anything; None for any other (a created event, an event with its own `apply`)."""
    method = decorated_funcs.get(cls)
    if (
        method is None
        or not inspect.isfunction(method)
        or getattr(cls, "mutate", None) is not CanMutateAggregate.mutate
        or getattr(cls, "_as_dict", None) is not Aggregate.Event._as_dict
        or issubclass(cls, CanInitAggregate)
    ):
        return None
    appliers = [c for c in cls.__mro__ if "apply" in vars(c)]
    if appliers != [DecoratedFuncCaller, CanMutateAggregate]:
        return None
    return method, frozenset(inspect.signature(method).parameters)


def _version(stored: Any) -> int:
    return int(stored.originator_version)


@dataclass(frozen=True)
class CommandResult:
    """What a use case returns: the aggregate id and the log position a reader can wait for."""

    id: UUID
    position: int
    changed: bool = True


class ConcurrentModification(Conflict):
    """Raised when another command changed the same record first (optimistic concurrency)."""


R = TypeVar("R")


def retried(work: Callable[[], R], attempts: int) -> R:
    """`work()` (a command: read, change, save), run again from its read when another request saved the same record
    first (ConcurrentModification), up to `attempts` times in all, as if it had come a moment later: for a change
    that commutes with whatever beat it and names no version it read (the last attempt's conflict is the 409)."""
    for _ in range(attempts - 1):
        try:
            return work()
        except ConcurrentModification:
            continue
    return work()


def of_brand(found: Any, cls: type[A], aggregate_id: UUID, brand_id: UUID | None, not_found: type[NotFound]) -> A:
    """`found` (what `find`, `find_kept` or `find_latest` gave for `aggregate_id`) when it is a `cls` of `brand_id`
    (None: any brand), else `not_found`: another brand's record is not found, as one that does not exist."""
    if not isinstance(found, cls) or (brand_id is not None and found.brand_id != brand_id):
        raise not_found(f"{cls.__name__} {aggregate_id} not found", id=str(aggregate_id))
    return found


#: How many aggregates an application keeps for `find_kept`: all start over when more are asked for.
KEPT_AGGREGATES = 10_000


class ContextApplication(Application[UUID]):
    """An eventsourcing Application with an injected clock, brand-scoped loading and atomic saves."""

    #: A commit that takes an aggregate across a multiple of this many events keeps its snapshot with
    #: `snapshot_keeper` for the auditor's as-of replay (domain/shared/snapshot.py); 0 or no keeper: never.
    snapshot_every: int = 0
    snapshot_keeper: SnapshotKeeper | None = None

    def __init__(self, env: dict[str, str] | None = None, clock: Clock | None = None) -> None:
        super().__init__(env)
        self.clock: Clock = clock or SystemClock()
        self._kept: dict[UUID, Any] = {}  # `find_kept`'s aggregates, as last found
        self._kept_lock = threading.Lock()

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """Put the pending events of our aggregates in the event store; the library's path for anything else.

        The library's `save` checks every object against runtime-checkable Protocols and walks snapshot and
        follower hooks we do not use: about a third of the Python time of a one-aggregate command, spent under
        the GIL that concurrent requests share. Without snapshots, an aggregate cache or save kwargs, and with
        only our own aggregates, saving is collecting their events and putting them in the store.
        """
        contextual = SAVE_BESIDE.get()
        if contextual and getattr(self.recorder, "writes_beside", False):
            kwargs = {**kwargs, "beside": (*kwargs.get("beside", ()), *contextual)}
        lean = not kwargs and self.snapshots is None and self.repository.cache is None
        if not lean or not all(obj is None or isinstance(obj, Aggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        events: list[Any] = []
        for obj in objs:
            if obj is not None:
                events.extend(obj.collect_events())
        return self.events.put(events)

    def load(self, cls: type[A], aggregate_id: UUID, brand_id: UUID | None, not_found: type[NotFound]) -> A:
        """Load an aggregate of type `cls` that belongs to `brand_id` (None: any brand), else `not_found`."""
        # An application may load from snapshots (domain/loans).
        return of_brand(self.find(aggregate_id), cls, aggregate_id, brand_id, not_found)

    def load_many(
        self, cls: type[A], aggregate_ids: Sequence[UUID], brand_id: UUID | None, not_found: type[NotFound]
    ) -> list[A]:
        """`load` for many ids at once, in their order; one read when the recorder offers `select_events_many`.

        Batch jobs load hundreds of aggregates per batch; one query each is most of their time.
        """
        found = self.find_many(aggregate_ids)
        aggregates: list[A] = []
        for aggregate_id in aggregate_ids:
            aggregates.append(of_brand(found.get(aggregate_id), cls, aggregate_id, brand_id, not_found))
        return aggregates

    def find_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """The aggregates that exist among `aggregate_ids`, by id (missing ids are left out)."""
        select_many = getattr(self.recorder, "select_events_many", None)
        if select_many is None:
            return {i: a for i in aggregate_ids if (a := self.find(i)) is not None}
        stored_by_id: dict[UUID, list[Any]] = {}
        for stored in select_many(list(dict.fromkeys(aggregate_ids))):
            stored_by_id.setdefault(stored.originator_id, []).append(stored)
        return {
            aggregate_id: replay(None, map(self.mapper.to_domain_event, sorted(stored, key=_version)))
            for aggregate_id, stored in stored_by_id.items()
        }

    def find(self, aggregate_id: UUID) -> Any | None:
        """The aggregate with the id, or None."""
        try:
            return self.repository.get(aggregate_id, projector_func=replay)
        except AggregateNotFoundError:
            return None

    def find_kept(self, aggregate_id: UUID) -> Any | None:
        """`find` for what is read again and again between its changes (a brand's settings, the staff user behind
        each portal request, a notice source at each sync): the aggregate last found, brought up to date with the
        events recorded after its version (one indexed statement: no rows while nothing changed). As fresh as
        `find`, whichever process made the change, without replaying a history that only grows (a staff user's
        every login, a held brand's every close of business, a source's every sync). What it gives is shared: read
        it, never change it (`find_latest` gives a copy to change)."""
        with self._kept_lock:
            kept = self._kept.get(aggregate_id)
        if kept is None:
            found = self.find(aggregate_id)
        else:
            newer = list(self.events.get(aggregate_id, gt=kept.version))
            if not newer:
                return kept
            found = replay(copy.deepcopy(kept), newer)
        if found is not None:
            with self._kept_lock:
                if len(self._kept) >= KEPT_AGGREGATES:
                    self._kept.clear()
                latest = self._kept.get(aggregate_id)
                if latest is None or latest.version < found.version:
                    self._kept[aggregate_id] = found
        return found

    def find_latest(self, aggregate_id: UUID) -> Any | None:
        """`find` from `find_kept`: a copy of the aggregate as it is now, to change (a command's), without a replay
        of its whole history."""
        return copy.deepcopy(self.find_kept(aggregate_id))

    def commit(
        self, primary: Aggregate, *others: Aggregate | None, beside: Sequence[Callable[[Any], None]] = ()
    ) -> CommandResult:
        """Save `primary` and `others` atomically; a concurrent change of any becomes a 409 Conflict. Each of
        `beside` writes rows kept outside the event history on the cursor of the events' transaction (a recorder that
        `writes_beside`: adapters/event_recorder.py), so neither the events nor those rows are kept without the
        other; on a recorder without transactions (in memory) each is called with None after the save."""
        return self._commit(primary, (primary, *others), beside)

    def commit_summary(self, summary: Aggregate, *parts: Aggregate) -> CommandResult:
        """`commit`, `summary`'s events recorded after its `parts`' (the result names `summary`): a record that sums
        up the others (an import and the leads it created) is then projected only once they all are. A projection
        works through the log in order and may commit a large transaction's events over several of its batches, so a
        caller who finds the summary in a read model (a 201, or a poll of a 202's Location) finds all it counts.
        (Not through an override of `commit`: the loans context's checkpoints are not kept by it.)"""
        return self._commit(summary, (*parts, summary), ())

    def _commit(
        self, primary: Aggregate, saved: tuple[Aggregate | None, ...], beside: Sequence[Callable[[Any], None]]
    ) -> CommandResult:
        """`commit` of `saved` (`primary` among them) in that order."""
        keeper, every = self.snapshot_keeper, self.snapshot_every
        due = (
            [a for a in saved if a is not None and any(e.originator_version % every == 0 for e in a.pending_events)]
            if keeper is not None and every > 0
            else []
        )  # fmt: skip
        loaded = primary.version - len(primary.pending_events)  # the version the command read
        try:
            if beside and getattr(self.recorder, "writes_beside", False):
                recordings = self.save(*saved, beside=tuple(beside))
            else:
                recordings = self.save(*saved)
                for write in beside:  # a recorder without transactions (in memory): record, then write
                    write(None)
        except IntegrityError as exc:
            # The record's version now, when another request moved it past the one read (two requests with one
            # If-Match, both past the check): the 409 names it as a stale If-Match's does.
            current = self._stored_version(primary.id)
            moved = {"current_version": current} if current is not None and current != loaded else {}
            raise ConcurrentModification(
                "the record was changed by another request at the same time; reload and retry",
                id=str(primary.id),
                **moved,
            ) from exc
        for aggregate in due:
            try:
                keeper.keep(aggregate)  # type: ignore[union-attr]
            except Exception:  # a cache write; the saved events stand
                log.warning("audit.snapshot_failed", aggregate_id=str(aggregate.id), exc_info=True)
        position = max((r.notification.id for r in recordings), default=0)
        return CommandResult(id=primary.id, position=position, changed=bool(recordings))

    def _stored_version(self, aggregate_id: UUID) -> int | None:
        """The version of the record's last stored event (None when it has none or it cannot be read)."""
        try:
            last = self.recorder.select_events(aggregate_id, desc=True, limit=1)
        except Exception:  # noqa: BLE001 - only a detail of a refusal being raised
            return None
        return int(last[0].originator_version) if last else None

    @staticmethod
    def check_version(aggregate: Aggregate, expected_version: int | None) -> None:
        """Refuse a command made against an older version of the record (If-Match)."""
        if expected_version is not None and aggregate.version != expected_version:
            raise ConcurrentModification(
                f"record is at version {aggregate.version}, not {expected_version}; reload and retry",
                id=str(aggregate.id),
                current_version=aggregate.version,
            )
