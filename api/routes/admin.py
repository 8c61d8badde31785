"""Access and brand administration: staff, roles, brands, brand configuration, API keys, blocklists."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import segno
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response
from api.routes.activity import ActivityPageOut, ActivityQuery
from domain.identity.api_key import ApiKeyNotFound
from domain.identity.application import UNCHANGED
from domain.identity.brand_config import BrandSettings, SettingChange
from domain.identity.permissions import ROLES, Level, Permission
from domain.identity.staff import Leave, StaffNotFound
from domain.shared.values import BusinessDate

STAFF_READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)
STAFF_WRITE = (Permission.PARTNER_USER_MANAGEMENT, Level.WRITE)
SETTINGS_READ = (Permission.BRAND_SETTINGS, Level.READ)
SETTINGS_WRITE = (Permission.BRAND_SETTINGS, Level.WRITE)
KEYS_READ = (Permission.API_KEYS, Level.READ)
KEYS_WRITE = (Permission.API_KEYS, Level.WRITE)


# Staff ------------------------------------------------------------------------------------------------


class StaffIn(BaseModel):
    """A new staff user; without `password` they get an invite code to set one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    roles: list[str] = Field(min_length=1, max_length=11)
    companies: list[str] = Field(default_factory=list, max_length=200)
    manager_id: UUID | None = None
    password: str | None = Field(None, max_length=200)


class StaffPatch(BaseModel):
    """Changes to a staff user. `permissions`: {PERMISSION: READ|WRITE|ALL|NONE|null (back to role default)}."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    roles: list[str] | None = Field(None, min_length=1, max_length=11)
    companies: list[str] | None = Field(None, max_length=200)
    manager_id: UUID | None = None
    permissions: dict[str, str | None] | None = None
    available: bool | None = None


class LeaveIn(BaseModel):
    """Planned leave; `end` may not be before `start`."""

    model_config = ConfigDict(extra="forbid")

    start: BusinessDate
    end: BusinessDate
    reason: str | None = Field(None, max_length=300)

    @model_validator(mode="after")
    def _order(self) -> LeaveIn:
        if self.end < self.start:
            raise ValueError("end: leave cannot end before it starts")
        return self


class StaffSearch(BaseModel):
    """Staff list filter and paging."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=100)
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class InviteAcceptIn(BaseModel):
    """Accept an invite: the code and the new password."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=200)
    password: str = Field(max_length=200)


class StaffItemOut(BaseModel):
    """A staff user as the list shows them."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    overrides: dict[str, str] = Field(description="per-user permission levels replacing the roles' defaults")
    companies: list[str]
    manager_id: UUID | None
    enabled: bool
    available: bool
    leaves: list[Leave]
    has_password: bool
    invite_expires_at: InstantOut | None
    last_login_at: InstantOut | None
    failed_logins: int
    locked_until: InstantOut | None
    version: int
    created_at: InstantOut
    updated_at: InstantOut


class StaffPageOut(BaseModel):
    """A page of the staff list, by name."""

    items: list[StaffItemOut]
    next_cursor: str | None


class StaffRefOut(BaseModel):
    """Someone who reports to the staff user."""

    id: UUID
    name: str


class StaffOut(StaffItemOut):
    """A staff user with effective permissions and reports."""

    permissions: dict[str, str] = Field(description="effective level of each permission held")
    reports: list[StaffRefOut]
    on_leave_today: bool


class InviteOut(BaseModel):
    """A one-time invite: the code, its URL and a QR code of the URL (shown once)."""

    code: str
    expires_at: InstantOut
    url: str
    qr_svg: str


class StaffCreatedOut(StaffOut):
    """The new staff user; `invite` unless a password was given."""

    invite: InviteOut | None = None


class InviteAcceptedOut(BaseModel):
    """The password is set."""

    staff_id: UUID
    status: str


class LoginOut(BaseModel):
    """One login attempt."""

    at: InstantOut
    succeeded: bool
    ip: str | None
    user_agent: str | None
    reason: str | None
    locked_until: InstantOut | None


