"""Checkpoints of loans' replayed positions in PostgreSQL (`domain/loans/checkpoint.py`): one row per loan and version,
written after a save takes a loan across a multiple of CHECKPOINT_EVERY events, read by the views that replay a
loan (the auditor's as-of state). A cache: dropping the table changes no figure, only how long a replay takes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.loans.checkpoint import Checkpoint, decode, encode
from domain.loans.position import LoanPosition

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.loan_checkpoints (
        loan_id uuid NOT NULL,
        version int NOT NULL,
        facts int NOT NULL,
        position jsonb NOT NULL,
        PRIMARY KEY (loan_id, version)
    )""",
)


class LoanCheckpoints:
    """SQL of the checkpoints (a `domain.loans.checkpoint.CheckpointStore`)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    def setup(self) -> None:
        """Create the table (idempotent)."""
        if self._ready:
            return
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('ops.loan_checkpoints'))")
            for statement in DDL:
                conn.execute(statement)
        self._ready = True

    def latest(self, loan_id: UUID, version: int, opening: LoanPosition) -> Checkpoint | None:
        """The newest checkpoint of the loan taken at `version` or before."""
        self.setup()
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT version, facts, position FROM ops.loan_checkpoints WHERE loan_id = %s AND version <= %s "
                "ORDER BY version DESC LIMIT 1",
                (loan_id, version),
            ).fetchone()
        if row is None:
            return None
        found, facts, data = (row["version"], row["facts"], row["position"]) if isinstance(row, dict) else row
        return Checkpoint(version=found, facts=facts, position=decode(opening, data))

    def keep(self, loan_id: UUID, checkpoint: Checkpoint) -> None:
        """Store a checkpoint (a second one for the same version is ignored: it would be the same)."""
        self.setup()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.loan_checkpoints (loan_id, version, facts, position) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (loan_id, checkpoint.version, checkpoint.facts, Jsonb(encode(checkpoint.position))),
            )
