"""The loan side of collections keeps what promises are judged by: each payment's recorded instant, and the day the
loan came to owe nothing (set when it completes, settles or is all recovered, cleared when a reversal re-opens it)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from domain.loans import servicing_events as sv
from domain.loans.loan import Loan
from domain.loans.states import LoanStatus
from projections.collection_dues import CollectionDuesView
from projections.projection import Write

LOAN = uuid.uuid4()
AT = datetime(2026, 3, 6, 9, 30, tzinfo=UTC)


def _writes(event: object) -> list[Write]:
    """The projector's writes for a loan event (of the `Loan` class's own event classes, as stored)."""
    changes = list(CollectionDuesView().project(7, event))
    assert all(isinstance(c, Write) for c in changes)
    return [c for c in changes if isinstance(c, Write)]


def _owes_nothing(writes: list[Write]) -> list[Write]:
    return [w for w in writes if "owes_nothing_on" in w.sql]


def _payment(status: LoanStatus) -> sv.RepaymentRecorded:
    record = sv.PaymentRecord(payment_id="p-1", amount=Decimal("8100.00"), mode=sv.PaymentMode.CASH, reference="F-1",
                              paid_on=date(2026, 3, 5), recorded_on=date(2026, 3, 6), allocation=())  # fmt: skip
    return Loan.RepaymentRecorded(originator_id=LOAN, originator_version=9, timestamp=AT, status=status,
                                reason="repayment", payment=record)  # fmt: skip


def test_a_payment_is_kept_with_the_instant_it_was_recorded_and_one_that_completes_the_loan_ends_what_it_owes() -> None:
    (row, _paid) = _writes(_payment(LoanStatus.PARTIALLY_PAID))
    assert isinstance(row.params, dict) and (row.params["paid_on"], row.params["at"]) == (date(2026, 3, 5), AT)
    (ended,) = _owes_nothing(_writes(_payment(LoanStatus.COMPLETED)))
    assert "max(p.paid_on)" in ended.sql and ended.params == {"loan": LOAN}


def test_a_waiver_that_completes_the_loan_ends_what_it_owes_on_the_day_it_was_approved() -> None:
    def waiver(status: LoanStatus) -> Loan.WaiverApproved:
        return Loan.WaiverApproved(originator_id=LOAN, originator_version=11, timestamp=AT, status=status,
                                 reason="waived", waiver_id="w-1", amount=Decimal("72.36"),
                                 waived_on=date(2026, 3, 8))  # fmt: skip

    (ended,) = _owes_nothing(_writes(waiver(LoanStatus.COMPLETED)))
    assert isinstance(ended.params, dict) and ended.params["on"] == date(2026, 3, 8)
    assert _writes(waiver(LoanStatus.OVERDUE)) == []  # a waiver that leaves something owed changes nothing here


def test_a_reversal_that_reopens_the_loan_clears_the_day_it_owed_nothing() -> None:
    def reversal(status: LoanStatus) -> Loan.RepaymentReversed:
        return Loan.RepaymentReversed(originator_id=LOAN, originator_version=12, timestamp=AT, status=status,
                                    reason="bounced", payment_id="p-1", reversed_on=date(2026, 3, 9),
                                    amount=Decimal("8100.00"))  # fmt: skip

    (cleared,) = _owes_nothing(_writes(reversal(LoanStatus.OVERDUE)))
    assert "owes_nothing_on = NULL" in cleared.sql
    assert _owes_nothing(_writes(reversal(LoanStatus.SETTLED))) == []
