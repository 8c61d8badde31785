"""The months a bank statement covers, and whether a borrower's statements cover the months a brand asks for.

A statement's period is given as calendar months, `period_from` and `period_to` ("YYYY-MM", both inclusive): what
operations staff read off a statement's header and what a phone's month picker sends. A brand's
`bank_statement_months` (N) asks for the N most recent *complete* months before today: on 2026-11-05 with N = 3,
2026-08, 2026-09 and 2026-10. The current month is never required (it is not over); a statement running into it
is fine, and its months beyond the window are simply more than asked.

"Today" is always the brand's business date (`domain.shared.clock.brand_business_date`): its configured
`business_date` when it runs as of one, else the calendar date in its timezone. The functions here take that day;
every caller (the upload's and stated period's checks, the staff and borrower checklists, the funnel's statement
step and its page) passes the same one, so they agree on the months asked.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from domain.documents.content import DocumentKind
from domain.shared.errors import FieldChecks, InvalidValue

#: The oldest month a statement may start in, counted back from the current month (a mistyped year, not history).
OLDEST_MONTHS_BACK = 60

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month; `index` counts months from year 0, so consecutive months differ by one."""

    index: int

    @classmethod
    def of(cls, year: int, month: int) -> Month:
        """The month `month` (1-12) of `year`."""
        return cls(year * 12 + month - 1)

    @classmethod
    def containing(cls, day: date) -> Month:
        """The month a day is in."""
        return cls.of(day.year, day.month)

    @classmethod
    def parse(cls, text: str, field: str) -> Month:
        """A month written "YYYY-MM"; InvalidValue naming `field` otherwise."""
        found = _MONTH.fullmatch(text.strip())
        if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
            raise InvalidValue(field, f"'{text}' is not a month: give it as YYYY-MM, e.g. 2026-08")
        return cls.of(int(found.group(1)), int(found.group(2)))

    @property
    def year(self) -> int:
        return self.index // 12

    @property
    def month(self) -> int:
        return self.index % 12 + 1

    def label(self) -> str:
        """The month as a borrower reads it: "Aug 2026"."""
        return f"{calendar.month_abbr[self.month]} {self.year}"

    def plus(self, months: int) -> Month:
        """The month `months` later (earlier when negative)."""
        return Month(self.index + months)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class StatementPeriod:
    """The months one statement covers, first to last (inclusive)."""

    first: Month
    last: Month

    def months(self) -> list[Month]:
        """Every month of the period, in order."""
        return [Month(i) for i in range(self.first.index, self.last.index + 1)]

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def stated_period(period_from: str | None, period_to: str | None) -> StatementPeriod | None:
    """The period a recorded upload stated ("YYYY-MM" twice, already checked), None when it stated none."""
    if period_from is None or period_to is None:
        return None
    return StatementPeriod(Month.parse(period_from, "period_from"), Month.parse(period_to, "period_to"))


def statement_period(
    kind: DocumentKind, period_from: str | None, period_to: str | None, today: date
) -> StatementPeriod | None:
    """The period an upload says it covers (None when neither month is given: the months are unknown).

    InvalidInput naming each bad field: only a bank statement has a period; both months or neither; "YYYY-MM";
    not in the future (the current month is allowed: a statement downloaded today); from no later than to; from
    at most five years back."""
    given_from = (period_from or "").strip()
    given_to = (period_to or "").strip()
    if not given_from and not given_to:
        return None
    if kind is not DocumentKind.BANK_STATEMENT:
        raise InvalidValue("period_from" if given_from else "period_to", "only a bank statement covers a period")
    checks = FieldChecks()
    if not given_from:
        checks.errors.append(InvalidValue("period_from", "give the first month the statement covers").errors[0])
    if not given_to:
        checks.errors.append(InvalidValue("period_to", "give the last month the statement covers").errors[0])
    first = checks.check(lambda: Month.parse(given_from, "period_from")) if given_from else None
    last = checks.check(lambda: Month.parse(given_to, "period_to")) if given_to else None
    current = Month.containing(today)
    for field, month in (("period_from", first), ("period_to", last)):
        if month is not None and month > current:
            checks.errors.append(InvalidValue(field, f"{month} is in the future (this month is {current})").errors[0])
    oldest = current.plus(-OLDEST_MONTHS_BACK)
    if first is not None and first < oldest:
        message = f"{first} is more than {OLDEST_MONTHS_BACK // 12} years ago; give the statement's own months"
        checks.errors.append(InvalidValue("period_from", message).errors[0])
    if first is not None and last is not None and first > last:
        checks.errors.append(InvalidValue("period_to", f"{last} is before period_from {first}").errors[0])
    checks.raise_if_any()
    assert first is not None and last is not None
    return StatementPeriod(first, last)


