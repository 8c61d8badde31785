"""Servicing a disbursed loan (LENDING.md "Overdue, DPD and asset classes", "Payments"): worked examples.

Loan A: 30,000.00 at 12 % a year (r = 0.01) over 3 months, disbursed Mon 15 Jan 2024, due dates on Sundays kept.
EMI = 30000 * 0.01 * 1.01^3 / (1.01^3 - 1) = 10200.6633 -> 10200.66.

    no  due         opening    interest  principal  amount
    1   2024-02-15  30000.00   300.00    9900.66    10200.66
    2   2024-03-15  20099.34   200.99    9999.67    10200.66
    3   2024-04-15  10099.67   101.00    10099.67   10200.67
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.overdue import (
    DayOutOfOrder,
    advance_position,
    advance_to,
    close_day,
    days_past_due,
    next_asset_class,
)
from domain.loans.payments import (
    AllocationLine,
    PaymentAbovePayoff,
    PaymentOutOfOrder,
    accrued_interest,
    allocate,
    payoff,
)
from domain.loans.position import AssetClass, InstalmentStatus, LoanPosition, open_position
from domain.loans.replay import PaymentMade, PaymentReversed, replay
from domain.loans.schedule import build_schedule
from domain.loans.states import LoanStatus, servicing_status
from domain.loans.terms import LoanKind, LoanTerms, PenalKind, PenalTerms
from domain.shared.errors import InvalidValue

D = Decimal
EVERY_DAY = RepaymentCalendar(sunday_off=False)
DISBURSED = date(2024, 1, 15)


def loan(principal: str = "30000.00", months: int = 3, penal: str = "0.10", kind: PenalKind = PenalKind.SIMPLE,
         annual: str = "12") -> LoanPosition:  # fmt: skip
    terms = LoanTerms(kind=LoanKind.EMI, principal=D(principal), tenure=months, annual_percent=D(annual))
    schedule = build_schedule(terms, DISBURSED, EVERY_DAY)
    return open_position(schedule, PenalTerms(kind=kind, daily_percent=D(penal)))


def payday(principal: str = "10000.00", daily: str = "1", days: int = 30) -> LoanPosition:
    terms = LoanTerms(kind=LoanKind.PAYDAY, principal=D(principal), tenure=days, daily_percent=D(daily))
    return open_position(build_schedule(terms, DISBURSED, EVERY_DAY), PenalTerms(daily_percent=D("0.5")))


def through(position: LoanPosition, last_closed: date) -> LoanPosition:
    return advance_to(position, last_closed + timedelta(days=1))[0]


def parts(lines: tuple[AllocationLine, ...]) -> list[tuple[int, Decimal, Decimal, Decimal]]:
    return [(line.no, line.penal, line.interest, line.principal) for line in lines]


def pay(position: LoanPosition, amount: str, on: date) -> LoanPosition:
    return allocate(advance_to(position, on)[0], D(amount), on).position


def test_the_schedule_of_loan_a() -> None:
    a = loan()
    assert [(i.due_date, i.principal_due, i.interest_due) for i in a.instalments] == [
        (date(2024, 2, 15), D("9900.66"), D("300.00")),
        (date(2024, 3, 15), D("9999.67"), D("200.99")),
        (date(2024, 4, 15), D("10099.67"), D("101.00")),
    ]


# DPD and asset classes ----------------------------------------------------------------------------------------


def test_an_instalment_is_overdue_from_the_day_after_its_due_date() -> None:
    a = loan()
    assert days_past_due(a, date(2024, 2, 15)) == 0
    assert days_past_due(a, date(2024, 2, 16)) == 1
    assert days_past_due(a, date(2024, 3, 16)) == 30  # still the oldest unpaid instalment's
    assert a.instalments[0].status(date(2024, 2, 15)) is InstalmentStatus.DUE
    assert a.instalments[0].status(date(2024, 2, 16)) is InstalmentStatus.OVERDUE


def test_a_payment_on_the_due_date_is_on_time_and_bears_no_penal_charge() -> None:
    paid = pay(loan(), "10200.66", date(2024, 2, 15))
    closed, charges = advance_to(paid, date(2024, 3, 1))
    assert charges == ()
    assert days_past_due(closed, date(2024, 3, 1)) == 0
    assert closed.instalments[0].status(date(2024, 3, 1)) is InstalmentStatus.PAID


@pytest.mark.parametrize(
    ("dpd", "asset_class"),
    [(0, "standard"), (1, "SMA-0"), (30, "SMA-0"), (31, "SMA-1"), (60, "SMA-1"), (61, "SMA-2"), (90, "SMA-2"),
     (91, "NPA"), (400, "NPA")],
)  # fmt: skip
def test_rbi_class_by_days_past_due(dpd: int, asset_class: str) -> None:
    assert AssetClass.for_dpd(dpd) == asset_class


def test_the_close_of_business_records_dpd_and_class_each_day() -> None:
    a = through(loan(), date(2024, 3, 16))  # instalment 1 due 15 Feb: 30 days on 16 Mar
    assert a.asset_class is AssetClass.SMA_0
    day = close_day(a, date(2024, 3, 17))
    assert (day.dpd, day.asset_class) == (31, AssetClass.SMA_1)
    assert day.position.closed_through == date(2024, 3, 17)


def test_an_sma_loan_returns_to_standard_as_soon_as_its_dpd_is_zero() -> None:
    a = through(loan(penal="0"), date(2024, 4, 14))  # 59 days past due on instalment 1, instalment 2 overdue too
    assert a.asset_class is AssetClass.SMA_1
    a = pay(a, str(a.instalments[0].unpaid + a.instalments[1].unpaid), date(2024, 4, 15))
    assert close_day(a, date(2024, 4, 15)).asset_class is AssetClass.STANDARD


def test_an_npa_stays_npa_while_anything_overdue_is_unpaid_even_when_its_dpd_drops() -> None:
    b = through(loan("60000.00", months=6), date(2024, 5, 16))  # due 15 Feb .. 15 May unpaid: 91 DPD
    assert (days_past_due(b, date(2024, 5, 16)), b.asset_class) == (91, AssetClass.NPA)
    # Clear the oldest instalment: DPD falls to 63 (15 Mar), which alone would be SMA-2.
    b = pay(b, str(b.instalments[0].unpaid), date(2024, 5, 17))
    day = close_day(b, date(2024, 5, 17))
    assert (day.dpd, day.asset_class) == (63, AssetClass.NPA)
    # Pay every overdue amount (principal, interest and penal charges of instalments 2-4): standard again.
    b = day.position
    overdue = sum((i.unpaid for i in b.instalments if i.due_date < date(2024, 5, 18)), D(0))
    b = allocate(b, overdue, date(2024, 5, 18)).position
    day = close_day(b, date(2024, 5, 18))
    assert (day.dpd, day.asset_class) == (0, AssetClass.STANDARD)


def test_npa_upgrade_rule_as_a_function_of_the_previous_class() -> None:
    b = through(loan("60000.00", months=6, penal="0"), date(2024, 3, 20))  # 34 DPD, instalments 1 and 2 overdue
    b = pay(b, str(b.instalments[0].unpaid + b.instalments[1].unpaid - D("0.01")), date(2024, 3, 21))
    on = date(2024, 3, 21)
    assert days_past_due(b, on) == 6  # one paisa of instalment 2 left
    assert next_asset_class(AssetClass.NPA, b, on) is AssetClass.NPA
    assert next_asset_class(AssetClass.SMA_1, b, on) is AssetClass.SMA_0


# Penal charges ---------------------------------------------------------------------------------------------------


def test_simple_penal_charges_accrue_per_day_on_unpaid_principal_and_interest() -> None:
    a = loan(penal="1")
    a, charges = advance_to(a, date(2024, 2, 20))  # COB 15..19 Feb: overdue on 16, 17, 18, 19
    # round(10200.66 * 1 %) = 102.01 a day
    assert [(c.no, c.day, c.amount) for c in charges] == [(1, date(2024, 2, d), D("102.01")) for d in (16, 17, 18, 19)]
    assert a.instalments[0].penal_accrued == D("408.04")


def test_compound_penal_charges_accrue_on_the_penal_charges_too() -> None:
    a, charges = advance_to(loan(penal="1", kind=PenalKind.COMPOUND), date(2024, 2, 20))
    # 10200.66 -> 102.01; 10302.67 -> 103.03; 10405.70 -> 104.06; 10509.76 -> 105.10
    assert [c.amount for c in charges] == [D("102.01"), D("103.03"), D("104.06"), D("105.10")]
    assert a.instalments[0].penal_accrued == D("414.20")


def test_penal_charges_accrue_per_instalment_when_several_are_overdue() -> None:
    a = through(loan(penal="1"), date(2024, 3, 15))  # 15 Mar: instalment 2 due, not yet overdue
    day = close_day(a, date(2024, 3, 16))
    assert [(c.no, c.amount) for c in day.charges] == [(1, D("102.01")), (2, D("102.01"))]


def test_a_partial_payment_lowers_the_next_days_simple_penal_charge() -> None:
    a = through(loan(penal="1"), date(2024, 2, 16))  # one day charged: 102.01
    a = allocate(a, D("5102.01"), date(2024, 2, 17)).position  # penal 102.01, interest 300, principal 4700
    assert a.instalments[0].unpaid == D("5200.66")
    assert close_day(a, date(2024, 2, 17)).charges[0].amount == D("52.01")  # 5200.66 * 1 % = 52.0066


def test_no_penal_charge_on_the_due_date_itself() -> None:
    a = through(loan(penal="1"), date(2024, 2, 14))
    assert close_day(a, date(2024, 2, 15)).charges == ()
    assert [c.amount for c in close_day(close_day(a, date(2024, 2, 15)).position, date(2024, 2, 16)).charges] == [
        D("102.01")
    ]


def test_within_an_instalment_penal_charges_are_paid_first_then_interest_then_principal() -> None:
    a = through(loan(penal="1"), date(2024, 2, 17))  # two days charged: 204.02
    lines = allocate(a, D("250.00"), date(2024, 2, 18)).allocation.lines
    assert parts(lines) == [(1, D("204.02"), D("45.98"), D("0.00"))]
    lines = allocate(a, D("600.00"), date(2024, 2, 18)).allocation.lines
    assert parts(lines) == [(1, D("204.02"), D("300.00"), D("95.98"))]


def test_compound_penal_charges_compound_only_what_is_still_unpaid() -> None:
    a = through(loan(penal="1", kind=PenalKind.COMPOUND), date(2024, 2, 17))  # 102.01 + 103.03 accrued
    a = allocate(a, D("205.04"), date(2024, 2, 18)).position  # pays exactly the penal charges
    assert a.instalments[0].penal_unpaid == D("0.00")
    assert close_day(a, date(2024, 2, 18)).charges[0].amount == D("102.01")  # back to 10200.66 * 1 %


def test_days_must_be_closed_in_order_and_once() -> None:
    a = through(loan(), date(2024, 2, 1))
    with pytest.raises(DayOutOfOrder):
        close_day(a, date(2024, 2, 1))
    with pytest.raises(DayOutOfOrder):
        close_day(a, date(2024, 2, 3))
    with pytest.raises(DayOutOfOrder):
        advance_to(a, date(2024, 2, 1))


# Payments ------------------------------------------------------------------------------------------------------


def test_a_payment_goes_to_the_oldest_instalment_penal_interest_principal_then_ahead_to_the_next() -> None:
    a = through(loan(), date(2024, 2, 20))  # 5 days of round(10200.66 * 0.1 %) = 10.20: 51.00
    assert a.instalments[0].penal_accrued == D("51.00")
    applied = allocate(a, D("15000.00"), date(2024, 2, 21))
    lines = parts(applied.allocation.lines)
    assert lines == [
        (1, D("51.00"), D("300.00"), D("9900.66")),
        (2, D("0.00"), D("200.99"), D("4547.35")),  # an advance payment on instalment 2, not yet due
    ]
    assert not applied.allocation.closes_loan
    position = applied.position
    assert days_past_due(position, date(2024, 2, 21)) == 0
    assert position.instalments[1].status(date(2024, 2, 21)) is InstalmentStatus.PARTIALLY_PAID
    assert servicing_status(position, date(2024, 2, 21)) is LoanStatus.PARTIALLY_PAID


def test_payoff_mid_period_counts_interest_by_days() -> None:
    # 10 days of the 31 from 15 Jan to 15 Feb: 30000 * 0.01 * 10 / 31 = 96.774 -> 96.77
    quote = payoff(loan(), date(2024, 1, 25))
    assert (quote.principal_not_due, quote.accrued_interest, quote.total) == (
        D("30000.00"),
        D("96.77"),
        D("30096.77"),
    )


def test_payoff_on_a_due_date_counts_that_periods_full_interest_and_on_disbursal_none() -> None:
    assert payoff(loan(), date(2024, 2, 15)).total == D("30300.00")
    assert payoff(loan(), DISBURSED).total == D("30000.00")


def test_payoff_the_day_after_a_missed_due_date_counts_the_instalment_as_overdue() -> None:
    quote = payoff(loan(), date(2024, 2, 16))
    assert (quote.overdue_interest, quote.overdue_principal, quote.overdue_penal) == (
        D("300.00"),
        D("9900.66"),
        D("0.00"),  # the charge for 16 Feb comes at that day's close, after today's payments
    )
    # the next period has run one day of 29: 20099.34 * 0.01 / 29 = 6.9308 -> 6.93
    assert (quote.current_instalment, quote.accrued_interest) == (2, D("6.93"))
    assert quote.total == D("30306.93")


def test_payoff_with_penal_charges_and_an_advance_payment_and_the_closing_payment() -> None:
    a = through(loan(), date(2024, 2, 20))
    before = payoff(a, date(2024, 2, 21))
    # overdue 51.00 + 300.00 + 9900.66; principal not due 20099.34; 6 of 29 days: 20099.34 * 0.01 * 6 / 29 = 41.58
    assert before.total == D("10251.66") + D("20099.34") + D("41.58") == D("30392.58")
    a = allocate(a, D("15000.00"), date(2024, 2, 21)).position
    after = payoff(a, date(2024, 2, 21))
    assert after.total == D("15392.58")  # every rupee paid lowers the payoff by a rupee
    assert after.interest_paid_ahead == D("200.99")
    closing = allocate(a, D("15392.58"), date(2024, 2, 21))
    assert closing.allocation.closes_loan
    # Instalment 2's interest becomes the 41.58 accrued: the 200.99 paid ahead counts 159.41 towards principal.
    lines = parts(closing.allocation.lines)
    assert lines == [(2, D("0.00"), D("-159.41"), D("5452.32")), (3, D("0.00"), D("0.00"), D("10099.67"))]
    assert closing.allocation.interest_not_charged == D("159.41") + D("101.00")
    closed = closing.position
    assert closed.completed and closed.closed_on == date(2024, 2, 21)
    assert all(i.settled for i in closed.instalments)
    assert closed.paid == D("30392.58")
    assert payoff(closed, date(2024, 3, 1)).total == D("0.00")
    assert servicing_status(closed, date(2024, 3, 1)) is LoanStatus.COMPLETED


def test_paying_every_instalment_on_its_due_date_completes_the_loan_with_the_schedules_figures() -> None:
    a = loan()
    for instalment in a.schedule.instalments:
        a = pay(a, str(instalment.amount), instalment.due_date)
    assert a.completed and a.closed_on == date(2024, 4, 15)
    assert [i.interest_paid for i in a.instalments] == [D("300.00"), D("200.99"), D("101.00")]


def test_a_payment_above_the_payoff_is_refused_and_nothing_is_applied() -> None:
    a = through(loan(), date(2024, 2, 20))
    with pytest.raises(PaymentAbovePayoff) as caught:
        allocate(a, D("30392.59"), date(2024, 2, 21))
    assert caught.value.field == "amount"
    assert "30392.58" in caught.value.message
    assert payoff(a, date(2024, 2, 21)).total == D("30392.58")
    with pytest.raises(PaymentAbovePayoff):
        allocate(pay(a, "30392.58", date(2024, 2, 21)), D("0.01"), date(2024, 2, 21))


def test_the_last_emi_paid_early_is_above_the_payoff_which_closes_the_loan_for_less() -> None:
    a = loan()
    a = pay(a, "10200.66", date(2024, 2, 15))
    a = pay(a, "10200.66", date(2024, 3, 15))
    quote = payoff(advance_to(a, date(2024, 4, 5))[0], date(2024, 4, 5))
    # 21 of 31 days of instalment 3: 10099.67 * 0.01 * 21 / 31 = 68.417 -> 68.42
    assert quote.total == D("10099.67") + D("68.42")
    with pytest.raises(PaymentAbovePayoff):
        pay(a, "10200.67", date(2024, 4, 5))


def test_payments_must_be_dated_on_the_open_day_and_be_more_than_zero() -> None:
    a = through(loan(), date(2024, 2, 20))
    with pytest.raises(PaymentOutOfOrder):
        allocate(a, D("100.00"), date(2024, 2, 20))
    with pytest.raises(PaymentOutOfOrder):
        allocate(a, D("100.00"), date(2024, 2, 25))
    with pytest.raises(DayOutOfOrder):
        payoff(a, date(2024, 2, 20))  # a quote as of the past comes from a replay
    with pytest.raises(InvalidValue) as caught:
        payoff(loan(), DISBURSED - timedelta(days=1))
    assert caught.value.field == "as_of"
    with pytest.raises(InvalidValue) as caught:
        allocate(a, D("0.00"), date(2024, 2, 21))
    assert caught.value.field == "amount"


def test_payoff_of_a_payday_loan_accrues_daily_with_at_least_one_day() -> None:
    p = payday()  # 10,000 at 1 % a day for 30 days: interest 3000, due 14 Feb
    assert payoff(p, DISBURSED).total == D("10100.00")  # at least one day
    assert payoff(p, date(2024, 1, 25)).total == D("11000.00")  # 10 days
    assert payoff(p, date(2024, 2, 14)).total == D("13000.00")  # the due date: the whole tenure
    # Overdue: the instalment in full, plus a penal charge of round(13000 * 0.5 %) = 65.00 per day closed.
    assert payoff(p, date(2024, 2, 17)).total == D("13000.00") + 2 * D("65.00")


def test_payday_interest_accrual_stops_at_the_tenure_when_the_due_date_moved() -> None:
    terms = LoanTerms(kind=LoanKind.PAYDAY, principal=D("10000.00"), tenure=30, daily_percent=D("1"))
    holiday = RepaymentCalendar(sunday_off=False, holidays=frozenset({date(2024, 2, 14)}))
    schedule = build_schedule(terms, DISBURSED, holiday)
    assert schedule.instalments[0].due_date == date(2024, 2, 15)
    assert accrued_interest(schedule, 1, date(2024, 2, 15)) == D("3000.00")


# Replay and reversal ---------------------------------------------------------------------------------------------


def test_replay_rebuilds_the_position_that_the_steps_built() -> None:
    stepwise = pay(loan(), "5000.00", date(2024, 2, 10))
    stepwise = pay(stepwise, "8000.00", date(2024, 3, 20))
    stepwise = through(stepwise, date(2024, 4, 30))
    facts = [
        PaymentMade("p1", D("5000.00"), date(2024, 2, 10)),
        PaymentMade("p2", D("8000.00"), date(2024, 3, 20)),
    ]
    replayed = replay(loan(), facts, closed_through=date(2024, 4, 30))
    assert replayed.position == stepwise
    assert [pid for pid, _ in replayed.allocations] == ["p1", "p2"]


def test_a_reversed_payment_reopens_what_it_paid_and_recharges_penal_from_its_date() -> None:
    opening = loan("60000.00", months=6)
    npa = through(opening, date(2024, 5, 16))
    cure = sum((i.unpaid for i in npa.instalments if i.due_date < date(2024, 5, 17)), D(0))
    facts: list[PaymentMade | PaymentReversed] = [PaymentMade("cure", cure, date(2024, 5, 17))]
    cured = replay(opening, facts, closed_through=date(2024, 5, 25))
    assert cured.position.asset_class is AssetClass.STANDARD
    assert [c for c in cured.charges if c.day > date(2024, 5, 17)] == []
    # The cheque bounces: the position is as if it had never been paid, penal charged for every day since.
    facts.append(PaymentReversed("cure"))
    bounced = replay(opening, facts, closed_through=date(2024, 5, 25))
    assert bounced.allocations == ()
    assert bounced.position.asset_class is AssetClass.NPA
    assert days_past_due(bounced.position, date(2024, 5, 25)) == 100
    assert bounced.position == through(opening, date(2024, 5, 25))
    assert bounced.penal_charged > cured.penal_charged


def test_reversing_an_early_payment_reallocates_the_later_ones() -> None:
    facts: list[PaymentMade | PaymentReversed] = [
        PaymentMade("early", D("10200.66"), date(2024, 2, 15)),
        PaymentMade("later", D("10200.66"), date(2024, 3, 15)),
        PaymentReversed("early"),
    ]
    replayed = replay(loan(), facts, closed_through=date(2024, 3, 15))
    [(pid, allocation)] = replayed.allocations
    # "later" now pays instalment 1, 28 days of penal charges first (round(10200.66 * 0.1 %) = 10.20 a day), and
    # falls 285.60 short of its principal: instalment 1 stays overdue, instalment 2 gets nothing.
    assert pid == "later"
    assert parts(allocation.lines) == [(1, D("285.60"), D("300.00"), D("9615.06"))]
    assert replayed.position.instalments[0].principal_unpaid == D("285.60")
    assert days_past_due(replayed.position, date(2024, 3, 15)) == 29


def test_servicing_status_follows_the_position() -> None:
    a = loan()
    assert servicing_status(a, date(2024, 2, 1)) is LoanStatus.ACTIVE
    assert servicing_status(through(a, date(2024, 2, 16)), date(2024, 2, 17)) is LoanStatus.OVERDUE


@pytest.mark.parametrize("kind", [PenalKind.SIMPLE, PenalKind.COMPOUND])
def test_a_position_advanced_in_stretches_is_the_one_closed_day_by_day(kind: PenalKind) -> None:
    """`advance_position` (a payoff quote's days, closed a stretch at a time) gives the very position `advance_to`
    gives closing every day: penal charges to the paisa, DPD's class with the NPA rule, the open day -- over
    generated loans (EMI and payday, Sunday-off calendars, partial payments on the way), up to four years on."""
    rng = random.Random(f"stretches-{kind.value}")
    for _ in range(40):
        start = date(2023, 1, 1) + timedelta(days=rng.randrange(800))
        if rng.random() < 0.7:
            terms = LoanTerms(kind=LoanKind.EMI, principal=D(rng.randrange(5_000, 500_000)), tenure=rng.randrange(1, 25),
                              annual_percent=D(rng.choice(["0", "12", "18.5", "36"])))  # fmt: skip
        else:
            terms = LoanTerms(kind=LoanKind.PAYDAY, principal=D(rng.randrange(5_000, 50_000)),
                              tenure=rng.randrange(7, 60), daily_percent=D("1"))  # fmt: skip
        calendar = RepaymentCalendar(sunday_off=rng.random() < 0.5)
        penal = PenalTerms(kind=kind, daily_percent=D(rng.choice(["0", "0.05", "0.1", "1.5"])))
        position = open_position(build_schedule(terms, start, calendar), penal)
        for _ in range(rng.randrange(4)):  # partial payments, so that stretches start part paid
            on = position.open_day + timedelta(days=rng.randrange(120))
            position = advance_to(position, on)[0]
            amount = (payoff(position, on).total * D(rng.random()) / 2).quantize(D("0.01"))
            if amount > 0:
                position = allocate(position, amount, on).position
        day = position.open_day + timedelta(days=rng.randrange(1_500))
        assert advance_position(position, day) == advance_to(position, day)[0], (terms, penal, day)
