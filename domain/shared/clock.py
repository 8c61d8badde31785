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
