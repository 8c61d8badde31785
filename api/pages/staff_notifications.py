"""Staff notification pages: my notices (the bell's full list) with acknowledging, and the admins' page to write a
notice (to roles or named staff, optionally scheduled) and to see who read each one and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.pages.actors import actor_names
from api.routes.staff_notifications import READ, WRITE, StaffNotificationPort, notice_out, reader
from api.web import Page, act, after_write, error_text, form_text, keyset_page, not_found, pages, path_id, render
from domain.identity.permissions import ROLES
from domain.identity.principal import Principal
from domain.shared.clock import DEFAULT_TIMEZONE
from domain.shared.errors import DomainError, InvalidValue
from domain.staff_notices.application import StaffNotices
from domain.staff_notices.notice import Priority


async def my_notifications(request: Request, port: StaffNotificationPort, principal: Principal) -> Response:
    me, _, _, roles = reader(principal)

    def load() -> tuple[Any, int]:
        now = port.clock.now()
        unread_only = request.query_params.get("show") == "unread"
        page = keyset_page(request, lambda cursor: port.queries.mine(principal.brand_id, me, roles, now, unread_only,
                                                                     cursor, 50))  # fmt: skip
        return page, port.queries.unread(principal.brand_id, me, roles, now)

    page, unread = await run_in_threadpool(load)
    return render(request, "staff_notifications_mine.html", nav="notifications", page=page, unread=unread)


async def acknowledge(request: Request, port: StaffNotificationPort, principal: Principal) -> Response:
    notice_id = path_id(request, "notice_id")
    if notice_id is None:
        return await not_found(request)
    me, kind, name, roles = reader(principal)
    try:
        result = await act(
            principal, lambda: port.notices.acknowledge(principal.brand_id, notice_id, me, kind, name, roles)
        )
    except DomainError:
        return await not_found(request)
    back = form_text(request, "back")
    target = back if back.startswith("/") and not back.startswith("//") else "/notifications"
    return await after_write(request, StaffNotices.name, result.position, target)


async def _admin(request: Request, port: StaffNotificationPort, principal: Principal, error: str | None = None,
                 form: dict[str, str] | None = None) -> Response:  # fmt: skip
    def load() -> Any:
        return keyset_page(request, lambda cursor: port.queries.notices(principal.brand_id, cursor, 50))

    page = await run_in_threadpool(load)
    items = [notice_out(row, port.clock) for row in page.items]
    actors = await run_in_threadpool(actor_names, port.identity, principal.brand_id, {n.created_by for n in items})
    return render(
        request,
        "staff_notifications_admin.html",
        422 if error else 200,
        nav="staff-notifications",
        items=items,
        actors=actors,
        next_cursor=page.next_cursor,
        roles=[(role, label) for role, (label, _) in ROLES.items()],
        priorities=[p.value for p in Priority],
        can_edit=principal.holds(*WRITE),
        error=error,
        form=form or {},
    )


async def admin_page(request: Request, port: StaffNotificationPort, principal: Principal) -> Response:
    return await _admin(request, port, principal)


def _publish_at(raw: str, timezone: str) -> datetime | None:
    """A `datetime-local` value in the brand's time zone, as an instant (empty: now)."""
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue("publish_at", "give a date and time (YYYY-MM-DDTHH:MM)") from None
    return local if local.tzinfo else local.replace(tzinfo=ZoneInfo(timezone))


async def create(request: Request, port: StaffNotificationPort, principal: Principal) -> Response:
    form = {name: form_text(request, name) for name in ("title", "body", "priority", "publish_at", "staff_ids")}
    roles = [str(r) for r in request.state.form.getlist("roles")]
    try:
        priority = Priority(form["priority"])
    except ValueError:
        return await _admin(request, port, principal, "choose a priority (HIGH, MEDIUM or LOW)", form)
    try:
        staff_ids = [UUID(s.strip()) for s in form["staff_ids"].replace(",", " ").split() if s.strip()]
    except ValueError:
        return await _admin(request, port, principal, "staff ids: give staff ids separated by spaces or commas", form)
    try:
        publish_at = _publish_at(form["publish_at"], getattr(request.state, "timezone", DEFAULT_TIMEZONE))
        result = await act(
            principal,
            lambda: port.notices.publish(
                principal.brand_id, form["title"], form["body"], priority, roles, staff_ids, publish_at
            ),
        )
    except DomainError as exc:
        return await _admin(request, port, principal, error_text(exc), form)
    return await after_write(request, StaffNotices.name, result.position, "/staff-notifications")


async def receipts_page(request: Request, port: StaffNotificationPort, principal: Principal) -> Response:
    notice_id = path_id(request, "notice_id")
    if notice_id is None:
        return await not_found(request)

    def load() -> Any:
        row = port.queries.notice(principal.brand_id, notice_id)
        return (notice_out(row, port.clock), port.queries.receipts(principal.brand_id, notice_id)) if row else None

    found = await run_in_threadpool(load)
    if found is None:
        return await not_found(request)
    notice, receipts = found
    actors = await run_in_threadpool(actor_names, port.identity, principal.brand_id, {notice.created_by})
    return render(
        request, "staff_notification_receipts.html", nav="staff-notifications", notice=notice, receipts=receipts,
        actors=actors,
    )  # fmt: skip


PAGES = pages(
    StaffNotificationPort,
    [
        Page("GET", "/notifications", my_notifications, None),
        Page("POST", "/notifications/{notice_id}/ack", acknowledge, None, form=True),
        Page("GET", "/staff-notifications", admin_page, READ),
        Page("POST", "/staff-notifications", create, WRITE, form=True),
        Page("GET", "/staff-notifications/{notice_id}", receipts_page, READ),
    ],
)
