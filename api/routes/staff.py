"""Staff endpoints: the brand's staff, profiles, roles and permission overrides, leave, invites, logins, sessions
and activity; accepting an invite (public)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import segno
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import null_refused, refuse_null
from api.routes.activity import ActivityPageOut, RecordActivityQuery
from api.services.staff import StaffRecords
from domain.identity.application import MIN_PASSWORD_LENGTH, UNCHANGED, Identity, IssuedInvite
from domain.identity.permissions import Level, Permission
from domain.identity.staff import Leave, StaffNotFound
from domain.shared.application import CommandResult
from domain.shared.values import BusinessDate, Flag
from projections.identity import StaffProfile

READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)
WRITE = (Permission.PARTNER_USER_MANAGEMENT, Level.WRITE)


@dataclass(frozen=True)
class StaffPort:
    """What the staff endpoints and pages use: the use cases and the staff records."""

    identity: Identity
    records: StaffRecords


class StaffIn(BaseModel):
    """A new staff user; without `password` they get an invite code to set one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    email: str = Field(max_length=254)
    roles: list[str] = Field(min_length=1, max_length=11)
    companies: list[str] = Field(default_factory=list, max_length=200)
    manager_id: UUID | None = None
    password: str | None = Field(None, max_length=200)


#: The fields of a staff user's PATCH that are never null: left out, they stay as they are (`manager_id: null` is "no
#: manager").
NEVER_NULL = ("name", "email", "roles", "companies", "permissions", "available")


