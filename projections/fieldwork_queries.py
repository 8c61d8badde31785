"""Typed queries over the fieldwork read models: the dialer settings (no secret: the token's last four only), calls,
field visits. Every query takes the caller's brand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections.fieldwork import CALLS_CURSOR, VISITS_CURSOR
from projections.keyset import Page


@dataclass(frozen=True)
class ExtensionRow:
    """A staff member's dialer extension."""

    staff_id: UUID
    staff_name: str
    extension: str


@dataclass(frozen=True)
class DialerSettingsRow:
    """The brand's dialer settings as shown back: the API token only as its last four characters."""

    configured: bool
    enabled: bool
    account_id: str | None
    token_hint: str | None
    extensions: list[ExtensionRow]
    changed_by: str | None
    changed_at: datetime | None
    #: The settings' version (0 before they are configured; None for settings projected before the read model
    #: kept it, until their next change or a rebuild of the projection).
    version: int | None = 0


@dataclass(frozen=True)
class CallRow:
    """A click-to-call and how it ended."""

    id: UUID
    loan_id: UUID
    customer_id: UUID
    staff_id: UUID
    staff_name: str | None
    extension: str
    destination: str
    alternate: bool
    status: str
    duration_seconds: int
    recording_url: str | None
    contact_logged: bool
    placed_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class PhotoRow:
    """A photo of a visit (fetch it at /api/v1/field-visits/{id}/photos/{sha256})."""

    sha256: str
    content_type: str
    size: int
    filename: str


@dataclass(frozen=True)
class VisitRow:
    """A field visit: what it is about, who goes, and what was found."""

    id: UUID
    loan_id: UUID
    loan_number: str
    customer_id: UUID
    assignee_id: UUID
    assignee_name: str | None
    reason: str
    due_on: date | None
    address: str
    status: str
    outcome: str | None
    remarks: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    visited_at: datetime | None
    photos: list[PhotoRow]
    cancel_reason: str | None
    flagged_by: str
    created_at: datetime
    updated_at: datetime


_CALL = (
    "SELECT c.id, c.loan_id, c.customer_id, c.staff_id, s.name AS staff_name, c.extension, c.destination, "
    "c.alternate, c.status, c.duration_seconds, c.recording_url, c.contact_logged, c.placed_at, c.ended_at "
    "FROM read.dialer_calls c LEFT JOIN read.staff s ON s.id = c.staff_id"
)
_VISIT = (
    "SELECT v.id, v.loan_id, v.loan_number, v.customer_id, v.assignee_id, s.name AS assignee_name, v.reason, "
    "v.due_on, v.address, v.status, v.outcome, v.remarks, v.latitude, v.longitude, v.visited_at, v.photos, "
    "v.cancel_reason, v.flagged_by, v.created_at, v.updated_at "
    "FROM read.field_visits v LEFT JOIN read.staff s ON s.id = v.assignee_id"
)


def _visit(row: dict[str, Any]) -> VisitRow:
    return VisitRow(**{**row, "photos": [PhotoRow(**p) for p in row["photos"] or []]})


