"""The health of a notice source: how its syncs have gone, judged against its own schedule (a pure rule)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from croniter import croniter

#: Failures in a row from which a source is failing rather than degraded.
FAILING_AFTER = 3


class SourceHealth(StrEnum):
    """healthy, degraded (the last run failed or was partial), failing (3+ failures in a row), or stale (no
    success within twice the schedule interval)."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    STALE = "stale"


@dataclass(frozen=True)
class SyncHistory:
    """What the health of a source is judged on: its schedule and how its syncs ended."""

    schedule: str
    created_at: datetime
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_status: str | None
    consecutive_failures: int


def schedule_interval(schedule: str, now: datetime) -> timedelta | None:
    """The time between the schedule's next two slots after `now` (None for a schedule that is not cron)."""
    try:
        slots = croniter(schedule, now)
        first: datetime = slots.get_next(datetime)
        second: datetime = slots.get_next(datetime)
    except (ValueError, KeyError):
        return None
    return second - first


def source_health(history: SyncHistory, now: datetime) -> SourceHealth:
    """The source's health at `now`: stale first (no success, or since connecting, within twice its interval),
    then failing, then degraded (a failure in a row, or a partial last run), else healthy."""
    interval = schedule_interval(history.schedule, now)
    since = history.last_success_at or history.created_at
    if interval is not None and now - since > 2 * interval:
        return SourceHealth.STALE
    if history.consecutive_failures >= FAILING_AFTER:
        return SourceHealth.FAILING
    if history.consecutive_failures >= 1 or history.last_status == "partial":
        return SourceHealth.DEGRADED
    if history.last_success_at is None and history.last_failure_at is not None:
        return SourceHealth.DEGRADED
    return SourceHealth.HEALTHY
