"""The middle tier: application services (use cases) on eventsourcing's in-memory event store, with an injected
clock - no database, no HTTP, so the many cases of each use case run in milliseconds.

What is tested here is what an application method decides and records (events, ids, errors, atomicity); the
PostgreSQL event store, projections and endpoints are tested in tests/integration and tests/e2e.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from domain.shared.application import ContextApplication
from domain.shared.clock import FixedClock

A = TypeVar("A", bound=ContextApplication)

#: The in-memory ("plain old Python objects") event store, with the project's own event mapper.
IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo", "MAPPER_TOPIC": "adapters.event_mapper:PydanticMapper"}


def in_memory(app_class: type[A], clock: FixedClock, **kwargs: Any) -> A:
    """An application of `app_class` on a fresh in-memory event store."""
    return app_class(env=dict(IN_MEMORY), clock=clock, **kwargs)


@pytest.fixture
def clock() -> FixedClock:
    """A clock stopped at 30 Nov 2026 10:00 UTC (tests move it)."""
    return FixedClock(datetime(2026, 11, 30, 10, 0, tzinfo=UTC))


def raced_after(monkeypatch: pytest.MonkeyPatch, app: Any, read: str, rival: Any) -> None:
    """The next call of `app.<read>` (the command's own read of a record) is followed by `rival()`, a change of the same
    record saved before the command saves: as when another request lands between a command's read and its save."""
    original = getattr(app, read)
    armed = [True]

    def racing(*args: Any, **kwargs: Any) -> Any:
        found = original(*args, **kwargs)
        if armed[0]:
            armed[0] = False
            rival()
        return found

    monkeypatch.setattr(app, read, racing)
