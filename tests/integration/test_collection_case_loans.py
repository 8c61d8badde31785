"""Collection cases take their loan's number and borrower from the loans' own `Loan.Created`, kept by the collections
context's loan-side projection on the loan's `read.collection_dues` row (projections/collection_dues.py), on
PostgreSQL: never from
`read.loans`, which is empty while `projections rebuild loans` runs and behind while its runner is. They used to copy
them from `read.loans` when the case row was written, and a case written then had neither (on the worklist: no loan
number, no borrower) until a later sweep moved the loan, and a rebuild of `collections` at such a time wrote every case
without them. The two projections follow two sources at their own pace: a case written before its loan's creation is
projected gets the number when it is. A database made before the loan's row kept them fills them once from
`read.loans` (and the cases left without a number then). Brands stay apart: a case takes only its own brand's loan. The same on the platform, with
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
from projections.collection_dues import CollectionDuesView
from projections.collections import CollectionViews
from projections.loans import LoanViews
from projections.projection import Insert, Projection, Write
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


#: `read.collection_dues` as it was before it kept the loan's number, borrower and brand.
_DUES_BEFORE = (
    "CREATE TABLE read.collection_dues (loan_id uuid PRIMARY KEY, due_dates date[] NOT NULL, "
    "cum_due numeric(16, 2)[] NOT NULL, paid numeric(16, 2) NOT NULL DEFAULT 0)"
)
_NUMBERED = "SELECT loan_id, brand_id, loan_number, customer_id FROM read.collection_dues ORDER BY loan_id"


def _dues_as_before(db: Database, *loans: Loan) -> None:
    """The projection's tables as they were before the loan's row kept its number, with these loans' rows."""
    with db.pool.connection() as conn:
        CollectionDuesView().drop(conn)
        conn.execute(_DUES_BEFORE)
        for loan in loans:
            conn.execute("INSERT INTO read.collection_dues VALUES (%s, '{}', '{}', 0)", (loan.id,))


def _case_without_number(db: Database, brand: UUID, loan: Loan) -> None:
    """A case the old code wrote while its loan was missing where it looked: no number."""
    with db.pool.connection() as conn:
        conn.execute(
            "INSERT INTO read.collection_cases (loan_id, brand_id, updated_at) VALUES (%s, %s, now())", (loan.id, brand)
        )


def test_a_loans_creation_writes_one_row_with_its_number_borrower_and_brand(db: Database) -> None:
    """A second row per loan (in `read.collection_loans`) cost the projection's catch-up over loans' creations about a
    third of its rate: the number, borrower and brand are columns of the loan's dues row."""
    brand = uuid.uuid4()
    loan = _created(brand)
    [created] = [e for e in loan.collect_events() if isinstance(e, Loan.Created)]
    rows = list(CollectionDuesView().project(1, created))
    assert rows == [Insert("read.collection_dues", {
        "loan_id": loan.id, "due_dates": [], "cum_due": [], "cum_principal": [], "brand_id": brand,
        "loan_number": loan.loan_number, "customer_id": loan.customer_id,
    })]  # fmt: skip
    _project(db, [CollectionDuesView()], [created])
    assert _rows(db, _NUMBERED) == [(loan.id, brand, loan.loan_number, loan.customer_id)]
    assert _rows(db, "SELECT to_regclass('read.collection_loans')") == [(None,)]


def test_a_database_made_before_the_loans_numbers_fills_them_once_from_the_loans_read_model(db: Database) -> None:
    brand = uuid.uuid4()
    old, lagged, fresh = _created(brand), _created(brand), _created(brand)
    _dues_as_before(db, old, lagged)
    _project(db, [LoanViews()], [*old.collect_events(), *lagged.collect_events()])
    _case_without_number(db, brand, lagged)
    with db.pool.connection() as conn:
        CollectionDuesView().create(conn)  # the next start's setup
    assert _rows(db, _NUMBERED) == sorted(
        (loan.id, brand, loan.loan_number, loan.customer_id) for loan in (old, lagged)
    )
    assert _numbers(db) == {lagged.id: (lagged.loan_number, lagged.customer_id)}
    _project(db, [CollectionDuesView()], fresh.collect_events())  # and on from there, from the loans' events
    assert _rows(db, "SELECT count(loan_number) FROM read.collection_dues") == [(3,)]

    # Once: a later start reads read.loans no more (a row it left without a number stays so until a rebuild).
    with db.pool.connection() as conn:
        conn.execute("UPDATE read.collection_dues SET loan_number = NULL WHERE loan_id = %s", (old.id,))
        CollectionDuesView().create(conn)
    assert _rows(db, "SELECT loan_number FROM read.collection_dues WHERE loan_id = %s", old.id) == [(None,)]

    # A rebuild (the tables dropped and made again) copies nothing: the replay of the loans' creations fills them.
    with db.pool.connection() as conn:
        CollectionDuesView().drop(conn)
        CollectionDuesView().create(conn)
    assert _rows(db, "SELECT count(*) FROM read.collection_dues") == [(0,)]


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