class LoginListOut(BaseModel):
    """Login attempts, newest first."""

    items: list[LoginOut]


class SessionOut(BaseModel):
    """A live portal session."""

    created_at: InstantOut
    expires_at: InstantOut
    ip: str | None
    user_agent: str | None


class SessionListOut(BaseModel):
    """Live sessions, newest first."""

    items: list[SessionOut]


def _staff_body(ctx: Context, staff_id: UUID, position: int = 0) -> dict[str, Any]:
    if position:
        ctx.platform.engine.wait_for("identity", position)
    view = ctx.platform.identity_queries.staff(ctx.brand_id, staff_id)
    if view is None:
        raise StaffNotFound(f"StaffUser {staff_id} not found", id=str(staff_id))
    staff = ctx.platform.identity.staff(ctx.brand_id, staff_id)
    body = dict(view.__dict__)
    body["permissions"] = {p.value: level.value for p, level in sorted(staff.grants.items())}
    body["reports"] = [
        {"id": r.id, "name": r.name} for r in ctx.platform.identity_queries.reports(ctx.brand_id, staff_id)
    ]
    body["on_leave_today"] = staff.on_leave(ctx.platform.identity.business_date(ctx.brand_id))
    return body


def _invite_body(ctx: Context, invite: Any) -> dict[str, Any]:
    base = str(ctx.request.base_url).rstrip("/")
    url = f"{base}/invite/{invite.code}"
    return {
        "code": invite.code,
        "expires_at": invite.expires_at,
        "url": url,
        "qr_svg": segno.make(url, error="m").svg_inline(scale=4),
    }


def list_staff(ctx: Context) -> Reply:
    q: StaffSearch = ctx.query
    page = ctx.platform.identity_queries.staff_list(ctx.brand_id, q.q, q.cursor, q.limit)
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


def create_staff(ctx: Context) -> Reply:
    body: StaffIn = ctx.body
    result = ctx.platform.identity.create_staff(
        ctx.brand_id, body.email, body.name, body.roles, body.password, body.companies, body.manager_id
    )
    out = _staff_body(ctx, result.id, result.position)
    if body.password is None:
        invite = ctx.platform.identity.issue_invite(ctx.brand_id, result.id)
        out["invite"] = _invite_body(ctx, invite)
    return json_response(out, 201, headers={"Location": f"/api/v1/staff/{result.id}"})


def get_staff(ctx: Context) -> Reply:
    return json_response(_staff_body(ctx, ctx.path["staff_id"]))


def update_staff(ctx: Context) -> Reply:
    body: StaffPatch = ctx.body
    fields = body.model_dump(exclude_unset=True)
    manager = fields.pop("manager_id", UNCHANGED)
    result = ctx.platform.identity.update_staff(
        ctx.brand_id,
        ctx.path["staff_id"],
        actor_id=ctx.principal.id,
        expected_version=ctx.expected_version(),
        manager_id=manager,
        **fields,
    )
    return json_response(_staff_body(ctx, result.id, result.position))


def _set_enabled(ctx: Context, enabled: bool) -> Reply:
    staff_id = ctx.path["staff_id"]
    result = ctx.platform.identity.set_enabled(ctx.brand_id, staff_id, enabled, actor_id=ctx.principal.id)
    if not enabled:
        ctx.platform.ops.end_sessions_of(staff_id)
    return json_response(_staff_body(ctx, result.id, result.position))


def disable_staff(ctx: Context) -> Reply:
    return _set_enabled(ctx, False)


def enable_staff(ctx: Context) -> Reply:
    return _set_enabled(ctx, True)


def schedule_leave(ctx: Context) -> Reply:
    body: LeaveIn = ctx.body
    result = ctx.platform.identity.schedule_leave(ctx.brand_id, ctx.path["staff_id"], body.start, body.end, body.reason)
    return json_response(_staff_body(ctx, result.id, result.position), 201)


