"""Read model of scheduled reminders: one row per reminder, listed with the borrower's current name and phone (from
`read.customers`), filtered by channel, status, created and scheduled ranges, searched by name or phone; and the
dispatcher's due list."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.reminders.application import Reminders
from domain.reminders.reminder import Reminder, ReminderChannel, ReminderStatus
from projections.keyset import KeysetCursor, Page
from projections.projection import Insert, Projection, Write, handles

#: Reminders are listed by (scheduled_at, id), latest first.
REMINDERS_CURSOR = KeysetCursor(datetime, UUID, name="reminders")

R = Reminder


class ReminderView(Projection):
    """One row per reminder."""

    name = "reminders"
    source = Reminders.name
    tables = ("read.reminders",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.reminders (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            channel text NOT NULL,
            template_id uuid NOT NULL,
            template_name text NOT NULL,
            scheduled_at timestamptz NOT NULL,
            status text NOT NULL,
            dispatching boolean NOT NULL DEFAULT false,
            reason text,
            message_id uuid,
            message_status text,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS reminders_brand_idx ON read.reminders (brand_id, scheduled_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS reminders_status_idx ON read.reminders (brand_id, status, scheduled_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS reminders_created_idx ON read.reminders (brand_id, created_at)",
        "CREATE INDEX IF NOT EXISTS reminders_customer_idx ON read.reminders (brand_id, customer_id)",
        "CREATE INDEX IF NOT EXISTS reminders_due_idx ON read.reminders (brand_id, scheduled_at, id) "
        "WHERE status = 'scheduled'",
    )

    @handles(R.Scheduled)
    def _scheduled(self, position: int, event: R.Scheduled) -> Iterable[Insert]:
        yield Insert(
            "read.reminders",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "customer_id": event.customer_id,
                "channel": event.channel.value,
                "template_id": event.template_id,
                "template_name": event.template_name,
                # In UTC: one recorded before the command kept it so may carry an offset PostgreSQL does not store.
                "scheduled_at": event.scheduled_at.astimezone(UTC),
                "status": ReminderStatus.SCHEDULED.value,
                "dispatching": False,
                "created_by": event.actor,
                "created_at": event.timestamp,
                "updated_at": event.timestamp,
            },
        )

    @handles(R.DispatchStarted)
    def _started(self, position: int, event: R.DispatchStarted) -> Iterable[Write]:
        yield Write(
            "UPDATE read.reminders SET dispatching = true, updated_at = %s WHERE id = %s",
            (event.timestamp, event.originator_id),
        )

    @handles(R.Sent)
    def _sent(self, position: int, event: R.Sent) -> Iterable[Write]:
        yield Write(
            "UPDATE read.reminders SET status = 'sent', message_id = %s, message_status = %s, updated_at = %s "
            "WHERE id = %s",
            (event.message_id, event.message_status, event.timestamp, event.originator_id),
        )

    @handles(R.Failed)
    def _failed(self, position: int, event: R.Failed) -> Iterable[Write]:
        yield Write(
            "UPDATE read.reminders SET status = 'failed', reason = %s, message_id = %s, updated_at = %s WHERE id = %s",
            (event.reason, event.message_id, event.timestamp, event.originator_id),
        )

    @handles(R.Cancelled)
    def _cancelled(self, position: int, event: R.Cancelled) -> Iterable[Write]:
        yield Write(
            "UPDATE read.reminders SET status = 'cancelled', reason = %s, updated_at = %s WHERE id = %s",
            (event.reason, event.timestamp, event.originator_id),
        )


@dataclass(frozen=True)
class ReminderRow:
    """A reminder as the list shows it: the borrower (current name and phone), channel, template, when, status."""

    id: UUID
    customer_id: UUID
    borrower_name: str | None
    borrower_phone: str | None
    channel: ReminderChannel
    template_id: UUID
    template_name: str
    scheduled_at: datetime
    status: ReminderStatus
    reason: str | None
    message_id: UUID | None
    message_status: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ReminderFilters:
    """The list's filters (None: any)."""

    channel: ReminderChannel | None = None
    status: ReminderStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    scheduled_from: datetime | None = None
    scheduled_to: datetime | None = None
    q: str | None = None


