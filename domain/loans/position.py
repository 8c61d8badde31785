"""A disbursed loan's running position: per instalment what is due and what is paid, penal charges, the asset class.

The position is a value, never a store. It starts from the schedule (`open_position`) and changes only through
three pure steps, each returning a new position:

- `overdue.close_day(position, day)` — the close of business of one day: penal charges on every instalment overdue
  that day, then DPD and the asset class;
- `payments.allocate(position, amount, on)` — one payment, by the LENDING.md waterfall;
- `overdue.advance_to(position, day)` — `close_day` for every day not yet closed before `day`.

Days are closed in order, one after the other from the disbursal date, and a payment is applied on the *open day*
(the day after the last closed one), before that day's close: a payment dated D bears on D's penal charges.

**Replay.** Everything the position holds is a function of the schedule, the penal terms and the loan's facts: the
payments (amount, date) that stand, and how far COB has run. `replay.replay(opening, facts, closed_through=...)`
rebuilds it by applying the payments in date order (the order they were recorded within a day), closing every day
before each payment's date and finally the days through `closed_through`. A fact that arrives out of order — a
payment dated before a day already closed, or a reversal — is handled the same way: the aggregate replays the facts
it holds with the new one (a reversed payment is left out, as if it never happened), and the difference between the
old and the new position is what the reversal re-opens: the instalments it had paid, the penal charges and the DPD
recomputed from its date, and any later payment re-allocated. The asset class is part of the replay, so an NPA
that a bounced payment had cured is NPA again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.loans.money import ZERO
from domain.loans.pricing import Pricing
from domain.loans.schedule import Schedule
from domain.loans.terms import PenalTerms


class AssetClass(StrEnum):
    """The RBI's classes of a loan by its days past due."""

    STANDARD = "standard"
    SMA_0 = "SMA-0"
    SMA_1 = "SMA-1"
    SMA_2 = "SMA-2"
    NPA = "NPA"

    @classmethod
    def for_dpd(cls, dpd: int) -> AssetClass:
        """The class of `dpd` days past due alone: 0 standard, 1–30 SMA-0, 31–60 SMA-1, 61–90 SMA-2, above NPA."""
        if dpd <= 0:
            return cls.STANDARD
        if dpd <= 30:
            return cls.SMA_0
        if dpd <= 60:
            return cls.SMA_1
        if dpd <= 90:
            return cls.SMA_2
        return cls.NPA


class InstalmentStatus(StrEnum):
    """Where one instalment stands on a date."""

    DUE = "due"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class InstalmentPosition:
    """One instalment: due date, principal and interest due and paid, penal charges accrued and paid."""

    no: int
    due_date: date
    principal_due: Decimal
    interest_due: Decimal
    penal_accrued: Decimal = ZERO
    principal_paid: Decimal = ZERO
    interest_paid: Decimal = ZERO
    penal_paid: Decimal = ZERO

    @property
    def principal_unpaid(self) -> Decimal:
        """Principal still to pay."""
        return self.principal_due - self.principal_paid

    @property
    def interest_unpaid(self) -> Decimal:
        """Interest still to pay."""
        return self.interest_due - self.interest_paid

    @property
    def penal_unpaid(self) -> Decimal:
        """Penal charges accrued and not paid."""
        return self.penal_accrued - self.penal_paid

    @property
    def unpaid(self) -> Decimal:
        """Everything still to pay on this instalment."""
        return self.principal_unpaid + self.interest_unpaid + self.penal_unpaid

    @property
    def paid(self) -> Decimal:
        """Everything paid on this instalment."""
        return self.principal_paid + self.interest_paid + self.penal_paid

    @property
    def settled(self) -> bool:
        """Principal, interest and penal charges all paid."""
        return (
            self.principal_paid == self.principal_due
            and self.interest_paid == self.interest_due
            and self.penal_paid == self.penal_accrued
        )

    def overdue_on(self, day: date) -> bool:
        """Not fully paid by its due date: overdue from the day after it."""
        return self.due_date < day and not self.settled

    def status(self, as_of: date) -> InstalmentStatus:
        """Paid, overdue (not paid by its due date), partially paid (some paid, not yet due) or due."""
        if self.settled:
            return InstalmentStatus.PAID
        if self.due_date < as_of:
            return InstalmentStatus.OVERDUE
        return InstalmentStatus.PARTIALLY_PAID if self.paid else InstalmentStatus.DUE


@dataclass(frozen=True, slots=True)
class LoanPosition:
    """A loan's position after the close of business of `closed_through` (the day before disbursal at first)."""

    schedule: Schedule
    penal: PenalTerms
    instalments: tuple[InstalmentPosition, ...]
    closed_through: date
    asset_class: AssetClass = AssetClass.STANDARD
    closed_on: date | None = None
    pricing: Pricing | None = None

    @property
    def open_day(self) -> date:
        """The day payments are applied to next: the first day whose close of business has not run."""
        return self.closed_through + timedelta(days=1)

    @property
    def completed(self) -> bool:
        """The payoff reached zero (on `closed_on`)."""
        return self.closed_on is not None

    @property
    def first_unsettled(self) -> InstalmentPosition | None:
        """The oldest instalment not fully paid, if any."""
        return next((i for i in self.instalments if not i.settled), None)

    @property
    def paid(self) -> Decimal:
        """Everything paid so far (what the payments that stand add up to)."""
        return sum((i.paid for i in self.instalments), ZERO)

    @property
    def fees_outstanding(self) -> Decimal:
        """Fees and their GST are taken out of the payout (LENDING.md, "Fees, taxes, payout"): none stays owed."""
        return ZERO

    def with_instalments(self, instalments: tuple[InstalmentPosition, ...]) -> LoanPosition:
        """This position with other instalment figures."""
        return replace(self, instalments=instalments)


def open_position(schedule: Schedule, penal: PenalTerms, pricing: Pricing | None = None) -> LoanPosition:
    """The position of a loan on its disbursal date: every instalment due as scheduled, nothing paid or charged."""
    instalments = tuple(
        InstalmentPosition(no=i.no, due_date=i.due_date, principal_due=i.principal, interest_due=i.interest)
        for i in schedule.instalments
    )
    return LoanPosition(
        schedule=schedule,
        penal=penal,
        instalments=instalments,
        closed_through=schedule.disbursed_on - timedelta(days=1),
        pricing=pricing,
    )