def cancel_leave(ctx: Context) -> Reply:
    result = ctx.platform.identity.cancel_leave(ctx.brand_id, ctx.path["staff_id"], ctx.path["leave_id"])
    return json_response(_staff_body(ctx, result.id, result.position))


def issue_invite(ctx: Context) -> Reply:
    invite = ctx.platform.identity.issue_invite(ctx.brand_id, ctx.path["staff_id"])
    return json_response(_invite_body(ctx, invite), 201)


def accept_invite(ctx: Context) -> Reply:
    body: InviteAcceptIn = ctx.body
    result = ctx.platform.identity.accept_invite(body.code, body.password)
    return json_response({"staff_id": result.id, "status": "password set; sign in at /login"})


def staff_logins(ctx: Context) -> Reply:
    ctx.platform.identity.staff(ctx.brand_id, ctx.path["staff_id"])
    return json_response({"items": ctx.platform.identity_queries.logins(ctx.brand_id, ctx.path["staff_id"])})


def staff_sessions(ctx: Context) -> Reply:
    ctx.platform.identity.staff(ctx.brand_id, ctx.path["staff_id"])
    sessions = ctx.platform.ops.sessions_of(ctx.path["staff_id"], ctx.platform.clock.now())
    return json_response({"items": sessions})


def staff_activity(ctx: Context) -> Reply:
    q: ActivityQuery = ctx.query
    ctx.platform.identity.staff(ctx.brand_id, ctx.path["staff_id"])
    page = ctx.platform.activity_queries.entries(
        ctx.brand_id, actor=f"staff:{ctx.path['staff_id']}", since=q.from_, until=q.to, cursor=q.cursor, limit=q.limit
    )
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


# Roles, permissions, brands ------------------------------------------------------------------------------


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


class BrandOut(BaseModel):
    """A brand."""

    id: UUID
    slug: str
    name: str
    timezone: str


class BrandListOut(BaseModel):
    """Brands the caller may see."""

    items: list[BrandOut]


def list_roles(ctx: Context) -> Reply:
    items = [
        {"id": role_id, "name": name, "permissions": {p.value: level.value for p, level in sorted(grants.items())}}
        for role_id, (name, grants) in ROLES.items()
    ]
    return json_response({"items": items})


def list_permissions(ctx: Context) -> Reply:
    return json_response({"items": [p.value for p in Permission], "levels": [level.value for level in Level]})


class BrandIn(BaseModel):
    """A new brand."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(max_length=40)
    name: str = Field(max_length=200)
    timezone: str = Field("Asia/Kolkata", max_length=64)


def create_brand(ctx: Context) -> Reply:
    body: BrandIn = ctx.body
    result = ctx.platform.identity.create_brand(body.slug, body.name, body.timezone)
    ctx.platform.engine.wait_for("identity", result.position)
    return json_response(
        {"id": result.id, "slug": body.slug, "name": body.name, "timezone": body.timezone},
        201,
        headers={"Location": f"/api/v1/brands/{result.id}"},
    )


def list_brands(ctx: Context) -> Reply:
    brands = ctx.platform.brand_queries.all()
    visible = brands if ctx.principal.cross_brand else [b for b in brands if b.id == ctx.brand_id]
    return json_response({"items": visible})


# Brand configuration ----------------------------------------------------------------------------------------


class HistoryQuery(BaseModel):
    """History paging."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=500)


class ConfigOut(BaseModel):
    """The brand's settings, the configuration's version and the business date."""

    brand_id: UUID
    settings: BrandSettings
    version: int
    business_date: date


class ConfigChangedOut(ConfigOut):
    """The configuration after a change, and each setting changed."""

    changes: list[SettingChange]


class ConfigChangeOut(BaseModel):
    """One setting change: who, when, old -> new."""

    changed_at: InstantOut
    actor: str
    setting: str
    old: Any
    new: Any


class ConfigHistoryOut(BaseModel):
    """Setting changes, newest first."""

    items: list[ConfigChangeOut]
    next_cursor: str | None


