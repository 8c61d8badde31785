"""Payments (LENDING.md, "Payments"): the payoff quote as of a date and the allocation waterfall.

The payoff is what closes the loan on a date: everything overdue + the principal not yet due + the current
period's interest accrued by days, less the interest already paid on instalments not yet due (paid ahead of time,
it counts towards the payoff like any other rupee paid). So payoff = what is owed as of the date − what has been
paid, every payment lowers the payoff by exactly its amount, and paying the payoff always completes the loan.

A payment below the payoff runs down the waterfall: oldest instalment first; within an instalment penal charges,
interest, principal; then the next instalment in date order, due or not (an advance payment pays the next
instalment's scheduled interest, then its principal). A payment equal to the payoff closes the loan: every
instalment ends fully paid, the interest of instalments not yet due becomes what had accrued (the current period's,
by days; nothing for later periods), and interest paid ahead beyond that is counted as principal — so the closing
payment's allocation may show a negative interest line with the same amount more principal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from domain.loans.money import ZERO, parse_money, percent_of, round_money
from domain.loans.overdue import DayOutOfOrder, advance_position
from domain.loans.position import InstalmentPosition, LoanPosition
from domain.loans.schedule import Schedule, monthly_rate
from domain.loans.terms import LoanKind
from domain.shared.errors import InvalidValue


class PaymentAbovePayoff(InvalidValue):
    """Raised when a payment is more than the payoff amount on its date (nothing is applied). `payment_id`: which of
    the facts a replay refused (`domain.loans.replay.replay`), None when raised by `allocate` itself."""

    payment_id: str | None = None

    def __init__(self, amount: Decimal, payoff: Decimal, on: date, payment_id: str | None = None) -> None:
        super().__init__("amount", f"{amount} is above the payoff amount of {payoff} on {on.isoformat()}")
        self.amount = amount
        self.payoff = payoff
        self.on = on
        self.payment_id = payment_id


class LaterPaymentAbovePayoff(PaymentAbovePayoff):
    """Raised when a back-dated payment fits the payoff of its own day but, applied before a payment recorded after
    it, leaves that later payment above the payoff of the later payment's day (nothing is applied). It names the
    payment asked for - its amount and date, what the user entered - and the later payment's figures, which the
    replay refused (before, the refusal quoted only those, as if the later payment were the one entered)."""

    def __init__(self, amount: Decimal, paid_on: date, later: PaymentAbovePayoff) -> None:
        InvalidValue.__init__(
            self,
            "amount",
            f"{amount} paid on {paid_on.isoformat()} cannot be recorded: the later payment of {later.amount} on "
            f"{later.on.isoformat()} would then be above that day's payoff of {later.payoff}",
        )
        self.amount = amount
        self.payoff = later.payoff
        self.on = later.on
        self.payment_id = later.payment_id
        self.paid_on = paid_on
        self.later = later
        # The problem+json's members beside `errors` (api/problems.py): the refused payment and the later one.
        self.details = {
            "amount": str(amount),
            "paid_on": paid_on.isoformat(),
            "later_payment_id": later.payment_id,
            "later_amount": str(later.amount),
            "later_paid_on": later.on.isoformat(),
            "later_payoff": str(later.payoff),
        }


class PaymentOnCompletedLoan(PaymentAbovePayoff):
    """Raised for a payment on a completed loan: its payoff is nothing from the closing payment on, and a payment
    dated before that would leave the closing payment above its own payoff (nothing is applied)."""

    def __init__(self, amount: Decimal, closed_on: date | None) -> None:
        when = f" on {closed_on.isoformat()}" if closed_on is not None else ""
        InvalidValue.__init__(self, "amount", f"{amount} is more than the loan owes: it was completed{when}")
        self.amount = amount
        self.payoff = ZERO


class PaymentOutOfOrder(DayOutOfOrder):
    """Raised when a payment is dated on a day whose close of business has run, or after days not yet closed:
    such a payment is applied by replaying the loan's facts (replay.replay)."""


