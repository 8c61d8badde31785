"""The catch-up benchmark's reference contender: eventsourcing's own `ProjectionRunner` doing the directory's job.

`eventsourcing.projection` (9.5) runs a `Projection` per event: its subscription
pulls the notification log (500 at a time, then LISTEN/NOTIFY), the runner's
thread calls `process_event(event, tracking)`, and the view (a
`PostgresTrackingRecorder`) applies the event's writes and records the tracking
position in one transaction per event. Here the view applies exactly the writes
of our `CustomerDirectory` projector (its registrations as one-row inserts, the
name counts per event), on the same tables and data as the rebuild, so the
comparison is of the two runners, not of two projectors.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as LibraryProjection
from eventsourcing.projection import ProjectionRunner

from domain.customers.application import Customers
from projections.batch_writes import insert_rows
from projections.customers import CustomerDirectory
from projections.projection import Change, Insert, Write


class DirectoryView(PostgresTrackingRecorder):
    """The library's materialised view: one event's writes and its tracking position in one transaction."""

    def apply(self, changes: Sequence[Change], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for change in changes:
                write = (
                    insert_rows(change.table, tuple(change.row), [change.row]) if isinstance(change, Insert) else change
                )
                assert isinstance(write, Write)
                curs.execute(write.sql, write.params, prepare=True)  # type: ignore[arg-type]
            self._insert_tracking(curs, tracking)


class LibraryDirectory(LibraryProjection[DirectoryView]):
    """Our directory projector behind the library's `Projection` interface."""

    name = "library_directory"
    topics = CustomerDirectory.topics

    def __init__(self, view: DirectoryView) -> None:
        super().__init__(view)
        self.projector = CustomerDirectory()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        self.projector.begin_batch()
        changes = [*self.projector.project(tracking.notification_id, domain_event), *self.projector.end_batch()]
        self.view.apply(changes, tracking)


def run_library(env: dict[str, str], seconds: float) -> tuple[int, float]:
    """Run the library's runner from the start of the log for `seconds`; (events tracked, seconds taken)."""
    began = time.perf_counter()
    with ProjectionRunner(
        application_class=Customers, projection_class=LibraryDirectory, view_class=DirectoryView, env=env
    ) as runner:
        time.sleep(seconds)  # the runner's own threads do the work; its position is read at the end
        done = runner.view.max_tracking_id(runner.app_name) or 0
        elapsed = time.perf_counter() - began
    return done, elapsed
