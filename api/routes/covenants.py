"""Covenant endpoints: set-up, worklist, evaluation history, review actions, dashboard counts and notices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response
from domain.covenants.covenant import (
    CovenantNotFound,
    CovenantStatus,
    CovenantType,
    EvaluationNotFound,
    EvaluationStatus,
    NoticeKind,
    Operator,
    Terms,
)
from domain.covenants.schedule import Frequency
from domain.customers.customer import CustomerNotFound
from domain.identity.permissions import Level, Permission
from domain.identity.staff import StaffNotFound
from domain.shared.errors import FieldError, InvalidInput
from domain.shared.values import BusinessDate, Measure

READ = (Permission.COVENANTS, Level.READ)
WRITE = (Permission.COVENANTS, Level.WRITE)
REVIEW = (Permission.COVENANT_REVIEW, Level.WRITE)


class CovenantIn(BaseModel):
    """A covenant on a borrower under an application or loan reference."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    application_ref: str = Field(max_length=60)
    title: str = Field(max_length=200)
    type: CovenantType
    metric: str | None = Field(None, max_length=100)
    operator: Operator | None = None
    threshold: Measure | None = Field(None, description="a decimal string such as 1.25 (15 digits, 6 places)")
    document: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=1000)
    frequency: Frequency
    start_date: BusinessDate
    first_due_date: BusinessDate
    expiry_date: BusinessDate
    grace_days: int | None = Field(None, ge=0, le=365)
    notification_lead_days: int | None = Field(None, ge=0, le=365)
    assignee_id: UUID | None = None
    company: str | None = Field(None, max_length=100)


class CovenantPatch(BaseModel):
    """Reassign the covenant."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: UUID | None


class CloseIn(BaseModel):
    """Why the covenant is closed before expiry."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=500)


class WorklistQuery(BaseModel):
    """Worklist filters; `status` is a covenant status (active, expired, closed) or a record's (open, complied, waived, overdue)."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(None, pattern="^(active|expired|closed|open|complied|waived|overdue)$")
    due_from: BusinessDate | None = None
    due_to: BusinessDate | None = None
    customer_id: UUID | None = None
    type: CovenantType | None = None
    assignee_id: UUID | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class EvidenceIn(BaseModel):
    """The evidence or document reference that shows compliance."""

    model_config = ConfigDict(extra="forbid")

    evidence: str = Field(max_length=1000)


class ReasonIn(BaseModel):
    """Why the record is waived."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(max_length=1000)


class ValueIn(BaseModel):
    """A measured value (a number or a decimal string)."""

    model_config = ConfigDict(extra="forbid")

    value: Measure = Field(description="a number or decimal string (15 digits, 6 places)")


class NoticeQuery(BaseModel):
    """Notices of one borrower, or all."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID | None = None
    limit: int = Field(50, ge=1, le=200)


class EvaluationOut(BaseModel):
    """One cycle's evaluation record."""

    id: UUID
    covenant_id: UUID
    customer_id: UUID
    application_ref: str
    title: str
    type: CovenantType
    cycle: int
    due_date: date
    overdue_after: date
    notification_date: date
    status: EvaluationStatus
    value: Decimal | None
    passed: bool | None
    evidence: str | None
    reason: str | None
    reviewed_by: str | None
    reviewed_at: InstantOut | None
    reminder_notice_id: UUID | None
    overdue_notice_id: UUID | None
    opened_at: InstantOut
    updated_at: InstantOut


class EvaluationListOut(BaseModel):
    """Evaluation records, newest cycle first."""

    items: list[EvaluationOut]


class CovenantItemOut(BaseModel):
    """A covenant as the worklist shows it, with its current record."""

    id: UUID
    customer_id: UUID
    customer_name: str | None
    application_ref: str
    title: str
    type: CovenantType
    terms: Terms
    frequency: Frequency
    start_date: date
    first_due_date: date
    expiry_date: date
    grace_days: int
    lead_days: int
    assignee_id: UUID | None
    company: str | None
    status: CovenantStatus
    cycles: int
    next_due_date: date | None
    next_evaluation_date: date | None
    current_evaluation_id: UUID | None
    current_status: EvaluationStatus | None
    current_due_date: date | None
    created_at: InstantOut
    updated_at: InstantOut


class CovenantOut(CovenantItemOut):
    """A covenant with its evaluation history, newest cycle first."""

    evaluations: list[EvaluationOut]


