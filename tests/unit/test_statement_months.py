"""The months bank statements cover against the months a brand asks for: month arithmetic checked against a simple
day-by-day computation over many generated cases (year boundaries, overlaps, gaps), the upload's period rules, and
the words a refusal and the staff checklist use."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.documents.content import DocumentKind
from domain.documents.statement_months import (
    Month,
    StatementPeriod,
    month_runs,
    refused_coverage,
    required_months,
    statement_coverage,
    statement_period,
)
from domain.shared.errors import InvalidInput

STATEMENT = DocumentKind.BANK_STATEMENT


def _previous_month(year: int, month: int) -> tuple[int, int]:
    """The month before, by the calendar: the day before the 1st."""
    before = date(year, month, 1) - timedelta(days=1)
    return before.year, before.month


def _simple_required(today: date, count: int) -> list[str]:
    """The `count` months before today's, walking back one calendar month at a time."""
    months = []
    year, month = today.year, today.month
    for _ in range(count):
        year, month = _previous_month(year, month)
        months.append(f"{year:04d}-{month:02d}")
    return sorted(months)


def _simple_covered(periods: list[tuple[date, date]]) -> set[str]:
    """Every month any period touches, by walking its days one by one."""
    months = set()
    for first, last in periods:
        day = first
        while day <= last:
            months.add(f"{day.year:04d}-{day.month:02d}")
            day += timedelta(days=1)
    return months


def _random_month(rng: random.Random) -> date:
    return date(rng.randint(2019, 2031), rng.randint(1, 12), 1)


def _month_end(first: date) -> date:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def test_required_months_match_walking_back_the_calendar_in_many_generated_cases() -> None:
    rng = random.Random(20261105)
    for _ in range(2000):
        today = date(2020, 1, 1) + timedelta(days=rng.randint(0, 365 * 10))
        count = rng.randint(1, 24)
        assert [str(m) for m in required_months(today, count)] == _simple_required(today, count), (today, count)


@pytest.mark.parametrize(
    ("today", "count", "expected"),
    [
        (date(2026, 1, 1), 3, ["2025-10", "2025-11", "2025-12"]),  # the year turns inside "last month"
        (date(2026, 2, 28), 3, ["2025-11", "2025-12", "2026-01"]),
        (date(2026, 3, 31), 1, ["2026-02"]),
        (date(2026, 12, 31), 12, ["2025-12", *(f"2026-{m:02d}" for m in range(1, 12))]),
        (date(2024, 1, 15), 24, [*(f"2022-{m:02d}" for m in range(1, 13)), *(f"2023-{m:02d}" for m in range(1, 13))]),
    ],
)
def test_required_months_end_last_month_across_year_boundaries(today: date, count: int, expected: list[str]) -> None:
    assert [str(m) for m in required_months(today, count)] == expected


@pytest.mark.parametrize(
    ("timezone", "configured", "expected"),
    [
        ("Asia/Kolkata", None, date(2026, 12, 1)),  # 00:30 on 1 Dec in India
        ("America/New_York", None, date(2026, 11, 30)),  # still the evening of 30 Nov
        ("Asia/Kolkata", date(2024, 3, 15), date(2024, 3, 15)),  # a brand run as of a past day
        ("America/New_York", date(2027, 1, 2), date(2027, 1, 2)),  # or a later one: the configured day, as given
    ],
)
def test_the_day_statement_months_count_from_is_the_brands_business_date(
    timezone: str, configured: date | None, expected: date
) -> None:
    from domain.onboarding.steps import FunnelRules
    from domain.shared.clock import brand_business_date

    instant = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    assert brand_business_date(instant, timezone, configured) == expected
    assert FunnelRules(timezone=timezone, business_date=configured).today(instant) == expected  # the funnel's day


