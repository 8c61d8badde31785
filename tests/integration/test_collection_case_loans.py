"""Collection cases take their loan's number and borrower from the loans' own `Loan.Created`, kept by the collections
context's loan-side projection in `read.collection_loans` (projections/collection_dues.py), on PostgreSQL: never from
`read.loans`, which is empty while `projections rebuild loans` runs and behind while its runner is. They used to copy
them from `read.loans` when the case row was written, and a case written then had neither (on the worklist: no loan
number, no borrower) until a later sweep moved the loan, and a rebuild of `collections` at such a time wrote every case
without them. The two projections follow two sources at their own pace: a case written before its loan's creation is
projected gets the number when it is. A database made before the table fills it once from `read.loans` (and the cases
left without a number then). Brands stay apart: a case takes only its own brand's loan. The same on the platform, with
rebuilds: tests/integration/test_collection_case_loans_platform.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapters.postgres import Database
from domain.collections.case import CollectionCase, Stage
from domain.collections.moves import CaseMoves, Move, MoveKind
from domain.loans.loan import Channel, Loan
from domain.loans.pricing import price
from domain.loans.terms import AmountKind, Fee
from domain.shared.aggregate import with_id
from projections.batch_writes import _PipelinedWrites
from projections.collection_dues import LOANS, CollectionDuesView
from projections.collections import CollectionViews
from projections.loans import LoanViews
from projections.projection import Projection, Write
from tests.support import drop_database, fresh_database_dsn

DAY = date(2026, 3, 2)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_case_loans")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            for view in (LoanViews(), CollectionViews(), CollectionDuesView()):
                view.create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _created(brand: UUID) -> Loan:
    fee = Fee(kind=AmountKind.PERCENT, value=Decimal(2))
    return Loan(
        id=uuid.uuid4(), brand_id=brand, customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number=f"DEMO-L-{uuid.uuid4().hex[:6]}", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=fee), instalment=Decimal("4727.98"),
    )  # fmt: skip


def _case_events(brand: UUID, loan_id: UUID) -> list[Any]:
    """A sweep moving the loan into collections."""
    moves = with_id(CaseMoves, uuid.uuid4(), brand_id=brand, kind=MoveKind.SWEEP, business_date=DAY, moves=(
        Move(loan_id=loan_id, stage=Stage.COLLECTIONS, staff_id=None, previous=None, dpd=3, amount=Decimal("10.00"),
             closed=None),
    ), reason="close of business")  # fmt: skip
    return list(moves.collect_events())


def _contact_case(brand: UUID, loan_id: UUID) -> list[Any]:
    """A contact logged before any sweep: the case's creation writes its row."""
    case = with_id(CollectionCase, uuid.uuid4(), brand_id=brand, loan_id=loan_id)
    return list(case.collect_events())


def _project(db: Database, views: Sequence[Projection], events: Sequence[Any]) -> None:
    """Apply the events with these projections alone, in one transaction, as a runner's batch does."""
    with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
        for view in views:
            view.begin_batch()
            for position, event in enumerate(events, 1):
                for change in view.project(position, event):
                    out.send(change)
            for change in view.end_batch():
                out.send(change)


def _numbers(db: Database) -> dict[UUID, tuple[Any, ...]]:
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT loan_id, loan_number, customer_id FROM read.collection_cases").fetchall()
    return {r["loan_id"]: (r["loan_number"], r["customer_id"]) for r in rows}


def _rows(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(sql, params).fetchall()]


def test_a_case_written_before_its_loan_is_projected_gets_the_number_when_it_is(db: Database) -> None:
    brand = uuid.uuid4()
    swept, contacted = _created(brand), _created(brand)
    # The loans runner is behind (or collection_dues is being rebuilt): the cases come first, without the numbers.
    _project(db, [CollectionViews()], [*_case_events(brand, swept.id), *_contact_case(brand, contacted.id)])
    assert _numbers(db) == {swept.id: (None, None), contacted.id: (None, None)}
    _project(db, [CollectionDuesView()], [*swept.collect_events(), *contacted.collect_events()])
    assert _numbers(db) == {
        swept.id: (swept.loan_number, swept.customer_id),
        contacted.id: (contacted.loan_number, contacted.customer_id),
    }
    assert _rows(db, "SELECT count(*) FROM read.loans") == [(0,)]


