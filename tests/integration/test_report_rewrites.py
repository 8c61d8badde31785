"""The reports whose per-loan correlated subqueries (`LATERAL`, `NOT EXISTS`) became grouped passes
(projections/report_sql_parts.py) give the same rows as before, in the same order: the old SQL
(tests/integration/report_sql_before.py) and the new run side by side on a generated book (the benchmark's, plus
partly paid and reversed repayments, second payments, borrowers with two loans, employment records and bank
accounts), over the whole range, a date range and a filter."""

from __future__ import annotations

import csv
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from projections.report_book import (
    MARK_ALL_CLOSED,
    REFRESH_ALL_TOTALS,
    REPORT_DATE_KEYS,
    ReportBookView,
)
from projections.report_catalogue import CATALOGUE
from projections.reports import TOTALS_KEPT_SECONDS, Column, Report, ReportQueries, ReportRequest, _order, _sql
from tests.benchmarks.reports import _load
from tests.integration.report_sql_before import BEFORE
from tests.integration.test_report_loan_totals import DAYS_AGAIN, DAYS_KEPT
from tests.support import copy_database_dsn, drop_database
from workers.platform import Platform

BRAND, OTHER = uuid.uuid4(), uuid.uuid4()

#: What the benchmark's book lacks, so every branch of the old and new SQL is exercised.
VARIETY = (
    # instalment 2 partly paid on some loans, instalment 1 only partly paid on others
    "UPDATE read.report_instalments SET paid_principal = 100, paid_interest = 20 "
    "WHERE no = 2 AND right(loan_id::text, 1) IN ('a', 'b', 'c')",
    "UPDATE read.report_instalments SET paid_principal = 50, paid_interest = 0 "
    "WHERE no = 1 AND right(loan_id::text, 1) IN ('d', 'e')",
    # every instalment paid on some (nothing left, no next instalment)
    "UPDATE read.report_instalments SET paid_principal = principal, paid_interest = interest "
    "WHERE right(loan_id::text, 1) = 'f'",
    # loans paid off before their schedule's end: the interest of their last instalment was never paid (saved)
    "UPDATE read.report_instalments i SET paid_interest = 0 FROM read.loans l WHERE l.id = i.loan_id "
    "AND l.status = 'completed' AND right(l.id::text, 1) IN ('7', '8') "
    "AND i.no = (SELECT max(no) FROM read.report_instalments WHERE loan_id = i.loan_id)",
    # reversed repayments (a loan left with none standing) and second repayments
    "UPDATE read.report_payments SET reversed_on = paid_on + 1, reversal_reason = 'bounced' "
    "WHERE right(loan_id::text, 1) IN ('1', '2')",
    "INSERT INTO read.report_payments (payment_id, loan_id, brand_id, amount, principal, interest, penal, mode, "
    "reference, paid_on, recorded_on, recorded_by, allocation, closes_loan) SELECT 'p2', loan_id, brand_id, 120, "
    "100, 20, 0, 'cash', 'R2', paid_on + 31, paid_on + 31, 'staff:y', '[]', false FROM read.report_payments "
    "WHERE right(loan_id::text, 1) IN ('2', '3', '4')",
    # employment records (the latest wins) and bank accounts (the latest added wins), an Aadhaar check
    "INSERT INTO read.report_employment (funnel_id, brand_id, customer_id, employment, updated_at) "
    "SELECT gen_random_uuid(), c.brand_id, c.id, jsonb_build_object('company_name', 'Old Co', "
    "'monthly_salary', '30000'), c.created_at FROM read.customers c WHERE right(c.id::text, 1) IN ('a', 'b')",
    "INSERT INTO read.report_employment (funnel_id, brand_id, customer_id, employment, updated_at) "
    "SELECT gen_random_uuid(), c.brand_id, c.id, jsonb_build_object('company_name', 'New, \"Co\"', "
    "'designation', 'Lead', 'employment_type', 'salaried', 'monthly_salary', '45000.50'), "
    "c.created_at + interval '1 day' FROM read.customers c WHERE right(c.id::text, 1) = 'a'",
    "INSERT INTO read.bank_accounts (id, brand_id, customer_id, account_masked, ifsc, holder_name, status, attempts, "
    "added_by, added_at) SELECT gen_random_uuid(), c.brand_id, c.id, 'XXXX' || k, 'HDFC000' || k, c.name, "
    "'verified', 1, 'staff:x', c.created_at + k * interval '1 hour' FROM read.customers c, generate_series(1, 2) k "
    "WHERE right(c.id::text, 1) IN ('c', 'd')",
    "INSERT INTO read.kyc_checks (brand_id, customer_id, kind, status, attempts, result, updated_at, updated_by) "
    "SELECT c.brand_id, c.id, 'aadhaar', 'verified', 1, '{\"masked_aadhaar\": \"XXXX-XXXX-1234\"}', c.created_at, "
    "'system' FROM read.customers c WHERE right(c.id::text, 1) = 'e'",
    # a second imported lead linked to some borrowers, imported later (the marketing report shows the first)
    "INSERT INTO read.leads (id, brand_id, import_id, line, source, is_organic, name, campaign_name, status, "
    "borrower_id, version, created_at, updated_at) SELECT gen_random_uuid(), brand_id, import_id, line + 1, "
    "'later_source', NOT is_organic, name, 'later campaign', 'converted', borrower_id, 1, created_at + interval "
    "'1 day', updated_at FROM read.leads WHERE borrower_id IS NOT NULL AND right(borrower_id::text, 1) IN ('5', '6')",
)


