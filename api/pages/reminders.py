"""Reminder pages: the brand's reminders with the filters of the API (channel, status, created and scheduled date
ranges, borrower name or phone), scheduling one (a borrower by id or phone, a template of the channel, a time in
the brand's time zone) and cancelling one before it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapters.engagement_store import EngagementStore
from api.routes.reminders import READ, WRITE, ReminderQuery, filters_of
from api.web import Page, act, after_write, error_text, form_text, keyset_page, not_found, pages, path_id, render
from domain.identity.application import Identity
from domain.identity.principal import Principal
from domain.reminders.application import Reminders
from domain.reminders.reminder import ReminderChannel, ReminderStatus
from domain.shared.clock import DEFAULT_TIMEZONE
from domain.shared.errors import DomainError, InvalidInput, InvalidValue, NotFound
from domain.shared.values import parse_date
from projections.customer_queries import CustomerQueries
from projections.reminders import ReminderQueries

FILTERS = ("channel", "status", "created_from", "created_to", "scheduled_from", "scheduled_to", "q")


@dataclass(frozen=True)
class ReminderPagePort:
    """What the reminder pages use."""

    reminders: Reminders
    queries: ReminderQueries
    identity: Identity
    templates: EngagementStore
    customers: CustomerQueries


def _query(request: Request) -> tuple[ReminderQuery, str | None]:
    """The list's filters from the address; a value that is not one of its kind is dropped and named."""
    values: dict[str, Any] = {}
    bad = []
    for name in FILTERS:
        raw = request.query_params.get(name, "").strip()
        if not raw:
            continue
        try:
            if name == "channel":
                values[name] = ReminderChannel(raw)
            elif name == "status":
                values[name] = ReminderStatus(raw)
            elif name == "q":
                values[name] = raw[:100]
            else:  # a day the house takes (1900 to 2200): a date beyond it once failed the page (500)
                values[name] = parse_date(raw, name)
        except (ValueError, InvalidValue):
            bad.append(name.replace("_", " "))
    notes = [f"ignored: {', '.join(bad)} (not a valid value)"] if bad else []
    try:
        query = ReminderQuery(**values)
    except InvalidInput as reversed_:  # a range whose end is before its start: its end is dropped, and named
        for error in reversed_.errors:
            values.pop(error.field, None)
            start = error.field.removesuffix("_to") + " from"
            notes.append(f"ignored: {error.field.replace('_', ' ')} (before {start})")
        query = ReminderQuery(**values)
    return query, "; ".join(notes) or None


async def _list(request: Request, port: ReminderPagePort, principal: Principal, error: str | None = None,
                form: dict[str, str] | None = None) -> Response:  # fmt: skip
    query, ignored = _query(request)

    def load() -> tuple[Any, Any, dict[str, int], str]:
        timezone = port.identity.timezone(principal.brand_id)
        filters = filters_of(query, timezone)
        page = keyset_page(request, lambda cursor: port.queries.reminders(principal.brand_id, filters, cursor, 50))
        templates = port.templates.templates(principal.brand_id, None, None, None, None, 200)
        return page, templates, port.queries.counts(principal.brand_id), timezone

    page, templates, counts, timezone = await run_in_threadpool(load)
    shown = {name: request.query_params.get(name, "") for name in FILTERS}
    more = (
        urlencode({**{k: v for k, v in shown.items() if v}, "cursor": page.next_cursor}) if page.next_cursor else None
    )
    return render(
        request,
        "reminders.html",
        422 if error else 200,
        nav="reminders",
        page=page,
        counts=counts,
        filters=shown,
        more=more,
        ignored=ignored,
        channels=[c.value for c in ReminderChannel],
        statuses=[s.value for s in ReminderStatus],
        templates=templates,
        can_edit=principal.holds(*WRITE),
        error=error,
        form=form or {"customer": request.query_params.get("customer_id", "")},
        timezone=timezone,
    )


async def reminders_page(request: Request, port: ReminderPagePort, principal: Principal) -> Response:
    return await _list(request, port, principal)


def _borrower(port: ReminderPagePort, brand_id: UUID, raw: str) -> UUID:
    """A borrower by id, or by a phone (or name) that finds exactly one borrower of the brand."""
    try:
        return UUID(raw)
    except ValueError:
        pass
    found = port.customers.search(brand_id, raw, None, 2).items if raw else []
    if len(found) != 1:
        raise InvalidValue("customer_id", "give the borrower's id, or a phone or name that finds exactly one")
    customer_id: UUID = found[0].id
    return customer_id


async def reminder_create(request: Request, port: ReminderPagePort, principal: Principal) -> Response:
    form = {name: form_text(request, name) for name in ("customer", "channel", "template_id", "scheduled_at")}
    try:
        channel = ReminderChannel(form["channel"])
        template_id = UUID(form["template_id"])
    except ValueError:
        return await _list(request, port, principal, "choose a channel and a template of it", form)
    timezone = getattr(request.state, "timezone", DEFAULT_TIMEZONE)
    try:
        local = datetime.fromisoformat(form["scheduled_at"])
    except ValueError:
        return await _list(request, port, principal, "scheduled at: give a date and time", form)
    at = local if local.tzinfo else local.replace(tzinfo=ZoneInfo(timezone))
    try:
        customer_id = await run_in_threadpool(_borrower, port, principal.brand_id, form["customer"].strip())
        result = await act(
            principal, lambda: port.reminders.schedule(principal.brand_id, customer_id, channel, template_id, at)
        )
    except DomainError as exc:
        return await _list(request, port, principal, error_text(exc), form)
    return await after_write(request, Reminders.name, result.position, "/reminders")


async def reminder_cancel(request: Request, port: ReminderPagePort, principal: Principal) -> Response:
    reminder_id = path_id(request, "reminder_id")
    if reminder_id is None:
        return await not_found(request)
    reason = form_text(request, "reason") or "cancelled by staff"
    try:
        result = await act(principal, lambda: port.reminders.cancel(principal.brand_id, reminder_id, reason))
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _list(request, port, principal, error_text(exc))
    return await after_write(request, Reminders.name, result.position, "/reminders")


PAGES = pages(
    ReminderPagePort,
    [
        Page("GET", "/reminders", reminders_page, READ),
        Page("POST", "/reminders", reminder_create, WRITE, form=True),
        Page("POST", "/reminders/{reminder_id}/cancel", reminder_cancel, WRITE, form=True),
    ],
)
