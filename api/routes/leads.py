"""Lead endpoints: import a lead CSV (multipart), list leads, read one lead or one import, move a lead in the
funnel (If-Match), link it to the borrower it became."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_NOTE
from api.uploads import Upload
from domain.identity.permissions import Level, Permission
from domain.leads.application import Leads
from domain.leads.csv_import import LeadSource
from domain.leads.lead import LeadImportNotFound, LeadNotFound, LeadStatus
from projections.lead_queries import ImportRow, LeadFilter, LeadQueries, LeadRow

READ = (Permission.LEADS, Level.READ)
WRITE = (Permission.LEADS, Level.WRITE)
UPLOAD = Upload(max_bytes=20 * 1024 * 1024)


@dataclass(frozen=True)
class LeadsPort:
    """What the lead endpoints and pages use: the use cases and the read model."""

    leads: Leads
    queries: LeadQueries


class ImportFormIn(BaseModel):
    """The text fields of an import (the file is the multipart part `file`); `source` is detected when left out."""

    model_config = ConfigDict(extra="forbid")

    source: LeadSource | None = None


class LeadListQuery(LeadFilter):
    """Lead filters (the query's own `LeadFilter`) and paging."""

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class MoveIn(BaseModel):
    """A funnel step (send If-Match with the lead's version to refuse a stale change)."""

    model_config = ConfigDict(extra="forbid")

    status: LeadStatus
    note: str | None = Field(None, max_length=500, json_schema_extra=VISIBLE_NOTE)


class LinkIn(BaseModel):
    """The borrower the lead signed up as."""

    model_config = ConfigDict(extra="forbid")

    borrower_id: UUID


class LeadOut(BaseModel):
    """A lead: who, where from (no campaign fields when organic), where in the funnel, what it matched."""

    id: UUID
    source: str
    is_organic: bool
    name: str
    phone: str | None
    email: str | None
    pan: str | None
    external_id: str | None
    campaign_id: str | None
    campaign_name: str | None
    adset_name: str | None
    ad_name: str | None
    form_name: str | None
    platform: str | None
    city: str | None
    submitted_at: InstantOut | None
    status: LeadStatus
    borrower_id: UUID | None
    match_kind: str | None
    match_score: int | None
    matched_kind: str | None
    matched_id: UUID | None
    import_id: UUID
    line: int
    version: int
    created_at: InstantOut
    updated_at: InstantOut


class LeadPageOut(BaseModel):
    """Leads, newest first."""

    items: list[LeadOut]
    next_cursor: str | None


class RejectedOut(BaseModel):
    """A record not imported: its line (where it starts) and why."""

    line: int
    reason: str


class LineOut(BaseModel):
    """What became of one record."""

    line: int
    outcome: str
    name: str | None = None
    lead_id: UUID | None = None
    match_kind: str | None = None
    score: int | None = None
    matched_kind: str | None = None
    matched_id: UUID | None = None
    matched_line: int | None = None
    reason: str | None = None


class ImportOut(BaseModel):
    """An import's counts (rows, created, duplicates, matched by kind, rejected with line numbers) and lines."""

    id: UUID
    source: str
    filename: str
    rows: int
    created: int
    duplicates: int
    organic: int
    matched: dict[str, int]
    rejected: list[RejectedOut]
    lines: list[LineOut]
    imported_by: str
    imported_at: InstantOut


def import_view(row: ImportRow) -> ImportOut:
    """The import as the API and the result page show it."""
    rejected = [RejectedOut(line=x["line"], reason=x["reason"]) for x in row.lines if x["outcome"] == "rejected"]
    return ImportOut(
        id=row.id,
        source=row.source,
        filename=row.filename,
        rows=row.rows,
        created=row.created,
        duplicates=row.duplicates,
        organic=row.organic,
        matched=row.matched,
        rejected=rejected,
        lines=[LineOut(**x) for x in row.lines],
        imported_by=row.imported_by,
        imported_at=row.imported_at,
    )


def _import(ctx: Context[Any], import_id: UUID) -> ImportOut | None:
    row = ctx.port.queries.lead_import(ctx.brand_id, import_id)
    return import_view(row) if row else None


def import_leads(ctx: Context[LeadsPort]) -> Reply:
    form: ImportFormIn = ctx.body
    assert ctx.upload is not None  # the wrapper answers 422 without one
    result = ctx.port.leads.import_file(ctx.brand_id, ctx.upload.data, ctx.upload.filename, form.source)
    return ctx.written(result, Leads.name, lambda: _import(ctx, result.id), f"/api/v1/leads/imports/{result.id}")


def get_import(ctx: Context[LeadsPort]) -> Reply:
    found = _import(ctx, ctx.path["import_id"])
    if found is None:
        raise LeadImportNotFound(f"lead import {ctx.path['import_id']} not found", id=str(ctx.path["import_id"]))
    return json_response(found)


def list_leads(ctx: Context[LeadsPort]) -> Reply:
    q: LeadListQuery = ctx.query
    return json_response(ctx.port.queries.leads(ctx.brand_id, q, q.cursor, q.limit))  # q is a LeadFilter


def _lead(ctx: Context[LeadsPort], lead_id: UUID) -> LeadRow | None:
    return ctx.port.queries.lead(ctx.brand_id, lead_id)


def get_lead(ctx: Context[LeadsPort]) -> Reply:
    found = _lead(ctx, ctx.path["lead_id"])
    if found is None:
        raise LeadNotFound(f"lead {ctx.path['lead_id']} not found", id=str(ctx.path["lead_id"]))
    return json_response(found)


def move_lead(ctx: Context[LeadsPort]) -> Reply:
    body: MoveIn = ctx.body
    result = ctx.port.leads.move(ctx.brand_id, ctx.path["lead_id"], body.status, body.note, ctx.expected_version())
    return ctx.written(result, Leads.name, lambda: _lead(ctx, result.id))


def link_lead(ctx: Context[LeadsPort]) -> Reply:
    body: LinkIn = ctx.body
    result = ctx.port.leads.link(ctx.brand_id, ctx.path["lead_id"], body.borrower_id)
    return ctx.written(result, Leads.name, lambda: _lead(ctx, result.id))


ENDPOINTS = serve(
    LeadsPort,
    "leads",
    [
        Endpoint(
            "POST",
            "/api/v1/leads/imports",
            import_leads,
            "Import a lead CSV (multipart: `file`, optional `source` facebook|google, else detected): every row "
            "validated, bad rows rejected with line numbers, the rest deduped and imported in one transaction",
            WRITE,
            body=ImportFormIn,
            response=ImportOut,
            status=201,
            accepts=True,
            upload=UPLOAD,
        ),
        Endpoint(
            "GET",
            "/api/v1/leads/imports/{import_id}",
            get_import,
            "An import's counts and result table",
            READ,
            response=ImportOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/leads",
            list_leads,
            "Leads of the brand, newest first, by status, source and organic",
            READ,
            query=LeadListQuery,
            response=LeadPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/leads/{lead_id}",
            get_lead,
            "One lead (ETag: its version)",
            READ,
            response=LeadOut,
            etag=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/leads/{lead_id}/status",
            move_lead,
            "Move a lead in the funnel (new, contacted, applied, converted; or rejected); If-Match refuses a "
            "stale change with 409",
            WRITE,
            body=MoveIn,
            response=LeadOut,
            accepts=True,
            if_match=True,
            etag=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/leads/{lead_id}/borrower",
            link_lead,
            "Link a lead to the borrower it signed up as (moves it to applied)",
            WRITE,
            body=LinkIn,
            response=LeadOut,
            accepts=True,
            etag=True,
        ),
    ],
)
