"""A full repayment collected in the field (spec, Collection Executive: "Record full repayment") on the in-memory
store: recorded at once when the amount is exactly what the loan owes on the day it was collected, closing the loan
(`completed`, or `settled` when it completes an approved settlement); any other amount, a written-off loan, a loan
no longer serviced or a date out of range is refused with nothing recorded."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.application_servicing import SERVICING_ATTEMPTS
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BRAND, closed_after_loads, event_names
from tests.application.loans.servicing_fixtures import MovableParties
from tests.application.loans.test_recoveries_app import D0, LATE, _overdue, catalogue, parties

S = LoanStatus
CENT = Decimal("0.01")
# The overdue loan of the collection-money tests, on their movable business date and penal terms (fixtures by name).
__all__ = ["catalogue", "parties"]


def _refused_amount(loans: Loans, loan_id: UUID, amount: Decimal, on: date | None = None) -> str:
    version = loans.get(BRAND, loan_id).version
    with pytest.raises(InvalidInput) as refused:
        loans.record_full_repayment(BRAND, loan_id, str(amount), "cash", "FULL-NO", on)
    (error,) = refused.value.errors
    assert error.field == "amount"
    assert loans.get(BRAND, loan_id).version == version
    return error.message


def test_the_amount_owed_today_closes_the_loan_at_once(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    owed = loans.owing(BRAND, loan_id, LATE)
    assert owed.what == "payoff" and owed.amount == loans.payoff(BRAND, loan_id).total
    for wrong in (owed.amount - CENT, owed.amount + CENT, Decimal("3000.00")):
        message = _refused_amount(loans, loan_id, wrong)
        assert f"its payoff that day is {owed.amount}" in message and "2026-03-20" in message, message
        assert "collection request, which needs approval" in message
    _, payment = loans.record_full_repayment(BRAND, loan_id, str(owed.amount), "cash", "FULL-1")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.COMPLETED and payment.closes_loan and payment.payoff_after == 0
    assert payment.paid_on == LATE and payment.reference == "FULL-1" and str(payment.mode) == "cash"
    assert list(loan.payments) == [payment.payment_id] and loan.collection_requests == {}  # no request, no approval
    assert event_names(loans, loan_id)[-1] == "RepaymentRecorded"
    with pytest.raises(Conflict) as again:  # completed: nothing more is owed
        loans.record_full_repayment(BRAND, loan_id, "1.00", "cash", "FULL-2")
    assert again.value.details["status"] == "completed"


def test_a_back_dated_full_repayment_is_what_was_owed_that_day(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    then = date(2026, 3, 10)
    owed = loans.owing(BRAND, loan_id, then).amount
    assert owed < loans.owing(BRAND, loan_id, LATE).amount  # penal charges since
    _refused_amount(loans, loan_id, loans.owing(BRAND, loan_id, LATE).amount, then)
    for day, field in ((LATE + timedelta(days=1), "collected_on"), (D0 - timedelta(days=1), "collected_on")):
        with pytest.raises(InvalidInput) as refused:
            loans.record_full_repayment(BRAND, loan_id, str(owed), "neft", "UTR-DAY", day)
        assert [e.field for e in refused.value.errors] == [field]
    _, payment = loans.record_full_repayment(BRAND, loan_id, str(owed), "neft", "UTR-FULL", then)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.COMPLETED and payment.paid_on == then and payment.closes_loan


def test_not_before_a_payment_already_recorded(loans: Loans, parties: MovableParties) -> None:
    """The figure owed on a day before a recorded payment does not count that payment: paid then, the two would be
    more than the loan owed. Refused naming the date, nothing recorded."""
    loan_id = _overdue(loans, parties)
    loans.record_repayment(BRAND, loan_id, "1000.00", "upi", "UTR-PART", date(2026, 3, 15))
    version = loans.get(BRAND, loan_id).version
    owed = loans.owing(BRAND, loan_id, date(2026, 3, 10)).amount
    with pytest.raises(InvalidInput) as refused:
        loans.record_full_repayment(BRAND, loan_id, str(owed), "cash", "FULL-EARLY", date(2026, 3, 10))
    (error,) = refused.value.errors
    assert error.field == "collected_on" and "2026-03-15" in error.message
    assert loans.get(BRAND, loan_id).version == version
    owed = loans.owing(BRAND, loan_id, LATE).amount
    loans.record_full_repayment(BRAND, loan_id, str(owed), "cash", "FULL-LATE")
    assert loans.get(BRAND, loan_id).status is S.COMPLETED


def test_input_and_reference_are_checked_as_a_repayments(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    loans.request_collection(BRAND, loan_id, "50.00", "cash", "RCPT-PENDING")
    version = loans.get(BRAND, loan_id).version
    owed = str(loans.owing(BRAND, loan_id, LATE).amount)
    with pytest.raises(InvalidInput) as caught:
        loans.record_full_repayment(BRAND, loan_id, "-5", "barter", "")
    assert {e.field for e in caught.value.errors} == {"amount", "mode", "reference"}
    with pytest.raises(Conflict):  # a pending request's reference
        loans.record_full_repayment(BRAND, loan_id, owed, "cash", "RCPT-PENDING")
    assert loans.get(BRAND, loan_id).version == version


def test_a_written_off_loan_is_a_409_with_nothing_recorded(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    _, ending = loans.write_off(BRAND, loan_id, "absconded")
    version = loans.get(BRAND, loan_id).version
    with pytest.raises(Conflict) as refused:
        loans.record_full_repayment(BRAND, loan_id, str(ending.total), "cash", "REC-FULL")
    assert "collection request" in refused.value.message and refused.value.details["status"] == "written_off"
    loan = loans.get(BRAND, loan_id)
    assert loan.version == version and loan.recoveries == {} and loan.status is S.WRITTEN_OFF


def test_what_is_left_of_an_approved_settlement_ends_it_settled(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    payoff = loans.payoff(BRAND, loan_id).total
    _, offer = loans.propose_settlement(BRAND, loan_id, "50000.00", "lost his job; one-time")
    loans.approve_settlement(BRAND, loan_id, offer.settlement_id)
    loans.record_repayment(BRAND, loan_id, "20000.00", "neft", "UTR-S1")
    owed = loans.owing(BRAND, loan_id, LATE)
    assert owed == (Decimal("30000.00"), "settlement left to pay")
    message = _refused_amount(loans, loan_id, payoff - Decimal("20000.00"))
    assert "its settlement left to pay that day is 30000.00" in message, message
    loans.record_full_repayment(BRAND, loan_id, "30000.00", "cash", "FULL-S")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.SETTLED and loan.ending is not None
    assert event_names(loans, loan_id)[-2:] == ["RepaymentRecorded", "Settled"]


def test_a_full_repayment_whose_loan_closed_a_day_meanwhile_is_decided_again(
    loans: Loans, parties: MovableParties, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close of business closing the loan's day while the executive records the payment: decided again on the
    loan as the close left it (the payoff of the business date does not move with it), both kept."""
    loan_id = _overdue(loans, parties)
    parties.today = LATE + timedelta(days=3)
    owed = loans.owing(BRAND, loan_id, parties.today).amount
    before = event_names(loans, loan_id)
    closed = closed_after_loads(loans, monkeypatch, [LATE, LATE + timedelta(days=1)][: SERVICING_ATTEMPTS - 1])
    loans.record_full_repayment(BRAND, loan_id, str(owed), "cash", "FULL-RACE")
    after = event_names(loans, loan_id)
    assert after[len(before) :] == ["DayClosed"] * len(closed) + ["RepaymentRecorded"]
    assert loans.get(BRAND, loan_id).status is S.COMPLETED
