"""Operational state that is not business history: login sessions and throttle, idempotency records, schedule ticks."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from adapters import ops_activity
from domain.identity.authentication import LoginAttempt
from domain.shared.ddl import unless_present

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.source_tokens (
        source_id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        token text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS ops.sessions (
        token_hash text PRIMARY KEY,
        staff_id uuid NOT NULL,
        brand_id uuid NOT NULL,
        csrf_token text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        ip text,
        user_agent text
    )""",
    "CREATE INDEX IF NOT EXISTS sessions_expiry_idx ON ops.sessions (expires_at)",
    "CREATE INDEX IF NOT EXISTS sessions_staff_idx ON ops.sessions (staff_id)",
    """CREATE TABLE IF NOT EXISTS ops.idempotency_keys (
        brand_id uuid NOT NULL,
        principal text NOT NULL,
        key text NOT NULL,
        request_hash text NOT NULL,
        status int,
        response jsonb,
        headers jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (brand_id, principal, key)
    )""",
    "CREATE INDEX IF NOT EXISTS idempotency_created_idx ON ops.idempotency_keys (created_at)",
    # The first answer's bytes as sent, so a replay is byte for byte the same (`response`, the body parsed as JSON,
    # is only read for records kept before this column: a replay of those is equal JSON, not the same bytes).
    "ALTER TABLE ops.idempotency_keys ADD COLUMN IF NOT EXISTS body bytea",
    # Set in the transaction of the request's first recorded events (`OperationalStore.marking_applied`): a request
    # that died after recording something is not run again when its reservation goes stale.
    "ALTER TABLE ops.idempotency_keys ADD COLUMN IF NOT EXISTS applied boolean NOT NULL DEFAULT false",
    # Set when an applied request ended without storing an answer (a 5xx or an exception after its commit, an answer
    # that could not be stored): it is no longer in flight, and is never run again (`abandon_idempotent`).
    "ALTER TABLE ops.idempotency_keys ADD COLUMN IF NOT EXISTS ended_at timestamptz",
    """CREATE TABLE IF NOT EXISTS ops.api_key_usage (
        key_id uuid PRIMARY KEY,
        last_used_at timestamptz NOT NULL
    )""",
    # Login attempts per email (known or not), kept as a SHA-256 so unknown emails are not stored as typed.
    """CREATE TABLE IF NOT EXISTS ops.login_throttle (
        subject_hash text PRIMARY KEY,
        failures int NOT NULL,
        locked_until timestamptz,
        updated_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS login_throttle_updated_idx ON ops.login_throttle (updated_at)",
    # What a borrower typed into a step of the web flow and posted after their session ended, kept for them to find
    # on that step once signed in again (api/pages/borrower_flow.py): by the SHA-256 of a short-lived cookie token,
    # for that borrower only, read once. Never a code, a CSRF token or a file.
    """CREATE TABLE IF NOT EXISTS ops.borrower_drafts (
        token_hash text PRIMARY KEY,
        brand_id uuid NOT NULL,
        borrower_id uuid NOT NULL,
        target text NOT NULL,
        fields jsonb NOT NULL,
        expires_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS borrower_drafts_expiry_idx ON ops.borrower_drafts (expires_at)",
    """CREATE TABLE IF NOT EXISTS ops.schedule_slots (
        brand_id uuid NOT NULL,
        job_name text NOT NULL,
        last_slot timestamptz NOT NULL,
        PRIMARY KEY (brand_id, job_name)
    )""",
)

SESSION_LIFETIME = timedelta(hours=8)
#: How long a borrower's input posted after their session ended is kept for them to sign in again and find it.
DRAFT_LIFETIME = timedelta(hours=1)
# No request runs this long: a key still "in progress" after it was left by a request that died.
IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Session:
    """A portal login session."""

    staff_id: UUID
    brand_id: UUID
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class StoredResponse:
    """The first response to an idempotent request; `status` None while the first request is in flight."""

    request_hash: str
    status: int | None
    body: bytes | None
    headers: dict[str, str]
    #: The request recorded something (its events committed) and never stored its answer: it died or failed after,
    #: unless it is still in flight (`stale` False: neither ended nor older than IDEMPOTENCY_STALE_AFTER).
    applied: bool = False
    stale: bool = False


@dataclass(frozen=True)
class BorrowerDraft:
    """A borrower's input kept across a sign-in: whose it is, the page it was posted from (`target`), its fields."""

    brand_id: UUID
    borrower_id: UUID
    target: str
    fields: dict[str, str]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_KEEP_TOKEN = (
    "INSERT INTO ops.source_tokens (source_id, brand_id, token) VALUES (%s, %s, %s) "
    "ON CONFLICT (source_id) DO UPDATE SET token = EXCLUDED.token, updated_at = now()"
)


