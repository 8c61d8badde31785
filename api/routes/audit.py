"""Auditor endpoints: any aggregate's history, state as of an instant, diff between instants, and the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response, StreamingResponse

from api.csv_download import csv_chunks, safe
from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import check_ranges
from api.routes.activity import ActivityPageOut
from domain.audit.replay import AuditReplay
from domain.identity.permissions import Level, Permission
from domain.shared.clock import Clock
from domain.shared.errors import InvalidValue
from domain.shared.values import Instant
from projections.activity import ActivityQueries

AUDIT = (Permission.AUDIT_REPLAY, Level.READ)


@dataclass(frozen=True)
class AuditPort:
    """What the audit endpoints and pages use: replay of any record, and the activity trail."""

    replay: AuditReplay
    activity: ActivityQueries
    clock: Clock


class HistoryQuery(BaseModel):
    """`format`: json (default) or csv (a download)."""

    model_config = ConfigDict(extra="forbid")

    format: str = Field("json", pattern="^(json|csv)$")


class StateQuery(BaseModel):
    """The instant to replay to (ISO-8601; without an offset it is read as UTC)."""

    model_config = ConfigDict(extra="forbid")

    as_of: Instant


class DiffQuery(BaseModel):
    """Two instants (ISO-8601)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Instant = Field(alias="from")
    to: Instant


class TrailQuery(BaseModel):
    """Trail filters: who, which aggregate type or record, when; keyset pages."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    actor: str | None = Field(None, max_length=200)
    aggregate_type: str | None = Field(None, max_length=60)
    aggregate_id: str | None = Field(None, max_length=40)
    from_: Instant | None = Field(None, alias="from")
    to: Instant | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _ranges(self) -> TrailQuery:
        check_ranges(self, ("from_", "to"))
        return self


class AuditTypesOut(BaseModel):
    """Aggregate types an auditor can replay (their URL names)."""

    items: list[str]


class HistoryEventOut(BaseModel):
    """One event of a record: who, when, what."""

    version: int
    event: str
    occurred_at: InstantOut
    actor: str
    trace_id: str | None
    data: dict[str, Any] = Field(description="the event's own members; they depend on `event`")


class HistoryOut(BaseModel):
    """Every event of a record, oldest first."""

    aggregate_type: str
    aggregate_id: UUID
    events: list[HistoryEventOut]


class StateOut(BaseModel):
    """The record as it was at an instant (`state` is null before it existed)."""

    as_of: InstantOut
    version: int
    exists: bool
    state: dict[str, Any] | None = Field(description="the record's members; they depend on the aggregate type")


class FieldChangeOut(BaseModel):
    """A member's value at each instant."""

    from_: Any = Field(alias="from")
    to: Any


class DiffOut(BaseModel):
    """What changed between two instants, and the events in between."""

    from_: InstantOut = Field(alias="from")
    to: InstantOut
    from_version: int
    to_version: int
    changes: dict[str, FieldChangeOut]
    events: list[HistoryEventOut]


def _utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _recorded(ctx: Context[AuditPort], instant: datetime) -> datetime:
    """`instant` in UTC; for a type whose state is rendered as of the instant (a loan: its figures on the brand's
    business date then) one still to come is taken as now, the latest state the system has said: the figures at a
    later instant would be a forecast - DPD and class on a business date not yet reached. Other types' states are
    their events up to the instant, so a later one is the latest state already (clients ask `2100-01-01T00:00:00Z`
    for it, of loans too)."""
    at = _utc(instant)
    now = ctx.port.clock.now()
    replay = ctx.port.replay
    if at > now and replay.resolve(ctx.path["aggregate_type"]).name in replay.renderers:
        return now
    return at


def _guard_company(ctx: Context[AuditPort]) -> None:
    """A staff member limited to companies replays no record of another company: 404 (found by a privilege sweep: a
    KFL notice was 404 at /notices/{id} for one limited to SML, and readable in full at /audit/notice/{id}/history)."""
    ctx.port.replay.check_company(
        ctx.path["aggregate_type"], ctx.path["aggregate_id"], ctx.brand_id, ctx.principal.companies
    )


