"""The money bound of penal charges (docs/loans.md, "Penal charges at the money bound"): a day's penal charge that
would take what a loan owes (unpaid principal, interest and penal charges of all its instalments) past
99,999,999,999,999.99 - the most MONEY, a payment and the read models' numeric(16, 2) hold - is cut to what
reaches it, oldest instalment first, and nothing is charged after it until a payment lowers what is owed. The day by
day close, the stretches of a quote and the replay agree to the paisa."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.money import MONEY_CEILING
from domain.loans.overdue import advance_position, advance_to, close_day, penal_charge
from domain.loans.payments import allocate, payoff
from domain.loans.position import LoanPosition, open_position
from domain.loans.replay import PaymentMade, replay
from domain.loans.schedule import build_schedule
from domain.loans.terms import LoanKind, LoanTerms, PenalKind, PenalTerms

D = Decimal
DISBURSED = date(2024, 1, 15)
EVERY_DAY = RepaymentCalendar(sunday_off=False)
CASES = settings(database=None, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def owed(position: LoanPosition) -> Decimal:
    """Everything unpaid on every instalment, due or not."""
    return sum((i.unpaid for i in position.instalments), D(0))


def bullet(principal: str, kind: PenalKind, penal: str, days: int = 30) -> LoanPosition:
    """A payday loan at no interest, due `days` after DISBURSED (2024-02-14 for 30 days)."""
    terms = LoanTerms(kind=LoanKind.PAYDAY, principal=D(principal), tenure=days, daily_percent=D(0))
    return open_position(build_schedule(terms, DISBURSED, EVERY_DAY), PenalTerms(kind=kind, daily_percent=D(penal)))


def closed_through(position: LoanPosition, day: date) -> LoanPosition:
    return advance_to(position, day + timedelta(days=1))[0]


def test_a_simple_charge_that_would_pass_the_bound_by_a_paisa_is_cut_by_it_and_the_next_days_charge_nothing() -> None:
    loan = bullet("10000000000000.00", PenalKind.SIMPLE, "100")  # a lakh crore, due 14 Feb, 1e13 a day overdue
    eve = closed_through(loan, date(2024, 2, 22))  # 15..22 Feb: 8 days charged in full
    assert owed(eve) == D("90000000000000.00")
    day = close_day(eve, date(2024, 2, 23))
    assert [(c.no, c.amount) for c in day.charges] == [(1, D("9999999999999.99"))]  # not 10,000,000,000,000.00
    assert owed(day.position) == MONEY_CEILING == D("99999999999999.99")
    after = close_day(day.position, date(2024, 2, 24))
    assert after.charges == () and after.dpd == 10  # still overdue, nothing charged (nor recorded)
    assert payoff(after.position, date(2024, 2, 25)).total == MONEY_CEILING
    assert payoff(eve, date(2025, 2, 14)).total == MONEY_CEILING  # a quote a year on (the stretch path)
    # a payment makes room: the next day charges up to it again (its base, the principal, is unpaid as before)
    paid = allocate(advance_to(after.position, date(2024, 2, 26))[0], D("5000000000000.00"), date(2024, 2, 26))
    assert [(x.penal, x.principal) for x in paid.allocation.lines] == [(D("5000000000000.00"), D("0"))]
    resumed = close_day(paid.position, date(2024, 2, 26))
    assert [(c.no, c.amount) for c in resumed.charges] == [(1, D("5000000000000.00"))]
    assert owed(resumed.position) == MONEY_CEILING


def test_compound_charges_double_a_loan_up_to_the_bound_and_stop_there() -> None:
    loan = bullet("1000000.00", PenalKind.COMPOUND, "100")  # 10 lakh at 100 % a day, compound: doubles daily
    eve = closed_through(loan, date(2024, 3, 11))  # 15 Feb .. 11 Mar, 26 days overdue: 10 lakh * 2^26
    assert owed(eve) == D("67108864000000.00")
    day = close_day(eve, date(2024, 3, 12))  # would double it to 134,217,728,000,000.00
    assert [(c.no, c.amount) for c in day.charges] == [(1, D("32891135999999.99"))]
    assert owed(day.position) == MONEY_CEILING
    assert closed_through(loan, date(2024, 12, 31)).instalments == day.position.instalments  # nothing after it
    assert advance_position(loan, date(2025, 1, 1)).instalments == day.position.instalments
    assert replay(loan, [], closed_through=date(2024, 12, 31)).position.instalments == day.position.instalments


def _two_overdue(room: str) -> LoanPosition:
    """Two instalments of 1000.00 overdue (simple, 10 % a day: 100.00 each), `room` short of the bound."""
    terms = LoanTerms(kind=LoanKind.EMI, principal=D("2000.00"), tenure=2, annual_percent=D(0))
    loan = open_position(build_schedule(terms, DISBURSED, EVERY_DAY), PenalTerms(daily_percent=D(10)))
    eve = closed_through(loan, date(2024, 3, 16))  # both due (15 Feb, 15 Mar) and overdue on 17 Mar
    first, second = eve.instalments
    penal = MONEY_CEILING - D(room) - D("2000.00") - second.penal_accrued
    return eve.with_instalments((replace(first, penal_accrued=penal), second))


def test_the_room_left_goes_to_the_oldest_instalment_first() -> None:
    day = close_day(_two_overdue("150.00"), date(2024, 3, 17))
    assert [(c.no, c.amount) for c in day.charges] == [(1, D("100.00")), (2, D("50.00"))]
    assert owed(day.position) == MONEY_CEILING
    day = close_day(_two_overdue("0.01"), date(2024, 3, 17))
    assert [(c.no, c.amount) for c in day.charges] == [(1, D("0.01"))]  # the second's nothing is not a charge
    assert close_day(day.position, date(2024, 3, 18)).charges == ()
    eve = _two_overdue("250.00")
    assert advance_position(eve, date(2024, 3, 20)) == advance_to(eve, date(2024, 3, 20))[0]


# Generated loans ---------------------------------------------------------------------------------------------------


@st.composite
def overdue_loans(draw: st.DrawFn) -> LoanPosition:
    """EMI and payday loans with penal terms that reach the bound within months (compound from 10 % a day on any
    amount; simple at high rates on thousands of crores)."""
    kind = draw(st.sampled_from(PenalKind))
    rate = D(draw(st.sampled_from(["10", "25.5", "50", "99.9999", "100"])))
    low, high = (10_000, 10**8) if kind is PenalKind.COMPOUND else (3 * 10**12, 5 * 10**13)  # (schedule < bound)
    principal = D(draw(st.integers(low * 100, high * 100))).scaleb(-2)
    if draw(st.booleans()):
        terms = LoanTerms(kind=LoanKind.EMI, principal=principal, tenure=draw(st.integers(1, 6)),
                          annual_percent=D(draw(st.sampled_from(["0", "18", "36"]))))  # fmt: skip
    else:
        terms = LoanTerms(kind=LoanKind.PAYDAY, principal=principal, tenure=draw(st.integers(7, 60)),
                          daily_percent=D(draw(st.sampled_from(["0", "0.5", "1"]))))  # fmt: skip
    calendar = RepaymentCalendar(sunday_off=draw(st.booleans()))
    return open_position(build_schedule(terms, DISBURSED, calendar), PenalTerms(kind=kind, daily_percent=rate))


@settings(CASES, max_examples=80)
@given(loan=overdue_loans(), data=st.data())
def test_every_day_owes_at_most_the_bound_and_only_the_charge_reaching_it_is_cut(
    loan: LoanPosition, data: st.DataObject
) -> None:
    """Day by day (with partial payments now and then): what is owed after a day's close is what it owed before
    plus the day's charges as LENDING.md computes them, or the bound when that would pass it; the charges are
    LENDING.md's in instalment order, the one reaching the bound cut and none after it. A quote's stretches and
    the replay give the very position the days closed one by one give."""
    position, reached = loan, False
    made: list[PaymentMade] = []
    for _ in range(data.draw(st.integers(150, 500))):
        day = position.open_day
        if data.draw(st.integers(0, 19)) == 0:  # a partial payment (not the payoff)
            left = payoff(position, day).total
            amount = (left * D(data.draw(st.integers(1, 99))) / 100).quantize(D("0.01"))
            if D("0.01") <= amount < left:
                position = allocate(position, amount, day).position
                made.append(PaymentMade(f"p{len(made)}", amount, day))
        before = owed(position)
        assert before <= MONEY_CEILING
        uncut = [
            (i.no, penal_charge(i, position.penal))
            for i in position.instalments
            if i.overdue_on(day) and penal_charge(i, position.penal)
        ]
        closed = close_day(position, day)
        expected: list[tuple[int, Decimal]] = []
        room = MONEY_CEILING - before
        for no, amount in uncut:
            if min(amount, room):
                expected.append((no, min(amount, room)))
                room -= min(amount, room)
        assert [(c.no, c.amount) for c in closed.charges] == expected, day
        assert owed(closed.position) == min(MONEY_CEILING, before + sum((a for _, a in uncut), D(0)))
        reached = reached or owed(closed.position) == MONEY_CEILING
        position = closed.position
    event("reached the bound" if reached else "below the bound")
    assert replay(loan, made, closed_through=position.closed_through).position == position
    later = position.open_day + timedelta(days=data.draw(st.integers(0, 800)))
    assert advance_position(position, later) == advance_to(position, later)[0]
    assert payoff(position, later).total <= MONEY_CEILING


@settings(CASES, max_examples=80)
@given(loan=overdue_loans(), days=st.lists(st.integers(0, 900), min_size=1, max_size=4))
def test_a_quote_as_of_any_later_date_closes_its_stretches_as_the_days_one_by_one(
    loan: LoanPosition, days: list[int]
) -> None:
    """`advance_position` (a stretch of overdue days in one step, simple or compound) reaches and keeps the bound
    on the same day, with the same cut, as `advance_to` closing each day; from part-way positions too."""
    position = loan
    for offset in sorted(days):
        day = DISBURSED + timedelta(days=offset)
        if day < position.open_day:
            continue
        stepped = advance_to(position, day)[0]
        assert advance_position(position, day) == stepped, day
        assert owed(stepped) <= MONEY_CEILING
        event("reached the bound" if owed(stepped) == MONEY_CEILING else "below the bound")
        position = stepped