@dataclass(frozen=True, slots=True)
class PayoffQuote:
    """The payoff amount on `as_of` and its parts; `total` = the parts − `interest_paid_ahead`."""

    as_of: date
    overdue_penal: Decimal
    overdue_interest: Decimal
    overdue_principal: Decimal
    principal_not_due: Decimal
    accrued_interest: Decimal
    interest_paid_ahead: Decimal
    current_instalment: int | None

    @property
    def total(self) -> Decimal:
        """What closes the loan on `as_of`."""
        return (
            self.overdue_penal
            + self.overdue_interest
            + self.overdue_principal
            + self.principal_not_due
            + self.accrued_interest
            - self.interest_paid_ahead
        )


@dataclass(frozen=True, slots=True)
class AllocationLine:
    """What one payment paid on one instalment."""

    no: int
    penal: Decimal
    interest: Decimal
    principal: Decimal

    @property
    def total(self) -> Decimal:
        """This line's share of the payment."""
        return self.penal + self.interest + self.principal


@dataclass(frozen=True, slots=True)
class Allocation:
    """How a payment was applied: one line per instalment it touched, in date order; `closes_loan` when it paid the
    payoff, with `interest_not_charged` the scheduled interest that early closure took off."""

    paid_on: date
    amount: Decimal
    lines: tuple[AllocationLine, ...]
    closes_loan: bool = False
    interest_not_charged: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class AppliedPayment:
    """The position after a payment, and how the payment was applied."""

    position: LoanPosition
    allocation: Allocation


def accrued_interest(schedule: Schedule, no: int, as_of: date) -> Decimal:
    """The interest of instalment `no`'s period accrued by `as_of` (a day within that period).

    EMI: `round(opening_k * r * days_since_previous_due / days_in_period)`, the previous due date being the
    disbursal date for the first period. Payday: `round(P * daily_percent / 100 * days)` for the days since
    disbursal, at least one and at most the tenure (a due date moved off a holiday adds no interest)."""
    instalment = schedule.instalments[no - 1]
    terms = schedule.terms
    if terms.kind is LoanKind.PAYDAY:
        assert terms.daily_percent is not None
        days = min(terms.tenure, max(1, (as_of - schedule.disbursed_on).days))
        return percent_of(terms.principal, terms.daily_percent, days)
    assert terms.annual_percent is not None
    start = schedule.period_start(no)
    elapsed = (as_of - start).days
    period = (instalment.due_date - start).days
    fraction = Fraction(min(max(elapsed, 0), period), period)
    return round_money(Fraction(instalment.opening) * monthly_rate(terms.annual_percent) * fraction)


def _quote(position: LoanPosition, as_of: date) -> PayoffQuote:
    """The payoff of a position whose open day is `as_of`."""
    if position.completed:
        return PayoffQuote(as_of, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, None)
    overdue = [i for i in position.instalments if i.due_date < as_of]
    not_due = [i for i in position.instalments if i.due_date >= as_of]
    current = not_due[0].no if not_due else None
    return PayoffQuote(
        as_of=as_of,
        overdue_penal=sum((i.penal_unpaid for i in overdue), ZERO),
        overdue_interest=sum((i.interest_unpaid for i in overdue), ZERO),
        overdue_principal=sum((i.principal_unpaid for i in overdue), ZERO),
        principal_not_due=sum((i.principal_unpaid for i in not_due), ZERO),
        accrued_interest=ZERO if current is None else accrued_interest(position.schedule, current, as_of),
        interest_paid_ahead=sum((i.interest_paid for i in not_due), ZERO),
        current_instalment=current,
    )


def _payoff_floor(position: LoanPosition, as_of: date) -> Decimal:
    """The payoff on `as_of` without the current period's accrued interest (never negative, so at most the payoff):
    a payment below it is below the payoff, and its quote (the interest accrued by days) need not be computed."""
    floor = ZERO
    for i in position.instalments:
        if i.due_date < as_of:
            floor += (
                i.principal_due - i.principal_paid + i.interest_due - i.interest_paid + i.penal_accrued - i.penal_paid
            )
        else:
            floor += i.principal_due - i.principal_paid - i.interest_paid
    return floor


def _check_date(position: LoanPosition, on: date, field: str, error: type[DayOutOfOrder]) -> None:
    if on < position.schedule.disbursed_on:
        raise InvalidValue(field, f"{on.isoformat()} is before the disbursal date {position.schedule.disbursed_on}")
    if on < position.open_day:
        raise error(
            f"{on.isoformat()} is already closed (closed through {position.closed_through.isoformat()}): "
            "replay the loan's facts for it",
            on=on.isoformat(),
            open_day=position.open_day.isoformat(),
        )


