"""Queries of the identity context: the staff directory and profiles, login history, API keys, configuration
history - each returning frozen dataclasses (the projectors that fill these tables: `identity_projectors`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import JsonValue

from domain.identity.permissions import ROLES, Grants, Level, Permission, effective_grants, role_grants
from domain.identity.staff import Leave, on_leave
from projections.keyset import KeysetCursor, Page

#: Staff pages are ordered by (name_key, id); configuration history by (position, setting), newest first.
STAFF_CURSOR = KeysetCursor(str, UUID, name="staff")
HISTORY_CURSOR = KeysetCursor(int, str, name="brand-config.history")
#: API keys are ordered newest first, then by id (created_at descending, id ascending: api_keys_brand_idx's order).
API_KEYS_CURSOR = KeysetCursor(datetime, UUID, name="api-keys")


@dataclass(frozen=True)
class StaffView:
    """A staff user as lists and the profile show them."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    overrides: dict[str, str]  # permission -> READ | WRITE | ALL | NONE, replacing the roles' default
    companies: list[str]
    manager_id: UUID | None
    enabled: bool
    available: bool
    leaves: list[Leave]  # by start date
    has_password: bool
    invite_expires_at: datetime | None
    last_login_at: datetime | None
    failed_logins: int
    locked_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    def on_leave(self, day: date) -> bool:
        """True when planned leave covers `day`."""
        return on_leave(self.leaves, day)

    @property
    def permissions(self) -> dict[str, str]:
        """The effective level of each permission held: the roles' defaults with this user's overrides."""
        grants = row_grants(self.roles, self.overrides)
        return {p.value: level.value for p, level in sorted(grants.items())}


def row_grants(roles: list[str], overrides: dict[str, str]) -> Grants:
    """The effective grants of a `read.staff` row: its roles' defaults with its overrides (`NONE`: denied)."""
    parsed = {Permission(p): None if level == "NONE" else Level(level) for p, level in overrides.items()}
    return effective_grants(roles, parsed)


def roles_holding(permission: Permission, level: Level = Level.WRITE) -> list[str]:
    """The roles whose defaults hold `permission` at `level` or above (fixed role names, from the domain's table)."""
    return sorted(role for role in ROLES if (held := role_grants([role]).get(permission)) and held.covers(level))


def holds_sql(staff: str, permission: Permission, level: Level = Level.WRITE) -> str:
    """Whether the `read.staff` row `staff` (an alias) is enabled and holds `permission` at `level` or above, as an
    SQL condition: a per-user override (`NONE`, `READ`, `WRITE`, `ALL`) replacing its roles' default, as
    `row_grants` reads it. Role names and levels are inlined (fixed names, never input)."""
    roles = "ARRAY[" + ", ".join(f"'{r}'" for r in roles_holding(permission, level)) + "]::text[]"
    enough = ", ".join(f"'{held.value}'" for held in Level if held.covers(level))
    override = f"{staff}.overrides->>'{permission.value}'"
    return f"({staff}.enabled AND CASE WHEN {override} IS NULL THEN {staff}.roles && {roles} ELSE {override} IN ({enough}) END)"


@dataclass(frozen=True)
class StaffRef:
    """Someone named in a profile (a report)."""

    id: UUID
    name: str


@dataclass(frozen=True)
class StaffProfile(StaffView):
    """A staff user with effective permissions, direct reports and whether they are on leave today."""

    reports: list[StaffRef]
    on_leave_today: bool


@dataclass(frozen=True)
class StaffPage(Page):
    """A keyset page of staff, by name."""

    items: list[StaffView]


@dataclass(frozen=True)
class LoginView:
    """One login attempt."""

    at: datetime
    succeeded: bool
    ip: str | None
    user_agent: str | None
    reason: str | None
    locked_until: datetime | None


