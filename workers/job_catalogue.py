"""Every batch job the platform runs: definitions (for the API and scheduler) and their handlers."""

from __future__ import annotations

from workers import covenant_jobs, housekeeping, notice_sync
from workers.scheduler import JobHandler, SlotFirer

JOB_DEFINITIONS = [
    housekeeping.DEFINITION,
    covenant_jobs.EVALUATION,
    covenant_jobs.NOTIFICATION,
    notice_sync.DEFINITION,
]
JOB_HANDLERS: dict[str, JobHandler] = {
    housekeeping.DEFINITION.name: housekeeping.run,
    covenant_jobs.EVALUATION.name: covenant_jobs.run_evaluation,
    covenant_jobs.NOTIFICATION.name: covenant_jobs.run_notification,
    notice_sync.DEFINITION.name: notice_sync.run_sync,
}
#: Schedules kept outside job settings (each notice source has its own cron).
SLOT_FIRERS: list[SlotFirer] = [notice_sync.fire_source_slots]
