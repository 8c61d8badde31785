"""Failed events: how a projection records an event it cannot apply, parks the later events of that aggregate
behind it and keeps going (`_Isolation`: a batch applied again in halves, in savepoints), and the status types
an operator reads (`ProjectionStatus`, `ProjectionFailure`, `RetryOutcome`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
import structlog
from eventsourcing.persistence import Notification, PersistenceError
from psycopg import Connection

from projections.projection import Projection, Write

if TYPE_CHECKING:
    from projections.engine import ProjectionEngine

log = structlog.get_logger(__name__)

#: More failing events than this in one batch, or this many unresolved in one projection, is not a bad event but a
#: broken projector or table: the projection stops (and says why) instead of skipping everything.
MAX_FAILURES_PER_BATCH = 20
MAX_OPEN_FAILURES = 100


@dataclass(frozen=True)
class ProjectionStatus:
    """A projection's position, how far behind its source it is, and what it could not apply."""

    name: str
    source: str
    position: int
    head: int
    updated_at: Any
    failed: int = 0  # events recorded as failed (skipped)
    parked: int = 0  # later events of those events' aggregates, held behind them
    error: str | None = None  # why the projection stopped, while it is stopped

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def healthy(self) -> bool:
        return not (self.failed or self.parked or self.error)


@dataclass(frozen=True)
class ProjectionFailure:
    """An event a projection could not apply (failed), or a later event of its aggregate held behind it (parked)."""

    projection: str
    position: int
    status: str
    topic: str
    aggregate_id: UUID
    aggregate_version: int
    brand_id: UUID | None
    error: str
    attempts: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class RetryOutcome:
    """What `ProjectionEngine.retry` did: positions applied now, and those still failing with their errors."""

    applied: list[int] = field(default_factory=list)
    still_failing: dict[int, str] = field(default_factory=dict)


class ProjectionStalled(Exception):
    """Raised when a projection stops: so many events fail that the fault is the projector or its tables."""


class NoSuchFailure(LookupError):
    """Raised when a retry names a position that is not a failed event of the projection."""


def is_transient(exc: BaseException) -> bool:
    """An error of reaching or using the database (outage, lost connection, timeout), not of an event.

    The batch is retried as it is and no event is blamed: psycopg's operational and interface errors, a pool's own
    "unavailable" error (a psycopg error that is not a database error), and failures reading the notification log.
    """
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError | PersistenceError):
        return True
    return isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.DatabaseError)


def describe_error(exc: BaseException) -> str:
    """The error as one storable line: type, SQLSTATE when there is one, message (NUL and lone surrogates escaped)."""
    state = getattr(exc, "sqlstate", None)
    text = f"{type(exc).__name__}{f' [{state}]' if state else ''}: {exc}"
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:2000]


_FAILURE_COLUMNS = (
    "projection, position, status, topic, aggregate_id, aggregate_version, brand_id, error, attempts, "
    "first_seen, last_seen"
)
_RECORD_FAILURE = (
    "INSERT INTO ops.projection_failures (projection, position, source, topic, aggregate_id, aggregate_version, "
    "brand_id, status, error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (projection, position) DO UPDATE SET status = EXCLUDED.status, error = EXCLUDED.error, "
    "last_seen = now(), attempts = ops.projection_failures.attempts + 1"
)
_ADVANCE = "UPDATE ops.projection_tracking SET position = %s, updated_at = now(), error = NULL WHERE projection = %s"
_ADVANCE_COUNTING = (
    "UPDATE ops.projection_tracking SET position = %s, updated_at = now(), error = NULL, "
    "failures = (SELECT count(*) FROM ops.projection_failures f WHERE f.projection = %s) WHERE projection = %s"
)


def _parked_note(position: int) -> str:
    return f"parked behind the failed event at position {position} of the same aggregate"


class _Isolation:
    """Applies a batch whose events failed together: halves in savepoints down to the failing events.

    Each failing event is kept to be recorded as failed; later events of its aggregate (in this batch, or already
    parked) are kept to be recorded as parked. Both go in the batch's transaction, with the position.
    """

    def __init__(
        self,
        engine: ProjectionEngine,
        conn: Connection[Any],
        projection: Projection,
        app: Any,
        parked_aggregates: dict[Any, tuple[int, Any]],
    ) -> None:
        self.engine = engine
        self.conn = conn
        self.projection = projection
        self.app = app
        self.behind = parked_aggregates  # aggregate id -> (position of its first failure, brand id)
        self.open_failures = 0
        self.failed: list[tuple[Notification, str, Any]] = []  # (event, error, brand id)
        self.parked: list[tuple[Notification, int, Any]] = []  # (event, position it waits behind, brand id)

    def hold(self, notifications: Sequence[Notification]) -> list[Notification]:
        """The events to apply now; those of aggregates with a failure are kept to be parked."""
        ready = []
        for n in notifications:
            behind = self.behind.get(n.originator_id)
            if behind is None:
                ready.append(n)
            else:
                self.parked.append((n, behind[0], behind[1]))
        return ready

    def apply(self, notifications: Sequence[Notification]) -> None:
        """Apply in a savepoint; when that fails because of the events, split it until the failing ones are alone."""
        ready = self.hold(notifications)
        if not ready:
            return
        try:
            with self.conn.transaction():
                self.engine._apply(self.conn, self.projection, self.app, ready, [])
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(ready) > 1:
                middle = len(ready) // 2
                self.apply(ready[:middle])
                self.apply(ready[middle:])
            else:
                self._fail(ready[0], exc)

    def _fail(self, notification: Notification, exc: Exception) -> None:
        error = describe_error(exc)
        if len(self.failed) >= MAX_FAILURES_PER_BATCH or self.open_failures + len(self.failed) >= MAX_OPEN_FAILURES:
            first = self.failed[0] if self.failed else (notification, error, None)
            why = (
                f"over {MAX_FAILURES_PER_BATCH} events of one batch failed"
                if len(self.failed) >= MAX_FAILURES_PER_BATCH
                else f"{MAX_OPEN_FAILURES} failed events are unresolved"
            )
            message = (
                f"stopped: {why}, so the projector or its table is broken rather than an event; "
                f"first at position {first[0].id}: {first[1]}"
            )
            raise ProjectionStalled(message) from exc
        brand = self._brand_of(notification)
        self.failed.append((notification, error, brand))
        self.behind[notification.originator_id] = (notification.id, brand)

    def _brand_of(self, notification: Notification) -> Any:
        """The event's brand id, read from the decoded event or, when it does not decode, from its JSON."""
        try:
            brand = getattr(self.app.mapper.to_domain_event(notification), "brand_id", None)
        except Exception:  # noqa: BLE001 - an event that does not decode still names its brand in its JSON.
            try:
                brand = json.loads(notification.state).get("brand_id")
            except (ValueError, AttributeError):
                brand = None
        try:
            return UUID(str(brand)) if brand is not None else None
        except ValueError:
            return None

    def records(self) -> list[Write]:
        """The rows recording this batch's failed and parked events."""
        name, source = self.projection.name, self.projection.source
        rows = [(n, "failed", error, brand) for n, error, brand in self.failed]
        rows += [(n, "parked", _parked_note(behind), brand) for n, behind, brand in self.parked]
        return [
            Write(
                _RECORD_FAILURE,
                (name, n.id, source, n.topic, n.originator_id, n.originator_version, brand, status, error),
            )
            for n, status, error, brand in rows
        ]