def _second_loans(pool: Any) -> None:
    """A second loan for some borrowers (the master report lists both, in creation order)."""
    with pool.connection() as conn:
        names = [
            r["column_name"]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'read' "
                "AND table_name = 'loans' ORDER BY ordinal_position"
            )
        ]
        values = {
            "id": "gen_random_uuid()",
            "loan_number": "loan_number || 'B'",
            "created_at": "created_at - interval '1 day'",
        }
        picked = ", ".join(values.get(n, n) for n in names)
        conn.execute(
            f"INSERT INTO read.loans ({', '.join(names)}) SELECT {picked} FROM read.loans "
            "WHERE right(customer_id::text, 1) IN ('0', '9')"
        )


@pytest.fixture(scope="module")
def book(platform_template: str) -> Iterator[Any]:
    dsn = copy_database_dsn(platform_template, "cd_test_report_rewrites")
    platform = Platform.open(dsn)
    try:
        pool = platform.db.pool
        _load(pool, BRAND, OTHER, 3_000)
        _second_loans(pool)
        with pool.connection() as conn:
            for statement in VARIETY:
                conn.execute(statement)
            conn.execute(REFRESH_ALL_TOTALS)  # the loans' totals rows, from the instalments and repayments above
            conn.execute(MARK_ALL_CLOSED)  # and the closed loans' (incl. second loans without instalments)
        yield pool
    finally:
        platform.close()
        drop_database(dsn)


def _rows(pool: Any, report: Report, request: ReportRequest) -> list[dict[str, Any]]:
    inner, params = _sql(report, request, safe=True, keys=True)
    with pool.connection() as conn:
        return list(conn.execute(f"SELECT * FROM ({inner}) q ORDER BY {_order(report)}", params).fetchall())


REQUESTS = {
    "whole book, business date mid-2026": ReportRequest(BRAND, today=date(2026, 6, 30)),
    "a range, business date March 2025": ReportRequest(
        BRAND, date(2025, 1, 3), date(2025, 3, 31), today=date(2025, 3, 10)
    ),
}


@pytest.mark.parametrize("slug", sorted(BEFORE))
@pytest.mark.parametrize("when", sorted(REQUESTS))
def test_the_grouped_rewrite_gives_the_old_rows_in_the_old_order(book: Any, slug: str, when: str) -> None:
    request = REQUESTS[when]
    old, new = _rows(book, BEFORE[slug], request), _rows(book, CATALOGUE[slug], request)
    assert old, f"{slug}: the book gives the old SQL no rows to compare ({when})"
    assert new == old


