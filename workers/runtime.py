"""The in-process workers: projection runners, the scheduler with every registered job, the contexts' background
threads and (with KAFKA_BOOTSTRAP_SERVERS) the Kafka relay."""

from __future__ import annotations

from adapters.kafka import KafkaSettings
from workers.platform import Platform
from workers.relay import Relay
from workers.scheduler import Scheduler, SchedulerPort


def scheduler_for(platform: Platform, interval: float = 5.0, workers: int | None = None) -> Scheduler:
    """The scheduler of `platform`, with every registered job and schedule."""
    return Scheduler(
        platform.port(SchedulerPort),
        platform.job_handlers(),
        interval=interval,
        firers=platform.slot_firers(),
        workers=workers,
    )


class Workers:
    """Starts and stops the background work of one process."""

    def __init__(self, platform: Platform, scheduler_interval: float = 5.0) -> None:
        self.platform = platform
        self.scheduler = scheduler_for(platform, scheduler_interval)
        self.background = platform.background_workers()
        settings = KafkaSettings.from_env()
        self.relay = Relay(platform, settings) if settings is not None else None
        platform.relay = self.relay

    def start(self) -> None:
        self.platform.start_projection_runners()
        self.scheduler.start()
        for worker in self.background:
            worker.start()
        if self.relay is not None:
            self.relay.start()

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            self.relay.join(timeout=10)
        for worker in self.background:
            worker.stop()
        self.scheduler.stop()
        self.scheduler.join(timeout=5)
        for worker in self.background:
            worker.join(timeout=5)
