"""Every batch job the platform runs: definitions (for the API and scheduler) and their handlers."""

from __future__ import annotations

from workers import covenant_jobs, housekeeping
from workers.scheduler import JobHandler

JOB_DEFINITIONS = [housekeeping.DEFINITION, covenant_jobs.EVALUATION, covenant_jobs.NOTIFICATION]
JOB_HANDLERS: dict[str, JobHandler] = {
    housekeeping.DEFINITION.name: housekeeping.run,
    covenant_jobs.EVALUATION.name: covenant_jobs.run_evaluation,
    covenant_jobs.NOTIFICATION.name: covenant_jobs.run_notification,
}