def test_statements_are_judged_against_the_months_before_a_configured_business_date() -> None:
    from domain.shared.clock import brand_business_date

    # Real time 30 Nov 2026; the brand held on 15 Mar 2024 asks Dec 2023 to Feb 2024.
    today = brand_business_date(datetime(2026, 11, 30, 19, 0, tzinfo=UTC), "Asia/Kolkata", date(2024, 3, 15))
    coverage = statement_coverage([StatementPeriod(Month.of(2024, 1), Month.of(2024, 3))], today, 3)
    assert [str(m) for m in coverage.required] == ["2023-12", "2024-01", "2024-02"]
    assert [str(m) for m in coverage.missing] == ["2023-12"] and refused_coverage(coverage)
    # A statement of the held month is not in the future; the month after it is.
    assert statement_period(STATEMENT, "2024-02", "2024-03", today) == StatementPeriod(
        Month.of(2024, 2), Month.of(2024, 3)
    )
    with pytest.raises(InvalidInput) as future:
        statement_period(STATEMENT, "2024-02", "2024-04", today)
    assert [e.field for e in future.value.errors] == ["period_to"]


def test_coverage_of_random_overlapping_and_gapped_statements_matches_a_day_by_day_walk() -> None:
    rng = random.Random(7)
    for _ in range(1500):
        today = date(2021, 1, 1) + timedelta(days=rng.randint(0, 365 * 8))
        count = rng.randint(1, 12)
        periods: list[StatementPeriod | None] = []
        spans: list[tuple[date, date]] = []
        for _ in range(rng.randint(0, 5)):
            if rng.random() < 0.1:
                periods.append(None)
                continue
            first = _random_month(rng)
            last = first
            for _ in range(rng.randint(0, 7)):
                last = _month_end(last) + timedelta(days=1)
            periods.append(StatementPeriod(Month.containing(first), Month.containing(last)))
            spans.append((first, _month_end(last)))
        coverage = statement_coverage(periods, today, count)
        required = _simple_required(today, count)
        covered = _simple_covered(spans)
        assert [str(m) for m in coverage.required] == required
        assert [str(m) for m in coverage.covered] == sorted(covered)
        assert [str(m) for m in coverage.missing] == [m for m in required if m not in covered]
        assert coverage.period_not_given == periods.count(None)
        assert coverage.complete is all(m in covered for m in required)


def _p(first: str, last: str) -> StatementPeriod:
    return StatementPeriod(Month.parse(first, "period_from"), Month.parse(last, "period_to"))


def test_overlapping_statements_cover_the_union_and_a_gap_is_named() -> None:
    today = date(2026, 11, 5)
    overlap = statement_coverage([_p("2026-08", "2026-09"), _p("2026-09", "2026-10")], today, 3)
    assert overlap.complete and [str(m) for m in overlap.covered] == ["2026-08", "2026-09", "2026-10"]
    assert overlap.summary() == "2026-08..2026-10 (3 of 3 months)"
    gap = statement_coverage([_p("2026-09", "2026-10")], today, 3)
    assert [str(m) for m in gap.missing] == ["2026-08"]
    assert gap.shortfall() == (
        "statements cover 2026-09..2026-10; the lender needs 3 months (2026-08..2026-10): 2026-08 is missing"
    )
    assert gap.summary() == "2026-09..2026-10 (2 of 3 months); missing 2026-08"
    holes = statement_coverage([_p("2026-04", "2026-04"), _p("2026-06", "2026-07"), _p("2026-10", "2026-11")], today, 6)
    assert holes.shortfall() == (
        "statements cover 2026-04, 2026-06..2026-07 and 2026-10..2026-11; the lender needs 6 months "
        "(2026-05..2026-10): 2026-05 and 2026-08..2026-09 are missing"
    )


def test_a_statement_across_the_new_year_covers_both_years() -> None:
    coverage = statement_coverage([_p("2025-11", "2026-01")], date(2026, 2, 1), 3)
    assert coverage.complete and [str(m) for m in coverage.required] == ["2025-11", "2025-12", "2026-01"]
    one = statement_coverage([_p("2025-11", "2025-11")], date(2026, 1, 3), 1)
    assert one.summary() == "2025-11 (0 of 1 month); missing 2025-12"
    assert one.shortfall() == "statements cover 2025-11; the lender needs 1 month (2025-12): 2025-12 is missing"


