"""What needs attention on the worklist (`read.collection_cases.attention_at`, `callback_at` and the item's
`next_action`) follows the case's events on PostgreSQL, at the events' own instants, so a rebuild gives the live
rows: a broken promise or a callback of a closed case heads no worklist, then or once the case reopens (a callback
still ahead when it reopens does, at its time); a new promise answers a broken one's "call again" (a pending
callback's attention stays); an attempt that did not reach the borrower (an automatic dialer call unanswered) before a
requested callback's time leaves the callback standing, any other contact settles it; and with a callback still
ahead, a broken promise's item says so, not "call back (requested)"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapters.postgres import Database
from domain.collections.case import Channel, CollectionCase, Contact, Outcome, Promise, PromiseTally, Stage
from domain.collections.moves import CaseMoves, Move, MoveKind
from domain.shared.aggregate import with_id
from projections.batch_writes import _PipelinedWrites
from projections.collection_dues import CollectionDuesView
from projections.collection_queries import CollectionQueries
from projections.collections import CollectionViews
from tests.support import drop_database, fresh_database_dsn

T0 = datetime(2026, 3, 2, 4, 30, tzinfo=UTC)
DAY = date(2026, 3, 2)
ASHA = uuid.UUID(int=7)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_attention")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            for view in (CollectionDuesView(), CollectionViews()):  # (the cases read their loan's number there)
                view.create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _project(db: Database, events: Sequence[Any]) -> None:
    """Apply the events in one transaction, as a runner's batch does."""
    view = CollectionViews()
    with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
        view.begin_batch()
        for position, event in enumerate(events, 1):
            for change in view.project(position, event):
                out.send(change)
        for change in view.end_batch():
            out.send(change)


def _at(events: Sequence[Any], when: datetime) -> list[Any]:
    """The events as recorded at `when` (each event carries its instant; the projection reads nothing else)."""
    return [e.model_copy(update={"timestamp": when}) for e in events]


class _Case:
    """One loan's case, its events collected at chosen instants (the live order; `log` keeps them for a rebuild)."""

    def __init__(self, db: Database, brand: UUID) -> None:
        self.db, self.brand, self.loan = db, brand, uuid.uuid4()
        self.case = with_id(CollectionCase, uuid.uuid4(), brand_id=brand, loan_id=self.loan)
        self.log: list[Any] = []
        self._apply(list(self.case.collect_events()), T0)

    def _apply(self, events: list[Any], when: datetime) -> None:
        timed = _at(events, when)
        self.log.extend(timed)
        _project(self.db, timed)  # live: each command's events in a batch of their own

    def sweep(self, when: datetime, closed: str | None = None) -> None:
        move = Move(loan_id=self.loan, stage=Stage.COLLECTIONS, staff_id=ASHA, previous=ASHA, dpd=3,
                    amount=Decimal("10.00"), closed=closed)  # fmt: skip
        moves = with_id(CaseMoves, uuid.uuid4(), brand_id=self.brand, kind=MoveKind.SWEEP, business_date=DAY,
                        moves=(move,), reason="close of business")  # fmt: skip
        self._apply(list(moves.collect_events()), when)

    def contact(self, when: datetime, outcome: Outcome, callback_at: datetime | None = None,
                channel: Channel = Channel.MANUAL) -> None:  # fmt: skip
        self.case.log_contact(Contact(contact_id=uuid.uuid4(), outcome=outcome, remarks="", callback_at=callback_at,
                                      channel=channel, staff_id=ASHA))  # fmt: skip
        self._apply(list(self.case.collect_events()), when)

    def promise(self, when: datetime, due_on: date) -> UUID:
        ptp = Promise(ptp_id=uuid.uuid4(), due_on=due_on, amount=Decimal("100.00"), made_on=DAY, staff_id=ASHA)
        self.case.promise(ptp)
        self._apply(list(self.case.collect_events()), when)
        return ptp.ptp_id

    def judge(self, when: datetime, ptp_id: UUID, due_on: date, paid: str = "0") -> None:
        assert self.case.judge(PromiseTally(loan_id=self.loan, ptp_id=ptp_id, paid=Decimal(paid)), due_on)
        self._apply(list(self.case.collect_events()), when)

    def row(self) -> dict[str, Any]:
        with self.db.pool.connection() as conn:
            found = conn.execute(
                "SELECT open, attention_at, callback_at, ptp_status FROM read.collection_cases WHERE loan_id = %s",
                (self.loan,),
            ).fetchone()
        assert found is not None
        return dict(found)


