"""What moves callback requests and tells staff about them (workers/callback_jobs.py drains both; docs/callbacks.md):

- the hand-overs of other contexts, each a queue filled by a projection of that context's events: an application or
  loan assigned to another credit executive (`Loan.Assigned`, `read.callback_loan_handovers`) and a collection case
  allocated to another executive or closed (`CaseMoves.Recorded`, `read.callback_case_handovers`, in the log's
  order), with the open requests of the loan's borrower each may move and, for a case closed, who then holds the
  borrower by the routing rule (`holder_sql`);
- the staff notices waiting in `read.callback_notice_queue` (filled by `CallbackView`), with what a notice says.

A projection of another context's events into a queue of our own, drained by a background worker, is how the leads'
sign-up linker reacts to the onboarding funnel (projections/lead_attribution.py, workers/lead_jobs.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.callbacks.request import RerouteCause
from domain.collections.application import Collections
from domain.collections.moves import CaseMoves
from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.callbacks import NOTICE_QUEUE, departed_sql, departure_reason_sql, holder_sql, may_hold_sql
from projections.collections import CollectionViews
from projections.loans import LoanViews
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
    manager's reallocation) and each case closed while an executive held it (`closed` the why: cured, completed,
    not_due, settled, recovered; `previous` that executive; `staff_id` null: the new holder is read by the routing
    rule when the router applies it). A case left unassigned or kept by its executive hands nothing over."""

    name = "callback_case_handovers"
    source = Collections.name
    tables = ("read.callback_case_handovers",)
    ddl = (
        f"CREATE TABLE IF NOT EXISTS read.callback_case_handovers {_HANDOVER_COLUMNS}",
        # Closings (a database made before them gets the column at the next start; only cases closed from then on
        # are queued unless the projection is rebuilt, which moves nothing twice: docs/callbacks.md).
        "ALTER TABLE read.callback_case_handovers ADD COLUMN IF NOT EXISTS closed text",
        # (only when it is still NOT NULL: an ALTER TABLE locks the table against every reader even when it does
        # nothing, domain/shared/ddl.py)
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'read.callback_case_handovers'::regclass "
        "AND attname = 'staff_id' AND attnotnull) THEN "
        "ALTER TABLE read.callback_case_handovers ALTER COLUMN staff_id DROP NOT NULL; END IF; END $$",
    )

    @handles(CaseMoves.Recorded)
    def _moves(self, position: int, event: CaseMoves.Recorded) -> Iterable[Change]:
        moved = [
            m for m in event.moves
            if (m.closed is None and m.staff_id is not None and m.staff_id != m.previous)
            or (m.closed is not None and m.previous is not None)
        ]  # fmt: skip
        if not moved:
            return
        yield Write(  # a sweep allocates and closes thousands at once: one statement
            "INSERT INTO read.callback_case_handovers (position, loan_id, staff_id, previous, reason, at, closed) "
            "SELECT %s, m.loan_id, m.staff_id, m.previous, coalesce('case closed: ' || m.closed, %s), %s, m.closed "
            "FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::text[]) AS m(loan_id, staff_id, previous, closed) "
            "ON CONFLICT DO NOTHING",
            (position, event.reason, event.timestamp, [m.loan_id for m in moved],
             [m.staff_id if m.closed is None else None for m in moved], [m.previous for m in moved],
             [m.closed for m in moved]),
        )  # fmt: skip


class HandoverQueue(StrEnum):
    """The queues of hand-overs the router drains, one per context whose events fill it."""

    LOANS = "read.callback_loan_handovers"  # `Loan.Assigned`: cause application_assigned
    CASES = "read.callback_case_handovers"  # `CaseMoves.Recorded`: case_allocated, or case_closed (`closed` set)


@dataclass(frozen=True)
class Handover:
    """One hand-over waiting in a queue, and one open request of the loan's borrower it may move (None: none). For
    a case closed, `staff_id` is who then holds that request's borrower by the routing rule (None: nobody), and
    `ready` says whether `read.collection_cases` shows the close yet (until then the rule would still see that case,
    or another of the borrower's the same sweep closed, as open: the row waits); likewise, for an assignment or
    allocation, whether `read.loans` (`read.collection_cases`) has passed it, from which `current` is read."""

    cause: RerouteCause
    position: int
    loan_id: UUID
    staff_id: UUID | None
    previous: UUID | None
    reason: str
    at: datetime
    brand_id: UUID | None
    request_id: UUID | None
    ready: bool = True
    current: bool = False  # `staff_id` holds the application or open case now (the read model past the hand-over)


@dataclass(frozen=True)
class Departure:
    """An open request whose holder left the brand's callbacks (`previous`: disabled, or no longer holding CALLBACKS
    at WRITE, `reason` says which), and who then holds its borrower by the routing rule (`staff_id`; None: nobody)."""

    brand_id: UUID
    request_id: UUID
    previous: UUID
    staff_id: UUID | None
    reason: str


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


