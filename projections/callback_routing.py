"""What moves callback requests and tells staff about them (workers/callback_jobs.py drains both; docs/callbacks.md):

- the hand-overs of other contexts, each a queue filled by a projection of that context's events: an application or
  loan assigned to another credit executive (`Loan.Assigned`, `read.callback_loan_handovers`) and a collection case
  allocated to another executive (`CaseMoves.Recorded`, `read.callback_case_handovers`), with the open requests of
  the loan's borrower each may move;
- the staff notices waiting in `read.callback_notice_queue` (filled by `CallbackView`), with what a notice says.

A projection of another context's events into a queue of our own, drained by a background worker, is how the leads'
sign-up linker reacts to the onboarding funnel (projections/lead_attribution.py, workers/lead_jobs.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.callbacks.request import RerouteCause
from domain.collections.application import Collections
from domain.collections.moves import CaseMoves
from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.callbacks import NOTICE_QUEUE
from projections.projection import Change, Insert, Projection, Write, handles

_HANDOVER_COLUMNS = """(
            position bigint NOT NULL,
            loan_id uuid NOT NULL,
            staff_id uuid NOT NULL,
            previous uuid,
            reason text NOT NULL,
            at timestamptz NOT NULL,
            PRIMARY KEY (position, loan_id)
        )"""


class CallbackLoanHandovers(Projection):
    """read.callback_loan_handovers: each application or loan assigned to a (new) credit executive."""

    name = "callback_loan_handovers"
    source = Loans.name
    tables = ("read.callback_loan_handovers",)
    ddl = (f"CREATE TABLE IF NOT EXISTS read.callback_loan_handovers {_HANDOVER_COLUMNS}",)

    @handles(Loan.Assigned)
    def _assigned(self, position: int, event: Loan.Assigned) -> Iterable[Change]:
        yield Insert(
            "read.callback_loan_handovers",
            {"position": position, "loan_id": event.originator_id, "staff_id": event.staff_id,
             "previous": event.previous_staff_id, "reason": event.reason, "at": event.timestamp},
        )  # fmt: skip


class CallbackCaseHandovers(Projection):
    """read.callback_case_handovers: each collection case allocated to another executive (a sweep's allocation or a
    manager's reallocation; a case closed or left unassigned hands nothing over)."""

    name = "callback_case_handovers"
    source = Collections.name
    tables = ("read.callback_case_handovers",)
    ddl = (f"CREATE TABLE IF NOT EXISTS read.callback_case_handovers {_HANDOVER_COLUMNS}",)

    @handles(CaseMoves.Recorded)
    def _moves(self, position: int, event: CaseMoves.Recorded) -> Iterable[Change]:
        moved = [m for m in event.moves if m.staff_id is not None and m.staff_id != m.previous and m.closed is None]
        if not moved:
            return
        yield Write(  # a sweep allocates thousands at once: one statement
            "INSERT INTO read.callback_case_handovers (position, loan_id, staff_id, previous, reason, at) "
            "SELECT %s, m.loan_id, m.staff_id, m.previous, %s, %s "
            "FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[]) AS m(loan_id, staff_id, previous) ON CONFLICT DO NOTHING",
            (position, event.reason, event.timestamp, [m.loan_id for m in moved], [m.staff_id for m in moved],
             [m.previous for m in moved]),
        )  # fmt: skip


@dataclass(frozen=True)
class Handover:
    """One hand-over waiting in a queue, and one open request of the loan's borrower it may move (None: none)."""

    cause: RerouteCause
    position: int
    loan_id: UUID
    staff_id: UUID
    previous: UUID | None
    reason: str
    at: datetime
    brand_id: UUID | None
    request_id: UUID | None


@dataclass(frozen=True)
class PendingNotice:
    """A staff notice to push: the request (as the queue shows it) and whom to tell, and why (`kind`)."""

    request_id: UUID
    kind: str
    brand_id: UUID
    assignee_id: UUID
    not_before: datetime
    borrower_name: str | None
    phone: str
    loan_number: str | None
    window: str
    note: str
    due_at: datetime | None
    source: str
    timezone: str | None


_TABLES = {
    RerouteCause.APPLICATION_ASSIGNED: "read.callback_loan_handovers",
    RerouteCause.CASE_ALLOCATED: "read.callback_case_handovers",
}


class CallbackRouting:
    """The queues of callback hand-overs and staff notices (across brands: the worker serves every brand; each row
    carries its brand, and every request it names is loaded within that brand)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def pending_handovers(self, cause: RerouteCause, limit: int = 500) -> list[Handover]:
        """The oldest hand-overs of one queue, each with the open requests it may move: the loan's borrower's open
        request about that loan or about none, still with the staff member who held it (`previous`)."""
        table = _TABLES[cause]
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT h.position, h.loan_id, h.staff_id, h.previous, h.reason, h.at, l.brand_id, r.id AS request_id "
                f"FROM (SELECT * FROM {table} ORDER BY position, loan_id LIMIT %s) h "
                "LEFT JOIN read.loans l ON l.id = h.loan_id "
                "LEFT JOIN read.callback_requests r ON r.brand_id = l.brand_id AND r.customer_id = l.customer_id "
                "AND r.status = 'open' AND (r.loan_id = h.loan_id OR r.loan_id IS NULL) "
                "AND r.assignee_id IS NOT DISTINCT FROM h.previous "
                "ORDER BY h.position, h.loan_id",
                (limit,),
            ).fetchall()
        return [Handover(cause=cause, **r) for r in rows]

    def handovers_done(self, cause: RerouteCause, handled: Sequence[Handover]) -> None:
        """Take handled hand-overs off their queue."""
        if not handled:
            return
        with self.pool.connection() as conn:
            conn.execute(
                f"DELETE FROM {_TABLES[cause]} h USING unnest(%s::bigint[], %s::uuid[]) AS d(position, loan_id) "
                "WHERE h.position = d.position AND h.loan_id = d.loan_id",
                ([h.position for h in handled], [h.loan_id for h in handled]),
            )

    def pending_notices(self, now: datetime, limit: int = 200) -> list[PendingNotice]:
        """The notices whose time has come (`not_before` by `now`), oldest first, with the request they are about."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT q.request_id, q.kind, q.brand_id, q.assignee_id, q.not_before, c.name AS borrower_name, "
                "r.phone, r.loan_number, r.time_window AS window, r.note, r.due_at, r.source, b.timezone "
                f"FROM (SELECT * FROM {NOTICE_QUEUE} WHERE not_before <= %s ORDER BY not_before LIMIT %s) q "
                "JOIN read.callback_requests r ON r.id = q.request_id AND r.brand_id = q.brand_id "
                "LEFT JOIN read.customers c ON c.id = r.customer_id AND c.brand_id = r.brand_id "
                "LEFT JOIN read.brands b ON b.id = q.brand_id ORDER BY q.not_before",
                (now, limit),
            ).fetchall()
        return [PendingNotice(**r) for r in rows]

    def notice_done(self, notice: PendingNotice) -> None:
        """Take a pushed notice off the queue (unless it changed meanwhile: a move to another holder)."""
        with self.pool.connection() as conn:
            conn.execute(
                f"DELETE FROM {NOTICE_QUEUE} WHERE request_id = %s AND kind = %s AND assignee_id = %s "
                "AND not_before = %s",
                (notice.request_id, notice.kind, notice.assignee_id, notice.not_before),
            )
