"""Scheduled reminders: staff (Collection, Loan Ops, Admin) schedule a message to one borrower on a channel with a
template for a future time, list them with filters and search, and cancel one before it is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_QUERY_REASON, check_ranges
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.reminders.application import Reminders
from domain.reminders.reminder import ReminderChannel, ReminderNotFound, ReminderStatus
from domain.shared.values import BusinessDate, Instant
from projections.reminders import ReminderFilters, ReminderQueries, ReminderRow

READ = (Permission.REMINDERS, Level.READ)
WRITE = (Permission.REMINDERS, Level.WRITE)


@dataclass(frozen=True)
class ReminderPort:
    """What the reminder endpoints and pages use."""

    reminders: Reminders
    queries: ReminderQueries
    identity: Identity


class ReminderIn(BaseModel):
    """A message to one borrower on a channel with a template, at a time (with its offset)."""

    model_config = ConfigDict(extra="forbid")

    customer_id: UUID
    channel: ReminderChannel
    template_id: UUID
    scheduled_at: Instant


class CancelQuery(BaseModel):
    """Why the reminder is cancelled (optional)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("cancelled by staff", max_length=500, json_schema_extra=VISIBLE_QUERY_REASON)


class ReminderQuery(BaseModel):
    """Filters, search and keyset paging. A date bound is a whole day in the brand's time zone (`to` inclusive);
    an instant bound is that instant (`to` inclusive; without an offset, in the brand's time zone)."""

    model_config = ConfigDict(extra="forbid")

    channel: ReminderChannel | None = None
    status: ReminderStatus | None = None
    created_from: Instant | BusinessDate | None = None
    created_to: Instant | BusinessDate | None = None
    scheduled_from: Instant | BusinessDate | None = None
    scheduled_to: Instant | BusinessDate | None = None
    q: str | None = Field(None, max_length=100)
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)

    @model_validator(mode="after")
    def _ranges(self) -> ReminderQuery:
        check_ranges(self, ("created_from", "created_to"), ("scheduled_from", "scheduled_to"))
        return self


class ReminderOut(BaseModel):
    """A reminder: the borrower, channel, template, scheduled time and status (and its message once sent)."""

    id: UUID
    customer_id: UUID
    borrower_name: str | None
    borrower_phone: str | None
    channel: ReminderChannel
    template_id: UUID
    template_name: str
    scheduled_at: InstantOut
    status: ReminderStatus
    reason: str | None
    message_id: UUID | None
    message_status: str | None
    created_by: str
    created_at: InstantOut
    updated_at: InstantOut


class ReminderPageOut(BaseModel):
    """Reminders, latest scheduled first."""

    items: list[ReminderOut]
    next_cursor: str | None


def lower_bound(value: datetime | date | None, timezone: str) -> datetime | None:
    """A `from` bound as an instant: a date is the start of that day in the brand's time zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))
    return datetime.combine(value, time(0), ZoneInfo(timezone))


def upper_bound(value: datetime | date | None, timezone: str) -> datetime | None:
    """A `to` bound (inclusive) as the exclusive instant the query compares with."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))) + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time(0), ZoneInfo(timezone))


def filters_of(q: ReminderQuery, timezone: str) -> ReminderFilters:
    """The list's filters from the query, date bounds as instants of the brand's days."""
    return ReminderFilters(
        channel=q.channel,
        status=q.status,
        created_from=lower_bound(q.created_from, timezone),
        created_to=upper_bound(q.created_to, timezone),
        scheduled_from=lower_bound(q.scheduled_from, timezone),
        scheduled_to=upper_bound(q.scheduled_to, timezone),
        q=q.q,
    )


def reminder_out(row: ReminderRow) -> ReminderOut:
    """A reminder on the wire."""
    return ReminderOut(**row.__dict__)


def _reminder(ctx: Context[ReminderPort], reminder_id: UUID) -> ReminderOut | None:
    row = ctx.port.queries.reminder(ctx.brand_id, reminder_id)
    return reminder_out(row) if row else None


def create_reminder(ctx: Context[ReminderPort]) -> Reply:
    body: ReminderIn = ctx.body
    result = ctx.port.reminders.schedule(
        ctx.brand_id, body.customer_id, body.channel, body.template_id, body.scheduled_at
    )
    return ctx.written(result, Reminders.name, lambda: _reminder(ctx, result.id), f"/api/v1/reminders/{result.id}")


def list_reminders(ctx: Context[ReminderPort]) -> Reply:
    q: ReminderQuery = ctx.query
    timezone = ctx.port.identity.timezone(ctx.brand_id)
    page = ctx.port.queries.reminders(ctx.brand_id, filters_of(q, timezone), q.cursor, q.limit)
    return json_response(ReminderPageOut(items=[reminder_out(r) for r in page.items], next_cursor=page.next_cursor))


def get_reminder(ctx: Context[ReminderPort]) -> Reply:
    reminder_id: UUID = ctx.path["reminder_id"]
    found = _reminder(ctx, reminder_id)
    if found is None:
        raise ReminderNotFound(f"Reminder {reminder_id} not found", id=str(reminder_id))
    return json_response(found)


def cancel_reminder(ctx: Context[ReminderPort]) -> Reply:
    q: CancelQuery = ctx.query
    result = ctx.port.reminders.cancel(ctx.brand_id, ctx.path["reminder_id"], q.reason)
    return ctx.written(result, Reminders.name, lambda: _reminder(ctx, result.id))


ENDPOINTS = serve(
    ReminderPort,
    "reminders",
    [
        Endpoint(
            "POST",
            "/api/v1/reminders",
            create_reminder,
            "Schedule a message to a borrower on a channel with a template (sent by the reminder-dispatch job)",
            WRITE,
            body=ReminderIn,
            response=ReminderOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/reminders",
            list_reminders,
            "Reminders by channel, status, created and scheduled ranges; q searches the borrower's name or phone",
            READ,
            query=ReminderQuery,
            response=ReminderPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/reminders/{reminder_id}",
            get_reminder,
            "One reminder",
            READ,
            response=ReminderOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/reminders/{reminder_id}/cancel",
            cancel_reminder,
            "Cancel a reminder before it is sent (409 once sent, failed, cancelled or being sent)",
            WRITE,
            query=CancelQuery,
            response=ReminderOut,
            accepts=True,
        ),
    ],
)