def test_statements_without_their_months_are_given_the_benefit_of_the_doubt_but_flagged() -> None:
    today = date(2026, 11, 5)
    all_known = statement_coverage([_p("2026-10", "2026-10")], today, 3)
    assert refused_coverage(all_known)
    one_unknown = statement_coverage([_p("2026-10", "2026-10"), None], today, 3)
    assert not refused_coverage(one_unknown) and one_unknown.period_not_given == 1
    assert one_unknown.summary() == "2026-10 (1 of 3 months); missing 2026-08..2026-09; period not given on 1"
    none_known = statement_coverage([None, None], today, 3)
    assert not refused_coverage(none_known)
    assert none_known.summary() == "no months given (0 of 3 months); missing 2026-08..2026-10; period not given on 2"
    assert not refused_coverage(statement_coverage([_p("2026-08", "2026-10")], today, 3))


def test_month_runs_collapse_consecutive_months_whatever_their_order() -> None:
    months = [Month.parse(m, "m") for m in ("2026-03", "2025-12", "2026-01", "2026-01", "2026-05")]
    assert [str(r) for r in month_runs(months)] == ["2025-12..2026-01", "2026-03", "2026-05"]


def test_months_round_trip_through_their_text_for_every_month_of_a_century() -> None:
    for year in range(1950, 2051):
        for month in range(1, 13):
            parsed = Month.parse(f"{year:04d}-{month:02d}", "period_from")
            assert (parsed.year, parsed.month, str(parsed)) == (year, month, f"{year:04d}-{month:02d}")
            assert parsed.plus(1) == Month.containing(_month_end(date(year, month, 1)) + timedelta(days=1))


TODAY = date(2026, 11, 5)


def _fields(kind: DocumentKind, period_from: str | None, period_to: str | None) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        statement_period(kind, period_from, period_to, TODAY)
    return [e.field for e in refused.value.errors]


def test_an_upload_period_is_both_months_or_neither() -> None:
    assert statement_period(STATEMENT, None, None, TODAY) is None
    assert statement_period(STATEMENT, "  ", "", TODAY) is None
    assert str(statement_period(STATEMENT, "2026-08", " 2026-10 ", TODAY)) == "2026-08..2026-10"
    assert _fields(STATEMENT, "2026-08", None) == ["period_to"]
    assert _fields(STATEMENT, None, "2026-08") == ["period_from"]


def test_an_upload_period_refuses_bad_months_future_months_old_months_and_a_backwards_range() -> None:
    assert _fields(STATEMENT, "2026-13", "2026-10") == ["period_from"]
    assert _fields(STATEMENT, "08/2026", "2026-10") == ["period_from"]
    assert _fields(STATEMENT, "2026-08-01", "2026-10") == ["period_from"]
    assert _fields(STATEMENT, "2026-08", "2026-12") == ["period_to"]  # next month has not happened
    assert _fields(STATEMENT, "2026-12", "2027-01") == ["period_from", "period_to"]
    assert _fields(STATEMENT, "2026-10", "2026-08") == ["period_to"]
    assert _fields(STATEMENT, "2016-10", "2026-08") == ["period_from"]  # a mistyped year
    assert str(statement_period(STATEMENT, "2021-11", "2026-11", TODAY)) == "2021-11..2026-11"  # five years, this month


def test_only_a_bank_statement_has_a_period() -> None:
    assert _fields(DocumentKind.PAN_CARD, "2026-08", "2026-10") == ["period_from"]
    assert _fields(DocumentKind.PASSBOOK, None, "2026-10") == ["period_to"]
    assert statement_period(DocumentKind.PAN_CARD, None, "", TODAY) is None