class CallbackRouting:
    """The queues of callback hand-overs and staff notices (across brands: the worker serves every brand; each row
    carries its brand, and every request it names is loaded within that brand)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def pending_handovers(self, queue: HandoverQueue, limit: int = 500) -> list[Handover]:
        """The oldest hand-overs of one queue, each with the open requests it may move: the loan's borrower's open
        request about that loan or about none, still with the staff member who held it (`previous`), or - an
        assignment or allocation, not a close - in the pool (with nobody), when the new holder may hold requests
        (no staff record of theirs in the brand shows them gone: `departed_sql`; one who left would only release
        it again); for a case closed, with who holds the request's borrower now by the routing rule, read once
        `read.collection_cases` has passed the close (`ready`: it shows that case closed, or whatever became of it
        since). Whether a pool request was made or released before the hand-over is `CallbackRequest.reroute`'s
        check; `current` says whether the hand-over's holder is the application's (`read.loans`) or the open case's
        (`read.collection_cases`) holder now, which takes a request released to the pool after the hand-over (a
        departure applied before the hand-over showed): a row with a request waits (`ready`) until that read model
        has passed it, so `current` is never read from before the hand-over. Every row with a request waits, not
        only one the request read model shows in the pool: that model may lag too, showing a request the router
        has just released as still with the one who left."""
        if queue is HandoverQueue.CASES:
            closed = "h.closed"
            holder = holder_sql("r.brand_id", "r.customer_id", "r.loan_id")
            to = f"CASE WHEN h.closed IS NULL THEN h.staff_id ELSE ({holder}) END"
            current = (
                "h.closed IS NULL AND EXISTS (SELECT FROM read.collection_cases cc WHERE cc.loan_id = h.loan_id "
                "AND cc.brand_id = l.brand_id AND cc.open AND cc.assignee = h.staff_id)"
            )
            ready = _passed(CollectionViews.name)
        else:
            closed, to, current = "NULL::text", "h.staff_id", "l.assignee = h.staff_id"
            ready = _passed(LoanViews.name)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT h.position, h.loan_id, {to} AS staff_id, h.previous, h.reason, h.at, l.brand_id, "
                f"r.id AS request_id, {closed} IS NOT NULL AS closed, ({ready}) IS TRUE AS ready, "
                f"({current}) IS TRUE AS current "
                f"FROM (SELECT * FROM {queue.value} ORDER BY position, loan_id LIMIT %s) h "
                "LEFT JOIN read.loans l ON l.id = h.loan_id "
                "LEFT JOIN read.callback_requests r ON r.brand_id = l.brand_id AND r.customer_id = l.customer_id "
                "AND r.status = 'open' AND (r.loan_id = h.loan_id OR r.loan_id IS NULL) "
                "AND CASE WHEN r.assignee_id IS NULL "
                f"THEN {closed} IS NULL AND NOT {departed_sql('h.staff_id', 'l.brand_id')} "
                "ELSE r.assignee_id = h.previous END "
                "ORDER BY h.position, h.loan_id",
                (limit,),
            ).fetchall()
        return [Handover(cause=_cause(queue, r.pop("closed")), **r) for r in rows]

    def departures(self, limit: int = 500) -> list[Departure]:
        """Open requests held by a staff member who left (`may_hold_sql` false for their staff record in the
        request's own brand), earliest to call first, each with its borrower's holder by the routing rule (which
        skips whoever left): one statement, from the staff records (few) to their open requests (by the queue's
        assignee index), across brands - every row carries its brand."""
        holder = holder_sql("r.brand_id", "r.customer_id", "r.loan_id")
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT r.brand_id, r.id AS request_id, r.assignee_id AS previous, "
                f"CASE WHEN r.customer_id IS NULL THEN NULL ELSE ({holder}) END AS staff_id, "
                f"{departure_reason_sql('s')} AS reason "
                "FROM read.staff s JOIN read.callback_requests r ON r.brand_id = s.brand_id AND r.assignee_id = s.id "
                f"AND r.status = 'open' WHERE NOT {may_hold_sql('s')} "
                "ORDER BY coalesce(r.due_at, r.requested_at), r.id LIMIT %s",
                (limit,),
            ).fetchall()
        return [Departure(**r) for r in rows]

    def handovers_done(self, queue: HandoverQueue, handled: Sequence[Handover]) -> None:
        """Take handled hand-overs off their queue."""
        if not handled:
            return
        with self.pool.connection() as conn:
            conn.execute(
                f"DELETE FROM {queue.value} h USING unnest(%s::bigint[], %s::uuid[]) AS d(position, loan_id) "
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


def _passed(projection: str) -> str:
    """Whether the read model `projection` has passed the hand-over `h` (an SQL condition; both count positions in
    the same context's notification log)."""
    return (
        "h.position <= coalesce((SELECT t.position FROM ops.projection_tracking t "
        f"WHERE t.projection = '{projection}'), 0)"
    )


def _cause(queue: HandoverQueue, closed: bool) -> RerouteCause:
    if queue is HandoverQueue.LOANS:
        return RerouteCause.APPLICATION_ASSIGNED
    return RerouteCause.CASE_CLOSED if closed else RerouteCause.CASE_ALLOCATED