def _config_body(ctx: Context) -> dict[str, Any]:
    config = ctx.platform.identity.configuration(ctx.brand_id)
    body = {"brand_id": ctx.brand_id, "settings": config.settings, "version": config.version}
    body["business_date"] = ctx.platform.identity.business_date(ctx.brand_id)
    return body


def get_config(ctx: Context) -> Reply:
    return json_response(_config_body(ctx))


def update_config(ctx: Context) -> Reply:
    updates = ctx.body.model_dump(exclude_unset=True)
    result, changes = ctx.platform.identity.change_configuration(ctx.brand_id, updates, ctx.expected_version())
    if result.position:
        ctx.platform.engine.wait_for("identity", result.position)
    body = _config_body(ctx)
    body["changes"] = changes
    return json_response(body)


class ConfigPatch(BaseModel):
    """Any settings to change (validated by the brand settings' rules)."""

    model_config = ConfigDict(extra="allow")


def config_history(ctx: Context) -> Reply:
    q: HistoryQuery = ctx.query
    page = ctx.platform.identity_queries.config_history(ctx.brand_id, q.cursor, q.limit)
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


# API keys ---------------------------------------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    """A new key: what uses it, and the role it acts with."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(max_length=100)
    role: str = Field(max_length=40)


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


class ApiKeyListOut(BaseModel):
    """The brand's keys, newest first."""

    items: list[ApiKeyOut]


def create_api_key(ctx: Context) -> Reply:
    body: ApiKeyIn = ctx.body
    owner = ctx.principal.id if ctx.principal.kind == "staff" else None
    issued = ctx.platform.identity.issue_api_key(
        ctx.brand_id, body.role, body.label, owner_id=owner, may_grant_cross_brand=ctx.principal.cross_brand
    )
    ctx.platform.engine.wait_for("identity", issued.position)
    return json_response(
        {"id": issued.id, "key": issued.secret, "label": body.label.strip(), "role": body.role},
        201,
        headers={"Location": f"/api/v1/api-keys/{issued.id}", "Cache-Control": "no-store"},
    )


def list_api_keys(ctx: Context) -> Reply:
    return json_response({"items": ctx.platform.identity_queries.api_keys(ctx.brand_id)})