class SourceTokenStore:
    """Notice source API tokens (`domain.notices.source.SourceTokens`): secrets stay out of the event history, yet
    a token is written in the transaction that records its source's events."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def token(self, source_id: UUID) -> str | None:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT token FROM ops.source_tokens WHERE source_id = %s", (source_id,)).fetchone()
        return str(row["token"]) if row else None

    def keeping(self, brand_id: UUID, source_id: UUID, token: str) -> Callable[[Any], None]:
        """The write keeping the token: on the events' transaction cursor, or on its own (`None`)."""

        def write(cursor: Any) -> None:
            if cursor is not None:
                cursor.execute(_KEEP_TOKEN, (source_id, brand_id, token))
                return
            with self.pool.connection() as conn:
                conn.execute(_KEEP_TOKEN, (source_id, brand_id, token))

        return write


#: `OperationalStore.touch_api_key`: the usage row moved on once a minute, made on first use (a first use by
#: two requests at once: one row, the other does nothing).
_TOUCH_API_KEY = (
    "WITH touched AS (UPDATE ops.api_key_usage SET last_used_at = %(now)s WHERE key_id = %(key)s "
    "AND last_used_at < %(now)s - interval '1 minute' RETURNING key_id) "
    "INSERT INTO ops.api_key_usage (key_id, last_used_at) SELECT %(key)s, %(now)s "
    "WHERE NOT EXISTS (SELECT FROM ops.api_key_usage WHERE key_id = %(key)s) ON CONFLICT (key_id) DO NOTHING"
)


