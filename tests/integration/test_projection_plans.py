"""Statements that run per event, per request or per row of a job reach a large read table through an index: each
case loads tens of thousands of rows into a copy of the platform's database (its tables and indexes as
`Platform.open` makes them) in a transaction that is rolled back, analyses the table so the planner costs the
statement on real statistics, and asserts the plan does not read the whole table. (The covenants projection's
decided-record update has its own such test in test_covenant_proof_rejections.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest

from projections.collection_dues import _FILL_CASES, _FILL_CREATED
from projections.collections import _SWEEP
from projections.customer_queries import _key_candidates
from projections.documents import of_customer_statement
from projections.lead_queries import KNOWN, known_params
from projections.report_catalogue import CATALOGUE
from projections.reports import ReportRequest, _sql
from tests.support import copy_database_dsn, drop_database
from workers.collection_jobs import _TALLIES

BRAND = uuid.UUID("0b5e55ed-0000-4000-8000-000000000001")
ROWS = 50_000

#: A statement and its parameters, given the brand.
Statement = Callable[[uuid.UUID], tuple[str, dict[str, Any]]]


@pytest.fixture(scope="module")
def database(platform_template: str) -> Iterator[str]:
    url = copy_database_dsn(platform_template, "cd_test_plans")
    try:
        yield url
    finally:
        drop_database(url)


def _lead_import_lookup(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """A lead import's directory lookup (`LeadQueries.known`) for one row's phone, email and name keys."""
    return KNOWN, known_params(brand, ["+919811100017"], ["Borrower.17@example.in"], [], ["borrower", "~bor"])


def _team_performance_page(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """team-performance-report's rows for one month (a page and the totals count the same SELECT)."""
    inner, params = _sql(
        CATALOGUE["team-performance-report"],
        ReportRequest(brand, date(2026, 3, 1), date(2026, 3, 31), today=date(2026, 6, 30)),
        safe=False,
        keys=False,
    )
    return f"SELECT count(*) FROM ({inner}) q", params


