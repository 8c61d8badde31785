"""The in-process workers: projection runners and the scheduler with every registered job."""

from __future__ import annotations

from typing import Any

from workers.job_catalogue import JOB_HANDLERS
from workers.scheduler import Scheduler


class Workers:
    """Starts and stops the background work of one process."""

    def __init__(self, platform: Any, scheduler_interval: float = 5.0) -> None:
        self.platform = platform
        self.scheduler = Scheduler(platform, JOB_HANDLERS, interval=scheduler_interval)

    def start(self) -> None:
        self.platform.start_projection_runners()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.scheduler.join(timeout=5)
