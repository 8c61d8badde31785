"""Covenant calendars: frequencies, due dates that keep month-ends (31 Jan -> 28/29 Feb -> 31 Mar), the Calendar."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from enum import StrEnum
from functools import partial
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import FieldChecks, FieldError
from domain.shared.values import check_date_range


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


#: How pages name a frequency (`one-time`, `half-yearly`).
FREQUENCY_WORDS: Mapping[Frequency, str] = MappingProxyType(
    {
        Frequency.ONE_TIME: "one-time",
        Frequency.MONTHLY: "monthly",
        Frequency.QUARTERLY: "quarterly",
        Frequency.HALF_YEARLY: "half-yearly",
        Frequency.ANNUAL: "annual",
    }
)


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


#: Days in each month of a common year.
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _last_day(year: int, month: int) -> int:
    """The last day of the month (= calendar.monthrange(year, month)[1], without the weekday it also computes)."""
    if month == 2 and calendar.isleap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def add_months(anchor: date, months: int) -> date:
    """`anchor` moved by whole months; a month-end anchor stays at month-end, other days clamp to short months."""
    if months == 0:  # (every cycle-1 due date: the evaluation job asks for one per covenant)
        return anchor
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


class Calendar(BaseModel):
    """When cycles fall due and when reminders go out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frequency: Frequency
    start_date: date
    first_due_date: date
    expiry_date: date
    grace_days: int = 0
    lead_days: int

    def checked(self) -> Calendar:
        """Expiry after start, first due date within start..expiry, non-negative grace and lead days."""
        checks = FieldChecks()
        for name in ("start_date", "first_due_date", "expiry_date"):
            checks.check(partial(check_date_range, getattr(self, name), name))
        if checks.errors:
            checks.raise_if_any()
        if self.expiry_date < self.start_date:
            checks.errors.append(FieldError("expiry_date", "expiry cannot be before the start date"))
        elif not self.start_date <= self.first_due_date <= self.expiry_date:
            checks.errors.append(FieldError("first_due_date", "the first due date must fall between start and expiry"))
        if not 0 <= self.grace_days <= 365:
            checks.errors.append(FieldError("grace_days", "grace days must be between 0 and 365"))
        if not 0 <= self.lead_days <= 365:
            checks.errors.append(FieldError("notification_lead_days", "lead days must be between 0 and 365"))
        checks.raise_if_any()
        return self

    def due(self, cycle: int) -> date | None:
        """Due date of a cycle, or None when the covenant has no such cycle (one-time, or past expiry)."""
        if cycle > 1 and self.frequency is Frequency.ONE_TIME:
            return None
        due = due_date(self.first_due_date, self.frequency, cycle)
        return due if due <= self.expiry_date else None

    def opens_on(self, due: date) -> date:
        """The day a cycle's evaluation record opens: its reminder date, not before the start date."""
        return max(self.start_date, notification_date(due, self.lead_days))
