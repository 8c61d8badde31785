"""Overdue handling (LENDING.md, "Overdue, DPD and asset classes"): DPD, the RBI class with the NPA upgrade rule,
and the close of business of one day (penal charges, simple or compound).

**The money bound** (where LENDING.md is silent; docs/loans.md): a day's penal charge never takes what the loan owes
(the unpaid principal, interest and penal charges of all its instalments) past MONEY_CEILING, the largest amount the
books hold. A charge that would is cut to what reaches the ceiling, and later charges are nothing (not recorded, as
on a quiet day) until a payment or a waiver lowers what is owed. The instalments of one day are charged in order,
oldest first, so the last room goes to the oldest. Every path that charges (`close_day`, the stretches of
`advance_position`, and through them the replay and the checkpoints) applies it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from domain.loans.money import MONEY_CEILING, ZERO, percent_of
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


def owed_by(instalments: Iterable[InstalmentPosition]) -> Decimal:
    """What these instalments owe: their unpaid principal, interest and penal charges together."""
    due = paid = ZERO
    for i in instalments:  # (not `i.unpaid`: this runs on charging days, and the properties cost half again)
        due += i.principal_due + i.interest_due + i.penal_accrued
        paid += i.principal_paid + i.interest_paid + i.penal_paid
    return due - paid


def _within_bound(amount: Decimal, owed: Decimal) -> Decimal:
    """`amount` cut to what takes `owed` (exactly what the loan owes) to MONEY_CEILING: nothing once it is there."""
    if owed + amount <= MONEY_CEILING:
        return amount
    return MONEY_CEILING - owed if owed < MONEY_CEILING else ZERO


def close_day(position: LoanPosition, day: date) -> ClosedDay:
    """The close of business of `day` (the position's open day): a penal charge on each instalment overdue that
    day (due before it and not fully paid, after the day's payments), within the money bound (the module), then
    DPD and the asset class as of `day`."""
    return _close_day(position, day, None)[0]


def _close_day(position: LoanPosition, day: date, owed: Decimal | None) -> tuple[ClosedDay, Decimal | None]:
    """`close_day`, given `owed`: at least what the position owes (None: not known), so that a day whose charges
    stay clear of the bound under it is not summed; with the same for the closed position."""
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
        return ClosedDay(position=closed, day=day, charges=(), dpd=0, asset_class=AssetClass.STANDARD), owed
    charges: list[PenalCharge] = []
    instalments = list(position.instalments)
    exact = False  # whether `owed` is exactly what is owed (summed today), or only at least that
    for index in range(oldest.no - 1, len(instalments)):
        instalment = instalments[index]
        if instalment.due_date >= day:
            break  # due dates increase: nothing after this one is overdue yet
        if instalment.settled:
            continue
        amount = penal_charge(instalment, position.penal)
        if amount:
            if owed is None or (not exact and owed + amount > MONEY_CEILING):
                owed, exact = owed_by(instalments[oldest.no - 1 :]), True  # (those before it owe nothing)
            amount = _within_bound(amount, owed)
            if not amount:
                break  # at the bound: nothing more is charged (nor recorded) today
            owed += amount
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
    ), owed


def _closed(
    position: LoanPosition, instalments: tuple[InstalmentPosition, ...], day: date, asset_class: AssetClass
) -> LoanPosition:
    """`position` with these instalments, closed through `day` in `asset_class` (the constructor, not replace)."""
    return LoanPosition(position.schedule, position.penal, instalments, day, asset_class, position.closed_on,
                        position.pricing)  # fmt: skip


def advance_to(position: LoanPosition, day: date) -> tuple[LoanPosition, tuple[PenalCharge, ...]]:
    """`close_day` for every day from the open day up to the day before `day` (so that `day` is the open day), with
    the charges of those days; stretches on which nothing is overdue are passed over in one step."""
    position, charges, _ = advance_owing(position, day, None)
    return position, charges


def advance_owing(
    position: LoanPosition, day: date, owed: Decimal | None
) -> tuple[LoanPosition, tuple[PenalCharge, ...], Decimal | None]:
    """`advance_to`, given `owed`: at least what the position owes, or None when not known (a replay carries it
    from one payment to the next: payments and waivers only lower what is owed); with the same for the result."""
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
        closed, owed = _close_day(position, position.open_day, owed)
        position = closed.position
        charges.extend(closed.charges)
    return position, tuple(charges), owed


def advance_position(position: LoanPosition, day: date) -> LoanPosition:
    """The position `advance_to(position, day)` gives, without its day-by-day charges: a stretch of overdue days on
    which no further instalment falls due and nothing is paid is closed in one step -- each day charges every
    overdue instalment the same amount (simple) or its charge on what is unpaid by then (compound, summed here
    without a position a day), within the money bound as `close_day` is. For figures as of a later date (a payoff
    quote), whose charges' days are not recorded: a quote years ahead closes tens of stretches instead of thousands
    of days."""
    if day < position.open_day:
        return advance_to(position, day)[0]  # DayOutOfOrder
    last = day - ONE_DAY
    owed: Decimal | None = None  # at least what the position owes, once known (nothing is paid here)
    while position.closed_through < last:
        oldest = position.first_unsettled
        if oldest is None or oldest.due_date >= position.open_day:
            until = min(last, oldest.due_date if oldest else last) + ONE_DAY
            position, _, owed = advance_owing(position, until, owed)
            continue
        # Overdue on the open day: the same instalments stay overdue, unpaid as they are, until the day the next one
        # falls due (it is overdue only from the day after), so the days up to then charge as the first one does.
        first, owed = _close_day(position, position.open_day, owed)
        upcoming = next((i.due_date for i in position.instalments if i.due_date >= position.open_day), last)
        end = min(last, upcoming)
        days = (end - first.day).days
        if not days:
            position = first.position
            continue
        # An instalment charged nothing on the first day never is (nothing is paid, so its base does not grow).
        charged = {c.no: c.amount for c in first.charges}
        instalments, owed = _charged_for(first.position.instalments, charged, days, position.penal, owed)
        moved = _closed(first.position, instalments, end, first.asset_class)
        # DPD only grows along the stretch, so the class that evening follows from the first evening's class.
        position = _closed(moved, instalments, end, next_asset_class(first.asset_class, moved, end))
    return position


def _charged_for(
    instalments: tuple[InstalmentPosition, ...],
    first: dict[int, Decimal],
    days: int,
    terms: PenalTerms,
    owed: Decimal | None,
) -> tuple[tuple[InstalmentPosition, ...], Decimal | None]:
    """`instalments` after `days` more overdue days with nothing paid, those in `first` (by number, oldest first)
    having been charged that on the last day: each day charges them in that order, within the money bound as
    `close_day` does. `owed` is at least what `instalments` owe (None: not known); with the same after them."""
    if not first:
        return instalments, owed
    accrued = {no: instalments[no - 1].penal_accrued for no in first}
    if terms.kind is PenalKind.COMPOUND:
        unpaid = {no: instalments[no - 1] for no in first}
        base_less_penal = {no: i.principal_unpaid + i.interest_unpaid - i.penal_paid for no, i in unpaid.items()}
        exact = owed is None  # (summed just below, or else only at least what is owed)
        if owed is None:
            owed = owed_by(instalments)
        rate, ceiling = terms.daily_percent, MONEY_CEILING  # (locals: this runs once a day an instalment)
        for _ in range(days):
            for no in first:
                charge = percent_of(base_less_penal[no] + accrued[no], rate)
                after = owed + charge
                if after > ceiling:  # (most days are clear of the bound)
                    if not exact:
                        owed, exact = owed_by(_with_penal(instalments, accrued)), True
                    charge = _within_bound(charge, owed)
                    if not charge:
                        return _with_penal(instalments, accrued), owed  # at the bound: nothing after it
                    after = owed + charge
                accrued[no] += charge
                owed = after
        return _with_penal(instalments, accrued), owed
    # Simple: every day charges each the same, so the days clear of the bound are counted at once; the day that
    # reaches it charges them oldest first until the room is spent, and the days after it nothing.
    per_day = sum(first.values(), ZERO)
    if owed is None or owed + per_day * days > MONEY_CEILING:
        owed = owed_by(instalments)
    room = MONEY_CEILING - owed if owed < MONEY_CEILING else ZERO
    whole = min(days, int(room // per_day))
    for no, charge in first.items():
        accrued[no] += charge * whole
    owed += per_day * whole
    if whole < days:
        for no, charge in first.items():
            part = _within_bound(charge, owed)
            accrued[no] += part
            owed += part
    return _with_penal(instalments, accrued), owed


def _with_penal(
    instalments: tuple[InstalmentPosition, ...], accrued: dict[int, Decimal]
) -> tuple[InstalmentPosition, ...]:
    """`instalments` with the penal charges accrued of those in `accrued` (by number)."""
    return tuple(
        InstalmentPosition(
            i.no, i.due_date, i.principal_due, i.interest_due, accrued[i.no], i.principal_paid, i.interest_paid,
            i.penal_paid,
        ) if i.no in accrued else i
        for i in instalments
    )  # fmt: skip
