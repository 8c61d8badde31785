"""Activity trail endpoint: who did what, when, across every context (the audit context's read of the trail).

`GET /api/v1/staff/{staff_id}/activity` stays with the staff endpoints (it also asks Identity whether the staff
member exists); it uses this module's `ActivityQuery` and `ActivityPageOut`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import check_ranges
from domain.identity.permissions import Level, Permission
from domain.shared.values import Instant
from projections.activity import ActivityQueries

AUDIT_READ = (Permission.AUDIT_REPLAY, Level.READ)


@dataclass(frozen=True)
class ActivityPort:
    """What the activity endpoint uses: the activity trail's read model."""

    queries: ActivityQueries


class RecordActivityQuery(BaseModel):
    """Activity filters of one person's activity (`/staff/{id}/activity`: the actor is theirs): aggregate type and
    id, time range; paging."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    aggregate_type: str | None = Field(None, max_length=60)
    aggregate_id: UUID | None = None
    from_: Instant | None = Field(None, alias="from")
    to: Instant | None = None
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)

    @model_validator(mode="after")
    def _ranges(self) -> RecordActivityQuery:
        # Without an offset an instant is UTC (docs/api.md), not whatever the database session's zone is.
        for name in ("from_", "to"):
            instant = getattr(self, name)
            if instant is not None and instant.tzinfo is None:
                setattr(self, name, instant.replace(tzinfo=UTC))
        check_ranges(self, ("from_", "to"))
        return self


class ActivityQuery(RecordActivityQuery):
    """Activity filters: actor, aggregate type and id, time range; paging."""

    actor: str | None = Field(None, max_length=100)


class ActivityEntryOut(BaseModel):
    """One thing somebody (or the system) did."""

    occurred_at: InstantOut
    actor: str
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    summary: str
    details: dict[str, Any] = Field(description="what changed; its members depend on `event_type`")


class ActivityPageOut(BaseModel):
    """Activity, newest first."""

    items: list[ActivityEntryOut]
    next_cursor: str | None


def activity(ctx: Context[ActivityPort]) -> Reply:
    q: ActivityQuery = ctx.query
    page = ctx.port.queries.entries(
        ctx.brand_id,
        actor=q.actor,
        aggregate_type=q.aggregate_type,
        aggregate_id=q.aggregate_id,
        since=q.from_,
        until=q.to,
        cursor=q.cursor,
        limit=q.limit,
        companies=ctx.principal.companies,
    )
    return json_response(page)


ENDPOINTS = serve(
    ActivityPort,
    "audit",
    [
        Endpoint(
            "GET",
            "/api/v1/activity",
            activity,
            "Activity log: who did what, when",
            AUDIT_READ,
            query=ActivityQuery,
            response=ActivityPageOut,
        ),
    ],
)
