"""Credit-decision endpoints (issue #14): CAM, CX approval, send back, SM sanction, reactivation, and the
worklists (CX worklist, SM queue, the Sanction Head's view, team figures). Reject and cancel are in
api/routes/loans.py; every command answers the loan (`LoanOut`).

Who may do what (the spec's permissions): CAM and CX approval LOANS at WRITE; send back LOAN_SEND_BACK (to the CX:
also SANCTION_MANAGER, it is the SM's action); sanction SANCTION_MANAGER; reject a CX-approved loan SANCTION_MANAGER
(checked in api/routes/loans.py); reactivate LOAN_REACTIVATE; the SM queue SANCTION_MANAGER at READ; every SM's
loans and the team figures SANCTION_HEAD at READ; escalate SANCTION_MANAGER at WRITE; assign a loan to an SM
SANCTION_HEAD at WRITE (the Sanction Head's role holds SANCTION_MANAGER too, so he sanctions and rejects himself).
A loan the Sanction Head assigned is its Sanction Manager's to sanction, reject, send back to the CX or escalate:
another SM is refused 409 `rule: assigned_sm` (`Loan.require_assigned_sm`); SANCTION_HEAD WRITE and admins decide any
(`decides_any_sanction`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.problems import HttpProblem
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.routes.loans import LoanOut, LoanPort, ReasonIn, decides_any_sanction, written
from api.services.teams import TEAM_HELP, TeamParam
from domain.identity.permissions import Level, Permission
from domain.loans.application_decisions import SEND_BACK_STEPS
from domain.loans.money import Percent
from domain.shared.values import MAX_REASON, MIN_REASON, Money, PositiveMoney, stated_choices

WRITE = (Permission.LOANS, Level.WRITE)
READ = (Permission.LOANS, Level.READ)
SEND_BACK = (Permission.LOAN_SEND_BACK, Level.WRITE)
SANCTION = (Permission.SANCTION_MANAGER, Level.WRITE)
SM_READ = (Permission.SANCTION_MANAGER, Level.READ)
HEAD = (Permission.SANCTION_HEAD, Level.READ)
HEAD_WRITE = (Permission.SANCTION_HEAD, Level.WRITE)
REACTIVATE = (Permission.LOAN_REACTIVATE, Level.WRITE)
#: Who does the CX's work on an application assigned to someone else (`Loan.require_assigned_cx`): who reassigns
#: applications (managers, the Sanction Head, admins).
ANY_APPLICATION = (Permission.LOAN_RELOCATE, Level.WRITE)


class SalaryCreditIn(BaseModel):
    """One salary credit: the month and the amount credited."""

    model_config = ConfigDict(extra="forbid")

    month: str = Field(max_length=7, description="YYYY-MM")
    amount: Money


class CamIn(BaseModel):
    """The Credit Appraisal Memo: the last three salary credits, FOIR, existing EMIs, recommendation, notes."""

    model_config = ConfigDict(extra="forbid")

    salary_credits: list[SalaryCreditIn] = Field(max_length=12)
    foir: Percent | None = Field(
        None,
        description="Fixed Obligation to Income Ratio, percent; left out, the calculated one is recorded: (existing "
        "EMIs + this loan's monthly obligation at the recommended amount) / the salary credits' average x 100",
    )
    existing_emis: Money = Field(Decimal(0), description="existing EMI obligations per month")
    recommended_amount: PositiveMoney
    recommended_rate: Percent = Field(description="recommended rate of interest, percent a year")
    notes: str = Field(
        min_length=MIN_REASON, max_length=MAX_REASON, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class CxApproveIn(BaseModel):
    """The CX's approval: an amount within the product's range (may differ from the requested one)."""

    model_config = ConfigDict(extra="forbid")

    approved_amount: PositiveMoney
    remarks: str = Field(
        min_length=MIN_REASON, max_length=MAX_REASON, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class SendBackIn(BaseModel):
    """Back to the borrower (documents or information) or to the CX (the SM's comments). A `step` is named only
    when sending back to the borrower (the schema states it: `to` is `borrower`, or `step` is null or left out)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"properties": {"to": {"const": "borrower"}}}, {"properties": {"step": {"type": "null"}}}]
        },
    )

    to: Literal["borrower", "cx"]
    reason: str = Field(
        min_length=MIN_REASON, max_length=MAX_REASON, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )
    step: Annotated[str, Field(max_length=40), stated_choices(SEND_BACK_STEPS)] | None = Field(
        default=None, description="the funnel step the borrower does again (`submitted`: the loan request's end)"
    )