@pytest.mark.parametrize("slug", sorted(s for s in BEFORE if any(f.name == "status" for f in CATALOGUE[s].filters)))
def test_the_rewrite_filters_and_totals_like_the_old_sql(book: Any, slug: str) -> None:
    choice = CATALOGUE[slug].filters[0].choices[0]
    request = ReportRequest(BRAND, today=date(2026, 6, 30), filters={"status": choice})
    assert _rows(book, CATALOGUE[slug], request) == _rows(book, BEFORE[slug], request)
    queries = ReportQueries(book)
    totals = queries.totals(CATALOGUE[slug], request)
    assert totals == queries.totals(BEFORE[slug], request) and totals["rows"] > 0


def test_the_variety_reaches_the_rows_it_was_made_for(book: Any) -> None:
    """The book really holds what the comparisons rely on: partly paid and fully paid loans, borrowers with two
    loans, the latest employment and bank account, loans whose only repayment was reversed."""
    whole = REQUESTS["whole book, business date mid-2026"]
    master = _rows(book, CATALOGUE["master-report"], whole)
    assert any(r["loans_count"] == 2 for r in master)
    assert any(r["employer"] == 'New, "Co"' for r in master) and any(r["employer"] == "Old Co" for r in master)
    assert any(r["bank_account"] == "XXXX2" for r in master) and not any(r["bank_account"] == "XXXX1" for r in master)
    outstanding = _rows(book, CATALOGUE["outstanding-data-report"], whole)
    assert any(r["next_due_date"] is None for r in outstanding)  # every instalment paid
    payments = {r["payments"] for r in _rows(book, CATALOGUE["collection-loan-report"], whole)}
    assert {0, 1, 2} <= payments
    none = _rows(book, CATALOGUE["completed-loan-with-no-repet-report"], whole)
    assert none


def test_a_reports_planner_settings_hold_for_its_page_totals_and_export_only(book: Any) -> None:
    """`Report.planner` reaches each of the report's own queries (a column reads the setting back) and no other:
    the same report without it, and the next query on the pooled connection, see the server's value."""
    report = CATALOGUE["completed-loan-with-no-repet-report"]
    assert dict(report.planner)["random_page_cost"] == "1.1"
    probe = Column("cost", "current_setting('random_page_cost')")
    tuned = dataclasses.replace(report, columns=(*report.columns, probe))
    plain = dataclasses.replace(tuned, planner=())
    queries, request = ReportQueries(book), REQUESTS["whole book, business date mid-2026"]
    with book.connection() as conn:
        default = conn.execute("SHOW random_page_cost").fetchone()["random_page_cost"]
    assert default != "1.1"
    page = queries.page(tuned, request, None)
    assert page.rows and {r["cost"] for r in page.rows} == {"1.1"}
    export = b"".join(queries.csv(tuned, request)).decode("utf-8-sig").splitlines()
    assert len(export) == len(_rows(book, report, request)) + 1 and all(line.endswith(",1.1") for line in export[1:])
    assert {r["cost"] for r in queries.page(plain, request, None).rows} == {default}
    assert queries.totals(tuned, request)["rows"] == queries.totals(plain, request)["rows"] > 0
    with book.connection() as conn:  # SET LOCAL: gone with the report's transaction
        assert conn.execute("SHOW random_page_cost").fetchone()["random_page_cost"] == default


def test_report_queries_plan_for_their_own_values_on_a_pooled_connection(book: Any) -> None:
    """Pages and totals run over and over on one connection are never prepared (psycopg prepares what a connection
    ran five times, and PostgreSQL may then use one generic plan for every date range): each is planned for its own
    dates. The connection does prepare what it repeats otherwise (the report's settings statement)."""
    with ConnectionPool(book.conninfo, min_size=1, max_size=1, kwargs={"row_factory": dict_row}) as one:
        queries = ReportQueries(one)
        report = CATALOGUE["completed-loan-with-no-repet-report"]
        for month in [1, 2, 3, 4, 5, 6] * 2:
            request = ReportRequest(BRAND, date(2025, month, 1), date(2025, month, 28), today=date(2026, 6, 30))
            queries.page(report, request, None)
            queries.totals(report, request)
        with one.connection() as conn:
            prepared = [r["statement"] for r in conn.execute("SELECT statement FROM pg_prepared_statements")]
    assert any("set_config" in s for s in prepared)
    assert not [s for s in prepared if "report_loan_totals" in s]