def history(ctx: Context[AuditPort]) -> Reply | Response:
    q: HistoryQuery = ctx.query
    _guard_company(ctx)
    type_name, aggregate_id = ctx.path["aggregate_type"], ctx.path["aggregate_id"]
    entries = ctx.port.replay.history(type_name, aggregate_id, ctx.brand_id, ctx.principal.companies)
    if q.format == "csv":  # as the loan's own history export: UTF-8 with BOM, text cells formula-safe
        rows = (
            (e.version, e.event, e.occurred_at.isoformat(), safe(e.actor), e.trace_id or "", safe(json.dumps(e.data)))
            for e in entries
        )
        header = ("version", "event", "occurred_at", "actor", "trace_id", "data")
        return StreamingResponse(
            csv_chunks(header, rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{type_name}-{aggregate_id}-history.csv"'},
        )
    audited = ctx.port.replay.resolve(type_name)
    return json_response(
        {"aggregate_type": audited.name, "aggregate_id": aggregate_id, "events": entries},
        headers={"Content-Disposition": f'inline; filename="{type_name}-{aggregate_id}-history.json"'},
    )


def state(ctx: Context[AuditPort]) -> Reply:
    q: StateQuery = ctx.query
    _guard_company(ctx)
    replayed = ctx.port.replay.state_as_of(
        ctx.path["aggregate_type"],
        ctx.path["aggregate_id"],
        ctx.brand_id,
        _recorded(ctx, q.as_of),
        ctx.principal.companies,  # a job run's cursor may be another company's covenant: null to a limited caller
    )
    return json_response(replayed)


def diff(ctx: Context[AuditPort]) -> Reply:
    q: DiffQuery = ctx.query
    _guard_company(ctx)
    start, end = _recorded(ctx, q.from_), _recorded(ctx, q.to)
    result = ctx.port.replay.diff(
        ctx.path["aggregate_type"], ctx.path["aggregate_id"], ctx.brand_id, start, end, ctx.principal.companies
    )
    return json_response(result)


def trail(ctx: Context[AuditPort]) -> Reply:
    q: TrailQuery = ctx.query
    aggregate_type = ctx.port.replay.resolve(q.aggregate_type).cls.__name__ if q.aggregate_type else None
    try:
        aggregate_id = UUID(q.aggregate_id) if q.aggregate_id else None
    except ValueError:
        raise InvalidValue("aggregate_id", "not a record id") from None
    page = ctx.port.activity.entries(
        ctx.brand_id,
        actor=q.actor,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        since=_utc(q.from_) if q.from_ else None,
        until=_utc(q.to) if q.to else None,
        cursor=q.cursor,
        limit=q.limit,
        companies=ctx.principal.companies,  # no row of another company's record (a notice), as `_guard_company`
    )
    return json_response(page)


def types(ctx: Context[AuditPort]) -> Reply:
    return json_response(AuditTypesOut(items=sorted(ctx.port.replay.types)))


ENDPOINTS = serve(
    AuditPort,
    "audit",
    [
        Endpoint(
            "GET",
            "/api/v1/audit/types",
            types,
            "Aggregate types an auditor can replay",
            AUDIT,
            response=AuditTypesOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/audit/trail",
            trail,
            "Who did what and when: by actor, aggregate type or id, and time range",
            AUDIT,
            query=TrailQuery,
            response=ActivityPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/audit/{aggregate_type}/{aggregate_id}/history",
            history,
            "Every event of a record: who, when, what (format=csv for a download)",
            AUDIT,
            query=HistoryQuery,
            response=HistoryOut,
            media=("text/csv",),
        ),
        Endpoint(
            "GET",
            "/api/v1/audit/{aggregate_type}/{aggregate_id}/state",
            state,
            "The record as it was at an instant, replayed from its events",
            AUDIT,
            query=StateQuery,
            response=StateOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/audit/{aggregate_type}/{aggregate_id}/diff",
            diff,
            "What changed between two instants, and the events in between",
            AUDIT,
            query=DiffQuery,
            response=DiffOut,
        ),
    ],
)