@dataclass(frozen=True)
class ApiKeyView:
    """An API key, masked."""

    id: UUID
    label: str
    role: str
    masked: str
    status: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class ConfigChangeView:
    """One setting change."""

    changed_at: datetime
    actor: str
    setting: str
    old: JsonValue
    new: JsonValue


@dataclass(frozen=True)
class ConfigHistoryPage(Page):
    """A keyset page of setting changes, newest first."""

    items: list[ConfigChangeView]


_STAFF_COLUMNS = (
    "id, name, email, roles, overrides, companies, manager_id, enabled, available, leaves, has_password, "
    "invite_expires_at, last_login_at, failed_logins, locked_until, version, created_at, updated_at"
)
_KEY_COLUMNS = (
    "SELECT k.id, k.label, k.role, k.prefix, k.created_by, k.created_at, k.revoked_at, u.last_used_at "
    "FROM read.api_keys k LEFT JOIN ops.api_key_usage u ON u.key_id = k.id"
)


_STAFF_FIELDS = frozenset(StaffView.__dataclass_fields__)


def team_sql(select: str = "id") -> str:
    """A subquery of a manager's team, `(WITH RECURSIVE ... SELECT {select} FROM team)` over `team(id)`: the
    staff member `%(team)s` of the brand `%(brand)s` and everyone reporting to them directly or indirectly (none
    when `%(team)s` is not the brand's). UNION, not UNION ALL, keeps each person once, so the walk ends even on a
    cycle in read.staff (assign_manager refuses one, but two reassignments at once each pass that check)."""
    return (
        "(WITH RECURSIVE team(id) AS (SELECT m.id FROM read.staff m WHERE m.brand_id = %(brand)s "
        "AND m.id = %(team)s::uuid UNION SELECT r.id FROM read.staff r JOIN team t ON r.manager_id = t.id "
        f"WHERE r.brand_id = %(brand)s) SELECT {select} FROM team)"
    )


def _staff(row: dict[str, Any]) -> StaffView:
    leaves = sorted((Leave.model_validate(leave) for leave in row["leaves"].values()), key=lambda leave: leave.start)
    fields = {k: v for k, v in row.items() if k in _STAFF_FIELDS}
    return StaffView(**fields | {"leaves": leaves})