def payoff(position: LoanPosition, as_of: date) -> PayoffQuote:
    """The payoff quote on `as_of` (the open day or later; the days before it are closed on a copy, so penal
    charges up to the day before `as_of` count, and `as_of`'s own do not: it is still open for payment).
    DayOutOfOrder for an earlier date: a quote as of the past comes from replaying the facts up to it."""
    _check_date(position, as_of, "as_of", DayOutOfOrder)
    if as_of > position.open_day:
        position = advance_position(position, as_of)
    return _quote(position, as_of)


def allocate(position: LoanPosition, amount: Decimal, on: date) -> AppliedPayment:
    """Apply a payment of `amount` made on `on` (the position's open day); PaymentAbovePayoff, with nothing
    applied, when it is more than the payoff on that day."""
    parse_money(amount, "amount", positive=True)
    _check_date(position, on, "paid_on", PaymentOutOfOrder)
    if on != position.open_day:
        raise PaymentOutOfOrder(
            f"days before {on.isoformat()} are not closed yet (open day {position.open_day.isoformat()}): "
            "close them first (advance_to) or replay the loan's facts",
            on=on.isoformat(),
            open_day=position.open_day.isoformat(),
        )
    if amount >= _payoff_floor(position, on):  # else below the payoff for sure: the waterfall, no quote needed
        quote = _quote(position, on)
        if amount > quote.total:
            raise PaymentAbovePayoff(amount, quote.total, on)
        if amount == quote.total:
            return _close(position, amount, quote)
    remaining = amount
    instalments: list[InstalmentPosition] = []
    lines: list[AllocationLine] = []
    for instalment in position.instalments:
        if not remaining or instalment.settled:
            instalments.append(instalment)
            continue
        penal = min(remaining, instalment.penal_unpaid)
        remaining -= penal
        interest = min(remaining, instalment.interest_unpaid)
        remaining -= interest
        principal = min(remaining, instalment.principal_unpaid)
        remaining -= principal
        lines.append(AllocationLine(instalment.no, penal, interest, principal))
        instalments.append(  # the constructor, not dataclasses.replace: this runs for every payment of a replay
            InstalmentPosition(
                instalment.no,
                instalment.due_date,
                instalment.principal_due,
                instalment.interest_due,
                instalment.penal_accrued,
                instalment.principal_paid + principal,
                instalment.interest_paid + interest,
                instalment.penal_paid + penal,
            )
        )
    # Below the payoff there is always room: the schedule's unpaid amounts are at least the payoff.
    assert remaining == 0, "a payment below the payoff did not fit the schedule"
    return AppliedPayment(
        position=position.with_instalments(tuple(instalments)),
        allocation=Allocation(paid_on=on, amount=amount, lines=tuple(lines)),
    )


def _close(position: LoanPosition, amount: Decimal, quote: PayoffQuote) -> AppliedPayment:
    """The payment of the whole payoff: every instalment ends fully paid with the interest that closure leaves."""
    instalments: list[InstalmentPosition] = []
    lines: list[AllocationLine] = []
    not_charged = ZERO
    for instalment in position.instalments:
        interest_due = instalment.interest_due
        if instalment.due_date >= quote.as_of:
            interest_due = quote.accrued_interest if instalment.no == quote.current_instalment else ZERO
            not_charged += instalment.interest_due - interest_due
        closed = replace(
            instalment,
            interest_due=interest_due,
            penal_paid=instalment.penal_accrued,
            interest_paid=interest_due,
            principal_paid=instalment.principal_due,
        )
        line = AllocationLine(
            instalment.no,
            closed.penal_paid - instalment.penal_paid,
            closed.interest_paid - instalment.interest_paid,
            closed.principal_paid - instalment.principal_paid,
        )
        if line.penal or line.interest or line.principal:
            lines.append(line)
        instalments.append(closed)
    closed_position = replace(position, instalments=tuple(instalments), closed_on=quote.as_of)
    assert closed_position.paid - position.paid == amount, "the closing payment does not match the payoff"
    return AppliedPayment(
        position=closed_position,
        allocation=Allocation(
            paid_on=quote.as_of,
            amount=amount,
            lines=tuple(lines),
            closes_loan=True,
            interest_not_charged=not_charged,
        ),
    )