class OperationalStore:
    """SQL for sessions, idempotency keys and scheduler slots."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def setup(self) -> None:
        with self.pool.connection() as conn:
            for statement in DDL:
                conn.execute(unless_present(statement))
            ops_activity.setup(conn)  # the trail reads it from the start, whichever contexts run

    # Sessions ---------------------------------------------------------------------

    def create_session(
        self, staff_id: UUID, brand_id: UUID, now: datetime, ip: str | None = None, user_agent: str | None = None
    ) -> tuple[str, Session]:
        """Start a session; returns the cookie token (kept only as a hash) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(staff_id, brand_id, secrets.token_urlsafe(24), now + SESSION_LIFETIME)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.sessions (token_hash, staff_id, brand_id, csrf_token, created_at, expires_at, ip, user_agent) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    _hash(token),
                    staff_id,
                    brand_id,
                    session.csrf_token,
                    now,
                    session.expires_at,
                    ip,
                    (user_agent or "")[:300],
                ),
            )
        return token, session

    def session(self, token: str, now: datetime) -> Session | None:
        """The live session of a cookie token, or None when unknown or expired."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT staff_id, brand_id, csrf_token, expires_at FROM ops.sessions WHERE token_hash = %s AND expires_at > %s",
                (_hash(token), now),
            ).fetchone()
        return Session(**row) if row else None

    def end_session(self, token: str) -> None:
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM ops.sessions WHERE token_hash = %s", (_hash(token),))

    def purge_expired_sessions(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` sessions that expired before `before`; returns how many."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ops.sessions WHERE token_hash IN "
                "(SELECT token_hash FROM ops.sessions WHERE expires_at < %s LIMIT %s)",
                (before, limit),
            )
            return int(cur.rowcount)

    def end_sessions_of(self, staff_id: UUID) -> int:
        """End every session of a staff user (after disabling them or changing their password)."""
        with self.pool.connection() as conn:
            return int(conn.execute("DELETE FROM ops.sessions WHERE staff_id = %s", (staff_id,)).rowcount)

    def sessions_of(self, staff_id: UUID, now: datetime) -> list[dict[str, Any]]:
        """The session report of a staff user: live sessions, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT created_at, expires_at, ip, user_agent FROM ops.sessions WHERE staff_id = %s AND expires_at > %s "
                "ORDER BY created_at DESC",
                (staff_id, now),
            ).fetchall()
        return list(rows)

    # API key usage ----------------------------------------------------------------

    def touch_api_key(self, key_id: UUID, now: datetime) -> None:
        """Remember when a key was last used (written at most once a minute per key). Every request with a key
        comes here, so a use within the minute writes nothing: no row lock, no transaction id, so no WAL flush at
        commit (`INSERT ... ON CONFLICT DO UPDATE ... WHERE` locked the row even when its WHERE kept it, and so cost
        a WAL flush per request: 1.3 ms against 0.1 ms measured)."""
        with self.pool.connection() as conn:
            conn.execute(_TOUCH_API_KEY, {"key": key_id, "now": now}, prepare=True)

    # Login throttle ---------------------------------------------------------------

    def admit_login(
        self, subject: str, now: datetime, lockout: Callable[[int, datetime], datetime | None]
    ) -> LoginAttempt:
        """Count a login attempt as a failure before its password is checked, or refuse it while locked.

        The upsert takes the row lock, so concurrent attempts on one email are counted one after another and
        the attempt that reaches the limit sets the lock before any later one is admitted."""
        subject_hash = _hash(subject)
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO ops.login_throttle AS t (subject_hash, failures, updated_at) VALUES (%s, 1, %s) "
                "ON CONFLICT (subject_hash) DO UPDATE SET failures = t.failures + 1, updated_at = EXCLUDED.updated_at "
                "WHERE t.locked_until IS NULL OR t.locked_until <= EXCLUDED.updated_at "
                "RETURNING failures",
                (subject_hash, now),
            ).fetchone()
            if row is None:  # Locked: the conflicting row stays locked by us, so this read is current.
                locked = conn.execute(
                    "SELECT failures, locked_until FROM ops.login_throttle WHERE subject_hash = %s", (subject_hash,)
                ).fetchone()
                return LoginAttempt(False, locked["failures"], locked["locked_until"])
            locked_until = lockout(row["failures"], now)
            if locked_until is not None:
                conn.execute(
                    "UPDATE ops.login_throttle SET locked_until = %s WHERE subject_hash = %s",
                    (locked_until, subject_hash),
                )
        return LoginAttempt(True, row["failures"], locked_until)

    def clear_login_failures(self, subject: str) -> None:
        """A successful login: the email's count starts again."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM ops.login_throttle WHERE subject_hash = %s", (_hash(subject),))

    def purge_login_throttle(self, before: datetime, limit: int) -> int:
        """Forget up to `limit` emails with no attempt since `before` and no lock still running."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ops.login_throttle WHERE subject_hash IN (SELECT subject_hash FROM ops.login_throttle "
                "WHERE updated_at < %s AND (locked_until IS NULL OR locked_until < %s) LIMIT %s)",
                (before, before, limit),
            )
            return int(cur.rowcount)

    # Idempotency ------------------------------------------------------------------

    def begin_idempotent(self, brand_id: UUID, principal: str, key: str, request_hash: str) -> StoredResponse | None:
        """Reserve the key for this request; returns the earlier record when the key was used before.

        A reservation still in progress after IDEMPOTENCY_STALE_AFTER belongs to a request that died without
        releasing it (a killed process, a lost database connection): this request takes it over - unless that
        request had recorded something (`applied`): then it is not run again, and the earlier record says so."""
        with self.pool.connection() as conn:
            inserted = conn.execute(
                "INSERT INTO ops.idempotency_keys (brand_id, principal, key, request_hash) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (brand_id, principal, key) DO UPDATE "
                "SET request_hash = EXCLUDED.request_hash, created_at = now() "
                "WHERE ops.idempotency_keys.status IS NULL AND ops.idempotency_keys.created_at < now() - %s "
                "AND NOT ops.idempotency_keys.applied RETURNING key",
                (brand_id, principal, key, request_hash, IDEMPOTENCY_STALE_AFTER),
            ).fetchone()
            if inserted:
                return None
            row = conn.execute(
                "SELECT request_hash, status, body, response, headers, applied, "
                "(ended_at IS NOT NULL OR created_at < now() - %s) AS stale "
                "FROM ops.idempotency_keys WHERE brand_id = %s AND principal = %s AND key = %s",
                (IDEMPOTENCY_STALE_AFTER, brand_id, principal, key),
            ).fetchone()
        if row is None:  # Purged between the two statements: treat as new.
            return self.begin_idempotent(brand_id, principal, key, request_hash)
        body = row["body"]
        if body is None and row["response"] is not None:  # kept before the bytes were: its JSON, written again
            body = json.dumps(row["response"]).encode()
        return StoredResponse(
            row["request_hash"], row["status"], None if body is None else bytes(body), row["headers"] or {},
            row["applied"], row["stale"],
        )  # fmt: skip

    def marking_applied(self, brand_id: UUID, principal: str, key: str) -> Callable[[Any], None]:
        """The write marking the key's request applied, on the cursor of the transaction recording its events
        (`domain.shared.application.SAVE_BESIDE`)."""

        def write(cursor: Any) -> None:
            cursor.execute(
                "UPDATE ops.idempotency_keys SET applied = true WHERE brand_id = %s AND principal = %s AND key = %s "
                "AND NOT applied",
                (brand_id, principal, key),
            )

        return write

    def mark_applied(self, brand_id: UUID, principal: str, key: str) -> None:
        """Mark the key's request applied on its own (it made a provider act: `ACTED_OUTSIDE`)."""
        with self.pool.connection() as conn:
            self.marking_applied(brand_id, principal, key)(conn.cursor())

    def finish_idempotent(
        self, brand_id: UUID, principal: str, key: str, status: int, body: bytes | None, headers: dict[str, str]
    ) -> None:
        """Store the response of the request that reserved the key: its status, its body's bytes as sent and the
        headers a replay repeats."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.idempotency_keys SET status = %s, body = %s, headers = %s "
                "WHERE brand_id = %s AND principal = %s AND key = %s",
                (status, body, Jsonb(headers), brand_id, principal, key),
            )

    def abandon_idempotent(self, brand_id: UUID, principal: str, key: str) -> None:
        """End a request that stores no answer (a server error, an interruption, an answer that could not be stored):
        its key is freed so the client can retry - unless the request recorded something (`applied`, set in the
        transaction of its events): that key is kept, marked ended, and a retry is told it was applied (never run
        again)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM ops.idempotency_keys WHERE brand_id = %s AND principal = %s AND key = %s "
                "AND status IS NULL AND NOT applied",
                (brand_id, principal, key),
            )
            conn.execute(
                "UPDATE ops.idempotency_keys SET ended_at = now() WHERE brand_id = %s AND principal = %s AND key = %s "
                "AND status IS NULL AND applied",
                (brand_id, principal, key),
            )

    def purge_idempotency_keys(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` idempotency records created before `before`."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ops.idempotency_keys WHERE ctid IN "
                "(SELECT ctid FROM ops.idempotency_keys WHERE created_at < %s LIMIT %s)",
                (before, limit),
            )
            return int(cur.rowcount)

    # Borrower drafts ---------------------------------------------------------------

    def keep_draft(self, brand_id: UUID, borrower_id: UUID, target: str, fields: dict[str, str], now: datetime) -> str:
        """Keep what a borrower posted to `target` for `DRAFT_LIFETIME`; returns the token it is found by (kept
        only as a hash)."""
        token = secrets.token_urlsafe(24)
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.borrower_drafts (token_hash, brand_id, borrower_id, target, fields, expires_at) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (_hash(token), brand_id, borrower_id, target, Jsonb(fields), now + DRAFT_LIFETIME),
            )
        return token

    def draft(self, token: str, now: datetime) -> BorrowerDraft | None:
        """The draft a token names, unless it has expired."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT brand_id, borrower_id, target, fields FROM ops.borrower_drafts "
                "WHERE token_hash = %s AND expires_at > %s",
                (_hash(token), now),
            ).fetchone()
        if row is None:
            return None
        fields = {str(k): str(v) for k, v in dict(row["fields"]).items()}
        return BorrowerDraft(row["brand_id"], row["borrower_id"], row["target"], fields)

    def drop_draft(self, token: str) -> None:
        """Forget a draft (given back, or not its borrower's to have)."""
        with self.pool.connection() as conn:
            conn.execute("DELETE FROM ops.borrower_drafts WHERE token_hash = %s", (_hash(token),))

    def purge_borrower_drafts(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` drafts that expired before `before`; returns how many."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ops.borrower_drafts WHERE token_hash IN "
                "(SELECT token_hash FROM ops.borrower_drafts WHERE expires_at < %s LIMIT %s)",
                (before, limit),
            )
            return int(cur.rowcount)

    # Scheduler slots ---------------------------------------------------------------

    def set_source_token(self, brand_id: UUID, source_id: UUID, token: str) -> None:
        """Keep a notice source's API token on its own (the notices application keeps it with its events)."""
        SourceTokenStore(self.pool).keeping(brand_id, source_id, token)(None)

    def source_token(self, source_id: UUID) -> str | None:
        """A notice source's API token."""
        return SourceTokenStore(self.pool).token(source_id)

    def last_slot(self, brand_id: UUID, job_name: str) -> datetime | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT last_slot FROM ops.schedule_slots WHERE brand_id = %s AND job_name = %s", (brand_id, job_name)
            ).fetchone()
        return row["last_slot"] if row else None

    def last_slots(self) -> dict[tuple[UUID, str], datetime]:
        """Every brand's and job's last fired slot, in one read (the scheduler's pass over all of them)."""
        with self.pool.connection() as conn:
            rows = conn.execute("SELECT brand_id, job_name, last_slot FROM ops.schedule_slots").fetchall()
        return {(row["brand_id"], row["job_name"]): row["last_slot"] for row in rows}

    def set_last_slot(self, brand_id: UUID, job_name: str, slot: datetime) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.schedule_slots (brand_id, job_name, last_slot) VALUES (%s, %s, %s) "
                "ON CONFLICT (brand_id, job_name) DO UPDATE SET last_slot = greatest(ops.schedule_slots.last_slot, EXCLUDED.last_slot)",
                (brand_id, job_name, slot),
            )
