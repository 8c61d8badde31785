"""Triggering a notice sync: start the sync run and ask the scheduler to execute it (staff and cron alike)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.jobs.job import RunStatus

JOB = "softmedia-sync"
_JOB_RUN_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/softmedia-sync-job")
#: A sync run whose job run never appeared this long after it started was left by a worker that died in between.
_ORPHAN_GRACE = timedelta(minutes=2)


def job_run_id(sync_run_id: UUID) -> UUID:
    """The job run that executes a sync run."""
    return uuid5(_JOB_RUN_NAMESPACE, str(sync_run_id))


def request_sync(platform: Any, brand_id: UUID | None, source_id: UUID, *, trigger: str, requested_by: str) -> UUID:
    """Start a sync run of a source and ask the scheduler to execute it; SyncAlreadyRunning (409) while one runs."""

    def abandoned(running: UUID) -> bool:
        job = platform.jobs.find(job_run_id(running))
        if job is None:
            run = platform.notices.sync_run(None, running)
            return bool(platform.clock.now() - run.created_on > _ORPHAN_GRACE)
        return job.status in (RunStatus.FAILED, RunStatus.SUCCEEDED)

    result = platform.notices.begin_sync(
        brand_id, source_id, trigger=trigger, requested_by=requested_by, is_abandoned=abandoned
    )
    source = platform.notices.source(brand_id, source_id)
    platform.jobs.request_run(
        source.brand_id,
        JOB,
        trigger=trigger,
        requested_by=requested_by,
        as_of=platform.identity.business_date(source.brand_id),  # a brand held at a fixed date syncs as of it
        variables={"source_id": str(source_id), "sync_run_id": str(result.id)},
        run_id=job_run_id(result.id),
    )
    platform.wake_scheduler()
    return UUID(str(result.id))
