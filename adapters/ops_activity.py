"""Audit entries of operational actions that are rows, not events (`ops.activity`, docs/architecture.md "Audit trail").

Payment links, UPI Autopay mandates and a borrower's messaging preferences live in `ops` tables that a change
updates in place. Each change writes one entry here in the same transaction as the row it changes (`record`), so
there is never an entry without its change nor a change without its entry: who acted (`staff:<id>`, `apikey:<id>`,
`borrower:<id>`, `webhook:payments`, `job:<name>`, `system` - the actor commands act for, `current_actor()`), when,
on which record (the loan, or the borrower's record), and what (amounts, channel, states before and after, old and
new values). The entries are not a projection: nothing rebuilds them, nothing deletes them. The activity trail
(`projections/activity.py`, `ActivityQueries`) lists them with the events' rows of `read.activity`, source `ops`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.shared.aggregate import current_actor
from domain.shared.ddl import unless_present

#: The `source` the activity trail gives these entries (its keyset orders by occurred_at, source, position).
SOURCE = "ops"

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.activity (
        position bigserial PRIMARY KEY,
        brand_id uuid NOT NULL,
        occurred_at timestamptz NOT NULL,
        actor text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_id uuid NOT NULL,
        event_type text NOT NULL,
        summary text NOT NULL,
        details jsonb NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ops_activity_brand_time_idx ON ops.activity (brand_id, occurred_at DESC, position)",
    "CREATE INDEX IF NOT EXISTS ops_activity_actor_idx ON ops.activity (brand_id, actor, occurred_at DESC)",
    "CREATE INDEX IF NOT EXISTS ops_activity_aggregate_idx ON ops.activity (aggregate_id, position)",
)


@dataclass(frozen=True)
class OpsEntry:
    """One operational action to audit: `aggregate_type`/`aggregate_id` name the record it belongs to (`Loan`,
    `CustomerRecord`), so the trail filtered by that record shows it beside the record's events."""

    brand_id: UUID
    occurred_at: datetime
    aggregate_type: str
    aggregate_id: UUID
    event_type: str
    summary: str
    details: dict[str, Any]
    actor: str | None = None  # None: the actor commands in this context act for


def setup(conn: Any) -> None:
    """Create the table (idempotent; callers hold their own setup lock)."""
    for statement in DDL:
        conn.execute(unless_present(statement))


def record(conn: Any, entry: OpsEntry) -> None:
    """Write `entry` on `conn`, inside the caller's transaction (the change it audits commits or rolls back with it)."""
    conn.execute(
        "INSERT INTO ops.activity (brand_id, occurred_at, actor, aggregate_type, aggregate_id, event_type, summary, "
        "details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (entry.brand_id, entry.occurred_at, entry.actor or current_actor(), entry.aggregate_type, entry.aggregate_id,
         entry.event_type, entry.summary, Jsonb(entry.details)),
    )  # fmt: skip
