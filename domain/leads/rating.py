"""The rating matrix: brand-configured criteria (a metric, its weightage, the staff role it applies to, a target)
and admins' 1-10 ratings of staff per metric and period; scores are computed from recorded activity. Pure rules.

Per role, the weights of its criteria sum to 100. A criterion's **computed score** for a period is its measured
value against the target, on 1..10: `round(10 * value / target)` clamped to 1..10 (for `tat_hours`, lower is
better: `round(10 * target / value)`; no activity: no score). An admin's rating of the metric for the period, when
given, replaces the computed score. The **overall** score is the weighted mean of the scores present,
`sum(weight * score) / sum(weight of the scored criteria)`, to two places (ROUND_HALF_UP).

A period is the brand's month: the history's newest is the month of the brand's business date (its configured one,
else today in its timezone -- the month the sales page and the targets call this month), and activity counts in the
month of its instant's local day in the brand's timezone (`rating_months`, `month_start`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5
from zoneinfo import ZoneInfo

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.identity.permissions import ROLES
from domain.shared.aggregate import Aggregate
from domain.shared.errors import FieldError, InvalidInput, InvalidValue, NotFound
from domain.shared.values import MEASURE

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/rating-matrix")
#: A month of years 1900-2199, `YYYY-MM` (JSON Schema, ECMA-262 and Python alike: the API's schema states it as is).
PERIOD = re.compile(r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$")
#: An admin's rating of a metric (`check_scores`; the API's schema states the range).
LOWEST_SCORE, HIGHEST_SCORE = 1, 10
#: The largest target of a criterion (`check_target`: more than 0, at most `MEASURE`'s 6 decimal places): the portal's
#: form took a target of 1e-30 or 1e30, and every computed score of its role overflowed (`computed_score`), a 500.
MAX_TARGET = Decimal(100000)
#: How many months a staff member's rating history shows: the brand's business month and the ones before it.
HISTORY_MONTHS = 6


class Metric(StrEnum):
    """What a criterion measures (from the activity trail, per staff member and month)."""

    LOANS_PROCESSED_PER_WEEK = "loans_processed_per_week"  # distinct loans the staff member acted on, per week
    COLLECTIONS_PER_WEEK = "collections_per_week"  # distinct loans they acted on in servicing/paylinks, per week
    ACTIONS_PER_WEEK = "actions_per_week"  # every recorded action, per week
    TAT_HOURS = "tat_hours"  # mean hours from a loan's first event to their first action on it (lower is better)
    MANUAL = "manual"  # rated by an admin only


class Criterion(BaseModel):
    """One entry of the matrix."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: Metric
    label: str
    weight: int
    role: str
    target: Decimal = Decimal("1")


class RatingMatrixNotFound(NotFound):
    """Raised when the brand has no rating matrix yet."""


def matrix_id(brand_id: UUID) -> UUID:
    """The brand's one matrix."""
    return uuid5(_NAMESPACE, str(brand_id))


def check_criteria(criteria: list[Criterion]) -> list[Criterion]:
    """The criteria when valid: known roles, weights 1..100 summing to 100 per role, one metric once per role,
    a target more than 0 and at most MAX_TARGET with at most 6 decimal places (`check_target`); else 422 naming each
    bad entry. Every path checks them here: the API's body, the portal's form."""
    errors: list[FieldError] = []
    totals: dict[str, int] = {}
    seen: set[tuple[str, Metric]] = set()
    for i, c in enumerate(criteria):
        if c.role not in ROLES:
            errors.append(FieldError(f"criteria[{i}].role", f"no role '{c.role}'"))
        if not 1 <= c.weight <= 100:
            errors.append(FieldError(f"criteria[{i}].weight", "a weight is 1 to 100"))
        try:
            check_target(c.target, f"criteria[{i}].target")
        except InvalidInput as exc:
            errors.extend(exc.errors)
        if not c.label.strip() or len(c.label) > 100:
            errors.append(FieldError(f"criteria[{i}].label", "a label has 1 to 100 characters"))
        if (c.role, c.metric) in seen:
            errors.append(FieldError(f"criteria[{i}].metric", f"{c.metric.value} is listed twice for {c.role}"))
        seen.add((c.role, c.metric))
        totals[c.role] = totals.get(c.role, 0) + c.weight
    for role, total in sorted(totals.items()):
        if total != 100:
            errors.append(FieldError("criteria", f"the weights of role {role} sum to {total}, not 100"))
    if errors:
        raise InvalidInput(errors)
    return criteria


