"""domain/loans against tests/unit/lending_fuzz_reference.py (a third implementation of LENDING.md, exact fractions)
where tests/unit/test_loan_reference.py does not reach: amounts of a paisa to a hundred rupees and of tens of
thousands of crores, rates up to 999.9999 %, tenures up to 600 months and 3650 days (schedules); and, serviced day
by day, payments on the due date itself and at the payoff plus one paisa, penal-charge waivers between them, and
payoff quotes days ahead of the open day (the stretches `advance_position` closes in one step)."""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.overdue import close_day
from domain.loans.payments import PaymentAbovePayoff, allocate, payoff
from domain.loans.position import LoanPosition, open_position
from domain.loans.schedule import build_schedule
from domain.loans.terms import LoanKind, LoanTerms, PenalKind, PenalTerms
from domain.loans.waivers import waive_penal
from domain.shared.errors import InvalidValue
from tests.unit import lending_fuzz_reference as R

CASES = settings(database=None, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def rates(top: int) -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.just(Decimal(0)),
        st.sampled_from([0, 1, 2, 4]).flatmap(
            lambda places: st.integers(0, top * 10**places).map(lambda n: Decimal(n).scaleb(-places))
        ),
    ).map(lambda r: min(r, Decimal("999.9999")))


#: Paise: a paisa to a hundred rupees, ordinary loans, and tens of thousands of crores.
paise_amounts = st.one_of(st.integers(1, 10_000), st.integers(100_000, 10**9), st.integers(10**12, 10**15))


@st.composite
def disbursals(draw: st.DrawFn) -> date:
    day = draw(st.dates(date(2000, 1, 1), date(2090, 12, 31)))
    if draw(st.booleans()):  # month ends and the 29th-31st, leap years among them
        import calendar

        last = calendar.monthrange(day.year, day.month)[1]
        day = day.replace(day=min(last, draw(st.sampled_from([28, 29, 30, 31]))))
    return day


@st.composite
def schedules(draw: st.DrawFn) -> tuple[str, int, Decimal, int, date, bool, frozenset[date]]:
    kind = draw(st.sampled_from(["emi", "payday"]))
    p = draw(paise_amounts)
    if kind == "emi":
        tenure = draw(st.one_of(st.integers(1, 12), st.integers(1, 600)))
        rate = draw(st.one_of(rates(60), rates(999)))
        span = tenure * 31
    else:
        tenure = draw(st.one_of(st.integers(1, 60), st.integers(1, 3650)))
        # (a payday loan of crores at tens of percent a day owes more than any amount the books hold)
        rate = draw(rates(100) if p < 10**9 else rates(1))
        span = tenure
    d0 = draw(disbursals())
    holidays: set[date] = set()
    for _ in range(draw(st.integers(0, 6))):
        first = d0 + timedelta(days=draw(st.integers(0, span + 5)))
        holidays.update(first + timedelta(days=n) for n in range(draw(st.integers(1, 3))))
    return kind, p, rate, tenure, d0, draw(st.booleans()), frozenset(holidays)


def terms_of(kind: str, p: int, rate: Decimal, tenure: int) -> LoanTerms:
    emi = kind == "emi"
    return LoanTerms(
        kind=LoanKind(kind),
        principal=R.to_rupees(p),
        tenure=tenure,
        annual_percent=rate if emi else None,
        daily_percent=None if emi else rate,
    )


def reference_lines(kind: str, p: int, rate: Decimal, tenure: int, d0: date, sunday_off: bool,
                    holidays: frozenset[date]) -> list[R.Line]:  # fmt: skip
    make = R.emi_lines if kind == "emi" else R.payday_lines
    return make(p, rate, tenure, d0, sunday_off, holidays)


@settings(CASES, max_examples=250)
@given(case=schedules())
def test_schedules_of_tiny_and_huge_amounts_and_extreme_terms_match_the_reference(
    case: tuple[str, int, Decimal, int, date, bool, frozenset[date]],
) -> None:
    kind, p, rate, tenure, d0, sunday_off, holidays = case
    lines = reference_lines(*case)
    cal = RepaymentCalendar(sunday_off=sunday_off, holidays=holidays)
    try:
        schedule = build_schedule(terms_of(kind, p, rate, tenure), d0, cal)
    except InvalidValue as refused:
        assert not R.schedulable(lines), refused
        return
    assert R.schedulable(lines)
    got = [(i.due_date, R.to_paise(i.opening), R.to_paise(i.principal), R.to_paise(i.interest))
           for i in schedule.instalments]  # fmt: skip
    assert got == [(x.due, x.opening, x.principal, x.interest) for x in lines]


# Servicing ------------------------------------------------------------------------------------------------------


