"""A third implementation of ../shared/LENDING.md, written from the page's text alone for tests/unit/test_lending_fuzz.py
and tests/application/loans/test_lending_fuzz_app.py: exact fractions, integer paise, a loan serviced day by day as
a mutable object. It imports nothing from `domain/` and shares nothing with tests/unit/lending_reference.py.

Where LENDING.md leaves room the readings of docs/lending.md ("Decisions where LENDING.md leaves room") are taken,
each marked `decision N`; waivers (not on the page) follow docs/loans.md: an approved waiver forgives unpaid penal
charges, oldest instalment first.
"""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

#: The largest amount the books hold, in paise (docs/lending.md decision 14).
CEILING = 10**16 - 1


def to_paise(amount: Decimal | str | int) -> int:
    """Rupees with at most 2 places as integer paise."""
    exact = Fraction(Decimal(amount)) * 100
    assert exact.denominator == 1, amount
    return int(exact)


def to_rupees(p: int) -> Decimal:
    """Integer paise as rupees with 2 places."""
    return Decimal(p).scaleb(-2).quantize(Decimal("0.01"))


def rnd(rupees: Fraction) -> int:
    """`round(x)` of LENDING.md: an exact rupee amount half up (ties away from zero) to the paisa, in paise."""
    x = rupees * 100
    n, d = abs(x).numerator, abs(x).denominator
    q, rem = divmod(n, d)
    if 2 * rem >= d:
        q += 1
    return q if x >= 0 else -q


def frac(value: Decimal | str | int) -> Fraction:
    return Fraction(Decimal(value))


# Due dates ------------------------------------------------------------------------------------------------------


def working(day: date, sunday_off: bool, holidays: frozenset[date]) -> date:
    """Moved off a Sunday (with sunday_off) or a holiday to the next working day."""
    while (sunday_off and day.weekday() == 6) or day in holidays:
        day += timedelta(days=1)
    return day


def months_later(start: date, k: int) -> date:
    """The disbursal day of the month `k` months on, clamped to that month's last day."""
    y, m = start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1
    return date(y, m, min(start.day, calendar.monthrange(y, m)[1]))


# Schedules ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One instalment in paise."""

    due: date
    opening: int
    principal: int
    interest: int


def emi_paise(p: int, annual: Decimal, n: int) -> int:
    r = frac(annual) / 1200
    P = Fraction(p, 100)
    if r == 0:
        return rnd(P / n)
    g = (1 + r) ** n
    return rnd(P * r * g / (g - 1))


def emi_lines(p: int, annual: Decimal, n: int, disbursed: date, sunday_off: bool, holidays: frozenset[date]) -> list[Line]:  # fmt: skip
    r = frac(annual) / 1200
    e = emi_paise(p, annual, n)
    lines, opening = [], p
    for k in range(1, n + 1):
        interest = rnd(Fraction(opening, 100) * r)
        principal = opening if k == n else e - interest
        lines.append(Line(working(months_later(disbursed, k), sunday_off, holidays), opening, principal, interest))
        opening -= principal
    return lines


def payday_lines(p: int, daily: Decimal, d: int, disbursed: date, sunday_off: bool, holidays: frozenset[date]) -> list[Line]:  # fmt: skip
    interest = rnd(Fraction(p, 100) * frac(daily) / 100 * d)
    return [Line(working(disbursed + timedelta(days=d), sunday_off, holidays), p, p, interest)]


def schedulable(lines: list[Line]) -> bool:
    """Decision 8: a principal never negative nor above the balance, due dates strictly increasing."""
    return all(0 <= x.principal <= x.opening for x in lines) and all(
        a.due < b.due for a, b in itertools.pairwise(lines)
    )


# Fees -----------------------------------------------------------------------------------------------------------


def fee_paise(kind: str, value: Decimal, base: int) -> int:
    return rnd(Fraction(base, 100) * frac(value) / 100) if kind == "percent" else to_paise(value)


def gst_paise(fee: int, g: Decimal, inclusive: bool) -> int:
    gf = frac(g)
    return rnd(Fraction(fee, 100) * gf / ((100 + gf) if inclusive else 100))


# Servicing ------------------------------------------------------------------------------------------------------

PARTS = ("penal", "interest", "principal")


def class_for(dpd: int) -> str:
    if dpd == 0:
        return "standard"
    if dpd <= 30:
        return "SMA-0"
    if dpd <= 60:
        return "SMA-1"
    if dpd <= 90:
        return "SMA-2"
    return "NPA"