def check_target(target: Decimal, field: str = "target") -> Decimal:
    """A criterion's target: finite, more than 0 and at most MAX_TARGET, with at most 6 decimal places."""
    if not target.is_finite() or not 0 < target <= MAX_TARGET:
        raise InvalidValue(field, f"the target must be more than 0 and at most {MAX_TARGET:,}")
    return MEASURE.parse(target, field)


def check_period(period: str) -> str:
    """A month, `YYYY-MM`."""
    if not PERIOD.match(period or ""):
        raise InvalidValue("period", "a period is a month, YYYY-MM")
    return period


def rating_months(business_date: date, count: int = HISTORY_MONTHS) -> list[date]:
    """The months (each as its 1st) a rating history shows, newest first: the month of the brand's business date
    and the `count - 1` before it. Never the server's UTC calendar month: from 18:30 UTC on a month's last day it is
    already the next month in Asia/Kolkata, and a brand held at a business date lives in that date's month."""
    months = []
    for back in range(count):
        year, index = divmod(business_date.year * 12 + business_date.month - 1 - back, 12)
        months.append(date(year, index + 1, 1))
    return months


def next_month(first: date) -> date:
    """The 1st of the month after the one of `first`."""
    year, index = divmod(first.year * 12 + first.month, 12)
    return date(year, index + 1, 1)


def month_start(first: date, tz: str) -> datetime:
    """The instant a month of the brand starts: local midnight of its 1st in the brand's timezone (aware)."""
    return datetime.combine(first.replace(day=1), time(), ZoneInfo(tz))


def check_scores(scores: dict[str, int]) -> dict[str, int]:
    """Admin ratings: metric -> 1..10."""
    if not scores:
        raise InvalidValue("scores", "rate at least one metric")
    errors = []
    for metric, value in scores.items():
        if metric not in Metric.__members__.values():
            errors.append(FieldError(f"scores.{metric}", "not a metric of the rating matrix"))
        elif not LOWEST_SCORE <= value <= HIGHEST_SCORE:
            errors.append(FieldError(f"scores.{metric}", f"a rating is {LOWEST_SCORE} to {HIGHEST_SCORE}"))
    if errors:
        raise InvalidInput(errors)
    return dict(sorted(scores.items()))


def computed_score(metric: Metric, value: Decimal | None, target: Decimal) -> int | None:
    """A measured value as a 1..10 score against the target (None: nothing measured)."""
    if metric is Metric.MANUAL or value is None:
        return None
    if metric is Metric.TAT_HOURS:
        raw = Decimal(10) if value <= 0 else Decimal(10) * target / value
    else:
        raw = Decimal(10) * value / target
    return max(1, min(10, int(raw.quantize(Decimal(1), ROUND_HALF_UP))))


def overall(weighted: list[tuple[int, int | None]]) -> Decimal | None:
    """The weighted mean of (weight, score) where a score is present, to two places."""
    scored = [(w, s) for w, s in weighted if s is not None]
    total = sum(w for w, _ in scored)
    if not total:
        return None
    return (Decimal(sum(w * s for w, s in scored)) / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)


class RatingMatrix(Aggregate):
    """The brand's rating matrix (uuid5 of the brand)."""

    id: UUID

    class Set(Aggregate.Created):
        """The matrix was configured the first time."""

        brand_id: UUID
        criteria: list[Criterion]

    class Changed(Aggregate.Event):
        """The matrix was replaced."""

        criteria: list[Criterion]

    @event(Set)
    def __init__(self, brand_id: UUID, criteria: list[Criterion]) -> None:
        self.brand_id = brand_id
        self.criteria = criteria

    def change(self, criteria: list[Criterion]) -> bool:
        """Replace the criteria (the same criteria again change nothing)."""
        if criteria == self.criteria:
            return False
        self._changed(criteria=criteria)
        return True

    @event(Changed)
    def _changed(self, criteria: list[Criterion]) -> None:
        self.criteria = criteria


class StaffRating(Aggregate):
    """An admin's rating of a staff member for a month: metric -> 1..10."""

    class Rated(Aggregate.Created):
        """A staff member was rated."""

        brand_id: UUID
        staff_id: UUID
        period: str
        scores: dict[str, int]
        note: str | None

    @event(Rated)
    def __init__(self, brand_id: UUID, staff_id: UUID, period: str, scores: dict[str, int], note: str | None) -> None:
        self.brand_id = brand_id
        self.staff_id = staff_id
        self.period = period
        self.scores = scores
        self.note = note