def serviced(seed: int) -> int:
    """One seeded loan serviced day by day in both implementations; the number of figures compared."""
    rng = random.Random(seed)
    kind = rng.choice(["emi", "payday"])
    p = rng.choice([rng.randrange(1, 10_000), rng.randrange(100_000, 10**9), rng.randrange(10**12, 10**14)])
    tenure = rng.randrange(1, 7) if kind == "emi" else rng.randrange(1, 61)
    rate = rng.choice([Decimal(0), Decimal("7"), Decimal("36.5"), Decimal("999.9999")]) if kind == "emi" else (
        rng.choice([Decimal(0), Decimal("0.05"), Decimal("1")]))  # fmt: skip
    d0 = rng.choice([date(2024, 1, 31), date(2024, 2, 29), date(2023, 12, 31), date(2026, 5, 17), date(2028, 8, 30)])
    holidays = frozenset(d0 + timedelta(days=rng.randrange(1, 200)) for _ in range(rng.randrange(0, 8)))
    sunday_off = rng.random() < 0.5
    penal_kind = rng.choice(["simple", "compound"])
    penal_rate = rng.choice([Decimal(0), Decimal("0.1"), Decimal("2.5"), Decimal("100")])
    lines = reference_lines(kind, p, rate, tenure, d0, sunday_off, holidays)
    if not R.schedulable(lines):
        return 0
    cal = RepaymentCalendar(sunday_off=sunday_off, holidays=holidays)
    penal = PenalTerms(kind=PenalKind(penal_kind), daily_percent=penal_rate)
    position: LoanPosition = open_position(build_schedule(terms_of(kind, p, rate, tenure), d0, cal), penal)
    loan = R.RefLoan(kind, p, rate, tenure, d0, lines, penal_kind, penal_rate)
    dues = {x.due for x in lines}
    compared = 0
    for offset in range((lines[-1].due - d0).days + rng.randrange(1, 120)):
        day = d0 + timedelta(days=offset)
        where = (seed, day)
        assert R.to_paise(payoff(position, day).total) == loan.payoff(), where
        if rng.random() < 0.05:  # a quote days ahead: those days closed on a copy
            ahead = rng.randrange(1, 90)
            later = copy.deepcopy(loan)
            for _ in range(ahead):
                later.cob()
            assert R.to_paise(payoff(position, day + timedelta(days=ahead)).total) == later.payoff(), where
        roll = rng.random()
        if not loan.closed and (roll < 0.06 or (day in dues and roll < 0.6)):
            due = loan.payoff()
            first = next((x for x in loan.insts if not x.settled), None)
            instalment = sum(first.left(part) for part in R.PARTS) if first is not None else due
            amount = rng.choice(
                [due, due + 1, max(1, due - 1), max(1, min(due, instalment)), rng.randrange(1, due + 2)]
            )
            expected = loan.pay(amount)
            if expected is None:  # above the payoff: refused, nothing applied
                with pytest.raises((PaymentAbovePayoff, InvalidValue)) as refused:
                    allocate(position, R.to_rupees(amount), day)
                if refused.type is InvalidValue:
                    assert amount > R.CEILING, where  # no amount at all (the payoff at the money bound)
            else:
                applied = allocate(position, R.to_rupees(amount), day)
                got = [(x.no, R.to_paise(x.penal), R.to_paise(x.interest), R.to_paise(x.principal))
                       for x in applied.allocation.lines]  # fmt: skip
                assert got == expected, where
                assert applied.position.completed == loan.closed, where
                position = applied.position
        elif not loan.closed and roll < 0.1:
            asked = rng.randrange(1, 10**7)
            position, forgiven = waive_penal(position, R.to_rupees(asked))
            assert R.to_paise(forgiven) == loan.waive(asked), where
        closed = close_day(position, day)
        charges = loan.cob()
        if not loan.closed:
            assert [(c.no, R.to_paise(c.amount)) for c in closed.charges] == charges, where
            assert (closed.dpd, closed.asset_class.value) == (loan.dpd(day), loan.cls), where
        position = closed.position
        compared += 1
    return compared


@settings(CASES, max_examples=120)
@given(seed=st.integers(0, 2**32))
def test_servicing_with_waivers_payments_on_due_dates_and_quotes_ahead_matches_the_reference(seed: int) -> None:
    assume(serviced(seed) > 0)


def test_a_payment_of_the_payoff_plus_one_paisa_on_the_due_date_is_refused_and_the_payoff_closes() -> None:
    # 10,000.00 at 12 % over 1 month, disbursed 31 Jan 2024, due 29 Feb 2024 (Thursday): EMI = round(10000 * 1.01) =
    # 10,100.00; on the due date the payoff is the principal and the whole month's interest.
    schedule = build_schedule(terms_of("emi", 10_000_00, Decimal(12), 1), date(2024, 1, 31), RepaymentCalendar())
    position = open_position(schedule, PenalTerms())
    position = close_day(position, date(2024, 1, 31)).position
    for day in range(1, 29):
        position = close_day(position, date(2024, 1, 31) + timedelta(days=day)).position
    assert payoff(position, date(2024, 2, 29)).total == Decimal("10100.00")
    with pytest.raises(PaymentAbovePayoff):  # the payoff + 0.01
        allocate(position, Decimal("10100.01"), date(2024, 2, 29))
    assert allocate(position, Decimal("10100.00"), date(2024, 2, 29)).position.completed
