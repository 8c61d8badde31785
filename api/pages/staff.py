"""Staff pages: the brand's staff, adding someone (with a one-time invite), the profile with its editors (profile,
roles, permission overrides, leave, enabling, invites), login history, live sessions and recent activity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from api.routes.staff import READ, WRITE, InviteOut, StaffPort, invite_link
from api.services.staff import LiveSession
from api.web import (
    PENDING,
    Page,
    TypedForm,
    act,
    after_write,
    as_id,
    error_text,
    form_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    render,
)
from domain.identity.application import Identity, IssuedInvite
from domain.identity.permissions import ROLES, Permission
from domain.identity.principal import Principal
from domain.shared.application import CommandResult, ConcurrentModification
from domain.shared.errors import DomainError, InvalidInput
from domain.shared.values import whole_number
from projections.activity import ActivityEntry
from projections.identity import LoginView, StaffView


def _companies(request: Request) -> list[str]:
    return [c for c in form_text(request, "companies").split(",") if c.strip()]


async def _staff_list(request: Request, port: StaffPort, principal: Principal, error: str | None = None) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    queries = port.records.queries
    result = await run_in_threadpool(
        keyset_page, request, lambda cursor: queries.staff_list(principal.brand_id, q or None, cursor, 50)
    )
    return render(
        request, "staff_list.html", 422 if error else 200, staff=result, q=q, roles=ROLES, nav="staff", error=error
    )


async def staff_list(request: Request, port: StaffPort, principal: Principal) -> Response:
    return await _staff_list(request, port, principal)


async def staff_create(request: Request, port: StaffPort, principal: Principal) -> Response:
    form: FormData = request.state.form
    email, name, roles = form_text(request, "email"), form_text(request, "name"), form.getlist("roles")
    manager = as_id(form_text(request, "manager_id"))
    try:
        result = await act(
            principal,
            lambda: port.identity.create_staff(
                principal.brand_id,
                email,
                name,
                [str(r) for r in roles],
                None,
                _companies(request),
                manager,
                invite=True,
                granter=principal,
            ),
        )
    except DomainError as exc:
        return await _staff_list(request, port, principal, error=error_text(exc))
    assert result.invite is not None
    return await _show_invite(request, port, principal, result.invite)


@dataclass(frozen=True)
class _Profile:
    """What the profile page shows."""

    s: StaffView
    manager: StaffView | None
    reports: list[StaffView]
    colleagues: list[StaffView]
    logins: list[LoginView]
    sessions: list[LiveSession]
    activity: list[ActivityEntry]
    grants: dict[str, str]
    role_defaults: set[str]


def _load_profile(port: StaffPort, brand_id: UUID, staff_id: UUID, companies: tuple[str, ...] = ()) -> _Profile | None:
    """The profile page's data; its recent activity on the records of `companies` (the viewer's; empty: every one)."""
    queries, records = port.records.queries, port.records
    view = queries.staff(brand_id, staff_id)
    if view is None:
        return None
    return _Profile(
        s=view,
        manager=queries.staff(brand_id, view.manager_id) if view.manager_id else None,
        reports=queries.reports(brand_id, staff_id),
        colleagues=queries.staff_list(brand_id, None, None, 200).items,
        logins=records.logins(brand_id, staff_id, 20),
        sessions=records.sessions(brand_id, staff_id),
        activity=records.activity(brand_id, staff_id, limit=20, companies=companies).items,
        grants=view.permissions,
        role_defaults={p.value for role in view.roles for p in ROLES[role][1]},
    )


async def _profile(
    request: Request,
    port: StaffPort,
    principal: Principal,
    staff_id: UUID,
    invite: InviteOut | None = None,
    error: str | None = None,
    conflict: bool = False,
) -> Response:
    """The profile; a refused form (422) comes back as typed, a conflicting one (409: changed since the page was
    opened) as the staff user is now, since its typed values would carry the stale ones back."""
    data = await run_in_threadpool(_load_profile, port, principal.brand_id, staff_id, principal.companies)
    if data is None:
        return await not_found(request)
    extra: dict[str, Any] = {"kept": lambda action: TypedForm()} if conflict else {}
    return render(
        request,
        "staff_profile.html",
        409 if conflict else 422 if error else 200,
        **extra,
        nav="staff",
        roles=ROLES,
        permissions=[p.value for p in Permission],
        can_edit=principal.holds(*WRITE),
        invite=invite,
        error=error,
        **{name: getattr(data, name) for name in data.__dataclass_fields__},
    )


async def _show_invite(request: Request, port: StaffPort, principal: Principal, invite: IssuedInvite) -> Response:
    """The profile with a fresh invite, shown once (so shown now, saying so if the profile is not caught up)."""
    if not await run_in_threadpool(port.records.caught_up, invite.position):
        request.state.info = PENDING
    return await _profile(request, port, principal, invite.staff_id, invite=invite_link(str(request.base_url), invite))


async def staff_profile(request: Request, port: StaffPort, principal: Principal) -> Response:
    staff_id = path_id(request, "staff_id")
    if staff_id is None:
        return await not_found(request)
    return await _profile(request, port, principal, staff_id)


#: A change made from the profile page: the use case, run as the signed-in staff member.
Action = Callable[[StaffPort, Principal, UUID, Request], CommandResult]


def _staff_action(action: Action) -> Callable[[Request, StaffPort, Principal], Awaitable[Response]]:
    """A form on a staff profile: run the use case, then show the profile (with the error, if any)."""

    async def handler(request: Request, port: StaffPort, principal: Principal) -> Response:
        staff_id = path_id(request, "staff_id")
        if staff_id is None:
            return await not_found(request)
        try:
            result = await act(principal, lambda: action(port, principal, staff_id, request))
        except DomainError as exc:
            conflict = isinstance(exc, ConcurrentModification)
            return await _profile(request, port, principal, staff_id, error=error_text(exc), conflict=conflict)
        return await after_write(request, Identity.name, result.position, f"/staff/{staff_id}")

    handler.__name__ = action.__name__
    return handler


def edit_staff(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    form: FormData = request.state.form
    manager_raw = form_text(request, "manager_id")
    return port.identity.update_staff_shown(
        principal.brand_id,
        staff_id,
        _shown_version(request),
        actor_id=principal.id,
        name=form_text(request, "name") or None,
        email=form_text(request, "email") or None,
        roles=[str(r) for r in form.getlist("roles")],
        companies=_companies(request),
        manager_id=as_id(manager_raw) if manager_raw else None,
        available=form_text(request, "available") == "on",
        granter=principal,
    )


def edit_permissions(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    overrides: dict[str, str | None] = {}
    for permission in Permission:
        choice = form_text(request, f"perm_{permission.value}", "default")
        overrides[permission.value] = None if choice == "default" else choice
    return port.identity.update_staff_shown(
        principal.brand_id,
        staff_id,
        _shown_version(request),
        actor_id=principal.id,
        permissions=overrides,
        granter=principal,
    )


def _shown_version(request: Request) -> int | None:
    """The version of the staff user the form was made from (its changes are what it changes from that)."""
    shown = form_text(request, "expected_version")
    return whole_number(shown)


def add_leave(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    try:
        start, end = date.fromisoformat(form_text(request, "start")), date.fromisoformat(form_text(request, "end"))
    except ValueError:
        raise InvalidInput([]) from None
    reason = form_text(request, "reason")
    return port.identity.schedule_leave(principal.brand_id, staff_id, start, end, reason)


def cancel_leave(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    leave_id = as_id(form_text(request, "leave_id"))
    if leave_id is None:
        raise InvalidInput([])
    return port.identity.cancel_leave(principal.brand_id, staff_id, leave_id)


def _set_enabled(port: StaffPort, principal: Principal, staff_id: UUID, enabled: bool) -> CommandResult:
    return port.identity.set_enabled(
        principal.brand_id,
        staff_id,
        enabled,
        actor_id=principal.id,
        granter=principal,
    )


def disable(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    return _set_enabled(port, principal, staff_id, False)


def enable(port: StaffPort, principal: Principal, staff_id: UUID, request: Request) -> CommandResult:
    return _set_enabled(port, principal, staff_id, True)


async def invite(request: Request, port: StaffPort, principal: Principal) -> Response:
    staff_id = path_id(request, "staff_id")
    if staff_id is None:
        return await not_found(request)
    try:
        issued = await act(
            principal,
            lambda: port.identity.issue_invite(principal.brand_id, staff_id, granter=principal),
        )
    except DomainError as exc:
        return await _profile(request, port, principal, staff_id, error=error_text(exc))
    return await _show_invite(request, port, principal, issued)


PAGES = pages(
    StaffPort,
    [
        Page("GET", "/staff", staff_list, READ),
        Page("POST", "/staff", staff_create, WRITE, form=True),
        Page("GET", "/staff/{staff_id}", staff_profile, READ),
        Page("POST", "/staff/{staff_id}/edit", _staff_action(edit_staff), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/permissions", _staff_action(edit_permissions), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/leaves", _staff_action(add_leave), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/leaves/cancel", _staff_action(cancel_leave), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/disable", _staff_action(disable), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/enable", _staff_action(enable), WRITE, form=True),
        Page("POST", "/staff/{staff_id}/invite", invite, WRITE, form=True),
    ],
)
