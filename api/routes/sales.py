"""Sales Manager / Head views: a month's targets against actuals, conversion per funnel step, aggregated figures
by lead source, campaign and UTM (MASTER_REPORTS READ); and the month's targets alone for every Sales agent
(`GET /api/v1/sales/targets`, LEADS READ: read-only, no funnels or sources)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.shared.clock import Clock
from projections.sales_queries import SalesOverview, SalesQueries, TargetLine

READ = (Permission.MASTER_REPORTS, Level.READ)
#: The month's targets and progress alone: every Sales agent (the spec: "View brand targets and performance against
#: monthly goals"), without the managers' MASTER_REPORTS.
TARGETS_READ = (Permission.LEADS, Level.READ)


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


class TargetsOut(BaseModel):
    """A month's targets and progress (what every Sales agent sees)."""

    month: str
    configured: bool = Field(description="whether the brand set targets for the month (else every goal is 0)")
    targets: list[TargetOut]


@dataclass(frozen=True)
class MonthTargets:
    """The brand's targets of a month against what was done in it."""

    month: str
    configured: bool
    targets: list[TargetLine]


def _goals(port: SalesPort, brand_id: UUID, month: str | None) -> tuple[str, dict[str, Decimal] | None]:
    # "This month" is the brand's: the month of its business date (its configured one, else today in its timezone),
    # not the UTC month (a day behind Asia/Kolkata from 18:30 UTC, so a month behind on a month's last evening). The
    # month's figures are counted in the brand's local days too (its timezone: `SalesQueries`).
    chosen = month or port.identity.business_date(brand_id).strftime("%Y-%m")
    target = port.identity.settings(brand_id).monthly_targets.get(chosen)
    if target is None:
        return chosen, None
    goals = {
        "disbursal_amount": target.disbursal_amount,
        "disbursal_count": Decimal(target.disbursal_count),
        "collections": target.collections,
    }
    return chosen, goals


def sales_overview(port: SalesPort, brand_id: UUID, month: str | None) -> SalesOverview:
    """The month's overview with the brand's targets for it (shared by the endpoint and the page)."""
    chosen, goals = _goals(port, brand_id, month)
    return port.sales.overview(brand_id, chosen, goals or {}, port.identity.timezone(brand_id))


def sales_targets(port: SalesPort, brand_id: UUID, month: str | None) -> MonthTargets:
    """The month's targets against actuals alone (this month by default), the figures of the overview's targets."""
    chosen, goals = _goals(port, brand_id, month)
    tz = port.identity.timezone(brand_id)
    return MonthTargets(chosen, goals is not None, port.sales.targets(brand_id, chosen, goals or {}, tz))


def get_targets(ctx: Context[SalesPort]) -> Reply:
    q: SalesQuery = ctx.query
    return json_response(sales_targets(ctx.port, ctx.brand_id, q.month))


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
        Endpoint(
            "GET",
            "/api/v1/sales/targets",
            get_targets,
            "A month's targets and progress (disbursal amount and count, collections: goal, actual, percent "
            "achieved) for every Sales agent, read-only; the same figures as the overview's `targets`",
            TARGETS_READ,
            query=SalesQuery,
            response=TargetsOut,
        ),
    ],
)
