"""A no-due certificate belongs to one closure of a loan (LENDING.md, "Payments": "a loan whose payoff is zero is
completed; its no-due certificate (PDF) is generated once"): the reversal of a payment that re-opens a completed loan
withdraws it - the loan has none while it owes, and the withdrawal is derived from the reversal on replay - and the
next closure is issued a new certificate (its date, amount, code), once.

The loan of the audit: 30,000.00 at 24 % a year over 3 months, simple penal charges of 0.1 % a day, disbursed
10 Jan 2024. Its payoff on 25 Jan is 30,290.32 (30000 + round(30000 * 0.02 * 15 / 31)); once that cheque bounces
(reversed 28 Jan) and the loan runs overdue, its payoff on 20 Feb is 30,828.25."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.loan import Channel, Loan
from domain.loans.loan_servicing import NoDueCertificateWithdrawn
from domain.loans.pricing import price
from domain.loans.schedule import build_schedule
from domain.loans.servicing_events import PaymentMode, RepaymentReversed
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee, LoanKind, LoanTerms, PenalKind, PenalTerms
from domain.shared.errors import Conflict, Gone

D = Decimal
S = LoanStatus
DISBURSED = date(2024, 1, 10)
CLOSED = date(2024, 1, 25)
BOUNCED = date(2024, 1, 28)
CLOSED_AGAIN = date(2024, 2, 20)


def _loan() -> Loan:
    terms = LoanTerms(kind=LoanKind.EMI, principal=D("30000.00"), tenure=3, annual_percent=D("24"))
    pricing = price(terms.principal, processing_fee=Fee(kind=AmountKind.FIXED, value=D("0")))
    loan = Loan(id=uuid4(), brand_id=uuid4(), customer_id=uuid4(), product_id=uuid4(), product_version=1,
                amount=terms.principal, tenure=terms.tenure, loan_number="L-NDC-1", channel=Channel.STAFF,
                pricing=pricing, instalment=D("0"))  # fmt: skip
    # Reached `active` as a disbursal leaves it (the decision and payout steps have their own tests).
    loan.status, loan.disbursed_on, loan.sanction_pricing = S.ACTIVE, DISBURSED, pricing
    loan.open_servicing(build_schedule(terms, DISBURSED, RepaymentCalendar()),
                        PenalTerms(kind=PenalKind.SIMPLE, daily_percent=D("0.1")))  # fmt: skip
    return loan


def _close_days(loan: Loan, first: date, until: date) -> None:
    """COB for every day from `first` to the day before `until`."""
    day = first
    while day < until:
        loan.close_business_day(day)
        day += timedelta(days=1)


def _completed() -> Loan:
    """The loan paid off by cheque on 25 Jan, its certificate issued."""
    loan = _loan()
    _close_days(loan, DISBURSED, CLOSED)
    payoff = loan.payoff_quote(CLOSED).total
    assert payoff == D("30290.32")
    loan.record_repayment("p1", payoff, PaymentMode.CHEQUE, "CHQ-1", CLOSED, CLOSED)
    assert loan.status is S.COMPLETED
    assert loan.issue_no_due_certificate("sha-first")
    return loan


def _bounced() -> Loan:
    loan = _completed()
    loan.reverse_repayment("p1", "cheque bounced", BOUNCED)
    return loan


def _replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def test_a_reversal_that_reopens_a_completed_loan_withdraws_its_certificate() -> None:
    loan = _completed()
    first = loan.no_due
    assert first is not None and first.closed_on == CLOSED and first.repaid == D("30290.32")

    loan.reverse_repayment("p1", "cheque bounced", BOUNCED)

    assert loan.status is S.ACTIVE
    assert loan.no_due is None  # no certificate while the loan owes
    (withdrawn,) = loan.no_dues_withdrawn
    assert withdrawn.certificate == first and withdrawn.withdrawn_on == BOUNCED
    assert (withdrawn.payment_id, withdrawn.reason) == ("p1", "cheque bounced")
    reversal = loan.collect_events()[-1]
    assert isinstance(reversal, RepaymentReversed)
    assert reversal.no_due_withdrawn == first.verification_code  # said on the event, for the auditor and consumers


def test_a_withdrawn_certificate_is_neither_shown_nor_issued_while_the_loan_owes() -> None:
    loan = _bounced()
    with pytest.raises(NoDueCertificateWithdrawn) as refused:
        loan.closure()
    assert isinstance(refused.value, Gone)  # 410: it existed and was withdrawn
    assert "was withdrawn on 2024-01-28" in refused.value.message and "cheque bounced" in refused.value.message
    assert refused.value.details["withdrawn_on"] == "2024-01-28"
    assert refused.value.details["closed_on"] == "2024-01-25"
    assert refused.value.details["verification_code"] == loan.no_dues_withdrawn[0].certificate.verification_code
    with pytest.raises(NoDueCertificateWithdrawn):
        loan.issue_no_due_certificate("sha-while-owing")
    assert loan.no_due is None


def test_the_next_closure_is_issued_a_new_certificate_once() -> None:
    loan = _bounced()
    first = loan.no_dues_withdrawn[0].certificate
    _close_days(loan, BOUNCED + timedelta(days=1), CLOSED_AGAIN)
    assert loan.status is S.OVERDUE
    payoff = loan.payoff_quote(CLOSED_AGAIN).total
    assert payoff == D("30828.25")
    loan.record_repayment("p2", payoff, PaymentMode.NEFT, "UTR-2", CLOSED_AGAIN, CLOSED_AGAIN)
    assert loan.status is S.COMPLETED

    assert loan.issue_no_due_certificate("sha-second")
    second = loan.no_due
    assert second is not None
    assert (second.closed_on, second.repaid, second.sha256) == (CLOSED_AGAIN, D("30828.25"), "sha-second")
    assert second.verification_code != first.verification_code
    # once per closure: a retry issues nothing more
    assert not loan.issue_no_due_certificate("sha-retry")
    assert loan.no_due == second
    assert [type(e).__name__ for e in loan.collect_events()].count("NoDueCertificateIssued") == 2


def test_a_closure_again_on_the_same_day_gets_a_code_of_its_own() -> None:
    loan = _completed()
    first = loan.no_due
    assert first is not None
    loan.reverse_repayment("p1", "chargeback", CLOSED)
    payoff = loan.payoff_quote(CLOSED).total
    loan.record_repayment("p2", payoff, PaymentMode.NEFT, "UTR-2", CLOSED, CLOSED)
    assert loan.issue_no_due_certificate("sha-second")
    assert loan.no_due is not None and loan.no_due.closed_on == first.closed_on
    assert loan.no_due.verification_code != first.verification_code


def test_replaying_the_events_withdraws_the_certificate_as_the_live_loan_did() -> None:
    loan = _bounced()
    events = list(loan.collect_events())
    replayed = _replay(events)
    assert replayed.no_due is None and replayed.no_dues_withdrawn == loan.no_dues_withdrawn
    # up to the reversal: the certificate stood
    before = _replay(events[:-1])
    assert before.no_due == loan.no_dues_withdrawn[0].certificate and before.no_dues_withdrawn == ()


def test_a_reversal_recorded_before_the_field_existed_withdraws_the_certificate_on_replay() -> None:
    """Events stored before `no_due_withdrawn` (None on them): the withdrawal is derived from the reversal itself."""
    loan = _bounced()
    events = list(loan.collect_events())
    reversal = events[-1]
    legacy = RepaymentReversed(**{**dict(reversal), "no_due_withdrawn": None})
    replayed = _replay([*events[:-1], legacy])
    assert replayed.status == S.ACTIVE and replayed.no_due is None
    assert replayed.no_dues_withdrawn == loan.no_dues_withdrawn


def test_reversing_a_payment_of_a_loan_still_owing_withdraws_nothing() -> None:
    loan = _loan()
    _close_days(loan, DISBURSED, CLOSED)
    loan.record_repayment("p1", D("1000.00"), PaymentMode.CHEQUE, "CHQ-1", CLOSED, CLOSED)
    loan.reverse_repayment("p1", "cheque bounced", BOUNCED)
    assert loan.no_due is None and loan.no_dues_withdrawn == ()
    assert loan.collect_events()[-1].no_due_withdrawn is None
    with pytest.raises(Conflict) as refused:  # no certificate was ever issued: a plain 409
        loan.closure()
    assert not isinstance(refused.value, NoDueCertificateWithdrawn)
