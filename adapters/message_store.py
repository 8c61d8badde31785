"""Every message sent to a borrower and its life, in PostgreSQL (`ops.messages`, issue #17, docs/engagement.md).

A message is **claimed before it is sent**: its row is inserted with a unique `(brand_id, dedupe_key)` (loan,
instalment, kind and channel for the automatic ones; the caller's idempotency key otherwise), so a rerun, a second
worker, a killed job's retry or a repeated webhook finds the key taken and sends nothing. The states:

    queued -> sending -> sent -> delivered | failed
    deferred (quiet hours: `next_attempt_at` is 08:00 brand time) -> sending ...
    suppressed (the borrower opted out of the channel, or DND; or a waiting reminder's instalment is no longer owed,
                or a later reminder overtook it: recorded with the reason, never sent)
    failed with a retryable reason -> queued again (`attempts` < the policy's) at `next_attempt_at`

`sending` is written before the provider is called; the provider call carries the message's reference
(`<id>:<attempt>`), which our providers deduplicate, so re-sending a message left `sending` by a crash never
reaches the handset twice. Email left `sending` is presumed sent (the mail server may have it), never sent again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Any
from uuid import UUID

from adapters.webhook_inbox import DDL as INBOX_DDL
from adapters.webhook_inbox import WebhookInbox
from domain.shared.ddl import unless_present

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.messages (
        id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        dedupe_key text NOT NULL,
        customer_id uuid NOT NULL,
        loan_id uuid,
        instalment int,
        kind text NOT NULL,
        channel text NOT NULL,
        source text NOT NULL,
        template_id uuid,
        template_version int,
        language text,
        recipient text,
        subject text,
        body text NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'failed',
            'suppressed')),
        reason text,
        provider text,
        provider_id text,
        attempts int NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        sent_at timestamptz,
        delivered_at timestamptz,
        UNIQUE (brand_id, dedupe_key)
    )""",
    "CREATE INDEX IF NOT EXISTS messages_brand_idx ON ops.messages (brand_id, created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS messages_customer_idx ON ops.messages (brand_id, customer_id, created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS messages_loan_idx ON ops.messages (brand_id, loan_id, created_at DESC, id DESC) "
    "WHERE loan_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS messages_pending_idx ON ops.messages (brand_id, next_attempt_at, id) "
    "WHERE status IN ('queued', 'deferred', 'sending')",
    "CREATE INDEX IF NOT EXISTS messages_provider_idx ON ops.messages (provider_id) WHERE provider_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS messages_day_idx ON ops.messages (brand_id, created_at, channel, status)",
)
_SETUP_LOCK = 0x454E474D  # "ENGM"

_COLUMNS = (
    "id, brand_id, dedupe_key, customer_id, loan_id, instalment, kind, channel, source, template_id, "
    "template_version, language, recipient, subject, body, status, reason, provider, provider_id, attempts, "
    "next_attempt_at, created_at, updated_at, sent_at, delivered_at"
)
_NAMES = [c.strip() for c in _COLUMNS.split(",")]
_ROW = attrgetter(*_NAMES)
#: Each column's type, for the one-array-per-column `unnest` insert (a page of claims is 25 parameters, not 25 a row).
_TYPES = ("uuid", "uuid", "text", "uuid", "uuid", "int", "text", "text", "text", "uuid", "int", "text", "text", "text",
          "text", "text", "text", "text", "text", "int", "timestamptz", "timestamptz", "timestamptz", "timestamptz",
          "timestamptz")  # fmt: skip
assert len(_TYPES) == len(_NAMES)
_OUTCOME = ("id", "status", "reason", "provider", "provider_id", "next_at", "attempt")
_OUTCOME_TYPES = ("uuid", "text", "text", "text", "text", "timestamptz", "int")
PENDING = ("queued", "deferred", "sending")
#: A message `sending` for longer than this was left by a crashed sender: the next one sends it again (with the
#: same provider reference, which the provider deduplicates).
STUCK = timedelta(minutes=2)


