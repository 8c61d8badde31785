"""`read.loans.rejected_on` on PostgreSQL - what the BRE's COOLDOWN and the borrower's re-apply rule read
(`LoanQueries.last_rejected_on`) - is the brand's business date each rejection recorded (a person's, an override's,
a product change's), not the date of the event's instant; a rejection stored before the date was recorded keeps
the date of its instant (what it was always given)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from adapters.postgres import Database
from domain.loans.application_products import product_terms
from domain.loans.bre import ApplicantFacts, BrandPolicy, Rule, RuleSpec, evaluate, make_override
from domain.loans.loan import Channel, Loan
from domain.loans.loan_decisions import ProductChange
from domain.loans.pricing import price
from domain.loans.terms import AmountKind, Fee
from projections.batch_writes import _PipelinedWrites
from projections.loan_queries import LoanQueries
from projections.loans import LoanViews
from tests.application.loans.fakes import product_version
from tests.support import drop_database, fresh_database_dsn

POLICY = BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)
SUBMITTED = date(2026, 11, 30)
#: 20:00 UTC on 30 Nov is 01:30 on 1 Dec in India; the brand runs as of 3 Dec (its business date is set).
AT = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
BUSINESS_DAY = date(2026, 12, 3)
PASSING = ApplicantFacts(credit_score=720)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_rejection_dates")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            LoanViews().create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _pending(brand: uuid.UUID, customer: uuid.UUID) -> Loan:
    loan = Loan(
        id=uuid.uuid4(), brand_id=brand, customer_id=customer, product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number=f"DEMO-L-{uuid.uuid4().hex[:6]}", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal(2))),
        instalment=Decimal("4727.98"),
    )  # fmt: skip
    rules = (RuleSpec(Rule.CREDIT_SCORE, min=Decimal(700)),)
    loan.submit(PASSING, POLICY, evaluate(rules, PASSING, POLICY, SUBMITTED), SUBMITTED)
    return loan


def _project(db: Database, events: list[Any]) -> None:
    view = LoanViews()
    with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
        for position, event in enumerate(events, 1):
            for change in view.project(position, event):
                out.send(change)


def _at_late_evening(events: list[Any]) -> list[Any]:
    """The loan's events, its last one (the rejection) made at `AT`."""
    return [*events[:-1], events[-1].model_copy(update={"timestamp": AT})]


def test_every_rejection_is_dated_on_the_business_date_it_recorded(db: Database) -> None:
    brand = uuid.uuid4()
    by_person, by_override, by_product, old = (uuid.uuid4() for _ in range(4))
    events: list[Any] = []

    loan = _pending(brand, by_person)
    loan.reject("LOW_INCOME", "Income below our minimum", "salary credits below the minimum", today=BUSINESS_DAY)
    events += _at_late_evening(loan.collect_events())

    loan = _pending(brand, by_override)
    loan.override(make_override("COOLDOWN", "fail", "rejected last week under another phone"), BUSINESS_DAY)
    events += _at_late_evening(loan.collect_events())

    loan = _pending(brand, by_product)
    strict = product_version(bre_rules=(RuleSpec(Rule.CREDIT_SCORE, min=Decimal(780)),))
    outcome = evaluate(strict.bre_rules, PASSING, POLICY, SUBMITTED)
    change = ProductChange(
        product_id=strict.id, product_version=strict.version, amount=Decimal("50000.00"), tenure=18,
        terms=product_terms(strict), pricing=loan.pricing, instalment=Decimal("3500.00"), facts=PASSING.to_record(),
        results=[r.to_record() for r in outcome.results], passed=outcome.passed,
    )  # fmt: skip
    loan.change_product(change, "borrower qualifies for the other product only", BUSINESS_DAY)
    events += _at_late_evening(loan.collect_events())

    loan = _pending(brand, old)
    loan.reject("LOW_INCOME", "Income below our minimum", "salary credits below the minimum", today=BUSINESS_DAY)
    stored = loan.collect_events()
    events += _at_late_evening([*stored[:-1], stored[-1].model_copy(update={"rejected_on": None})])  # stored before

    _project(db, events)
    queries = LoanQueries(db.pool)
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT customer_id, status, rejected_on FROM read.loans WHERE brand_id = %s", (brand,))
        found = {r["customer_id"]: (r["status"], r["rejected_on"]) for r in rows}
    assert found == {
        by_person: ("rejected", BUSINESS_DAY),
        by_override: ("rejected", BUSINESS_DAY),
        by_product: ("rejected", BUSINESS_DAY),
        old: ("rejected", date(2026, 11, 30)),  # the date of its instant, as before (the session's UTC)
    }
    assert queries.last_rejected_on(brand, by_person) == BUSINESS_DAY  # what the COOLDOWN and re-apply rule read
    assert queries.last_rejected_on(brand, old) == date(2026, 11, 30)