def _rows(db: Database) -> list[tuple[Any, ...]]:
    with db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(
            "SELECT loan_id, stage, open, assignee, attention_at, callback_at, last_outcome, contacts, ptp_id, "
            "ptp_status FROM read.collection_cases ORDER BY loan_id").fetchall()]  # fmt: skip


def _same_when_rebuilt(db: Database, *cases: _Case) -> None:
    before = _rows(db)
    assert _rebuilt(db, cases) == before


def test_a_closed_cases_broken_promise_heads_no_worklist_then_or_once_it_reopens(db: Database) -> None:
    brand = uuid.uuid4()
    judged = _Case(db, brand)
    judged.sweep(T0)
    ptp = judged.promise(T0 + timedelta(hours=1), DAY + timedelta(days=2))
    judged.sweep(T0 + timedelta(days=1), closed="cured")
    judged.judge(T0 + timedelta(days=2), ptp, DAY + timedelta(days=2))  # broken while the case was closed
    assert judged.row() == {"open": False, "attention_at": None, "callback_at": None, "ptp_status": "broken"}
    # overdue again: the old broken promise is no attention of the reopened case (nor one made stale while closed)
    judged.sweep(T0 + timedelta(days=10))
    assert judged.row()["attention_at"] is None

    # an open case's broken promise needs attention from its judgement, as before
    live = _Case(db, brand)
    live.sweep(T0)
    ptp = live.promise(T0 + timedelta(hours=1), DAY + timedelta(days=2))
    live.judge(T0 + timedelta(days=2), ptp, DAY + timedelta(days=2))
    assert live.row()["attention_at"] == T0 + timedelta(days=2)
    _same_when_rebuilt(db, judged, live)


def test_a_callback_logged_on_a_closed_case_needs_attention_only_when_still_ahead_as_it_reopens(db: Database) -> None:
    brand = uuid.uuid4()
    called = _Case(db, brand)
    called.sweep(T0)
    called.sweep(T0 + timedelta(days=1), closed="cured")
    callback = T0 + timedelta(days=2)
    called.contact(T0 + timedelta(days=1, hours=1), Outcome.CALLBACK_REQUESTED, callback)
    assert called.row() == {"open": False, "attention_at": None, "callback_at": callback, "ptp_status": None}
    called.sweep(T0 + timedelta(days=10))  # reopened long after the callback's time: stale, dropped
    assert called.row() == {"open": True, "attention_at": None, "callback_at": None, "ptp_status": None}

    ahead = _Case(db, brand)
    ahead.sweep(T0)
    ahead.sweep(T0 + timedelta(days=1), closed="cured")
    ahead.contact(T0 + timedelta(days=1, hours=1), Outcome.CALLBACK_REQUESTED, T0 + timedelta(days=5))
    ahead.sweep(T0 + timedelta(days=3))  # reopened before it: the callback needs attention at its time
    assert ahead.row() == {"open": True, "attention_at": T0 + timedelta(days=5),
                           "callback_at": T0 + timedelta(days=5), "ptp_status": None}  # fmt: skip
    _same_when_rebuilt(db, called, ahead)


