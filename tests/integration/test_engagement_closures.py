"""`read.engagement_loans.closed_on` - what the borrower's "paid" message (with the no-due certificate link) is sent
from - is set for a loan completed by a waiver of its last penal charges, on the day they were waived, as for a
closing payment. Before, only a closing payment or a downloaded certificate set it, so such a borrower never got the
message."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.postgres import Database
from domain.loans.loan import Channel, Loan
from domain.loans.pricing import price
from domain.loans.states import LoanStatus
from domain.loans.terms import AmountKind, Fee
from projections.batch_writes import _PipelinedWrites
from projections.engagement_dues import EngagementDuesView
from tests.support import drop_database, fresh_database_dsn

WAIVED_ON = date(2026, 6, 3)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_engagement_closures")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            EngagementDuesView().create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _project(db: Database, events: list[Any]) -> None:
    view = EngagementDuesView()
    with db.pool.connection() as conn, conn.transaction(), _PipelinedWrites(conn) as out:
        for position, event in enumerate(events, 1):
            for change in view.project(position, event):
                out.send(change)


def _waived(created: Any, status: LoanStatus) -> Any:
    return Loan.WaiverApproved(
        originator_id=created.originator_id, originator_version=created.originator_version + 1,
        timestamp=created.timestamp, status=status, reason="penal charges waived", waiver_id=uuid.uuid4().hex,
        amount=Decimal("41.30"), waived_on=WAIVED_ON,
    )  # fmt: skip


def _created() -> Any:
    loan = Loan(
        id=uuid.uuid4(), brand_id=uuid.uuid4(), customer_id=uuid.uuid4(), product_id=uuid.uuid4(), product_version=1,
        amount=Decimal("50000.00"), tenure=12, loan_number=f"DEMO-L-{uuid.uuid4().hex[:6]}", channel=Channel.STAFF,
        pricing=price(Decimal("50000.00"), processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal(2))),
        instalment=Decimal("4727.98"),
    )  # fmt: skip
    return loan.collect_events()[0]


def test_a_loan_completed_by_a_waiver_is_closed_on_the_day_it_was_waived(db: Database) -> None:
    completed, current = _created(), _created()
    _project(db, [completed, _waived(completed, LoanStatus.COMPLETED), current, _waived(current, LoanStatus.ACTIVE)])
    with db.pool.connection() as conn:
        rows = conn.execute("SELECT loan_id, status, closed_on FROM read.engagement_loans").fetchall()
    found = {r["loan_id"]: (r["status"], r["closed_on"]) for r in rows}
    assert found == {
        completed.originator_id: ("completed", WAIVED_ON),
        current.originator_id: ("active", None),  # a waiver that leaves the loan owing closes nothing
    }
