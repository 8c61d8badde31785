"""Which provider webhook events were received: one row per (source, event id), so a delivery repeated by the
provider (or replayed by someone who captured it inside the signature's time window) is handled once.

A receiver claims the event id before acting on it (`claim`), records the outcome once done (`settle`), and frees
the claim when acting failed (`release`), so the provider's retry is handled afresh. A claim never settled (the
process died mid-way) is taken over after `STALE_CLAIM`. A delivery arriving while an earlier one of the same event
is still being handled is refused with 409 (`DeliveryInFlight`), so the provider delivers it again: answered 200
"duplicate", the provider stopped, and when the first delivery then failed (released) or its process died, the
event - a captured payment, a payout's outcome - was never recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.shared.ddl import unless_present
from domain.shared.errors import Conflict

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.webhook_events (
        source text NOT NULL,
        event_id text NOT NULL,
        event_type text NOT NULL,
        outcome text,
        detail text,
        received_at timestamptz NOT NULL,
        settled_at timestamptz,
        PRIMARY KEY (source, event_id)
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_events_received_idx ON ops.webhook_events (received_at)",
)

#: A claim older than this without an outcome was left by a request that died: the next delivery takes it over.
STALE_CLAIM = timedelta(minutes=5)


class DeliveryInFlight(Conflict):
    """Raised (409) for a delivery of an event an earlier delivery is still handling: the provider delivers it again,
    and by then the first one settled it (a duplicate) or released it (handled afresh)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is being handled by an earlier delivery; deliver again", event_id=event_id)


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: `fresh` when this delivery is the one to act; else the earlier outcome (None while
    the first delivery is still being handled)."""

    fresh: bool
    outcome: str | None = None
    detail: str | None = None


class WebhookInbox:
    """The received webhook events of every provider (`ops.webhook_events`)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    def setup(self) -> None:
        """Create the table (idempotent)."""
        with self.pool.connection() as conn:
            for statement in DDL:
                conn.execute(unless_present(statement))
        self._ready = True

    def claim(self, source: str, event_id: str, event_type: str, now: datetime) -> Claim:
        """Take the event for handling (`fresh`), unless an earlier delivery of it was handled (its outcome);
        DeliveryInFlight (409) while an earlier delivery is being handled."""
        if not self._ready:
            self.setup()
        for _ in range(2):  # the earlier delivery's claim released between our insert and our read: claimed again
            claim = self._claim(source, event_id, event_type, now)
            if claim is not None:
                return claim
        raise DeliveryInFlight(event_id)

    def _claim(self, source: str, event_id: str, event_type: str, now: datetime) -> Claim | None:
        with self.pool.connection() as conn:
            taken = conn.execute(
                "INSERT INTO ops.webhook_events (source, event_id, event_type, received_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (source, event_id) DO UPDATE SET received_at = EXCLUDED.received_at "
                "WHERE ops.webhook_events.outcome IS NULL AND ops.webhook_events.received_at < %s "
                "RETURNING event_id AS claimed",
                (source, event_id, event_type, now, now - STALE_CLAIM),
            ).fetchone()
            if taken is not None:
                return Claim(fresh=True)
            row = conn.execute(
                "SELECT outcome, detail FROM ops.webhook_events WHERE source = %s AND event_id = %s",
                (source, event_id),
            ).fetchone()
        if row is None:
            return None
        outcome, detail = (row["outcome"], row["detail"]) if isinstance(row, dict) else (row[0], row[1])
        if outcome is None:
            raise DeliveryInFlight(event_id)
        return Claim(fresh=False, outcome=outcome, detail=detail)

    def settle(self, source: str, event_id: str, outcome: str, detail: str | None, now: datetime) -> None:
        """Record what handling the event came to."""
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE ops.webhook_events SET outcome = %s, detail = %s, settled_at = %s "
                "WHERE source = %s AND event_id = %s",
                (outcome, (detail or "")[:300] or None, now, source, event_id),
            )

    def release(self, source: str, event_id: str) -> None:
        """Forget a claim whose handling failed, so a retry of the delivery is handled afresh."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM ops.webhook_events WHERE source = %s AND event_id = %s AND outcome IS NULL",
                (source, event_id),
            )

    def purge(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` events received before `before`; how many went."""
        with self.pool.connection() as conn:
            cursor = conn.execute(
                "DELETE FROM ops.webhook_events WHERE ctid IN "
                "(SELECT ctid FROM ops.webhook_events WHERE received_at < %s LIMIT %s)",
                (before, limit),
            )
            return int(cursor.rowcount)