class CovenantPageOut(BaseModel):
    """A page of the worklist."""

    items: list[CovenantItemOut]
    next_cursor: str | None


class CovenantDashboardOut(BaseModel):
    """Evaluation records by status, and active covenants."""

    open: int
    complied: int
    waived: int
    overdue: int
    active_covenants: int


class CovenantNoticeOut(BaseModel):
    """An email to a borrower about records due or overdue."""

    id: UUID
    kind: NoticeKind
    recipient: str
    subject: str
    evaluation_ids: list[UUID]
    as_of: date
    status: str = Field(description="queued or sent")
    failures: int
    error: str | None
    queued_at: InstantOut
    sent_at: InstantOut | None


class CovenantNoticeListOut(BaseModel):
    """Notices newest first."""

    items: list[CovenantNoticeOut]


def _covenant_body(ctx: Context, covenant_id: UUID, position: int = 0) -> dict[str, Any]:
    if position:
        ctx.platform.engine.wait_for("covenants", position)
    row = ctx.platform.covenant_queries.covenant(ctx.brand_id, covenant_id)
    if row is None:
        raise CovenantNotFound(f"Covenant {covenant_id} not found", id=str(covenant_id))
    body = dict(row.__dict__)
    body["evaluations"] = ctx.platform.covenant_queries.evaluations(ctx.brand_id, covenant_id)
    return body


def create_covenant(ctx: Context) -> Reply:
    body: CovenantIn = ctx.body
    problems = []
    try:
        ctx.platform.customers.get(ctx.brand_id, body.customer_id)
    except CustomerNotFound:
        problems.append(FieldError("customer_id", "no borrower with this id in your brand"))
    if body.assignee_id is not None:
        try:
            ctx.platform.identity.staff(ctx.brand_id, body.assignee_id)
        except StaffNotFound:
            problems.append(FieldError("assignee_id", "no staff member with this id in your brand"))
    if problems:
        raise InvalidInput(problems)
    settings = ctx.platform.identity.settings(ctx.brand_id)
    grace = (
        body.grace_days if body.grace_days is not None else settings.covenant_grace_days.get(body.frequency.value, 0)
    )
    result = ctx.platform.covenants.create(
        ctx.brand_id,
        customer_id=body.customer_id,
        application_ref=body.application_ref,
        title=body.title,
        terms=Terms(
            type=body.type,
            metric=body.metric,
            operator=body.operator,
            threshold=body.threshold,
            document=body.document,
            description=body.description,
        ),
        frequency=body.frequency,
        start_date=body.start_date,
        first_due_date=body.first_due_date,
        expiry_date=body.expiry_date,
        grace_days=grace,
        lead_days=body.notification_lead_days,
        brand_lead_days=settings.covenant_lead_days,
        assignee_id=body.assignee_id,
        company=body.company,
    )
    out = _covenant_body(ctx, result.id, result.position)
    return json_response(out, 201, headers={"Location": f"/api/v1/covenants/{result.id}"})


def list_covenants(ctx: Context) -> Reply:
    q: WorklistQuery = ctx.query
    page = ctx.platform.covenant_queries.worklist(
        ctx.brand_id,
        status=q.status,
        due_from=q.due_from,
        due_to=q.due_to,
        customer_id=q.customer_id,
        type=q.type.value if q.type else None,
        assignee_id=q.assignee_id,
        cursor=q.cursor,
        limit=q.limit,
    )
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def get_covenant(ctx: Context) -> Reply:
    return json_response(_covenant_body(ctx, ctx.path["covenant_id"]))


def covenant_evaluations(ctx: Context) -> Reply:
    body = _covenant_body(ctx, ctx.path["covenant_id"])
    return json_response({"items": body["evaluations"]})


def update_covenant(ctx: Context) -> Reply:
    body: CovenantPatch = ctx.body
    if body.assignee_id is not None:
        try:
            ctx.platform.identity.staff(ctx.brand_id, body.assignee_id)
        except StaffNotFound:
            raise InvalidInput([FieldError("assignee_id", "no staff member with this id in your brand")]) from None
    result = ctx.platform.covenants.reassign(ctx.brand_id, ctx.path["covenant_id"], body.assignee_id)
    return json_response(_covenant_body(ctx, result.id, result.position))


def close_covenant(ctx: Context) -> Reply:
    body: CloseIn = ctx.body
    result = ctx.platform.covenants.close_covenant(ctx.brand_id, ctx.path["covenant_id"], body.reason)
    return json_response(_covenant_body(ctx, result.id, result.position))


