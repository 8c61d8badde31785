"""Injected time: "now" and a brand's business date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Asia/Kolkata"


class Clock(Protocol):
    """Source of the current instant (tests and batch jobs inject their own)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock stopped at one instant, movable by tests."""

    def __init__(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware instant")
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def business_date(instant: datetime, tz: str = DEFAULT_TIMEZONE) -> date:
    """The calendar date at `instant` in the brand's timezone."""
    return instant.astimezone(ZoneInfo(tz)).date()


def brand_business_date(instant: datetime, tz: str = DEFAULT_TIMEZONE, configured: date | None = None) -> date:
    """A brand's business date at `instant`: its configured `business_date` when it runs as of one (a book being
    migrated, a demo held on a day), else the calendar date in its timezone -- the day its jobs, the BRE and its
    statement months count from."""
    return configured if configured is not None else business_date(instant, tz)
