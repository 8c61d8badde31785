"""Portal pages for auditors: the audit trail (who did what, when) and a record's replay (every event, the state as
of any instant, what changed between two instants), over auditor replay and the activity log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.actors import actor_names
from api.web import Page, keyset_page, local_time, not_found, pages, render, templates
from domain.audit.replay import AuditedType, AuditReplay, AuditTargetNotFound, HistoryPage, snake
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.aggregate import SECRET_FIELDS
from domain.shared.clock import Clock
from domain.shared.errors import InvalidValue
from domain.shared.values import check_date_range, check_offset
from projections.activity import ActivityQueries
from projections.identity import IdentityQueries
from projections.keyset import Page as ListPage

READ = (Permission.AUDIT_REPLAY, Level.READ)


@dataclass(frozen=True)
class AuditPagesPort:
    """What the audit pages use: replay, the activity trail, and the staff and API keys that name its actors."""

    replay: AuditReplay
    activity: ActivityQueries
    identity: Identity
    identity_queries: IdentityQueries
    clock: Clock


TRAIL_PAGE = 50
#: Event fields the portal never shows, even to auditors: hashes of passwords, API key secrets and invite codes.
DEFAULT_TYPE = "customer_record"


# Instants ---------------------------------------------------------------------------------------------------


class BadInstant(ValueError):
    """Raised when a query value is neither an ISO-8601 instant nor a datetime-local value."""


def parse_instant(raw: str, tz: str) -> datetime:
    """An instant from a query value, in UTC: ISO-8601 with an offset (the timeline's links) exactly, or a
    `datetime-local` value (no offset) read as the brand's local time; within the dates and offsets any input may
    name (`check_date_range`, `check_offset`): year 9999 in UTC overflowed showing it back in the brand's time."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=ZoneInfo(tz))
        check_date_range(parsed, "instant")
        return check_offset(parsed, "instant").astimezone(UTC)
    except (ValueError, OverflowError, InvalidValue):
        raise BadInstant(raw) from None


def local_input(instant: datetime | None, tz: str, round_up: bool = True) -> str:
    """The value of a `datetime-local` input (step 0.001) for an instant, in the brand's time, to the millisecond.

    Rounded up by default, so submitting the form unchanged still includes an event recorded at the instant
    (events keep microseconds; the input keeps milliseconds)."""
    if instant is None:
        return ""
    local = instant.astimezone(ZoneInfo(tz))
    extra = local.microsecond % 1000
    if extra:
        local += timedelta(microseconds=1000 - extra) if round_up else -timedelta(microseconds=extra)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def _instant_param(request: Request, name: str, label: str, errors: list[str]) -> datetime | None:
    raw = (request.query_params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return parse_instant(raw, request.state.timezone)
    except BadInstant:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        errors.append(f"{label}: “{shown}” is not a date and time; use the picker (day, then time).")
        return None


# Values as auditors read them -------------------------------------------------------------------------------


def audit_value(value: Any, tz: str) -> str:
    """A replayed or recorded JSON value as text: instants in the brand's time (the recorded value in brackets),
    flat lists and mappings joined, deeper values as compact JSON, nothing as `—`."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if "T" in value and 19 <= len(value) <= 40:
            try:
                instant = datetime.fromisoformat(value)
            except ValueError:
                return value
            if instant.tzinfo is not None:
                return f"{local_time(instant, tz, '%d %b %Y %H:%M:%S')} ({value})"
        return value if value else "“” (empty)"
    if isinstance(value, list) and not value:
        return "none"
    if isinstance(value, list) and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) and not value:
        return "none"
    if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
        if all(v is None for v in value.values()):
            return ", ".join(str(k) for k in value)  # a set kept as a mapping, e.g. phones without labels
        return "; ".join(f"{k}: {audit_value(v, tz)}" for k, v in value.items())
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return str(value)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def type_label(type_name: str) -> str:
    """customer_record -> customer record."""
    return type_name.replace("_", " ")


def visible(data: dict[str, Any]) -> dict[str, Any]:
    """An event's fields for the timeline: `shown` as (field, value, hidden) in order, secrets listed but never
    shown; `empty`, the fields the event left null (for an update, usually "not changed"), named together."""
    return {
        "shown": [(k, None, True) if k in SECRET_FIELDS else (k, v, False) for k, v in data.items() if v is not None],
        "empty": [k for k, v in data.items() if v is None],
    }


templates.filters["audit_value"] = audit_value
templates.filters["type_label"] = type_label
templates.filters["visible"] = visible


def _types(port: AuditPagesPort) -> list[str]:
    return sorted(port.replay.types)


def _record_id(raw: str) -> UUID | None:
    try:
        return UUID(raw)
    except ValueError:
        return None


# The audit trail --------------------------------------------------------------------------------------------


async def trail(request: Request, port: AuditPagesPort, principal: Principal) -> Response:
    return await _trail(request, port, principal)


async def _trail(
    request: Request,
    port: AuditPagesPort,
    principal: Principal,
    open_error: str | None = None,
    open_values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    params = request.query_params
    tz = request.state.timezone
    errors: list[str] = []
    actor = (params.get("actor") or "").strip()[:200] or None
    type_name = (params.get("aggregate_type") or "").strip()[:60] or None
    audited: AuditedType | None = None
    if type_name:
        try:
            audited = port.replay.resolve(type_name)
        except InvalidValue:
            errors.append(f"Record type: “{type_name[:40]}” is not a type of record that can be audited.")
    raw_id = (params.get("aggregate_id") or "").strip()[:60]
    aggregate_id = _record_id(raw_id) if raw_id else None
    if raw_id and aggregate_id is None:
        errors.append("Record id: not a record id (ids look like 3f2b8c4e-1d2a-4b5c-9e8f-0a1b2c3d4e5f).")
    since = _instant_param(request, "from", "From", errors)
    until = _instant_param(request, "to", "To", errors)
    if since and until and until <= since:
        errors.append("To must be after From.")
    try:
        limit = min(max(int(params.get("limit", TRAIL_PAGE)), 1), 200)
    except ValueError:
        limit = TRAIL_PAGE

    aggregate_type = audited.cls.__name__ if audited else None

    def entries(cursor: str | None) -> ListPage:
        return port.activity.entries(
            principal.brand_id,
            actor=actor,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
            companies=principal.companies,
        )

    def load() -> dict[str, Any]:
        rows = keyset_page(request, entries) if not errors else ListPage(items=[], next_cursor=None)
        names = actor_names(
            port.identity, principal.brand_id, {r.actor for r in rows.items} | ({actor} if actor else set())
        )
        staff = port.identity_queries.staff_list(principal.brand_id, None, None, 200).items
        keys = port.identity_queries.api_keys(principal.brand_id)
        options = [
            ("Staff", [(f"staff:{s.id}", s.name) for s in staff]),
            ("API keys", [(f"apikey:{k.id}", f"{k.label} ({k.role})") for k in keys]),
        ]
        if actor and not any(actor == value for _, group in options for value, _ in group):
            options.insert(0, ("Filtered by", [(actor, names.get(actor, actor))]))  # a job, the system, ...
        return {"rows": rows, "actors": names, "actor_options": [(g, o) for g, o in options if o]}

    data = await run_in_threadpool(load)
    query = {
        "actor": actor or "",
        "aggregate_type": audited.name if audited else (type_name or ""),
        "aggregate_id": raw_id,
        "from": params.get("from", "").strip(),
        "to": params.get("to", "").strip(),
    }
    query = {k: v for k, v in query.items() if v}
    if limit != TRAIL_PAGE:
        query["limit"] = str(limit)
    older_url = (
        f"/audit?{urlencode({**query, 'cursor': data['rows'].next_cursor})}" if data["rows"].next_cursor else None
    )
    newest_url = f"/audit?{urlencode(query)}" if params.get("cursor") else None
    links = {
        row.aggregate_type: snake(row.aggregate_type)
        for row in data["rows"].items
        if snake(row.aggregate_type) in port.replay.types
    }
    return render(
        request,
        "audit_trail.html",
        422 if errors else status,
        principal=principal,
        nav="audit",
        types=_types(port),
        errors=errors,
        form={
            "actor": actor or "",
            "aggregate_type": audited.name if audited else "",
            "aggregate_id": raw_id,
            "from": local_input(since, tz, round_up=False),
            "to": local_input(until, tz),
        },
        filtered=bool(query.keys() - {"limit"}),
        links=links,
        older_url=older_url,
        newest_url=newest_url,
        open_error=open_error,
        open_values=open_values or {"type": DEFAULT_TYPE, "id": ""},
        **data,
    )


async def open_record(request: Request, port: AuditPagesPort, principal: Principal) -> Response:
    """The "Open a record" form: to the record's replay page, or back to the trail saying what is wrong."""
    type_name = (request.query_params.get("type") or "").strip()[:60]
    raw_id = (request.query_params.get("id") or "").strip()[:60]
    values = {"type": type_name, "id": raw_id}
    try:
        audited = port.replay.resolve(type_name or "-")
    except InvalidValue:
        return await _trail(request, port, principal, "Choose a type of record.", values, 422)
    record_id = _record_id(raw_id)
    if record_id is None:
        message = "Enter the record's id (ids look like 3f2b8c4e-1d2a-4b5c-9e8f-0a1b2c3d4e5f)."
        return await _trail(request, port, principal, message, values, 422)
    return RedirectResponse(f"/audit/{audited.name}/{record_id}", status_code=303)


# A record's replay ------------------------------------------------------------------------------------------

#: Events a page of a record's timeline shows.
TIMELINE_PAGE = 100


def _after_param(request: Request) -> int | None:
    """The timeline page asked for: the version its events come after (None: the page of the version shown)."""
    raw = request.query_params.get("after")
    if raw is None or not raw.strip().isdigit():
        return None
    return min(int(raw), 2**31 - 1)


async def replay(request: Request, port: AuditPagesPort, principal: Principal) -> Response:
    raw_type = request.path_params["aggregate_type"]
    try:
        audited: AuditedType = port.replay.resolve(raw_type)
    except InvalidValue:
        return render(
            request,
            "audit_replay.html",
            422,
            principal=principal,
            nav="audit",
            unknown_type=raw_type[:60],
            types=_types(port),
            raw_id=request.path_params["aggregate_id"][:60],
        )
    aggregate_id = _record_id(request.path_params["aggregate_id"])
    if aggregate_id is None:
        return await not_found(request)

    errors: list[str] = []
    as_of = _instant_param(request, "as_of", "As of", errors)
    start = _instant_param(request, "from", "Compare with", errors)
    end = _instant_param(request, "to", "Against", errors)
    now = port.clock.now()
    if audited.name in port.replay.renderers:  # a loan later than now would be a forecast: now (api/routes/audit.py)
        as_of, start, end = (None if i is None else min(i, now) for i in (as_of, start, end))
    defaulted = as_of is None and end is None
    as_of = as_of or end or now
    if start is not None:
        end = end or as_of
        if end < start:
            start, end = end, start
    brand_id = principal.brand_id

    after = _after_param(request)

    def load() -> dict[str, Any]:
        port.replay.check_company(audited.name, aggregate_id, brand_id, principal.companies)
        state = port.replay.state_as_of(audited.name, aggregate_id, brand_id, as_of, principal.companies)
        # The timeline a page of TIMELINE_PAGE events at a time, by version (only they are read and decoded): the
        # page asked for (`after`), else the one holding the version shown.
        start_after = after if after is not None else max(state["version"] - 1, 0) // TIMELINE_PAGE * TIMELINE_PAGE
        history = port.replay.history_page(
            audited.name, aggregate_id, brand_id, start_after, TIMELINE_PAGE, principal.companies
        )
        diff = (
            port.replay.diff(audited.name, aggregate_id, brand_id, start, end, principal.companies)
            if start and end
            else None
        )
        shown = {h.actor for h in history.entries} | {history.first.actor}
        if diff is not None:
            shown |= {h.actor for h in diff["events"]}
        actors = actor_names(port.identity, brand_id, shown)
        return {"history": history, "state": state, "diff": diff, "actors": actors}

    try:
        data = await run_in_threadpool(load)
    except AuditTargetNotFound:
        return await not_found(request)  # no such record of this type, or another brand's

    tz = request.state.timezone
    api = f"/api/v1/audit/{audited.name}/{aggregate_id}/history"
    page: HistoryPage = data["history"]
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]

    def page_link(after: int | None) -> str | None:
        return None if after is None else "?" + urlencode([*kept, ("after", str(after))])

    last_page = max(page.latest - 1, 0) // TIMELINE_PAGE * TIMELINE_PAGE
    timeline = {
        "earlier": page_link(page.earlier),
        "later": page_link(page.later),
        "first": page_link(0) if page.after > 0 else None,
        "latest": page_link(last_page) if page.later is not None and page.later < last_page else None,
    }
    return render(
        request,
        "audit_replay.html",
        422 if errors else 200,
        principal=principal,
        nav="audit",
        audited=audited,
        aggregate_id=aggregate_id,
        as_of=as_of,
        as_of_is_now=defaulted,
        errors=errors,
        inputs={
            "as_of": local_input(as_of, tz),
            "from": local_input(start, tz),
            "to": local_input(end or as_of, tz),
        },
        export_json=api,
        export_csv=f"{api}?{urlencode({'format': 'csv'})}",
        customer_360=f"/customers/{aggregate_id}" if audited.cls.__name__ == "CustomerRecord" else None,
        timeline=timeline,
        **data,
    )


PAGES = pages(
    AuditPagesPort,
    [
        Page("GET", "/audit", trail, READ),
        Page("GET", "/audit/open", open_record, READ),
        Page("GET", "/audit/{aggregate_type}/{aggregate_id}", replay, READ),
    ],
)
