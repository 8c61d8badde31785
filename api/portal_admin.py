"""Portal pages for brand administration: staff, permissions, settings and history, API keys, blocklist, invites."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from api.portal import page
from api.request_input import MAX_JSON_DEPTH, nests_deeper_than
from api.web import input_problem, keyset_page, not_found, render
from domain.identity.application import UNCHANGED, Principal
from domain.identity.brand_config import BrandSettings
from domain.identity.permissions import ROLES, Level, Permission
from domain.shared.aggregate import acting_as
from domain.shared.errors import DomainError, InvalidInput

T = TypeVar("T")

STAFF_READ = (Permission.PARTNER_USER_MANAGEMENT, Level.READ)
STAFF_WRITE = (Permission.PARTNER_USER_MANAGEMENT, Level.WRITE)


async def _act(principal: Principal, work: Callable[[], T]) -> T:
    """Run a use case in a worker thread as the signed-in staff member."""

    def run() -> T:
        with acting_as(principal.actor):
            return work()

    return await run_in_threadpool(run)


def _error_text(exc: DomainError) -> str:
    if isinstance(exc, InvalidInput):
        return "; ".join(f"{e.field.replace('_', ' ')}: {e.message}" for e in exc.errors)
    return exc.message


def _uuid(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


def _invite(request: Request, invite: Any) -> dict[str, Any]:
    url = f"{str(request.base_url).rstrip('/')}/invite/{invite.code}"
    return {"url": url, "expires_at": invite.expires_at, "qr_svg": segno.make(url, error="m").svg_inline(scale=4)}


# Staff ------------------------------------------------------------------------------------------------------


@page(STAFF_READ)
async def staff_list(request: Request, platform: Any, principal: Principal) -> Response:
    return await _staff_list(request, platform, principal)


async def _staff_list(request: Request, platform: Any, principal: Principal, error: str | None = None) -> Response:
    q = request.query_params.get("q", "").strip()[:100]
    result = await run_in_threadpool(
        keyset_page,
        request,
        lambda cursor: platform.identity_queries.staff_list(principal.brand_id, q or None, cursor, 50),
    )
    status = 422 if error else 200
    return render(
        request,
        "staff_list.html",
        status,
        staff=result,
        q=q,
        roles=ROLES,
        principal=principal,
        nav="staff",
        error=error,
    )


@page(STAFF_WRITE, form=True)
async def staff_create(request: Request, platform: Any, principal: Principal) -> Response:
    form = request.state.form
    companies = [c for c in str(form.get("companies", "")).split(",") if c.strip()]
    manager = _uuid(str(form.get("manager_id", "")))
    try:
        result = await _act(
            principal,
            lambda: platform.identity.create_staff(
                principal.brand_id,
                str(form.get("email", "")),
                str(form.get("name", "")),
                form.getlist("roles"),
                None,
                companies,
                manager,
            ),
        )
        invite = await _act(principal, lambda: platform.identity.issue_invite(principal.brand_id, result.id))
    except DomainError as exc:
        return await _staff_list(request, platform, principal, error=_error_text(exc))
    await run_in_threadpool(platform.engine.wait_for, "identity", invite.position)
    return await _profile(request, platform, principal, result.id, invite=_invite(request, invite))


async def _profile(
    request: Request, platform: Any, principal: Principal, staff_id: UUID, invite: Any = None, error: str | None = None
) -> Response:
    def load() -> dict[str, Any] | None:
        view = platform.identity_queries.staff(principal.brand_id, staff_id)
        if view is None:
            return None
        staff = platform.identity.staff(principal.brand_id, staff_id)
        return {
            "s": view,
            "grants": {p.value: level.value for p, level in staff.grants.items()},
            "role_defaults": {p.value for role in staff.roles for p in ROLES[role][1]},
            "manager": platform.identity_queries.staff(principal.brand_id, view.manager_id)
            if view.manager_id
            else None,
            "reports": platform.identity_queries.reports(principal.brand_id, staff_id),
            "colleagues": platform.identity_queries.staff_list(principal.brand_id, None, None, 200).items,
            "logins": platform.identity_queries.logins(principal.brand_id, staff_id, 20),
            "sessions": platform.ops.sessions_of(staff_id, platform.clock.now()),
            "activity": platform.activity_queries.entries(
                principal.brand_id, actor=f"staff:{staff_id}", limit=20
            ).items,
        }

    data = await run_in_threadpool(load)
    if data is None:
        return await not_found(request)
    can_edit = (principal.grants.get(Permission.PARTNER_USER_MANAGEMENT) or Level.READ).covers(Level.WRITE)
    status = 422 if error else 200
    return render(
        request,
        "staff_profile.html",
        status,
        principal=principal,
        nav="staff",
        roles=ROLES,
        permissions=[p.value for p in Permission],
        can_edit=can_edit,
        invite=invite,
        error=error,
        **data,
    )


@page(STAFF_READ)
async def staff_profile(request: Request, platform: Any, principal: Principal) -> Response:
    staff_id = _uuid(request.path_params["staff_id"])
    if staff_id is None:
        return await not_found(request)
    return await _profile(request, platform, principal, staff_id)


def _staff_action(action: Callable[[Any, Principal, UUID, Any], Any]) -> Callable[[Request], Any]:
    """A POST on a staff profile: run the use case, then show the profile (with the error, if any)."""

    @page(STAFF_WRITE, form=True)
    async def endpoint(request: Request, platform: Any, principal: Principal) -> Response:
        staff_id = _uuid(request.path_params["staff_id"])
        if staff_id is None:
            return await not_found(request)
        form = request.state.form
        try:
            result = await _act(principal, lambda: action(platform, principal, staff_id, form))
        except DomainError as exc:
            return await _profile(request, platform, principal, staff_id, error=_error_text(exc))
        if getattr(result, "code", None):  # a fresh invite: show it once
            await run_in_threadpool(platform.engine.wait_for, "identity", result.position)
            return await _profile(request, platform, principal, staff_id, invite=_invite(request, result))
        if getattr(result, "position", 0):
            await run_in_threadpool(platform.engine.wait_for, "identity", result.position)
        return RedirectResponse(f"/staff/{staff_id}", status_code=303)

    endpoint.__name__ = action.__name__
    return endpoint


def edit_staff(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    manager_raw = str(form.get("manager_id", ""))
    return platform.identity.update_staff(
        principal.brand_id,
        staff_id,
        actor_id=principal.id,
        name=str(form.get("name", "")) or None,
        email=str(form.get("email", "")) or None,
        roles=form.getlist("roles"),
        companies=[c for c in str(form.get("companies", "")).split(",") if c.strip()],
        manager_id=_uuid(manager_raw) if manager_raw else None,
        available=form.get("available") == "on",
    )


def edit_permissions(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    overrides: dict[str, str | None] = {}
    current = platform.identity.staff(principal.brand_id, staff_id).overrides
    for permission in Permission:
        choice = str(form.get(f"perm_{permission.value}", "default"))
        if choice == "default":
            if permission in current:
                overrides[permission.value] = None
        else:
            overrides[permission.value] = choice
    return platform.identity.update_staff(
        principal.brand_id, staff_id, actor_id=principal.id, permissions=overrides, manager_id=UNCHANGED
    )


def add_leave(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    try:
        start, end = date.fromisoformat(str(form.get("start"))), date.fromisoformat(str(form.get("end")))
    except ValueError:
        raise InvalidInput([]) from None
    return platform.identity.schedule_leave(principal.brand_id, staff_id, start, end, str(form.get("reason", "")))


def cancel_leave(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    leave_id = _uuid(str(form.get("leave_id", "")))
    if leave_id is None:
        raise InvalidInput([])
    return platform.identity.cancel_leave(principal.brand_id, staff_id, leave_id)


def disable(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    result = platform.identity.set_enabled(principal.brand_id, staff_id, False, actor_id=principal.id)
    platform.ops.end_sessions_of(staff_id)
    return result


def enable(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    return platform.identity.set_enabled(principal.brand_id, staff_id, True, actor_id=principal.id)


def invite(platform: Any, principal: Principal, staff_id: UUID, form: Any) -> Any:
    return platform.identity.issue_invite(principal.brand_id, staff_id)


# Settings ------------------------------------------------------------------------------------------------------


async def _settings(
    request: Request, platform: Any, principal: Principal, error: str | None = None, status: int = 200
) -> Response:
    def load() -> dict[str, Any]:
        config = platform.identity.configuration(principal.brand_id)
        history = keyset_page(
            request, lambda cursor: platform.identity_queries.config_history(principal.brand_id, cursor, 50)
        )
        return {
            "config": config.settings,
            "history": history,
            "business_date": platform.identity.business_date(principal.brand_id),
        }

    data = await run_in_threadpool(load)
    can_edit = (principal.grants.get(Permission.BRAND_SETTINGS) or Level.READ).covers(Level.WRITE)
    fields = BrandSettings.model_fields
    return render(
        request,
        "settings.html",
        status,
        principal=principal,
        nav="settings",
        fields=fields,
        can_edit=can_edit,
        error=error,
        **data,
    )


@page((Permission.BRAND_SETTINGS, Level.READ))
async def settings_page(request: Request, platform: Any, principal: Principal) -> Response:
    return await _settings(request, platform, principal)


@page((Permission.BRAND_SETTINGS, Level.WRITE), form=True)
async def settings_save(request: Request, platform: Any, principal: Principal) -> Response:
    form = request.state.form
    updates: dict[str, Any] = {}
    bad_json = []
    for name, field in BrandSettings.model_fields.items():
        if field.annotation is bool:
            updates[name] = form.get(name) == "on"
        elif name in form:
            raw = str(form.get(name)).strip()
            if isinstance(field.default_factory, type) and field.default_factory is dict:
                try:
                    if nests_deeper_than(raw.encode(), MAX_JSON_DEPTH):
                        raise ValueError("nested too deep")
                    updates[name] = json.loads(raw or "{}")
                except ValueError:  # not JSON (JSONDecodeError), or nested too deep to parse
                    bad_json.append(name)
            else:
                updates[name] = raw or None if name == "business_date" else raw
    if bad_json:
        return await _settings(
            request,
            platform,
            principal,
            error=f'{", ".join(bad_json)}: write it as JSON, e.g. {{"monthly": 7}}',
            status=422,
        )
    try:
        result, _ = await _act(principal, lambda: platform.identity.change_configuration(principal.brand_id, updates))
    except DomainError as exc:
        return await _settings(request, platform, principal, error=_error_text(exc), status=422)
    if result.position:
        await run_in_threadpool(platform.engine.wait_for, "identity", result.position)
    return RedirectResponse("/settings", status_code=303)


# API keys --------------------------------------------------------------------------------------------------------


async def _keys(
    request: Request, platform: Any, principal: Principal, new_key: Any = None, error: str | None = None
) -> Response:
    keys = await run_in_threadpool(platform.identity_queries.api_keys, principal.brand_id)
    can_edit = (principal.grants.get(Permission.API_KEYS) or Level.READ).covers(Level.WRITE)
    roles = {k: v for k, v in ROLES.items() if k != "super_admin" or principal.cross_brand}
    status = 422 if error else 201 if new_key else 200
    return render(
        request,
        "api_keys.html",
        status,
        principal=principal,
        nav="keys",
        keys=keys,
        roles=roles,
        can_edit=can_edit,
        new_key=new_key,
        error=error,
    )


@page((Permission.API_KEYS, Level.READ))
async def keys_page(request: Request, platform: Any, principal: Principal) -> Response:
    return await _keys(request, platform, principal)


@page((Permission.API_KEYS, Level.WRITE), form=True)
async def keys_create(request: Request, platform: Any, principal: Principal) -> Response:
    form = request.state.form
    try:
        issued = await _act(
            principal,
            lambda: platform.identity.issue_api_key(
                principal.brand_id, str(form.get("role", "")), str(form.get("label", "")), owner_id=principal.id,
                may_grant_cross_brand=principal.cross_brand,
            ),
        )  # fmt: skip
    except DomainError as exc:
        return await _keys(request, platform, principal, error=_error_text(exc))
    await run_in_threadpool(platform.engine.wait_for, "identity", issued.position)
    response = await _keys(request, platform, principal, new_key=issued)
    response.headers["Cache-Control"] = "no-store"
    return response


@page((Permission.API_KEYS, Level.WRITE), form=True)
async def keys_revoke(request: Request, platform: Any, principal: Principal) -> Response:
    key_id = _uuid(request.path_params["key_id"])
    if key_id is None:
        return await not_found(request)
    try:
        result = await _act(principal, lambda: platform.identity.revoke_api_key(principal.brand_id, key_id))
    except DomainError as exc:
        return await _keys(request, platform, principal, error=_error_text(exc))
    await run_in_threadpool(platform.engine.wait_for, "identity", result.position)
    return RedirectResponse("/api-keys", status_code=303)


# Invites (public) ------------------------------------------------------------------------------------------------


async def invite_form(request: Request) -> Response:
    return render(request, "invite.html", code=request.path_params["code"], error=None)


async def invite_accept(request: Request) -> Response:
    platform = request.app.state.platform
    form = await request.form()
    code = request.path_params["code"]
    password, confirm = str(form.get("password", "")), str(form.get("confirm", ""))
    problem = input_problem(request, form)
    if problem is not None:
        return render(request, "invite.html", 422, code=code[:200], error=problem)
    if password != confirm:
        return render(request, "invite.html", 422, code=code, error="The two passwords differ.")
    try:
        with acting_as("invitee"):
            await run_in_threadpool(platform.identity.accept_invite, code, password)
    except DomainError as exc:
        return render(request, "invite.html", 422, code=code, error=_error_text(exc))
    return RedirectResponse("/login?next=/customers", status_code=303)


ROUTES = [
    Route("/staff", staff_list, methods=["GET"]),
    Route("/staff", staff_create, methods=["POST"]),
    Route("/staff/{staff_id}", staff_profile, methods=["GET"]),
    Route("/staff/{staff_id}/edit", _staff_action(edit_staff), methods=["POST"]),
    Route("/staff/{staff_id}/permissions", _staff_action(edit_permissions), methods=["POST"]),
    Route("/staff/{staff_id}/leaves", _staff_action(add_leave), methods=["POST"]),
    Route("/staff/{staff_id}/leaves/cancel", _staff_action(cancel_leave), methods=["POST"]),
    Route("/staff/{staff_id}/disable", _staff_action(disable), methods=["POST"]),
    Route("/staff/{staff_id}/enable", _staff_action(enable), methods=["POST"]),
    Route("/staff/{staff_id}/invite", _staff_action(invite), methods=["POST"]),
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", settings_save, methods=["POST"]),
    Route("/api-keys", keys_page, methods=["GET"]),
    Route("/api-keys", keys_create, methods=["POST"]),
    Route("/api-keys/{key_id}/revoke", keys_revoke, methods=["POST"]),
    Route("/invite/{code}", invite_form, methods=["GET"]),
    Route("/invite/{code}", invite_accept, methods=["POST"]),
]
