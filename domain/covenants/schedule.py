"""Covenant calendars: frequencies and due dates that keep month-ends (31 Jan -> 28/29 Feb -> 31 Mar)."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum


class Frequency(StrEnum):
    """How often a covenant is evaluated."""

    ONE_TIME = "one_time"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        """Months between cycles (0 for a one-time covenant)."""
        return _MONTHS[self]


_MONTHS = {
    Frequency.ONE_TIME: 0,
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.HALF_YEARLY: 6,
    Frequency.ANNUAL: 12,
}

#: Default days before the due date that the reminder goes out, per frequency (a brand or covenant may override).
DEFAULT_LEAD_DAYS = {
    Frequency.ONE_TIME: 15,
    Frequency.MONTHLY: 7,
    Frequency.QUARTERLY: 15,
    Frequency.HALF_YEARLY: 30,
    Frequency.ANNUAL: 30,
}


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months; a month-end anchor stays at month-end, other days clamp to short months."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if anchor.day == _last_day(anchor.year, anchor.month):
        return date(year, month, _last_day(year, month))
    return date(year, month, min(anchor.day, _last_day(year, month)))


def due_date(first_due: date, frequency: Frequency, cycle: int) -> date:
    """The due date of cycle `cycle` (1-based), always computed from the first due date so days never drift."""
    if cycle < 1:
        raise ValueError("cycles start at 1")
    return add_months(first_due, frequency.months * (cycle - 1))


def notification_date(due: date, lead_days: int) -> date:
    """When the reminder for a cycle due on `due` goes out."""
    return due - timedelta(days=lead_days)
