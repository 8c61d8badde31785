"""Overdue handling (LENDING.md, "Overdue, DPD and asset classes"): DPD, the RBI class with the NPA upgrade rule,
and the close of business of one day (penal charges, simple or compound).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from domain.loans.money import ZERO, percent_of
from domain.loans.position import AssetClass, InstalmentPosition, LoanPosition
from domain.loans.terms import PenalKind, PenalTerms
from domain.shared.errors import Conflict

ONE_DAY = timedelta(days=1)


class DayOutOfOrder(Conflict):
    """Raised when a day is closed before the previous day, or a second time."""


@dataclass(frozen=True, slots=True)
class PenalCharge:
    """Penal charges accrued on one instalment at the close of one day."""

    no: int
    day: date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Overdue:
    """What is overdue on a date (instalments due before it): principal, interest and penal charges unpaid."""

    principal: Decimal
    interest: Decimal
    penal: Decimal

    @property
    def total(self) -> Decimal:
        """All overdue amounts together."""
        return self.principal + self.interest + self.penal


@dataclass(frozen=True, slots=True)
class ClosedDay:
    """The outcome of one day's close of business: the new position, the charges, DPD and class that evening."""

    position: LoanPosition
    day: date
    charges: tuple[PenalCharge, ...]
    dpd: int
    asset_class: AssetClass


def days_past_due(position: LoanPosition, as_of: date) -> int:
    """`as_of` − the due date of the oldest instalment not fully paid, when that date has passed; else 0."""
    oldest = position.first_unsettled
    if oldest is None or oldest.due_date >= as_of:
        return 0
    return (as_of - oldest.due_date).days


def overdue_amounts(position: LoanPosition, as_of: date) -> Overdue:
    """The unpaid principal, interest and penal charges of the instalments due before `as_of`."""
    due = [i for i in position.instalments if i.due_date < as_of]
    return Overdue(
        principal=sum((i.principal_unpaid for i in due), ZERO),
        interest=sum((i.interest_unpaid for i in due), ZERO),
        penal=sum((i.penal_unpaid for i in due), ZERO),
    )


def next_asset_class(previous: AssetClass, position: LoanPosition, as_of: date) -> AssetClass:
    """The class on `as_of` after `previous`: by DPD, except that an NPA stays NPA until every overdue amount
    (principal, interest, penal charges) is paid — a DPD that merely drops does not upgrade it."""
    # Every unpaid part is >= 0 (a payment never pays more than is unpaid), so something is overdue exactly when an
    # instalment due before `as_of` is not settled: when DPD > 0 (no sums over the overdue instalments needed).
    dpd = days_past_due(position, as_of)
    if previous is AssetClass.NPA and dpd > 0:
        return AssetClass.NPA
    return AssetClass.for_dpd(dpd)


def penal_charge(instalment: InstalmentPosition, terms: PenalTerms) -> Decimal:
    """One day's penal charge on an overdue instalment: `round(base * daily_percent / 100)`, the base being its
    unpaid principal and interest (`simple`), plus its unpaid penal charges (`compound`)."""
    base = instalment.principal_unpaid + instalment.interest_unpaid
    if terms.kind is PenalKind.COMPOUND:
        base += instalment.penal_unpaid
    if base <= 0:
        return ZERO
    return percent_of(base, terms.daily_percent)


def close_day(position: LoanPosition, day: date) -> ClosedDay:
    """The close of business of `day` (the position's open day): a penal charge on each instalment overdue that
    day (due before it and not fully paid, after the day's payments), then DPD and the asset class as of `day`."""
    if day != position.open_day:
        raise DayOutOfOrder(
            f"the next day to close is {position.open_day.isoformat()}, not {day.isoformat()}",
            day=day.isoformat(),
            open_day=position.open_day.isoformat(),
        )
    oldest = position.first_unsettled
    if oldest is None or oldest.due_date >= day:
        # Nothing overdue (most loans on most days): no charge, DPD 0, standard — an NPA is upgraded.
        closed = replace(position, closed_through=day, asset_class=AssetClass.STANDARD)
        return ClosedDay(position=closed, day=day, charges=(), dpd=0, asset_class=AssetClass.STANDARD)
    charges: list[PenalCharge] = []
    instalments = list(position.instalments)
    for index in range(oldest.no - 1, len(instalments)):
        instalment = instalments[index]
        if instalment.due_date >= day:
            break  # due dates increase: nothing after this one is overdue yet
        if instalment.settled:
            continue
        amount = penal_charge(instalment, position.penal)
        if amount:
            instalments[index] = InstalmentPosition(  # the constructor: dataclasses.replace costs 3x (every day)
                instalment.no,
                instalment.due_date,
                instalment.principal_due,
                instalment.interest_due,
                instalment.penal_accrued + amount,
                instalment.principal_paid,
                instalment.interest_paid,
                instalment.penal_paid,
            )
            charges.append(PenalCharge(no=instalment.no, day=day, amount=amount))
    closed = _closed(position, tuple(instalments) if charges else position.instalments, day, position.asset_class)
    asset_class = next_asset_class(position.asset_class, closed, day)  # of the instalments only
    if asset_class is not position.asset_class:
        closed = _closed(position, closed.instalments, day, asset_class)
    return ClosedDay(
        position=closed,
        day=day,
        charges=tuple(charges),
        dpd=(day - oldest.due_date).days,
        asset_class=asset_class,
    )


