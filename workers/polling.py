"""The loop of a background worker that drains a queue: a pass, then a wait only when the pass found nothing."""

from __future__ import annotations

import threading

import structlog


class QueueDrainer(threading.Thread):
    """A daemon thread calling `drain()` until stopped: again at once while passes find work, after `interval`
    seconds when one finds none, and after five intervals when one fails (logged as `failure_event`)."""

    #: The log event of a failed pass (each worker names its own).
    failure_event = "worker.drain_failed"

    def __init__(self, name: str, interval: float = 1.0) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Ask the loop to end (after the pass it is in)."""
        self.stopping.set()

    def run(self) -> None:
        log = structlog.get_logger(type(self).__module__)  # the worker's own module names its lines
        while not self.stopping.is_set():
            try:
                if not self.drain():
                    self.stopping.wait(self.interval)
            except Exception:
                log.exception(self.failure_event)
                self.stopping.wait(self.interval * 5)

    def drain(self) -> int:
        """One pass over the queue; how many items it handled."""
        raise NotImplementedError
