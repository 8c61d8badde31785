"""Rating matrix rules and use cases: weights per role, If-Match on the matrix, 1-10 ratings, computed scores."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from domain.leads.application import Leads, RatedStaffNotFound
from domain.leads.rating import (
    HIGHEST_SCORE,
    LOWEST_SCORE,
    Criterion,
    Metric,
    RatingMatrix,
    computed_score,
    month_start,
    next_month,
    overall,
    rating_months,
)
from domain.shared.application import ConcurrentModification
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
KNOWN = uuid.UUID("00000000-0000-4000-8000-00000000000a")


class Staff:
    def has_staff(self, brand_id: uuid.UUID, staff_id: uuid.UUID) -> bool:
        return brand_id == BRAND and staff_id == KNOWN


def _c(metric: Metric, weight: int, role: str = "credit_executive", target: str = "1") -> Criterion:
    return Criterion(metric=metric, label=metric.value, weight=weight, role=role, target=Decimal(target))


@pytest.fixture
def leads(clock: FixedClock) -> Leads:
    return in_memory(Leads, clock, staff=Staff())


def test_matrix_versions_and_conflicts(leads: Leads) -> None:
    first = [_c(Metric.LOANS_PROCESSED_PER_WEEK, 70), _c(Metric.MANUAL, 30)]
    leads.set_matrix(BRAND, first, None)
    assert leads.matrix(BRAND).version == 1
    with pytest.raises(ConcurrentModification):
        leads.set_matrix(BRAND, [_c(Metric.MANUAL, 100)], 0)
    leads.set_matrix(BRAND, [_c(Metric.MANUAL, 100)], 1)
    matrix: RatingMatrix = leads.matrix(BRAND)
    assert matrix.version == 2 and [c.metric for c in matrix.criteria] == [Metric.MANUAL]
    assert not leads.set_matrix(BRAND, [_c(Metric.MANUAL, 100)], 2).changed


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ([_c(Metric.MANUAL, 90)], "criteria"),
        ([_c(Metric.MANUAL, 50), _c(Metric.MANUAL, 50)], "criteria[1].metric"),
        ([_c(Metric.MANUAL, 100, role="astronaut")], "criteria[0].role"),
        ([_c(Metric.TAT_HOURS, 100, target="0")], "criteria[0].target"),
        # Past the bounds the API's body states (0 < target <= 100000, 6 places): the portal's form reached here with
        # them, and each made every computed score of its role a decimal.InvalidOperation.
        ([_c(Metric.TAT_HOURS, 100, target="1e-30")], "criteria[0].target"),
        ([_c(Metric.ACTIONS_PER_WEEK, 100, target="1e30")], "criteria[0].target"),
        ([_c(Metric.ACTIONS_PER_WEEK, 100, target="100000.000001")], "criteria[0].target"),
        ([_c(Metric.ACTIONS_PER_WEEK, 100, target="0.0000001")], "criteria[0].target"),
        ([_c(Metric.ACTIONS_PER_WEEK, 100, target="-0")], "criteria[0].target"),
    ],
)
def test_bad_matrices_record_nothing(leads: Leads, criteria: list[Criterion], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        leads.set_matrix(BRAND, criteria, None)
    assert field in [e.field for e in refused.value.errors]
    assert leads.recorder.max_notification_id() in (None, 0)


def test_a_target_is_refused_past_its_bounds_and_taken_at_them_with_every_score_computing(leads: Leads) -> None:
    for target in ("1e-30", "1e30", "100000.000001"):
        with pytest.raises(InvalidInput):
            leads.set_matrix(BRAND, [_c(Metric.TAT_HOURS, 100, target=target)], None)
    for version, target in enumerate(("100000", "0.000001")):
        criteria = [_c(Metric.ACTIONS_PER_WEEK, 60, target=target), _c(Metric.TAT_HOURS, 40, target=target)]
        leads.set_matrix(BRAND, criteria, version)
        for c in leads.matrix(BRAND).criteria:
            for value in (Decimal("0.000001"), Decimal("1"), Decimal("100000")):
                assert LOWEST_SCORE <= (computed_score(c.metric, value, c.target) or 0) <= HIGHEST_SCORE


def test_ratings_need_a_staff_member_of_the_brand_and_1_to_10(leads: Leads) -> None:
    leads.rate(BRAND, KNOWN, "2026-11", {"manual": 7}, None)
    with pytest.raises(RatedStaffNotFound):
        leads.rate(BRAND, uuid.uuid4(), "2026-11", {"manual": 7}, None)
    for period, scores in (("2026-11", {"manual": 0}), ("2026-11", {"speed": 5}), ("11-2026", {"manual": 5})):
        with pytest.raises(InvalidInput):
            leads.rate(BRAND, KNOWN, period, scores, None)


def test_computed_scores_and_the_weighted_overall() -> None:
    assert computed_score(Metric.LOANS_PROCESSED_PER_WEEK, Decimal("3"), Decimal("4")) == 8  # 7.5 rounds half up
    assert computed_score(Metric.LOANS_PROCESSED_PER_WEEK, Decimal("40"), Decimal("4")) == 10
    assert computed_score(Metric.LOANS_PROCESSED_PER_WEEK, Decimal("0"), Decimal("4")) == 1
    assert computed_score(Metric.TAT_HOURS, Decimal("48"), Decimal("24")) == 5  # slower than target
    assert computed_score(Metric.TAT_HOURS, Decimal("12"), Decimal("24")) == 10
    assert computed_score(Metric.MANUAL, Decimal("5"), Decimal("1")) is None
    assert computed_score(Metric.ACTIONS_PER_WEEK, None, Decimal("1")) is None
    assert overall([(60, 5), (40, 8)]) == Decimal("6.20")
    assert overall([(60, None), (40, 7)]) == Decimal("7.00")
    assert overall([(60, None)]) is None


def test_the_rating_months_are_the_business_dates_month_and_the_five_before() -> None:
    months = rating_months(date(2026, 2, 28))
    assert [m.isoformat() for m in months] == [
        "2026-02-01", "2026-01-01", "2025-12-01", "2025-11-01", "2025-10-01", "2025-09-01"
    ]  # fmt: skip
    assert next_month(date(2025, 12, 1)) == date(2026, 1, 1) and next_month(date(2026, 1, 1)) == date(2026, 2, 1)


def test_a_month_of_the_brand_starts_at_local_midnight_of_its_first() -> None:
    # 1 November in Asia/Kolkata starts at 18:30 UTC on 31 October: 20:00 UTC on the 31st is November's already.
    assert month_start(date(2025, 11, 1), "Asia/Kolkata") == datetime(2025, 10, 31, 18, 30, tzinfo=UTC)
    assert month_start(date(2025, 12, 1), "America/New_York") == datetime(2025, 12, 1, 5, 0, tzinfo=UTC)