def _key(row: dict[str, Any]) -> ApiKeyView:
    return ApiKeyView(
        id=row["id"],
        label=row["label"],
        role=row["role"],
        masked=f"cdk_{row['id'].hex[:8]}…_{row['prefix']}…",
        status="revoked" if row["revoked_at"] else "active",
        created_by=row["created_by"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class IdentityQueries:
    """Brand-scoped queries over staff, logins, API keys and configuration history."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def staff_list(self, brand_id: UUID, q: str | None = None, cursor: str | None = None, limit: int = 50) -> StaffPage:
        """Staff by name, optionally filtered by a name/email fragment; keyset pages."""
        page_scope = (brand_id, q)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if q:
            where.append("(name_key LIKE %(q)s OR email LIKE %(q)s)")
            params["q"] = "%" + q.lower().replace("%", "\\%").replace("_", "\\_") + "%"
        if cursor:
            name_key, last = STAFF_CURSOR.decode(cursor, page_scope)
            where.append("(name_key, id) > (%(c_name)s, %(c_id)s)")
            params.update(c_name=name_key, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_STAFF_COLUMNS}, name_key FROM read.staff WHERE {' AND '.join(where)} "
                "ORDER BY name_key, id LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            STAFF_CURSOR.encode(rows[-1]["name_key"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return StaffPage(items=[_staff(r) for r in rows], next_cursor=next_cursor)

    def staff(self, brand_id: UUID, staff_id: UUID) -> StaffView | None:
        """One staff user of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_STAFF_COLUMNS} FROM read.staff WHERE id = %s AND brand_id = %s", (staff_id, brand_id)
            ).fetchone()
        return _staff(row) if row else None

    def profile(self, brand_id: UUID, staff_id: UUID, today: date) -> StaffProfile | None:
        """A staff user of the brand with effective permissions, direct reports, and leave on `today`."""
        view = self.staff(brand_id, staff_id)
        if view is None:
            return None
        reports = [StaffRef(r.id, r.name) for r in self.reports(brand_id, staff_id)]
        fields = {name: getattr(view, name) for name in _STAFF_FIELDS}
        return StaffProfile(**fields, reports=reports, on_leave_today=view.on_leave(today))

    def reports(self, brand_id: UUID, manager_id: UUID) -> list[StaffView]:
        """Who reports directly to `manager_id`."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_STAFF_COLUMNS} FROM read.staff WHERE brand_id = %s AND manager_id = %s ORDER BY name_key",
                (brand_id, manager_id),
            ).fetchall()
        return [_staff(r) for r in rows]

    def team_of(self, brand_id: UUID, manager_id: UUID) -> list[UUID]:
        """The manager and everyone who reports to them, directly or indirectly (one recursive query over
        read.staff, cycle-safe); empty when `manager_id` is not a staff member of the brand."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT t.id FROM {team_sql()} t ORDER BY t.id", {"brand": brand_id, "team": manager_id}
            ).fetchall()
        return [r["id"] for r in rows]

    def logins(self, brand_id: UUID, staff_id: UUID, limit: int = 100) -> list[LoginView]:
        """Login history, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT at, succeeded, ip, user_agent, reason, locked_until FROM read.staff_logins "
                "WHERE brand_id = %s AND staff_id = %s ORDER BY position DESC LIMIT %s",
                (brand_id, staff_id, limit),
            ).fetchall()
        return [LoginView(**r) for r in rows]

    def api_keys(self, brand_id: UUID) -> list[ApiKeyView]:
        """Every key of the brand, newest first, masked, with last use."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_KEY_COLUMNS} WHERE k.brand_id = %s ORDER BY k.created_at DESC, k.id", (brand_id,)
            ).fetchall()
        return [_key(r) for r in rows]

    def api_key_page(self, brand_id: UUID, cursor: str | None = None, limit: int = 50) -> Page:
        """The brand's keys, newest first, masked, with last use; keyset pages (api_keys_brand_idx's order)."""
        page_scope = (brand_id,)  # the filters its cursor is bound to
        where = "k.brand_id = %(brand)s"
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if cursor:
            at, last = API_KEYS_CURSOR.decode(cursor, page_scope)
            # After (created_at, id) in created_at-descending, id-ascending order.
            where += " AND (k.created_at < %(c_at)s OR (k.created_at = %(c_at)s AND k.id > %(c_id)s))"
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_KEY_COLUMNS} WHERE {where} ORDER BY k.created_at DESC, k.id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            API_KEYS_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[_key(r) for r in rows], next_cursor=next_cursor)

    def api_key(self, brand_id: UUID, key_id: UUID) -> ApiKeyView | None:
        """One key of the brand, masked, with last use."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_KEY_COLUMNS} WHERE k.id = %s AND k.brand_id = %s", (key_id, brand_id)).fetchone()
        return _key(row) if row else None

    def config_history(self, brand_id: UUID, cursor: str | None = None, limit: int = 100) -> ConfigHistoryPage:
        """Configuration changes, newest first."""
        page_scope = (brand_id,)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if cursor:
            position, setting = HISTORY_CURSOR.decode(cursor, page_scope)
            where.append("(position, setting) < (%(c_pos)s, %(c_set)s)")
            params.update(c_pos=position, c_set=setting)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT position, changed_at, actor, setting, old, new FROM read.brand_config_history "
                f"WHERE {' AND '.join(where)} ORDER BY position DESC, setting DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            HISTORY_CURSOR.encode(rows[-1]["position"], rows[-1]["setting"], scope=page_scope)
            if more and rows
            else None
        )
        items = [ConfigChangeView(r["changed_at"], r["actor"], r["setting"], r["old"], r["new"]) for r in rows]
        return ConfigHistoryPage(items=items, next_cursor=next_cursor)
