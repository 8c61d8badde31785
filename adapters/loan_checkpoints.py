"""Checkpoints of loans' replayed positions in PostgreSQL (`domain/loans/checkpoint.py`): one row per loan and version,
written after a save takes a loan across a multiple of CHECKPOINT_EVERY events, read by the views that replay a
loan (the auditor's as-of state). Each row also holds the Loan's snapshot at that version (`domain/shared/snapshot.py`)
and when its last event was recorded: the auditor's as-of replay starts from the newest one recorded by the instant
and decodes only the events after it. A cache: dropping the table changes no figure, only how long a replay takes."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier
from psycopg.types.json import Jsonb

from adapters.postgres import create_tables
from domain.loans import snapshot_stamp
from domain.loans.checkpoint import Checkpoint, decode, encode
from domain.loans.position import LoanPosition
from domain.shared import snapshot as snapshots
from domain.shared.snapshot import Snapshot, SnapshotError

log = structlog.get_logger(__name__)

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.loan_checkpoints (
        loan_id uuid NOT NULL,
        version int NOT NULL,
        facts int NOT NULL,
        position jsonb NOT NULL,
        PRIMARY KEY (loan_id, version)
    )""",
    # The Loan's snapshot (JSON bytes) and its last event's instant; NULL in rows kept before snapshots existed.
    "ALTER TABLE ops.loan_checkpoints ADD COLUMN IF NOT EXISTS snapshot bytea",
    "ALTER TABLE ops.loan_checkpoints ADD COLUMN IF NOT EXISTS recorded_at timestamptz",
    # The stamp of the code that took the snapshot (domain/loans/snapshot_stamp.py); NULL in rows kept before stamps:
    # a snapshot is applied only under the running code's stamp.
    "ALTER TABLE ops.loan_checkpoints ADD COLUMN IF NOT EXISTS stamp text",
)


