"""The housekeeping job: purge expired portal sessions, old idempotency records and idle login counts, in batches."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings

IDEMPOTENCY_RETENTION = timedelta(days=1)
LOGIN_THROTTLE_RETENTION = timedelta(days=1)  # failed logins a day apart no longer count as "in a row"

DEFINITION = JobDefinition(
    name="housekeeping",
    title="Housekeeping",
    description=(
        "Deletes expired portal sessions, idempotency records older than a day and the failed-login counts of "
        "emails not tried for a day (as of the run's date)."
    ),
    defaults=JobSettings(cron="30 2 * * *", batch_size=1000, retry_count=3, retry_interval_seconds=300),
    filter_keys=frozenset(),
    variable_keys=frozenset({"as_of"}),
)


def run(platform: Any, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Yield one (counts, cursor) per batch; safe to rerun (deleting what is gone deletes nothing)."""
    cutoff = datetime.combine(job_run.as_of, time.min, tzinfo=UTC)
    size = job_run.settings.batch_size
    phases = ("sessions", "idempotency", "login-throttle")
    start = phases.index(job_run.cursor) if job_run.cursor in phases else 0
    for phase in phases[start:]:
        while True:
            if phase == "sessions":
                deleted = platform.ops.purge_expired_sessions(min(cutoff, platform.clock.now()), size)
            elif phase == "idempotency":
                deleted = platform.ops.purge_idempotency_keys(cutoff - IDEMPOTENCY_RETENTION, size)
            else:
                deleted = platform.ops.purge_login_throttle(cutoff - LOGIN_THROTTLE_RETENTION, size)
            yield BatchCounts(processed=deleted, succeeded=deleted), phase
            if deleted < size:
                break
