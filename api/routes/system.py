"""The caller's identity."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from api.endpoint import Context, Endpoint, Reply, json_response


class MeOut(BaseModel):
    """Who the caller is."""

    kind: Literal["staff", "apikey"]
    id: UUID
    brand_id: UUID
    name: str
    roles: list[str]
    grants: dict[str, str]


def me(ctx: Context[None]) -> Reply:
    p = ctx.principal
    return json_response(
        {
            "kind": p.kind,
            "id": p.id,
            "brand_id": p.brand_id,
            "name": p.name,
            "roles": p.roles,
            "grants": {k.value: v.value for k, v in p.grants.items()},
        }
    )


ENDPOINTS = [
    Endpoint(
        "GET", "/api/v1/me", me, "The authenticated caller and its grants", None, response=MeOut, tags=["identity"]
    ),
]
