"""Rebuilding a loan's position from its facts (see domain/loans/position.py): payments that stand, in date order,
with every day closed up to each payment's date and then through the last day COB has run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from domain.loans.overdue import PenalCharge, advance_owing
from domain.loans.payments import Allocation, PaymentAbovePayoff, allocate
from domain.loans.position import LoanPosition
from domain.loans.waivers import waive_penal
from domain.shared.errors import InvalidValue


@dataclass(frozen=True, slots=True)
class PaymentMade:
    """A payment received: its id (to reverse it by), amount and the date it was paid on."""

    payment_id: str
    amount: Decimal
    paid_on: date


@dataclass(frozen=True, slots=True)
class PaymentReversed:
    """A payment taken back (a bounced cheque, a chargeback): the position is as if it had never been made."""

    payment_id: str


@dataclass(frozen=True, slots=True)
class PenalWaived:
    """An approved penal-charge waiver (issue #16): on `on` (after the days before it are closed) up to `amount` of
    the unpaid penal charges are forgiven, oldest instalment first (`domain.loans.waivers.waive_penal`)."""

    waiver_id: str
    amount: Decimal
    on: date


Fact = PaymentMade | PaymentReversed | PenalWaived


@dataclass(frozen=True, slots=True)
class Replayed:
    """A rebuilt position, how each standing payment was applied, and every penal charge on the way."""

    position: LoanPosition
    allocations: tuple[tuple[str, Allocation], ...]
    charges: tuple[PenalCharge, ...]
    waivers: tuple[tuple[str, Decimal], ...] = ()  # (waiver id, amount forgiven) of each PenalWaived replayed

    @property
    def penal_charged(self) -> Decimal:
        """The penal charges of the replayed days together."""
        return sum((c.amount for c in self.charges), Decimal("0.00"))

    @property
    def principal_interest_paid(self) -> Decimal:
        """The scheduled principal + interest the standing payments paid, as this replay allocated them (penal
        charges not included)."""
        return sum(
            (line.interest + line.principal for _, allocation in self.allocations for line in allocation.lines),
            Decimal("0.00"),
        )


def replay(opening: LoanPosition, facts: Iterable[Fact], *, closed_through: date | None = None) -> Replayed:
    """The position from `opening` after the `facts` (in the order recorded) and the close of every day through
    `closed_through` (or the day before the last payment). Payments are applied in date order, those of one day
    in the order recorded; a reversed payment is left out. PaymentAbovePayoff, naming the payment (`payment_id`), when a
    payment does not fit (a new fact the aggregate is checking, or a later payment a back-dated new one displaces: a
    reversal only ever raises the payoff of later dates)."""
    facts = list(facts)
    reversed_ids = {f.payment_id for f in facts if isinstance(f, PaymentReversed)}
    payments = sorted(
        (f for f in facts if (isinstance(f, PaymentMade) and f.payment_id not in reversed_ids)
         or isinstance(f, PenalWaived)),
        key=lambda p: p.on if isinstance(p, PenalWaived) else p.paid_on,  # stable: the recorded order within a day
    )  # fmt: skip
    position = opening
    allocations: list[tuple[str, Allocation]] = []
    charges: list[PenalCharge] = []
    waivers: list[tuple[str, Decimal]] = []
    # At least what the position owes, once a charge needed it (overdue.py, the money bound): charges add to it, and
    # payments and waivers only lower what is owed, so it stays an upper bound without summing every instalment again.
    owed: Decimal | None = None
    for payment in payments:
        if isinstance(payment, PenalWaived):
            position, closed, owed = advance_owing(position, max(payment.on, position.open_day), owed)
            charges.extend(closed)
            position, forgiven = waive_penal(position, payment.amount)
            waivers.append((payment.waiver_id, forgiven))
            continue
        if payment.paid_on < opening.open_day:
            raise InvalidValue(
                "paid_on", f"payment {payment.payment_id} is dated before {opening.open_day.isoformat()}"
            )
        position, closed, owed = advance_owing(position, payment.paid_on, owed)
        charges.extend(closed)
        try:
            applied = allocate(position, payment.amount, payment.paid_on)
        except PaymentAbovePayoff as refused:  # which fact does not fit: the one asked for, or one after it
            raise PaymentAbovePayoff(refused.amount, refused.payoff, refused.on, payment.payment_id) from None
        position = applied.position
        allocations.append((payment.payment_id, applied.allocation))
    if closed_through is not None and closed_through >= position.open_day:
        position, closed, owed = advance_owing(position, closed_through + timedelta(days=1), owed)
        charges.extend(closed)
    return Replayed(position=position, allocations=tuple(allocations), charges=tuple(charges), waivers=tuple(waivers))
