"""Read models of the identity context: staff directory, login history, API keys, configuration history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.identity.api_key import ApiKey
from domain.identity.brand_config import BrandConfiguration
from domain.identity.staff import StaffUser
from projections.engine import Projection, Write, topics_of
from projections.keyset import KeysetCursor, Page

#: Staff pages are ordered by (name_key, id); configuration history by (position, setting), newest first.
STAFF_CURSOR = KeysetCursor(str, UUID)
HISTORY_CURSOR = KeysetCursor(int, str)

S = StaffUser


class StaffDirectory(Projection):
    """One row per staff user (what lists, the profile and pickers show) and their login history."""

    name = "staff_directory"
    source = "identity"
    topics = topics_of(
        S.Created, S.ProfileEdited, S.RolesAssigned, S.PermissionOverridden, S.PermissionOverrideCleared,
        S.ManagerAssigned, S.CompaniesAuthorised, S.AvailabilitySet, S.LeaveScheduled, S.LeaveCancelled,
        S.InviteIssued, S.InviteAccepted, S.Disabled, S.Enabled, S.LoggedIn, S.LoginFailed,
    )  # fmt: skip
    tables = ("read.staff", "read.staff_logins")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.staff (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            name text NOT NULL,
            name_key text NOT NULL,
            email text NOT NULL,
            roles text[] NOT NULL,
            overrides jsonb NOT NULL DEFAULT '{}',
            companies text[] NOT NULL DEFAULT '{}',
            manager_id uuid,
            enabled boolean NOT NULL DEFAULT true,
            available boolean NOT NULL DEFAULT true,
            leaves jsonb NOT NULL DEFAULT '{}',
            has_password boolean NOT NULL,
            invite_expires_at timestamptz,
            last_login_at timestamptz,
            failed_logins int NOT NULL DEFAULT 0,
            locked_until timestamptz,
            version int NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS staff_brand_name_idx ON read.staff (brand_id, name_key, id)",
        "CREATE INDEX IF NOT EXISTS staff_manager_idx ON read.staff (manager_id)",
        """CREATE TABLE IF NOT EXISTS read.staff_logins (
            staff_id uuid NOT NULL,
            position bigint NOT NULL,
            brand_id uuid NOT NULL,
            at timestamptz NOT NULL,
            succeeded boolean NOT NULL,
            ip text,
            user_agent text,
            reason text,
            locked_until timestamptz,
            PRIMARY KEY (staff_id, position)
        )""",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        sid, v, at = event.originator_id, event.originator_version, event.timestamp

        def update(assignments: str, *params: Any) -> Write:
            return Write(
                f"UPDATE read.staff SET {assignments}, version = %s, updated_at = %s WHERE id = %s",
                (*params, v, at, sid),
            )

        if isinstance(event, S.Created):
            yield Write(
                "INSERT INTO read.staff (id, brand_id, name, name_key, email, roles, companies, manager_id, has_password, "
                "version, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                (sid, event.brand_id, event.name, event.name.lower(), event.email, list(event.roles), list(event.companies),
                 event.manager_id, bool(event.password_hash), v, at, at),
            )  # fmt: skip
        elif isinstance(event, S.ProfileEdited):
            yield update(
                "name = coalesce(%s, name), name_key = coalesce(lower(%s), name_key), email = coalesce(%s, email)",
                event.name, event.name, event.email,
            )  # fmt: skip
        elif isinstance(event, S.RolesAssigned):
            yield update("roles = %s", list(event.roles))
        elif isinstance(event, S.PermissionOverridden):
            level = event.level.value if event.level else "NONE"
            yield update(
                "overrides = overrides || jsonb_build_object(%s::text, %s::text)", event.permission.value, level
            )
        elif isinstance(event, S.PermissionOverrideCleared):
            yield update("overrides = overrides - %s", event.permission.value)
        elif isinstance(event, S.ManagerAssigned):
            yield update("manager_id = %s", event.manager_id)
        elif isinstance(event, S.CompaniesAuthorised):
            yield update("companies = %s", list(event.companies))
        elif isinstance(event, S.AvailabilitySet):
            yield update("available = %s", event.available)
        elif isinstance(event, S.LeaveScheduled):
            leave = event.leave.model_dump(mode="json")
            yield update("leaves = leaves || jsonb_build_object(%s::text, %s::jsonb)", leave["id"], Jsonb(leave))
        elif isinstance(event, S.LeaveCancelled):
            yield update("leaves = leaves - %s", str(event.leave_id))
        elif isinstance(event, S.InviteIssued):
            yield update("invite_expires_at = %s", event.expires_at)
        elif isinstance(event, S.InviteAccepted):
            yield update("invite_expires_at = NULL, has_password = %s", True)
        elif isinstance(event, S.Disabled | S.Enabled):
            yield update("enabled = %s", isinstance(event, S.Enabled))
        elif isinstance(event, S.LoggedIn | S.LoginFailed):
            ok = isinstance(event, S.LoggedIn)
            if isinstance(event, S.LoggedIn):
                yield update("last_login_at = %s, failed_logins = 0, locked_until = NULL", at)
            else:
                yield update(
                    "failed_logins = failed_logins + 1, locked_until = coalesce(%s, locked_until)", event.locked_until
                )
            yield Write(
                "INSERT INTO read.staff_logins (staff_id, position, brand_id, at, succeeded, ip, user_agent, reason, "
                "locked_until) SELECT %s, %s, brand_id, %s, %s, %s, %s, %s, %s FROM read.staff WHERE id = %s "
                "ON CONFLICT DO NOTHING",
                (sid, position, at, ok, event.ip, getattr(event, "user_agent", None), getattr(event, "reason", None),
                 getattr(event, "locked_until", None), sid),
            )  # fmt: skip


class ApiKeyList(Projection):
    """One row per API key (masked: only a prefix of the secret)."""

    name = "api_keys"
    source = "identity"
    topics = topics_of(ApiKey.Issued, ApiKey.Revoked)
    tables = ("read.api_keys",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.api_keys (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            label text NOT NULL,
            role text NOT NULL,
            prefix text NOT NULL,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz,
            revoked_by text
        )""",
        "CREATE INDEX IF NOT EXISTS api_keys_brand_idx ON read.api_keys (brand_id, created_at DESC, id)",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, ApiKey.Issued):
            yield Write(
                "INSERT INTO read.api_keys (id, brand_id, label, role, prefix, created_by, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (
                    event.originator_id,
                    event.brand_id,
                    event.label,
                    event.role,
                    event.prefix,
                    event.actor,
                    event.timestamp,
                ),
            )
        elif isinstance(event, ApiKey.Revoked):
            yield Write(
                "UPDATE read.api_keys SET revoked_at = %s, revoked_by = %s WHERE id = %s",
                (event.timestamp, event.actor, event.originator_id),
            )


