"""The onboarding-inactive job's reconciliation sweeps (`OnboardingQueries.unrecorded_submissions`,
`orphan_applications`, `unfinished_closes`) look at one window of candidates per query: a big brand's funnels waiting at the submitted
step and applications in onboarding are nearly all sound, and one query that stopped only at a page of mismatches
checked every one of them (650 ms for 100,000 in a brand of a million funnels). On the platform's tables, in a
transaction rolled back: each mismatch is found once, in order, across windows and pages, and no statement reads
more candidates than a window holds (its plan, run); the closes' sweep reads the cancels on their partial index."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import projections.onboarding as onboarding
from projections.onboarding import OnboardingQueries
from tests.support import copy_database_dsn, drop_database

BRAND = uuid.UUID("0b5e55ed-0000-4000-8000-000000000002")
OTHER_BRAND = uuid.UUID("0b5e55ed-0000-4000-8000-000000000003")
WINDOW = 3
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
#: Candidates in order (the funnel's step_since, the application's created_at); these are the mismatches.
CANDIDATES = 10
MISMATCHES = (1, 2, 3, 9)


@pytest.fixture(scope="module")
def database(platform_template: str) -> Iterator[str]:
    url = copy_database_dsn(platform_template, "cd_test_sweeps")
    try:
        yield url
    finally:
        drop_database(url)


class _Recording:
    """The test's connection, keeping each statement a query runs (to run its plan after)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.statements: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)


class _OnePool:
    """A pool of the test's one connection (its transaction is rolled back at the end)."""

    def __init__(self, conn: _Recording) -> None:
        self.conn = conn

    @contextmanager
    def connection(self) -> Iterator[_Recording]:
        yield self.conn


def _rows_read(plan: dict[str, Any], table: str) -> int:
    """How many rows the plan's nodes on `table` returned, over all their loops."""
    own = int(plan["Actual Rows"] * plan["Actual Loops"]) if plan.get("Relation Name") == table else 0
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", ()))


def _funnel(conn: psycopg.Connection[Any], brand: uuid.UUID, n: int, customer: uuid.UUID, status: str) -> uuid.UUID:
    funnel = uuid.uuid4()
    conn.execute(
        "INSERT INTO read.onboarding (id, brand_id, phone, customer_id, status, step, step_since, started_at, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, 'submitted', %s, %s, %s)",
        (funnel, brand, f"+9198{n:08d}", customer, status, T0 + timedelta(minutes=n), T0, T0 + timedelta(minutes=n)),
    )
    return funnel


def _application(
    conn: psycopg.Connection[Any], brand: uuid.UUID, n: int, customer: uuid.UUID, status: str
) -> uuid.UUID:
    loan = uuid.uuid4()
    conn.execute(
        "INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
        "channel, pricing, instalment, status, version, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, 1, 40000, "
        "12, 'borrower', '{}', 3782.38, %s, 1, %s, %s)",
        (loan, brand, f"DEMO-L-{n:06d}", customer, uuid.uuid4(), status, T0 + timedelta(minutes=n), T0),
    )
    return loan


def _walk(queries: Any, after: str | None, limit: int) -> list[Any]:
    """Every page of a sweep (`queries(after, limit)`), as the job walks it."""
    found: list[Any] = []
    while True:
        page, after = queries(after, limit)
        if not page:
            return found
        found.extend(page)


@contextmanager
def _brand(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[psycopg.Connection[Any], _Recording]]:
    monkeypatch.setattr(onboarding, "SWEEP_WINDOW", WINDOW, raising=False)
    with psycopg.connect(database, row_factory=dict_row) as conn, conn.transaction(force_rollback=True):
        yield conn, _Recording(conn)


