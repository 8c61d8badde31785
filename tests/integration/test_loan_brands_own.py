"""The disbursal queue's and the agreements' rows take each loan's brand from their projection's own table, fed by
`Loan.Created` (projections/loan_brands.py), on PostgreSQL: never from `read.loans`, which is empty while the loans
projection is rebuilt, behind while its runner is, and not yet refilled when either projection is rebuilt in another
order. They used to `SELECT ... FROM read.loans`, and a loan whose row was not there was silently left out of the Ops
queue and the agreement worker's to-do. A database made before the tables fills them once from the rows at hand; a
loan the projection never saw created is a failed event (recorded, retried), not a row silently lost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from adapters.postgres import Database
from domain.loans.bre import ApplicantFacts, BrandPolicy, evaluate
from domain.loans.loan import Channel, Loan
from domain.loans.loan_events import PayoutMode
from domain.loans.pricing import price
from domain.loans.terms import AmountKind, Fee, LoanKind, LoanTerms
from projections import disbursals, loan_agreements
from projections.batch_writes import _PipelinedWrites
from projections.disbursals import DisbursalViews
from projections.loan_agreements import ISSUE, AgreementQueries, LoanAgreementsView
from projections.loans import LoanViews
from projections.projection import Projection
from tests.support import drop_database, fresh_database_dsn

POLICY = BrandPolicy(min_salary=Decimal(15000), min_age=22, max_age=54, rejection_cooldown_days=15)
FEE = Fee(kind=AmountKind.PERCENT, value=Decimal(2))
EXPIRES = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_loan_brands")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            for view in (LoanViews(), DisbursalViews(), LoanAgreementsView()):
                view.create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _created(brand: uuid.UUID) -> Loan:
    return Loan(
        id=uuid.uuid4(), brand_id=brand, customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number=f"DEMO-L-{uuid.uuid4().hex[:6]}", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=FEE), instalment=Decimal("4727.98"),
    )  # fmt: skip


def _paid_out(loan: Loan) -> Loan:
    """The loan sanctioned, signed, queued for disbursal and a payout sent to the gateway."""
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((), facts, POLICY, date(2026, 11, 30)), date(2026, 11, 30))
    loan.cx_approve(Decimal("50000.00"), "fine")
    terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("45000.00"), tenure=12, annual_percent=Decimal(24))
    loan.sanction(Decimal("45000.00"), price(Decimal("45000.00"), processing_fee=FEE), terms, Decimal("4255.18"), "ok")
    loan.issue_agreement("ab" * 32, "sha256:" + "ab" * 32, "es-1", "https://esign/sign/es-1", EXPIRES)
    loan.sign("es-1", EXPIRES)
    loan.ready_for_disbursal("acct-1")
    loan.initiate_disbursal(PayoutMode.IMPS, 1, "gw-1")
    return loan


def _project(db: Database, views: Sequence[Projection], events: Sequence[Any], start: int = 1) -> None:
    """Apply the events with these projections alone, in one transaction, as a runner's batch does."""
    with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
        for view in views:
            for position, event in enumerate(events, start):
                for change in view.project(position, event):
                    out.send(change)


def _rows(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(sql, params).fetchall()]


def test_queue_and_agreement_rows_are_written_with_the_loans_read_model_empty(db: Database) -> None:
    # read.loans is empty (as while `projections rebuild loans` runs): the two projections go on alone.
    brand, other_brand = uuid.uuid4(), uuid.uuid4()
    loan, other = _paid_out(_created(brand)), _paid_out(_created(other_brand))
    _project(db, [DisbursalViews(), LoanAgreementsView()], [*loan.collect_events(), *other.collect_events()])

    assert _rows(db, "SELECT count(*) FROM read.loans") == [(0,)]
    assert _rows(db, "SELECT brand_id, state, attempts FROM read.loan_disbursals WHERE loan_id = %s", loan.id) == [
        (brand, "initiated", 1)
    ]
    assert _rows(
        db, "SELECT brand_id, gateway_reference FROM read.loan_payout_attempts WHERE loan_id = %s", loan.id
    ) == [(brand, "gw-1")]
    assert _rows(db, "SELECT brand_id, esign_state FROM read.loan_agreements WHERE loan_id = %s", loan.id) == [
        (brand, "signed")
    ]
    assert _rows(db, "SELECT brand_id FROM read.loan_disbursals WHERE loan_id = %s", other.id) == [(other_brand,)]
    # What the API reads, brand-scoped: the loan's own brand sees it, another brand does not.
    queries = AgreementQueries(db.pool)
    found = queries.esign(brand, loan.id)
    assert found is not None and found.state == "signed" and found.request_id == "es-1"
    assert queries.esign(other_brand, loan.id) is None


