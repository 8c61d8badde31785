"""Requesting a notice sync: start the source's sync run, ask the scheduler to execute it as a job run, and wake the
scheduler - for staff (the API, the portal, a manual run of the sync job), a source's own cron and the demo alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.identity.application import Identity
from domain.jobs.application import Jobs, RunBell
from domain.jobs.job import JobRun
from domain.notices.application import Notices
from domain.notices.triggering import JOB, job_run_id, sync_abandoned
from domain.shared.clock import Clock


@dataclass(frozen=True)
class SyncRequests:
    """Starts notice syncs: the notices context's sync run and the jobs context's run that executes it."""

    jobs: Jobs
    notices: Notices
    identity: Identity
    clock: Clock
    bell: RunBell

    def request(
        self,
        brand_id: UUID | None,
        source_id: UUID,
        *,
        trigger: str,
        requested_by: str,
        companies: Sequence[str] = (),
    ) -> UUID:
        """Start a sync run of a source and ask the scheduler to execute it; SyncAlreadyRunning (409) while one
        runs (unless the running one was left behind by a worker that died); SourceNotFound (404) for a source not
        of `companies` the caller may see (empty: any). Returns the sync run's id."""
        result = self.notices.begin_sync(
            brand_id,
            source_id,
            trigger=trigger,
            requested_by=requested_by,
            is_abandoned=self._abandoned,
            companies=companies,
        )
        source = self.notices.source(brand_id, source_id)
        self.jobs.request_run(
            source.brand_id,
            JOB,
            trigger=trigger,
            requested_by=requested_by,
            as_of=self.identity.business_date(source.brand_id),  # a brand held at a fixed date syncs as of it
            variables={"source_id": str(source_id), "sync_run_id": str(result.id)},
            run_id=job_run_id(result.id),
            company=source.company,  # the run is of the source's company: staff of other companies do not see it
        )
        self.bell.ring()
        return UUID(str(result.id))

    def _abandoned(self, running: UUID) -> bool:
        job = self.jobs.find(job_run_id(running))
        started_on = self.notices.sync_run(None, running).created_on
        return sync_abandoned(job.status if isinstance(job, JobRun) else None, started_on, self.clock.now())
