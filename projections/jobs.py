"""Read model of job runs: the run history in the API and on the jobs page."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from psycopg import errors
from psycopg.types.json import Jsonb

from domain.jobs.application import Jobs
from domain.jobs.job import JobRun, JobSettings, RunQueueFull, RunStatus
from projections.companies import scope_companies
from projections.keyset import KeysetCursor, Page
from projections.projection import Projection, Write, handles

#: Run history is ordered by (requested_at, id), newest first.
RUNS_CURSOR = KeysetCursor(datetime, UUID, name="jobs.runs")

R = JobRun


class JobRunHistory(Projection):
    """One row per run with status, attempts, counts, error and timings."""

    name = "job_runs"
    source = Jobs.name
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
        # Added with dry runs: every run recorded before them wrote for real.
        "ALTER TABLE read.job_runs ADD COLUMN IF NOT EXISTS dry_run boolean NOT NULL DEFAULT false",
        # The queue of one brand and job (the dispatcher's heads, the bound on queued manual runs).
        "CREATE INDEX IF NOT EXISTS job_runs_queue_idx ON read.job_runs (brand_id, job_name, requested_at) "
        "WHERE status IN ('requested', 'retrying')",
        # Added with recovery by worker: the worker of the current attempt (rows of older runs: NULL, the aggregate
        # has it), and the runs marked running (the leader checks their workers every tick).
        "ALTER TABLE read.job_runs ADD COLUMN IF NOT EXISTS worker text",
        "CREATE INDEX IF NOT EXISTS job_runs_running_idx ON read.job_runs (updated_at, id) WHERE status = 'running'",
        # Added with runs of a company (`JobRun.Requested.company`: a notice sync's source's; NULL: brand-wide), which
        # staff limited to other companies do not see. The lists filter it on the brand's index scan (`_of_companies`).
        "ALTER TABLE read.job_runs ADD COLUMN IF NOT EXISTS company text",
    )

    @handles(R.Requested)
    def _requested(self, position: int, event: R.Requested) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.job_runs (id, brand_id, job_name, trigger, requested_by, as_of, settings, dry_run, "
            "company, status, requested_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'requested', %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (
                event.originator_id,
                event.brand_id,
                event.job_name,
                event.trigger,
                event.requested_by,
                event.as_of,
                Jsonb(event.settings.model_dump(mode="json")),
                event.dry_run,
                event.company,
                event.timestamp,
                event.timestamp,
            ),
        )

    @handles(R.AttemptStarted)
    def _attempt_started(self, position: int, event: R.AttemptStarted) -> Iterable[Write]:
        yield Write(
            "UPDATE read.job_runs SET status = 'running', attempt = %s, worker = %s, retry_at = NULL, "
            "started_at = coalesce(started_at, %s), updated_at = %s WHERE id = %s",
            (event.attempt, event.worker, event.timestamp, event.timestamp, event.originator_id),
        )

    @handles(R.BatchCompleted)
    def _batch_completed(self, position: int, event: R.BatchCompleted) -> Iterable[Write]:
        c = event.counts
        yield Write(
            "UPDATE read.job_runs SET batches = batches + 1, processed = processed + %s, succeeded = succeeded + %s, "
            "failed = failed + %s, skipped = skipped + %s, updated_at = %s WHERE id = %s",
            (c.processed, c.succeeded, c.failed, c.skipped, event.timestamp, event.originator_id),
        )

    @handles(R.AttemptFailed)
    def _attempt_failed(self, position: int, event: R.AttemptFailed) -> Iterable[Write]:
        yield Write(
            "UPDATE read.job_runs SET status = 'retrying', error = %s, retry_at = %s, updated_at = %s WHERE id = %s",
            (event.error, event.retry_at, event.timestamp, event.originator_id),
        )

    @handles(R.Succeeded)
    def _succeeded(self, position: int, event: R.Succeeded) -> Iterable[Write]:
        yield Write(
            "UPDATE read.job_runs SET status = 'succeeded', error = NULL, finished_at = %s, updated_at = %s WHERE id = %s",
            (event.timestamp, event.timestamp, event.originator_id),
        )

    @handles(R.Failed)
    def _failed(self, position: int, event: R.Failed) -> Iterable[Write]:
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
    settings: JobSettings
    dry_run: bool
    status: RunStatus
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
    #: The company of the brand whose record the run works on (a notice sync's source's); None: brand-wide.
    company: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> JobRunView:
        """The run of a `read.job_runs` row (its columns as `_COLUMNS` lists them)."""
        return cls(
            **{**row, "settings": JobSettings.model_validate(row["settings"]), "status": RunStatus(row["status"])}
        )


@dataclass(frozen=True)
class RunPage(Page):
    """A keyset page of run history, newest first."""

    items: list[JobRunView]


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting for a worker."""

    id: UUID
    brand_id: UUID
    job_name: str
    requested_at: datetime


