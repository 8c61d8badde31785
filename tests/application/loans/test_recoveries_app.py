"""Collection money on the in-memory store (issue #16 items 5-7): partial collections counted only once approved,
manual receipts, penal-charge waivers, settlements and write-off, recoveries after it; every refusal records
nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.loans.application import Loans
from domain.loans.application_servicing import SERVICING_ATTEMPTS
from domain.loans.loan_recoveries import RecoveryRequestNotFound
from domain.loans.recovery_events import CollectionKind, RequestStatus
from domain.loans.servicing_views import ledger, servicing_view
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalTerms
from domain.shared.application import ConcurrentModification
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, closed_after_loads, event_names, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

S = LoanStatus
D0 = date(2026, 1, 31)  # dues 28 Feb, 31 Mar, ...
LATE = date(2026, 3, 20)  # instalment 1 twenty days overdue


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.1")))})


def _overdue(loans: Loans, parties: MovableParties, day: date = LATE) -> object:
    loan_id = disbursed(loans, D0)
    parties.today = day
    loans.close_business_day(BRAND, loan_id, day - timedelta(days=1))
    return loan_id


def _balance(loans: Loans, loan_id: object, as_of: date) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    postings = ledger(loans.get(BRAND, loan_id), as_of)  # type: ignore[arg-type]
    p = i = n = f = Decimal("0.00")
    for post in postings:
        p, i, n, f = p + post.principal, i + post.interest, n + post.penal, f + post.fees
    return p, i, n, f


def test_a_collection_counts_only_once_approved(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    before = loans.payoff(BRAND, loan_id).total
    _, request = loans.request_collection(BRAND, loan_id, "3000.00", "cash", "RCPT-1", date(2026, 3, 19))
    assert request.status is RequestStatus.PENDING_APPROVAL
    loan = loans.get(BRAND, loan_id)
    assert loan.payments == {} and loans.payoff(BRAND, loan_id).total == before
    loans.approve_collection(BRAND, loan_id, request.request_id)
    loan = loans.get(BRAND, loan_id)
    (payment,) = loan.payments.values()
    assert payment.amount == Decimal("3000.00") and payment.paid_on == date(2026, 3, 19)
    assert loan.collection_requests[request.request_id].payment_id == payment.payment_id
    # penal first (19 days by then), then interest: the LENDING.md waterfall
    assert payment.allocation[0].penal > 0 and payment.allocation[0].interest > 0
    assert event_names(loans, loan_id)[-2:] == ["RepaymentRecorded", "CollectionApproved"]
    with pytest.raises(Conflict):  # approve twice
        loans.approve_collection(BRAND, loan_id, request.request_id)
    with pytest.raises(Conflict):
        loans.reject_collection(BRAND, loan_id, request.request_id, "changed my mind")


def test_a_rejected_collection_never_counts(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    _, request = loans.request_collection(BRAND, loan_id, "3000.00", "cash", "RCPT-2")
    with pytest.raises(InvalidInput):  # a reason is needed
        loans.reject_collection(BRAND, loan_id, request.request_id, " ")
    loans.reject_collection(BRAND, loan_id, request.request_id, "cash never reached the branch")
    loan = loans.get(BRAND, loan_id)
    assert loan.payments == {} and loan.collection_requests[request.request_id].status is RequestStatus.REJECTED
    with pytest.raises(Conflict):
        loans.approve_collection(BRAND, loan_id, request.request_id)
    # the reference of a rejected request is free again
    loans.request_collection(BRAND, loan_id, "10.00", "cash", "RCPT-2")


def test_duplicate_references_and_bad_input_are_refused_with_nothing_recorded(
    loans: Loans, parties: MovableParties
) -> None:
    loan_id = _overdue(loans, parties)
    loans.record_repayment(BRAND, loan_id, "100.00", "upi", "UTR-9")
    loans.request_collection(BRAND, loan_id, "50.00", "cash", "RCPT-3")
    version = loans.get(BRAND, loan_id).version
    with pytest.raises(Conflict):
        loans.request_collection(BRAND, loan_id, "50.00", "cash", "UTR-9")  # a repayment's reference
    with pytest.raises(Conflict):
        loans.request_collection(BRAND, loan_id, "50.00", "cash", "RCPT-3")  # a pending request's
    with pytest.raises(Conflict):
        loans.record_repayment(BRAND, loan_id, "50.00", "cash", "RCPT-3")  # nor a repayment with it
    with pytest.raises(InvalidInput) as caught:
        loans.request_collection(BRAND, loan_id, "-5", "barter", "")
    assert {e.field for e in caught.value.errors} == {"amount", "mode", "reference"}
    with pytest.raises(InvalidInput):  # above the payoff
        loans.request_collection(BRAND, loan_id, "999999.00", "cash", "RCPT-4")
    with pytest.raises(InvalidInput):  # after the business date
        loans.request_collection(BRAND, loan_id, "5.00", "cash", "RCPT-5", date(2026, 3, 21))
    with pytest.raises(RecoveryRequestNotFound):
        loans.approve_collection(BRAND, loan_id, "no-such-request")
    assert loans.get(BRAND, loan_id).version == version


def test_a_receipt_is_confirmed_at_its_own_address(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    _, receipt = loans.request_collection(BRAND, loan_id, "700.00", "cash", "MR-1", kind=CollectionKind.RECEIPT)
    with pytest.raises(Conflict):  # not through the collections approval
        loans.approve_collection(BRAND, loan_id, receipt.request_id)
    loans.approve_collection(BRAND, loan_id, receipt.request_id, CollectionKind.RECEIPT)
    assert [p.amount for p in loans.get(BRAND, loan_id).payments.values()] == [Decimal("700.00")]


def test_an_approval_above_the_payoff_then_is_refused(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    payoff = loans.payoff(BRAND, loan_id).total
    _, request = loans.request_collection(BRAND, loan_id, str(payoff - 10), "cash", "R-A")
    loans.record_repayment(BRAND, loan_id, "100.00", "upi", "UTR-B")
    with pytest.raises(InvalidInput):
        loans.approve_collection(BRAND, loan_id, request.request_id)
    assert loans.get(BRAND, loan_id).collection_requests[request.request_id].status is RequestStatus.PENDING_APPROVAL


def test_a_back_dated_collection_must_fit_the_payoff_of_its_own_day(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    today = loans.payoff(BRAND, loan_id).total
    back = date(2026, 2, 10)
    then = loans.payoff(BRAND, loan_id, back).total
    assert then < today
    version = loans.get(BRAND, loan_id).version
    with pytest.raises(InvalidInput) as caught:  # fits today's payoff, not that of the day it was collected
        loans.request_collection(BRAND, loan_id, str(today), "cash", "R-BACK", back)
    assert [e.field for e in caught.value.errors] == ["amount"]
    assert str(then) in str(caught.value)
    assert loans.get(BRAND, loan_id).version == version
    _, request = loans.request_collection(BRAND, loan_id, str(then), "cash", "R-BACK", back)
    loans.approve_collection(BRAND, loan_id, request.request_id)
    assert loans.get(BRAND, loan_id).status is S.COMPLETED


def test_a_waiver_reduces_penal_outstanding_and_follows_into_the_ledger(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    loan = loans.get(BRAND, loan_id)
    penal = loan.penal_outstanding(LATE)
    assert penal > 0
    with pytest.raises(InvalidInput):  # above the penal outstanding
        loans.request_waiver(BRAND, loan_id, str(penal + Decimal("0.01")), "goodwill after a hospital stay")
    with pytest.raises(InvalidInput):  # a justification is needed
        loans.request_waiver(BRAND, loan_id, "1.00", "")
    payoff = loans.payoff(BRAND, loan_id).total
    _, waiver = loans.request_waiver(BRAND, loan_id, str(penal), "goodwill after a hospital stay")
    assert loans.payoff(BRAND, loan_id).total == payoff  # pending: nothing yet
    loans.approve_waiver(BRAND, loan_id, waiver.waiver_id)
    loan = loans.get(BRAND, loan_id)
    assert loan.penal_outstanding(LATE) == 0
    assert loans.payoff(BRAND, loan_id).total == payoff - penal
    postings = ledger(loan, LATE)
    assert [p.penal for p in postings if p.kind == "waiver"] == [-penal]
    assert postings[-1].running.penal == 0
    with pytest.raises(Conflict):
        loans.approve_waiver(BRAND, loan_id, waiver.waiver_id)
    # COB goes on charging on the overdue instalment from the waiver's day
    parties.today = date(2026, 3, 22)
    loans.close_business_day(BRAND, loan_id, date(2026, 3, 21))
    assert loans.get(BRAND, loan_id).penal_outstanding(date(2026, 3, 22)) > 0


def test_a_waiver_that_no_longer_fits_is_refused_at_approval(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    penal = loans.get(BRAND, loan_id).penal_outstanding(LATE)
    _, waiver = loans.request_waiver(BRAND, loan_id, str(penal), "goodwill")
    loans.record_repayment(BRAND, loan_id, "100.00", "upi", "UTR-P")  # pays the penal charges first
    with pytest.raises(Conflict):
        loans.approve_waiver(BRAND, loan_id, waiver.waiver_id)
    loans.reject_waiver(BRAND, loan_id, waiver.waiver_id, "paid meanwhile")
    assert loans.get(BRAND, loan_id).waivers[waiver.waiver_id].status is RequestStatus.REJECTED


def test_settlement_ends_settled_with_the_ledger_at_zero(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    payoff = loans.payoff(BRAND, loan_id).total
    with pytest.raises(InvalidInput):  # not below the payoff
        loans.propose_settlement(BRAND, loan_id, str(payoff), "full and final")
    _, settlement = loans.propose_settlement(BRAND, loan_id, "50000.00", "borrower lost his job; one-time offer")
    assert settlement.payoff_at_proposal == payoff
    with pytest.raises(Conflict):  # one at a time
        loans.propose_settlement(BRAND, loan_id, "40000.00", "another")
    loans.record_repayment(BRAND, loan_id, "1000.00", "upi", "UTR-before")  # before approval: not toward it
    loans.approve_settlement(BRAND, loan_id, settlement.settlement_id)
    with pytest.raises(InvalidInput):  # above what is left of the settlement
        loans.record_repayment(BRAND, loan_id, "50000.01", "upi", "UTR-over")
    loans.record_repayment(BRAND, loan_id, "20000.00", "neft", "UTR-s1")
    assert loans.get(BRAND, loan_id).status is not S.SETTLED
    _, request = loans.request_collection(BRAND, loan_id, "30000.00", "cash", "RCPT-s2")
    loans.approve_collection(BRAND, loan_id, request.request_id)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.SETTLED and loan.ending is not None
    # Each receipt's "outstanding after it" is what is left of the settlement (it said the whole payoff was owed).
    paid = {p.reference: p.payoff_after for p in loan.payments.values()}
    assert (paid["UTR-s1"], paid["RCPT-s2"]) == (Decimal("30000.00"), Decimal("0.00"))
    assert event_names(loans, loan_id)[-3:] == ["RepaymentRecorded", "Settled", "CollectionApproved"]
    assert _balance(loans, loan_id, LATE) == (0, 0, 0, 0)
    assert [p.kind for p in ledger(loan, LATE)][-1] == "settlement_waiver"
    view = servicing_view(loan, date(2026, 6, 1))
    assert view.outstanding.total == 0 and view.dpd == 0 and loans.payoff(BRAND, loan_id).total == 0
    assert not loans.close_business_day(BRAND, loan_id, date(2026, 3, 20)).changed
    with pytest.raises(Conflict):  # settled is final
        loans.record_repayment(BRAND, loan_id, "10.00", "upi", "UTR-after")


def test_a_rejected_settlement_changes_nothing(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    _, settlement = loans.propose_settlement(BRAND, loan_id, "50000.00", "offer")
    loans.reject_settlement(BRAND, loan_id, settlement.settlement_id, "too low")
    loans.record_repayment(BRAND, loan_id, "50000.00", "upi", "UTR-r")
    assert loans.get(BRAND, loan_id).status is S.PARTIALLY_PAID or loans.get(BRAND, loan_id).status is S.ACTIVE


def test_write_off_then_recoveries(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    loans.record_repayment(BRAND, loan_id, "2000.00", "upi", "UTR-w1")
    with pytest.raises(InvalidInput):
        loans.write_off(BRAND, loan_id, "")
    _, ending = loans.write_off(BRAND, loan_id, "borrower deceased; no estate")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.WRITTEN_OFF
    assert ending.principal == Decimal("85000.00") - sum(
        (a.principal for p in loan.payments.values() for a in p.allocation), Decimal(0)
    )
    assert _balance(loans, loan_id, LATE) == (0, 0, 0, 0)
    with pytest.raises(Conflict):
        loans.write_off(BRAND, loan_id, "again")
    parties.today = date(2026, 4, 10)
    _, recovery = loans.record_repayment(BRAND, loan_id, "5000.00", "cash", "REC-1")
    assert recovery.allocation == ()
    _, request = loans.request_collection(BRAND, loan_id, "1000.00", "cash", "REC-2")
    loans.approve_collection(BRAND, loan_id, request.request_id)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.WRITTEN_OFF and loan.recovered == Decimal("6000.00")
    assert [p.kind for p in ledger(loan, date(2026, 4, 10))][-2:] == ["recovery", "recovery"]
    assert _balance(loans, loan_id, date(2026, 4, 10)) == (0, 0, 0, 0)
    with pytest.raises(InvalidInput):  # more than was written off
        loans.record_repayment(BRAND, loan_id, str(ending.total), "cash", "REC-3")
    with pytest.raises(Conflict):
        loans.record_repayment(BRAND, loan_id, "1.00", "cash", "REC-1")


def test_nothing_before_disbursal_or_after_completion(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    payoff = loans.payoff(BRAND, loan_id).total
    loans.record_repayment(BRAND, loan_id, str(payoff), "neft", "UTR-all")
    assert loans.get(BRAND, loan_id).status is S.COMPLETED
    for attempt in (
        lambda: loans.write_off(BRAND, loan_id, "no reason at all"),
        lambda: loans.propose_settlement(BRAND, loan_id, "1.00", "offer"),
        lambda: loans.request_waiver(BRAND, loan_id, "1.00", "goodwill"),
        lambda: loans.request_collection(BRAND, loan_id, "1.00", "cash", "X-1"),
    ):
        with pytest.raises(Conflict):
            attempt()


def test_a_pending_collection_on_a_loan_that_owes_nothing_is_a_409_and_stays_rejectable(
    loans: Loans, parties: MovableParties
) -> None:
    """Completed, settled, or written off and all of it recovered while a collection waited: approving it is a 409
    naming the loan's status - not a 422 quoting the payoff of a back-dated replay - nothing is recorded, and it can
    still be rejected."""
    completed = _overdue(loans, parties)
    _, waiting = loans.request_collection(BRAND, completed, "3000.00", "cash", "RCPT-W", date(2026, 3, 19))
    loans.record_repayment(BRAND, completed, str(loans.payoff(BRAND, completed).total), "neft", "UTR-all")
    settled = _overdue(loans, parties)  # the product allows one open loan: the first is closed
    _, offer = loans.propose_settlement(BRAND, settled, "50000.00", "one-time offer")
    loans.approve_settlement(BRAND, settled, offer.settlement_id)
    _, late = loans.request_collection(BRAND, settled, "10.00", "cash", "RCPT-L", date(2026, 3, 19))
    loans.record_repayment(BRAND, settled, "50000.00", "neft", "UTR-settle")
    recovered = _overdue(loans, parties)
    _, ending = loans.write_off(BRAND, recovered, "absconded")
    _, after = loans.request_collection(BRAND, recovered, "10.00", "cash", "RCPT-R")
    loans.record_repayment(BRAND, recovered, str(ending.total), "neft", "REC-ALL")  # all of it recovered
    for loan_id, request, status in (
        (completed, waiting, S.COMPLETED),
        (settled, late, S.SETTLED),
        (recovered, after, S.WRITTEN_OFF),
    ):
        loan = loans.get(BRAND, loan_id)
        assert loan.status is status
        with pytest.raises(Conflict) as refused:
            loans.approve_collection(BRAND, loan_id, request.request_id)
        assert refused.value.message.startswith(f"the loan is {status.words} and owes nothing: this collection of ₹"), (
            refused.value.message
        )
        assert refused.value.details["status"] == str(status)
        assert loans.get(BRAND, loan_id).version == loan.version  # nothing recorded
        loans.reject_collection(BRAND, loan_id, request.request_id, "paid in full by NEFT meanwhile")
        after = loans.get(BRAND, loan_id)
        assert after.collection_requests[request.request_id].status is RequestStatus.REJECTED
        assert after.status is status


def test_two_approvers_at_once_record_the_money_once(loans: Loans, parties: MovableParties) -> None:
    loan_id = _overdue(loans, parties)
    _, request = loans.request_collection(BRAND, loan_id, "800.00", "cash", "RCPT-RACE")
    first, second = loans.serviced(BRAND, loan_id), loans.serviced(BRAND, loan_id)  # both loaded before either saves
    first.approve_collection(request.request_id, CollectionKind.COLLECTION, "pay-1", LATE)
    second.approve_collection(request.request_id, CollectionKind.COLLECTION, "pay-2", LATE)
    loans.commit(first)
    with pytest.raises(ConcurrentModification):  # a 409: the second approver's version is stale
        loans.commit(second)
    assert list(loans.get(BRAND, loan_id).payments) == ["pay-1"]


# A command racing the close of business ------------------------------------------------------------------------------

#: Each servicing command of staff, as a step on an overdue loan (with what it needs made first), and the event its
#: save records.
RACED: dict[str, tuple[Callable[[Loans, Any], object], str]] = {
    "repayment": (lambda loans, i: loans.record_repayment(BRAND, i, "500.00", "upi", "UTR-RACE"), "RepaymentRecorded"),
    "reversal": (
        lambda loans, i: loans.reverse_repayment(BRAND, i, next(iter(loans.get(BRAND, i).payments)), "bounced"),
        "RepaymentReversed",
    ),
    "collection": (
        lambda loans, i: loans.request_collection(BRAND, i, "300.00", "cash", "RCPT-RACE"),
        "CollectionRequested",
    ),
    "approval": (
        lambda loans, i: loans.approve_collection(BRAND, i, next(iter(loans.get(BRAND, i).collection_requests))),
        "CollectionApproved",
    ),
    "waiver": (lambda loans, i: loans.request_waiver(BRAND, i, "10.00", "hardship, agreed"), "WaiverRequested"),
    "settlement": (
        lambda loans, i: loans.propose_settlement(BRAND, i, "60000.00", "one-time settlement"),
        "SettlementProposed",
    ),
    "write-off proposal": (lambda loans, i: loans.propose_write_off(BRAND, i, "unreachable"), "WriteOffProposed"),
    "write-off": (lambda loans, i: loans.write_off(BRAND, i, "unreachable"), "WrittenOff"),
}


def _raced_loan(loans: Loans, parties: MovableParties, command: str) -> Any:
    loan_id = _overdue(loans, parties)  # closed through 19 Mar, the business date 20 Mar
    if command == "reversal":
        loans.record_repayment(BRAND, loan_id, "500.00", "upi", "UTR-FIRST")
    if command == "approval":
        loans.request_collection(BRAND, loan_id, "300.00", "cash", "RCPT-FIRST")
    parties.today = LATE + timedelta(days=3)
    return loan_id


@pytest.mark.parametrize("command", sorted(RACED))
def test_a_servicing_command_whose_loan_closed_a_day_meanwhile_is_decided_on_the_loan_as_it_now_is(
    loans: Loans, parties: MovableParties, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Staff act on a loan while the close of business closes its day: the command's save lost to the close's. It
    was a 409 to send again; it is now decided again on the loan as the close left it, and both are kept."""
    act, recorded = RACED[command]
    loan_id = _raced_loan(loans, parties, command)
    before = event_names(loans, loan_id)
    closed = closed_after_loads(loans, monkeypatch, [LATE, LATE + timedelta(days=1)][: SERVICING_ATTEMPTS - 1])
    act(loans, loan_id)
    after = event_names(loans, loan_id)
    assert after[: len(before)] == before
    assert after[len(before) :][: len(closed)] == ["DayClosed"] * len(closed)  # every close kept, first
    assert recorded in after[len(before) + len(closed) :]
    versions = [e.originator_version for e in loans.events.get(loan_id)]
    assert versions == list(range(1, len(versions) + 1))
    assert loans.get(BRAND, loan_id).cob_through == closed[-1]


def test_a_servicing_command_losing_every_race_is_a_409_with_nothing_of_it_recorded(
    loans: Loans, parties: MovableParties, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan_id = _raced_loan(loans, parties, "repayment")
    days = [LATE + timedelta(days=n) for n in range(SERVICING_ATTEMPTS)]
    closed_after_loads(loans, monkeypatch, days)
    with pytest.raises(ConcurrentModification):  # the 409: the caller sends it again
        loans.record_repayment(BRAND, loan_id, "500.00", "upi", "UTR-LOST")
    loan = loans.get(BRAND, loan_id)
    assert loan.payments == {} and loan.cob_through == days[-1]
    assert event_names(loans, loan_id).count("DayClosed") >= SERVICING_ATTEMPTS
