"""A second implementation of ../shared/LENDING.md (and the decisions in docs/lending.md), written apart from
domain/loans to check it: integer paise and rates in ten-thousandths of a percent, integer half-up division, a
mutable day-by-day simulation. It shares no code with domain/loans; only the tests import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

RATE_SCALE = 10_000  # rates arrive with at most 4 places: 24.5 % -> 245000
#: The most a loan may owe, in paise: 99,999,999,999,999.99, the largest amount the books hold (LENDING.md is silent
#: at that bound; docs/loans.md: a day's penal charge is cut to what reaches it, then nothing is charged).
MOST_OWED = 10**16 - 1
HUNDRED_PERCENT = 100 * RATE_SCALE
MONTHLY = 1200 * RATE_SCALE  # r = a / MONTHLY for an annual rate of a (scaled)


def paise(amount: Decimal | str) -> int:
    """Rupees (at most 2 places) as integer paise."""
    scaled = Decimal(amount) * 100
    assert scaled == scaled.to_integral_value(), amount
    return int(scaled)


def rate_units(rate: Decimal | str) -> int:
    """A percent rate as integer ten-thousandths of a percent."""
    scaled = Decimal(rate) * RATE_SCALE
    assert scaled == scaled.to_integral_value(), rate
    return int(scaled)


def rupees(value: int) -> Decimal:
    """Integer paise back to rupees with 2 places."""
    return Decimal(value) / 100


def div_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest integer, halves away from zero."""
    assert denominator > 0
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return sign * quotient


# Fees ------------------------------------------------------------------------------------------------------------


def fee_paise(kind: str, value: Decimal, base: int) -> int:
    """A percent (of `base` paise, rounded) or fixed fee, in paise."""
    return div_half_up(base * rate_units(value), HUNDRED_PERCENT) if kind == "percent" else paise(value)


def gst_paise(fee: int, gst_rate: Decimal, inclusive: bool) -> int:
    """GST on a fee: inside it (fee * g / (100 + g)) or on top (fee * g / 100)."""
    g = rate_units(gst_rate)
    return div_half_up(fee * g, HUNDRED_PERCENT + g if inclusive else HUNDRED_PERCENT)


@dataclass
class Priced:
    """The figures of a priced loan, in paise."""

    before: int
    discount: int
    processing: int
    processing_gst: int
    convenience: int
    convenience_gst: int
    net: int


def price(
    sanctioned: int,
    processing: tuple[str, Decimal, bool],
    convenience: tuple[str, Decimal, bool] | None,
    gst_rate: Decimal,
    coupon: tuple[str, Decimal] | None,
) -> Priced:
    """Fees before and after the coupon, GST per fee, and net disbursed (or a net of zero or less)."""
    before = fee_paise(processing[0], processing[1], sanctioned)
    discount = 0 if coupon is None else fee_paise(coupon[0], coupon[1], before)
    after = max(0, before - discount)
    p_gst = gst_paise(after, gst_rate, processing[2])
    c_fee = 0 if convenience is None else fee_paise(convenience[0], convenience[1], sanctioned)
    c_incl = convenience is not None and convenience[2]
    c_gst = gst_paise(c_fee, gst_rate, c_incl)
    on_top = (0 if processing[2] else p_gst) + (0 if c_incl else c_gst)
    return Priced(before, before - after, after, p_gst, c_fee, c_gst, sanctioned - after - c_fee - on_top)


# Due dates -------------------------------------------------------------------------------------------------------


def _month_start(year: int, month: int) -> date:
    while month > 12:
        year, month = year + 1, month - 12
    return date(year, month, 1)


def _working(day: date, sunday_off: bool, holidays: frozenset[date]) -> date:
    if (sunday_off and day.isoweekday() == 7) or day in holidays:
        return _working(day + timedelta(days=1), sunday_off, holidays)
    return day


def emi_due(disbursed: date, k: int, sunday_off: bool, holidays: frozenset[date]) -> date:
    """Month k after disbursal, on the disbursal day or that month's last day, then the next working day."""
    first = _month_start(disbursed.year, disbursed.month + k)
    following = _month_start(first.year, first.month + 1)
    days_in_month = (following - first).days
    return _working(first + timedelta(days=min(disbursed.day, days_in_month) - 1), sunday_off, holidays)


# Schedules -------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One instalment of a reference schedule, in paise."""

    due: date
    opening: int
    principal: int
    interest: int


def emi(principal: int, annual: Decimal, months: int) -> int:
    """EMI in paise: P a B^n / (M (B^n - M^n)) with B = M + a, or P / n at a zero rate."""
    a = rate_units(annual)
    if a == 0:
        return div_half_up(principal, months)
    b_n, m_n = (MONTHLY + a) ** months, MONTHLY**months
    return div_half_up(principal * a * b_n, MONTHLY * (b_n - m_n))


def emi_rows(principal: int, annual: Decimal, months: int, disbursed: date, sunday_off: bool, holidays: frozenset[date]) -> list[Row]:  # fmt: skip
    """The reducing-balance schedule; the last row takes the remaining principal."""
    a = rate_units(annual)
    level = emi(principal, annual, months)
    rows, balance = [], principal
    for k in range(1, months + 1):
        interest = div_half_up(balance * a, MONTHLY)
        part = balance if k == months else level - interest
        rows.append(Row(emi_due(disbursed, k, sunday_off, holidays), balance, part, interest))
        balance -= part
    return rows


