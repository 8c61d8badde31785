"""Queries of the Ops disbursal queue and a loan's disbursement (read models: projections/disbursals.py and
read.loans).

The queue is the brand's `awaiting_disbursal` loans, the longest queued first: keyset on (status_since, id) — the
instant the loan entered the queue (its `DisbursalQueued` status change; no later event keeps that status and moves
it) — over read.loans' partial index `loans_disbursal_queue_idx (brand_id, status_since, id) WHERE status =
'awaiting_disbursal'`, each joined by primary key to its payout row and its borrower: a page is a bounded index range
scan however large the book."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections.keyset import KeysetCursor, Page

#: (A cursor of the former creation-time order, "disbursals.queue", is refused: its page starts again.)
QUEUE_CURSOR = KeysetCursor(datetime, UUID, name="disbursals.queue.queued_at")


@dataclass(frozen=True)
class QueueItem:
    """A loan in the Ops disbursal queue."""

    loan_id: UUID
    loan_number: str
    customer_id: UUID
    borrower: str | None
    net_disbursed: Decimal | None  # None only while the disbursal read model catches up
    state: str  # queued, initiated, failed, exported
    mode: str | None
    gateway_reference: str | None
    attempts: int
    reason: str | None  # the gateway's reason of the last failure
    exported_file_id: str | None
    created_at: datetime  # when the application was started
    queued_at: datetime  # when it entered the queue (awaiting_disbursal)


@dataclass(frozen=True)
class AttemptView:
    """One payout attempt of a loan."""

    attempt: int
    mode: str
    gateway_reference: str
    amount: Decimal
    state: str  # initiated, confirmed, failed
    reason: str | None
    actor: str
    initiated_at: datetime
    settled_at: datetime | None


@dataclass(frozen=True)
class DisbursementView:
    """A loan's disbursement: its payout state, the last attempt's mode and gateway reference, every attempt."""

    loan_id: UUID
    net_disbursed: Decimal
    bank_account_ref: str
    state: str
    mode: str | None
    gateway_reference: str | None
    reason: str | None
    exported_file_id: str | None
    disbursed_on: date | None
    attempts: list[AttemptView]


_QUEUE = (
    "SELECT l.id AS loan_id, l.loan_number, l.customer_id, c.name AS borrower, d.net_disbursed, "
    "COALESCE(d.state, 'queued') AS state, d.mode, d.gateway_reference, COALESCE(d.attempts, 0) AS attempts, "
    "d.reason, d.exported_file_id, l.created_at, l.status_since AS queued_at "
    "FROM read.loans l LEFT JOIN read.loan_disbursals d ON d.loan_id = l.id "
    "LEFT JOIN read.customers c ON c.id = l.customer_id "
)


class DisbursalQueries:
    """Brand-scoped queries of the Ops disbursal queue and of one loan's disbursement."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def queue(self, brand_id: UUID, cursor: str | None = None, limit: int = 50) -> Page:
        """The brand's loans awaiting disbursal, the longest queued first (a forged cursor is a 422)."""
        page_scope = (brand_id,)  # the filters its cursor is bound to
        where = ["l.brand_id = %(brand)s", "l.status = 'awaiting_disbursal'"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if cursor:
            at, last = QUEUE_CURSOR.decode(cursor, page_scope)
            where.append("(l.status_since, l.id) > (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_QUEUE} WHERE {' AND '.join(where)} ORDER BY l.status_since, l.id LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            QUEUE_CURSOR.encode(rows[-1]["queued_at"], rows[-1]["loan_id"], scope=page_scope) if more and rows else None
        )
        return Page([QueueItem(**row) for row in rows], next_cursor)

    def disbursement(self, brand_id: UUID, loan_id: UUID) -> DisbursementView | None:
        """A loan's disbursement, None until it reached the Ops queue (or when another brand's)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT loan_id, net_disbursed, bank_account_ref, state, mode, gateway_reference, reason, "
                "exported_file_id, disbursed_on FROM read.loan_disbursals WHERE loan_id = %s AND brand_id = %s",
                (loan_id, brand_id),
            ).fetchone()
            if row is None:
                return None
            attempts = conn.execute(
                "SELECT attempt, mode, gateway_reference, amount, state, reason, actor, initiated_at, settled_at "
                "FROM read.loan_payout_attempts WHERE loan_id = %s ORDER BY attempt",
                (loan_id,),
            ).fetchall()
        return DisbursementView(**row, attempts=[AttemptView(**a) for a in attempts])
