"""The Loans and Products applications on a real PostgreSQL event store checked against
tests/unit/lending_fuzz_reference.py (a third implementation of LENDING.md, exact fractions; nothing from domain/)
over seeded generated loans, where the other references do not drive them: a product's pricing preview against the
loan it becomes (the brand's repayment calendar: Sundays worked or not, repayment holidays); payments back-dated to
any day since disbursal, on the due date itself, of the payoff and of the payoff + 0.01; penal-charge waivers asked
and approved between them; reversals; payoff quotes as of any day, past or ahead; COB run for some days and not
others, and for days already closed; then a settlement or a write-off, after which nothing is owed."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from adapters.postgres import EVENTS_SCHEMA, eventsourcing_env
from domain.loans.application import Loans
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.payments import PaymentAbovePayoff
from domain.loans.servicing_views import servicing_view
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee, LoanKind, PenalKind, PenalTerms
from domain.products.application import Products, version_of
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidValue
from domain.shared.numbering import CountingSeries
from tests.application.loans.fakes import BRAND, PRODUCT, Book, Catalogue, Facts, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed
from tests.support import drop_database, fresh_database_dsn
from tests.unit import lending_fuzz_reference as R

S = LoanStatus
CLOCK = datetime(2026, 11, 30, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    name = fresh_database_dsn("cd_fuzz")
    with psycopg.connect(name, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {EVENTS_SCHEMA}")
    yield name
    drop_database(name)


@dataclass
class Desk:
    loans: Loans
    products: Products
    parties: MovableParties
    catalogue: Catalogue = field(default_factory=Catalogue)


@pytest.fixture
def desk(dsn: str) -> Iterator[Desk]:
    parties, catalogue, book = MovableParties(), Catalogue(), Book()
    loans = Loans(env=eventsourcing_env(dsn), clock=FixedClock(CLOCK), parties=parties, book=book, facts=Facts(),
                  catalogue=catalogue, numbers=CountingSeries("FZ"))  # fmt: skip
    book.app = loans
    products = Products(env=eventsourcing_env(dsn), clock=FixedClock(CLOCK), business_day=parties.business_date,
                        repayment_calendar=parties.repayment_calendar)  # fmt: skip
    yield Desk(loans, products, parties, catalogue)
    loans.close()
    products.close()


def _product_terms(kind: str, rate: Decimal, penal: tuple[str, Decimal], fees: dict[str, Any]) -> dict[str, Any]:
    emi = kind == "emi"
    return {
        "name": "Fuzz", "kind": kind, "min_amount": "1000", "max_amount": "500000", "min_tenure": 1,
        "max_tenure": 36 if emi else 90, ("annual_percent" if emi else "daily_percent"): str(rate),
        "penal": {"kind": penal[0], "daily_percent": str(penal[1])}, "max_active_loans": 100, **fees,
    }  # fmt: skip


def _sunday(d: date) -> date:
    return d + timedelta(days=(6 - d.weekday()) % 7)


# The pricing preview is the loan ----------------------------------------------------------------------------------


def test_a_quote_falls_due_where_the_loan_does_on_the_brands_calendar(desk: Desk) -> None:
    """A brand that works Sundays: a 7-day payday loan disbursed on Sunday 29 Nov 2026 falls due on Sunday 6 Dec
    (the quote said Monday 7 Dec); a brand with 30 Dec 2026 as a repayment holiday: the first EMI of a loan
    disbursed on 30 Nov falls due on 31 Dec (the quote said 30 Dec)."""
    payday = desk.products.create(BRAND, "PD7", _product_terms("payday", Decimal(1), ("simple", Decimal("0.1")), {
        "processing_fee": {"kind": "fixed", "value": "100", "gst_inclusive": False}})).id  # fmt: skip
    desk.parties.calendar = RepaymentCalendar(sunday_off=False)
    quote = desk.products.quote(BRAND, payday, "10000", 7, disbursed_on=date(2026, 11, 29))
    assert quote.first_due_date == date(2026, 12, 6)
    emi = desk.products.create(BRAND, "EMI3", _product_terms("emi", Decimal(24), ("simple", Decimal("0.1")), {
        "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False}})).id  # fmt: skip
    desk.parties.calendar = RepaymentCalendar(holidays=frozenset({date(2026, 12, 30)}))
    quote = desk.products.quote(BRAND, emi, "50000", 3, disbursed_on=date(2026, 11, 30))
    assert quote.first_due_date == date(2026, 12, 31)


def test_generated_quotes_match_the_reference_and_the_loans_they_become(desk: Desk) -> None:
    rng = random.Random(20261130)
    for n in range(12):
        kind = rng.choice(["emi", "payday"])
        rate = rng.choice([Decimal(0), Decimal("12.5"), Decimal("36")]) if kind == "emi" else (
            rng.choice([Decimal(0), Decimal("0.75"), Decimal("1")]))  # fmt: skip
        fees = {
            "processing_fee": rng.choice([{"kind": "percent", "value": rng.choice(["2.5", "0", "3.75"])},
                                          {"kind": "fixed", "value": rng.choice(["499", "0", "1000.01"])}])
            | {"gst_inclusive": rng.random() < 0.5},
            "convenience_fee": {"kind": "fixed", "value": rng.choice(["0", "99.99"]), "gst_inclusive": rng.random() < 0.5},
            "gst_percent": rng.choice(["18", "12.5", "0"]),
        }  # fmt: skip
        code = f"FZ{n}"
        created = desk.products.create(BRAND, code, _product_terms(kind, rate, ("simple", Decimal("0.1")), fees))
        disbursed_on = _sunday(date(2026, 1, 1) + timedelta(days=rng.randrange(0, 700))) - timedelta(
            days=rng.choice([0, 1, 7, 14, 30]))  # fmt: skip
        tenure = rng.randrange(1, 13) if kind == "emi" else rng.choice([6, 7, 13, 14, 30])
        holidays = frozenset(disbursed_on + timedelta(days=rng.randrange(1, 120)) for _ in range(rng.randrange(0, 5)))
        desk.parties.calendar = RepaymentCalendar(sunday_off=rng.random() < 0.5, holidays=holidays)
        amount = rng.randrange(10_000_00, 200_000_00)
        cal = desk.parties.calendar
        make = R.emi_lines if kind == "emi" else R.payday_lines
        lines = make(amount, rate, tenure, disbursed_on, cal.sunday_off, cal.holidays)
        if not R.schedulable(lines):
            continue
        quote = desk.products.quote(BRAND, created.id, R.to_rupees(amount), tenure, disbursed_on=disbursed_on)
        assert (quote.first_due_date, R.to_paise(quote.first_instalment)) == (
            lines[0].due, lines[0].principal + lines[0].interest), (n, kind, disbursed_on, cal)  # fmt: skip
        assert R.to_paise(quote.total_interest) == sum(x.interest for x in lines)
        fee = fees["processing_fee"]
        processing = R.fee_paise(str(fee["kind"]), Decimal(str(fee["value"])), amount)
        p_gst = R.gst_paise(processing, Decimal(fees["gst_percent"]), bool(fee["gst_inclusive"]))
        conv = R.to_paise(fees["convenience_fee"]["value"])
        c_gst = R.gst_paise(conv, Decimal(fees["gst_percent"]), fees["convenience_fee"]["gst_inclusive"])
        on_top = (0 if fee["gst_inclusive"] else p_gst) + (0 if fees["convenience_fee"]["gst_inclusive"] else c_gst)
        assert R.to_paise(quote.pricing.net_disbursed) == amount - processing - conv - on_top
        # The loan on that product, disbursed on that day with that calendar, falls due on the quoted dates.
        desk.catalogue.products[(BRAND, PRODUCT)] = replace(version_of(desk.products.product(BRAND, created.id), 1),
            id=PRODUCT, bre_rules=product_version().bre_rules, max_active_loans=100_000)  # fmt: skip
        desk.parties.today = disbursed_on
        loan_id = disbursed(desk.loans, disbursed_on, str(R.to_rupees(amount)), tenure)
        schedule = desk.loans.get(BRAND, loan_id).servicing_schedule
        assert schedule is not None
        assert [(i.due_date, R.to_paise(i.principal), R.to_paise(i.interest)) for i in schedule.instalments] == [
            (x.due, x.principal, x.interest) for x in lines]  # fmt: skip
        assert schedule.instalments[0].due_date == quote.first_due_date


# Servicing in any order -------------------------------------------------------------------------------------------


@dataclass
class Spec:
    kind: str
    p: int
    rate: Decimal
    tenure: int
    d0: date
    sunday_off: bool
    holidays: frozenset[date]
    penal: tuple[str, Decimal]

    def lines(self) -> list[R.Line]:
        make = R.emi_lines if self.kind == "emi" else R.payday_lines
        return make(self.p, self.rate, self.tenure, self.d0, self.sunday_off, self.holidays)


Fact = tuple[str, date, int]  # ("pay" | "waive", on, paise), in the order recorded


def reference_at(spec: Spec, facts: list[Fact], open_day: date) -> R.RefLoan:
    """The reference loan from its disbursal with the facts dated up to `open_day` (by date, recorded order within
    a day), every day before `open_day` closed."""
    loan = R.RefLoan(spec.kind, spec.p, spec.rate, spec.tenure, spec.d0, spec.lines(), *spec.penal)
    for what, on, amount in sorted((f for f in facts if f[1] <= open_day), key=lambda f: f[1]):
        while loan.day < on:
            loan.cob()
        if what == "pay":
            assert loan.pay(amount) is not None, (on, amount)
        else:
            loan.waive(amount)
    while loan.day < open_day:
        loan.cob()
    return loan


def fits(spec: Spec, facts: list[Fact], today: date) -> bool:
    try:
        reference_at(spec, facts, today)
    except AssertionError:
        return False
    return True


def _spec(rng: random.Random) -> Spec:
    kind = rng.choice(["emi", "emi", "payday"])
    d0 = rng.choice([date(2024, 1, 31), date(2024, 2, 29), date(2025, 1, 31), date(2026, 5, 17), date(2027, 12, 31)])
    if kind == "emi":
        tenure, rate = rng.choice([1, 2, 3, 4]), rng.choice([Decimal(0), Decimal(7), Decimal("36")])
    else:
        tenure, rate = rng.choice([1, 7, 15, 30]), rng.choice([Decimal(0), Decimal("0.5"), Decimal("1.25")])
    holidays = frozenset(d0 + timedelta(days=rng.randrange(1, 130)) for _ in range(rng.randrange(0, 6)))
    penal = (rng.choice(["simple", "compound"]), rng.choice([Decimal("0.1"), Decimal("1.5")]))
    return Spec(kind, rng.randrange(10_000_00, 200_000_00), rate, tenure, d0, rng.random() < 0.5, holidays, penal)


def _open(desk: Desk, spec: Spec) -> UUID:
    emi = spec.kind == "emi"
    desk.catalogue.products[(BRAND, PRODUCT)] = product_version(
        kind=LoanKind(spec.kind), annual_percent=spec.rate if emi else None, daily_percent=None if emi else spec.rate,
        min_tenure=1, max_tenure=3650, penal=PenalTerms(kind=PenalKind(spec.penal[0]), daily_percent=spec.penal[1]),
        max_active_loans=100_000, max_amount=Decimal("500000.00"),
        processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("1")),
    )  # fmt: skip
    desk.parties.calendar = RepaymentCalendar(sunday_off=spec.sunday_off, holidays=spec.holidays)
    desk.parties.today = spec.d0
    return disbursed(desk.loans, spec.d0, str(R.to_rupees(spec.p)), spec.tenure)


def _service(desk: Desk, seed: int, tally: dict[str, int]) -> None:
    rng = random.Random(seed)
    spec = _spec(rng)
    lines = spec.lines()
    if not R.schedulable(lines):
        return
    app, loan_id = desk.loans, _open(desk, spec)
    facts: list[Fact] = []
    payments: dict[str, Fact] = {}
    dues = {x.due for x in lines}
    today, last = spec.d0, lines[-1].due + timedelta(days=rng.randrange(10, 100))
    while today <= last:
        desk.parties.today = today
        for step in range(rng.randrange(0, 3) + (today in dues)):
            where = (seed, today, step)
            roll = rng.random()
            if roll < 0.5 or today in dues:
                on = (
                    today
                    if rng.random() < 0.6
                    else today - timedelta(days=rng.randrange(0, (today - spec.d0).days + 1))
                )
                due = reference_at(spec, facts, on).payoff()
                amount = (
                    rng.choice([due, due + 1, max(1, due // 3), max(1, due // 7), rng.randrange(1, due + 2)])
                    if due
                    else 1
                )
                applies = due > 0 and fits(spec, [*facts, ("pay", on, amount)], today)
                try:
                    _, record = app.record_repayment(
                        BRAND, loan_id, R.to_rupees(amount), "upi", f"F{seed}-{today}-{step}", on
                    )
                except (PaymentAbovePayoff, InvalidValue, Conflict) as refused:
                    assert not applies, (where, on, amount, due, refused)
                    tally["refused"] += 1
                else:
                    assert applies, (where, on, amount, due)
                    facts.append(("pay", on, amount))
                    payments[record.payment_id] = facts[-1]
                    tally["back-dated" if on < today else "payments"] += 1
            elif roll < 0.7:
                reference = reference_at(spec, facts, today)
                unpaid = sum(x.left("penal") for x in reference.insts if x.due < today)
                assert R.to_paise(app.get(BRAND, loan_id).penal_outstanding(today)) == unpaid, where
                if unpaid and app.get(BRAND, loan_id).status in (S.OVERDUE, S.PARTIALLY_PAID, S.ACTIVE):
                    asked = rng.randrange(1, unpaid + 1)
                    with pytest.raises(InvalidValue):  # more than is unpaid
                        app.request_waiver(BRAND, loan_id, R.to_rupees(unpaid + 1), "hardship, job loss")
                    _, waiver = app.request_waiver(BRAND, loan_id, R.to_rupees(asked), "hardship, job loss")
                    app.approve_waiver(BRAND, loan_id, waiver.waiver_id)
                    cob = app.get(BRAND, loan_id).cob_through
                    facts.append(("waive", max(today, cob + timedelta(days=1)) if cob else today, asked))
                    tally["waivers"] += 1
            elif roll < 0.8 and payments:
                # by the payments' facts, not their random ids: the same seed reverses the same payment every run
                payment_id = rng.choice(sorted(payments, key=lambda k: (payments[k], str(k))))
                app.reverse_repayment(BRAND, loan_id, payment_id, "cheque bounced")
                facts.remove(payments.pop(payment_id))
                tally["reversals"] += 1
            else:
                as_of = spec.d0 + timedelta(days=rng.randrange(0, (today - spec.d0).days + 60))
                quote = app.payoff(BRAND, loan_id, as_of).total
                assert R.to_paise(quote) == reference_at(spec, facts, as_of).payoff(), (where, as_of)
                tally["quotes"] += 1
        if rng.random() < 0.7:
            app.close_business_day(BRAND, loan_id, today)
        closed_through = app.get(BRAND, loan_id).cob_through
        if closed_through is not None and rng.random() < 0.15:  # a date already closed: nothing changes
            # (a past date after `cob_through` is not closed yet, and closing it runs the missed days' COB)
            before = app.get(BRAND, loan_id).version
            app.close_business_day(BRAND, loan_id, closed_through - timedelta(days=rng.randrange(0, 10)))
            assert app.get(BRAND, loan_id).version == before
        loan = app.get(BRAND, loan_id)
        # (the view of a day whose COB has run is the next day's: that day's charges are in it)
        reference = reference_at(
            spec, facts, max(today, loan.cob_through + timedelta(days=1)) if loan.cob_through else today
        )
        view = servicing_view(loan, today)
        assert R.to_paise(view.outstanding.total) == reference.payoff(), (seed, today)
        assert view.dpd == (0 if reference.closed else reference.dpd(today)), (seed, today)
        assert (loan.status is S.COMPLETED) == reference.closed, (seed, today)
        if reference.closed:
            tally["completed"] += 1
            return
        today += timedelta(days=rng.choice([1, 1, 2, 5, 11]))
    _end(desk, spec, loan_id, facts, today, rng, tally)


def _end(desk: Desk, spec: Spec, loan_id: UUID, facts: list[Fact], today: date, rng: random.Random,
         tally: dict[str, int]) -> None:  # fmt: skip
    """A settlement (below the payoff only; paid in two parts) or a write-off: nothing is owed after it."""
    app = desk.loans
    desk.parties.today = today
    due = reference_at(spec, facts, today).payoff()
    if rng.random() < 0.5:
        with pytest.raises(InvalidValue):
            app.propose_settlement(BRAND, loan_id, R.to_rupees(due), "one-time settlement")
        offer = max(2, due // 2)
        _, proposed = app.propose_settlement(BRAND, loan_id, R.to_rupees(offer), "one-time settlement")
        assert R.to_paise(proposed.payoff_at_proposal) == due
        app.approve_settlement(BRAND, loan_id, proposed.settlement_id)
        first = offer // 3 or 1
        app.record_repayment(BRAND, loan_id, R.to_rupees(first), "upi", f"S1-{loan_id}")
        with pytest.raises(InvalidValue):  # above what is left of the settlement
            app.record_repayment(BRAND, loan_id, R.to_rupees(offer - first + 1), "upi", f"S2-{loan_id}")
        app.record_repayment(BRAND, loan_id, R.to_rupees(offer - first), "upi", f"S3-{loan_id}")
        assert app.get(BRAND, loan_id).status is S.SETTLED
        tally["settled"] += 1
    else:
        app.write_off(BRAND, loan_id, "unrecoverable")
        assert app.get(BRAND, loan_id).status is S.WRITTEN_OFF
        tally["written off"] += 1
    for later in (today, today + timedelta(days=30)):
        assert app.payoff(BRAND, loan_id, later).total == 0


def test_servicing_in_any_order_matches_the_reference_through_settlement_and_write_off(desk: Desk) -> None:
    tally: dict[str, int] = dict.fromkeys(
        ["payments", "back-dated", "refused", "waivers", "reversals", "quotes", "completed", "settled", "written off"],
        0,
    )
    for seed in range(30):
        _service(desk, seed, tally)
    assert all(tally.values()), tally
