"""Staff endpoints of onboarding: borrowers in progress (the step each is on, since when) and completed, the
funnel's conversion per step, one borrower's funnel, sending a step back and closing the funnel."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.routes.borrower import FunnelOut
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.onboarding.application import Onboarding
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import FunnelState
from domain.onboarding.steps import Step
from domain.shared.values import MIN_REASON
from projections.onboarding import OnboardingQueries

IN_PROGRESS = (Permission.ONBOARDING_IN_PROGRESS, Level.READ)
COMPLETED = (Permission.ONBOARDING_COMPLETED, Level.READ)
SEND_BACK = (Permission.ONBOARDING_IN_PROGRESS, Level.WRITE)
#: Closing a borrower's funnel as rejected: the permission that changes funnels in progress, as a send-back does.
CLOSE = (Permission.ONBOARDING_IN_PROGRESS, Level.WRITE)


@dataclass(frozen=True)
class OnboardingPort:
    """What the staff onboarding endpoints and pages use: the use cases and the read model."""

    onboarding: Onboarding
    queries: OnboardingQueries
    identity: Identity  # who closed a funnel, named on its page


class OnboardingQuery(BaseModel):
    """Which list: in progress (ONBOARDING_IN_PROGRESS), completed (ONBOARDING_COMPLETED too) or rejected; the
    step borrowers are on; paging."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["in_progress", "completed", "rejected"] = "in_progress"
    step: Step | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class OnboardingRowOut(BaseModel):
    """A borrower in a list: the step they are on (for completed: submitted) and since when."""

    id: UUID
    phone: str
    name: str | None
    pan_masked: str | None
    customer_id: UUID | None
    status: FunnelStatus
    step: Step
    step_since: InstantOut
    started_at: InstantOut
    updated_at: InstantOut
    reason: str | None


class OnboardingPageOut(BaseModel):
    """Borrowers, the most recent arrivals at their step first."""

    items: list[OnboardingRowOut]
    next_cursor: str | None


class StepConversionOut(BaseModel):
    """A step: how many borrowers reached it, their percent of those who started, and how many wait at it."""

    step: Step
    reached: int
    percent: Decimal
    waiting: int


class ConversionOut(BaseModel):
    """The brand's funnel conversion."""

    started: int
    steps: list[StepConversionOut]


class SendBackIn(BaseModel):
    """The step to do again, and why (the borrower resumes there)."""

    model_config = ConfigDict(extra="forbid")

    step: Step
    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class CloseIn(BaseModel):
    """Why the borrower's onboarding is closed (kept on the funnel, and on its cancelled application)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class StaffFunnelOut(FunnelOut):
    """A borrower's funnel as staff see it: the borrower's view, and who closed it and when."""

    closed_at: InstantOut | None = Field(None, description="closed as rejected: when (null while not closed)")
    closed_by: str | None = Field(
        None,
        description="closed as rejected: by whom - `staff:<id>`, `apikey:<id>`, or `job:onboarding-inactive` for the "
        "inactivity job (null while not closed)",
    )


def staff_funnel_out(state: FunnelState) -> StaffFunnelOut:
    """The funnel as the staff endpoints show it."""
    return StaffFunnelOut.model_validate(state, from_attributes=True)


def list_onboarding(ctx: Context[OnboardingPort]) -> Reply:
    q: OnboardingQuery = ctx.query
    if q.state != "in_progress" and not ctx.principal.holds(*COMPLETED):
        raise HttpProblem(
            403,
            "this list needs ONBOARDING_COMPLETED at READ",
            "forbidden",
            permission=Permission.ONBOARDING_COMPLETED.value,
            level=Level.READ.value,
        )
    return json_response(ctx.port.queries.borrowers(ctx.brand_id, FunnelStatus(q.state), q.step, q.cursor, q.limit))


def onboarding_conversion(ctx: Context[OnboardingPort]) -> Reply:
    return json_response(ctx.port.queries.conversion(ctx.brand_id))


def onboarding_funnel(ctx: Context[OnboardingPort]) -> Reply:
    return json_response(staff_funnel_out(ctx.port.onboarding.state(ctx.brand_id, ctx.path["borrower_id"])))


def send_back_step(ctx: Context[OnboardingPort]) -> Reply:
    body: SendBackIn = ctx.body
    borrower = ctx.path["borrower_id"]
    ctx.port.onboarding.send_back(ctx.brand_id, borrower, body.step, body.reason, ctx.expected_version())
    return json_response(staff_funnel_out(ctx.port.onboarding.state(ctx.brand_id, borrower)))


def close_onboarding(ctx: Context[OnboardingPort]) -> Reply:
    body: CloseIn = ctx.body
    borrower = ctx.path["borrower_id"]
    ctx.port.onboarding.close_funnel(ctx.brand_id, borrower, body.reason, ctx.expected_version())
    return json_response(staff_funnel_out(ctx.port.onboarding.state(ctx.brand_id, borrower)))


ENDPOINTS = serve(
    OnboardingPort,
    "onboarding",
    [
        Endpoint(
            "GET",
            "/api/v1/onboarding",
            list_onboarding,
            "Borrowers in onboarding: in progress (the step each is on, since when; filter by step), completed "
            "(also needs ONBOARDING_COMPLETED) or rejected",
            IN_PROGRESS,
            query=OnboardingQuery,
            response=OnboardingPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/onboarding/conversion",
            onboarding_conversion,
            "Conversion per step: how many borrowers reached each step (count and percent), how many wait there",
            IN_PROGRESS,
            response=ConversionOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/onboarding/{borrower_id}",
            onboarding_funnel,
            "One borrower's funnel: each step done (and when), the next step, what is missing, who closed it",
            IN_PROGRESS,
            response=StaffFunnelOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/onboarding/{borrower_id}/send-back",
            send_back_step,
            "Send a done step back to the borrower, with the reason: they resume there (If-Match: 409 when the "
            "funnel changed since)",
            SEND_BACK,
            body=SendBackIn,
            response=StaffFunnelOut,
            if_match=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/onboarding/{borrower_id}/close",
            close_onboarding,
            "Close a borrower's onboarding in progress as rejected, with the reason: its application not yet submitted "
            "is cancelled (off the staff queues); 409 when closed already or submitted",
            CLOSE,
            body=CloseIn,
            response=StaffFunnelOut,
            if_match=True,
        ),
    ],
)
