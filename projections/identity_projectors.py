"""Projectors of the identity context: the staff directory and login history, API keys, configuration history.

Each projector reads its events through a table (event type -> the writes it makes); the queries over these
tables are `projections.identity`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from psycopg.types.json import Jsonb

from domain.identity.api_key import ApiKey
from domain.identity.application import Identity
from domain.identity.brand_config import BrandConfiguration
from domain.identity.staff import StaffUser
from projections.insight_indexes import STAFF_SEARCH_DDL
from projections.projection import Projection, Write, topics_of

S = StaffUser
C = BrandConfiguration

#: What a projector makes of one event recorded at a position.
Writes = Callable[[int, Any], Iterable[Write]]


def _staff(event: Any, assignments: str, *params: Any) -> Write:
    """An update of a staff row that also moves its version and updated_at."""
    return Write(
        f"UPDATE read.staff SET {assignments}, version = %s, updated_at = %s WHERE id = %s",
        (*params, event.originator_version, event.timestamp, event.originator_id),
    )


def _created(position: int, event: S.Created) -> Iterable[Write]:
    at = event.timestamp
    yield Write(
        "INSERT INTO read.staff (id, brand_id, name, name_key, email, roles, companies, manager_id, has_password, "
        "version, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO NOTHING",
        (event.originator_id, event.brand_id, event.name, event.name.lower(), event.email, list(event.roles),
         list(event.companies), event.manager_id, bool(event.password_hash), event.originator_version, at, at),
    )  # fmt: skip


def _profile_edited(position: int, event: S.ProfileEdited) -> Iterable[Write]:
    yield _staff(
        event,
        "name = coalesce(%s, name), name_key = coalesce(lower(%s), name_key), email = coalesce(%s, email)",
        event.name, event.name, event.email,
    )  # fmt: skip


def _overridden(position: int, event: S.PermissionOverridden) -> Iterable[Write]:
    level = event.level.value if event.level else "NONE"
    yield _staff(
        event, "overrides = overrides || jsonb_build_object(%s::text, %s::text)", event.permission.value, level
    )


def _leave_scheduled(position: int, event: S.LeaveScheduled) -> Iterable[Write]:
    leave = event.leave.model_dump(mode="json")
    yield _staff(event, "leaves = leaves || jsonb_build_object(%s::text, %s::jsonb)", leave["id"], Jsonb(leave))


def _login(position: int, event: S.LoggedIn | S.LoginFailed) -> Iterable[Write]:
    """A login attempt: the staff row's counters, and a line of the login history."""
    if isinstance(event, S.LoggedIn):
        yield _staff(event, "last_login_at = %s, failed_logins = 0, locked_until = NULL", event.timestamp)
        reason, locked_until, user_agent = None, None, event.user_agent
    else:
        yield _staff(
            event, "failed_logins = failed_logins + 1, locked_until = coalesce(%s, locked_until)", event.locked_until
        )
        reason, locked_until, user_agent = event.reason, event.locked_until, None
    sid = event.originator_id
    yield Write(
        "INSERT INTO read.staff_logins (staff_id, position, brand_id, at, succeeded, ip, user_agent, reason, "
        "locked_until) SELECT %s, %s, brand_id, %s, %s, %s, %s, %s, %s FROM read.staff WHERE id = %s "
        "ON CONFLICT DO NOTHING",
        (sid, position, event.timestamp, isinstance(event, S.LoggedIn), event.ip, user_agent, reason, locked_until,
         sid),
    )  # fmt: skip


def _set(assignments: str, value: Callable[[Any], Any]) -> Writes:
    """The writes of an event that sets columns from one value of the event."""

    def writes(position: int, event: Any) -> Iterable[Write]:
        yield _staff(event, assignments, value(event))

    return writes