class BrandConfigHistory(Projection):
    """Every configuration change: who, when, setting, old -> new."""

    name = "brand_config_history"
    source = "identity"
    topics = topics_of(BrandConfiguration.Initialised, BrandConfiguration.Changed)
    tables = ("read.brand_config_history",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.brand_config_history (
            position bigint NOT NULL,
            setting text NOT NULL,
            brand_id uuid NOT NULL,
            changed_at timestamptz NOT NULL,
            actor text NOT NULL,
            old jsonb,
            new jsonb,
            PRIMARY KEY (position, setting)
        )""",
        "CREATE INDEX IF NOT EXISTS brand_config_history_idx ON read.brand_config_history (brand_id, position DESC)",
        """CREATE TABLE IF NOT EXISTS read.brand_config_owner (
            config_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL
        )""",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, BrandConfiguration.Initialised):
            yield Write(
                "INSERT INTO read.brand_config_owner (config_id, brand_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (event.originator_id, event.brand_id),
            )
        elif isinstance(event, BrandConfiguration.Changed):
            for change in event.changes:
                yield Write(
                    "INSERT INTO read.brand_config_history (position, setting, brand_id, changed_at, actor, old, new) "
                    "SELECT %s, %s, brand_id, %s, %s, %s, %s FROM read.brand_config_owner WHERE config_id = %s "
                    "ON CONFLICT DO NOTHING",
                    (position, change.setting, event.timestamp, event.actor, Jsonb(change.old), Jsonb(change.new),
                     event.originator_id),
                )  # fmt: skip
            timezone = next((c.new for c in event.changes if c.setting == "timezone"), None)
            if timezone:
                yield Write(
                    "UPDATE read.brands SET timezone = %s WHERE id = (SELECT brand_id FROM read.brand_config_owner "
                    "WHERE config_id = %s)",
                    (timezone, event.originator_id),
                )


# Queries --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffView:
    """A staff user as lists and the profile show them."""

    id: UUID
    name: str
    email: str
    roles: list[str]
    overrides: dict[str, str]
    companies: list[str]
    manager_id: UUID | None
    enabled: bool
    available: bool
    leaves: list[dict[str, Any]]
    has_password: bool
    invite_expires_at: datetime | None
    last_login_at: datetime | None
    failed_logins: int
    locked_until: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


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
    old: Any
    new: Any


_STAFF_COLUMNS = (
    "id, name, email, roles, overrides, companies, manager_id, enabled, available, leaves, has_password, "
    "invite_expires_at, last_login_at, failed_logins, locked_until, version, created_at, updated_at"
)


def _staff(row: dict[str, Any]) -> StaffView:
    leaves = sorted(row.pop("leaves").values(), key=lambda leave: leave["start"])
    return StaffView(**row, leaves=leaves)


class IdentityQueries:
    """Brand-scoped queries over staff, logins, API keys and configuration history."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def staff_list(self, brand_id: UUID, q: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
        """Staff by name, optionally filtered by a name/email fragment; keyset pages."""
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if q:
            where.append("(name_key LIKE %(q)s OR email LIKE %(q)s)")
            params["q"] = "%" + q.lower().replace("%", "\\%").replace("_", "\\_") + "%"
        if cursor:
            name_key, last = STAFF_CURSOR.decode(cursor)
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
        next_cursor = STAFF_CURSOR.encode(rows[-1]["name_key"], rows[-1]["id"]) if more and rows else None
        for r in rows:
            r.pop("name_key")
        return Page(items=[_staff(r) for r in rows], next_cursor=next_cursor)

    def staff(self, brand_id: UUID, staff_id: UUID) -> StaffView | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_STAFF_COLUMNS} FROM read.staff WHERE id = %s AND brand_id = %s", (staff_id, brand_id)
            ).fetchone()
        return _staff(row) if row else None

    def reports(self, brand_id: UUID, manager_id: UUID) -> list[StaffView]:
        """Who reports directly to `manager_id`."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_STAFF_COLUMNS} FROM read.staff WHERE brand_id = %s AND manager_id = %s ORDER BY name_key",
                (brand_id, manager_id),
            ).fetchall()
        return [_staff(r) for r in rows]

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
                "SELECT k.id, k.label, k.role, k.prefix, k.created_by, k.created_at, k.revoked_at, u.last_used_at "
                "FROM read.api_keys k LEFT JOIN ops.api_key_usage u ON u.key_id = k.id "
                "WHERE k.brand_id = %s ORDER BY k.created_at DESC, k.id",
                (brand_id,),
            ).fetchall()
        return [
            ApiKeyView(
                id=r["id"],
                label=r["label"],
                role=r["role"],
                masked=f"cdk_{r['id'].hex[:8]}…_{r['prefix']}…",
                status="revoked" if r["revoked_at"] else "active",
                created_by=r["created_by"],
                created_at=r["created_at"],
                revoked_at=r["revoked_at"],
                last_used_at=r["last_used_at"],
            )
            for r in rows
        ]

    def config_history(self, brand_id: UUID, cursor: str | None = None, limit: int = 100) -> Page:
        """Configuration changes, newest first."""
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if cursor:
            position, setting = HISTORY_CURSOR.decode(cursor)
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
        next_cursor = HISTORY_CURSOR.encode(rows[-1]["position"], rows[-1]["setting"]) if more and rows else None
        items = [ConfigChangeView(**{k: v for k, v in r.items() if k != "position"}) for r in rows]
        return Page(items=items, next_cursor=next_cursor)