def revoke_api_key(ctx: Context) -> Reply:
    key_id = ctx.path["key_id"]
    result = ctx.platform.identity.revoke_api_key(ctx.brand_id, key_id)
    ctx.platform.engine.wait_for("identity", result.position)
    key = next((k for k in ctx.platform.identity_queries.api_keys(ctx.brand_id) if k.id == key_id), None)
    if key is None:
        raise ApiKeyNotFound(f"ApiKey {key_id} not found")
    return json_response(key)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/staff",
        list_staff,
        "Staff of the brand",
        STAFF_READ,
        query=StaffSearch,
        response=StaffPageOut,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/staff",
        create_staff,
        "Create a staff user (with an invite unless a password is given)",
        STAFF_WRITE,
        body=StaffIn,
        response=StaffCreatedOut,
        etag=True,
        status=201,
        tags=["staff"],
    ),
    Endpoint(
        "GET",
        "/api/v1/staff/{staff_id}",
        get_staff,
        "Staff profile with effective permissions and reports",
        STAFF_READ,
        response=StaffOut,
        etag=True,
        tags=["staff"],
    ),
    Endpoint(
        "PATCH",
        "/api/v1/staff/{staff_id}",
        update_staff,
        "Edit profile, roles, permission overrides, manager, companies, availability",
        STAFF_WRITE,
        body=StaffPatch,
        response=StaffOut,
        etag=True,
        if_match=True,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/staff/{staff_id}/disable",
        disable_staff,
        "Disable (sessions and owned keys stop at once)",
        STAFF_WRITE,
        response=StaffOut,
        etag=True,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/staff/{staff_id}/enable",
        enable_staff,
        "Enable a disabled staff user",
        STAFF_WRITE,
        response=StaffOut,
        etag=True,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/staff/{staff_id}/leaves",
        schedule_leave,
        "Record leave dates",
        STAFF_WRITE,
        body=LeaveIn,
        response=StaffOut,
        etag=True,
        status=201,
        tags=["staff"],
    ),
    Endpoint(
        "DELETE",
        "/api/v1/staff/{staff_id}/leaves/{leave_id}",
        cancel_leave,
        "Cancel leave",
        STAFF_WRITE,
        response=StaffOut,
        etag=True,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/staff/{staff_id}/invites",
        issue_invite,
        "Issue a one-time invite code (with a QR code as SVG)",
        STAFF_WRITE,
        response=InviteOut,
        status=201,
        tags=["staff"],
    ),
    Endpoint(
        "GET",
        "/api/v1/staff/{staff_id}/logins",
        staff_logins,
        "Login history",
        STAFF_READ,
        response=LoginListOut,
        tags=["staff"],
    ),
    Endpoint(
        "GET",
        "/api/v1/staff/{staff_id}/sessions",
        staff_sessions,
        "Session report (live sessions)",
        STAFF_READ,
        response=SessionListOut,
        tags=["staff"],
    ),
    Endpoint(
        "GET",
        "/api/v1/staff/{staff_id}/activity",
        staff_activity,
        "What this person did",
        STAFF_READ,
        query=ActivityQuery,
        response=ActivityPageOut,
        tags=["staff"],
    ),
    Endpoint(
        "POST",
        "/api/v1/invites/accept",
        accept_invite,
        "Set a password with an invite code",
        None,
        body=InviteAcceptIn,
        response=InviteAcceptedOut,
        public=True,
        errors=(409,),
        tags=["staff"],
    ),
    Endpoint(
        "GET",
        "/api/v1/roles",
        list_roles,
        "Roles and their default permissions",
        STAFF_READ,
        response=RoleListOut,
        tags=["access"],
    ),
    Endpoint(
        "GET",
        "/api/v1/permissions",
        list_permissions,
        "Every permission and level",
        STAFF_READ,
        response=PermissionListOut,
        tags=["access"],
    ),
    Endpoint(
        "GET", "/api/v1/brands", list_brands, "Brands the caller may see", None, response=BrandListOut, tags=["brands"]
    ),
    Endpoint(
        "POST",
        "/api/v1/brands",
        create_brand,
        "Create a brand (Super Admin)",
        (Permission.BRAND_SETTINGS, Level.ALL),
        body=BrandIn,
        response=BrandOut,
        status=201,
        cross_brand=True,
        tags=["brands"],
    ),
    Endpoint(
        "GET",
        "/api/v1/brand/config",
        get_config,
        "The brand's configuration",
        SETTINGS_READ,
        response=ConfigOut,
        etag=True,
        tags=["brands"],
    ),
    Endpoint(
        "PATCH",
        "/api/v1/brand/config",
        update_config,
        "Change settings (each change on the record)",
        SETTINGS_WRITE,
        body=ConfigPatch,
        response=ConfigChangedOut,
        etag=True,
        if_match=True,
        tags=["brands"],
    ),
    Endpoint(
        "GET",
        "/api/v1/brand/config/history",
        config_history,
        "Who changed what, when, old -> new",
        SETTINGS_READ,
        query=HistoryQuery,
        response=ConfigHistoryOut,
        tags=["brands"],
    ),
    Endpoint(
        "POST",
        "/api/v1/api-keys",
        create_api_key,
        "Generate an API key (shown once)",
        KEYS_WRITE,
        body=ApiKeyIn,
        response=ApiKeyCreatedOut,
        status=201,
        tags=["api-keys"],
    ),
    Endpoint(
        "GET",
        "/api/v1/api-keys",
        list_api_keys,
        "API keys (masked) with last use",
        KEYS_READ,
        response=ApiKeyListOut,
        tags=["api-keys"],
    ),
    Endpoint(
        "POST",
        "/api/v1/api-keys/{key_id}/revoke",
        revoke_api_key,
        "Revoke a key (401 from the next request)",
        KEYS_WRITE,
        response=ApiKeyOut,
        tags=["api-keys"],
    ),
]
