"""Every batch job the platform runs: definitions (for the API and scheduler) and their handlers."""

from __future__ import annotations

from workers import housekeeping
from workers.scheduler import JobHandler

JOB_DEFINITIONS = [housekeeping.DEFINITION]
JOB_HANDLERS: dict[str, JobHandler] = {housekeeping.DEFINITION.name: housekeeping.run}
