"""A rebuild's next batches read and decoded on a thread of their own, while the engine applies the current one.

A rebuild alternates between reading a batch of the event log (the server's work, the client waiting) and
decoding, projecting and writing it (mostly the client's, the server busy with the writes meanwhile). The reader
overlaps the two: while batch N is applied on the engine's connection, batch N+1 is read over the application's
recorder (a connection of its own) and decoded, and waits in a bounded queue. The tracking position is not the
reader's business: the engine applies a read batch only when it starts at the position it reads, under its lock,
in the transaction that writes the batch's rows (`ProjectionEngine.process_batch`), so each event is still applied
exactly once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from domain.shared.gc_pause import collector_paused
from projections.projection import Projection


@dataclass(frozen=True)
class ReadBatch:
    """The notifications after `start` up to `stop` (the projection's topics only), and their domain events.

    `events` is None when one of them did not decode: the engine decodes the batch itself then, so the failure is
    handled like any other (isolated, recorded, skipped)."""

    start: int
    stop: int
    notifications: Sequence[Any]
    events: Sequence[Any] | None


class BatchReader:
    """Reads the batches of `projection`'s events after `start`, `depth` batches ahead of the consumer.

    Iterate it for the batches in order; it ends when it reaches the log's head (read at each batch, as the engine
    does). A read error ends the iteration with that error. Leave the `with` block to stop the thread.
    """

    def __init__(self, app: Any, projection: Projection, start: int, limit: int, depth: int = 2) -> None:
        self.app = app
        self.topics = list(projection.topics)
        self.start = start
        self.limit = limit
        self.batches: queue.Queue[ReadBatch | BaseException | None] = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"read-{projection.name}", daemon=True)

    def __enter__(self) -> BatchReader:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        while self.thread.is_alive():  # Free a slot the reader may be waiting for, then let it see the flag.
            try:
                self.batches.get_nowait()
            except queue.Empty:
                pass
            self.thread.join(0.05)

    def __iter__(self) -> Iterator[ReadBatch]:
        while True:
            item = self.batches.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: ReadBatch | BaseException | None) -> bool:
        """Queue an item; False when the consumer stopped meanwhile."""
        while not self.stopping.is_set():
            try:
                self.batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        position = self.start
        recorder, mapper = self.app.recorder, self.app.mapper
        try:
            while not self.stopping.is_set():
                head = recorder.max_notification_id() or 0
                if head <= position:
                    self._put(None)
                    return
                stop = min(head, position + self.limit)
                with collector_paused():  # (see gc_pause: none of a batch's objects is cyclic garbage)
                    notifications = recorder.select_notifications(
                        start=position, limit=self.limit, stop=stop, topics=self.topics, inclusive_of_start=False
                    )
                    try:
                        events: Sequence[Any] | None = [mapper.to_domain_event(n) for n in notifications]
                    except Exception:  # noqa: BLE001 - the engine decodes this batch again and isolates the failure.
                        events = None
                    batch = ReadBatch(position, stop, notifications, events)
                if not self._put(batch):
                    return
                position = stop
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer's thread.
            self._put(exc)
