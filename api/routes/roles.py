"""Roles and permissions: what each role grants by default, and every permission and level."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from api.endpoint import Context, Endpoint, Reply, json_response, serve
from domain.identity.permissions import ROLES, Level, Permission

READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)


@dataclass(frozen=True)
class AccessPort:
    """What the role endpoints use: nothing but the domain's role table (roles are not records)."""


class RoleOut(BaseModel):
    """A role and its default permissions."""

    id: str
    name: str
    permissions: dict[str, str]


class RoleListOut(BaseModel):
    """Every role."""

    items: list[RoleOut]


class PermissionListOut(BaseModel):
    """Every permission and level."""

    items: list[Permission]
    levels: list[Level]


def list_roles(ctx: Context[AccessPort]) -> Reply:
    return json_response(
        RoleListOut(
            items=[
                RoleOut(id=role_id, name=name, permissions={p.value: lv.value for p, lv in sorted(grants.items())})
                for role_id, (name, grants) in ROLES.items()
            ]
        )
    )


def list_permissions(ctx: Context[AccessPort]) -> Reply:
    return json_response(PermissionListOut(items=list(Permission), levels=list(Level)))


ENDPOINTS = serve(
    AccessPort,
    "access",
    [
        Endpoint(
            "GET",
            "/api/v1/roles",
            list_roles,
            "Roles and their default permissions",
            READ,
            response=RoleListOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/permissions",
            list_permissions,
            "Every permission and level",
            READ,
            response=PermissionListOut,
        ),
    ],
)