def test_a_sanction_before_the_loans_read_model_reaches_the_loan_still_queues_its_agreement(db: Database) -> None:
    # The loans projection is behind (a rebuild part way, or its runner elsewhere): the sanction comes in a later
    # batch than the loan's creation, and read.loans has neither.
    brand = uuid.uuid4()
    loan = _created(brand)
    views = [DisbursalViews(), LoanAgreementsView()]
    created = loan.collect_events()
    _project(db, views, created)
    facts = ApplicantFacts(credit_score=720)
    loan.submit(facts, POLICY, evaluate((), facts, POLICY, date(2026, 11, 30)), date(2026, 11, 30))
    loan.cx_approve(Decimal("50000.00"), "fine")
    terms = LoanTerms(kind=LoanKind.EMI, principal=Decimal("45000.00"), tenure=12, annual_percent=Decimal(24))
    loan.sanction(Decimal("45000.00"), price(Decimal("45000.00"), processing_fee=FEE), terms, Decimal("4255.18"), "ok")
    _project(db, views, loan.collect_events(), start=len(created) + 1)
    assert AgreementQueries(db.pool).work(ISSUE) == [loan_agreements.AgreementWork(brand_id=brand, loan_id=loan.id)]


def test_a_loan_never_seen_created_is_a_failed_event_not_a_lost_row(db: Database) -> None:
    loan = _paid_out(_created(uuid.uuid4()))
    later = [e for e in loan.collect_events() if type(e).__name__ != "Created"]
    for view in (DisbursalViews(), LoanAgreementsView()):
        with pytest.raises(psycopg.errors.NotNullViolation):
            _project(db, [view], later)


def test_a_database_made_before_the_brand_tables_fills_them_once_from_the_rows_at_hand(db: Database) -> None:
    brand = uuid.uuid4()
    queued, applied, started = _created(brand), _created(brand), _created(brand)
    _paid_out(queued)
    with db.pool.connection() as conn:
        for view in (DisbursalViews(), LoanAgreementsView()):
            view.drop(conn)
    # As the projections were before they kept the brands: read.loans has every loan, their own tables some.
    _project(db, [LoanViews()], [*queued.collect_events(), *applied.collect_events(), *started.collect_events()])
    with db.pool.connection() as conn:
        for view, brands in ((DisbursalViews(), disbursals.BRANDS), (LoanAgreementsView(), loan_agreements.BRANDS)):
            for statement in view.ddl:
                if brands not in statement:
                    conn.execute(statement)
        conn.execute(
            "INSERT INTO read.loan_disbursals (loan_id, brand_id, net_disbursed, bank_account_ref, state, queued_at, "
            "updated_at) VALUES (%s, %s, 44000, 'acct-1', 'queued', now(), now())",
            (queued.id, brand),
        )
        conn.execute(
            "INSERT INTO read.loan_agreements (loan_id, brand_id, sanctioned_at, updated_at) VALUES (%s, %s, now(), now())",
            (queued.id, brand),
        )
        conn.execute("DELETE FROM read.loans WHERE id = %s", (queued.id,))  # (its own rows still know its brand)
        for view in (DisbursalViews(), LoanAgreementsView()):
            view.create(conn)  # the next start's setup
    every = sorted([queued.id, applied.id, started.id])
    for table in (disbursals.BRANDS, loan_agreements.BRANDS):
        assert _rows(db, f"SELECT loan_id, brand_id FROM {table} ORDER BY loan_id") == [(i, brand) for i in every]

    # A rebuild (the tables dropped and made again) copies nothing: the replay of the loans' creations fills them.
    with db.pool.connection() as conn:
        for view in (DisbursalViews(), LoanAgreementsView()):
            view.drop(conn)
            view.create(conn)
    for table in (disbursals.BRANDS, loan_agreements.BRANDS):
        assert _rows(db, f"SELECT count(*) FROM {table}") == [(0,)]