def test_a_new_promise_answers_a_broken_ones_attention_not_a_pending_callbacks(db: Database) -> None:
    brand = uuid.uuid4()
    case = _Case(db, brand)
    case.sweep(T0)
    first = case.promise(T0 + timedelta(hours=1), DAY + timedelta(days=1))
    case.judge(T0 + timedelta(days=1), first, DAY + timedelta(days=1))
    assert case.row()["attention_at"] == T0 + timedelta(days=1)
    case.promise(T0 + timedelta(days=1, hours=2), DAY + timedelta(days=4))  # the broken promise is answered
    assert case.row() == {"open": True, "attention_at": None, "callback_at": None, "ptp_status": "open"}

    called = _Case(db, brand)
    called.sweep(T0)
    callback = T0 + timedelta(days=3)
    called.contact(T0 + timedelta(hours=1), Outcome.CALLBACK_REQUESTED, callback)
    ptp = called.promise(T0 + timedelta(hours=2), DAY + timedelta(days=1))
    called.judge(T0 + timedelta(days=1), ptp, DAY + timedelta(days=1))
    assert called.row()["attention_at"] == T0 + timedelta(days=1)
    called.promise(T0 + timedelta(days=1, hours=2), DAY + timedelta(days=5))
    assert called.row()["attention_at"] == callback  # the callback still asks for its time
    _same_when_rebuilt(db, case, called)


def test_an_unanswered_attempt_before_a_callbacks_time_leaves_it_any_other_contact_settles_it(db: Database) -> None:
    brand = uuid.uuid4()
    case = _Case(db, brand)
    case.sweep(T0)
    callback = T0 + timedelta(days=2)
    case.contact(T0, Outcome.CALLBACK_REQUESTED, callback)
    # the dialer's unanswered call, a switched-off phone, a wrong number: nobody spoke to the borrower
    case.contact(T0 + timedelta(days=1), Outcome.NOT_REACHABLE, channel=Channel.DIALER)
    case.contact(T0 + timedelta(days=1, hours=1), Outcome.SWITCHED_OFF)
    case.contact(T0 + timedelta(days=1, hours=2), Outcome.WRONG_NUMBER)
    assert case.row()["callback_at"] == callback and case.row()["attention_at"] == callback
    # the call back itself, even unanswered, settles it (from its time on)
    case.contact(callback + timedelta(minutes=5), Outcome.NOT_REACHABLE, channel=Channel.DIALER)
    assert case.row()["callback_at"] is None and case.row()["attention_at"] is None
    # ...as does, before its time, a contact that reached the borrower (the next contact, as documented)
    case.contact(callback + timedelta(hours=1), Outcome.CALLBACK_REQUESTED, callback + timedelta(days=1))
    case.contact(callback + timedelta(hours=2), Outcome.CONNECTED)
    assert case.row()["callback_at"] is None and case.row()["attention_at"] is None
    _same_when_rebuilt(db, case)


def test_a_promise_broken_with_a_callback_still_ahead_says_the_promise(db: Database) -> None:
    brand = uuid.uuid4()
    case = _Case(db, brand)
    case.sweep(T0)
    callback = T0 + timedelta(days=3)
    case.contact(T0 + timedelta(hours=1), Outcome.CALLBACK_REQUESTED, callback)
    ptp = case.promise(T0 + timedelta(hours=2), DAY + timedelta(days=1))
    case.judge(T0 + timedelta(days=1), ptp, DAY + timedelta(days=1))
    queries = CollectionQueries(db.pool)
    (item,) = queries.worklist(brand, Stage.COLLECTIONS, ASHA, T0 + timedelta(days=1, hours=1)).items
    assert item.attention_at == T0 + timedelta(days=1) and item.next_action == "promise broken: call again", item
    (item,) = queries.worklist(brand, Stage.COLLECTIONS, ASHA, callback + timedelta(minutes=1)).items
    assert item.next_action == "call back (requested)", item  # at its time, the callback comes first


def _rebuilt(db: Database, cases: Sequence[_Case]) -> list[tuple[Any, ...]]:
    """The case rows as a rebuild writes them: the tables emptied, every event replayed in one batch."""
    with db.pool.connection() as conn:
        for table in CollectionViews.tables:
            conn.execute(f"TRUNCATE {table}")
    _project(db, [e for c in cases for e in c.log])
    return _rows(db)