def required_months(today: date, count: int) -> list[Month]:
    """The `count` most recent complete months before today, oldest first (ending last month)."""
    last = Month.containing(today).plus(-1)
    return [last.plus(-back) for back in range(count - 1, -1, -1)]


def month_runs(months: Iterable[Month]) -> list[StatementPeriod]:
    """Months (any order, repeats allowed) as runs of consecutive months, oldest first."""
    runs: list[StatementPeriod] = []
    for month in sorted(set(months)):
        if runs and runs[-1].last.plus(1) == month:
            runs[-1] = StatementPeriod(runs[-1].first, month)
        else:
            runs.append(StatementPeriod(month, month))
    return runs


def _spans(months: Iterable[Month]) -> str:
    runs = [str(run) for run in month_runs(months)]
    return runs[0] if len(runs) == 1 else ", ".join(runs[:-1]) + " and " + runs[-1]


def _count(months: int) -> str:
    return "1 month" if months == 1 else f"{months} months"


@dataclass(frozen=True)
class StatementCoverage:
    """How a borrower's statements cover the months the brand asks for.

    `covered` is every month some statement covers (inside the window or not), `missing` the required months none
    covers, `period_not_given` how many statements were uploaded without their months (they may cover the gap:
    staff check them by eye)."""

    required: list[Month]
    covered: list[Month]
    missing: list[Month]
    period_not_given: int

    @property
    def complete(self) -> bool:
        """Every required month is covered."""
        return not self.missing

    @property
    def covered_required(self) -> int:
        """How many of the required months are covered."""
        return len(self.required) - len(self.missing)

    def shortfall(self) -> str:
        """What is missing, in words: "statements cover 2026-09..2026-10; the lender needs 3 months
        (2026-08..2026-10): 2026-08 is missing"."""
        cover = f"statements cover {_spans(self.covered)}" if self.covered else "no statement says its months"
        needs = f"the lender needs {_count(len(self.required))} ({_spans(self.required)})"
        verb = "is" if len(self.missing) == 1 else "are"
        return f"{cover}; {needs}: {_spans(self.missing)} {verb} missing"

    def summary(self) -> str:
        """One line for staff: "2026-08..2026-10 (3 of 3 months)", or the gap."""
        if not self.covered:
            text = f"no months given (0 of {_count(len(self.required))})"
        else:
            text = f"{_spans(self.covered)} ({self.covered_required} of {_count(len(self.required))})"
        if self.missing:
            text += f"; missing {_spans(self.missing)}"
        if self.period_not_given:
            text += f"; period not given on {self.period_not_given}"
        return text


def statement_coverage(periods: Sequence[StatementPeriod | None], today: date, count: int) -> StatementCoverage:
    """How the statements' periods (None: not given) cover the brand's `count` months before today."""
    required = required_months(today, count)
    covered = sorted({month for period in periods if period is not None for month in period.months()})
    have = set(covered)
    return StatementCoverage(
        required=required,
        covered=covered,
        missing=[month for month in required if month not in have],
        period_not_given=sum(1 for period in periods if period is None),
    )


def refused_coverage(coverage: StatementCoverage) -> bool:
    """Whether the bank statement step refuses the statements: some required month is missing and every statement
    said its months. A statement without its months is given the benefit of the doubt (accepted, flagged for
    staff as "period not given"): uploads from before periods were asked for, and API callers that do not send
    them, keep working."""
    return bool(coverage.missing) and coverage.period_not_given == 0
