"""The `cx-departures` job (docs/loans.md, "When the credit executive leaves"): applications in their credit
executive's hands (`CX_WORKED`: pending, or sent back to the borrower) whose assignee left - disabled, or no longer
holding LOANS at WRITE - are reassigned, with the brand's `auto_allocate_loans` on, to the least-loaded available
credit executive (auto-allocation's pick: `LoanQueries.workloads`), each an auto-allocation `Loan.Assigned` naming the
previous assignee, with why ("auto-allocated: credit executive disabled"). Without auto-allocation nothing moves:
the queue flags them (`assignee_departed`) for the managers. The collections sweep's rule for a departed executive's
cases (workers/collection_jobs.py), applied to applications; leave and `available` off are not departures.

Keyset pages of the read model (never the whole book); each move is decided on the loan and the staff records as
the command loads them (`Loans.reassign_departed`), so a rerun, or an application a manager reassigned meanwhile,
changes nothing; a concurrent change is retried once, then left to the next run. A pick the command refuses (disabled,
or LOANS taken away, since the workloads were read: `StaffCannotTakeLoans`) leaves the candidates for the rest of the
run, and the application goes to the next in line; only with nobody left does it stay (flagged) for the next run.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from uuid import UUID

import structlog

from domain.identity.application import Identity
from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings
from domain.loans.application import Loans
from domain.loans.loan import StaffCannotTakeLoans
from domain.loans.parties import CREDIT_EXECUTIVE_ROLE
from domain.shared.aggregate import acting_as
from domain.shared.application import ConcurrentModification
from domain.shared.errors import DomainError
from projections.engine import ProjectionEngine
from projections.loan_queries import DepartedAssignment, LoanQueries

log = structlog.get_logger(__name__)

DEFINITION = JobDefinition(
    name="cx-departures",
    title="Departed credit executives' applications",
    description="Reassigns the applications still in a departed credit executive's hands (pending, or sent back to "
    "the borrower; the assignee disabled or no longer holding LOANS at WRITE) to the least-loaded available credit "
    "executive when the brand's auto_allocate_loans is on; without it they stay, flagged assignee_departed on the "
    "loan queue for a manager. Leave and unavailability are not departures.",
    defaults=JobSettings(cron="*/15 * * * *", batch_size=200, retry_count=3, retry_interval_seconds=60),
)
ACTOR = f"job:{DEFINITION.name}"


@dataclass(frozen=True)
class DeparturesPort:
    """What the job uses (filled by type)."""

    loans: Loans
    identity: Identity
    queries: LoanQueries
    engine: ProjectionEngine


class Workloads:
    """Least-loaded first among the eligible credit executives (ties: the smaller id), counting the applications
    given in this run (the read model shows them only once it catches up)."""

    def __init__(self, loads: list[tuple[UUID, int]]) -> None:
        self.heap = [(load, str(staff), staff) for staff, load in loads]
        heapq.heapify(self.heap)

    def pick(self) -> UUID | None:
        return self.heap[0][2] if self.heap else None

    def given(self) -> None:
        """The one `pick` named took an application."""
        load, key, staff = self.heap[0]
        heapq.heapreplace(self.heap, (load + 1, key, staff))

    def drop(self) -> None:
        """The one `pick` named may no longer take applications (refused on their staff record): out of this run."""
        heapq.heappop(self.heap)


def reassign(port: DeparturesPort, brand_id: UUID, row: DepartedAssignment, staff_id: UUID) -> bool:
    """Move one application from its departed assignee to `staff_id`; whether it moved. A concurrent change of the
    loan is retried once (the command reads it again: reassigned meanwhile, it changes nothing), then skipped for
    the next run; another refusal (the loan moved on) is skipped. The pick refused (`StaffCannotTakeLoans`: no
    longer taking loans) is the caller's, who tries the next in line."""
    for attempt in (1, 2):
        try:
            with acting_as(ACTOR):
                result = port.loans.reassign_departed(brand_id, row.loan_id, row.assignee, staff_id, row.reason)
            return result.changed
        except StaffCannotTakeLoans:
            raise
        except ConcurrentModification as exc:
            if attempt == 2:
                log.info("loans.departure_skipped", loan=str(row.loan_id), error=exc.message)
        except DomainError as exc:
            log.info("loans.departure_skipped", loan=str(row.loan_id), error=exc.message)
            return False
    return False


def give(port: DeparturesPort, brand_id: UUID, row: DepartedAssignment, workloads: Workloads) -> bool:
    """Give one application to the least-loaded candidate; whether it moved. A candidate the command refuses (disabled,
    or LOANS taken away, since the workloads were read) leaves the candidates for the rest of the run and the next in
    line is tried; with nobody left, the application stays (flagged) for the next run."""
    while (staff_id := workloads.pick()) is not None:
        try:
            moved = reassign(port, brand_id, row, staff_id)
        except StaffCannotTakeLoans:
            log.info("loans.departure_candidate_refused", loan=str(row.loan_id), staff=str(staff_id))
            workloads.drop()
            continue
        if moved:
            workloads.given()
        return moved
    return False


def run(port: DeparturesPort, job_run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
    """The brand's departed credit executives' applications, a keyset page per batch (nothing to do without
    auto-allocation: the queue flags them)."""
    brand_id = job_run.brand_id
    if not port.identity.settings(brand_id).auto_allocate_loans:
        yield BatchCounts(processed=0, succeeded=0), None
        return
    port.engine.caught_up(Identity.name, 60, "departed credit executives")
    port.engine.caught_up(Loans.name, 60, "departed credit executives")
    day: date = port.loans.parties.business_date(brand_id)  # auto-allocation's day: who is on leave
    workloads: Workloads | None = None
    after: tuple[UUID, UUID] | None = None
    size = job_run.settings.batch_size
    while page := port.queries.departed_assignments(brand_id, after, size):
        if workloads is None:
            workloads = Workloads(port.queries.workloads(brand_id, CREDIT_EXECUTIVE_ROLE, day))
        moved = 0
        for row in page:
            if workloads.pick() is None:  # nobody may take one: they stay, flagged, for a manager
                break
            if give(port, brand_id, row, workloads):
                moved += 1
        yield BatchCounts(processed=len(page), succeeded=moved, skipped=len(page) - moved), None
        if workloads.pick() is None or len(page) < size:
            return
        after = (page[-1].assignee, page[-1].loan_id)