class LoanCheckpoints:
    """SQL of the checkpoints (a `domain.loans.checkpoint.CheckpointStore`)."""

    def __init__(self, pool: Any, events_table: tuple[str, str] | None = None) -> None:
        """`events_table`: the loans' event table (schema, name) in the same database, when `snapshot_before` is to
        read the events after the snapshot in the same round trip."""
        self.pool = pool
        self.events_table = events_table
        self._ready = False
        #: Per thread, the checkpoint row `snapshot_before` read last (loan id, version, facts, position, the version
        #: of the loan's next row): the as-of view asks `latest` for it next.
        self._read = threading.local()

    def setup(self) -> None:
        """Create the table (idempotent)."""
        if self._ready:
            return
        create_tables(self.pool, "ops.loan_checkpoints", DDL)
        self._ready = True

    def latest(self, loan_id: UUID, version: int, opening: LoanPosition) -> Checkpoint | None:
        """The newest checkpoint of the loan taken at `version` or before."""
        self.setup()
        read = getattr(self._read, "row", None)
        self._read.row = None
        if read is not None and read[0] == loan_id and read[1] <= version and (read[4] is None or read[4] > version):
            # The row `snapshot_before` just read in this thread is the newest one at `version` or before (the next
            # row of the loan is after it): the auditor's view resumes from it without reading it again.
            return Checkpoint(version=read[1], facts=read[2], position=decode(opening, read[3]))
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
                "INSERT INTO ops.loan_checkpoints (loan_id, version, facts, position, snapshot, recorded_at, stamp) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    loan_id,
                    checkpoint.version,
                    checkpoint.facts,
                    Jsonb(encode(checkpoint.position)),
                    checkpoint.snapshot,
                    checkpoint.recorded_at,
                    checkpoint.stamp if checkpoint.snapshot is not None else None,
                ),
            )

    def snapshot_before(self, loan_id: UUID, as_of: datetime) -> Snapshot | None:
        """The Loan as of its newest snapshot whose last event was recorded at or before `as_of` (a
        `domain.shared.snapshot.SnapshotSource`), with the version of the next one recorded after `as_of`; None
        when there is none, or it cannot be decoded (the caller replays every event)."""
        self.setup()
        stamp = snapshot_stamp.stamp()
        if stamp is None:
            return None
        # The newest snapshot recorded by `as_of` (taken by this code: its stamp), the version of the next one recorded after it (`until`: the events
        # to replay end there) and of the next row; with `events_table`, the events after the snapshot up to
        # `until` too (arrays in the same row: one round trip instead of two).
        chosen = (
            "SELECT c.loan_id, c.version, c.snapshot, c.recorded_at, c.facts, c.position, (SELECT min(n.version) FROM "
            "ops.loan_checkpoints n WHERE n.loan_id = c.loan_id AND n.version > c.version AND n.recorded_at > %s) "
            "AS until, (SELECT min(n.version) FROM ops.loan_checkpoints n WHERE n.loan_id = c.loan_id AND "
            "n.version > c.version) AS next FROM ops.loan_checkpoints c WHERE c.loan_id = %s AND "
            "c.recorded_at <= %s AND c.snapshot IS NOT NULL AND c.stamp = %s ORDER BY c.version DESC LIMIT 1"
        )
        if self.events_table is None:
            statement: Any = chosen
        else:
            statement = SQL(
                "SELECT s.*, e.versions, e.topics, e.states FROM (" + chosen + ") s CROSS JOIN LATERAL (SELECT "
                "array_agg(t.originator_version ORDER BY t.originator_version) AS versions, array_agg(t.topic ORDER "
                "BY t.originator_version) AS topics, array_agg(t.state ORDER BY t.originator_version) AS states "
                "FROM {schema}.{table} t WHERE t.originator_id = s.loan_id AND t.originator_version > s.version AND "
                "(s.until IS NULL OR t.originator_version <= s.until)) e"
            ).format(schema=Identifier(self.events_table[0]), table=Identifier(self.events_table[1]))
        with self.pool.connection() as conn:
            row = conn.execute(statement, (as_of, loan_id, as_of, stamp), prepare=True).fetchone()
        self._read.row = None
        if row is None:
            return None
        version, data, recorded_at, facts, position, until, following = (
            (row["version"], row["snapshot"], row["recorded_at"], row["facts"], row["position"], row["until"],
             row["next"])
            if isinstance(row, dict)
            else row[1:8]
        )  # fmt: skip
        self._read.row = (loan_id, version, facts, position, following)
        try:
            aggregate = snapshots.decode(bytes(data))
        except (SnapshotError, ValueError, TypeError, KeyError):
            log.warning("loans.snapshot_unreadable", loan_id=str(loan_id), version=version, exc_info=True)
            return None
        if aggregate.id != loan_id or aggregate.version != version:
            return None
        events = None
        if self.events_table is not None:
            versions = row["versions"] if isinstance(row, dict) else row[8]
            topics = row["topics"] if isinstance(row, dict) else row[9]
            states = row["states"] if isinstance(row, dict) else row[10]
            events = tuple(
                StoredEvent(loan_id, v, t, bytes(b)) for v, t, b in zip(versions or (), topics or (), states or (),
                                                                      strict=True)
            )  # fmt: skip
        return Snapshot(version=version, recorded_at=recorded_at, aggregate=aggregate, until=until, events=events)

    def newest(self, loan_ids: Sequence[UUID], stamp: str, upto: int | None = None) -> dict[UUID, Snapshot]:
        """Per loan that has one, its newest snapshot stamped `stamp` (taken at `upto` or before), decoded, and with
        `events_table` its stored events after it (up to `upto`), all in one round trip (a
        `domain.loans.checkpoint.LoanSnapshots`). A snapshot that cannot be decoded, or is not the loan at its
        version, is left out (the caller replays that loan's every event)."""
        return self._newest_rows(loan_ids, stamp, upto, whole=False)[0]

    def loading(
        self, loan_ids: Sequence[UUID], stamp: str
    ) -> tuple[dict[UUID, Snapshot], dict[UUID, tuple[StoredEvent, ...]]]:
        """`newest` of the loans' current state, and in the same round trip every stored event of each id without a
        snapshot stamped `stamp` (none: an id nothing was recorded for), so that loading a loan - short ones, most of
        them, have none - costs one round trip whichever it has. Without `events_table`, `newest`'s and no history."""
        if self.events_table is None:
            return self.newest(loan_ids, stamp), {}
        return self._newest_rows(loan_ids, stamp, None, whole=True)

    def _newest_rows(
        self, loan_ids: Sequence[UUID], stamp: str, upto: int | None, whole: bool
    ) -> tuple[dict[UUID, Snapshot], dict[UUID, tuple[StoredEvent, ...]]]:
        self.setup()
        ids = list(dict.fromkeys(loan_ids))
        if not ids:
            return {}, {}
        # `whole`: every id gets a row (LEFT JOIN), its events after its snapshot or, with none, all of them.
        chosen = (
            "SELECT i.id AS loan_id, c.version, c.snapshot, c.recorded_at{events} FROM unnest(%(ids)s::uuid[]) AS "
            "i(id) {join} LATERAL (SELECT s.version, s.snapshot, s.recorded_at FROM ops.loan_checkpoints s WHERE "
            "s.loan_id = i.id AND s.snapshot IS NOT NULL AND s.stamp = %(stamp)s AND (%(upto)s::int IS NULL OR "
            "s.version <= %(upto)s::int) ORDER BY s.version DESC LIMIT 1) c{on}{lateral}"
        )
        join, on = ("LEFT JOIN", " ON true") if whole else ("CROSS JOIN", "")
        if self.events_table is None:
            statement: Any = SQL(chosen.format(events="", join=join, on=on, lateral=""))
        else:
            statement = SQL(
                chosen.format(
                    events=", e.versions, e.topics, e.states",
                    join=join,
                    on=on,
                    lateral=(
                        " CROSS JOIN LATERAL (SELECT array_agg(t.originator_version ORDER BY t.originator_version) "
                        "AS versions, array_agg(t.topic ORDER BY t.originator_version) AS topics, array_agg(t.state "
                        "ORDER BY t.originator_version) AS states FROM {schema}.{table} t WHERE t.originator_id = i.id "
                        "AND t.originator_version > coalesce(c.version, 0) AND (%(upto)s::int IS NULL OR "
                        "t.originator_version <= %(upto)s::int)) e"
                    ),
                )
            ).format(schema=Identifier(self.events_table[0]), table=Identifier(self.events_table[1]))
        with self.pool.connection() as conn:
            rows = conn.execute(statement, {"ids": ids, "stamp": stamp, "upto": upto}, prepare=True).fetchall()
        found: dict[UUID, Snapshot] = {}
        histories: dict[UUID, tuple[StoredEvent, ...]] = {}
        for row in rows:
            data = row if isinstance(row, dict) else dict(zip(_NEWEST_COLUMNS, row, strict=False))
            loan_id, version = data["loan_id"], data["version"]
            events = None
            if self.events_table is not None:
                events = tuple(
                    StoredEvent(loan_id, v, t, bytes(b))
                    for v, t, b in zip(data["versions"] or (), data["topics"] or (), data["states"] or (), strict=True)
                )
            if version is None:  # no snapshot of this code: the whole history came instead
                histories[loan_id] = events or ()
                continue
            try:
                aggregate = snapshots.decode(bytes(data["snapshot"]))
            except (SnapshotError, ValueError, TypeError, KeyError):
                log.warning("loans.snapshot_unreadable", loan_id=str(loan_id), version=version, exc_info=True)
                continue
            if aggregate.id != loan_id or aggregate.version != version:
                log.warning("loans.snapshot_mismatch", loan_id=str(loan_id), version=version)
                continue
            found[loan_id] = Snapshot(version=version, recorded_at=data["recorded_at"], aggregate=aggregate,
                                      events=events)  # fmt: skip
        return found, histories


_NEWEST_COLUMNS = ("loan_id", "version", "snapshot", "recorded_at", "versions", "topics", "states")
