"""Read models of the rating matrix (`read.rating_matrix`) and staff ratings (`read.staff_ratings`), and the
rating history of a staff member: per month of the brand (its business date's month and the ones before it, activity
by its local day in the brand's timezone), each criterion of their roles with its measured value (from the activity
trail, `read.activity`), its computed score, the admin's rating, and the weighted overall score."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.leads.application import Leads
from domain.leads.rating import (
    HISTORY_MONTHS,
    Criterion,
    Metric,
    RatingMatrix,
    StaffRating,
    computed_score,
    month_start,
    next_month,
    overall,
    rating_months,
)
from projections.projection import Insert, Projection, Write, handles

MONTHS = HISTORY_MONTHS  # the history shows the brand's last six months


class RatingViews(Projection):
    """The brand's matrix and every staff rating."""

    name = "ratings"
    source = Leads.name
    tables = ("read.rating_matrix", "read.staff_ratings")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.rating_matrix (
            brand_id uuid PRIMARY KEY,
            id uuid NOT NULL,
            criteria jsonb NOT NULL,
            version int NOT NULL,
            updated_by text NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS read.staff_ratings (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            staff_id uuid NOT NULL,
            period text NOT NULL,
            scores jsonb NOT NULL,
            note text,
            rated_by text NOT NULL,
            rated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS staff_ratings_staff_idx ON read.staff_ratings (brand_id, staff_id, period, rated_at)",
    )

    @handles(RatingMatrix.Set, RatingMatrix.Changed)
    def _matrix(self, position: int, event: RatingMatrix.Set | RatingMatrix.Changed) -> Iterable[Write]:
        criteria = [c.model_dump(mode="json") for c in event.criteria]
        brand = event.brand_id if isinstance(event, RatingMatrix.Set) else None
        yield Write(
            "INSERT INTO read.rating_matrix (brand_id, id, criteria, version, updated_by, updated_at) "
            "VALUES (COALESCE(%(brand)s, (SELECT brand_id FROM read.rating_matrix WHERE id = %(id)s)), %(id)s, "
            "%(criteria)s, %(version)s, %(actor)s, %(at)s) ON CONFLICT (brand_id) DO UPDATE SET "
            "criteria = EXCLUDED.criteria, version = EXCLUDED.version, updated_by = EXCLUDED.updated_by, "
            "updated_at = EXCLUDED.updated_at",
            {"brand": brand, "id": event.originator_id, "criteria": Jsonb(criteria),
             "version": event.originator_version, "actor": event.actor, "at": event.timestamp},
        )  # fmt: skip

    @handles(StaffRating.Rated)
    def _rated(self, position: int, event: StaffRating.Rated) -> Iterable[Insert]:
        yield Insert(
            "read.staff_ratings",
            {"id": event.originator_id, "brand_id": event.brand_id, "staff_id": event.staff_id,
             "period": event.period, "scores": event.scores, "note": event.note, "rated_by": event.actor,
             "rated_at": event.timestamp},
        )  # fmt: skip


@dataclass(frozen=True)
class MatrixRow:
    """The brand's matrix and its version (the ETag)."""

    criteria: list[Criterion]
    version: int
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class CriterionScore:
    """One criterion in one month."""

    metric: str
    label: str
    weight: int
    target: Decimal
    value: Decimal | None
    computed: int | None
    rated: int | None
    score: int | None


@dataclass(frozen=True)
class PeriodRating:
    """A staff member's month: every criterion of their roles, the overall score, the admins' notes."""

    period: str
    criteria: list[CriterionScore]
    overall: Decimal | None
    notes: list[str]


@dataclass(frozen=True)
class RatingHistory:
    """A staff member's rating history, newest month first."""

    staff_id: UUID
    roles: list[str]
    periods: list[PeriodRating]


class RatingQueries:
    """Brand-scoped reads of the matrix and staff ratings."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def matrix(self, brand_id: UUID) -> MatrixRow | None:
        """The brand's matrix, or None before it is configured."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT criteria, version, updated_by, updated_at FROM read.rating_matrix WHERE brand_id = %s",
                (brand_id,),
            ).fetchone()
        if row is None:
            return None
        return MatrixRow(
            [Criterion(**c) for c in row["criteria"]], row["version"], row["updated_by"], row["updated_at"]
        )

    def history(self, brand_id: UUID, staff_id: UUID, business_date: date, tz: str) -> RatingHistory | None:
        """The staff member's last six months (None when they are not the brand's): the month of the brand's
        `business_date` and the five before it, their activity counted by its local day in the brand's timezone `tz`
        (`rating_months`)."""
        months = rating_months(business_date, MONTHS)
        # The months are the brand's, not the database's UTC month: one range of aware instants (local midnight of
        # the oldest month's 1st to that of the month after the newest) over the actor's index, each instant then
        # filed in the month of its local day -- as the sales page counts its months (projections/sales_queries.py).
        since, until = month_start(months[-1], tz), month_start(next_month(months[0]), tz)
        with self.pool.connection() as conn:
            staff = conn.execute(
                "SELECT roles FROM read.staff WHERE id = %s AND brand_id = %s", (staff_id, brand_id)
            ).fetchone()
            if staff is None:
                return None
            actor = f"staff:{staff_id}"
            args = {"b": brand_id, "actor": actor, "since": since, "until": until, "tz": tz}
            measured = conn.execute(_MEASURES, args).fetchall()
            tat = {r["period"]: r["tat"] for r in conn.execute(_TAT, args).fetchall()}
            rated = conn.execute(
                "SELECT period, scores, note FROM read.staff_ratings WHERE brand_id = %s AND staff_id = %s "
                "AND period >= %s AND period <= %s ORDER BY period, rated_at",
                (brand_id, staff_id, months[-1].strftime("%Y-%m"), months[0].strftime("%Y-%m")),
            ).fetchall()
        matrix = self.matrix(brand_id)
        roles = list(staff["roles"])
        criteria = [c for c in (matrix.criteria if matrix else []) if c.role in roles]
        values = {r["period"]: {**r, "tat": tat.get(r["period"])} for r in measured}
        ratings: dict[str, dict[str, int]] = {}
        notes: dict[str, list[str]] = {}
        for r in rated:
            ratings.setdefault(r["period"], {}).update(r["scores"])  # the latest rating of a metric wins
            if r["note"]:
                notes.setdefault(r["period"], []).append(r["note"])
        periods = []
        for start in months:
            period = start.strftime("%Y-%m")
            scores = [_criterion(c, values.get(period), ratings.get(period, {}), start) for c in criteria]
            periods.append(
                PeriodRating(period, scores, overall([(s.weight, s.score) for s in scores]), notes.get(period, []))
            )
        return RatingHistory(staff_id, roles, periods)


