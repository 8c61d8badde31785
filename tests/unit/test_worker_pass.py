"""A background worker's pass traces what it records (`workers.polling.worker_pass`): the queue workers (agreement,
callback router, sign-up linker, notice rematcher) run outside any request or job run, so their events carried no
trace id (docs/events.md)."""

from __future__ import annotations

import uuid

import pytest

import workers.notice_sync as notice_sync
from domain.shared.aggregate import current_trace, tracing
from workers.notice_sync import Rematcher
from workers.polling import QueueDrainer


class _Queue:
    """A queue of two rows that remembers the trace each was handled under."""

    def __init__(self) -> None:
        self.rows = [1, 2]
        self.traces: list[str | None] = []

    def pending_rematches(self, limit: int) -> list[object]:
        rows, self.rows = self.rows, []
        return [type("Row", (), {"customer_id": uuid.uuid4(), "position": r})() for r in rows]

    def rematched(self, customer_id: uuid.UUID, position: int) -> None:
        self.traces.append(current_trace())


def test_each_pass_of_a_queue_worker_records_under_its_own_trace_naming_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = _Queue()
    port = type("Port", (), {"notice_queries": queue, "engine": None})()
    worker = Rematcher(port)
    handled: list[str | None] = []

    def rematch(_port: object, _customer: uuid.UUID) -> int:
        handled.append(current_trace())
        return 0

    monkeypatch.setattr(notice_sync, "rematch_borrower", rematch)
    assert worker.drain() == 2
    queue.rows = [3]
    assert worker.drain() == 1
    first, second = queue.traces[:2], queue.traces[2:]
    assert handled == queue.traces and len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
    for trace in (first[0], second[0]):
        assert trace is not None and trace.startswith("worker-pass:notice-rematcher:"), trace
        uuid.UUID(trace.rsplit(":", 1)[1])
    assert current_trace() is None  # the pass's trace ends with it


def test_a_pass_run_inside_a_job_run_or_a_request_names_the_worker_not_theirs() -> None:
    """Every drainer traces its passes the same way, whoever calls `drain`; the trace before it is restored."""
    seen: list[str | None] = []

    class Probe(QueueDrainer):
        def drain(self) -> int:
            with self.traced_pass():
                seen.append(current_trace())
                return 0

    with tracing("job-run:elsewhere"):
        Probe("probe-worker").drain()
        assert current_trace() == "job-run:elsewhere"
    assert seen[0] is not None and seen[0].startswith("worker-pass:probe-worker:")
