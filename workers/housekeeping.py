"""The housekeeping job: purge expired portal sessions, old idempotency records, idle login counts, old outbound
provider calls and expired borrower drafts, in batches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from adapters.operational import OperationalStore
from adapters.providers.call_log import ProviderCallLog
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.shared.clock import Clock

IDEMPOTENCY_RETENTION = timedelta(days=1)
LOGIN_THROTTLE_RETENTION = timedelta(days=1)  # failed logins a day apart no longer count as "in a row"
PROVIDER_CALL_RETENTION = timedelta(days=180)  # the outbound call log (docs/providers.md)

DEFINITION = JobDefinition(
    name="housekeeping",
    title="Housekeeping",
    description=(
        "Deletes expired portal sessions, idempotency records older than a day and the failed-login counts of "
        "emails not tried for a day, outbound provider calls older than 180 days and expired borrower drafts (as of the run's date, never later "
        "than now: a brand's business date ahead of the clock purges nothing early)."
    ),
    defaults=JobSettings(cron="30 2 * * *", batch_size=1000, retry_count=3, retry_interval_seconds=300),
    filter_keys=frozenset(),
    variable_keys=frozenset({"as_of"}),
)


@dataclass(frozen=True)
class HousekeepingPort:
    """What housekeeping uses: the operational store it purges, and the clock."""

    ops: OperationalStore
    clock: Clock
    provider_calls: ProviderCallLog


def run(port: HousekeepingPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """Yield one (counts, cursor) per batch; safe to rerun (deleting what is gone deletes nothing).

    What it purges is every brand's (sessions, idempotency records, login throttles, the provider call log), while
    the run's as-of date is its brand's: a brand may set its business date years ahead (its own `business_date`
    setting) and run housekeeping then. So the cutoff never passes the platform's clock: one brand's run deletes
    nothing of another brand's before its time (it wiped every brand's call log and lifted running login locks)."""
    cutoff = min(datetime.combine(job_run.as_of, time.min, tzinfo=UTC), port.clock.now())
    size = job_run.settings.batch_size
    phases = ("sessions", "idempotency", "login-throttle", "provider-calls", "borrower-drafts")
    start = phases.index(job_run.cursor) if job_run.cursor in phases else 0
    for phase in phases[start:]:
        while True:
            if phase == "sessions":
                deleted = port.ops.purge_expired_sessions(cutoff, size)
            elif phase == "idempotency":
                deleted = port.ops.purge_idempotency_keys(cutoff - IDEMPOTENCY_RETENTION, size)
            elif phase == "login-throttle":
                deleted = port.ops.purge_login_throttle(cutoff - LOGIN_THROTTLE_RETENTION, size)
            elif phase == "provider-calls":
                deleted = port.provider_calls.purge(cutoff - PROVIDER_CALL_RETENTION, size)
            else:  # what borrowers typed before their session ended, not taken back within its hour
                deleted = port.ops.purge_borrower_drafts(cutoff, size)
            yield BatchCounts(processed=deleted, succeeded=deleted), phase
            if deleted < size:
                break
