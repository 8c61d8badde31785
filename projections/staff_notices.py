"""Read model of staff notifications: the notices of a brand, who acknowledged each and when, and the queries behind
the bell (a reader's published notices, unread first counted) and the admins' read-receipts report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from domain.staff_notices.application import StaffNotices
from domain.staff_notices.notice import NoticeReceipt, Priority, StaffNotice
from projections.keyset import KeysetCursor, Page
from projections.projection import Insert, Projection, Write, handles

#: Notices are ordered by (publish_at, id), newest first.
NOTICES_CURSOR = KeysetCursor(datetime, UUID, name="staff-notices")


class StaffNoticeView(Projection):
    """One row per notice and one per acknowledgement."""

    name = "staff_notices"
    source = StaffNotices.name
    tables = ("read.staff_notices", "read.staff_notice_receipts")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.staff_notices (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            priority text NOT NULL,
            roles text[] NOT NULL,
            staff_ids uuid[] NOT NULL,
            publish_at timestamptz NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            read_count integer NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE IF NOT EXISTS read.staff_notice_receipts (
            notice_id uuid NOT NULL,
            reader_id uuid NOT NULL,
            brand_id uuid NOT NULL,
            reader_kind text NOT NULL,
            reader_name text NOT NULL,
            read_at timestamptz NOT NULL,
            PRIMARY KEY (notice_id, reader_id)
        )""",
        "CREATE INDEX IF NOT EXISTS staff_notices_brand_idx ON read.staff_notices (brand_id, publish_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS staff_notice_receipts_reader_idx "
        "ON read.staff_notice_receipts (brand_id, reader_id)",
    )

    @handles(StaffNotice.Created)
    def _created(self, position: int, event: StaffNotice.Created) -> Iterable[Insert]:
        yield Insert(
            "read.staff_notices",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "title": event.title,
                "body": event.body,
                "priority": event.priority.value,
                "roles": list(event.roles),
                "staff_ids": list(event.staff_ids),
                # In UTC: one recorded before the command kept it so may carry an offset PostgreSQL does not store.
                "publish_at": event.publish_at.astimezone(UTC),
                "created_by": event.actor,
                "created_at": event.timestamp,
                "read_count": 0,
            },
        )

    @handles(NoticeReceipt.Acknowledged)
    def _acknowledged(self, position: int, event: NoticeReceipt.Acknowledged) -> Iterable[Write]:
        yield Write(
            "WITH added AS (INSERT INTO read.staff_notice_receipts (notice_id, reader_id, brand_id, reader_kind, "
            "reader_name, read_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING notice_id) "
            "UPDATE read.staff_notices SET read_count = read_count + 1 WHERE id IN (SELECT notice_id FROM added)",
            (event.notice_id, event.reader_id, event.brand_id, event.reader_kind, event.reader_name, event.timestamp),
        )


@dataclass(frozen=True)
class MyNotice:
    """A notice as its reader sees it: `read_at` is when they acknowledged it (None: unread)."""

    id: UUID
    title: str
    body: str
    priority: Priority
    publish_at: datetime
    created_by: str
    read_at: datetime | None


@dataclass(frozen=True)
class NoticeRow:
    """A notice as the admins' list shows it: whom it is for, when it shows, how many acknowledged it."""

    id: UUID
    title: str
    body: str
    priority: Priority
    roles: list[str]
    staff_ids: list[UUID]
    publish_at: datetime
    created_by: str
    created_at: datetime
    read_count: int
    recipients: int  # enabled staff of the brand it is addressed to, now


@dataclass(frozen=True)
class Receipt:
    """One recipient of a notice and whether (and when) they acknowledged it."""

    reader_id: UUID
    name: str
    kind: str  # staff or apikey
    email: str | None
    read_at: datetime | None


_ADDRESSED = "(n.roles && %(roles)s::text[] OR %(reader)s = ANY(n.staff_ids))"
_RECIPIENTS = (
    "(SELECT count(*) FROM read.staff s WHERE s.brand_id = n.brand_id AND s.enabled "
    "AND (s.roles && n.roles OR s.id = ANY(n.staff_ids)))"
)
#: `_RECIPIENTS` of a page of notices: the brand's enabled staff are read once, counted by their set of roles (a
#: handful of sets), and each notice sums the sets it reaches plus the staff it names by id beyond them (index lookups).
#: Counting the staff per notice read every staff row once per notice: 50 notices x 3,000 staff on a page.
_RECIPIENTS_BY_ROLES = (
    "(SELECT coalesce(sum(g.n), 0) FROM role_sets g WHERE g.roles && n.roles) + "
    "(SELECT count(*) FROM read.staff s WHERE s.id = ANY(n.staff_ids) AND s.brand_id = n.brand_id AND s.enabled "
    "AND NOT (s.roles && n.roles))"
)
_ROLE_SETS = (
    "WITH role_sets AS MATERIALIZED (SELECT roles, count(*) AS n FROM read.staff WHERE brand_id = %(brand)s "
    "AND enabled GROUP BY roles) "
)
_ROW = "n.id, n.title, n.body, n.priority, n.roles, n.staff_ids, n.publish_at, n.created_by, n.created_at, n.read_count"


