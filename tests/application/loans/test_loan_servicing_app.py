"""Loan servicing use cases (issue #15) on the in-memory store: servicing opened with the disbursal, repayments and
their allocation, refusals that record nothing, reversal, COB days (penal, DPD, class, states) and closure."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.application_servicing import PAYOFF_HORIZON
from domain.loans.money import percent_of
from domain.loans.payments import PaymentAbovePayoff
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalTerms
from domain.shared.errors import Conflict, InvalidInput, InvalidValue, NotFound
from tests.application.loans.fakes import BORROWER, BRAND, PRODUCT, Catalogue, event_names, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

S = LoanStatus
D0 = date(2026, 1, 31)  # disbursed on a month-end: dues 28 Feb, 31 Mar, 30 Apr, ...


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    penal = PenalTerms(daily_percent=Decimal("0.1"))
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=penal)})


def test_disbursal_opens_servicing_with_the_schedule(loans: Loans) -> None:
    loan_id = disbursed(loans, D0)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.ACTIVE and loan.servicing_schedule is not None
    dues = [i.due_date for i in loan.servicing_schedule.instalments]
    assert dues[:3] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    # 85,000 at 24 % for 12 months: r = 0.02, EMI = round(85000 * 0.02 * 1.02^12 / (1.02^12 - 1)) = 8037.57
    assert loan.servicing_schedule.instalments[0].amount == Decimal("8037.57")
    assert loan.servicing_schedule.instalments[0].interest == Decimal("1700.00")
    assert event_names(loans, loan_id)[-2:] == ["Disbursed", "ServicingOpened"]


def test_a_partial_payment_then_cob_makes_it_overdue_with_penal_charges(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    parties.today = date(2026, 2, 28)
    loans.close_business_day(BRAND, loan_id, date(2026, 2, 27))
    _, record = loans.record_repayment(BRAND, loan_id, "1000.00", "upi", "UTR-1")
    # the waterfall: interest first (1700.00 due), nothing to principal
    assert [(a.no, a.penal, a.interest, a.principal) for a in record.allocation] == [
        (1, Decimal("0"), Decimal("1000.00"), Decimal("0"))
    ]
    assert loans.get(BRAND, loan_id).status is S.PARTIALLY_PAID
    loans.close_business_day(BRAND, loan_id, date(2026, 2, 28))
    assert loans.get(BRAND, loan_id).status is S.PARTIALLY_PAID  # due today: not overdue yet
    loans.close_business_day(BRAND, loan_id, date(2026, 3, 2))
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.OVERDUE
    # two days (1 and 2 Mar) on 7037.57 unpaid at 0.1 %: round(7.03757) = 7.04 a day
    replayed = loan.replayed()
    assert replayed.position.instalments[0].penal_accrued == Decimal("14.08")
    # the payoff on 3 Mar: overdue 14.08 + 700.00 + 6337.57, principal not due 85000 - 6337.57, accrued interest
    quote = loans.payoff(BRAND, loan_id, date(2026, 3, 3))
    assert quote.overdue_penal == Decimal("14.08")
    assert quote.overdue_interest == Decimal("700.00")


def test_refusals_record_nothing(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    before = len(event_names(loans, loan_id))
    with pytest.raises(PaymentAbovePayoff):
        loans.record_repayment(BRAND, loan_id, "85000.01", "cash", "R-1")  # payoff on the disbursal day 85000
    with pytest.raises(InvalidInput):
        loans.record_repayment(BRAND, loan_id, "-1", "cash", "R-1")
    with pytest.raises(InvalidInput):
        loans.record_repayment(BRAND, loan_id, "10", "barter", "R-1")
    with pytest.raises(InvalidInput):
        loans.record_repayment(BRAND, loan_id, "10", "cash", "R-1", paid_on=D0 + timedelta(days=1))  # future
    assert len(event_names(loans, loan_id)) == before
    loans.record_repayment(BRAND, loan_id, "10.00", "cash", "R-1")
    with pytest.raises(Conflict):
        loans.record_repayment(BRAND, loan_id, "10.00", "cash", "R-1")
    assert len(event_names(loans, loan_id)) == before + 1


def test_a_repayment_before_disbursal_is_a_409(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    with pytest.raises(Conflict):
        loans.record_repayment(BRAND, created.id, "10.00", "cash", "R-1")


def test_reversal_reopens_what_it_paid(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    parties.today = date(2026, 2, 28)
    _, record = loans.record_repayment(BRAND, loan_id, "8037.57", "cheque", "CHQ-1")
    loans.close_business_day(BRAND, loan_id, date(2026, 3, 5))
    assert loans.get(BRAND, loan_id).status is S.ACTIVE
    parties.today = date(2026, 3, 6)
    loans.reverse_repayment(BRAND, loan_id, record.payment_id, "cheque bounced")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.OVERDUE
    # 1..5 Mar overdue on 8037.57: round(8.03757) = 8.04 a day, five days (the quiet days COB recorded nothing
    # for are replayed: the reversal re-opened them)
    assert loans.payoff(BRAND, loan_id, date(2026, 3, 6)).overdue_penal == Decimal("40.20")
    loans.close_business_day(BRAND, loan_id, date(2026, 3, 6))  # the evening: six days now, charged once
    assert loans.get(BRAND, loan_id).replayed().position.instalments[0].penal_accrued == Decimal("48.24")
    with pytest.raises(Conflict):
        loans.reverse_repayment(BRAND, loan_id, record.payment_id, "again")
    with pytest.raises(NotFound):
        loans.reverse_repayment(BRAND, loan_id, "nope", "no such payment")


def test_paying_the_payoff_completes_and_cob_reruns_change_nothing(loans: Loans, parties: MovableParties) -> None:
    loan_id = disbursed(loans, D0)
    loans.close_business_day(BRAND, loan_id, D0)
    assert not loans.close_business_day(BRAND, loan_id, D0).changed  # a rerun
    parties.today = date(2026, 2, 10)
    quote = loans.payoff(BRAND, loan_id)
    # 85000 + round(85000 * 0.02 * 10 / 28) = 85000 + 607.14
    assert quote.total == Decimal("85607.14")
    _, record = loans.record_repayment(BRAND, loan_id, str(quote.total), "neft", "UTR-9")
    assert record.closes_loan
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.COMPLETED
    assert loans.payoff(BRAND, loan_id).total == Decimal("0.00")
    assert not loans.close_business_day(BRAND, loan_id, date(2026, 2, 11)).changed
    # reversing the closing payment re-opens the loan
    loans.reverse_repayment(BRAND, loan_id, record.payment_id, "chargeback")
    assert loans.get(BRAND, loan_id).status is S.ACTIVE


def test_a_payoff_is_quoted_up_to_a_year_past_the_last_due_date_and_not_beyond(
    loans: Loans, parties: MovableParties
) -> None:
    """A quote years ahead closed every day on a copy (seconds of CPU a request as of 2200); past the horizon it is
    a 422 naming the last date, and within it the quote still counts every overdue day's penal charges."""
    loan_id = disbursed(loans, on=D0)
    position = loans.get(BRAND, loan_id).opening_position()
    last_due = position.instalments[-1].due_date  # 1 Feb 2027: the twelfth month's 31 Jan is a Sunday
    horizon = last_due + PAYOFF_HORIZON
    at_horizon = loans.payoff(BRAND, loan_id, horizon)
    # Nothing paid: every instalment overdue since the day after its due date, 0.1 % a day on its P+I (simple).
    penal = sum(
        (percent_of(i.principal_due + i.interest_due, Decimal("0.1")) * ((horizon - i.due_date).days - 1)
         for i in position.instalments),
        Decimal("0.00"),
    )  # fmt: skip
    assert at_horizon.overdue_penal == penal > 0
    with pytest.raises(InvalidValue) as refused:
        loans.payoff(BRAND, loan_id, horizon + timedelta(days=1))
    assert refused.value.field == "as_of" and horizon.isoformat() in refused.value.errors[0].message
    # The business date past the schedule moves the horizon with it.
    parties.today = horizon
    assert loans.payoff(BRAND, loan_id, horizon + timedelta(days=1)).overdue_penal > penal