def _customer_search_by_loan_number(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """The customers search's exact keys (`CustomerQueries.search`) for one of our loan numbers."""
    params: dict[str, Any] = {"brand": brand}
    ctes, candidates = _key_candidates("DEMO-L-017017", params)
    return "WITH " + ", ".join(ctes) + " " + " UNION ".join(candidates), params


def _cases_of_created_loans(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """collection_dues' fill, at the end of a batch, of the cases of the loans it created (`_FILL_CREATED`)."""
    return _FILL_CREATED.replace("%s", "%(loans)s"), {"loans": [uuid.uuid4() for _ in range(2_000)]}


def _unnumbered_cases(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """collection_dues' fill, after a rebuild's replay and at an upgrade, of every case without its number."""
    return _FILL_CASES, {}


def _sweep_batch(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """The collections projection's upsert of a sweep's moves, joining each loan's number (`_SWEEP`): 100 moves of
    the 50,000 loans, as a sweep's event of 2,000 is of a book of 1,000,000 (2,000 of 50,000 are rightly a hash join
    over the whole table)."""
    moves = 100
    loans = "{" + ",".join(str(uuid.uuid4()) for _ in range(moves)) + "}"
    nulls = "{" + ",".join(["NULL"] * moves) + "}"
    return _SWEEP, {
        "brand": brand, "at": datetime(2026, 3, 2, 10, tzinfo=UTC), "day": date(2026, 3, 2), "loans": loans,
        "stages": nulls, "staff": nulls, "dpd": nulls, "amounts": nulls, "due": nulls, "closed": nulls,
    }  # fmt: skip


#: 50,000 loans' dues rows with their numbers, and a case for each (one in a thousand still without its number).
_DUES_AND_CASES = (
    "WITH d AS (INSERT INTO read.collection_dues (loan_id, due_dates, cum_due, brand_id, loan_number, customer_id) "
    "SELECT gen_random_uuid(), '{}', '{}', %(brand)s, 'DEMO-L-' || n, gen_random_uuid() "
    "FROM generate_series(1, %(rows)s) n RETURNING *) "
    "INSERT INTO read.collection_cases (loan_id, brand_id, loan_number, customer_id, updated_at) "
    "SELECT loan_id, brand_id, CASE WHEN right(loan_number, 3) = '000' THEN NULL ELSE loan_number END, customer_id, "
    "now() FROM d"
)


#: 50,000 promises due over about three and a half years (40 a day), each on a loan of its own with its dues row and a
#: payment; those of the last day still open.
_PROMISES = (
    "WITH t AS (INSERT INTO read.collection_ptps (ptp_id, loan_id, brand_id, due_on, amount, made_on, status, actor, at) "
    "SELECT gen_random_uuid(), gen_random_uuid(), %(brand)s, date '2023-01-01' + n / 40, 500, "
    "date '2023-01-01' + n / 40 - 2, CASE WHEN n > %(rows)s - 40 THEN 'open' ELSE (ARRAY['kept', 'broken'])[mod(n, 2) "
    "+ 1] END, 'system', now() FROM generate_series(1, %(rows)s) n RETURNING loan_id, made_on), "
    "d AS (INSERT INTO read.collection_dues (loan_id, due_dates, cum_due, brand_id) "
    "SELECT loan_id, '{}', '{}', %(brand)s FROM t) "
    "INSERT INTO read.collection_payments (loan_id, payment_id, amount, paid_on, recorded_at) "
    "SELECT loan_id, 'p-1', 500, made_on, now() FROM t"
)


def _promise_tallies(brand: uuid.UUID) -> tuple[str, dict[str, Any]]:
    """The sweep's promises to judge (`_TALLIES`): the open ones, and those due in the last 30 days - of all the
    promises the brand ever had."""
    day = date(2023, 1, 1) + timedelta(days=ROWS // 40)
    return _TALLIES, {"brand": brand, "day": day, "since": day - timedelta(days=30)}


CASES = {
    # collection_dues filled the number of the cases of a batch's new loans with a scan of every case row (the planner
    # took `loan_number IS NULL` for selective, and it is: but only an index on it avoids reading the rest).
    # Each fill and the sweep's upsert reach the loan's number by read.collection_dues' primary key (the number was
    # kept in a table of its own, read.collection_loans, a second row per loan: a third of the catch-up's rate).
    "collection_dues' fill of a batch's new loans' cases": (
        _DUES_AND_CASES,
        ("collection_cases", "collection_dues"),
        _cases_of_created_loans,
    ),
    "collection_dues' fill of every unnumbered case": (
        _DUES_AND_CASES,
        ("collection_cases", "collection_dues"),
        _unnumbered_cases,
    ),
    "collections' sweep upsert joining the loans' numbers": (
        _DUES_AND_CASES,
        ("collection_dues",),
        _sweep_batch,
    ),
    # The sweep judges again the promises due in the last 30 days: a range of the due-date index beside the open
    # ones', never every promise the brand ever had; each one's payments and dues row by their keys.
    "the sweep's promises to judge and their payments": (
        _PROMISES,
        ("collection_ptps", "collection_payments", "collection_dues"),
        _promise_tallies,
    ),
    # The customers search found a borrower by the external loan numbers linked to the record only; one of our own
    # loan numbers is looked up in read.loans, by its (brand_id, loan_number) index.
    "customers search by our loan number": (
        "INSERT INTO read.loans (id, brand_id, loan_number, customer_id, product_id, product_version, amount, tenure, "
        "channel, pricing, instalment, status, version, created_at, updated_at) "
        "SELECT gen_random_uuid(), %(brand)s, 'DEMO-L-' || lpad(n::text, 6, '0'), gen_random_uuid(), "
        "gen_random_uuid(), 1, 40000, 12, 'staff', '{}', 3782.38, 'pending', 1, now(), now() "
        "FROM generate_series(1, %(rows)s) n",
        ("loans",),
        _customer_search_by_loan_number,
    ),
    # read.customers had no index on the bare email: `email = ANY(...)` read every borrower of the brand per import.
    "lead import's borrower email lookup": (
        "INSERT INTO read.customers (id, brand_id, name, name_key, phone, email, version, created_at, updated_at) "
        "SELECT gen_random_uuid(), %(brand)s, 'Borrower ' || n, 'borrower ' || n, '+9198111' || lpad(n::text, 5, '0'), "
        "'Borrower.' || n || '@example.in', 1, now(), now() FROM generate_series(1, %(rows)s) n",
        ("customers",),
        _lead_import_lookup,
    ),
    # read.loan_events had only its key (loan_id, version): a month's report read every brand's loan events.
    "team-performance report's date range": (
        "INSERT INTO read.loan_events (loan_id, version, brand_id, kind, status, actor, details, at, day) "
        "SELECT gen_random_uuid(), 1, %(brand)s, 'sanctioned', 'sanctioned', 'system', '{}', "
        "timestamptz '2024-01-01' + n * interval '30 minutes', date '2024-01-01' + n / 48 "
        "FROM generate_series(1, %(rows)s) n",
        ("loan_events",),
        _team_performance_page,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_statement_reaches_its_large_table_by_an_index(database: str, case: str) -> None:
    populate, tables, statement = CASES[case]
    sql, params = statement(BRAND)
    with psycopg.connect(database) as conn, conn.transaction(force_rollback=True):
        conn.execute(populate, {"brand": BRAND, "rows": ROWS})
        for table in tables:
            conn.execute(f"ANALYZE read.{table}")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", params).fetchall())
    for table in tables:
        assert table in plan, plan  # the statement reads the table ...
        assert f"Seq Scan on {table}" not in plan, plan  # ... through an index


#: The borrower whose documents are listed: one row in a hundred of the table's, a fifth of them staff's `other`.
CUSTOMER = uuid.UUID("0b5e55ed-0000-4000-8000-0000000000c1")

_DOCUMENTS = (
    "INSERT INTO read.documents (id, brand_id, customer_id, kind, filename, sha256, size, content_type, uploaded_by, "
    "uploader, status, uploaded_at) SELECT gen_random_uuid(), %(brand)s, "
    f"CASE WHEN mod(n, 100) = 0 THEN '{CUSTOMER}'::uuid ELSE gen_random_uuid() END, "
    "(ARRAY['other', 'pan_card', 'bank_statement', 'other', 'selfie'])[mod(n, 5) + 1], 'f.pdf', md5(n::text), 10, "
    "'application/pdf', (ARRAY['staff', 'borrower', 'staff', 'borrower', 'provider'])[mod(n / 100, 5) + 1], 'x', "
    "'pending', timestamptz '2024-01-01' + n * interval '1 minute' FROM generate_series(1, %(rows)s) n"
)


@pytest.mark.parametrize("as_borrower", [False, True], ids=["staff", "borrower"])
@pytest.mark.parametrize("paged", [False, True], ids=["first-page", "after-a-cursor"])
def test_a_customer_s_documents_page_walks_their_index_whoever_reads_it(
    database: str, as_borrower: bool, paged: bool
) -> None:
    """The documents list (`DocumentQueries.of_customer`), staff's and the borrower's (staff's internal evidence left
    out), first page and after a cursor: an index scan on documents_customer_idx, never the whole table; the
    borrower's filter is checked on the rows that walk finds."""
    after = (datetime(2024, 1, 20, tzinfo=UTC), uuid.UUID(int=0)) if paged else None
    sql, params = of_customer_statement(BRAND, CUSTOMER, 51, after=after, as_borrower=as_borrower)
    with psycopg.connect(database) as conn, conn.transaction(force_rollback=True):
        conn.execute(_DOCUMENTS, {"brand": BRAND, "rows": ROWS})
        conn.execute("ANALYZE read.documents")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}", params).fetchall())
        listed = conn.execute(sql, params).fetchall()
    assert "Index Scan" in plan and "using documents_customer_idx on documents" in plan, plan
    assert "Seq Scan on documents" not in plan, plan
    assert len(listed) == 51  # the limit, from the borrower's 500 rows (400 they see)
