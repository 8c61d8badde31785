"""Batch jobs: per-brand settings, runs with attempts and batches, the scheduler's queue, and housekeeping."""

from __future__ import annotations

from api.pages import jobs as pages
from api.routes import jobs as routes
from api.web import NavItem
from domain.identity.application import Identity
from domain.identity.permissions import Permission
from domain.jobs.application import JobCatalogue, Jobs
from domain.jobs.job import JobConfiguration, JobRun
from projections.jobs import JobRunHistory, JobRunQueries
from workers import housekeeping
from workers.bounded_context import BoundedContext, Job, Kit


def _jobs(kit: Kit) -> Jobs:
    return Jobs(
        env=kit.env,
        clock=kit.clock,
        catalogue=list(kit.get(JobCatalogue).definitions),
        as_of_window=kit.get(Identity).as_of_window,
    )


CONTEXT = BoundedContext(
    application=Jobs,
    build=_jobs,
    queries=(JobRunQueries,),
    projections=(JobRunHistory(),),
    # A notice sync's job run belongs to its source's company (`JobRun.Requested.company`): a staff member limited to
    # companies sees only theirs in the trail, and the brand-wide runs and settings (no company) as before.
    activity_by_company=True,
    endpoints=routes.ENDPOINTS,
    pages=pages.PAGES,
    jobs=(Job(housekeeping.DEFINITION, housekeeping.run, housekeeping.HousekeepingPort),),
    nav=(NavItem("Jobs", "/jobs", "jobs", Permission.JOBS, 90),),
    permissions=(Permission.JOBS,),
    audited=(JobConfiguration, JobRun),
)
