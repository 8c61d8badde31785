"""A payout file's lines and control total (issue #14 item 5): one line per loan, the net disbursed amount
(LENDING.md "Fees, taxes, payout") to the borrower's verified bank account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from domain.loans.money import round_money

#: The modes a payout is sent by (the disburse endpoint's `mode`).
PAYOUT_MODES = ("IMPS", "NEFT", "UPI")


@dataclass(frozen=True)
class PayoutLine:
    """One loan's payout: whom to pay (the verified account), how much, and the loan it disburses."""

    loan_id: UUID
    loan_number: str
    beneficiary_name: str
    account_number: str
    ifsc: str
    amount: Decimal  # net disbursed, rupees to the paisa


@dataclass(frozen=True)
class ControlTotal:
    """What a bank checks a file against: how many lines, and their sum."""

    count: int
    amount: Decimal


def control_total(lines: Sequence[PayoutLine]) -> ControlTotal:
    """The row count and the exact sum of the lines' amounts (each already to the paisa)."""
    return ControlTotal(len(lines), round_money(sum((line.amount for line in lines), Decimal(0))))
