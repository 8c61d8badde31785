"""domain/loans checked against independent computations over generated products and loans (hypothesis):
numpy-financial for the EMI, and tests/unit/lending_reference.py — integer paise, written from LENDING.md — for
schedules, due dates, fees and net disbursed, penal charges, DPD and classes, allocation, payoff and replay.
"""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy_financial as npf
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from domain.loans.due_dates import RepaymentCalendar
from domain.loans.money import MONEY_CEILING
from domain.loans.overdue import advance_position, advance_to, close_day, days_past_due
from domain.loans.payments import PaymentAbovePayoff, allocate, payoff
from domain.loans.position import LoanPosition, open_position
from domain.loans.pricing import price
from domain.loans.replay import PaymentMade, PaymentReversed, replay
from domain.loans.schedule import build_schedule, emi_amount
from domain.loans.terms import AmountKind, Discount, Fee, LoanKind, LoanTerms, PenalKind, PenalTerms
from domain.shared.errors import InvalidValue
from tests.unit import lending_reference as ref

# Fixed examples (derandomize): the same cases on every run, so a failure is reproducible and CI never flakes.
CASES = settings(database=None, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def decimal_rates(top: int) -> st.SearchStrategy[Decimal]:
    """Percent rates from 0 to `top` with 0, 1, 2 or 4 places (zero now and then)."""
    return st.one_of(
        st.just(Decimal(0)),
        st.sampled_from([0, 1, 2, 4]).flatmap(
            lambda places: st.integers(0, top * 10**places).map(lambda n: Decimal(n).scaleb(-places))
        ),
    )


def amounts(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Rupee amounts between `low` and `high` rupees: paise, whole rupees, or round thousands."""
    return st.one_of(
        st.integers(low * 100, high * 100).map(lambda p: Decimal(p).scaleb(-2)),
        st.integers(low, high).map(lambda r: Decimal(r).quantize(Decimal("0.01"))),
        st.integers(max(1, low // 1000), max(1, high // 1000)).map(
            lambda t: Decimal(t * 1000).quantize(Decimal("0.01"))
        ),
    )


@st.composite
def disbursal_dates(draw: st.DrawFn) -> date:
    """Any day 2000-2090, month ends (31 Jan, 29 Feb, 30 Apr ...) often."""
    day = draw(st.dates(date(2000, 1, 1), date(2090, 12, 31)))
    if draw(st.booleans()):
        last = calendar.monthrange(day.year, day.month)[1]
        day = day.replace(day=draw(st.sampled_from([last, max(28, last - 1), 28])))
    return day


@st.composite
def repayment_calendars(draw: st.DrawFn, start: date, span_days: int) -> RepaymentCalendar:
    """Sundays off or not, and a few holidays (sometimes runs of them) within the loan's life."""
    holidays: set[date] = set()
    for _ in range(draw(st.integers(0, 8))):
        first = start + timedelta(days=draw(st.integers(1, span_days + 5)))
        holidays.update(first + timedelta(days=n) for n in range(draw(st.integers(1, 3))))
    return RepaymentCalendar(sunday_off=draw(st.booleans()), holidays=frozenset(holidays))


@dataclass(frozen=True)
class Case:
    """A generated loan: terms, disbursal date, calendar and penal terms."""

    terms: LoanTerms
    disbursed: date
    cal: RepaymentCalendar
    penal: PenalTerms


@st.composite
def loans(draw: st.DrawFn, max_months: int = 24, max_days: int = 120) -> Case:
    kind = draw(st.sampled_from(LoanKind))
    disbursed = draw(disbursal_dates())
    if kind is LoanKind.EMI:
        months = draw(st.integers(1, max_months))
        terms = LoanTerms(
            kind=kind, principal=draw(amounts(1000, 5_000_000)), tenure=months, annual_percent=draw(decimal_rates(60))
        )
        span = months * 31
    else:
        days = draw(st.integers(1, max_days))
        terms = LoanTerms(
            kind=kind, principal=draw(amounts(500, 200_000)), tenure=days, daily_percent=draw(decimal_rates(2))
        )
        span = days
    penal = PenalTerms(kind=draw(st.sampled_from(PenalKind)), daily_percent=draw(decimal_rates(3)))
    return Case(terms, disbursed, draw(repayment_calendars(disbursed, span)), penal)


def reference_rows(case: Case) -> list[ref.Row]:
    t = case.terms
    if t.kind is LoanKind.EMI:
        assert t.annual_percent is not None
        return ref.emi_rows(
            ref.paise(t.principal), t.annual_percent, t.tenure, case.disbursed, case.cal.sunday_off, case.cal.holidays
        )
    assert t.daily_percent is not None
    return ref.payday_rows(
        ref.paise(t.principal), t.daily_percent, t.tenure, case.disbursed, case.cal.sunday_off, case.cal.holidays
    )


def reference_can_schedule(rows: list[ref.Row]) -> bool:
    """Whether the reference rows make a schedule: principal never negative or above the balance, dates increasing."""
    dates_increase = all(a.due < b.due for a, b in itertools.pairwise(rows))
    return dates_increase and all(0 <= r.principal <= r.opening for r in rows)


# EMI and schedules -----------------------------------------------------------------------------------------------


@settings(CASES, max_examples=300)
@given(
    principal=amounts(1, 100_000_000),
    annual=decimal_rates(99),
    months=st.one_of(st.integers(1, 60), st.integers(61, 480)),
)
def test_emi_matches_numpy_financial_and_the_integer_reference(
    principal: Decimal, annual: Decimal, months: int
) -> None:
    emi = emi_amount(principal, annual, months)
    assert ref.paise(emi) == ref.emi(ref.paise(principal), annual, months)
    # numpy-financial's pmt in floating point: within half a paisa of the exact figure, plus float noise.
    expected = -npf.pmt(float(annual) / 1200, months, float(principal))
    assert abs(float(emi) - expected) <= 0.005 + 1e-9 * float(principal)


@settings(CASES, max_examples=300)
@given(case=loans(max_months=120, max_days=365))
def test_schedules_match_the_reference_to_the_paisa_and_the_day(case: Case) -> None:
    rows = reference_rows(case)
    if not reference_can_schedule(rows):
        try:
            build_schedule(case.terms, case.disbursed, case.cal)
        except InvalidValue as refused:
            assert refused.field in ("principal", "holidays")
            return
        raise AssertionError("a schedule the reference cannot make was built")
    schedule = build_schedule(case.terms, case.disbursed, case.cal)
    got = [
        (i.due_date, ref.paise(i.opening), ref.paise(i.principal), ref.paise(i.interest)) for i in schedule.instalments
    ]
    assert got == [(r.due, r.opening, r.principal, r.interest) for r in rows]
    assert sum(r.principal for r in rows) == ref.paise(case.terms.principal)
    for instalment in schedule.instalments:
        assert case.cal.is_working_day(instalment.due_date)


# Fees and net disbursed ------------------------------------------------------------------------------------------

fees = st.builds(
    lambda kind, pct, fixed, inclusive: (kind, pct if kind == "percent" else fixed, inclusive),
    st.sampled_from(["percent", "fixed"]),
    decimal_rates(10),
    amounts(0, 20_000),
    st.booleans(),
)
coupons = st.one_of(
    st.none(),
    st.builds(
        lambda kind, pct, fixed: (kind, pct if kind == "percent" else fixed),
        st.sampled_from(["percent", "fixed"]),
        decimal_rates(100),
        amounts(0, 30_000),
    ),
)


@settings(CASES, max_examples=300)
@given(
    sanctioned=amounts(1000, 10_000_000),
    processing=fees,
    convenience=st.one_of(st.none(), fees),
    gst=st.one_of(st.just(Decimal(18)), decimal_rates(28)),
    coupon=coupons,
)
def test_pricing_matches_the_reference(
    sanctioned: Decimal,
    processing: tuple[str, Decimal, bool],
    convenience: tuple[str, Decimal, bool] | None,
    gst: Decimal,
    coupon: tuple[str, Decimal] | None,
) -> None:
    expected = ref.price(ref.paise(sanctioned), processing, convenience, gst, coupon)

    def fee(spec: tuple[str, Decimal, bool]) -> Fee:
        return Fee(kind=AmountKind(spec[0]), value=spec[1], gst_inclusive=spec[2])

    arguments = {
        "processing_fee": fee(processing),
        "convenience_fee": None if convenience is None else fee(convenience),
        "gst_percent": gst,
        "coupon": None if coupon is None else Discount(kind=AmountKind(coupon[0]), value=coupon[1]),
    }
    if expected.net <= 0:
        try:
            price(sanctioned, **arguments)  # type: ignore[arg-type]
        except InvalidValue as refused:
            assert refused.field == "sanctioned"
            return
        raise AssertionError("a loan whose fees exceed it was priced")
    p = price(sanctioned, **arguments)  # type: ignore[arg-type]
    got = ref.Priced(
        ref.paise(p.processing_fee_before_discount),
        ref.paise(p.coupon_discount),
        ref.paise(p.processing_fee.amount),
        ref.paise(p.processing_fee.gst),
        ref.paise(p.convenience_fee.amount),
        ref.paise(p.convenience_fee.gst),
        ref.paise(p.net_disbursed),
    )
    assert got == expected
    assert p.sanctioned - p.net_disbursed == p.deductions


# Servicing in lockstep -------------------------------------------------------------------------------------------


def books(position: LoanPosition) -> list[tuple[date, int, int, int, int, int, int]]:
    """The production position in the reference's terms: per instalment, owed and paid in paise."""
    return [
        (
            i.due_date,
            ref.paise(i.penal_accrued),
            ref.paise(i.interest_due),
            ref.paise(i.principal_due),
            ref.paise(i.penal_paid),
            ref.paise(i.interest_paid),
            ref.paise(i.principal_paid),
        )
        for i in position.instalments
    ]


def reference_books(loan: ref.Loan) -> list[tuple[date, int, int, int, int, int, int]]:
    return [
        (
            s.due,
            s.owed["penal"],
            s.owed["interest"],
            s.owed["principal"],
            s.paid["penal"],
            s.paid["interest"],
            s.paid["principal"],
        )
        for s in loan.slots
    ]


@dataclass(frozen=True)
class Plan:
    """What the borrower does: on some days a payment, sized against the reference's payoff of that day."""

    payments: dict[int, tuple[str, int]]  # day offset -> (how, a number to size it with)
    horizon: int


@st.composite
def plans(draw: st.DrawFn, span: int, after: int = 120, at_least: int = 1) -> Plan:
    horizon = span + draw(st.integers(at_least, after))
    days = draw(st.lists(st.integers(0, horizon - 1), min_size=1, max_size=10, unique=True))
    how = st.sampled_from(["part", "part", "part", "instalment", "payoff", "above"])
    return Plan({d: (draw(how), draw(st.integers(1, 10**9))) for d in days}, horizon)


def size(how: str, seed: int, loan: ref.Loan) -> int:
    due_now = loan.payoff()
    if how == "payoff":
        return due_now
    if how == "above":
        return due_now + 1 + seed % 1000
    if how == "instalment":
        open_slots = [s for s in loan.slots if s.open()]
        return min(due_now, sum(open_slots[0].owed.values()) - sum(open_slots[0].paid.values())) if open_slots else 1
    return 1 + seed % max(1, due_now - 1)


@dataclass
class Run:
    position: LoanPosition
    opening: LoanPosition
    made: list[PaymentMade]
    reference: ref.Loan


def reference_loan(case: Case, rows: list[ref.Row]) -> ref.Loan:
    t = case.terms
    return ref.Loan(
        t.kind.value,
        ref.paise(t.principal),
        t.rate,
        t.tenure,
        case.disbursed,
        rows,
        case.penal.kind.value,
        case.penal.daily_percent,
    )


def run_lockstep(case: Case, plan: Plan) -> Run:
    """Service the loan day by day in both implementations, comparing every figure as it goes."""
    rows = reference_rows(case)
    opening = open_position(build_schedule(case.terms, case.disbursed, case.cal), case.penal)
    position, loan, made = opening, reference_loan(case, rows), []
    worst, refused, order = "standard", 0, ["standard", "SMA-0", "SMA-1", "SMA-2", "NPA"]
    for offset in range(plan.horizon):
        day = case.disbursed + timedelta(days=offset)
        if offset in plan.payments or offset % 7 == 0:
            assert ref.paise(payoff(position, day).total) == loan.payoff(), day
        if offset in plan.payments:
            how, seed = plan.payments[offset]
            amount = size(how, seed, loan)
            expected = loan.pay(amount) if amount > 0 else None
            if amount <= 0:
                pass  # nothing left to pay
            elif expected is None:
                try:
                    allocate(position, ref.rupees(amount), day)
                except PaymentAbovePayoff:
                    refused += 1
                except InvalidValue:
                    assert amount > ref.MOST_OWED  # more than any amount may be (a payoff at the money bound)
                    refused += 1
                else:
                    raise AssertionError("a payment above the reference payoff was applied")
            else:
                applied = allocate(position, ref.rupees(amount), day)
                lines = [
                    (x.no, ref.paise(x.penal), ref.paise(x.interest), ref.paise(x.principal))
                    for x in applied.allocation.lines
                ]
                assert lines == expected
                assert applied.allocation.closes_loan == loan.closed
                position = applied.position
                made.append(PaymentMade(f"p{offset}", ref.rupees(amount), day))
                assert books(position) == reference_books(loan)
        closed = close_day(position, day)
        charges = loan.close_day()
        assert [(c.no, ref.paise(c.amount)) for c in closed.charges] == charges, day
        assert closed.dpd == loan.dpd(day) == days_past_due(closed.position, day)
        assert closed.asset_class.value == loan.asset_class
        position = closed.position
        worst = max(worst, loan.asset_class, key=order.index)
    assert books(position) == reference_books(loan)
    assert position.completed == loan.closed
    event(f"{case.terms.kind.value}, {'completed' if loan.closed else 'open'} at the end")
    event(f"worst class {worst}")
    event(f"payments applied: {min(len(made), 3)}{'+' if len(made) >= 3 else ''}, refused: {bool(refused)}")
    return Run(position, opening, made, loan)


@settings(CASES, max_examples=200)
@given(data=st.data(), case=loans(max_months=12, max_days=60))
def test_servicing_matches_the_reference_day_by_day(data: st.DataObject, case: Case) -> None:
    assume(reference_can_schedule(reference_rows(case)))
    span = (reference_rows(case)[-1].due - case.disbursed).days
    run_lockstep(case, data.draw(plans(span)))


@settings(CASES, max_examples=80)
@given(data=st.data(), case=loans(max_months=8, max_days=45))
def test_replay_rebuilds_the_position_and_a_reversal_equals_never_having_paid(data: st.DataObject, case: Case) -> None:
    assume(reference_can_schedule(reference_rows(case)))
    span = (reference_rows(case)[-1].due - case.disbursed).days
    plan = data.draw(plans(span))
    run = run_lockstep(case, plan)
    last = case.disbursed + timedelta(days=plan.horizon - 1)
    assert replay(run.opening, run.made, closed_through=last).position == run.position
    assume(run.made)
    bounced = data.draw(st.sampled_from(run.made))
    replayed = replay(run.opening, [*run.made, PaymentReversed(bounced.payment_id)], closed_through=last)
    # The reference, serviced again without the bounced payment (every later payment still fits: a reversal only
    # raises the payoff).
    loan = reference_loan(case, reference_rows(case))
    remaining = {p.paid_on: ref.paise(p.amount) for p in run.made if p is not bounced}
    for offset in range(plan.horizon):
        day = case.disbursed + timedelta(days=offset)
        if day in remaining:
            assert loan.pay(remaining[day]) is not None
        loan.close_day()
    assert books(replayed.position) == reference_books(loan)
    assert replayed.position.asset_class.value == loan.asset_class
    assert [pid for pid, _ in replayed.allocations] == [p.payment_id for p in run.made if p is not bounced]


@settings(CASES, max_examples=100)
@given(data=st.data(), case=loans(max_months=12, max_days=60))
def test_every_payment_lowers_the_payoff_by_its_amount(data: st.DataObject, case: Case) -> None:
    assume(reference_can_schedule(reference_rows(case)))
    position = open_position(build_schedule(case.terms, case.disbursed, case.cal), case.penal)
    last_due = position.instalments[-1].due_date
    day = case.disbursed + timedelta(days=data.draw(st.integers(0, (last_due - case.disbursed).days + 40)))
    position = replay(position, [], closed_through=day - timedelta(days=1)).position
    before = payoff(position, day).total
    amount = Decimal(data.draw(st.integers(1, ref.paise(before)))).scaleb(-2)
    applied = allocate(position, amount, day)
    assert payoff(applied.position, day).total == before - amount
    assert sum((line.total for line in applied.allocation.lines), Decimal(0)) == amount
    assert applied.position.completed == (amount == before)


# The money bound ------------------------------------------------------------------------------------------------


@st.composite
def loans_reaching_the_bound(draw: st.DrawFn) -> Case:
    """Loans whose penal charges reach the money bound within months of falling overdue: compound at 10 % a day or
    more on any amount, simple at a high rate on amounts of thousands of crores."""
    kind = draw(st.sampled_from(LoanKind))
    disbursed = draw(disbursal_dates())
    penal_kind = draw(st.sampled_from(PenalKind))
    rate = draw(st.sampled_from(["10", "37.5", "50", "99.9999", "100"]))
    low, high = (10_000, 100_000_000) if penal_kind is PenalKind.COMPOUND else (2 * 10**12, 3 * 10**13)
    if kind is LoanKind.EMI:
        months = draw(st.integers(1, 6))
        terms = LoanTerms(
            kind=kind, principal=draw(amounts(low, high)), tenure=months, annual_percent=draw(decimal_rates(60))
        )
        span = months * 31
    else:
        days = draw(st.integers(1, 60))
        terms = LoanTerms(
            kind=kind, principal=draw(amounts(low, high)), tenure=days, daily_percent=draw(decimal_rates(2))
        )
        span = days
    penal = PenalTerms(kind=penal_kind, daily_percent=Decimal(rate))
    return Case(terms, disbursed, draw(repayment_calendars(disbursed, span)), penal)


@settings(CASES, max_examples=60)
@given(data=st.data(), case=loans_reaching_the_bound())
def test_penal_charges_stop_at_the_money_bound_as_the_reference_does(data: st.DataObject, case: Case) -> None:
    """Day by day every charge equals the reference's (which cuts the day's charge that would take what the loan owes
    past 99,999,999,999,999.99 to what reaches it, oldest instalment first, and charges nothing after); the replay
    and a quote's stretches give the same; nothing owed or quoted ever passes the bound."""
    rows = reference_rows(case)
    assume(reference_can_schedule(rows))
    plan = data.draw(plans((rows[-1].due - case.disbursed).days, after=400, at_least=120))
    run = run_lockstep(case, plan)
    owed = sum((i.unpaid for i in run.position.instalments), Decimal(0))
    assert owed <= MONEY_CEILING
    event("reached the bound" if owed == MONEY_CEILING else "below the bound")
    last = case.disbursed + timedelta(days=plan.horizon - 1)
    assert replay(run.opening, run.made, closed_through=last).position == run.position
    later = run.position.open_day + timedelta(days=data.draw(st.integers(0, 400)))
    assert advance_position(run.position, later) == advance_to(run.position, later)[0]
    assert payoff(run.position, later).total <= MONEY_CEILING
