"""Field visit endpoints (COLLECTIONS): flag a loan for a visit and assign it, the agent's list, record the visit
with its outcome, geo-tag and a photo (multipart), more photos, reassign and cancel (COLLECTION_REALLOCATE_LOANS).
An agent without COLLECTION_REALLOCATE_LOANS sees and records only the visits assigned to them (others: 404)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_REASON
from api.routes.collections import CollectionsPort, guard
from api.uploads import Upload
from domain.documents.content import max_document_bytes
from domain.fieldwork.application import FieldWork
from domain.fieldwork.visit import FieldVisitNotFound, VisitOutcome, VisitStatus
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.loan import LoanNotFound
from domain.shared.values import MIN_REASON, BusinessDate
from projections.fieldwork_queries import FieldworkQueries, VisitRow

READ = (Permission.COLLECTIONS, Level.READ)
WRITE = (Permission.COLLECTIONS, Level.WRITE)
MANAGE = (Permission.COLLECTION_REALLOCATE_LOANS, Level.WRITE)
UPLOAD = Upload(max_bytes=max_document_bytes(os.environ))
PHOTO_MEDIA = ("image/jpeg", "image/png")


@dataclass(frozen=True)
class FieldVisitPort:
    """What the field visit endpoints and pages use."""

    fieldwork: FieldWork
    queries: FieldworkQueries
    collections: CollectionsPort


def agent_scope(principal: Principal) -> UUID | None:
    """The agent whose visits the caller is limited to (None: every visit of the brand, for managers and keys)."""
    if principal.kind != "staff" or principal.holds(Permission.COLLECTION_REALLOCATE_LOANS, Level.READ):
        return None
    return principal.id


class FlagIn(BaseModel):
    """Flag a loan for a field visit: who goes, why, by when."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: UUID
    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )
    due_on: BusinessDate | None = None


class VisitFormIn(BaseModel):
    """The text fields of a recorded visit (the photo is the multipart part `file`)."""

    model_config = ConfigDict(extra="forbid")

    outcome: VisitOutcome
    latitude: str = Field(max_length=20, description="decimal degrees, -90 to 90, at most six places")
    longitude: str = Field(max_length=20, description="decimal degrees, -180 to 180, at most six places")
    remarks: str | None = Field(None, max_length=1000)


class PhotoFormIn(BaseModel):
    """Another photo of a recorded visit (the multipart part `file`); no other fields."""

    model_config = ConfigDict(extra="forbid")


class ReassignIn(BaseModel):
    """Give the visit to another agent."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: UUID


class CancelIn(BaseModel):
    """Why the visit is not needed."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class VisitQuery(BaseModel):
    """Filters and paging of visits."""

    model_config = ConfigDict(extra="forbid")

    assignee: UUID | None = None
    status: VisitStatus | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class PhotoOut(BaseModel):
    """A photo of a visit: GET /api/v1/field-visits/{id}/photos/{sha256}."""

    sha256: str
    content_type: str
    size: int
    filename: str


class VisitOut(BaseModel):
    """A field visit."""

    id: UUID
    loan_id: UUID
    loan_number: str
    customer_id: UUID
    assignee_id: UUID
    assignee_name: str | None
    reason: str
    due_on: BusinessDate | None
    address: str
    status: VisitStatus
    outcome: VisitOutcome | None
    remarks: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    visited_at: InstantOut | None
    photos: list[PhotoOut]
    cancel_reason: str | None
    flagged_by: str
    created_at: InstantOut
    updated_at: InstantOut


class VisitPageOut(BaseModel):
    """Visits, newest first."""

    items: list[VisitOut]
    next_cursor: str | None


def _visit(ctx: Context[FieldVisitPort], visit_id: UUID) -> VisitRow | None:
    row = ctx.port.queries.visit(ctx.brand_id, visit_id)
    scope = agent_scope(ctx.principal)
    return None if row is None or (scope is not None and row.assignee_id != scope) else row


def flag_visit(ctx: Context[FieldVisitPort]) -> Reply:
    body: FlagIn = ctx.body
    guard(ctx.port.collections, ctx.principal, ctx.path["loan_id"], Level.WRITE)  # executives flag their own loans
    result = ctx.port.fieldwork.flag_visit(
        ctx.brand_id, ctx.path["loan_id"], body.assignee_id, body.reason, body.due_on
    )
    read = lambda: ctx.port.queries.visit(ctx.brand_id, result.id)  # noqa: E731 - the flagger may not be the agent
    return ctx.written(result, FieldWork.name, read, f"/api/v1/field-visits/{result.id}")


def loan_visits(ctx: Context[FieldVisitPort]) -> Reply:
    q: VisitQuery = ctx.query
    scope = agent_scope(ctx.principal) or q.assignee
    if agent_scope(ctx.principal) is not None:  # an agent sees their visits of their own loans
        guard(ctx.port.collections, ctx.principal, ctx.path["loan_id"], Level.READ)
    elif not ctx.port.collections.queries.has_loan(ctx.brand_id, ctx.path["loan_id"]):  # none, or another brand's
        raise LoanNotFound(f"loan {ctx.path['loan_id']} not found", id=str(ctx.path["loan_id"]))
    status = q.status.value if q.status else None
    page = ctx.port.queries.visits(
        ctx.brand_id, assignee_id=scope, status=status, loan_id=ctx.path["loan_id"], cursor=q.cursor, limit=q.limit
    )
    return json_response(page)