def _rows(columns: Sequence[list[Any]], names: Sequence[str], types: Sequence[str]) -> tuple[str, list[Any]]:
    """A `SELECT` of the rows whose values are `columns` (one list per column, the rows in order) and its parameters:
    each column that varies as one array of an `unnest` (the statement's size does not grow with the page, and it
    plans once), each column with one value in every row (the brand, kind, channel, times, NULLs...) as one scalar,
    so a page of claims carries 7 arrays rather than 25 (dumping them element by element was the job's largest
    client cost in these writes, and PostgreSQL parses fewer)."""
    select: list[str] = []
    scalars: list[Any] = []
    arrays: list[Any] = []
    unnested: list[str] = []
    for name, kind, values in zip(names, types, columns, strict=True):
        first = values[0]
        if len(values) == 1 or (values[1] == first and values.count(first) == len(values)):
            select.append(f"%s::{kind} AS {name}")
            scalars.append(first)
        else:
            select.append(f"u.{name}")
            unnested.append(name)
            # uuids as one array literal (PostgreSQL parses it; psycopg's per-element dumping cost more than the rest)
            arrays.append("{" + ",".join("NULL" if v is None else str(v) for v in values) + "}" if kind == "uuid"
                          else values)  # fmt: skip
    if not arrays:
        return f"SELECT {', '.join(select)}", scalars
    types_of = dict(zip(names, types, strict=True))
    source = ", ".join(f"%s::{types_of[n]}[]" for n in unnested)
    return f"SELECT {', '.join(select)} FROM unnest({source}) AS u ({', '.join(unnested)})", [*scalars, *arrays]


@dataclass(frozen=True)
class Message:
    """One message and where it is in its life (see the module doc)."""

    id: UUID
    brand_id: UUID
    dedupe_key: str
    customer_id: UUID
    loan_id: UUID | None
    instalment: int | None
    kind: str
    channel: str
    source: str
    template_id: UUID | None
    template_version: int | None
    language: str | None
    recipient: str | None
    subject: str | None
    body: str
    status: str
    reason: str | None
    provider: str | None
    provider_id: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class DayCount:
    """Messages of one channel on one day (brand time) by status, for the delivery dashboard."""

    day: date
    channel: str
    status: str
    count: int


