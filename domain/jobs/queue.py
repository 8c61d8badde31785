"""The queue of a brand's manual runs of one job: the bound on its waiting runs, kept on the write side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.jobs.job import MAX_QUEUED_MANUAL_RUNS, QUEUE_RETRY_AFTER, RunQueueFull, RunStatus
from domain.shared.aggregate import Aggregate, with_id

_QUEUE_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/manual-run-queue")

#: The statuses of a run waiting for a worker: what the bound counts.
WAITING = frozenset({RunStatus.REQUESTED, RunStatus.RETRYING})
#: The statuses of a run that has ended: it leaves the queue.
ENDED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED})


def queue_id(brand_id: UUID, job_name: str) -> UUID:
    """The id of the brand's queue of manual runs of the job (one per brand and job)."""
    return uuid5(_QUEUE_NAMESPACE, f"{brand_id}:{job_name}")


class ManualRunQueue(Aggregate):
    """The manual runs of one job a brand asked for that have not ended, so the bound on those waiting is counted
    from the runs themselves (the event store) and not from the run history, a read model that may lag or be stopped.

    Every manual run is admitted here in the save that records it: two requests admitted at once move the queue to
    one version, and the second fails (optimistic concurrency), so neither a lagging read model nor a race lets more
    than MAX_QUEUED_MANUAL_RUNS wait. Its runs' statuses are read by the caller from the runs (requested, running,
    retrying, ...), which move without the queue: a started run makes room, a retrying one waits again, an ended one
    leaves at the next admission.
    """

    id: UUID  # Passed in (uuid5 of the brand and job) rather than random.

    class Opened(Aggregate.Created):
        """The brand's queue of manual runs of the job was first needed; `runs`: its manual runs recorded before
        queues were kept that had not ended then (an empty list for a job first run by hand since)."""

        brand_id: UUID
        job_name: str
        runs: list[UUID]

    class RunAdmitted(Aggregate.Event):
        """A manual run joined the queue; `ended`: the queue's runs found ended since, which left it."""

        run_id: UUID
        ended: list[UUID]

    @classmethod
    def open(cls, brand_id: UUID, job_name: str, runs: Sequence[UUID] = ()) -> ManualRunQueue:
        """A new queue of the brand's manual runs of the job, holding `runs` (recorded before it, not ended)."""
        return with_id(cls, queue_id(brand_id, job_name), brand_id=brand_id, job_name=job_name, runs=list(runs))

    @event(Opened)
    def __init__(self, brand_id: UUID, job_name: str, runs: list[UUID]) -> None:
        self.brand_id = brand_id
        self.job_name = job_name
        self.runs = list(runs)

    def waiting(self, statuses: Mapping[UUID, RunStatus]) -> int:
        """How many of its runs wait for a worker, given each run's status now (`statuses`, as the runs have it)."""
        return sum(1 for run_id in self.runs if statuses.get(run_id) in WAITING)

    def admit(self, run_id: UUID, statuses: Mapping[UUID, RunStatus]) -> None:
        """Admit a new manual run, unless MAX_QUEUED_MANUAL_RUNS of the queue's runs are waiting (RunQueueFull, 429).

        `statuses`: the status of each of its runs now, read from the runs themselves. A run with none (not found) or
        one that has ended leaves the queue; a running one stays, as it may fail an attempt and wait again.
        """
        waiting = self.waiting(statuses)
        if waiting >= MAX_QUEUED_MANUAL_RUNS:
            raise RunQueueFull(
                f"{waiting} manual runs of {self.job_name} are already waiting for this brand (at most "
                f"{MAX_QUEUED_MANUAL_RUNS}); try again once one has started",
                retry_after=QUEUE_RETRY_AFTER,
                queued=waiting,
                limit=MAX_QUEUED_MANUAL_RUNS,
            )
        ended = [r for r in self.runs if statuses.get(r) is None or statuses[r] in ENDED]
        self._run_admitted(run_id=run_id, ended=ended)

    @event(RunAdmitted)
    def _run_admitted(self, run_id: UUID, ended: list[UUID]) -> None:
        gone = set(ended)
        self.runs = [r for r in self.runs if r not in gone] + [run_id]
