"""Blocklist endpoints: list, add, remove and check blocked values of the caller's brand."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_MIN_REASON, VISIBLE_QUERY_REASON, VISIBLE_REASON
from domain.blocklist.application import Blocklists
from domain.blocklist.entry import BlockKind
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.shared.values import MIN_REASON
from projections.blocklist import BlockedValue, BlocklistQueries

READ = (Permission.BLOCKLIST, Level.READ)
WRITE = (Permission.BLOCKLIST, Level.WRITE)


@dataclass(frozen=True)
class BlocklistPort:
    """What the blocklist endpoints and pages use: the use cases and the read model."""

    blocklists: Blocklists
    queries: BlocklistQueries
    identity: Identity  # the names of who changed each entry (the portal's list)


class BlockIn(BaseModel):
    """A value to block and why."""

    model_config = ConfigDict(extra="forbid")

    kind: BlockKind
    value: str = Field(max_length=60)
    reason: str = Field(
        min_length=MIN_REASON, max_length=500, description=VISIBLE_MIN_REASON, json_schema_extra=VISIBLE_REASON
    )


class BlocklistQuery(BaseModel):
    """Blocklist filters and paging."""

    model_config = ConfigDict(extra="forbid")

    kind: BlockKind | None = None
    active: bool = True
    q: str | None = Field(
        None,
        max_length=60,
        description="a value shown (part of it: the last four digits of a masked one) or a whole value in any "
        "spelling of its kind",
    )
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class BlockCheckQuery(BaseModel):
    """Is this value blocked?"""

    model_config = ConfigDict(extra="forbid")

    kind: BlockKind
    value: str = Field(max_length=60)


class UnblockQuery(BaseModel):
    """Why the value is unblocked."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("removed by staff", max_length=500, json_schema_extra=VISIBLE_QUERY_REASON)


class BlockedValueOut(BaseModel):
    """A blocklist entry (Aadhaar and account numbers masked)."""

    id: UUID
    kind: BlockKind
    value: str
    reason: str
    active: bool
    changed_by: str
    added_at: InstantOut
    changed_at: InstantOut


class BlocklistPageOut(BaseModel):
    """Entries, most recently changed first."""

    items: list[BlockedValueOut]
    next_cursor: str | None


class BlockCheckOut(BaseModel):
    """Whether the value is blocked, and by which entry."""

    blocked: bool
    entry_id: UUID | None
    reason: str | None


def list_blocklist(ctx: Context[BlocklistPort]) -> Reply:
    q: BlocklistQuery = ctx.query
    page = ctx.port.queries.entries(ctx.brand_id, q.kind, q.active, q.cursor, q.limit, search=q.q)
    return json_response(page)


def _entry(ctx: Context[BlocklistPort], entry_id: UUID) -> BlockedValue | None:
    return ctx.port.queries.entry(ctx.brand_id, entry_id)


def add_to_blocklist(ctx: Context[BlocklistPort]) -> Reply:
    body: BlockIn = ctx.body
    result = ctx.port.blocklists.add(ctx.brand_id, body.kind, body.value, body.reason)
    return ctx.written(result, Blocklists.name, lambda: _entry(ctx, result.id), f"/api/v1/blocklist/{result.id}")


def remove_from_blocklist(ctx: Context[BlocklistPort]) -> Reply:
    q: UnblockQuery = ctx.query
    result = ctx.port.blocklists.remove(ctx.brand_id, ctx.path["entry_id"], q.reason)
    return ctx.written(result, Blocklists.name, lambda: _entry(ctx, result.id))


def check_blocklist(ctx: Context[BlocklistPort]) -> Reply:
    q: BlockCheckQuery = ctx.query
    entry = ctx.port.blocklists.check(ctx.brand_id, q.kind, q.value)
    return json_response(
        BlockCheckOut(
            blocked=entry is not None, entry_id=entry.id if entry else None, reason=entry.reason if entry else None
        )
    )


ENDPOINTS = serve(
    BlocklistPort,
    "blocklist",
    [
        Endpoint(
            "GET",
            "/api/v1/blocklist",
            list_blocklist,
            "Blocked values of the brand (masked where sensitive)",
            READ,
            query=BlocklistQuery,
            response=BlocklistPageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/blocklist",
            add_to_blocklist,
            "Block a value (PAN, mobile, Aadhaar, bank account, pincode) with a reason",
            WRITE,
            body=BlockIn,
            response=BlockedValueOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "DELETE",
            "/api/v1/blocklist/{entry_id}",
            remove_from_blocklist,
            "Unblock a value (the entry stays in history)",
            WRITE,
            query=UnblockQuery,
            response=BlockedValueOut,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/blocklist/check",
            check_blocklist,
            "Whether a value (in any spelling) is blocked",
            READ,
            query=BlockCheckQuery,
            response=BlockCheckOut,
        ),
    ],
)
