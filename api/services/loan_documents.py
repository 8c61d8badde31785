"""Receipts of a loan's repayments and the letter of a settled loan (`adapters/receipt_pdf.py`): rendered from the
loan's events and the names of its lender and borrower on every download, nothing stored, the same bytes each time.

A receipt exists for every repayment the loan holds, whatever its channel (staff, payment link, UPI Autopay, an
approved collection or manual receipt) and for a recovery after a write-off; a reversed repayment's receipt says
REVERSED with the reversal's date and reason (the borrower who kept the first one can tell it no longer counts)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from adapters.receipt_pdf import (
    ReceiptContent,
    SettlementLetterContent,
    receipt_number,
    render_receipt,
    render_settlement_letter,
)
from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.loans.loan_servicing import RepaymentNotFound
from domain.loans.money import ZERO
from domain.loans.recovery_events import EndKind
from domain.loans.servicing_events import PaymentRecord
from domain.shared.errors import Conflict

#: How many of a loan's latest payments the borrower's payment page lists.
LATEST = 10


@dataclass(frozen=True)
class LoanDocument:
    """A rendered PDF, its SHA-256 and a file name."""

    pdf: bytes
    sha256: str
    filename: str


def _document(pdf: bytes, filename: str) -> LoanDocument:
    return LoanDocument(pdf, hashlib.sha256(pdf).hexdigest(), filename)


def latest_payments(loan: Loan, count: int = LATEST) -> list[PaymentRecord]:
    """The loan's latest repayments and recoveries, newest recorded first (reversed ones included)."""
    recorded = [*loan.payments.values(), *loan.recoveries.values()]  # recoveries come only after the write-off
    return recorded[::-1][:count]


@dataclass(frozen=True)
class LoanDocuments:
    """Receipts and settlement letters."""

    loans: Loans
    customers: Customers
    identity: Identity

    def _names(self, loan: Loan) -> tuple[str, str]:
        return self.identity.brand(loan.brand_id).name, self.customers.get(loan.brand_id, loan.customer_id).name

    def receipt(self, brand_id: UUID, loan_id: UUID, payment_id: str) -> LoanDocument:
        """The receipt of one of the loan's repayments or recoveries (404 for an unknown one)."""
        loan = self.loans.get(brand_id, loan_id)
        return self.receipt_of(loan, payment_id)

    def receipt_of(self, loan: Loan, payment_id: str) -> LoanDocument:
        """The receipt of one of this loan's repayments or recoveries (404 for an unknown one)."""
        lender, borrower = self._names(loan)
        payment = loan.payments.get(payment_id)
        if payment is not None:
            content = ReceiptContent(lender, borrower, loan.loan_number, payment)
        else:
            content = self._recovery(loan, payment_id, lender, borrower)
        return _document(render_receipt(content), f"receipt-{receipt_number(payment_id)}.pdf")

    @staticmethod
    def _recovery(loan: Loan, payment_id: str, lender: str, borrower: str) -> ReceiptContent:
        if payment_id not in loan.recoveries or loan.ending is None:
            raise RepaymentNotFound(f"repayment {payment_id} not found", id=payment_id)
        recovered = ZERO
        for recovery in loan.recoveries.values():  # in the order recorded: what was left after each
            recovered += recovery.amount
            if recovery.payment_id == payment_id:
                left = loan.ending.total - recovered
                return ReceiptContent(lender, borrower, loan.loan_number, recovery, True, left)
        raise AssertionError("unreachable: the recovery is in the loan")  # pragma: no cover

    def settlement_letter(self, brand_id: UUID, loan_id: UUID) -> LoanDocument:
        """The letter of a settled loan (409 for any other)."""
        return self.settlement_letter_of(self.loans.get(brand_id, loan_id))

    def settlement_letter_of(self, loan: Loan) -> LoanDocument:
        """The letter of this loan, when it is settled (409 otherwise)."""
        ending = loan.ending
        settlement = loan.settlements.get(ending.settlement_id or "") if ending is not None else None
        if ending is None or ending.kind is not EndKind.SETTLED or settlement is None:
            raise Conflict(f"only a settled loan has a settlement letter; this one is {loan.status.words}",
                           status=str(loan.status))  # fmt: skip
        lender, borrower = self._names(loan)
        schedule = loan.servicing_schedule
        sanctioned = loan.sanctioned_amount or (schedule.principal if schedule is not None else ZERO)
        content = SettlementLetterContent(lender, borrower, loan.loan_number, sanctioned, settlement, ending,
                                          loan.paid_standing())  # fmt: skip
        return _document(render_settlement_letter(content), f"settlement-letter-{loan.loan_number}.pdf")