#: A reminder whose message the channel finally failed (a failed delivery receipt after its retries, or suppressed
#: on the way) shows as failed, with the message's reason: `ops.messages` (the engagement context) is where the
#: message's life is tracked.
_STATUS = "CASE WHEN r.status = 'sent' AND m.status IN ('failed', 'suppressed') THEN 'failed' ELSE r.status END"
_SELECT = (
    "SELECT r.id, r.customer_id, c.name AS borrower_name, c.phone AS borrower_phone, r.channel, r.template_id, "
    f"r.template_name, r.scheduled_at, {_STATUS} AS status, coalesce(r.reason, m.reason) AS reason, r.message_id, "
    "coalesce(m.status, r.message_status) AS message_status, r.created_by, r.created_at, r.updated_at "
    "FROM read.reminders r "
    "LEFT JOIN read.customers c ON c.id = r.customer_id AND c.brand_id = r.brand_id "
    "LEFT JOIN ops.messages m ON m.id = r.message_id AND m.brand_id = r.brand_id"
)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _row(row: dict[str, Any]) -> ReminderRow:
    return ReminderRow(**{**row, "channel": ReminderChannel(row["channel"]), "status": ReminderStatus(row["status"])})


class ReminderQueries:
    """Brand-scoped reminder queries."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def reminder(self, brand_id: UUID, reminder_id: UUID) -> ReminderRow | None:
        """One reminder of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_SELECT} WHERE r.id = %s AND r.brand_id = %s", (reminder_id, brand_id)).fetchone()
        return _row(row) if row else None

    def reminders(self, brand_id: UUID, filters: ReminderFilters, cursor: str | None = None, limit: int = 50) -> Page:
        """Reminders latest scheduled first. Created and scheduled ranges are inclusive of `from`, exclusive of `to`;
        `q` matches the borrower's name anywhere (any case) or, with 4 or more digits, their phone."""
        page_scope = (brand_id, filters)  # the filters its cursor is bound to
        where = ["r.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if filters.channel is not None:
            where.append("r.channel = %(channel)s")
            params["channel"] = filters.channel.value
        if filters.status is not None:
            where.append(f"{_STATUS} = %(status)s")
            params["status"] = filters.status.value
        for name, column, op in (
            ("created_from", "created_at", ">="),
            ("created_to", "created_at", "<"),
            ("scheduled_from", "scheduled_at", ">="),
            ("scheduled_to", "scheduled_at", "<"),
        ):
            value = getattr(filters, name)
            if value is not None:
                where.append(f"r.{column} {op} %({name})s")
                params[name] = value
        q = " ".join((filters.q or "").split())
        if q:
            digits = re.sub(r"[^0-9]", "", q)
            matches = ["c.name_key LIKE %(name)s"]
            params["name"] = _like(q.lower())
            if len(digits) >= 4:
                matches.append("c.phone LIKE %(phone)s")
                params["phone"] = _like(digits)
            where.append(f"({' OR '.join(matches)})")
        if cursor:
            at, last = REMINDERS_CURSOR.decode(cursor, page_scope)
            where.append("(r.scheduled_at, r.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY r.scheduled_at DESC, r.id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            REMINDERS_CURSOR.encode(rows[-1]["scheduled_at"], rows[-1]["id"], scope=page_scope)
            if more and rows
            else None
        )
        return Page(items=[_row(r) for r in rows], next_cursor=next_cursor)

    def due(
        self, brand_id: UUID, now: datetime, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[tuple[datetime, UUID]]:
        """The brand's scheduled reminders whose time has come (time, id), oldest first, after the keyset `after`."""
        where = "brand_id = %s AND status = 'scheduled' AND scheduled_at <= %s"
        params: list[Any] = [brand_id, now]
        if after is not None:
            where += " AND (scheduled_at, id) > (%s, %s)"
            params += [after[0], after[1]]
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT scheduled_at, id FROM read.reminders WHERE {where} ORDER BY scheduled_at, id LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [(r["scheduled_at"], r["id"]) for r in rows]

    def counts(self, brand_id: UUID) -> dict[str, int]:
        """How many reminders of the brand are in each status (the reminders page's summary)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_STATUS} AS status, count(*) AS n FROM read.reminders r LEFT JOIN ops.messages m "
                "ON m.id = r.message_id AND m.brand_id = r.brand_id WHERE r.brand_id = %s GROUP BY 1",
                (brand_id,),
            ).fetchall()
        found = {r["status"]: int(r["n"]) for r in rows}
        return {s.value: found.get(s.value, 0) for s in ReminderStatus}