class StaffNoticeQueries:
    """Brand-scoped notice queries."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def mine(
        self,
        brand_id: UUID,
        reader_id: UUID,
        roles: tuple[str, ...],
        now: datetime,
        unread_only: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """The notices published to the reader by `now`, newest first (only those unread with `unread_only`)."""
        page_scope = (brand_id, reader_id, sorted(roles), unread_only)  # the filters its cursor is bound to
        where = ["n.brand_id = %(brand)s", "n.publish_at <= %(now)s", _ADDRESSED]
        params: dict[str, Any] = {"brand": brand_id, "now": now, "roles": list(roles), "reader": reader_id}
        if unread_only:
            where.append("r.read_at IS NULL")
        if cursor:
            at, last = NOTICES_CURSOR.decode(cursor, page_scope)
            where.append("(n.publish_at, n.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        params["limit"] = limit + 1
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT n.id, n.title, n.body, n.priority, n.publish_at, n.created_by, r.read_at "
                "FROM read.staff_notices n LEFT JOIN read.staff_notice_receipts r "
                "ON r.notice_id = n.id AND r.reader_id = %(reader)s "
                f"WHERE {' AND '.join(where)} ORDER BY n.publish_at DESC, n.id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [MyNotice(**{**r, "priority": Priority(r["priority"])}) for r in rows]
        next_cursor = (
            NOTICES_CURSOR.encode(rows[-1]["publish_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=items, next_cursor=next_cursor)

    def unread(self, brand_id: UUID, reader_id: UUID, roles: tuple[str, ...], now: datetime) -> int:
        """How many notices published to the reader by `now` they have not acknowledged (the bell's count)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM read.staff_notices n WHERE n.brand_id = %(brand)s "
                f"AND n.publish_at <= %(now)s AND {_ADDRESSED} AND NOT EXISTS (SELECT 1 FROM "
                "read.staff_notice_receipts r WHERE r.notice_id = n.id AND r.reader_id = %(reader)s)",
                {"brand": brand_id, "now": now, "roles": list(roles), "reader": reader_id},
            ).fetchone()
        return int(row["n"]) if row else 0

    def my_notice(
        self, brand_id: UUID, notice_id: UUID, reader_id: UUID, roles: tuple[str, ...], now: datetime
    ) -> MyNotice | None:
        """One notice as the reader sees it, when it is published to them."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT n.id, n.title, n.body, n.priority, n.publish_at, n.created_by, r.read_at "
                "FROM read.staff_notices n LEFT JOIN read.staff_notice_receipts r "
                "ON r.notice_id = n.id AND r.reader_id = %(reader)s "
                f"WHERE n.id = %(id)s AND n.brand_id = %(brand)s AND n.publish_at <= %(now)s AND {_ADDRESSED}",
                {"id": notice_id, "brand": brand_id, "now": now, "roles": list(roles), "reader": reader_id},
            ).fetchone()
        return MyNotice(**{**row, "priority": Priority(row["priority"])}) if row else None

    def notices(self, brand_id: UUID, cursor: str | None = None, limit: int = 50) -> Page:
        """Every notice of the brand (scheduled ones too), newest publish time first, with read counts."""
        page_scope = (brand_id,)  # the filters its cursor is bound to
        where = ["n.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if cursor:
            at, last = NOTICES_CURSOR.decode(cursor, page_scope)
            where.append("(n.publish_at, n.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_ROLE_SETS}SELECT {_ROW}, ({_RECIPIENTS_BY_ROLES})::bigint AS recipients FROM read.staff_notices n "
                f"WHERE {' AND '.join(where)} ORDER BY n.publish_at DESC, n.id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            NOTICES_CURSOR.encode(rows[-1]["publish_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[_notice_row(r) for r in rows], next_cursor=next_cursor)

    def notice(self, brand_id: UUID, notice_id: UUID) -> NoticeRow | None:
        """One notice of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_ROW}, {_RECIPIENTS} AS recipients FROM read.staff_notices n "
                "WHERE n.id = %s AND n.brand_id = %s",
                (notice_id, brand_id),
            ).fetchone()
        return _notice_row(row) if row else None

    def receipts(self, brand_id: UUID, notice_id: UUID) -> list[Receipt]:
        """Who the notice is for and who acknowledged it, when: the enabled staff it is addressed to (read or not)
        and every reader who acknowledged it (an API key, or staff whose roles changed since), unread last."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "WITH n AS (SELECT * FROM read.staff_notices WHERE id = %(id)s AND brand_id = %(brand)s), "
                "addressed AS (SELECT s.id, s.name, s.email FROM read.staff s, n WHERE s.brand_id = n.brand_id "
                "AND s.enabled AND (s.roles && n.roles OR s.id = ANY(n.staff_ids))), "
                "readers AS (SELECT r.* FROM read.staff_notice_receipts r, n WHERE r.notice_id = n.id) "
                "SELECT coalesce(a.id, r.reader_id) AS reader_id, coalesce(a.name, r.reader_name) AS name, "
                "coalesce(r.reader_kind, 'staff') AS kind, a.email, r.read_at "
                "FROM addressed a FULL JOIN readers r ON r.reader_id = a.id "
                "ORDER BY r.read_at IS NULL, r.read_at, coalesce(a.name, r.reader_name), 1",
                {"id": notice_id, "brand": brand_id},
            ).fetchall()
        return [Receipt(**r) for r in rows]


def _notice_row(row: dict[str, Any]) -> NoticeRow:
    return NoticeRow(**{**row, "priority": Priority(row["priority"])})
