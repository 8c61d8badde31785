"""Injected time: "now" and a brand's business date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_TIMEZONE = "Asia/Kolkata"

#: Names the timezone database answers to that are not a place: `localtime` is whatever zone the server runs in
#: (another machine, another business day), `Factory` is "no zone" (-00). The tzdata build files (`posixrules`,
#: `posix/...`, `right/...`, leap-second zones) are not among `available_timezones()` at all.
_NOT_PLACES = frozenset({"localtime", "Factory"})


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


@cache
def _places() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def is_place_timezone(name: str) -> bool:
    """Whether `name` is an IANA timezone of a place (`Asia/Kolkata`, `UTC`): one that PostgreSQL's own timezone
    files know too. ZoneInfo also opens any file under the zoneinfo directory (`localtime`, `posixrules`,
    `right/UTC`), which an embedded PostgreSQL does not ship: its `AT TIME ZONE` would fail on them."""
    return name in _places()


def business_date(instant: datetime, tz: str = DEFAULT_TIMEZONE) -> date:
    """The calendar date at `instant` in the brand's timezone."""
    return instant.astimezone(ZoneInfo(tz)).date()


def brand_business_date(instant: datetime, tz: str = DEFAULT_TIMEZONE, configured: date | None = None) -> date:
    """A brand's business date at `instant`: its configured `business_date` when it runs as of one (a book being
    migrated, a demo held on a day), else the calendar date in its timezone -- the day its jobs, the BRE and its
    statement months count from."""
    return configured if configured is not None else business_date(instant, tz)
