"""Rating matrix endpoints: the brand's criteria (GET/PUT with If-Match), a staff member's rating history (computed
from activity and admins' ratings) and an admin's 1-10 rating of a staff member per metric."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_NOTE
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.leads.application import Leads, RatedStaffNotFound
from domain.leads.rating import HIGHEST_SCORE, LOWEST_SCORE, MAX_TARGET, PERIOD, Criterion, Metric
from domain.shared.values import Measure, WholeNumber, stated_pattern
from projections.ratings import MatrixRow, RatingHistory, RatingQueries

MATRIX_READ = (Permission.BRAND_SETTINGS, Level.READ)
MATRIX_WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
RATINGS_READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)
RATINGS_WRITE = (Permission.PARTNER_USER_MANAGEMENT, Level.WRITE)


@dataclass(frozen=True)
class RatingsPort:
    """What the rating endpoints use: the brand's business date and timezone (its months) from identity."""

    leads: Leads
    ratings: RatingQueries
    identity: Identity


class CriterionIn(BaseModel):
    """One criterion: the metric, a label, its weightage (per role the weights sum to 100), the role, a target."""

    model_config = ConfigDict(extra="forbid")

    metric: Metric
    label: str = Field(max_length=100)
    weight: WholeNumber = Field(ge=1, le=100)
    role: str = Field(max_length=60)
    target: Measure = Field(Decimal("1"), gt=0, le=MAX_TARGET)


class MatrixIn(BaseModel):
    """The whole matrix (replaces the criteria)."""

    model_config = ConfigDict(extra="forbid")

    criteria: list[CriterionIn] = Field(max_length=100)


class CriterionOut(BaseModel):
    """A criterion of the matrix."""

    metric: Metric
    label: str
    weight: int
    role: str
    target: Decimal


class MatrixOut(BaseModel):
    """The brand's matrix and its version (also the ETag; 0 before it is configured)."""

    criteria: list[CriterionOut]
    version: int
    updated_by: str | None
    updated_at: InstantOut | None


class RatingIn(BaseModel):
    """An admin's rating of a staff member for a month: metric -> 1..10."""

    model_config = ConfigDict(extra="forbid")

    period: Annotated[str, Field(max_length=7), stated_pattern(PERIOD.pattern, max_length=7)] = Field(
        description="YYYY-MM"
    )
    scores: dict[Metric, WholeNumber] = Field(
        max_length=10,
        description=f"at least one metric, each rated {LOWEST_SCORE}..{HIGHEST_SCORE}",
        json_schema_extra={
            "minProperties": 1,
            "additionalProperties": {"type": "integer", "minimum": LOWEST_SCORE, "maximum": HIGHEST_SCORE},
        },
    )
    note: str | None = Field(
        None,
        max_length=500,
        description="Optional; given, it needs a visible character",
        json_schema_extra=VISIBLE_NOTE,
    )


class CriterionScoreOut(BaseModel):
    """A criterion in a month: measured value, computed score, admin rating, the score used."""

    metric: str
    label: str
    weight: int
    target: Decimal
    value: Decimal | None
    computed: int | None
    rated: int | None
    score: int | None


class PeriodOut(BaseModel):
    """One month."""

    period: str
    criteria: list[CriterionScoreOut]
    overall: Decimal | None
    notes: list[str]


class HistoryOut(BaseModel):
    """A staff member's rating history, newest month first."""

    staff_id: UUID
    roles: list[str]
    periods: list[PeriodOut]


def _matrix_out(row: MatrixRow | None) -> MatrixOut:
    if row is None:
        return MatrixOut(criteria=[], version=0, updated_by=None, updated_at=None)
    return MatrixOut(
        criteria=[CriterionOut(**c.model_dump()) for c in row.criteria],
        version=row.version,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def rating_history(identity: Identity, ratings: RatingQueries, brand_id: UUID, staff_id: UUID) -> RatingHistory | None:
    """A staff member's rating history in the brand's months (shared by the endpoints and the page): the newest is
    the month of the brand's business date (its configured one, else today in its timezone), as the sales page's
    "this month", and activity counts by its local day in the brand's timezone."""
    return ratings.history(brand_id, staff_id, identity.business_date(brand_id), identity.timezone(brand_id))


def get_matrix(ctx: Context[RatingsPort]) -> Reply:
    out = _matrix_out(ctx.port.ratings.matrix(ctx.brand_id))
    return json_response(out)


def put_matrix(ctx: Context[RatingsPort]) -> Reply:
    body: MatrixIn = ctx.body
    criteria = [Criterion(**c.model_dump()) for c in body.criteria]
    result = ctx.port.leads.set_matrix(ctx.brand_id, criteria, ctx.expected_version())
    return ctx.written(result, Leads.name, lambda: _matrix_out(ctx.port.ratings.matrix(ctx.brand_id)))


def staff_ratings(ctx: Context[RatingsPort]) -> Reply:
    found = rating_history(ctx.port.identity, ctx.port.ratings, ctx.brand_id, ctx.path["staff_id"])
    if found is None:
        raise RatedStaffNotFound(f"staff {ctx.path['staff_id']} not found", id=str(ctx.path["staff_id"]))
    return json_response(found)


def rate_staff(ctx: Context[RatingsPort]) -> Reply:
    body: RatingIn = ctx.body
    scores = {m.value: v for m, v in body.scores.items()}
    result = ctx.port.leads.rate(ctx.brand_id, ctx.path["staff_id"], body.period, scores, body.note)
    return ctx.written(
        result,
        Leads.name,
        lambda: rating_history(ctx.port.identity, ctx.port.ratings, ctx.brand_id, ctx.path["staff_id"]),
        f"/api/v1/staff/{ctx.path['staff_id']}/ratings",
    )


ENDPOINTS = serve(
    RatingsPort,
    "ratings",
    [
        Endpoint(
            "GET",
            "/api/v1/rating-matrix",
            get_matrix,
            "The brand's rating matrix (ETag: its version)",
            MATRIX_READ,
            response=MatrixOut,
            etag=True,
        ),
        Endpoint(
            "PUT",
            "/api/v1/rating-matrix",
            put_matrix,
            "Replace the rating matrix (weights per role sum to 100); If-Match with the version read, 409 when stale",
            MATRIX_WRITE,
            body=MatrixIn,
            response=MatrixOut,
            accepts=True,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/{staff_id}/ratings",
            staff_ratings,
            "A staff member's rating history: per month, each criterion's measured value and scores, overall",
            RATINGS_READ,
            response=HistoryOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/{staff_id}/ratings",
            rate_staff,
            "Rate a staff member 1-10 per metric for a month",
            RATINGS_WRITE,
            body=RatingIn,
            response=HistoryOut,
            status=201,
            accepts=True,
        ),
    ],
)