def list_visits(ctx: Context[FieldVisitPort]) -> Reply:
    q: VisitQuery = ctx.query
    scope = agent_scope(ctx.principal)
    status = q.status.value if q.status else None
    page = ctx.port.queries.visits(
        ctx.brand_id, assignee_id=scope or q.assignee, status=status, cursor=q.cursor, limit=q.limit
    )
    return json_response(page)


def get_visit(ctx: Context[FieldVisitPort]) -> Reply:
    row = _visit(ctx, ctx.path["visit_id"])
    if row is None:
        raise FieldVisitNotFound(f"field visit {ctx.path['visit_id']} not found", id=str(ctx.path["visit_id"]))
    return json_response(row)


def record_visit(ctx: Context[FieldVisitPort]) -> Reply:
    form: VisitFormIn = ctx.body
    assert ctx.upload is not None  # the wrapper answers 422 without one
    visit_id: UUID = ctx.path["visit_id"]
    result = ctx.port.fieldwork.record_visit(
        ctx.brand_id,
        visit_id,
        agent_scope(ctx.principal),
        outcome=form.outcome,
        latitude=form.latitude,
        longitude=form.longitude,
        remarks=form.remarks,
        filename=ctx.upload.filename,
        data=ctx.upload.data,
    )
    return ctx.written(result, FieldWork.name, lambda: _visit(ctx, visit_id))


def add_photo(ctx: Context[FieldVisitPort]) -> Reply:
    assert ctx.upload is not None
    visit_id: UUID = ctx.path["visit_id"]
    result = ctx.port.fieldwork.add_visit_photo(
        ctx.brand_id, visit_id, agent_scope(ctx.principal), ctx.upload.filename, ctx.upload.data
    )
    return ctx.written(result, FieldWork.name, lambda: _visit(ctx, visit_id))


def visit_photo(ctx: Context[FieldVisitPort]) -> Response:
    photo, data = ctx.port.fieldwork.visit_photo(
        ctx.brand_id, ctx.path["visit_id"], ctx.path["sha256"], agent_scope(ctx.principal)
    )
    extension = "png" if photo.content_type == "image/png" else "jpg"
    return Response(
        data,
        media_type=photo.content_type,
        headers={
            "Content-Disposition": f'inline; filename="visit-{photo.sha256[:12]}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{photo.sha256}"',
        },
    )


def reassign_visit(ctx: Context[FieldVisitPort]) -> Reply:
    body: ReassignIn = ctx.body
    result = ctx.port.fieldwork.reassign_visit(ctx.brand_id, ctx.path["visit_id"], body.assignee_id)
    return ctx.written(result, FieldWork.name, lambda: ctx.port.queries.visit(ctx.brand_id, result.id))


def cancel_visit(ctx: Context[FieldVisitPort]) -> Reply:
    body: CancelIn = ctx.body
    result = ctx.port.fieldwork.cancel_visit(ctx.brand_id, ctx.path["visit_id"], body.reason)
    return ctx.written(result, FieldWork.name, lambda: ctx.port.queries.visit(ctx.brand_id, result.id))


_VISIT = "/api/v1/field-visits/{visit_id}"

ENDPOINTS = serve(
    FieldVisitPort,
    "field-visits",
    [
        Endpoint("POST", "/api/v1/loans/{loan_id}/field-visits", flag_visit, "Flag a loan for a field visit and "
                 "assign it to a field agent", WRITE, body=FlagIn, response=VisitOut, status=201, accepts=True),
        Endpoint("GET", "/api/v1/loans/{loan_id}/field-visits", loan_visits, "A loan's field visits, newest first",
                 READ, query=VisitQuery, response=VisitPageOut),
        Endpoint("GET", "/api/v1/field-visits", list_visits, "Field visits, newest first: an agent sees their own; "
                 "managers filter by `assignee`", READ, query=VisitQuery, response=VisitPageOut),
        Endpoint("GET", _VISIT, get_visit, "A field visit", READ, response=VisitOut),
        Endpoint("POST", f"{_VISIT}/visit", record_visit, "Record the visit (multipart: `file` a JPEG or PNG photo, "
                 "`outcome`, `latitude`, `longitude`, `remarks`)", WRITE, body=VisitFormIn, response=VisitOut,
                 accepts=True, upload=UPLOAD, errors=(409,)),
        Endpoint("POST", f"{_VISIT}/photos", add_photo, "Another photo of a recorded visit (multipart: `file`)",
                 WRITE, body=PhotoFormIn, response=VisitOut, accepts=True, upload=UPLOAD, errors=(409,)),
        Endpoint("GET", f"{_VISIT}/photos/{{sha256}}", visit_photo, "A photo of a visit (its bytes)", READ,
                 response=PhotoOut, media=PHOTO_MEDIA),
        Endpoint("POST", f"{_VISIT}/reassign", reassign_visit, "Give the visit to another field agent", MANAGE,
                 body=ReassignIn, response=VisitOut, accepts=True, errors=(409,)),
        Endpoint("POST", f"{_VISIT}/cancel", cancel_visit, "The visit is no longer needed", MANAGE, body=CancelIn,
                 response=VisitOut, accepts=True, errors=(409,)),
    ],
)  # fmt: skip