def _statements_read(conn: psycopg.Connection[Any], recording: _Recording, table: str) -> list[int]:
    """For each statement the sweep ran, how many candidates (rows of `table`) its plan read when run again."""
    counts = []
    for sql, params in recording.statements:
        row = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()
        assert row is not None
        plan = row["QUERY PLAN"]
        counts.append(_rows_read((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"], table))
    return counts


@pytest.mark.parametrize("limit", [2, 500])
def test_unrecorded_submissions_are_found_a_window_of_funnels_per_query(
    database: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    with _brand(database, monkeypatch) as (conn, recording):
        expected = []
        for n in range(CANDIDATES):
            customer = uuid.uuid4()
            funnel = _funnel(conn, BRAND, n, customer, "in_progress")
            _application(conn, BRAND, n, customer, "pending" if n in MISMATCHES else "onboarding")
            if n in MISMATCHES:
                expected.append(funnel)
        other = uuid.uuid4()  # another brand's mismatch is its own runs'
        _funnel(conn, OTHER_BRAND, 1, other, "in_progress")
        _application(conn, OTHER_BRAND, 1, other, "pending")
        queries = OnboardingQueries(_OnePool(recording))

        found = _walk(lambda after, size: queries.unrecorded_submissions(BRAND, after, size), None, limit)

        assert found == expected
        read = _statements_read(conn, recording, "onboarding")
    assert len(read) > 1 and max(read) <= WINDOW, read


@pytest.mark.parametrize("limit", [2, 500])
def test_orphan_applications_are_found_a_window_of_applications_per_query(
    database: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    with _brand(database, monkeypatch) as (conn, recording):
        expected = []
        for n in range(CANDIDATES):
            customer = uuid.uuid4()
            funnel = _funnel(conn, BRAND, n, customer, "rejected" if n in MISMATCHES else "in_progress")
            loan = _application(conn, BRAND, n, customer, "onboarding")
            if n in MISMATCHES:
                expected.append((funnel, loan))
        other = uuid.uuid4()
        _funnel(conn, OTHER_BRAND, 1, other, "rejected")
        _application(conn, OTHER_BRAND, 1, other, "onboarding")
        queries = OnboardingQueries(_OnePool(recording))
        before = T0 + timedelta(days=1)

        found = _walk(lambda after, size: queries.orphan_applications(BRAND, before, after, size), None, limit)

        assert found == expected
        read = _statements_read(conn, recording, "loans")
    assert len(read) > 1 and max(read) <= WINDOW, read


def _cancelled_by(conn: psycopg.Connection[Any], brand: uuid.UUID, loan: uuid.UUID, n: int, reason: str) -> None:
    """The application's cancel on its timeline (`read.loan_events`), at minute `n`."""
    conn.execute(
        "INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, reason, at) "
        "VALUES (%s, 2, %s, 'cancelled', 'cancelled', 'staff:x', %s, %s)",
        (loan, brand, reason, T0 + timedelta(minutes=n)),
    )


def _index_scans(plan: dict[str, Any], table: str) -> list[str]:
    """The plan's nodes on `table`: their type and index."""
    own = [f"{plan['Node Type']}:{plan.get('Index Name')}"] if plan.get("Relation Name") == table else []
    return own + [node for child in plan.get("Plans", ()) for node in _index_scans(child, table)]


@pytest.mark.parametrize("limit", [2, 500])
def test_unfinished_closes_are_found_a_window_of_close_cancels_per_query_on_their_index(
    database: str, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    closed = "the onboarding was closed: duplicate"
    with _brand(database, monkeypatch) as (conn, recording):
        expected = []
        for n in range(CANDIDATES):
            customer = uuid.uuid4()
            funnel = _funnel(conn, BRAND, n, customer, "in_progress" if n in MISMATCHES else "rejected")
            loan = _application(conn, BRAND, n, customer, "cancelled")
            _cancelled_by(conn, BRAND, loan, n, closed)
            if n in MISMATCHES:
                expected.append((funnel, loan))
        # Cancelled by staff on the loan, under funnels in progress: the borrower makes another request.
        for n in range(CANDIDATES, CANDIDATES + 5):
            customer = uuid.uuid4()
            _funnel(conn, BRAND, n, customer, "in_progress")
            _cancelled_by(conn, BRAND, _application(conn, BRAND, n, customer, "cancelled"), n, "borrower asked")
        late = uuid.uuid4()  # a close in flight (cancelled a moment ago): not before `before`
        _funnel(conn, BRAND, 99, late, "in_progress")
        _cancelled_by(conn, BRAND, _application(conn, BRAND, 99, late, "cancelled"), 60 * 48, closed)
        other = uuid.uuid4()
        _funnel(conn, OTHER_BRAND, 1, other, "in_progress")
        _cancelled_by(conn, OTHER_BRAND, _application(conn, OTHER_BRAND, 1, other, "cancelled"), 1, closed)
        # The timeline's other rows (every loan's every event): the cancels a close made are a sliver of the table,
        # which the planner must read on their partial index rather than by scanning it.
        conn.execute(
            "INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, reason, at) "
            "SELECT gen_random_uuid(), 1, %s, 'created', 'onboarding', 'staff:x', 'application started', "
            "%s + make_interval(secs => n) FROM generate_series(1, 20000) AS n",
            (BRAND, T0),
        )
        conn.execute(  # and the brand's other funnels in progress, each looked up by its borrower's record
            "INSERT INTO read.onboarding (id, brand_id, phone, customer_id, status, step, step_since, started_at, "
            "updated_at) SELECT gen_random_uuid(), %s, '+91' || n, gen_random_uuid(), 'in_progress', 'pan', %s, %s, %s "
            "FROM generate_series(1, 20000) AS n",
            (BRAND, T0, T0, T0),
        )
        conn.execute("ANALYZE read.loan_events")
        conn.execute("ANALYZE read.onboarding")
        queries = OnboardingQueries(_OnePool(recording))
        before = T0 + timedelta(days=1)

        found = _walk(lambda after, size: queries.unfinished_closes(BRAND, before, after, size), None, limit)

        assert found == expected
        read = _statements_read(conn, recording, "loan_events")
        sql, params = recording.statements[0]
        row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
        assert row is not None
        plan = row["QUERY PLAN"]
        top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
        scans, funnels = _index_scans(top, "loan_events"), _index_scans(top, "onboarding")
    assert len(read) > 1 and max(read) <= WINDOW, read
    assert scans in (["Index Scan:loan_events_close_cancels_idx"], ["Index Only Scan:loan_events_close_cancels_idx"])
    assert funnels == ["Index Scan:onboarding_customer_idx"], funnels
