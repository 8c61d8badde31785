"""API key endpoints: generating a key (shown once), the brand's keys (masked) with their last use, revoking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

import structlog
from pydantic import BaseModel, ConfigDict, Field

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_REFERENCE
from domain.identity.application import Identity
from domain.identity.permissions import ROLES, Level, Permission
from domain.shared.values import stated_choices
from projections.engine import ProjectionEngine
from projections.identity import IdentityQueries

log = structlog.get_logger(__name__)

READ = (Permission.API_KEYS, Level.READ)
WRITE = (Permission.API_KEYS, Level.WRITE)


@dataclass(frozen=True)
class ApiKeysPort:
    """What the API key endpoints and page use: the use cases and the key list."""

    identity: Identity
    queries: IdentityQueries
    engine: ProjectionEngine  # the page waits for the key list before showing a new key (once)


class ApiKeyIn(BaseModel):
    """A new key: what uses it, and the role it acts with."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(max_length=100, description="what uses the key", json_schema_extra=VISIBLE_REFERENCE)
    role: Annotated[str, Field(max_length=40), stated_choices(sorted(ROLES))] = Field(
        description="the role it acts with: one whose grants are within the caller's own"
    )


class ApiKeyCreatedOut(BaseModel):
    """The new key; `key` is shown only in this response."""

    id: UUID
    key: str
    label: str
    role: str


class ApiKeyOut(BaseModel):
    """An API key, masked, with its last use."""

    id: UUID
    label: str
    role: str
    masked: str
    status: str = Field(description="active or revoked")
    created_by: str
    created_at: InstantOut
    revoked_at: InstantOut | None
    last_used_at: InstantOut | None


class ApiKeyListQuery(BaseModel):
    """Key list paging."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class ApiKeyListOut(BaseModel):
    """The brand's keys, newest first."""

    items: list[ApiKeyOut]
    next_cursor: str | None


def create_api_key(ctx: Context[ApiKeysPort]) -> Reply:
    body: ApiKeyIn = ctx.body
    # Its owner is the caller's staff user (a key's owner when a key makes it): Identity gives it from the granter.
    issued = ctx.port.identity.issue_api_key(ctx.brand_id, body.role, body.label, granter=ctx.principal)
    # The key is the command's own result and is shown only here: it is the answer even when the key list has
    # not caught up yet (it will), never a 202 without the key.
    if not ctx.settled(Identity.name, issued.position):
        log.warning("api.read_model_behind", source=Identity.name, position=issued.position, id=str(issued.id))
    created = ApiKeyCreatedOut(id=issued.id, key=issued.secret, label=issued.label, role=issued.role)
    return json_response(created, headers={"Location": f"/api/v1/api-keys/{issued.id}", "Cache-Control": "no-store"})


def list_api_keys(ctx: Context[ApiKeysPort]) -> Reply:
    q: ApiKeyListQuery = ctx.query
    return json_response(ctx.port.queries.api_key_page(ctx.brand_id, q.cursor, q.limit))


def revoke_api_key(ctx: Context[ApiKeysPort]) -> Reply:
    result = ctx.port.identity.revoke_api_key(ctx.brand_id, ctx.path["key_id"])
    return ctx.written(result, Identity.name, lambda: ctx.port.queries.api_key(ctx.brand_id, result.id))


ENDPOINTS = serve(
    ApiKeysPort,
    "api-keys",
    [
        Endpoint(
            "POST",
            "/api/v1/api-keys",
            create_api_key,
            "Generate an API key (shown once)",
            WRITE,
            body=ApiKeyIn,
            response=ApiKeyCreatedOut,
            status=201,
        ),
        Endpoint(
            "GET",
            "/api/v1/api-keys",
            list_api_keys,
            "API keys (masked) with last use, newest first; keyset pages",
            READ,
            query=ApiKeyListQuery,
            response=ApiKeyListOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/api-keys/{key_id}/revoke",
            revoke_api_key,
            "Revoke a key (401 from the next request)",
            WRITE,
            response=ApiKeyOut,
            accepts=True,
        ),
    ],
)