#: Per month of the brand (the local day of each instant in its timezone `tz`): the staff member's activity.
_MEASURES = """
SELECT to_char(occurred_at AT TIME ZONE %(tz)s, 'YYYY-MM') AS period,
       count(DISTINCT aggregate_id) FILTER (WHERE source = 'loans') AS loans,
       count(DISTINCT aggregate_id) FILTER (WHERE source = 'paylinks' OR event_type ILIKE '%%payment%%'
                                            OR event_type ILIKE '%%collect%%') AS collections,
       count(*) AS actions
  FROM read.activity
 WHERE brand_id = %(b)s AND actor = %(actor)s AND occurred_at >= %(since)s AND occurred_at < %(until)s
 GROUP BY 1
"""
#: Per month of the brand: the mean hours from a loan's first recorded event to the staff member's first action on it.
_TAT = """
SELECT x.period, avg(extract(epoch FROM x.first_action - o.opened) / 3600) AS tat
  FROM (SELECT aggregate_id, min(occurred_at) AS first_action,
               to_char(min(occurred_at) AT TIME ZONE %(tz)s, 'YYYY-MM') AS period
          FROM read.activity
         WHERE brand_id = %(b)s AND actor = %(actor)s AND source = 'loans' AND occurred_at >= %(since)s
           AND occurred_at < %(until)s
         GROUP BY aggregate_id) AS x
  CROSS JOIN LATERAL (SELECT min(occurred_at) AS opened FROM read.activity WHERE aggregate_id = x.aggregate_id) AS o
 GROUP BY x.period
"""


def _criterion(c: Criterion, row: dict[str, Any] | None, rated: dict[str, int], start: date) -> CriterionScore:
    value: Decimal | None = None
    if row is not None:
        weeks = Decimal(calendar.monthrange(start.year, start.month)[1]) / Decimal(7)
        per_week = {
            Metric.LOANS_PROCESSED_PER_WEEK: row["loans"],
            Metric.COLLECTIONS_PER_WEEK: row["collections"],
            Metric.ACTIONS_PER_WEEK: row["actions"],
        }
        if c.metric in per_week:
            value = (Decimal(per_week[c.metric]) / weeks).quantize(Decimal("0.01"), ROUND_HALF_UP)
        elif c.metric is Metric.TAT_HOURS and row["tat"] is not None:
            value = Decimal(row["tat"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
    computed = computed_score(c.metric, value, c.target)
    given = rated.get(c.metric.value)
    return CriterionScore(
        c.metric.value, c.label, c.weight, c.target, value, computed, given, given if given is not None else computed
    )
