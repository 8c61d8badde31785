"""Due dates (LENDING.md, "Due dates"): EMI instalment k on the disbursal day k months on, clamped to the month's
end; payday after the tenure in days; a Sunday (when the brand keeps `sunday_off`) or a repayment holiday moves to
the next working day.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict

from domain.shared.errors import InvalidValue
from domain.shared.values import check_date_range

SUNDAY = 6


class RepaymentCalendar(BaseModel):
    """The brand's non-working days for repayments: Sundays (`sunday_off`, on by default) and listed holidays."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sunday_off: bool = True
    holidays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        """Whether an instalment may fall due on `day`."""
        return not ((self.sunday_off and day.weekday() == SUNDAY) or day in self.holidays)

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it."""
        # A finite holiday list always ends, and with Sundays off six days a week remain.
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def add_months_clamped(start: date, months: int) -> date:
    """`start` moved by `months` calendar months on the same day of the month, clamped to a shorter month's end.

    Unlike a covenant calendar, the day is the disbursal day and not "month-end stays month-end": a loan disbursed
    on 28 Feb 2023 falls due on 28 Mar, not 31 Mar."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def emi_due_date(disbursed_on: date, k: int, repayment_calendar: RepaymentCalendar) -> date:
    """The due date of EMI instalment `k` (1-based), always counted from the disbursal date, never from the previous
    due date, so a clamp to 28 Feb does not pull 31 Mar back to the 28th."""
    if k < 1:
        raise ValueError("instalments are numbered from 1")
    due = add_months_clamped(disbursed_on, k)
    return check_date_range(repayment_calendar.next_working_day(due), "disbursed_on")


def payday_due_date(disbursed_on: date, days: int, repayment_calendar: RepaymentCalendar) -> date:
    """The due date of a payday loan: the disbursal date plus `days`, moved to the next working day."""
    if days < 1:
        raise InvalidValue("tenure", "must be at least 1 day")
    due = disbursed_on + timedelta(days=days)
    return check_date_range(repayment_calendar.next_working_day(due), "disbursed_on")
