"""The managers' team view of a collections stage (COLLECTION_REALLOCATE_LOANS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.routes.collection_models import TeamQuery
from api.routes.collections import require_stage
from api.services.teams import Teams
from domain.identity.permissions import Level, Permission
from domain.shared.clock import Clock
from projections.collection_team import TeamQueries

TEAM = (Permission.COLLECTION_REALLOCATE_LOANS, Level.READ)


@dataclass(frozen=True)
class TeamPort:
    """What the team view uses."""

    team: TeamQueries
    clock: Clock
    teams: Teams


class BucketOut(BaseModel):
    """Open cases of a DPD bucket."""

    bucket: str
    count: int
    amount: Decimal


class ExecutiveOut(BaseModel):
    """An executive's figures (`staff_id` null: the unassigned cases)."""

    staff_id: UUID | None
    name: str | None
    open_cases: int
    open_amount: Decimal
    resolved: int
    recovery_rate: Decimal | None
    collected: Decimal
    ptp_kept: int
    ptp_broken: int
    ptp_kept_rate: Decimal | None
    calls: int


class TeamOut(BaseModel):
    """A stage's DPD buckets and executives; rates are fractions (0.7500), null when nothing was counted."""

    stage: str
    buckets: list[BucketOut]
    executives: list[ExecutiveOut]
    recovery_rate: Decimal | None
    ptp_kept_rate: Decimal | None
    calls_since: InstantOut


def team_view(ctx: Context[TeamPort]) -> Reply:
    q: TeamQuery = ctx.query
    require_stage(ctx.principal, q.stage, Level.READ)
    now: datetime = ctx.port.clock.now()
    members = ctx.port.teams.members(ctx.principal, q.team)
    return json_response(ctx.port.team.team(ctx.brand_id, q.stage, now, members))


ENDPOINTS = serve(
    TeamPort,
    "collections",
    [
        Endpoint("GET", "/api/v1/collections/team", team_view,
                 "The team view of a stage: DPD buckets (count, amount), recovery rate, PTP kept rate, calls per "
                 "executive; everyone's, or with `team` one manager's team", TEAM, query=TeamQuery, response=TeamOut),
    ],
)  # fmt: skip