class SanctionAssignIn(BaseModel):
    """The Sanction Head gives a CX-approved loan to a Sanction Manager."""

    model_config = ConfigDict(extra="forbid")

    staff_id: UUID
    reason: str = Field(
        min_length=MIN_REASON, max_length=MAX_REASON, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class SanctionIn(BaseModel):
    """The SM's sanction: the final amount."""

    model_config = ConfigDict(extra="forbid")

    sanctioned_amount: PositiveMoney
    remarks: str = Field(
        min_length=MIN_REASON, max_length=MAX_REASON, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class WorklistQuery(BaseModel):
    """Paging of a worklist (oldest first)."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class SmLoansQuery(WorklistQuery):
    """The Sanction Head's view, optionally of one SM (`staff:<id>`)."""

    actor: str | None = Field(None, max_length=100)


class TeamFiguresQuery(BaseModel):
    """Everyone's figures, or one team's."""

    model_config = ConfigDict(extra="forbid")

    team: TeamParam | None = Field(None, description=f"the figures of a team's SMs, {TEAM_HELP}")


class WorkItemOut(BaseModel):
    """A loan on a worklist."""

    id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    amount: Decimal
    cx_approved_amount: Decimal | None
    sanctioned_amount: Decimal | None
    tenure: int
    status: str
    assignee_id: UUID | None
    assignee_name: str | None
    cx_approved_by: str | None
    sm_actor: str | None
    created_at: InstantOut
    status_since: datetime | None
    escalated: bool | None
    escalation_reason: str | None = None
    sanction_assignee_id: UUID | None = None
    sanction_assignee_name: str | None = None


class WorkPageOut(BaseModel):
    """A page of a worklist, oldest first."""

    items: list[WorkItemOut]
    next_cursor: str | None


class SmFiguresOut(BaseModel):
    """One SM's figures."""

    actor: str
    name: str | None
    decided: int
    sanctioned: int
    rejected: int
    sent_back: int
    approval_rate: Decimal | None
    queue_size: int = 0
    oldest_hours: Decimal | None = None


class TeamFiguresOut(BaseModel):
    """The SM queue and each SM's figures."""

    queue_size: int
    oldest_hours: Decimal | None
    escalated: int
    managers: list[SmFiguresOut]


def record_cam(ctx: Context[LoanPort]) -> Reply:
    body: CamIn = ctx.body
    any_application = ctx.principal.holds(*ANY_APPLICATION)
    result = ctx.port.loans.record_cam(
        ctx.brand_id, ctx.path["loan_id"], body.model_dump(), any_application=any_application,
        expected_version=ctx.expected_version(),
    )  # fmt: skip
    return written(ctx, result)


def cx_approve(ctx: Context[LoanPort]) -> Reply:
    body: CxApproveIn = ctx.body
    result = ctx.port.loans.cx_approve(
        ctx.brand_id, ctx.path["loan_id"], body.approved_amount, body.remarks,
        any_application=ctx.principal.holds(*ANY_APPLICATION), expected_version=ctx.expected_version(),
    )  # fmt: skip
    return written(ctx, result)


def send_back(ctx: Context[LoanPort]) -> Reply:
    body: SendBackIn = ctx.body
    if body.to == "cx" and not ctx.principal.holds(*SANCTION):
        raise HttpProblem(403, "sending back to the CX needs SANCTION_MANAGER at WRITE", "forbidden",
                          permission=Permission.SANCTION_MANAGER.value, level=Level.WRITE.value)  # fmt: skip
    result = ctx.port.loans.send_back(
        ctx.brand_id, ctx.path["loan_id"], body.to, body.reason, body.step,
        any_application=ctx.principal.holds(*ANY_APPLICATION), any_sanction=decides_any_sanction(ctx.principal),
        expected_version=ctx.expected_version(),
    )  # fmt: skip
    return written(ctx, result)


def sanction(ctx: Context[LoanPort]) -> Reply:
    body: SanctionIn = ctx.body
    result = ctx.port.loans.sanction(
        ctx.brand_id, ctx.path["loan_id"], body.sanctioned_amount, body.remarks,
        one_person_may_decide=ctx.principal is not None and ctx.principal.admin,
        any_sanction=decides_any_sanction(ctx.principal), expected_version=ctx.expected_version(),
    )  # fmt: skip
    return written(ctx, result)


def escalate(ctx: Context[LoanPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.loans.escalate(
        ctx.brand_id, ctx.path["loan_id"], body.reason, any_sanction=decides_any_sanction(ctx.principal),
        expected_version=ctx.expected_version(),
    )  # fmt: skip
    return written(ctx, result)


def sanction_assign(ctx: Context[LoanPort]) -> Reply:
    body: SanctionAssignIn = ctx.body
    result = ctx.port.loans.assign_sanction(
        ctx.brand_id, ctx.path["loan_id"], body.staff_id, body.reason, expected_version=ctx.expected_version()
    )
    return written(ctx, result)


def reactivate(ctx: Context[LoanPort]) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.port.loans.reactivate(
        ctx.brand_id, ctx.path["loan_id"], body.reason, expected_version=ctx.expected_version()
    )
    return written(ctx, result)


def cx_worklist(ctx: Context[LoanPort]) -> Reply:
    q: WorklistQuery = ctx.query
    # A staff member's own worklist; an API key has none (an empty page).
    staff_id = ctx.principal.id if ctx.principal.kind == "staff" else UUID(int=0)
    return json_response(ctx.port.decisions.cx_worklist(ctx.brand_id, staff_id, q.cursor, q.limit))


def sm_queue(ctx: Context[LoanPort]) -> Reply:
    q: WorklistQuery = ctx.query
    # A Sanction Manager's own queue (unassigned loans and those assigned to them); the Sanction Head and API keys
    # see every loan awaiting sanction.
    staff = ctx.principal.id if ctx.principal.kind == "staff" and not ctx.principal.holds(*HEAD) else None
    return json_response(ctx.port.decisions.sm_queue(ctx.brand_id, q.cursor, q.limit, staff))


def sm_loans(ctx: Context[LoanPort]) -> Reply:
    q: SmLoansQuery = ctx.query
    return json_response(ctx.port.decisions.sm_loans(ctx.brand_id, q.actor, q.cursor, q.limit))


def team_figures(ctx: Context[LoanPort]) -> Reply:
    q: TeamFiguresQuery = ctx.query
    members = ctx.port.teams.members(ctx.principal, q.team)
    return json_response(ctx.port.decisions.team_figures(ctx.brand_id, members))


def _command(
    path: str, handler: Any, summary: str, permission: Any, body: Any, *, if_match: bool = True
) -> Endpoint[Any]:
    """A decision on a loan: answers the loan with its `ETag`; `If-Match: "<version>"` (optional) refuses it with 409
    when the loan changed since that version."""
    return Endpoint(
        "POST", path, handler, summary, permission, body=body, response=LoanOut, accepts=True, etag=True,
        if_match=if_match,
    )  # fmt: skip


def _list(path: str, handler: Any, summary: str, permission: Any, query: Any, response: Any) -> Endpoint[Any]:
    return Endpoint("GET", path, handler, summary, permission, query=query, response=response)


ENDPOINTS = serve(
    LoanPort,
    "loans",
    [
        _command("/api/v1/loans/{loan_id}/cam", record_cam, "Record the Credit Appraisal Memo", WRITE, CamIn),
        _command(
            "/api/v1/loans/{loan_id}/cx-approve",
            cx_approve,
            "CX approval with an amount: cx_approved",
            WRITE,
            CxApproveIn,
        ),
        _command(
            "/api/v1/loans/{loan_id}/send-back",
            send_back,
            "Send back to the borrower or to the CX",
            SEND_BACK,
            SendBackIn,
        ),
        _command(
            "/api/v1/loans/{loan_id}/sanction",
            sanction,
            "SM sanction with the final amount: sm_approved",
            SANCTION,
            SanctionIn,
        ),
        _command(
            "/api/v1/loans/{loan_id}/escalate",
            escalate,
            "Escalate a CX-approved loan to the Sanction Head",
            SANCTION,
            ReasonIn,
        ),
        _command(
            "/api/v1/loans/{loan_id}/sanction-assign",
            sanction_assign,
            "Sanction Head: assign a CX-approved loan to a Sanction Manager",
            HEAD_WRITE,
            SanctionAssignIn,
        ),
        _command(
            "/api/v1/loans/{loan_id}/reactivate",
            reactivate,
            "Reopen a rejected or cancelled loan to pending",
            REACTIVATE,
            ReasonIn,
        ),
        _list(
            "/api/v1/credit/worklist",
            cx_worklist,
            "My pending applications, oldest first",
            READ,
            WorklistQuery,
            WorkPageOut,
        ),
        _list(
            "/api/v1/credit/sm-queue",
            sm_queue,
            "CX-approved loans awaiting sanction, oldest first",
            SM_READ,
            WorklistQuery,
            WorkPageOut,
        ),
        _list(
            "/api/v1/credit/sm-loans",
            sm_loans,
            "Every SM's decided loans (Sanction Head)",
            HEAD,
            SmLoansQuery,
            WorkPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/credit/team-figures",
            team_figures,
            "SM queue size, age and approval rate per SM; everyone's, or with `team` one manager's team",
            HEAD,
            query=TeamFiguresQuery,
            response=TeamFiguresOut,
        ),
    ],
)