class MessageStore:
    """SQL of `ops.messages` (see the module doc)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.inbox = WebhookInbox(pool)  # the receipts' event ids (one table of every provider's webhooks)
        self.setup()

    def setup(self) -> None:
        """Create the table (idempotent; serialised between processes)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SETUP_LOCK,))
            for statement in (*DDL, *INBOX_DDL):
                conn.execute(unless_present(statement))
        self.inbox._ready = True

    def claim(self, messages: Sequence[Message]) -> list[Message]:
        """Insert the messages whose key is free, in one statement; the ones inserted (a taken key: none)."""
        if not messages:
            return []
        rows, params = _rows([list(column) for column in zip(*map(_ROW, messages), strict=True)], _NAMES, _TYPES)
        with self.pool.connection() as conn:
            cursor = conn.execute(
                f"INSERT INTO ops.messages ({_COLUMNS}) {rows} ON CONFLICT (brand_id, dedupe_key) DO NOTHING RETURNING id",
                params,
            )
            if cursor.rowcount == len(messages):  # every key was free (a first run): no ids to read back
                return list(messages)
            taken = {r["id"] for r in cursor.fetchall()}
        return [m for m in messages if m.id in taken]

    def by_key(self, brand_id: UUID, dedupe_key: str) -> Message | None:
        """The message claimed under a key."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ops.messages WHERE brand_id = %s AND dedupe_key = %s", (brand_id, dedupe_key)
            ).fetchone()
        return None if row is None else Message(**row)

    def taken_keys(self, brand_id: UUID, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are claimed already."""
        if not keys:
            return set()
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT dedupe_key FROM ops.messages WHERE brand_id = %s AND dedupe_key = ANY(%s)",
                (brand_id, list(keys)),
            ).fetchall()
        return {r["dedupe_key"] for r in rows}

    def message(self, brand_id: UUID | None, message_id: UUID) -> Message | None:
        """A message (of the brand, when given)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ops.messages WHERE id = %s AND (%s::uuid IS NULL OR brand_id = %s)",
                (message_id, brand_id, brand_id),
            ).fetchone()
        return None if row is None else Message(**row)

    def by_provider_id(self, channel: str, provider_id: str) -> Message | None:
        """The message a provider knows by `provider_id`, when exactly one message of the channel has it. The receipts
        webhook names no brand, and two brands' provider accounts could hand out the same id: a receipt matching
        messages of more than one is applied to none (None: acknowledged as nobody's and logged by the caller),
        never to whichever row came first."""
        if not provider_id:
            return None
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM ops.messages WHERE provider_id = %s AND channel = %s LIMIT 2",
                (provider_id, channel),
            ).fetchall()
        return Message(**rows[0]) if len(rows) == 1 else None

    def due(self, brand_id: UUID, now: datetime, limit: int, after: UUID | None = None,
            stuck: timedelta = STUCK) -> list[Message]:  # fmt: skip
        """Messages to send now: queued or deferred ones whose time has come, and `sending` ones untouched for
        `stuck` (a crash left them; re-sending one is safe: the provider deduplicates its reference). A message just
        claimed to go at once (queued with no time set: an email until its hand-over) is its claimer's to send - a
        reminder, a re-loan notice or a manual send of another lane may be sending it now, and a mail server keeps no
        reference to know a second copy by - so it is taken only once untouched for STUCK (its claimer died)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM ops.messages WHERE brand_id = %s AND status IN ('queued', 'deferred', "
                "'sending') AND (next_attempt_at IS NULL OR next_attempt_at <= %s) AND (%s::uuid IS NULL OR id > %s) "
                "AND (status <> 'sending' OR updated_at < %s) "
                "AND NOT (status = 'queued' AND next_attempt_at IS NULL AND updated_at >= %s) ORDER BY id LIMIT %s",
                (brand_id, now, after, after, now - stuck, now - STUCK, limit),
            ).fetchall()
        return [Message(**r) for r in rows]

    def mark_sending(self, ids: Sequence[UUID], now: datetime) -> None:
        """Record that these messages are being handed to their provider."""
        if not ids:
            return
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.messages SET status = 'sending', updated_at = %s "
                "WHERE id = ANY(%s) AND status IN ('queued', 'deferred', 'sending')",
                (now, list(ids)),
            )

    def record_outcomes(self, outcomes: Sequence[tuple[UUID, str, str | None, str | None, str | None,
                                                         datetime | None, int]], now: datetime) -> None:  # fmt: skip
        """Each (id, status, reason, provider, provider_id, next_attempt_at, attempt) of a page of sends, in one
        statement. A receipt that already moved the message on (sent, delivered, failed) keeps its status (the
        provider id is filled in all the same); an outcome of an earlier attempt than the message's changes nothing."""
        if not outcomes:
            return
        rows, params = _rows([list(column) for column in zip(*outcomes, strict=True)], _OUTCOME, _OUTCOME_TYPES)
        pending = "m.status IN ('queued', 'deferred', 'sending')"
        with self.pool.connection() as conn:
            conn.execute(
                f"UPDATE ops.messages m SET status = CASE WHEN {pending} THEN o.status ELSE m.status END, "
                f"reason = CASE WHEN {pending} THEN o.reason ELSE m.reason END, "
                f"next_attempt_at = CASE WHEN {pending} THEN o.next_at ELSE m.next_attempt_at END, "
                "provider = COALESCE(o.provider, m.provider), provider_id = COALESCE(m.provider_id, o.provider_id), "
                "updated_at = %s, sent_at = CASE WHEN o.status = 'sent' THEN COALESCE(m.sent_at, %s) ELSE m.sent_at END "
                f"FROM ({rows}) AS o WHERE m.id = o.id AND m.attempts = o.attempt",
                [now, now, *params],
            )

    def receipt(self, message_id: UUID, status: str, reason: str | None, at: datetime,
                attempt: int | None = None) -> bool:  # fmt: skip
        """Apply a delivery receipt (sent, delivered, failed): never backwards (a late `sent` after `delivered`
        changes nothing), a delivered message stays delivered; with `attempt` (the one its reference names), only
        while the message is still at that attempt. False when it changed nothing."""
        order = {"sent": 1, "failed": 2, "delivered": 2}
        with self.pool.connection() as conn:
            row = conn.execute(
                "UPDATE ops.messages SET status = %s, reason = COALESCE(%s, reason), updated_at = %s, "
                "delivered_at = CASE WHEN %s = 'delivered' THEN %s ELSE delivered_at END, "
                "sent_at = COALESCE(sent_at, %s) "
                "WHERE id = %s AND (status IN ('queued', 'deferred', 'sending') OR "
                "(status = 'sent' AND %s > 1)) AND (%s::int IS NULL OR attempts = %s) RETURNING id",
                (status, reason, at, status, at, at, message_id, order[status], attempt, attempt),
            ).fetchone()
        return row is not None

    def requeue(self, message_id: UUID, reason: str, at: datetime, next_at: datetime, attempt: int) -> None:
        """Queue a message failed at `attempt` again for a retry at `next_at` (the failure's reason kept): the next
        attempt, with a new provider reference. Nothing changes for a message queued again already, or failed at
        another attempt since."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.messages SET status = 'queued', reason = %s, next_attempt_at = %s, updated_at = %s, "
                "attempts = attempts + 1, provider_id = NULL WHERE id = %s AND status = 'failed' AND attempts = %s",
                (reason, next_at, at, message_id, attempt),
            )

    def suppress_opted_out(self, ids: Sequence[UUID], at: datetime) -> set[UUID]:
        """Of these messages, those waiting to go (queued for a retry, deferred by quiet hours) whose borrower has
        opted out of their channel since they were composed: recorded `suppressed` (`opted_out`), never sent. Their
        ids."""
        if not ids:
            return set()
        with self.pool.connection() as conn:
            rows = conn.execute(
                "UPDATE ops.messages m SET status = 'suppressed', reason = 'opted_out', next_attempt_at = NULL, "
                "updated_at = %s FROM ops.messaging_preferences p WHERE m.id = ANY(%s) "
                "AND m.status IN ('queued', 'deferred') AND p.brand_id = m.brand_id AND p.customer_id = m.customer_id "
                "AND m.channel = ANY(p.opted_out) RETURNING m.id",
                (at, list(ids)),
            ).fetchall()
        return {r["id"] for r in rows}

    def suppress(self, reasons: Mapping[UUID, str], at: datetime) -> set[UUID]:
        """Record these messages `suppressed` with their reason (`no_longer_due`, `superseded`, ...), never sent,
        those still waiting to go (queued for a retry, deferred by quiet hours), in one statement. Their ids."""
        if not reasons:
            return set()
        ids, why = list(reasons), list(reasons.values())
        with self.pool.connection() as conn:
            rows = conn.execute(
                "UPDATE ops.messages m SET status = 'suppressed', reason = u.reason, next_attempt_at = NULL, "
                "updated_at = %s FROM unnest(%s::uuid[], %s::text[]) AS u (id, reason) "
                "WHERE m.id = u.id AND m.status IN ('queued', 'deferred') RETURNING m.id",
                (at, ids, why),
            ).fetchall()
        return {r["id"] for r in rows}

    def restate(self, texts: Sequence[tuple[UUID, str | None, str]], at: datetime) -> None:
        """Each (id, subject, body) of messages still waiting to go, composed again with what they say now (a
        reminder's amount after a part payment), in one statement; the text sent is the text recorded."""
        if not texts:
            return
        ids, subjects, bodies = (list(column) for column in zip(*texts, strict=True))
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.messages m SET subject = u.subject, body = u.body, updated_at = %s "
                "FROM unnest(%s::uuid[], %s::text[], %s::text[]) AS u (id, subject, body) "
                "WHERE m.id = u.id AND m.status IN ('queued', 'deferred') "
                "AND (m.body IS DISTINCT FROM u.body OR m.subject IS DISTINCT FROM u.subject)",
                (at, ids, subjects, bodies),
            )

    def defer(self, message_id: UUID, until: datetime, at: datetime) -> None:
        """Hold a message for quiet hours until `until`."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.messages SET status = 'deferred', reason = 'quiet_hours', next_attempt_at = %s, "
                "updated_at = %s WHERE id = %s AND status IN ('queued', 'deferred', 'sending')",
                (until, at, message_id),
            )

    def page(self, brand_id: UUID, *, customer_id: UUID | None, loan_id: UUID | None, channel: str | None,
             status: str | None, after: tuple[datetime, UUID] | None, limit: int) -> list[Message]:  # fmt: skip
        """The brand's messages, newest first, filtered, a keyset page."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM ops.messages WHERE brand_id = %s "
                "AND (%s::uuid IS NULL OR customer_id = %s) AND (%s::uuid IS NULL OR loan_id = %s) "
                "AND (%s::text IS NULL OR channel = %s) AND (%s::text IS NULL OR status = %s) "
                "AND (%s::timestamptz IS NULL OR (created_at, id) < (%s, %s)) "
                "ORDER BY created_at DESC, id DESC LIMIT %s",
                (brand_id, customer_id, customer_id, loan_id, loan_id, channel, channel, status, status,
                 *((after[0], after[0], after[1]) if after else (None, None, None)), limit),
            ).fetchall()  # fmt: skip
        return [Message(**r) for r in rows]

    def by_day(self, brand_id: UUID, since: datetime, timezone: str) -> list[DayCount]:
        """Messages created since `since`, counted by day (in `timezone`), channel and status."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT (created_at AT TIME ZONE %s)::date AS day, channel, status, count(*) AS count "
                "FROM ops.messages WHERE brand_id = %s AND created_at >= %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                (timezone, brand_id, since),
            ).fetchall()
        return [DayCount(**r) for r in rows]
