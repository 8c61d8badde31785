"""The close-of-business bookkeeping in PostgreSQL (issue #15): one row per brand and business date (the run record:
loans processed, penal charged, transitions by kind, start, end, duration) and the partitions of that date's loans,
which any number of workers claim with `FOR UPDATE SKIP LOCKED`, each processed and committed on its own.

A partition stays locked while its worker processes it: a worker that dies releases it (the transaction rolls back)
and another claims it again. What the dead worker had already saved is not charged twice: a loan's close of
business is idempotent per date (`Loan.close_business_day` records nothing for a date it has closed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

DDL = (
    """CREATE TABLE IF NOT EXISTS ops.loan_cob_days (
        brand_id uuid NOT NULL,
        business_date date NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'done')),
        partitions int NOT NULL DEFAULT 0,
        loans int NOT NULL DEFAULT 0,
        closed int NOT NULL DEFAULT 0,
        penal_charged numeric(18, 2) NOT NULL DEFAULT 0,
        transitions jsonb NOT NULL DEFAULT '{}',
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        PRIMARY KEY (brand_id, business_date)
    )""",
    """CREATE TABLE IF NOT EXISTS ops.loan_cob_partitions (
        brand_id uuid NOT NULL,
        business_date date NOT NULL,
        no int NOT NULL,
        loan_ids uuid[] NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'done')),
        worker text,
        loans int NOT NULL DEFAULT 0,
        closed int NOT NULL DEFAULT 0,
        penal_charged numeric(18, 2) NOT NULL DEFAULT 0,
        transitions jsonb NOT NULL DEFAULT '{}',
        finished_at timestamptz,
        PRIMARY KEY (brand_id, business_date, no)
    )""",
    "CREATE INDEX IF NOT EXISTS loan_cob_partitions_pending_idx ON ops.loan_cob_partitions "
    "(brand_id, business_date, no) WHERE state = 'pending'",
)


@dataclass(frozen=True)
class PartitionOutcome:
    """What a worker did with one partition."""

    loans: int
    closed: int
    penal_charged: Decimal
    transitions: dict[str, int]


@dataclass(frozen=True)
class CobDay:
    """The run record of one brand's business date."""

    brand_id: UUID
    business_date: date
    state: str
    partitions: int
    loans: int
    closed: int
    penal_charged: Decimal
    transitions: dict[str, int]
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        """How long the date took, once done."""
        return None if self.finished_at is None else (self.finished_at - self.started_at).total_seconds()


