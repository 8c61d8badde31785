"""Pure rules of triggering a notice sync: the job that executes sync runs, its run ids, what a manual run of it may
name, and when a running sync was left behind. Starting one (the sync run, its job run, the scheduler's bell) is
`api.services.notice_syncs.SyncRequests`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.jobs.job import RunStatus
from domain.shared.errors import InvalidValue

JOB = "softmedia-sync"
_JOB_RUN_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/softmedia-sync-job")
#: A sync run whose job run never appeared this long after it started was left by a worker that died in between.
ORPHAN_GRACE = timedelta(minutes=2)


def job_run_id(sync_run_id: UUID) -> UUID:
    """The job run that executes a sync run."""
    return uuid5(_JOB_RUN_NAMESPACE, str(sync_run_id))


def sync_abandoned(job_status: RunStatus | None, started_on: datetime, now: datetime) -> bool:
    """Whether a sync run still marked running was left behind: its job run has ended, or (None) never appeared
    within ORPHAN_GRACE of the sync run's start."""
    if job_status is None:
        return now - started_on > ORPHAN_GRACE
    return job_status in (RunStatus.FAILED, RunStatus.SUCCEEDED)


def manual_sync_source(
    variables: Mapping[str, str],
    *,
    as_of: date | None = None,
    filters: Mapping[str, str] | None = None,
    batch_size: int | None = None,
    dry_run: bool = False,
) -> UUID | None:
    """The source a manual run of the sync job names in `variables.source_id` (None: every source); InvalidValue
    for anything else it is given, since a sync pulls each source's current notices."""
    given = {"as_of": as_of is not None, "filters": bool(filters), "batch_size": batch_size is not None}
    for field, present in {**given, "dry_run": dry_run}.items():
        if present:
            raise InvalidValue(field, f"{JOB} pulls each source's current notices; it takes only variables.source_id")
    unknown = sorted(set(variables) - {"source_id"})
    if unknown:
        raise InvalidValue("variables", f"unknown variable(s) {unknown}; {JOB} accepts ['source_id']")
    if "source_id" not in variables:
        return None
    raw = variables["source_id"]
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidValue("variables.source_id", f"'{raw}' is not a notice source id") from None
