"""Sales Manager / Head views: a month's targets against actuals, conversion per funnel step, aggregated figures
by lead source, campaign and UTM."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.shared.clock import Clock
from projections.sales_queries import SalesOverview, SalesQueries

READ = (Permission.MASTER_REPORTS, Level.READ)


@dataclass(frozen=True)
class SalesPort:
    """What the sales views use: the brand's targets, the figures, the clock (this month by default)."""

    identity: Identity
    sales: SalesQueries
    clock: Clock


class SalesQuery(BaseModel):
    """Which month (YYYY-MM; this month by default)."""

    model_config = ConfigDict(extra="forbid")

    month: str | None = Field(None, pattern=r"^(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])$")


class TargetOut(BaseModel):
    """A target: goal, actual (None: not measured), percent achieved."""

    name: str
    goal: Decimal
    actual: Decimal | None
    achieved_percent: Decimal | None


class StepOut(BaseModel):
    """A funnel step: how many reached it, and the percent of the step before."""

    step: str
    reached: int
    conversion_percent: Decimal | None


class SourceOut(BaseModel):
    """Leads of a source and campaign."""

    source: str
    is_organic: bool
    campaign: str | None
    leads: int
    applied: int
    converted: int
    rejected: int


class UtmOut(BaseModel):
    """Sign-ups and applications of a UTM source / medium / campaign."""

    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    signups: int
    applications: int


class SalesOut(BaseModel):
    """A month of sales."""

    month: str
    targets: list[TargetOut]
    lead_funnel: list[StepOut]
    lead_rejected: int
    onboarding_funnel: list[StepOut]
    by_source: list[SourceOut]
    by_utm: list[UtmOut]


def sales_overview(port: SalesPort, brand_id: UUID, month: str | None) -> SalesOverview:
    """The month's overview with the brand's targets for it (shared by the endpoint and the page)."""
    chosen = month or port.clock.now().strftime("%Y-%m")
    target = port.identity.settings(brand_id).monthly_targets.get(chosen)
    goals = (
        {
            "disbursal_amount": target.disbursal_amount,
            "disbursal_count": Decimal(target.disbursal_count),
            "collections": target.collections,
        }
        if target is not None
        else {}
    )
    return port.sales.overview(brand_id, chosen, goals)


def get_sales(ctx: Context[SalesPort]) -> Reply:
    q: SalesQuery = ctx.query
    return json_response(sales_overview(ctx.port, ctx.brand_id, q.month))


ENDPOINTS = serve(
    SalesPort,
    "sales",
    [
        Endpoint(
            "GET",
            "/api/v1/sales/overview",
            get_sales,
            "A month's sales: targets vs monthly goals, conversion per funnel step, leads by source and campaign, "
            "sign-ups and applications by UTM",
            READ,
            query=SalesQuery,
            response=SalesOut,
        ),
    ],
)
