"""Read model of job runs: the run history in the API and on the jobs page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from domain.jobs.job import JobRun
from projections.engine import Projection, Write, topics_of
from projections.keyset import KeysetCursor, Page

#: Run history is ordered by (requested_at, id), newest first.
RUNS_CURSOR = KeysetCursor(datetime, UUID)

R = JobRun


class JobRunHistory(Projection):
    """One row per run with status, attempts, counts, error and timings."""

    name = "job_runs"
    source = "jobs"
    topics = topics_of(R.Requested, R.AttemptStarted, R.BatchCompleted, R.AttemptFailed, R.Succeeded, R.Failed)
    tables = ("read.job_runs",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.job_runs (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            job_name text NOT NULL,
            trigger text NOT NULL,
            requested_by text NOT NULL,
            as_of date NOT NULL,
            settings jsonb NOT NULL,
            status text NOT NULL,
            attempt int NOT NULL DEFAULT 0,
            batches int NOT NULL DEFAULT 0,
            processed bigint NOT NULL DEFAULT 0,
            succeeded bigint NOT NULL DEFAULT 0,
            failed bigint NOT NULL DEFAULT 0,
            skipped bigint NOT NULL DEFAULT 0,
            error text,
            retry_at timestamptz,
            requested_at timestamptz NOT NULL,
            started_at timestamptz,
            finished_at timestamptz,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS job_runs_brand_idx ON read.job_runs (brand_id, requested_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS job_runs_pending_idx ON read.job_runs (status, retry_at) "
        "WHERE status IN ('requested', 'retrying')",
    )

    def project(self, position: int, event: Any) -> Iterable[Write]:
        if isinstance(event, R.Requested):
            yield Write(
                "INSERT INTO read.job_runs (id, brand_id, job_name, trigger, requested_by, as_of, settings, status, "
                "requested_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 'requested', %s, %s) ON CONFLICT (id) DO NOTHING",
                (
                    event.originator_id,
                    event.brand_id,
                    event.job_name,
                    event.trigger,
                    event.requested_by,
                    event.as_of,
                    Jsonb(event.settings.model_dump(mode="json")),
                    event.timestamp,
                    event.timestamp,
                ),
            )
        elif isinstance(event, R.AttemptStarted):
            yield Write(
                "UPDATE read.job_runs SET status = 'running', attempt = %s, retry_at = NULL, "
                "started_at = coalesce(started_at, %s), updated_at = %s WHERE id = %s",
                (event.attempt, event.timestamp, event.timestamp, event.originator_id),
            )
        elif isinstance(event, R.BatchCompleted):
            c = event.counts
            yield Write(
                "UPDATE read.job_runs SET batches = batches + 1, processed = processed + %s, succeeded = succeeded + %s, "
                "failed = failed + %s, skipped = skipped + %s, updated_at = %s WHERE id = %s",
                (c.processed, c.succeeded, c.failed, c.skipped, event.timestamp, event.originator_id),
            )
        elif isinstance(event, R.AttemptFailed):
            yield Write(
                "UPDATE read.job_runs SET status = 'retrying', error = %s, retry_at = %s, updated_at = %s WHERE id = %s",
                (event.error, event.retry_at, event.timestamp, event.originator_id),
            )
        elif isinstance(event, R.Succeeded):
            yield Write(
                "UPDATE read.job_runs SET status = 'succeeded', error = NULL, finished_at = %s, updated_at = %s WHERE id = %s",
                (event.timestamp, event.timestamp, event.originator_id),
            )
        elif isinstance(event, R.Failed):
            yield Write(
                "UPDATE read.job_runs SET status = 'failed', error = %s, finished_at = %s, updated_at = %s WHERE id = %s",
                (event.error, event.timestamp, event.timestamp, event.originator_id),
            )


@dataclass(frozen=True)
class JobRunView:
    """A run as the history shows it."""

    id: UUID
    job_name: str
    trigger: str
    requested_by: str
    as_of: date
    settings: dict[str, Any]
    status: str
    attempt: int
    batches: int
    processed: int
    succeeded: int
    failed: int
    skipped: int
    error: str | None
    retry_at: datetime | None
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


_COLUMNS = (
    "id, job_name, trigger, requested_by, as_of, settings, status, attempt, batches, processed, succeeded, failed, "
    "skipped, error, retry_at, requested_at, started_at, finished_at"
)


class JobRunQueries:
    """Run history queries, scoped to a brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def run(self, brand_id: UUID, run_id: UUID) -> JobRunView | None:
        """One run of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM read.job_runs WHERE id = %s AND brand_id = %s", (run_id, brand_id)
            ).fetchone()
        return JobRunView(**row) if row else None

    def history(self, brand_id: UUID, job_name: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
        """Runs newest first, optionally of one job; keyset pages."""
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if job_name:
            where.append("job_name = %(job)s")
            params["job"] = job_name
        if cursor:
            at, last_id = RUNS_CURSOR.decode(cursor)
            where.append("(requested_at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last_id)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM read.job_runs WHERE {' AND '.join(where)} "
                "ORDER BY requested_at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        cursor_out = RUNS_CURSOR.encode(rows[-1]["requested_at"], rows[-1]["id"]) if more and rows else None
        return Page(items=[JobRunView(**r) for r in rows], next_cursor=cursor_out)

    def due(self, now: datetime, limit: int = 20) -> list[tuple[UUID, UUID, str]]:
        """(run id, brand id, job name) of runs waiting to start, oldest first, across brands (workers only)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, brand_id, job_name FROM read.job_runs WHERE status = 'requested' "
                "OR (status = 'retrying' AND retry_at <= %s) ORDER BY requested_at LIMIT %s",
                (now, limit),
            ).fetchall()
        return [(r["id"], r["brand_id"], r["job_name"]) for r in rows]

    def stalled(self, before: datetime, limit: int = 20) -> list[UUID]:
        """Runs marked running whose last progress is older than `before` (their worker died)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.job_runs WHERE status = 'running' AND updated_at < %s ORDER BY updated_at LIMIT %s",
                (before, limit),
            ).fetchall()
        return [r["id"] for r in rows]

    def running(self, limit: int = 100) -> list[UUID]:
        """Runs marked running, across brands (workers only: the leader checks their workers are alive)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.job_runs WHERE status = 'running' ORDER BY updated_at LIMIT %s", (limit,)
            ).fetchall()
        return [r["id"] for r in rows]

    def last_runs(self, brand_id: UUID) -> dict[str, JobRunView]:
        """The newest run of each job of the brand."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ON (job_name) {_COLUMNS} FROM read.job_runs WHERE brand_id = %s "
                "ORDER BY job_name, requested_at DESC",
                (brand_id,),
            ).fetchall()
        return {r["job_name"]: JobRunView(**r) for r in rows}