#: The staff directory's writes for each event of a staff user.
STAFF_WRITES: dict[type[Any], Writes] = {
    S.Created: _created,
    S.ProfileEdited: _profile_edited,
    S.RolesAssigned: _set("roles = %s", lambda e: list(e.roles)),
    S.PermissionOverridden: _overridden,
    S.PermissionOverrideCleared: _set("overrides = overrides - %s", lambda e: e.permission.value),
    S.ManagerAssigned: _set("manager_id = %s", lambda e: e.manager_id),
    S.CompaniesAuthorised: _set("companies = %s", lambda e: list(e.companies)),
    S.AvailabilitySet: _set("available = %s", lambda e: e.available),
    S.LeaveScheduled: _leave_scheduled,
    S.LeaveCancelled: _set("leaves = leaves - %s", lambda e: str(e.leave_id)),
    S.InviteIssued: _set("invite_expires_at = %s", lambda e: e.expires_at),
    S.InviteAccepted: _set("invite_expires_at = NULL, has_password = %s", lambda e: True),
    S.Disabled: _set("enabled = %s", lambda e: False),
    S.Enabled: _set("enabled = %s", lambda e: True),
    S.LoggedIn: _login,
    S.LoginFailed: _login,
}


def _dispatch(table: dict[type[Any], Writes], position: int, event: Any) -> Iterable[Write]:
    writes = table.get(type(event))
    return writes(position, event) if writes is not None else ()


class StaffDirectory(Projection):
    """One row per staff user (what lists, the profile and pickers show) and their login history."""

    name = "staff_directory"
    source = Identity.name
    topics = topics_of(*STAFF_WRITES)
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
        *STAFF_SEARCH_DDL,
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
        return _dispatch(STAFF_WRITES, position, event)


def _key_issued(position: int, event: ApiKey.Issued) -> Iterable[Write]:
    yield Write(
        "INSERT INTO read.api_keys (id, brand_id, label, role, prefix, created_by, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (event.originator_id, event.brand_id, event.label, event.role, event.prefix, event.actor, event.timestamp),
    )


def _key_revoked(position: int, event: ApiKey.Revoked) -> Iterable[Write]:
    yield Write(
        "UPDATE read.api_keys SET revoked_at = %s, revoked_by = %s WHERE id = %s",
        (event.timestamp, event.actor, event.originator_id),
    )


#: The key list's writes for each event of an API key.
KEY_WRITES: dict[type[Any], Writes] = {ApiKey.Issued: _key_issued, ApiKey.Revoked: _key_revoked}


class ApiKeyList(Projection):
    """One row per API key (masked: only a prefix of the secret)."""

    name = "api_keys"
    source = Identity.name
    topics = topics_of(*KEY_WRITES)
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
        return _dispatch(KEY_WRITES, position, event)


def _config_initialised(position: int, event: C.Initialised) -> Iterable[Write]:
    yield Write(
        "INSERT INTO read.brand_config_owner (config_id, brand_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (event.originator_id, event.brand_id),
    )


def _config_changed(position: int, event: C.Changed) -> Iterable[Write]:
    """One history row per setting changed (a new timezone reaches the brand directory by its own projection of the
    same event: `projections.brands`)."""
    for change in event.changes:
        yield Write(
            "INSERT INTO read.brand_config_history (position, setting, brand_id, changed_at, actor, old, new) "
            "SELECT %s, %s, brand_id, %s, %s, %s, %s FROM read.brand_config_owner WHERE config_id = %s "
            "ON CONFLICT DO NOTHING",
            (position, change.setting, event.timestamp, event.actor, Jsonb(change.old), Jsonb(change.new),
             event.originator_id),
        )  # fmt: skip


#: The history's writes for each event of a brand configuration.
CONFIG_WRITES: dict[type[Any], Writes] = {C.Initialised: _config_initialised, C.Changed: _config_changed}


class BrandConfigHistory(Projection):
    """Every configuration change: who, when, setting, old -> new."""

    name = "brand_config_history"
    source = Identity.name
    topics = topics_of(*CONFIG_WRITES)
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
        return _dispatch(CONFIG_WRITES, position, event)
