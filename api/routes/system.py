"""The caller's identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from api.endpoint import Context, Endpoint, Reply, json_response, serve


@dataclass(frozen=True)
class CallerPort:
    """What `/me` uses: nothing but the caller, whom every endpoint is given."""


class MeOut(BaseModel):
    """Who the caller is."""

    kind: Literal["staff", "apikey"]
    id: UUID
    brand_id: UUID
    name: str
    roles: list[str]
    grants: dict[str, str]


def me(ctx: Context[CallerPort]) -> Reply:
    p = ctx.principal
    grants = {k.value: v.value for k, v in p.grants.items()}
    return json_response(
        MeOut(kind=p.kind, id=p.id, brand_id=p.brand_id, name=p.name, roles=list(p.roles), grants=grants)
    )


ENDPOINTS = serve(
    CallerPort,
    "identity",
    [Endpoint("GET", "/api/v1/me", me, "The authenticated caller and its grants", None, response=MeOut)],
)
