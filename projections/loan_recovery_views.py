"""Read models of collection money (issue #16 items 5-7).

`LoanRecoveryViews` is the loans read model's part (a base of `LoanViews`, like `LoanServicingViews`): the status
moves of waivers, settlement and write-off on `read.loans` (so the completed-loans tabs list settled and written-off
loans) and every request and decision on the loan's timeline. `RecoveryRequestViews` keeps one row per collection
request, receipt, waiver, settlement and proposed write-off in `read.loan_recovery_requests` - the approvers' queues, brand-scoped,
indexed `(brand_id, kind, status, requested_at DESC, id DESC)` with keyset pages - and the lookup of a request's
loan by its id (`/api/v1/collection-requests/{id}/approve` names only the request)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans import recovery_events as rv
from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.keyset import KeysetCursor, Page
from projections.loan_servicing_views import LoanServicingViews
from projections.projection import Change, Insert, Projection, Write, handles

L = Loan
TABLE = "read.loan_recovery_requests"
REQUESTS_CURSOR = KeysetCursor(datetime, UUID, name="recoveries.requests")


class LoanRecoveryViews(LoanServicingViews):
    """Handlers of the collection-money events on `read.loans` and `read.loan_events` (a base of `LoanViews`)."""

    @handles(L.CollectionRequested)
    def _collection_requested(self, position: int, event: rv.CollectionRequested) -> Iterator[Change]:
        r = event.request
        details = {
            "request_id": r.request_id,
            "kind": str(r.kind),
            "amount": str(r.amount),
            "mode": r.mode,
            "reference": r.reference,
            "collected_on": r.collected_on.isoformat(),
        }
        yield from self._logged(event, f"{r.kind}_requested", details)

    @handles(
        L.CollectionApproved,
        L.CollectionRejected,
        L.WaiverRejected,
        L.SettlementApproved,
        L.SettlementRejected,
        L.WriteOffApproved,
        L.WriteOffRejected,
    )
    def _decided(self, position: int, event: Any) -> Iterator[Change]:
        details = {
            k: str(v)
            for k, v in event.model_dump(
                include={"request_id", "waiver_id", "settlement_id", "write_off_id", "payment_id", "reason"}
            ).items()
        }
        kind = {
            "CollectionApproved": "collection_approved",
            "CollectionRejected": "collection_rejected",
            "WaiverRejected": "waiver_rejected",
            "SettlementApproved": "settlement_approved",
            "SettlementRejected": "settlement_rejected",
            "WriteOffApproved": "write_off_approved",
            "WriteOffRejected": "write_off_rejected",
        }[type(event).__name__]
        yield from self._logged(event, kind, details)

    @handles(L.WaiverRequested)
    def _waiver_requested(self, position: int, event: rv.WaiverRequested) -> Iterator[Change]:
        w = event.waiver
        details = {"waiver_id": w.waiver_id, "amount": str(w.amount), "justification": w.justification}
        yield from self._logged(event, "waiver_requested", details)

    @handles(L.SettlementProposed)
    def _settlement_proposed(self, position: int, event: rv.SettlementProposed) -> Iterator[Change]:
        s = event.settlement
        details = {"settlement_id": s.settlement_id, "amount": str(s.amount), "payoff": str(s.payoff_at_proposal)}
        yield from self._logged(event, "settlement_proposed", details)

    @handles(L.WriteOffProposed)
    def _write_off_proposed(self, position: int, event: rv.WriteOffProposed) -> Iterator[Change]:
        w = event.write_off
        details = {"write_off_id": w.write_off_id, "payoff": str(w.amount), "reason": w.justification}
        yield from self._logged(event, "write_off_proposed", details)

    @handles(L.WaiverApproved)
    def _waived(self, position: int, event: rv.WaiverApproved) -> Iterator[Change]:
        yield self._moved(event)
        details = {"waiver_id": event.waiver_id, "amount": str(event.amount), "waived_on": event.waived_on.isoformat()}
        yield from self._logged(event, "waiver_approved", details)

    @handles(L.Settled, L.WrittenOff)
    def _ended(self, position: int, event: rv.Settled | rv.WrittenOff) -> Iterator[Change]:
        yield self._moved(event, "dpd = 0")
        e = event.ending
        details = {
            "on": e.on.isoformat(),
            "principal": str(e.principal),
            "interest": str(e.interest),
            "penal": str(e.penal),
            "total": str(e.total),
        }
        yield from self._logged(event, str(e.kind), details)

    @handles(L.RecoveryRecorded)
    def _recovered(self, position: int, event: rv.RecoveryRecorded) -> Iterator[Change]:
        p = event.payment
        details = {
            "payment_id": p.payment_id,
            "amount": str(p.amount),
            "mode": str(p.mode),
            "reference": p.reference,
            "paid_on": p.paid_on.isoformat(),
        }
        yield from self._logged(event, "recovery_recorded", details)


class RecoveryRequestViews(Projection):
    """One row per collection request, receipt, waiver, settlement and proposed write-off, with its decision."""

    name = "loan_recovery_requests"
    source = Loans.name
    tables = (TABLE,)
    ddl = (
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            loan_id uuid NOT NULL,
            loan_number text NOT NULL,
            kind text NOT NULL,
            status text NOT NULL,
            amount numeric(16, 2) NOT NULL,
            mode text,
            reference text,
            collected_on date,
            document_id uuid,
            justification text,
            reason text,
            payment_id text,
            requested_by text NOT NULL,
            requested_at timestamptz NOT NULL,
            decided_by text,
            decided_at timestamptz
        )""",
        f"CREATE INDEX IF NOT EXISTS loan_recovery_requests_queue_idx ON {TABLE} "
        "(brand_id, kind, status, requested_at DESC, id DESC)",
        f"CREATE INDEX IF NOT EXISTS loan_recovery_requests_loan_idx ON {TABLE} (loan_id, requested_at DESC)",
    )

    def _row(self, event: Any, id_: str, kind: str, amount: Decimal, **extra: Any) -> Insert:
        return Insert(
            TABLE,
            {
                "id": UUID(id_),
                "brand_id": event.brand_id,
                "loan_id": event.originator_id,
                "loan_number": event.loan_number,
                "kind": kind,
                "status": rv.RequestStatus.PENDING_APPROVAL.value,
                "amount": amount,
                "requested_by": event.actor,
                "requested_at": event.timestamp,
                **extra,
            },
        )

    @handles(L.CollectionRequested)
    def _collection(self, position: int, event: rv.CollectionRequested) -> Iterator[Change]:
        r = event.request
        yield self._row(
            event,
            r.request_id,
            str(r.kind),
            r.amount,
            mode=r.mode,
            reference=r.reference,
            collected_on=r.collected_on,
            document_id=r.document_id,
        )

    @handles(L.WaiverRequested)
    def _waiver(self, position: int, event: rv.WaiverRequested) -> Iterator[Change]:
        w = event.waiver
        yield self._row(event, w.waiver_id, "waiver", w.amount, justification=w.justification)

    @handles(L.SettlementProposed)
    def _settlement(self, position: int, event: rv.SettlementProposed) -> Iterator[Change]:
        s = event.settlement
        yield self._row(event, s.settlement_id, "settlement", s.amount, justification=s.remarks)

    @handles(L.WriteOffProposed)
    def _write_off(self, position: int, event: rv.WriteOffProposed) -> Iterator[Change]:
        w = event.write_off
        yield self._row(event, w.write_off_id, "write_off", w.amount, justification=w.justification)

    def _decide(self, event: Any, id_: str, status: rv.RequestStatus, **sets: Any) -> Write:
        assigns = "".join(f", {k} = %({k})s" for k in sets)
        return Write(
            f"UPDATE {TABLE} SET status = %(status)s, decided_by = %(by)s, decided_at = %(at)s{assigns} "
            "WHERE id = %(id)s",
            {"status": status.value, "by": event.actor, "at": event.timestamp, "id": UUID(id_), **sets},
        )

    @handles(L.CollectionApproved)
    def _approved(self, position: int, event: rv.CollectionApproved) -> Iterator[Change]:
        yield self._decide(event, event.request_id, rv.RequestStatus.APPROVED, payment_id=event.payment_id)

    @handles(L.CollectionRejected)
    def _rejected(self, position: int, event: rv.CollectionRejected) -> Iterator[Change]:
        yield self._decide(event, event.request_id, rv.RequestStatus.REJECTED, reason=event.reason)

    @handles(L.WaiverApproved)
    def _waiver_approved(self, position: int, event: rv.WaiverApproved) -> Iterator[Change]:
        yield self._decide(event, event.waiver_id, rv.RequestStatus.APPROVED)

    @handles(L.WaiverRejected)
    def _waiver_rejected(self, position: int, event: rv.WaiverRejected) -> Iterator[Change]:
        yield self._decide(event, event.waiver_id, rv.RequestStatus.REJECTED, reason=event.reason)

    @handles(L.SettlementApproved)
    def _settlement_approved(self, position: int, event: rv.SettlementApproved) -> Iterator[Change]:
        yield self._decide(event, event.settlement_id, rv.RequestStatus.APPROVED)

    @handles(L.SettlementRejected)
    def _settlement_rejected(self, position: int, event: rv.SettlementRejected) -> Iterator[Change]:
        yield self._decide(event, event.settlement_id, rv.RequestStatus.REJECTED, reason=event.reason)

    @handles(L.WriteOffApproved)
    def _write_off_approved(self, position: int, event: rv.WriteOffApproved) -> Iterator[Change]:
        yield self._decide(event, event.write_off_id, rv.RequestStatus.APPROVED)

    @handles(L.WriteOffRejected)
    def _write_off_rejected(self, position: int, event: rv.WriteOffRejected) -> Iterator[Change]:
        yield self._decide(event, event.write_off_id, rv.RequestStatus.REJECTED, reason=event.reason)


