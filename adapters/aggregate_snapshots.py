"""Aggregate snapshots for the auditor's as-of replay in PostgreSQL (`domain/shared/snapshot.py`): one row per aggregate
and version, kept when a commit takes an aggregate of an application with `snapshot_every` across a multiple of it
(borrower records), read by `AuditReplay.aggregate_as_of`. Loans keep theirs with their checkpoints
(adapters/loan_checkpoints.py). A cache: dropping the table changes no answer, only how long a replay takes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import structlog

from adapters.postgres import create_tables
from domain.shared import snapshot as snapshots
from domain.shared.snapshot import Snapshot, SnapshotError, snapshot_of

log = structlog.get_logger(__name__)

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.aggregate_snapshots (
        aggregate_id uuid NOT NULL,
        version int NOT NULL,
        recorded_at timestamptz NOT NULL,
        snapshot bytea NOT NULL,
        PRIMARY KEY (aggregate_id, version)
    )""",
)


class AggregateSnapshots:
    """SQL of the snapshots (a `domain.shared.snapshot.SnapshotKeeper` and `SnapshotSource`)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    def setup(self) -> None:
        """Create the table (idempotent)."""
        if self._ready:
            return
        create_tables(self.pool, "ops.aggregate_snapshots", DDL)
        self._ready = True

    def keep(self, aggregate: Any) -> None:
        """Store the aggregate's snapshot at its version (none when its state does not decode to itself)."""
        data = snapshot_of(aggregate)
        if data is None:
            return
        self.setup()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.aggregate_snapshots (aggregate_id, version, recorded_at, snapshot) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (aggregate.id, aggregate.version, aggregate.modified_on, data),
            )

    def snapshot_before(self, aggregate_id: UUID, as_of: datetime) -> Snapshot | None:
        """The aggregate as of its newest snapshot recorded at or before `as_of`, with the version of the next one
        (recorded after it); None when there is none or it cannot be decoded (the caller replays every event)."""
        self.setup()
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT s.version, s.snapshot, s.recorded_at, (SELECT min(n.version) FROM ops.aggregate_snapshots n "
                "WHERE n.aggregate_id = s.aggregate_id AND n.version > s.version) AS until "
                "FROM ops.aggregate_snapshots s WHERE s.aggregate_id = %s AND s.recorded_at <= %s "
                "ORDER BY s.version DESC LIMIT 1",
                (aggregate_id, as_of),
            ).fetchone()
        if row is None:
            return None
        version, data, recorded_at, until = (
            (row["version"], row["snapshot"], row["recorded_at"], row["until"]) if isinstance(row, dict) else row
        )
        try:
            aggregate = snapshots.decode(bytes(data))
        except (SnapshotError, ValueError, TypeError, KeyError):
            log.warning("audit.snapshot_unreadable", aggregate_id=str(aggregate_id), version=version, exc_info=True)
            return None
        if aggregate.id != aggregate_id or aggregate.version != version:
            return None
        return Snapshot(version=version, recorded_at=recorded_at, aggregate=aggregate, until=until)
