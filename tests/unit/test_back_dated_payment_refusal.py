"""A back-dated payment may be refused for a later payment's sake (docs/lending.md, "Order of facts"): applied
first, it lowers the payoff of the later payment's day by more than the later payment can lose, so the later one
would be above that day's payoff. The refusal says so in the words of the payment entered - its amount and date -
and names the later payment's figures; before, it quoted only those, as if the later payment were the one entered.

The loan: 30,000.00 at 24 % a year over 3 months, simple penal charges of 0.1 % a day, disbursed 10 Jan 2024; its
payoff on 1 Mar 2024 is 31,066.90."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.loan import Channel, Loan
from domain.loans.payments import LaterPaymentAbovePayoff, PaymentAbovePayoff
from domain.loans.pricing import price
from domain.loans.schedule import build_schedule
from domain.loans.servicing_events import PaymentMode
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee, LoanKind, LoanTerms, PenalKind, PenalTerms

D = Decimal
DISBURSED = date(2024, 1, 10)


def _loan() -> Loan:
    terms = LoanTerms(kind=LoanKind.EMI, principal=D("30000.00"), tenure=3, annual_percent=D("24"))
    pricing = price(terms.principal, processing_fee=Fee(kind=AmountKind.FIXED, value=D("0")))
    loan = Loan(id=uuid4(), brand_id=uuid4(), customer_id=uuid4(), product_id=uuid4(), product_version=1,
                amount=terms.principal, tenure=terms.tenure, loan_number="L-BD-1", channel=Channel.STAFF,
                pricing=pricing, instalment=D("0"))  # fmt: skip
    loan.status, loan.disbursed_on, loan.sanction_pricing = LoanStatus.ACTIVE, DISBURSED, pricing
    loan.open_servicing(build_schedule(terms, DISBURSED, RepaymentCalendar()),
                        PenalTerms(kind=PenalKind.SIMPLE, daily_percent=D("0.1")))  # fmt: skip
    return loan


def _close_days(loan: Loan, until: date) -> None:
    """COB for every day from the disbursal to the day before `until`."""
    day = DISBURSED
    while day < until:
        loan.close_business_day(day)
        day += timedelta(days=1)


def test_a_back_dated_payment_refused_for_a_later_ones_sake_names_itself_and_the_later_payment() -> None:
    loan = _loan()
    on = date(2024, 3, 1)
    _close_days(loan, on)
    payoff = loan.payoff_quote(on).total
    assert payoff == D("31066.90")
    loan.record_repayment("p1", payoff - 100, PaymentMode.NEFT, "UTR-1", on, on)
    version = loan.version
    with pytest.raises(LaterPaymentAbovePayoff) as refused:
        loan.record_repayment("p2", D("500.00"), PaymentMode.NEFT, "UTR-2", date(2024, 2, 1), on)
    assert isinstance(refused.value, PaymentAbovePayoff)  # a 422 naming `amount`, as before
    assert refused.value.field == "amount"
    assert refused.value.errors[0].message == (
        "500.00 paid on 2024-02-01 cannot be recorded: the later payment of 30966.90 on 2024-03-01 would then be "
        "above that day's payoff of 30557.40"
    )
    assert refused.value.details == {
        "amount": "500.00", "paid_on": "2024-02-01", "later_payment_id": "p1", "later_amount": "30966.90",
        "later_paid_on": "2024-03-01", "later_payoff": "30557.40",
    }  # fmt: skip
    assert loan.version == version and set(loan.payments) == {"p1"}  # nothing recorded


def test_a_payment_above_its_own_days_payoff_is_refused_in_its_own_figures() -> None:
    loan = _loan()
    on = date(2024, 2, 1)
    _close_days(loan, on)
    payoff = loan.payoff_quote(on).total
    with pytest.raises(PaymentAbovePayoff) as refused:
        loan.record_repayment("p1", payoff + D("0.01"), PaymentMode.NEFT, "UTR-1", on, on)
    assert not isinstance(refused.value, LaterPaymentAbovePayoff)
    assert refused.value.errors[0].message == f"{payoff + D('0.01')} is above the payoff amount of {payoff} on {on}"