def _closed(
    position: LoanPosition, instalments: tuple[InstalmentPosition, ...], day: date, asset_class: AssetClass
) -> LoanPosition:
    """`position` with these instalments, closed through `day` in `asset_class` (the constructor, not replace)."""
    return LoanPosition(position.schedule, position.penal, instalments, day, asset_class, position.closed_on,
                        position.pricing)  # fmt: skip


def advance_to(position: LoanPosition, day: date) -> tuple[LoanPosition, tuple[PenalCharge, ...]]:
    """`close_day` for every day from the open day up to the day before `day` (so that `day` is the open day), with
    the charges of those days; stretches on which nothing is overdue are passed over in one step."""
    if day < position.open_day:
        raise DayOutOfOrder(
            f"{day.isoformat()} is already closed (closed through {position.closed_through.isoformat()})",
            day=day.isoformat(),
            open_day=position.open_day.isoformat(),
        )
    charges: list[PenalCharge] = []
    last = day - ONE_DAY
    while position.closed_through < last:
        oldest = position.first_unsettled
        # Until the day after the oldest unsettled instalment's due date nothing is overdue: no charge, DPD 0, and
        # the class that DPD 0 gives (an NPA with nothing overdue is upgraded).
        quiet_until = last if oldest is None else min(last, oldest.due_date)
        if quiet_until >= position.open_day:
            quiet_class = next_asset_class(position.asset_class, position, quiet_until)
            position = _closed(position, position.instalments, quiet_until, quiet_class)
            continue
        closed = close_day(position, position.open_day)
        position = closed.position
        charges.extend(closed.charges)
    return position, tuple(charges)


def advance_position(position: LoanPosition, day: date) -> LoanPosition:
    """The position `advance_to(position, day)` gives, without its day-by-day charges: a stretch of overdue days on
    which no further instalment falls due and nothing is paid is closed in one step -- each day charges every
    overdue instalment the same amount (simple) or its charge on what is unpaid by then (compound, summed here
    without a position a day). For figures as of a later date (a payoff quote), whose charges' days are not
    recorded: a quote years ahead closes tens of stretches instead of thousands of days."""
    if day < position.open_day:
        return advance_to(position, day)[0]  # DayOutOfOrder
    last = day - ONE_DAY
    while position.closed_through < last:
        oldest = position.first_unsettled
        if oldest is None or oldest.due_date >= position.open_day:
            position = advance_to(position, min(last, oldest.due_date if oldest else last) + ONE_DAY)[0]
            continue
        # Overdue on the open day: the same instalments stay overdue, unpaid as they are, until the day the next one
        # falls due (it is overdue only from the day after), so the days up to then charge as the first one does.
        first = close_day(position, position.open_day)
        upcoming = next((i.due_date for i in position.instalments if i.due_date >= position.open_day), last)
        end = min(last, upcoming)
        days = (end - first.day).days
        if not days:
            position = first.position
            continue
        charged = {c.no: c.amount for c in first.charges}  # an instalment charged nothing on the first day never is
        instalments = tuple(
            _charged_for(i, charged[i.no], days, position.penal) if i.no in charged else i
            for i in first.position.instalments
        )
        moved = _closed(first.position, instalments, end, first.asset_class)
        # DPD only grows along the stretch, so the class that evening follows from the first evening's class.
        position = _closed(moved, instalments, end, next_asset_class(first.asset_class, moved, end))
    return position


def _charged_for(instalment: InstalmentPosition, first: Decimal, days: int, terms: PenalTerms) -> InstalmentPosition:
    """`instalment` after `days` more overdue days, nothing paid, its last day's charge having been `first`."""
    accrued = instalment.penal_accrued
    if terms.kind is PenalKind.COMPOUND:
        owed = instalment.principal_unpaid + instalment.interest_unpaid - instalment.penal_paid
        for _ in range(days):
            accrued += percent_of(owed + accrued, terms.daily_percent)
    else:
        accrued += first * days
    return InstalmentPosition(
        instalment.no, instalment.due_date, instalment.principal_due, instalment.interest_due, accrued,
        instalment.principal_paid, instalment.interest_paid, instalment.penal_paid,
    )  # fmt: skip
