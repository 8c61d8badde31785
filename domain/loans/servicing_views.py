"""What a serviced loan shows (issue #15): the schedule with what is paid and each instalment's status, the
outstanding split, DPD, the class and the next due instalment on the business date, and the loan ledger.

Pure functions of the Loan's servicing facts (replayed by `domain.loans.replay`): the API answers from the loan's
events, so the schedule and the ledger are always the events' own figures. The ledger's running outstanding posts
interest on each due date (and the interest a closure leaves on its date); the `outstanding` block is the payoff on
the business date (interest accrued by days): the two agree on principal and penal charges, and on interest at
every due date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain.loans.loan_servicing import LoanServicing
from domain.loans.money import ZERO
from domain.loans.overdue import days_past_due, next_asset_class
from domain.loans.payments import payoff
from domain.loans.position import InstalmentStatus, LoanPosition
from domain.loans.replay import PaymentMade


@dataclass(frozen=True)
class ScheduleItem:
    """One instalment as serviced: amounts due, what is paid, what is unpaid, its status on the business date."""

    no: int
    due_date: date
    principal: Decimal
    interest: Decimal
    amount: Decimal
    penal: Decimal
    paid: Decimal
    unpaid: Decimal
    status: InstalmentStatus


@dataclass(frozen=True)
class Outstanding:
    """What is owed, split (the payoff on the business date)."""

    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal
    total: Decimal


@dataclass(frozen=True)
class NextDue:
    """The next instalment not fully paid that falls due on or after the business date."""

    no: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class ServicingView:
    """A serviced loan on `as_of` (the business date)."""

    as_of: date
    schedule: tuple[ScheduleItem, ...]
    outstanding: Outstanding
    dpd: int
    asset_class: str
    next_due: NextDue | None
    cob_through: date | None
    closed_on: date | None


@dataclass(frozen=True)
class Running:
    """The running outstanding after a posting."""

    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal

    @property
    def total(self) -> Decimal:
        """All of it."""
        return self.principal + self.interest + self.penal + self.fees


@dataclass(frozen=True)
class Posting:
    """One ledger line: what it moved in each bucket (positive: owed more) and the running outstanding after it."""

    on: date
    kind: str  # disbursal, fee, gst, fees_deducted, interest_due, penal_charge, payment, reversal, waiver,
    # settlement_waiver, write_off, recovery (domain/loans/recovery_views.py)
    description: str
    amount: Decimal
    principal: Decimal
    interest: Decimal
    penal: Decimal
    fees: Decimal
    payment_id: str | None
    running: Running


def servicing_view(loan: LoanServicing, as_of: date, replayed: LoanPosition | None = None) -> ServicingView:
    """The loan on `as_of` (its business date): the days COB has not run yet are closed on a copy. `replayed`: the
    loan's replayed position when the caller has it (`domain.loans.checkpoint.position_of`)."""
    ending = getattr(loan, "ending", None)
    if ending is not None and as_of >= ending.on:
        from domain.loans.recovery_views import ended_view  # late: that module builds on this one

        return ended_view(loan, ending.through, as_of)
    position = loan.replayed().position if replayed is None else replayed
    day = max(as_of, position.open_day)
    position = loan.position_after(position, day)
    items = tuple(
        ScheduleItem(
            no=i.no,
            due_date=i.due_date,
            principal=i.principal_due,
            interest=i.interest_due,
            amount=i.principal_due + i.interest_due,
            penal=i.penal_accrued,
            paid=i.paid,
            unpaid=i.unpaid,
            status=i.status(as_of),
        )
        for i in position.instalments
    )
    if position.completed:
        outstanding = Outstanding(ZERO, ZERO, ZERO, ZERO, ZERO)
        dpd, asset_class, upcoming = 0, "standard", None
    else:
        quote = payoff(position, day)
        outstanding = Outstanding(
            principal=quote.overdue_principal + quote.principal_not_due,
            interest=quote.overdue_interest + quote.accrued_interest - quote.interest_paid_ahead,
            penal=quote.overdue_penal,
            fees=position.fees_outstanding,
            total=quote.total,
        )
        dpd = days_past_due(position, as_of)
        asset_class = str(next_asset_class(position.asset_class, position, as_of))
        upcoming = next(
            (
                NextDue(i.no, i.due_date, i.unpaid)
                for i in position.instalments
                if not i.settled and i.due_date >= as_of
            ),
            None,
        )
    return ServicingView(
        as_of=as_of,
        schedule=items,
        outstanding=outstanding,
        dpd=dpd,
        asset_class=asset_class,
        next_due=upcoming,
        cob_through=loan.cob_through,
        closed_on=position.closed_on,
    )


_ORDER = {"disbursal": 0, "fee": 1, "gst": 2, "fees_deducted": 3, "interest_due": 4, "payment": 5, "reversal": 6,
          "penal_charge": 7, "waiver": 6, "settlement_waiver": 9, "write_off": 9, "recovery": 10}  # fmt: skip