@dataclass
class Inst:
    due: date
    opening: int
    owed: dict[str, int]
    paid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))

    def left(self, part: str) -> int:
        return self.owed[part] - self.paid[part]

    @property
    def settled(self) -> bool:  # decision 2: penal charges too
        return all(self.left(x) == 0 for x in PARTS)


class RefLoan:
    """A disbursed loan; `day` is the open day (payments and waivers land on it, then `cob()` closes it)."""

    def __init__(self, kind: str, p: int, rate: Decimal, tenure: int, disbursed: date, lines: list[Line],
                 penal_kind: str, penal_rate: Decimal) -> None:  # fmt: skip
        self.kind, self.p, self.rate, self.tenure, self.disbursed = kind, p, frac(rate), tenure, disbursed
        self.insts = [
            Inst(x.due, x.opening, {"penal": 0, "interest": x.interest, "principal": x.principal}) for x in lines
        ]
        self.penal_kind, self.penal_rate = penal_kind, frac(penal_rate)
        self.day = disbursed
        self.cls = "standard"
        self.closed = False

    def current(self, on: date) -> int | None:
        return next((i for i, x in enumerate(self.insts) if x.due >= on), None)

    def accrued(self, on: date) -> int:
        k = self.current(on)
        if k is None:
            return 0
        if self.kind == "payday":
            days = max(1, (on - self.disbursed).days)
            days = min(days, self.tenure)  # decision 7: a due date moved off a holiday adds no interest
            return rnd(Fraction(self.p, 100) * self.rate / 100 * days)
        start = self.disbursed if k == 0 else self.insts[k - 1].due
        inst = self.insts[k]
        return rnd(Fraction(inst.opening, 100) * self.rate / 1200 * (on - start).days / (inst.due - start).days)

    def payoff(self) -> int:
        if self.closed:
            return 0
        on, total = self.day, 0
        for x in self.insts:
            if x.due < on:
                total += sum(x.left(part) for part in PARTS)
            else:
                total += x.left("principal") - x.paid["interest"]  # decision 5: interest paid ahead counts
        return total + self.accrued(on)

    def pay(self, amount: int) -> list[tuple[int, int, int, int]] | None:
        """Apply a payment on the open day; None (nothing applied) above the payoff."""
        due = self.payoff()
        if amount > due or amount <= 0:
            return None
        before = [dict(x.paid) for x in self.insts]
        if amount == due:
            k, accrued = self.current(self.day), self.accrued(self.day)
            for i, x in enumerate(self.insts):
                if x.due >= self.day:
                    x.owed["interest"] = accrued if i == k else 0
                x.paid = dict(x.owed)
            self.closed = True
        else:
            for x in self.insts:
                for part in PARTS:
                    take = min(amount, x.left(part))
                    x.paid[part] += take
                    amount -= take
        return [
            (n + 1, *(x.paid[part] - before[n][part] for part in PARTS))
            for n, x in enumerate(self.insts)
            if x.paid != before[n]
        ]

    def waive(self, amount: int) -> int:
        """Forgive up to `amount` of unpaid penal charges, oldest instalment first; what was forgiven."""
        left = amount
        for x in self.insts:
            take = min(left, x.left("penal"))
            x.owed["penal"] -= take
            left -= take
        return amount - left

    def dpd(self, on: date) -> int:
        oldest = next((x for x in self.insts if not x.settled), None)
        return 0 if oldest is None or oldest.due >= on else (on - oldest.due).days

    def owed_total(self) -> int:
        return sum(x.left(part) for x in self.insts for part in PARTS)

    def cob(self) -> list[tuple[int, int]]:
        """Close the open day: penal charges on every overdue instalment (within the money bound), then the class."""
        on, charges = self.day, []
        if not self.closed:
            for n, x in enumerate(self.insts):
                if x.due < on and not x.settled:
                    base = x.left("principal") + x.left("interest")
                    if self.penal_kind == "compound":
                        base += x.left("penal")
                    charge = rnd(Fraction(base, 100) * self.penal_rate / 100)
                    charge = max(0, min(charge, CEILING - self.owed_total()))
                    if charge:
                        x.owed["penal"] += charge
                        charges.append((n + 1, charge))
            dpd = self.dpd(on)
            overdue_left = sum(x.left(part) for x in self.insts if x.due < on for part in PARTS)
            if not (self.cls == "NPA" and overdue_left > 0):
                self.cls = class_for(dpd)
        self.day = on + timedelta(days=1)
        return charges
