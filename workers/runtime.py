"""The in-process workers: projection runners and the scheduler with every registered job."""

from __future__ import annotations

from typing import Any

from adapters.kafka import KafkaSettings
from workers.job_catalogue import JOB_HANDLERS, SLOT_FIRERS
from workers.notice_sync import Rematcher
from workers.relay import Relay
from workers.scheduler import Scheduler


class Workers:
    """Starts and stops the background work of one process."""

    def __init__(self, platform: Any, scheduler_interval: float = 5.0) -> None:
        self.platform = platform
        self.scheduler = Scheduler(platform, JOB_HANDLERS, interval=scheduler_interval, firers=SLOT_FIRERS)
        self.rematcher = Rematcher(platform)
        settings = KafkaSettings.from_env()
        self.relay = Relay(platform, settings) if settings is not None else None
        platform.relay = self.relay

    def start(self) -> None:
        self.platform.start_projection_runners()
        self.scheduler.start()
        self.rematcher.start()
        if self.relay is not None:
            self.relay.start()

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay.join(timeout=10)
        self.rematcher.stop()
        self.scheduler.stop()
        self.scheduler.join(timeout=5)
        self.rematcher.join(timeout=5)