@dataclass(frozen=True)
class RecoveryRequestRow:
    """A collection request, receipt, waiver or settlement as the queues show it."""

    id: UUID
    loan_id: UUID
    loan_number: str
    kind: str
    status: str
    amount: Decimal
    mode: str | None
    reference: str | None
    collected_on: date | None
    document_id: UUID | None
    justification: str | None
    reason: str | None
    payment_id: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None


_COLUMNS = ", ".join(f.name for f in RecoveryRequestRow.__dataclass_fields__.values())


class RecoveryQueries:
    """The approvers' queues and one request, always within the caller's brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def request(self, brand_id: UUID, request_id: UUID, kinds: tuple[str, ...]) -> RecoveryRequestRow | None:
        """One request of the brand of one of `kinds` (None: not found, another brand's, another kind)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE id = %s AND brand_id = %s AND kind = ANY(%s)",
                (request_id, brand_id, list(kinds)),
            ).fetchone()
        return RecoveryRequestRow(**row) if row else None

    def requests(
        self, brand_id: UUID, kind: str, status: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page:
        """Requests of one kind, newest first (pending ones by default of the callers), keyset on
        (requested_at, id)."""
        page_scope = (brand_id, kind, status)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s", "kind = %(kind)s"]
        params: dict[str, Any] = {"brand": brand_id, "kind": kind, "limit": limit + 1}
        if status is not None:
            where.append("status = %(status)s")
            params["status"] = status
        if cursor:
            at, last = REQUESTS_CURSOR.decode(cursor, page_scope)
            where.append("(requested_at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE {' AND '.join(where)} "
                "ORDER BY requested_at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            REQUESTS_CURSOR.encode(rows[-1]["requested_at"], rows[-1]["id"], scope=page_scope)
            if more and rows
            else None
        )
        return Page(items=[RecoveryRequestRow(**r) for r in rows], next_cursor=next_cursor)

    def of_loan(self, brand_id: UUID, loan_id: UUID) -> list[RecoveryRequestRow]:
        """Every request of a loan, newest first (the loan page)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM {TABLE} WHERE loan_id = %s AND brand_id = %s ORDER BY requested_at DESC, "
                "id DESC LIMIT 200",
                (loan_id, brand_id),
            ).fetchall()
        return [RecoveryRequestRow(**r) for r in rows]