class CobStore:
    """SQL of the COB run records and partitions."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    def setup(self) -> None:
        """Create the tables (idempotent)."""
        if self._ready:
            return
        with self.pool.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('ops.loan_cob'))")
            for statement in DDL:
                conn.execute(statement)
        self._ready = True

    def last_done(self, brand_id: UUID) -> date | None:
        """The latest business date the brand's COB finished."""
        self.setup()
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT max(business_date) AS day FROM ops.loan_cob_days WHERE brand_id = %s AND state = 'done'",
                (brand_id,),
            ).fetchone()
        return _get(row, "day")

    def day(self, brand_id: UUID, business_date: date) -> CobDay | None:
        """The run record of a date, if it was started."""
        self.setup()
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT brand_id, business_date, state, partitions, loans, closed, penal_charged, transitions, "
                "started_at, finished_at FROM ops.loan_cob_days WHERE brand_id = %s AND business_date = %s",
                (brand_id, business_date),
            ).fetchone()
        return None if row is None else _day(row)

    def days(self, brand_id: UUID, limit: int = 30) -> list[CobDay]:
        """The newest run records of the brand."""
        self.setup()
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT brand_id, business_date, state, partitions, loans, closed, penal_charged, transitions, "
                "started_at, finished_at FROM ops.loan_cob_days WHERE brand_id = %s "
                "ORDER BY business_date DESC LIMIT %s",
                (brand_id, limit),
            ).fetchall()
        return [_day(row) for row in rows]

    def plan(self, brand_id: UUID, business_date: date, now: datetime, size: int) -> bool:
        """Start the date once: its record and its partitions of `size` serviced loans (keyset over the loans read
        model). False when the date was already planned (a rerun or another worker): nothing changes."""
        self.setup()
        with self.pool.connection() as conn, conn.transaction():
            started = conn.execute(
                "INSERT INTO ops.loan_cob_days (brand_id, business_date, state, started_at) "
                "VALUES (%s, %s, 'running', %s) ON CONFLICT DO NOTHING RETURNING 1",
                (brand_id, business_date, now),
            ).fetchone()
            if started is None:
                return False
            partitions = conn.execute(
                "WITH serviced AS (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS no FROM read.loans "
                "WHERE brand_id = %s AND status IN ('active', 'partially_paid', 'overdue')) "
                "INSERT INTO ops.loan_cob_partitions (brand_id, business_date, no, loan_ids, state) "
                "SELECT %s, %s, no, array_agg(id ORDER BY id), 'pending' FROM serviced GROUP BY no",
                (size, brand_id, brand_id, business_date),
            ).rowcount
            conn.execute(
                "UPDATE ops.loan_cob_days SET partitions = %s WHERE brand_id = %s AND business_date = %s",
                (partitions, brand_id, business_date),
            )
        return True

    def work(
        self,
        brand_id: UUID,
        business_date: date,
        worker: str,
        process: Callable[[Sequence[UUID]], PartitionOutcome],
    ) -> PartitionOutcome | None:
        """Claim one pending partition of the date (skipping those other workers hold), process it and mark it done,
        in one transaction; None when none is left to claim."""
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT no, loan_ids FROM ops.loan_cob_partitions WHERE brand_id = %s AND business_date = %s "
                "AND state = 'pending' ORDER BY no LIMIT 1 FOR UPDATE SKIP LOCKED",
                (brand_id, business_date),
            ).fetchone()
            if row is None:
                return None
            outcome = process(_get(row, "loan_ids"))
            conn.execute(
                "UPDATE ops.loan_cob_partitions SET state = 'done', worker = %s, loans = %s, closed = %s, "
                "penal_charged = %s, transitions = %s, finished_at = now() "
                "WHERE brand_id = %s AND business_date = %s AND no = %s",
                (worker, outcome.loans, outcome.closed, outcome.penal_charged, Jsonb(outcome.transitions),
                 brand_id, business_date, _get(row, "no")),
            )  # fmt: skip
        return outcome

    def pending(self, brand_id: UUID, business_date: date) -> int:
        """Partitions of the date not done yet (claimed or not)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT count(*) AS n FROM ops.loan_cob_partitions WHERE brand_id = %s AND business_date = %s "
                "AND state = 'pending'",
                (brand_id, business_date),
            ).fetchone()
        return int(_get(row, "n") or 0)

    def finish(self, brand_id: UUID, business_date: date, now: datetime) -> CobDay | None:
        """Close the date's record with the partitions' totals (once every partition is done)."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "WITH p AS (SELECT coalesce(sum(loans), 0) AS loans, coalesce(sum(closed), 0) AS closed, "
                "coalesce(sum(penal_charged), 0) AS penal, "
                "coalesce((SELECT jsonb_object_agg(k, n) FROM (SELECT key AS k, sum(value::int) AS n "
                "FROM ops.loan_cob_partitions, jsonb_each_text(transitions) WHERE brand_id = %s "
                "AND business_date = %s GROUP BY key) t), '{}') AS transitions "
                "FROM ops.loan_cob_partitions WHERE brand_id = %s AND business_date = %s) "
                "UPDATE ops.loan_cob_days d SET state = 'done', loans = p.loans, closed = p.closed, "
                "penal_charged = p.penal, transitions = p.transitions, finished_at = %s FROM p "
                "WHERE d.brand_id = %s AND d.business_date = %s AND d.state = 'running'",
                (brand_id, business_date, brand_id, business_date, now, brand_id, business_date),
            )
        return self.day(brand_id, business_date)


_DAY_COLUMNS = ("brand_id", "business_date", "state", "partitions", "loans", "closed", "penal_charged", "transitions",
                "started_at", "finished_at")  # fmt: skip


def _get(row: Any, column: str) -> Any:
    """A column of a row, whether the pool gives dicts or tuples."""
    if row is None:
        return None
    if isinstance(row, dict):
        return row[column]
    return row[0] if column in ("day", "n") else row[{"no": 0, "loan_ids": 1}[column]]


def _day(row: Any) -> CobDay:
    values = [row[c] for c in _DAY_COLUMNS] if isinstance(row, dict) else list(row)
    return CobDay(*values)