def _evaluation_response(ctx: Context, evaluation_id: UUID, position: int = 0) -> Reply:
    if position:
        ctx.platform.engine.wait_for("covenants", position)
    row = ctx.platform.covenant_queries.evaluation(ctx.brand_id, evaluation_id)
    if row is None:
        raise EvaluationNotFound(f"CovenantEvaluation {evaluation_id} not found", id=str(evaluation_id))
    return json_response(row)


def get_evaluation(ctx: Context) -> Reply:
    return _evaluation_response(ctx, ctx.path["evaluation_id"])


def comply(ctx: Context) -> Reply:
    body: EvidenceIn = ctx.body
    result = ctx.platform.covenants.comply(ctx.brand_id, ctx.path["evaluation_id"], body.evidence)
    return _evaluation_response(ctx, result.id, result.position)


def waive(ctx: Context) -> Reply:
    body: ReasonIn = ctx.body
    result = ctx.platform.covenants.waive(ctx.brand_id, ctx.path["evaluation_id"], body.reason)
    return _evaluation_response(ctx, result.id, result.position)


def submit_value(ctx: Context) -> Reply:
    body: ValueIn = ctx.body
    result = ctx.platform.covenants.submit_value(ctx.brand_id, ctx.path["evaluation_id"], str(body.value))
    return _evaluation_response(ctx, result.id, result.position)


def covenant_dashboard(ctx: Context) -> Reply:
    return json_response(ctx.platform.covenant_queries.counts(ctx.brand_id))


def covenant_notices(ctx: Context) -> Reply:
    q: NoticeQuery = ctx.query
    return json_response({"items": ctx.platform.covenant_queries.notices(ctx.brand_id, q.customer_id, q.limit)})


ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/covenants",
        create_covenant,
        "Set up a covenant on a borrower",
        WRITE,
        body=CovenantIn,
        response=CovenantOut,
        status=201,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenants",
        list_covenants,
        "Covenant worklist",
        READ,
        query=WorklistQuery,
        response=CovenantPageOut,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenants/{covenant_id}",
        get_covenant,
        "A covenant with its evaluation history",
        READ,
        response=CovenantOut,
        tags=["covenants"],
    ),
    Endpoint(
        "PATCH",
        "/api/v1/covenants/{covenant_id}",
        update_covenant,
        "Reassign a covenant",
        WRITE,
        body=CovenantPatch,
        response=CovenantOut,
        tags=["covenants"],
    ),
    Endpoint(
        "POST",
        "/api/v1/covenants/{covenant_id}/close",
        close_covenant,
        "Close a covenant before expiry",
        WRITE,
        body=CloseIn,
        response=CovenantOut,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenants/{covenant_id}/evaluations",
        covenant_evaluations,
        "Evaluation records, newest cycle first",
        READ,
        response=EvaluationListOut,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenant-evaluations/{evaluation_id}",
        get_evaluation,
        "One evaluation record",
        READ,
        response=EvaluationOut,
        tags=["covenants"],
    ),
    Endpoint(
        "POST",
        "/api/v1/covenant-evaluations/{evaluation_id}/comply",
        comply,
        "Mark complied (evidence required; financial needs a pass)",
        REVIEW,
        body=EvidenceIn,
        response=EvaluationOut,
        tags=["covenants"],
    ),
    Endpoint(
        "POST",
        "/api/v1/covenant-evaluations/{evaluation_id}/waive",
        waive,
        "Waive the record (reason required)",
        REVIEW,
        body=ReasonIn,
        response=EvaluationOut,
        tags=["covenants"],
    ),
    Endpoint(
        "POST",
        "/api/v1/covenant-evaluations/{evaluation_id}/submit-value",
        submit_value,
        "Submit a measured value (pass/fail recorded)",
        REVIEW,
        body=ValueIn,
        response=EvaluationOut,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenant-dashboard",
        covenant_dashboard,
        "Records by status and active covenants",
        READ,
        response=CovenantDashboardOut,
        tags=["covenants"],
    ),
    Endpoint(
        "GET",
        "/api/v1/covenant-notices",
        covenant_notices,
        "Emails sent or owed to borrowers",
        READ,
        query=NoticeQuery,
        response=CovenantNoticeListOut,
        tags=["covenants"],
    ),
]