def test_a_case_takes_only_its_own_brands_loan(db: Database) -> None:
    brand, other_brand = uuid.uuid4(), uuid.uuid4()
    loan = _created(other_brand)
    _project(db, [CollectionDuesView()], loan.collect_events())
    # A case of another brand naming the loan (never recorded: the collections context finds the loan in the case's
    # brand) takes nothing from it, either order.
    _project(db, [CollectionViews()], _case_events(brand, loan.id))
    assert _numbers(db) == {loan.id: (None, None)}
    again = _created(other_brand)
    _project(db, [CollectionViews()], _contact_case(brand, again.id))
    _project(db, [CollectionDuesView()], again.collect_events())
    assert _numbers(db)[again.id] == (None, None)


def test_a_database_made_before_the_table_fills_it_once_from_the_loans_read_model(db: Database) -> None:
    brand = uuid.uuid4()
    old, lagged, fresh = _created(brand), _created(brand), _created(brand)
    with db.pool.connection() as conn:
        CollectionDuesView().drop(conn)
        for statement in CollectionDuesView.ddl:  # as the projection was before it kept the loans' numbers
            if LOANS not in statement:
                conn.execute(statement)
    _project(db, [LoanViews()], [*old.collect_events(), *lagged.collect_events()])
    with db.pool.connection() as conn:
        # A case the old code wrote while read.loans lacked its loan: no number.
        conn.execute(
            "INSERT INTO read.collection_cases (loan_id, brand_id, updated_at) VALUES (%s, %s, now())",
            (lagged.id, brand),
        )
        CollectionDuesView().create(conn)  # the next start's setup
    assert _rows(db, f"SELECT loan_id, brand_id, loan_number, customer_id FROM {LOANS} ORDER BY loan_id") == sorted(
        (loan.id, brand, loan.loan_number, loan.customer_id) for loan in (old, lagged)
    )
    assert _numbers(db) == {lagged.id: (lagged.loan_number, lagged.customer_id)}
    _project(db, [CollectionDuesView()], fresh.collect_events())  # and on from there, from the loans' events
    assert _rows(db, f"SELECT count(*) FROM {LOANS}") == [(3,)]

    # A rebuild (the tables dropped and made again) copies nothing: the replay of the loans' creations fills it.
    with db.pool.connection() as conn:
        CollectionDuesView().drop(conn)
        CollectionDuesView().create(conn)
    assert _rows(db, f"SELECT count(*) FROM {LOANS}") == [(0,)]


def test_a_batch_of_loans_fills_their_cases_with_one_statement(db: Database) -> None:
    """A lock and an UPDATE per `Loan.Created` halved the projection's catch-up rate over loans' creations: the batch
    fills the cases of all the loans it created at its end, in one statement under one lock."""
    brand, other_brand = uuid.uuid4(), uuid.uuid4()
    loans = [_created(brand) for _ in range(5)]
    stranger = _created(other_brand)
    cased = loans[:3]
    _project(db, [CollectionViews()], [e for loan in cased for e in _case_events(brand, loan.id)])
    _project(db, [CollectionViews()], _case_events(brand, stranger.id))  # another brand's loan: not this case's
    view = CollectionDuesView()
    events = [e for loan in [*loans, stranger] for e in loan.collect_events()]
    view.begin_batch()
    writes = [change for position, event in enumerate(events, 1) for change in view.project(position, event)]
    writes += list(view.end_batch())
    touching_cases = [w for w in writes if isinstance(w, Write) and "collection_cases" in w.sql]
    assert len(touching_cases) == 1, touching_cases

    _project(db, [CollectionDuesView()], events)

    assert _numbers(db) == {
        **{loan.id: (loan.loan_number, loan.customer_id) for loan in cased},
        stranger.id: (None, None),
    }