PROBED = sorted(slug for slug, report in CATALOGUE.items() if report.probed_source)


@pytest.mark.parametrize("when", sorted(REQUESTS))
@pytest.mark.parametrize("slug", PROBED)
def test_probed_pages_and_exports_give_the_grouped_rows(book: Any, slug: str, when: str) -> None:
    """Pages, and exports of a date range, read a report's `probed_source` (master-report: each borrower's loans,
    employment and bank account probed per row; marketing-report: each funnel's first imported lead); totals and
    exports of all dates read `source` (grouped over the brand). Walked to the end, the pages give the grouped
    rows in order, and the export's CSV their cells."""
    assert PROBED == ["marketing-report", "master-report"]
    report, request = CATALOGUE[slug], REQUESTS[when]
    assert report.probed_source and report.probed_source != report.source
    inner, params = _sql(report, request, safe=False, keys=True)
    with book.connection() as conn:
        grouped = list(conn.execute(f"SELECT * FROM ({inner}) q ORDER BY {_order(report)}", params).fetchall())
    queries, walked, cursor = ReportQueries(book), [], None
    while True:
        page = queries.page(report, request, cursor, limit=97)
        walked += page.rows
        if not (cursor := page.next_cursor):
            break
    assert len(grouped) > 97 and walked == [{n: r[n] for n in report.header} for r in grouped]
    if slug == "master-report":  # the probed parts are there to compare
        assert any(r["loans_count"] == 2 for r in walked) and any(r["bank_account"] for r in walked)
        assert any(r["employer"] for r in walked)
    else:
        assert any(r["lead_source"] for r in walked) and any(r["customer_number"] for r in walked)
        assert not any(r["lead_source"] == "later_source" for r in walked)  # the first imported lead, not the later

    ranged = request.start is not None or request.end is not None
    copy, _ = queries.copy_sql(report, request)
    assert ("LATERAL" in copy) == ranged, copy
    grouped_copy, params = queries.copy_sql(dataclasses.replace(report, probed_source=None), request)
    with book.connection() as conn, conn.transaction(), conn.cursor() as cur:
        conn.execute("SELECT set_config('TimeZone', %s, true)", (request.timezone,))  # instants as the export writes
        with cur.copy(grouped_copy, params) as rows:
            expected = b"".join(bytes(data) for data in rows).decode("utf-8")
    exported = b"".join(queries.csv(report, request)).decode("utf-8-sig")
    head, _, body = exported.partition("\n")
    assert next(csv.reader([head])) == report.header
    assert body == expected and body.count("\n") == len(grouped)


def test_the_reports_date_keys_are_indexed_whole_when_never_null(book: Any) -> None:
    """A NOT NULL date is indexed whole, a nullable one partially: PostgreSQL 17+ drops a query's `IS NOT NULL` on a
    NOT NULL column and then cannot use a partial index on it (master-report's all-dates pages sorted every
    borrower); each index exists as declared, and the partial index made before is gone."""
    with book.connection() as conn:
        for name, table, column, key, nullable in REPORT_DATE_KEYS:
            found = conn.execute(
                "SELECT is_nullable = 'YES' AS nullable FROM information_schema.columns "
                "WHERE table_schema = 'read' AND table_name = %s AND column_name = %s",
                (table, column),
            ).fetchone()
            assert found is not None and found["nullable"] == nullable, (table, column)
            index = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'read' AND indexname = %s", (f"report_{name}_idx",)
            ).fetchone()
            assert index is not None and f"(brand_id, {column}, {key})" in index["indexdef"], name
            assert ("WHERE" in index["indexdef"]) == nullable, index["indexdef"]
        gone = conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'report_customers_created_idx'").fetchone()
        assert gone is None


def test_a_report_may_set_only_planner_settings() -> None:
    report = CATALOGUE["completed-loan-with-no-repet-report"]
    with pytest.raises(AssertionError, match="statement_timeout"):
        dataclasses.replace(report, planner=(("statement_timeout", "0"),))