class StaffPatch(BaseModel):
    """Changes to a staff user. `permissions`: {PERMISSION: READ|WRITE|ALL|NONE|null (back to role default)}."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=null_refused(*NEVER_NULL))

    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    roles: list[str] | None = Field(None, min_length=1, max_length=11)
    companies: list[str] | None = Field(None, max_length=200)
    manager_id: UUID | None = None
    permissions: dict[str, str | None] | None = None
    available: Flag | None = None

    # None is only "left out" (`manager_id: null` alone means "no manager"); an explicit null used to answer 200 and
    # change nothing; the schema leaves null out of them (`null_refused`).
    _no_null = field_validator(*NEVER_NULL, mode="before")(refuse_null)


class LeaveIn(BaseModel):
    """Planned leave; `end` may not be before `start` (the staff record's rule: a 422 naming `end`)."""

    model_config = ConfigDict(extra="forbid")

    start: BusinessDate
    end: BusinessDate
    reason: str | None = Field(None, max_length=300)


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
    password: str = Field(
        max_length=200,
        description=f"At least {MIN_PASSWORD_LENGTH} characters (code points, as JSON Schema counts them), at least 4 "
        "of them different (`check_password`, whose 422 names `password`; the schema states its length)",
        json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
    )


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


def invite_link(base_url: str, invite: IssuedInvite) -> InviteOut:
    """The invite as shown once: its code, the URL to open and a QR code of that URL."""
    url = f"{base_url.rstrip('/')}/invite/{invite.code}"
    return InviteOut(
        code=invite.code, expires_at=invite.expires_at, url=url, qr_svg=segno.make(url, error="m").svg_inline(scale=4)
    )


def _profile(ctx: Context[StaffPort], staff_id: UUID) -> StaffProfile | None:
    return ctx.port.records.profile(ctx.brand_id, staff_id)


def _answer(ctx: Context[StaffPort], result: CommandResult) -> Reply:
    return ctx.written(result, Identity.name, lambda: _profile(ctx, result.id))


def list_staff(ctx: Context[StaffPort]) -> Reply:
    q: StaffSearch = ctx.query
    return json_response(ctx.port.records.queries.staff_list(ctx.brand_id, q.q, q.cursor, q.limit))


def create_staff(ctx: Context[StaffPort]) -> Reply:
    body: StaffIn = ctx.body
    result = ctx.port.identity.create_staff(
        ctx.brand_id,
        body.email,
        body.name,
        body.roles,
        body.password,
        body.companies,
        body.manager_id,
        invite=body.password is None,
        granter=ctx.principal,
    )
    invite = invite_link(str(ctx.request.base_url), result.invite) if result.invite else None

    def created() -> StaffCreatedOut | None:
        profile = _profile(ctx, result.id)
        if profile is None:
            return None
        return StaffCreatedOut.model_validate(profile, from_attributes=True).model_copy(update={"invite": invite})

    return ctx.written(result, Identity.name, created, f"/api/v1/staff/{result.id}")


def get_staff(ctx: Context[StaffPort]) -> Reply:
    staff_id = ctx.path["staff_id"]
    profile = _profile(ctx, staff_id)
    if profile is None:
        raise StaffNotFound(f"StaffUser {staff_id} not found", id=str(staff_id))
    return json_response(profile)


def update_staff(ctx: Context[StaffPort]) -> Reply:
    body: StaffPatch = ctx.body
    fields = body.model_dump(exclude_unset=True)
    manager = fields.pop("manager_id", UNCHANGED)
    result = ctx.port.identity.update_staff(
        ctx.brand_id,
        ctx.path["staff_id"],
        actor_id=ctx.principal.id,
        expected_version=ctx.expected_version(),
        manager_id=manager,
        granter=ctx.principal,
        **fields,
    )
    return _answer(ctx, result)


def disable_staff(ctx: Context[StaffPort]) -> Reply:
    return _answer(ctx, _set_enabled(ctx, False))


def enable_staff(ctx: Context[StaffPort]) -> Reply:
    return _answer(ctx, _set_enabled(ctx, True))


def _set_enabled(ctx: Context[StaffPort], enabled: bool) -> CommandResult:
    return ctx.port.identity.set_enabled(
        ctx.brand_id,
        ctx.path["staff_id"],
        enabled,
        ctx.principal.id,
        granter=ctx.principal,
    )


def schedule_leave(ctx: Context[StaffPort]) -> Reply:
    body: LeaveIn = ctx.body
    result = ctx.port.identity.schedule_leave(ctx.brand_id, ctx.path["staff_id"], body.start, body.end, body.reason)
    return _answer(ctx, result)


def cancel_leave(ctx: Context[StaffPort]) -> Reply:
    return _answer(ctx, ctx.port.identity.cancel_leave(ctx.brand_id, ctx.path["staff_id"], ctx.path["leave_id"]))


def issue_invite(ctx: Context[StaffPort]) -> Reply:
    invite = ctx.port.identity.issue_invite(ctx.brand_id, ctx.path["staff_id"], granter=ctx.principal)
    return json_response(invite_link(str(ctx.request.base_url), invite))


def accept_invite(ctx: Context[StaffPort]) -> Reply:
    body: InviteAcceptIn = ctx.body
    result = ctx.port.identity.accept_invite(body.code, body.password)
    return json_response(InviteAcceptedOut(staff_id=result.id, status="password set; sign in at /login"))


def staff_logins(ctx: Context[StaffPort]) -> Reply:
    return json_response({"items": ctx.port.records.logins(ctx.brand_id, ctx.path["staff_id"])})


def staff_sessions(ctx: Context[StaffPort]) -> Reply:
    return json_response({"items": ctx.port.records.sessions(ctx.brand_id, ctx.path["staff_id"])})


def staff_activity(ctx: Context[StaffPort]) -> Reply:
    q: RecordActivityQuery = ctx.query
    page = ctx.port.records.activity(
        ctx.brand_id,
        ctx.path["staff_id"],
        q.from_,
        q.to,
        q.cursor,
        q.limit,
        companies=ctx.principal.companies,
        aggregate_type=q.aggregate_type,
        aggregate_id=q.aggregate_id,
    )
    return json_response(page)


ENDPOINTS = serve(
    StaffPort,
    "staff",
    [
        Endpoint(
            "GET",
            "/api/v1/staff",
            list_staff,
            "Staff of the brand",
            READ,
            query=StaffSearch,
            response=StaffPageOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff",
            create_staff,
            "Create a staff user (with an invite unless a password is given)",
            WRITE,
            body=StaffIn,
            response=StaffCreatedOut,
            etag=True,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/{staff_id}",
            get_staff,
            "Staff profile with effective permissions and reports",
            READ,
            response=StaffOut,
            etag=True,
        ),
        Endpoint(
            "PATCH",
            "/api/v1/staff/{staff_id}",
            update_staff,
            "Edit profile, roles, permission overrides, manager, companies, availability",
            WRITE,
            body=StaffPatch,
            response=StaffOut,
            etag=True,
            if_match=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/{staff_id}/disable",
            disable_staff,
            "Disable (sessions and owned keys stop at once)",
            WRITE,
            response=StaffOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/{staff_id}/enable",
            enable_staff,
            "Enable a disabled staff user",
            WRITE,
            response=StaffOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/{staff_id}/leaves",
            schedule_leave,
            "Record leave dates",
            WRITE,
            body=LeaveIn,
            response=StaffOut,
            etag=True,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "DELETE",
            "/api/v1/staff/{staff_id}/leaves/{leave_id}",
            cancel_leave,
            "Cancel leave",
            WRITE,
            response=StaffOut,
            etag=True,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/staff/{staff_id}/invites",
            issue_invite,
            "Issue a one-time invite code (with a QR code as SVG)",
            WRITE,
            response=InviteOut,
            status=201,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/{staff_id}/logins",
            staff_logins,
            "Login history",
            READ,
            response=LoginListOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/{staff_id}/sessions",
            staff_sessions,
            "Session report (live sessions)",
            READ,
            response=SessionListOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/staff/{staff_id}/activity",
            staff_activity,
            "What this person did (on one kind of record, or one record: `aggregate_type`, `aggregate_id`)",
            READ,
            query=RecordActivityQuery,
            response=ActivityPageOut,
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
        ),
    ],
)
