"""Servicing checked against an independent reference (issue #15): many seeded-random loans (EMI and payday,
month-end and leap-year disbursals, Sundays off or not, runs of holidays, zero and high rates, simple and compound
penal charges) serviced through the Loans application day by day - partial, advance, duplicate, reversed and
over-payoff payments, COB every evening - and every figure compared with `tests/unit/lending_reference.py`, a
second implementation of LENDING.md in integer paise that shares no code with `domain/loans`: the schedule, each
payment's allocation, the payoff every day, penal charges, DPD and class every evening, the status.

A reversal is checked by rebuilding the reference from the disbursal with the payments that stand (the reference
is a mutable day-by-day loan, as LENDING.md reads: a reversed payment never happened)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.payments import PaymentAbovePayoff
from domain.loans.servicing_views import servicing_view
from domain.loans.states import LoanStatus
from domain.loans.terms import LoanKind, PenalKind, PenalTerms
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed
from tests.unit import lending_reference as ref

SEED = 15
LOANS = 14


@dataclass
class Case:
    """One generated loan: its product terms, calendar, disbursal date, the days to simulate."""

    kind: LoanKind
    amount: Decimal
    tenure: int
    rate: Decimal
    penal: PenalTerms
    disbursed_on: date
    sunday_off: bool
    holidays: frozenset[date]
    days: int
    payments: list[tuple[str, Decimal, date]] = field(default_factory=list)  # (id, amount, paid_on) standing


def _case(rng: random.Random) -> Case:
    kind = rng.choice([LoanKind.EMI, LoanKind.EMI, LoanKind.PAYDAY])
    disbursed_on = rng.choice([date(2024, 1, 31), date(2024, 2, 29), date(2023, 1, 31), date(2025, 8, 31),
                               date(2026, 3, 1), date(2026, 5, 17), date(2024, 12, 30)])  # fmt: skip
    if kind is LoanKind.EMI:
        tenure, rate, days = rng.choice([3, 4, 6]), rng.choice([Decimal(0), Decimal("12.5"), Decimal("36"),
                                                               Decimal("99.9999")]), 0  # fmt: skip
    else:
        tenure, rate, days = rng.choice([7, 15, 30]), rng.choice([Decimal(0), Decimal("0.5"), Decimal("1.25")]), 0
    holidays = frozenset(disbursed_on + timedelta(days=rng.randrange(5, 200)) for _ in range(rng.randrange(0, 6)))
    penal = PenalTerms(kind=rng.choice([PenalKind.SIMPLE, PenalKind.COMPOUND]),
                       daily_percent=rng.choice([Decimal(0), Decimal("0.1"), Decimal("1.5")]))  # fmt: skip
    amount = Decimal(rng.randrange(10_000, 200_000)).quantize(Decimal("0.01"))
    days = (tenure * 31 if kind is LoanKind.EMI else tenure) + rng.randrange(5, 100)
    return Case(kind, amount, tenure, rate, penal, disbursed_on, rng.random() < 0.5, holidays, days)


def _reference(case: Case, through: date | None, payments: list[tuple[str, Decimal, date]]) -> ref.Loan:
    """The reference loan with the standing payments, every day closed through `through` (its open day after)."""
    p = ref.paise(case.amount)
    if case.kind is LoanKind.EMI:
        rows = ref.emi_rows(p, case.rate, case.tenure, case.disbursed_on, case.sunday_off, case.holidays)
    else:
        rows = ref.payday_rows(p, case.rate, case.tenure, case.disbursed_on, case.sunday_off, case.holidays)
    loan = ref.Loan(case.kind.value, p, case.rate, case.tenure, case.disbursed_on, rows, case.penal.kind.value,
                    case.penal.daily_percent)  # fmt: skip
    last = max([through or case.disbursed_on - timedelta(days=1), *(d for _, _, d in payments)])
    while loan.day <= last:
        for _, amount, paid_on in payments:
            if paid_on == loan.day:
                assert loan.pay(ref.paise(amount)) is not None
        if through is None or loan.day > through:
            break
        loan.close_day()
    return loan


def _expected_status(loan: ref.Loan, on: date) -> LoanStatus:
    if loan.closed:
        return LoanStatus.COMPLETED
    if loan.dpd(on) > 0:
        return LoanStatus.OVERDUE
    first = next((s for s in loan.slots if s.open()), None)
    return LoanStatus.PARTIALLY_PAID if first is not None and any(first.paid.values()) else LoanStatus.ACTIVE


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue()


def _bound_case(rng: random.Random) -> Case:
    """A loan whose penal charges reach the money bound (99,999,999,999,999.99 owed) within weeks of falling
    overdue: compound at 10 % a day or more, or simple at half its amount a day on thousands of crores."""
    case = _case(rng)
    if rng.random() < 0.6:
        penal = PenalTerms(kind=PenalKind.COMPOUND, daily_percent=Decimal(rng.choice(["10", "37.5", "100"])))
    else:
        penal = PenalTerms(kind=PenalKind.SIMPLE, daily_percent=Decimal(rng.choice(["50", "100"])))
        case.amount = Decimal(rng.randrange(10**12, 5 * 10**13)).quantize(Decimal("0.01"))
    case.penal = penal
    case.days += rng.randrange(30, 200)
    return case


def _product(catalogue: Catalogue, case: Case) -> None:
    emi = case.kind is LoanKind.EMI
    catalogue.products[(BRAND, PRODUCT)] = product_version(
        kind=case.kind, annual_percent=case.rate if emi else None, daily_percent=None if emi else case.rate,
        min_tenure=1, max_tenure=3650, penal=case.penal, max_active_loans=10_000,
        max_amount=max(Decimal("500000.00"), case.amount),
    )  # fmt: skip


def test_servicing_matches_the_reference_over_generated_loans(
    loans: Loans, parties: MovableParties, catalogue: Catalogue
) -> None:
    checked = _service(loans, parties, catalogue, random.Random(SEED), _case, LOANS)
    assert checked["payments"] > 50 and checked["reversals"] > 5 and checked["refused"] > 5, checked


def test_servicing_matches_the_reference_at_the_money_bound(
    loans: Loans, parties: MovableParties, catalogue: Catalogue
) -> None:
    """Loans whose penal charges reach 99,999,999,999,999.99 owed: the day's charge reaching it is cut, later days
    charge nothing until a payment makes room, the payoff never passes it - the same as the reference, which cuts
    its own charges in integer paise - through payments, refusals and reversals."""
    checked = _service(loans, parties, catalogue, random.Random(SEED), _bound_case, 8)
    assert checked["at the bound"] > 3 and checked["payments"] > 20 and checked["reversals"] > 2, checked


def _service(
    loans: Loans,
    parties: MovableParties,
    catalogue: Catalogue,
    rng: random.Random,
    make: Callable[[random.Random], Case],
    count: int,
) -> dict[str, int]:
    """`count` loans made by `make`, serviced day by day against the reference; what was checked, counted."""
    checked = {"payments": 0, "refused": 0, "duplicates": 0, "reversals": 0, "days": 0, "completed": 0,
               "at the bound": 0}  # fmt: skip
    for _ in range(count):
        case = make(rng)
        _product(catalogue, case)
        parties.calendar = RepaymentCalendar(sunday_off=case.sunday_off, holidays=case.holidays)
        parties.today = case.disbursed_on
        loan_id = disbursed(loans, case.disbursed_on, str(case.amount), case.tenure)
        schedule = loans.get(BRAND, loan_id).servicing_schedule
        expected = _reference(case, None, [])
        assert schedule is not None
        assert [(i.due_date, ref.paise(i.principal), ref.paise(i.interest)) for i in schedule.instalments] == [
            (r.due, r.principal, r.interest) for r in expected.rows
        ]
        reference = _reference(case, None, [])
        at_bound = False
        for n in range(case.days):
            day = case.disbursed_on + timedelta(days=n)
            parties.today = day
            # the payoff on the open day, before anything is paid
            quote = loans.payoff(BRAND, loan_id, day)
            assert ref.paise(quote.total) == reference.payoff(), (case, day)
            roll = rng.random()
            if roll < 0.12 and not reference.closed:
                payoff = reference.payoff()
                amount = rng.choice([payoff, rng.randrange(1, payoff + 1), min(payoff, rng.randrange(1, 5000_00))])
                pid = f"R-{loan_id}-{n}"
                _, record = loans.record_repayment(BRAND, loan_id, ref.rupees(amount), "upi", pid)
                lines = reference.pay(amount)
                assert [(a.no, ref.paise(a.penal), ref.paise(a.interest), ref.paise(a.principal))
                        for a in record.allocation] == lines, (case, day)  # fmt: skip
                case.payments.append((record.payment_id, ref.rupees(amount), day))
                checked["payments"] += 1
                with pytest.raises(Conflict):  # the same reference again
                    loans.record_repayment(BRAND, loan_id, "1.00", "upi", pid)
                checked["duplicates"] += 1
            elif roll < 0.16:
                above = reference.payoff() + 1
                # (above the bound: no amount at all, refused as such)
                with pytest.raises(PaymentAbovePayoff if above <= ref.MOST_OWED else InvalidInput):
                    loans.record_repayment(BRAND, loan_id, ref.rupees(above), "cash", f"X-{n}")
                assert reference.pay(above) is None
                checked["refused"] += 1
            elif roll < 0.19 and case.payments:
                gone = case.payments.pop(rng.randrange(len(case.payments)))
                loans.reverse_repayment(BRAND, loan_id, gone[0], "cheque bounced")
                reference = _reference(case, day - timedelta(days=1), case.payments)
                checked["reversals"] += 1
            view = servicing_view(loans.get(BRAND, loan_id), day)
            assert view.dpd == (0 if reference.closed else reference.dpd(day)), (case, day)
            assert ref.paise(view.outstanding.total) == reference.payoff()
            # the evening: COB
            loans.close_business_day(BRAND, loan_id, day)
            if not reference.closed:
                reference.close_day()
                position = loans.get(BRAND, loan_id).replayed().position
                assert [ref.paise(i.penal_accrued) for i in position.instalments] == [
                    s.owed["penal"] for s in reference.slots
                ], (case, day)
                assert str(position.asset_class) == reference.asset_class, (case, day)
                at_bound = at_bound or reference.owed_now() == ref.MOST_OWED
            else:
                reference.day = day + timedelta(days=1)
            # the state after the day's events and its close (COB moves it; a payment or reversal moves it at once)
            assert loans.get(BRAND, loan_id).status is _expected_status(reference, day), (case, day)
            checked["days"] += 1
        checked["completed"] += reference.closed
        checked["at the bound"] += at_bound
    return checked
