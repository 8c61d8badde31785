"""The close-of-business bookkeeping in PostgreSQL (issue #15): one row per brand and business date (the run record:
loans processed, penal charged, transitions by kind, start, end, duration) and the partitions of that date's loans,
which any number of workers claim with `FOR UPDATE SKIP LOCKED`, each processed and committed on its own.

A partition stays locked while its worker processes it: a worker that dies releases it (the transaction rolls back)
and another claims it again. What the dead worker had already saved is not charged twice: a loan's close of
business is idempotent per date (`Loan.close_business_day` records nothing for a date it has closed).

**Quiet loans are passed over.** With each loan it processed, a worker records in `ops.loan_cob_watch` the loan's
version and the date through which its COB will record nothing while it has no other event (`Loan.cob_quiet_until`:
a loan paid up to date is quiet until its next due date). A date's plan leaves out the loans whose watch still
holds: the same version in `read.loans` (any event on the loan since - a payment, a reversal - ends it) and a
quiet date not passed. Most loans on most days are such loans; the others (overdue, due, just paid, new) are
partitioned and closed one by one as before. `plan(..., selective=False)` partitions every serviced loan (the
per-loan path the tests compare with)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from adapters.postgres import create_tables
from domain.loans.states import SERVICING_CODES

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
    "ALTER TABLE ops.loan_cob_days ADD COLUMN IF NOT EXISTS quiet int NOT NULL DEFAULT 0",
    """CREATE TABLE IF NOT EXISTS ops.loan_cob_watch (
        loan_id uuid PRIMARY KEY,
        brand_id uuid NOT NULL,
        version int NOT NULL,
        quiet_until date
    )""",
)

#: The serviced loans of a brand a date's plan partitions: all of them, or (selective) those whose watch does not
#: hold on the date (no row, another version than the read model's, no quiet date or one passed).
#: The statuses of a serviced loan (the domain's SERVICING) as an SQL list.
_SERVICED_SQL = "(" + ", ".join(f"'{code}'" for code in SERVICING_CODES) + ")"
_SERVICED = (
    "SELECT l.id FROM read.loans l LEFT JOIN ops.loan_cob_watch w ON w.loan_id = l.id "
    f"WHERE l.brand_id = %(brand)s AND l.status IN {_SERVICED_SQL} AND (NOT %(selective)s "
    "OR w.loan_id IS NULL OR w.version IS DISTINCT FROM l.version OR w.quiet_until IS NULL "
    "OR w.quiet_until < %(day)s)"
)


@dataclass(frozen=True)
class PartitionOutcome:
    """What a worker did with one partition."""

    loans: int
    closed: int
    penal_charged: Decimal
    transitions: dict[str, int]
    #: (loan id, version, quiet until) of each loan processed: see `Loan.cob_quiet_until`.
    watch: tuple[tuple[UUID, int, date | None], ...] = ()


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
    quiet: int = 0  # serviced loans passed over (quiet on the date), counted in `loans`

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
        create_tables(self.pool, "ops.loan_cob", DDL)
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
        """The run record of a date, if it was started (unfinished: the work its partitions done so far committed)."""
        self.setup()
        with self.pool.connection() as conn:
            row = conn.execute(
                f"{_DAY_SELECT} WHERE d.brand_id = %s AND d.business_date = %s", (brand_id, business_date)
            ).fetchone()
        return None if row is None else _day(row)

    def days(self, brand_id: UUID, limit: int = 30) -> list[CobDay]:
        """The newest run records of the brand."""
        self.setup()
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_DAY_SELECT} WHERE d.brand_id = %s ORDER BY d.business_date DESC LIMIT %s", (brand_id, limit)
            ).fetchall()
        return [_day(row) for row in rows]

    def plan(self, brand_id: UUID, business_date: date, now: datetime, size: int, *, selective: bool = True) -> bool:
        """Start the date once: its record and its partitions of `size` serviced loans (keyset over the loans read
        model), the quiet ones left out unless `selective` is off. False when the date was already planned (a rerun
        or another worker): nothing changes."""
        self.setup()
        with self.pool.connection() as conn, conn.transaction():
            started = conn.execute(
                "INSERT INTO ops.loan_cob_days (brand_id, business_date, state, started_at) "
                "VALUES (%s, %s, 'running', %s) ON CONFLICT DO NOTHING RETURNING 1",
                (brand_id, business_date, now),
            ).fetchone()
            if started is None:
                return False
            args = {"brand": brand_id, "day": business_date, "selective": selective, "size": size}
            partitions = conn.execute(
                f"WITH serviced AS (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %(size)s AS no "
                f"FROM ({_SERVICED}) s) "
                "INSERT INTO ops.loan_cob_partitions (brand_id, business_date, no, loan_ids, state) "
                "SELECT %(brand)s, %(day)s, no, array_agg(id ORDER BY id), 'pending' FROM serviced GROUP BY no",
                args,
            ).rowcount
            conn.execute(
                "UPDATE ops.loan_cob_days SET partitions = %(partitions)s, quiet = (SELECT count(*) FROM read.loans "
                f"WHERE brand_id = %(brand)s AND status IN {_SERVICED_SQL}) "
                "- (SELECT coalesce(sum(cardinality(loan_ids)), 0) FROM ops.loan_cob_partitions "
                "WHERE brand_id = %(brand)s AND business_date = %(day)s) "
                "WHERE brand_id = %(brand)s AND business_date = %(day)s",
                args | {"partitions": partitions},
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
            if outcome.watch:
                ids, versions, until = zip(*outcome.watch, strict=True)
                conn.execute(
                    "INSERT INTO ops.loan_cob_watch (loan_id, brand_id, version, quiet_until) "
                    "SELECT i, %s, v, q FROM unnest(%b::uuid[], %b::int[], %b::date[]) AS t(i, v, q) "
                    "ON CONFLICT (loan_id) DO UPDATE SET version = excluded.version, quiet_until = excluded.quiet_until",
                    (brand_id, list(ids), list(versions), list(until)),
                )
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
                "UPDATE ops.loan_cob_days d SET state = 'done', loans = p.loans + d.quiet, closed = p.closed, "
                "penal_charged = p.penal, transitions = p.transitions, finished_at = %s FROM p "
                "WHERE d.brand_id = %s AND d.business_date = %s AND d.state = 'running'",
                (brand_id, business_date, brand_id, business_date, now, brand_id, business_date),
            )
        return self.day(brand_id, business_date)


#: A date's run record. A date not done yet (running, or its run failed and waits for a retry) has no totals of its
#: own until `finish`: it shows those of its partitions done so far - the loans closed and charged by every worker
#: that committed one (before, such a date said 0 loans closed, whatever its workers had closed and charged).
_DAY_SELECT = (
    "SELECT d.brand_id, d.business_date, d.state, d.partitions, "
    "CASE WHEN d.state = 'done' THEN d.loans ELSE p.loans + d.quiet END AS loans, "
    "CASE WHEN d.state = 'done' THEN d.closed ELSE p.closed END AS closed, "
    "CASE WHEN d.state = 'done' THEN d.penal_charged ELSE p.penal_charged END AS penal_charged, "
    "CASE WHEN d.state = 'done' THEN d.transitions ELSE p.transitions END AS transitions, "
    "d.started_at, d.finished_at, d.quiet FROM ops.loan_cob_days d CROSS JOIN LATERAL ("
    "SELECT coalesce(sum(q.loans), 0) AS loans, coalesce(sum(q.closed), 0) AS closed, "
    "coalesce(sum(q.penal_charged), 0) AS penal_charged, "
    "coalesce((SELECT jsonb_object_agg(k, n) FROM (SELECT key AS k, sum(value::int) AS n "
    "FROM ops.loan_cob_partitions t, jsonb_each_text(t.transitions) WHERE t.brand_id = d.brand_id "
    "AND t.business_date = d.business_date AND t.state = 'done' GROUP BY key) k), '{}') AS transitions "
    "FROM ops.loan_cob_partitions q WHERE d.state <> 'done' AND q.brand_id = d.brand_id "
    "AND q.business_date = d.business_date AND q.state = 'done') p"
)

_DAY_COLUMNS = ("brand_id", "business_date", "state", "partitions", "loans", "closed", "penal_charged", "transitions",
                "started_at", "finished_at", "quiet")  # fmt: skip


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
