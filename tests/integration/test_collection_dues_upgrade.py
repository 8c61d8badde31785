"""The loan side of collections on a database made before it kept each loan's cumulative principal
(`read.collection_dues.cum_principal`, what a legal case asks for: docs/collections.md) and before the cases kept the
day they closed (`read.collection_cases.closed_on`): the next start adds both in place. `cum_principal` is filled once
from the reports' instalments (the same schedules, from the same events), for the loans whose whole schedule is
there; a loan not serviced yet gets an empty one; the rest stay null (asked for as before) until a rebuild."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from adapters.postgres import Database
from projections.collection_dues import CollectionDuesView
from projections.collections import CollectionViews
from projections.loans import LoanViews
from projections.report_book import ReportBookView
from tests.support import drop_database, fresh_database_dsn

DUES = [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
#: The reports' instalments table as their projection makes it (its other tables and indexes need the whole platform).
_REPORT_INSTALMENTS = next(sql for sql in ReportBookView.ddl if "TABLE IF NOT EXISTS read.report_instalments" in sql)


@pytest.fixture
def db() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_dues_upgrade")
    database = Database(dsn, min_size=1, max_size=2)
    try:
        database.ensure_schemas()
        with database.pool.connection() as conn:
            conn.execute(_REPORT_INSTALMENTS)
            for view in (LoanViews(), CollectionViews(), CollectionDuesView()):
                view.create(conn)
        yield database
    finally:
        database.close()
        drop_database(dsn)


def _rows(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with db.pool.connection() as conn:
        return [tuple(r.values()) for r in conn.execute(sql, params).fetchall()]


def test_an_older_database_gets_each_loans_cumulative_principal_and_the_cases_closing_day(db: Database) -> None:
    brand = uuid.uuid4()
    serviced, lagging, unserviced = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    principal = [Decimal("6337.57"), Decimal("6464.32"), Decimal("6593.61")]
    interest = [Decimal("1700.00"), Decimal("1573.25"), Decimal("1443.96")]
    cum_due = [sum(principal[: n + 1], Decimal(0)) + sum(interest[: n + 1], Decimal(0)) for n in range(3)]
    with db.pool.connection() as conn:
        # The tables as they were: without the columns.
        conn.execute("ALTER TABLE read.collection_dues DROP COLUMN cum_principal")
        conn.execute("ALTER TABLE read.collection_cases DROP COLUMN closed_on")
        for loan, due_dates, cums in ((serviced, DUES, cum_due), (lagging, DUES, cum_due), (unserviced, [], [])):
            conn.execute(
                "INSERT INTO read.collection_dues (loan_id, due_dates, cum_due, brand_id) VALUES (%s, %s, %s, %s)",
                (loan, due_dates, cums, brand),
            )
        # The reports' projection has the serviced loan's schedule, not yet the lagging one's (nor all of it).
        for no, (due, p, i) in enumerate(zip(DUES, principal, interest, strict=True), 1):
            conn.execute(
                "INSERT INTO read.report_instalments (loan_id, no, brand_id, due_date, principal, interest) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (serviced, no, brand, due, p, i),
            )
        conn.execute(
            "INSERT INTO read.report_instalments (loan_id, no, brand_id, due_date, principal, interest) "
            "VALUES (%s, 1, %s, %s, %s, %s)",
            (lagging, brand, DUES[0], principal[0], interest[0]),
        )
        conn.execute(
            "INSERT INTO read.collection_cases (loan_id, brand_id, stage, open, closed_reason, opened_on, updated_at) "
            "VALUES (%s, %s, 'collections', false, 'cured', %s, now())",
            (serviced, brand, date(2026, 3, 3)),
        )
        CollectionDuesView().create(conn)  # the next start's setup
        CollectionViews().create(conn)

    cumulative = [Decimal("6337.57"), Decimal("12801.89"), Decimal("19395.50")]
    assert dict(_rows(db, "SELECT loan_id, cum_principal FROM read.collection_dues")) == {
        serviced: cumulative,
        lagging: None,  # asked for as before until `projections rebuild collection_dues`
        unserviced: [],
    }
    # A case closed before the column: no closing day (its payments counted to today, as before) until a rebuild.
    assert _rows(db, "SELECT closed_on FROM read.collection_cases") == [(None,)]

    # Once: a later start copies nothing again.
    with db.pool.connection() as conn:
        conn.execute("UPDATE read.collection_dues SET cum_principal = NULL WHERE loan_id = %s", (serviced,))
        CollectionDuesView().create(conn)
    assert _rows(db, "SELECT cum_principal FROM read.collection_dues WHERE loan_id = %s", serviced) == [(None,)]
