"""Penal-charge waivers and the balance a settlement or write-off leaves (issue #16): pure functions of a position.

A waiver forgives unpaid penal charges, oldest instalment first: the instalment's accrued penal charges are lowered
by what is forgiven, so the payoff, the waterfall, DPD and the class that follow see the charge as never made (the
ledger shows the charge and the waiver posting both). `balance_left` is what a settlement or a write-off takes off
the ledger on its day: everything the ledger holds then (principal not repaid, interest posted at due dates and not
paid, penal charges not paid), so the ledger's running outstanding ends at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from domain.loans.money import ZERO
from domain.loans.position import LoanPosition


def penal_unpaid(position: LoanPosition) -> Decimal:
    """The penal charges accrued (net of waivers) and not paid."""
    return sum((i.penal_unpaid for i in position.instalments), ZERO)


def waive_penal(position: LoanPosition, amount: Decimal) -> tuple[LoanPosition, Decimal]:
    """Forgive up to `amount` of the unpaid penal charges, oldest instalment first; the new position and what was
    forgiven (less than `amount` only when less is unpaid, e.g. a back-dated payment paid some meanwhile)."""
    remaining = amount
    instalments = []
    for instalment in position.instalments:
        take = min(remaining, instalment.penal_unpaid) if remaining > 0 else ZERO
        if take > 0:
            instalment = replace(instalment, penal_accrued=instalment.penal_accrued - take)
            remaining -= take
        instalments.append(instalment)
    return position.with_instalments(tuple(instalments)), amount - remaining


@dataclass(frozen=True, slots=True)
class BalanceLeft:
    """What the ledger still holds on a day, by bucket."""

    principal: Decimal
    interest: Decimal
    penal: Decimal

    @property
    def total(self) -> Decimal:
        """All of it."""
        return self.principal + self.interest + self.penal


def balance_left(position: LoanPosition, on: date) -> BalanceLeft:
    """The ledger's running outstanding on `on`: principal not repaid, the interest of instalments due by `on`
    less all interest paid (paid ahead counts), penal charges not paid (the position closed through the day
    before `on`)."""
    return BalanceLeft(
        principal=sum((i.principal_unpaid for i in position.instalments), ZERO),
        interest=sum((i.interest_due for i in position.instalments if i.due_date <= on), ZERO)
        - sum((i.interest_paid for i in position.instalments), ZERO),
        penal=penal_unpaid(position),
    )