def ledger(loan: LoanServicing, as_of: date) -> tuple[Posting, ...]:
    """Every posting of the loan through `as_of`, in date order, with the running outstanding."""
    schedule = loan.servicing_schedule
    if schedule is None:
        return ()
    # Through the day before `as_of`, like the payoff and the GET (days COB has not run are closed on a copy).
    through = max(as_of - timedelta(days=1), loan.cob_through or as_of - timedelta(days=1))
    ending = getattr(loan, "ending", None)
    if ending is not None and as_of >= ending.on:
        through, as_of = ending.through, ending.on  # nothing accrues after a settlement or write-off
    replayed = loan.replayed(through=through)
    position = replayed.position
    lines: list[tuple[date, str, str, Decimal, Decimal, Decimal, Decimal, str | None]] = []
    # (on, kind, description, principal, interest, penal, fees, payment_id)
    start = schedule.disbursed_on
    lines.append((start, "disbursal", "principal disbursed", schedule.principal, ZERO, ZERO, ZERO, None))
    pricing = loan.sanction_pricing
    if pricing is not None:
        for name, fee in (("processing fee", pricing.processing_fee), ("convenience fee", pricing.convenience_fee)):
            if fee.amount:
                inside = " (GST inside)" if fee.gst_inclusive else ""
                lines.append((start, "fee", f"{name}{inside}", ZERO, ZERO, ZERO, fee.amount, None))
            if fee.gst_on_top:
                lines.append((start, "gst", f"GST on the {name}", ZERO, ZERO, ZERO, fee.gst_on_top, None))
        if pricing.deductions:
            lines.append((start, "fees_deducted", f"fees and GST deducted from the payout (net disbursed "
                          f"{pricing.net_disbursed})", ZERO, ZERO, ZERO, -pricing.deductions, None))  # fmt: skip
    closed_on = position.closed_on
    for i in position.instalments:
        on = i.due_date if closed_on is None or i.due_date < closed_on else closed_on
        if i.interest_due and on <= as_of:
            what = f"interest of instalment {i.no}" + (" accrued to closure" if on != i.due_date else "")
            lines.append((on, "interest_due", what, ZERO, i.interest_due, ZERO, ZERO, None))
    by_day: dict[date, Decimal] = {}
    for charge in replayed.charges:
        by_day[charge.day] = by_day.get(charge.day, ZERO) + charge.amount
    for day, amount in by_day.items():
        lines.append((day, "penal_charge", "penal charges at close of business", ZERO, ZERO, amount, ZERO, None))
    allocations = dict(replayed.allocations)
    for payment in loan.payments.values():
        applied = allocations.get(payment.payment_id)
        parts = (
            [(a.penal, a.interest, a.principal) for a in applied.lines]
            if applied is not None
            else [(a.penal, a.interest, a.principal) for a in payment.allocation]
        )
        penal = sum((p for p, _, _ in parts), ZERO)
        interest = sum((i for _, i, _ in parts), ZERO)
        principal = sum((c for _, _, c in parts), ZERO)
        what = f"payment {payment.amount} ({payment.mode} {payment.reference})"
        lines.append((payment.paid_on, "payment", what, -principal, -interest, -penal, ZERO, payment.payment_id))
        if payment.reversed_on is not None:
            why = f"reversal of the payment {payment.reference}: {payment.reversal_reason}"
            lines.append((max(payment.reversed_on, payment.paid_on), "reversal", why, principal, interest, penal,
                          ZERO, payment.payment_id))  # fmt: skip
    from domain.loans.recovery_views import recovery_lines  # late: that module builds on this one

    lines.extend(recovery_lines(loan, replayed))
    lines.sort(key=lambda line: (line[0], _ORDER[line[1]]))
    amounts = {r.payment_id: r.amount for r in (*loan.payments.values(), *getattr(loan, "recoveries", {}).values())}
    running = Running(ZERO, ZERO, ZERO, ZERO)
    postings: list[Posting] = []
    for on, kind, what, principal, interest, penal, fees, payment_id in lines:
        running = Running(
            running.principal + principal, running.interest + interest, running.penal + penal, running.fees + fees
        )
        amount = (
            abs(principal + interest + penal + fees)
            if kind not in ("payment", "reversal", "recovery")
            else amounts[payment_id or ""]
        )
        postings.append(Posting(on, kind, what, amount, principal, interest, penal, fees, payment_id, running))
    return tuple(postings)


def standing_payments(loan: LoanServicing) -> tuple[PaymentMade, ...]:
    """The payments that stand (not reversed), in the order recorded."""
    reversed_ids = {p.payment_id for p in loan.payments.values() if p.reversed_on is not None}
    return tuple(f for f in loan.servicing_facts if isinstance(f, PaymentMade) and f.payment_id not in reversed_ids)