def test_the_pages_after_the_first_show_the_totals_it_computed_until_they_expire(book: Any) -> None:
    """The portal sums a report's range when it is generated and shows those totals on the pages after it: a change
    to the book shows in them once the report is generated again or TOTALS_KEPT_SECONDS have passed; another brand,
    other dates or a filter never get them."""
    now = [0.0]
    queries = ReportQueries(book, timer=lambda: now[0])
    report = CATALOGUE["collection-loan-report"]
    asked = ReportRequest(BRAND, date(2025, 1, 1), date(2025, 12, 31), today=date(2026, 6, 30))
    first = queries.totals(report, asked)
    assert first["rows"] > 1
    with book.connection() as conn:
        loan = conn.execute(
            "SELECT id, disbursed_on FROM read.loans WHERE brand_id = %s AND disbursed_on BETWEEN %s AND %s "
            "ORDER BY id LIMIT 1",
            (BRAND, asked.start, asked.end),
        ).fetchone()
        conn.execute("UPDATE read.loans SET disbursed_on = NULL WHERE id = %s", (loan["id"],))
    try:
        kept, at = queries.recent_totals(report, asked)
        assert kept == first
        others = {
            "another brand": dataclasses.replace(asked, brand_id=OTHER),
            "other dates": dataclasses.replace(asked, start=date(2025, 2, 1)),
            "a filter": dataclasses.replace(asked, filters={"status": "active"}),
            "another business date": dataclasses.replace(asked, today=date(2026, 7, 1)),
        }
        for name, other in others.items():
            assert queries.recent_totals(report, other)[0] == ReportQueries(book).totals(report, other), name
        assert queries.recent_totals(report, others["another brand"])[0]["rows"] != first["rows"]
        regenerated = ReportQueries(book).totals(report, asked)
        assert regenerated["rows"] == first["rows"] - 1
        now[0] += TOTALS_KEPT_SECONDS + 1
        expired, later = queries.recent_totals(report, asked)
        assert expired == regenerated and later > at
    finally:
        with book.connection() as conn:
            conn.execute("UPDATE read.loans SET disbursed_on = %s WHERE id = %s", (loan["disbursed_on"], loan["id"]))


def test_a_database_made_before_the_days_rows_gets_them_at_start(book: Any) -> None:
    """A database made before the instalments carried their loan's completion and before the days' rows: the
    projection's DDL (run at every start) adds `completed`, filled from the loans' statuses, then the days' table with
    its triggers, filled from the instalments; run again, it changes nothing."""
    flags = (
        "SELECT count(*) FILTER (WHERE i.completed) AS marked, count(*) FILTER (WHERE l.status = 'completed') AS done, "
        "count(*) FILTER (WHERE i.completed <> (l.status = 'completed')) AS wrong "
        "FROM read.report_instalments i JOIN read.loans l ON l.id = i.loan_id"
    )
    view = ReportBookView()
    with book.connection() as conn:
        before = conn.execute(DAYS_KEPT).fetchall()
        conn.execute("DROP TABLE read.report_due_days")
        for op in ("insert", "update", "delete"):
            conn.execute(f"DROP TRIGGER report_due_days_{op} ON read.report_instalments")
        conn.execute("ALTER TABLE read.report_instalments DROP COLUMN completed")
        view.create(conn)
        found = conn.execute(flags).fetchone()
        assert found["wrong"] == 0 and found["marked"] == found["done"] > 0
        assert conn.execute(DAYS_KEPT).fetchall() == before == conn.execute(DAYS_AGAIN).fetchall()
        view.create(conn)  # at the next start: nothing is filled again
        assert conn.execute(DAYS_KEPT).fetchall() == before
        assert conn.execute(flags).fetchone()["wrong"] == 0