def payday_rows(principal: int, daily: Decimal, days: int, disbursed: date, sunday_off: bool, holidays: frozenset[date]) -> list[Row]:  # fmt: skip
    """One bullet row after `days` days."""
    interest = div_half_up(principal * rate_units(daily) * days, HUNDRED_PERCENT)
    return [Row(_working(disbursed + timedelta(days=days), sunday_off, holidays), principal, principal, interest)]


# Servicing -------------------------------------------------------------------------------------------------------

CLASSES = [(0, "standard"), (30, "SMA-0"), (60, "SMA-1"), (90, "SMA-2")]


def class_of(dpd: int) -> str:
    for ceiling, name in CLASSES:
        if dpd <= ceiling:
            return name
    return "NPA"


@dataclass
class Slot:
    """One instalment's books in paise: what is owed and paid per component."""

    due: date
    owed: dict[str, int]
    paid: dict[str, int] = field(default_factory=lambda: {"penal": 0, "interest": 0, "principal": 0})

    def left(self, part: str) -> int:
        return self.owed[part] - self.paid[part]

    def open(self) -> bool:
        return self.owed != self.paid  # paid never exceeds owed, part by part


class Loan:
    """A loan serviced day by day: payments during a day, then the day's close of business."""

    PARTS = ("penal", "interest", "principal")

    def __init__(self, kind: str, principal: int, rate: Decimal, tenure: int, disbursed: date, rows: list[Row],
                 penal_kind: str, penal_rate: Decimal) -> None:  # fmt: skip
        self.kind, self.principal, self.rate, self.tenure, self.disbursed = kind, principal, rate, tenure, disbursed
        self.rows = rows
        self.slots = [Slot(r.due, {"penal": 0, "interest": r.interest, "principal": r.principal}) for r in rows]
        self.penal_kind, self.penal_rate = penal_kind, rate_units(penal_rate)
        self.day = disbursed  # the open day
        self.asset_class = "standard"
        self.closed = False

    # what is owed on the open day
    def accrued(self, on: date) -> tuple[int | None, int]:
        """The current instalment's index and the interest of its period accrued by `on`."""
        index = next((n for n, s in enumerate(self.slots) if s.due >= on), None)
        if index is None:
            return None, 0
        slot = self.slots[index]
        if self.kind == "payday":
            days = max(1, (on - self.disbursed).days)
            days = min(days, self.tenure)
            return index, div_half_up(self.principal * rate_units(self.rate) * days, HUNDRED_PERCENT)
        start = self.disbursed if index == 0 else self.slots[index - 1].due
        num = self.rows[index].opening * rate_units(self.rate) * (on - start).days
        return index, div_half_up(num, MONTHLY * (slot.due - start).days)

    def payoff(self) -> int:
        """Owed as of the open day (overdue in full, principal not due, accrued interest) minus all that is paid."""
        if self.closed:
            return 0
        on = self.day
        owed = 0
        for slot in self.slots:
            owed += sum(slot.owed.values()) if slot.due < on else slot.owed["principal"]
        owed += self.accrued(on)[1]
        return owed - sum(sum(s.paid.values()) for s in self.slots)

    def pay(self, amount: int) -> list[tuple[int, int, int, int]] | None:
        """Apply a payment on the open day; None (nothing applied) when above the payoff. Returns the lines."""
        due_now = self.payoff()
        if amount > due_now:
            return None
        before = [dict(s.paid) for s in self.slots]
        if amount == due_now:
            index, accrued = self.accrued(self.day)
            for i, slot in enumerate(self.slots):
                if slot.due >= self.day:
                    slot.owed["interest"] = accrued if i == index else 0
                slot.paid = dict(slot.owed)
            self.closed = True
        else:
            buckets = [(slot, part) for slot in self.slots for part in self.PARTS]
            for slot, part in buckets:
                take = min(amount, slot.left(part))
                slot.paid[part] += take
                amount -= take
            assert amount == 0
        lines = []
        for i, slot in enumerate(self.slots):
            diff = tuple(slot.paid[p] - before[i][p] for p in self.PARTS)
            if any(diff):
                lines.append((i + 1, *diff))
        return lines

    def dpd(self, on: date) -> int:
        late = [(on - s.due).days for s in self.slots if s.open() and s.due < on]
        return max(late, default=0)

    def overdue_left(self, on: date) -> int:
        return sum(s.left(p) for s in self.slots if s.due < on for p in self.PARTS)

    def owed_now(self) -> int:
        """Everything unpaid on every instalment (due or not): what the money bound limits."""
        return sum(slot.left(part) for slot in self.slots for part in self.PARTS)

    def close_day(self) -> list[tuple[int, int]]:
        """The open day's COB: penal charges (instalment by instalment, each cut so that what the loan owes stays
        within MOST_OWED), then the class; the next day opens."""
        on = self.day
        charges = []
        for i, slot in enumerate(self.slots):
            if slot.due < on and slot.open():
                base = slot.left("principal") + slot.left("interest")
                if self.penal_kind == "compound":
                    base += slot.left("penal")
                charge = div_half_up(base * self.penal_rate, HUNDRED_PERCENT)
                charge = max(0, min(charge, MOST_OWED - self.owed_now()))
                if charge:
                    slot.owed["penal"] += charge
                    charges.append((i + 1, charge))
        if not (self.asset_class == "NPA" and self.overdue_left(on) > 0):
            self.asset_class = class_of(self.dpd(on))
        self.day = on + timedelta(days=1)
        return charges