_COLUMNS = (
    "id, job_name, trigger, requested_by, as_of, settings, dry_run, status, attempt, batches, processed, succeeded, failed, "
    "skipped, error, retry_at, requested_at, started_at, finished_at, company"
)


def _of_companies(companies: Sequence[str], params: dict[str, Any]) -> str:
    """The condition (with its parameter put in `params`) of the runs a caller limited to `companies` may see: the
    brand-wide ones and those of their companies; empty: every run (no condition)."""
    scoped = scope_companies(companies, params)
    return f" AND {scoped}" if scoped else ""


class JobRunQueries:
    """Run history queries, scoped to a brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._guard = threading.Lock()
        self._request_locks: dict[str, threading.Lock] = {}  # one per brand and job that had a manual request

    def run(self, brand_id: UUID, run_id: UUID, companies: Sequence[str] = ()) -> JobRunView | None:
        """One run of the brand; None for one of a company not in `companies` (those the caller may see; empty:
        every company), as for a run of another brand."""
        params: dict[str, Any] = {"id": run_id, "brand": brand_id}
        of_companies = _of_companies(companies, params)
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM read.job_runs WHERE id = %(id)s AND brand_id = %(brand)s{of_companies}", params
            ).fetchone()
        return JobRunView.of(row) if row else None

    def history(
        self,
        brand_id: UUID,
        job_name: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        companies: Sequence[str] = (),
    ) -> RunPage:
        """Runs newest first, optionally of one job; keyset pages. `companies`: those the caller may see (empty:
        every company) -- another company's runs are left out, the brand-wide ones kept."""
        page_scope = (brand_id, job_name)  # the filters its cursor is bound to
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        where = ["brand_id = %(brand)s" + _of_companies(companies, params)]
        if job_name:
            where.append("job_name = %(job)s")
            params["job"] = job_name
        if cursor:
            at, last_id = RUNS_CURSOR.decode(cursor, page_scope)
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
        cursor_out = (
            RUNS_CURSOR.encode(rows[-1]["requested_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return RunPage(items=[JobRunView.of(r) for r in rows], next_cursor=cursor_out)

    def due(
        self, now: datetime, per_job: int = 3, closing: Sequence[str] = (), waiting: Sequence[str] = ()
    ) -> list[QueuedRun]:
        """Runs waiting to start, across brands (workers only): the oldest `per_job` of each brand and job.

        Runs of one brand and job never run at once, so a dispatcher needs only the head of each queue (a few, in
        case the head was just taken); a brand with many queued runs cannot crowd the others out of the answer.
        A run of a `waiting` job (`JobDefinition.waits_for_close`) is not due while a run of a `closing` job
        (`catches_up`, the close of business) of its brand dated before it is queued, running or retrying: it reads
        the loan positions of its date, which that close has not computed yet. A dry run does not wait.
        """
        with self.pool.connection() as conn:
            rows = conn.execute(
                "WITH closing AS ("
                " SELECT brand_id, min(as_of) AS as_of FROM read.job_runs WHERE job_name = ANY(%(closing)s)"
                " AND (status IN ('requested', 'retrying') OR status = 'running') AND NOT dry_run GROUP BY brand_id"
                ") SELECT id, brand_id, job_name, requested_at FROM ("
                " SELECT r.id, r.brand_id, r.job_name, r.requested_at, row_number() OVER ("
                "  PARTITION BY r.brand_id, r.job_name ORDER BY r.requested_at, r.id) AS place"
                " FROM read.job_runs r LEFT JOIN closing c ON c.brand_id = r.brand_id"
                " WHERE (r.status = 'requested' OR (r.status = 'retrying' AND r.retry_at <= %(now)s))"
                " AND (c.as_of IS NULL OR r.as_of <= c.as_of OR r.dry_run OR NOT r.job_name = ANY(%(waiting)s))"
                ") queued WHERE place <= %(per_job)s ORDER BY requested_at, id",
                {"now": now, "per_job": per_job, "closing": list(closing), "waiting": list(waiting)},
            ).fetchall()
        return [QueuedRun(r["id"], r["brand_id"], r["job_name"], r["requested_at"]) for r in rows]

    def closing(self, job_names: Sequence[str]) -> dict[UUID, tuple[UUID, date]]:
        """Per brand, its run of the `job_names` (the close of business) queued, running or retrying that is dated
        latest (its id and as-of date): the business date it will have brought the brand to when it ends."""
        if not job_names:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT ON (brand_id) brand_id, id, as_of FROM read.job_runs WHERE job_name = ANY(%s)"
                " AND (status IN ('requested', 'retrying') OR status = 'running') AND NOT dry_run"
                " ORDER BY brand_id, as_of DESC, id",
                (list(job_names),),
            ).fetchall()
        return {r["brand_id"]: (r["id"], r["as_of"]) for r in rows}

    @contextmanager
    def manual_request(
        self, brand_id: UUID, job_name: str, wait_seconds: float = 2.0
    ) -> Iterator[Callable[[], list[UUID]]]:
        """Hold the brand and job's manual-request lock while a manual run is recorded; yield what lists the manual
        runs this read model shows waiting.

        The bound on waiting runs is counted from the event store, in the save that records the run
        (`Jobs.request_manual_run`), not here: this read model lags behind the runs, or stops with its projector. The
        lock only keeps a burst of requests from racing to that save, where all but one would have to count again.
        Requests of this process queue on a thread lock first, so waiters hold no pooled connection; the holder then
        takes a transaction advisory lock, for other processes. A request that cannot get the lock within
        `wait_seconds` gets RunQueueFull (others are being recorded right now). What it yields reads, on the lock's
        connection, the runs listed as waiting: a hint for runs recorded before the queue was kept, which the jobs
        context checks against the event store.
        """
        key = f"manual-run:{brand_id}:{job_name}"
        with self._guard:
            local = self._request_locks.setdefault(key, threading.Lock())
        busy = RunQueueFull(f"other runs of {job_name} are being requested right now; try again", retry_after=1)
        if not local.acquire(timeout=wait_seconds):
            raise busy
        try:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{int(wait_seconds * 1000)}ms'")
                try:
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))
                except errors.LockNotAvailable:
                    raise busy from None

                def listed_waiting() -> list[UUID]:
                    rows = conn.execute(
                        "SELECT id FROM read.job_runs WHERE brand_id = %s AND job_name = %s "
                        "AND trigger = 'manual' AND status IN ('requested', 'retrying')",
                        (brand_id, job_name),
                    ).fetchall()
                    return [r["id"] for r in rows]

                yield listed_waiting
        finally:
            local.release()

    def stalled(self, before: datetime, besides: Iterable[UUID] = (), limit: int = 20) -> list[UUID]:
        """Runs marked running whose last progress is older than `before` (their worker died), `besides` those."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.job_runs WHERE status = 'running' AND updated_at < %s AND NOT id = ANY(%s) "
                "ORDER BY updated_at, id LIMIT %s",
                (before, list(besides), limit),
            ).fetchall()
        return [r["id"] for r in rows]

    def running_by_worker(self) -> dict[str | None, list[UUID]]:
        """Every run marked running, by the worker of its attempt (None: started before the read model kept it).

        Workers only: the leader checks each worker is alive. All of them, however many: a dead worker's run must
        not hide behind the runs of live ones. Few rows (runs in flight), read through their own partial index.
        """
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, worker FROM read.job_runs WHERE status = 'running' ORDER BY updated_at, id"
            ).fetchall()
        held: dict[str | None, list[UUID]] = {}
        for r in rows:
            held.setdefault(r["worker"], []).append(r["id"])
        return held

    def last_runs(self, brand_id: UUID, companies: Sequence[str] = ()) -> dict[str, JobRunView]:
        """The newest run of each job of the brand that a caller limited to `companies` may see (empty: every
        company)."""
        params: dict[str, Any] = {"brand": brand_id}
        of_companies = _of_companies(companies, params)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT ON (job_name) {_COLUMNS} FROM read.job_runs WHERE brand_id = %(brand)s{of_companies} "
                "ORDER BY job_name, requested_at DESC",
                params,
            ).fetchall()
        return {r["job_name"]: JobRunView.of(r) for r in rows}