class FieldworkQueries:
    """Brand-scoped reads of the dialer and the field visits."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def dialer_settings(self, brand_id: UUID) -> DialerSettingsRow:
        """The brand's dialer settings (unconfigured: off, no account)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT enabled, account_id, token_hint, changed_by, changed_at, version FROM read.dialer_settings "
                "WHERE brand_id = %s",
                (brand_id,),
            ).fetchone()
            extensions = conn.execute(
                "SELECT e.staff_id, coalesce(s.name, '') AS staff_name, e.extension FROM read.dialer_extensions e "
                "LEFT JOIN read.staff s ON s.id = e.staff_id WHERE e.brand_id = %s ORDER BY s.name, e.staff_id",
                (brand_id,),
            ).fetchall()
        items = [ExtensionRow(**e) for e in extensions]
        if row is None:
            return DialerSettingsRow(False, False, None, None, items, None, None)
        return DialerSettingsRow(configured=True, extensions=items, **row)

    def extension(self, brand_id: UUID, staff_id: UUID) -> str | None:
        """A staff member's extension, None without one."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT extension FROM read.dialer_extensions WHERE brand_id = %s AND staff_id = %s",
                (brand_id, staff_id),
            ).fetchone()
        return str(row["extension"]) if row else None

    def call(self, brand_id: UUID, call_id: UUID) -> CallRow | None:
        """One call of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_CALL} WHERE c.id = %s AND c.brand_id = %s", (call_id, brand_id)).fetchone()
        return CallRow(**row) if row else None

    def calls(
        self,
        brand_id: UUID,
        *,
        loan_id: UUID | None = None,
        staff_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Calls newest first, of a loan or by a staff member when given."""
        page_scope = (brand_id, loan_id, staff_id)  # the filters its cursor is bound to
        where, params = ["c.brand_id = %(brand)s"], {"brand": brand_id, "limit": limit + 1}
        if loan_id is not None:
            where.append("c.loan_id = %(loan)s")
            params["loan"] = loan_id
        if staff_id is not None:
            where.append("c.staff_id = %(staff)s")
            params["staff"] = staff_id
        if cursor:
            at, last = CALLS_CURSOR.decode(cursor, page_scope)
            where.append("(c.placed_at, c.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_CALL} WHERE {' AND '.join(where)} ORDER BY c.placed_at DESC, c.id DESC LIMIT %(limit)s", params
            ).fetchall()
        more, rows = len(rows) > limit, rows[:limit]
        following = (
            CALLS_CURSOR.encode(rows[-1]["placed_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[CallRow(**r) for r in rows], next_cursor=following)

    def visit(self, brand_id: UUID, visit_id: UUID) -> VisitRow | None:
        """One visit of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_VISIT} WHERE v.id = %s AND v.brand_id = %s", (visit_id, brand_id)).fetchone()
        return _visit(row) if row else None

    def visits(
        self,
        brand_id: UUID,
        *,
        assignee_id: UUID | None = None,
        status: str | None = None,
        loan_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page:
        """Visits newest first: an agent's (`assignee_id`), by status, of a loan."""
        page_scope = (brand_id, assignee_id, status, loan_id)  # the filters its cursor is bound to
        where, params = ["v.brand_id = %(brand)s"], {"brand": brand_id, "limit": limit + 1}
        for column, key, value in (
            ("v.assignee_id", "agent", assignee_id),
            ("v.status", "status", status),
            ("v.loan_id", "loan", loan_id),
        ):
            if value is not None:
                where.append(f"{column} = %({key})s")
                params[key] = value
        if cursor:
            at, last = VISITS_CURSOR.decode(cursor, page_scope)
            where.append("(v.created_at, v.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_VISIT} WHERE {' AND '.join(where)} ORDER BY v.created_at DESC, v.id DESC LIMIT %(limit)s", params
            ).fetchall()
        more, rows = len(rows) > limit, rows[:limit]
        following = (
            VISITS_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[_visit(r) for r in rows], next_cursor=following)


@dataclass(frozen=True)
class StaffChoice:
    """A staff member to pick (an extension's holder, a visit's agent)."""

    id: UUID
    name: str
    roles: list[str]


class FieldworkPicks:
    """What the portal's forms offer: the brand's enabled staff, a loan found by its number."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def staff(self, brand_id: UUID, collections_only: bool = False) -> list[StaffChoice]:
        """Enabled staff of the brand by name (only collection roles and admins when `collections_only`)."""
        where = "brand_id = %s AND enabled"
        if collections_only:
            where += " AND roles && ARRAY['collection_executive', 'collection_manager', 'collection_head', 'admin']"
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT id, name, roles FROM read.staff WHERE {where} ORDER BY name, id LIMIT 500", (brand_id,)
            ).fetchall()
        return [StaffChoice(r["id"], r["name"], list(r["roles"])) for r in rows]

    def loan_id(self, brand_id: UUID, loan_number: str) -> UUID | None:
        """The brand's loan with this number."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id FROM read.loans WHERE brand_id = %s AND loan_number = %s", (brand_id, loan_number.strip())
            ).fetchone()
        return UUID(str(row["id"])) if row else None