def test_each_days_row_is_the_sum_of_its_instalments_whatever_changes_them(book: Any) -> None:
    """read.report_due_days, kept by triggers on read.report_instalments, equals the instalments summed again by day
    and brand after the book's load and its variety, and after instalments are paid, completed, re-opened, deleted
    and added (for two brands) -- in a transaction rolled back, the book left as it was."""
    with book.connection() as conn, conn.transaction(force_rollback=True):
        days = conn.execute(DAYS_KEPT).fetchall()
        assert days == conn.execute(DAYS_AGAIN).fetchall() and {d["brand_id"] for d in days} == {BRAND, OTHER}
        for change in (
            "UPDATE read.report_instalments SET paid_principal = principal, paid_interest = interest / 2 "
            "WHERE right(loan_id::text, 1) = '9'",
            "UPDATE read.report_instalments SET completed = NOT completed WHERE right(loan_id::text, 2) IN ('1a', '2b')",
            "DELETE FROM read.report_instalments WHERE right(loan_id::text, 1) = 'c' AND no = 3",
            "INSERT INTO read.report_instalments (loan_id, no, brand_id, due_date, principal, interest, paid_principal) "
            "SELECT loan_id, no + 10, brand_id, due_date + 365, principal, interest, 1 FROM read.report_instalments "
            "WHERE right(loan_id::text, 1) IN ('d', 'e')",
            "DELETE FROM read.report_instalments WHERE due_date = (SELECT min(due_date) FROM read.report_instalments)",
        ):
            assert conn.execute(change).rowcount > 0, change
            assert conn.execute(DAYS_KEPT).fetchall() == conn.execute(DAYS_AGAIN).fetchall(), change


@pytest.mark.parametrize("slug", ["total-recovery-report", "recovery-efficiency-report"])
def test_the_reports_by_due_date_total_like_the_instalments_joined_to_their_loans(book: Any, slug: str) -> None:
    queries = ReportQueries(book)
    for request in REQUESTS.values():
        totals = queries.totals(CATALOGUE[slug], request)
        assert totals == queries.totals(BEFORE[slug], request) and totals["rows"] > 0


def test_a_loans_totals_skip_its_borrower_and_a_loan_without_one_still_counts(book: Any) -> None:
    """The loan reports join each loan's borrower as a LEFT JOIN on its key, so PostgreSQL leaves the borrowers out
    of totals that sum only the loans' figures (no scan of every borrower of the brand); a loan whose borrower row is
    not there -- not written yet by its read model, or of another brand -- is still a row of the page and the totals,
    with blank borrower cells, never another brand's borrower."""
    report = CATALOGUE["master-collection-report"]
    asked = REQUESTS["whole book, business date mid-2026"]
    inner, params = _sql(report, asked, safe=False, keys=False)
    queries = ReportQueries(book)
    with book.connection() as conn:
        plan = "\n".join(
            r["QUERY PLAN"] for r in conn.execute(f"EXPLAIN SELECT count(*) FROM ({inner}) q", params).fetchall()
        )
        assert "read.loans" in plan or " loans " in plan
        assert "customers" not in plan
        loan = conn.execute(
            "SELECT l.id, l.customer_id, l.loan_number FROM read.loans l JOIN read.report_loan_totals t "
            "ON t.loan_id = l.id WHERE l.brand_id = %s AND l.status IN ('active', 'partially_paid', 'overdue') "
            "AND t.unpaid_since <= %s ORDER BY t.unpaid_since, l.id LIMIT 1",
            (BRAND, asked.today),
        ).fetchone()
        stranger = conn.execute("SELECT id FROM read.customers WHERE brand_id = %s LIMIT 1", (OTHER,)).fetchone()
    before = queries.totals(report, asked)
    first_row = queries.page(report, asked, None, 1).rows[0]
    assert first_row["loan_number"] == loan["loan_number"] and first_row["borrower"]
    try:
        for customer in (uuid.uuid4(), stranger["id"]):  # no borrower row; another brand's borrower
            with book.connection() as conn:
                conn.execute("UPDATE read.loans SET customer_id = %s WHERE id = %s", (customer, loan["id"]))
            assert queries.totals(report, asked) == before
            row = queries.page(report, asked, None, 1).rows[0]
            assert row["loan_number"] == loan["loan_number"]
            assert row["borrower"] is None and row["phone"] is None and row["customer_number"] is None
            assert {k: v for k, v in row.items() if k not in ("borrower", "phone", "customer_number", "email",
                    "alternate_phones")} == {k: v for k, v in first_row.items() if k not in ("borrower", "phone",
                    "customer_number", "email", "alternate_phones")}  # fmt: skip
    finally:
        with book.connection() as conn:
            conn.execute("UPDATE read.loans SET customer_id = %s WHERE id = %s", (loan["customer_id"], loan["id"]))
