"""The report declarations (issue #18 item 1): every one scoped to the brand, keyed, with columns named once, its
filters checked before SQL, and documented in docs/reports.md with the definition the catalogue serves."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from uuid import uuid4

import pytest

from domain.shared.errors import InvalidInput
from projections.report_catalogue import CATALOGUE
from projections.reports import CELL_FUNCTION, ReportRequest, _sql

DOCS = (Path(__file__).parents[2] / "docs" / "reports.md").read_text()


def test_there_are_the_29_spec_reports_and_four_more() -> None:
    assert len(CATALOGUE) == 33
    by_category = {
        c: sum(r.category == c for r in CATALOGUE.values()) for c in {r.category for r in CATALOGUE.values()}
    }
    assert by_category == {"User & Loan Reports": 12, "Collection Reports": 13, "Marketing & Credit Reports": 8}
    assert "completed-loan-with-no-repet-report" in CATALOGUE


@pytest.mark.parametrize("slug", sorted(CATALOGUE))
def test_each_report_is_brand_scoped_keyed_and_documented(slug: str) -> None:
    report = CATALOGUE[slug]
    names = report.header
    assert len(names) == len(set(names)) and report.key
    sql, params = _sql(report, ReportRequest(uuid4(), date(2026, 1, 1), date(2026, 1, 31)), safe=True, keys=True)
    assert "%(brand)s" in sql and params["from_date" if report.date_kind == "date" else "from_at"]
    assert f"`{slug}`" in DOCS and report.definition in DOCS.replace("\n", " ")


#: A join of a read model or an operational table: its table, alias and ON condition (up to the next clause).
_JOIN = re.compile(
    r"JOIN\s+((?:read|ops)\.\w+)\s+(\w+)\s+ON\s+(.*?)"
    r"(?=\s(?:LEFT\s+|INNER\s+|CROSS\s+)?JOIN\s|\sWHERE\s|\sGROUP\s|\sORDER\s|\)\s|$)",
    re.S,
)


@pytest.mark.parametrize("slug", sorted(CATALOGUE))
def test_every_join_of_a_report_matches_the_brand(slug: str) -> None:
    # docs/reports.md: "every join matches the brand too". The Aadhaar and bureau checks, a loan's attribution and a
    # session's onboarding were joined by id alone (ids are unique across brands, so nothing showed; now it cannot).
    sql, _ = _sql(CATALOGUE[slug], ReportRequest(uuid4(), date(2026, 1, 1), date(2026, 1, 31)), safe=True, keys=True)
    joins = _JOIN.findall(sql)
    assert [(table, alias) for table, alias, on in joins if "brand" not in on] == [], slug


def test_an_undeclared_filter_a_bad_choice_or_reversed_dates_are_refused_before_sql() -> None:
    report = CATALOGUE["disbursed-loan-report"]
    for request in (
        ReportRequest(uuid4(), filters={"stage": "pan"}),
        ReportRequest(uuid4(), filters={"status": "nonsense"}),
        ReportRequest(uuid4(), date(2026, 2, 1), date(2026, 1, 1)),
    ):
        with pytest.raises(InvalidInput):
            _sql(report, request, safe=False, keys=False)


def test_text_cells_are_neutralised_in_the_database_and_numbers_are_not() -> None:
    sql, _ = _sql(CATALOGUE["disbursed-loan-report"], ReportRequest(uuid4()), safe=True, keys=False)
    assert 'read.report_cell((c.name)::text) AS "borrower"' in sql
    # numbers are not neutralised, only written with at least their paise
    assert 'read.report_number((coalesce(l.sanctioned_amount, l.amount))::numeric) AS "disbursed_amount"' in sql
    assert "read.report_cell((coalesce(l.sanctioned_amount" not in sql
    for prefix in ("'='", "'+'", "'-'", "'@'", "chr(9)", "chr(13)"):
        assert prefix in CELL_FUNCTION


def test_every_filter_a_report_declares_is_taken_by_the_api_and_the_page() -> None:
    from api.routes.reports import FILTER_NAMES, ReportFilters

    declared = {f.name for report in CATALOGUE.values() for f in report.filters}
    assert declared == set(FILTER_NAMES)
    assert declared <= set(ReportFilters.model_fields)
    given = ReportFilters.model_validate({name: "x" for name in declared}).given()
    assert set(given) == declared
