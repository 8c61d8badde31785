"""The Loan's collection-money events (issue #16 items 5-7): partial collections and manual receipts awaiting
approval, penal-charge waivers, settlements, write-off and the recoveries recorded after it.

Each event is named on the `Loan` class (topics `domain.loans.loan:Loan.<Name>`) and applies its own state change,
like `servicing_events.py`. A request's approval records its money as the servicing events do (an approved
collection is a `RepaymentRecorded` in the same commit), so the replay, the ledger, DPD and the payoff follow. The
commands are `domain/loans/loan_recoveries.py`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.loans.loan_events import Transitioned
from domain.loans.replay import PenalWaived
from domain.loans.servicing_events import PaymentRecord
from domain.shared.aggregate import Aggregate


class RequestStatus(StrEnum):
    """Where a request awaiting a decision stands."""

    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class CollectionKind(StrEnum):
    """Money collected by the collection team: reported by an executive, or a manual receipt uploaded."""

    COLLECTION = "collection"  # approved by Ops or a collection manager/head
    RECEIPT = "receipt"  # a manual receipt (a document): confirmed by Ops


class EndKind(StrEnum):
    """How a loan ended other than by paying its payoff."""

    SETTLED = "settled"
    WRITTEN_OFF = "written_off"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CollectionRequest(_Record):
    """Money an executive collected (less than the due), counted only once approved."""

    request_id: str
    kind: CollectionKind
    amount: Decimal
    mode: str
    reference: str
    collected_on: date
    requested_on: date
    document_id: UUID | None = None
    requested_by: str | None = None  # the actor who asked (a staff member who may not approve it)
    status: RequestStatus = RequestStatus.PENDING_APPROVAL
    decided_on: date | None = None
    reason: str | None = None  # the rejection's
    payment_id: str | None = None  # the repayment (or recovery) its approval recorded


class WaiverRecord(_Record):
    """A penal-charge waiver asked for with a justification."""

    waiver_id: str
    amount: Decimal
    justification: str
    requested_on: date
    requested_by: str | None = None  # the actor who asked (a staff member who may not approve it)
    status: RequestStatus = RequestStatus.PENDING_APPROVAL
    decided_on: date | None = None
    reason: str | None = None
    waived: Decimal | None = None  # what the approval forgave


class SettlementRecord(_Record):
    """A reduced amount accepted as full and final once approved; `paid_before` is what the loan's standing
    payments added up to at approval (payments after it count toward the settlement)."""

    settlement_id: str
    amount: Decimal
    payoff_at_proposal: Decimal
    remarks: str
    proposed_on: date
    requested_by: str | None = None  # the actor who proposed it (a staff member who may not approve it)
    status: RequestStatus = RequestStatus.PENDING_APPROVAL
    decided_on: date | None = None
    reason: str | None = None
    paid_before: Decimal | None = None


class WriteOffRecord(_Record):
    """A write-off proposed by a collection executive with a reason, performed once a holder of LOAN_WRITE_OFF
    approves it; `amount` is the payoff on the day it was proposed (what writing it off would then take off)."""

    write_off_id: str
    amount: Decimal
    justification: str
    proposed_on: date
    requested_by: str | None = None  # the actor who proposed it (a staff member who may not approve it)
    status: RequestStatus = RequestStatus.PENDING_APPROVAL
    decided_on: date | None = None
    reason: str | None = None  # the rejection's


class Ending(_Record):
    """A settlement or write-off: the day, the ledger's balance it took off (by bucket), the days closed before."""

    kind: EndKind
    on: date
    through: date  # the replay's last closed day (the ledger's charges stop there)
    principal: Decimal
    interest: Decimal
    penal: Decimal
    settlement_id: str | None = None

    @property
    def total(self) -> Decimal:
        """What was taken off."""
        return self.principal + self.interest + self.penal


def _put(aggregate: Any, name: str, key: str, record: BaseModel, asked_by: str | None = None) -> None:
    if asked_by is not None and getattr(record, "requested_by", None) is None:
        # A request recorded before it named its asker: the event's actor asked.
        record = record.model_copy(update={"requested_by": asked_by})
    setattr(aggregate, name, {**getattr(aggregate, name), key: record})


def _update(aggregate: Any, name: str, key: str, **changes: Any) -> None:
    records = getattr(aggregate, name)
    setattr(aggregate, name, {**records, key: records[key].model_copy(update=changes)})


class CollectionRequested(Aggregate.Event):
    """An executive reported money collected (or uploaded a manual receipt): pending approval."""

    brand_id: UUID
    loan_number: str
    request: CollectionRequest

    def apply(self, aggregate: Any) -> None:
        _put(aggregate, "collection_requests", self.request.request_id, self.request, self.actor)


class CollectionApproved(Aggregate.Event):
    """The request was approved; its money is the `RepaymentRecorded` (or `RecoveryRecorded`) of the same commit."""

    request_id: str
    decided_on: date
    payment_id: str

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "collection_requests",
            self.request_id,
            status=RequestStatus.APPROVED,
            decided_on=self.decided_on,
            payment_id=self.payment_id,
        )


class CollectionRejected(Aggregate.Event):
    """The request was rejected with a reason: its money never counts."""

    request_id: str
    decided_on: date
    reason: str

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "collection_requests",
            self.request_id,
            status=RequestStatus.REJECTED,
            decided_on=self.decided_on,
            reason=self.reason,
        )


class WaiverRequested(Aggregate.Event):
    """A penal-charge waiver was asked for (at most the penal charges outstanding then)."""

    brand_id: UUID
    loan_number: str
    waiver: WaiverRecord

    def apply(self, aggregate: Any) -> None:
        _put(aggregate, "waivers", self.waiver.waiver_id, self.waiver, self.actor)


class WaiverApproved(Transitioned):
    """A manager approved the waiver: `amount` of penal charges forgiven on `waived_on` (a ledger posting); the
    status may move (a loan overdue only by penal charges is current again)."""

    waiver_id: str
    amount: Decimal
    waived_on: date

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.servicing_facts = (
            *aggregate.servicing_facts,
            PenalWaived(self.waiver_id, self.amount, self.waived_on),
        )
        _update(
            aggregate,
            "waivers",
            self.waiver_id,
            status=RequestStatus.APPROVED,
            decided_on=self.waived_on,
            waived=self.amount,
        )


class WaiverRejected(Aggregate.Event):
    """The waiver was rejected with a reason."""

    waiver_id: str
    decided_on: date
    reason: str

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "waivers",
            self.waiver_id,
            status=RequestStatus.REJECTED,
            decided_on=self.decided_on,
            reason=self.reason,
        )


class SettlementProposed(Aggregate.Event):
    """An executive proposed a settlement below the payoff."""

    brand_id: UUID
    loan_number: str
    settlement: SettlementRecord

    def apply(self, aggregate: Any) -> None:
        _put(aggregate, "settlements", self.settlement.settlement_id, self.settlement, self.actor)


class SettlementApproved(Aggregate.Event):
    """The collection head (or an admin) approved it: payments from now on count toward it."""

    settlement_id: str
    decided_on: date
    paid_before: Decimal

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "settlements",
            self.settlement_id,
            status=RequestStatus.APPROVED,
            decided_on=self.decided_on,
            paid_before=self.paid_before,
        )


class SettlementRejected(Aggregate.Event):
    """The settlement was rejected with a reason."""

    settlement_id: str
    decided_on: date
    reason: str

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "settlements",
            self.settlement_id,
            status=RequestStatus.REJECTED,
            decided_on=self.decided_on,
            reason=self.reason,
        )


class WriteOffProposed(Aggregate.Event):
    """A collection executive proposed writing the loan off, with a reason: pending approval."""

    brand_id: UUID
    loan_number: str
    write_off: WriteOffRecord

    def apply(self, aggregate: Any) -> None:
        _put(aggregate, "write_off_requests", self.write_off.write_off_id, self.write_off, self.actor)


class WriteOffApproved(Aggregate.Event):
    """A holder of LOAN_WRITE_OFF approved the proposal: the loan's `WrittenOff` is in the same commit."""

    write_off_id: str
    decided_on: date

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "write_off_requests",
            self.write_off_id,
            status=RequestStatus.APPROVED,
            decided_on=self.decided_on,
        )


class WriteOffRejected(Aggregate.Event):
    """The proposed write-off was rejected with a reason: the loan is unchanged."""

    write_off_id: str
    decided_on: date
    reason: str

    def apply(self, aggregate: Any) -> None:
        _update(
            aggregate,
            "write_off_requests",
            self.write_off_id,
            status=RequestStatus.REJECTED,
            decided_on=self.decided_on,
            reason=self.reason,
        )


class Settled(Transitioned):
    """The settlement amount was paid: the loan is `settled`, the rest taken off the ledger (a settlement waiver)."""

    ending: Ending

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.ending = self.ending


class WrittenOff(Transitioned):
    """An admin wrote the loan off with a reason: `written_off`, its balance taken off the ledger."""

    ending: Ending

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.ending = self.ending


class RecoveryRecorded(Aggregate.Event):
    """Money received on a written-off loan: a recovery (it changes no balance; the write-off stands)."""

    payment: PaymentRecord

    def apply(self, aggregate: Any) -> None:
        _put(aggregate, "recoveries", self.payment.payment_id, self.payment)


#: Every collection-money event, as the Loan class names them.
EVENTS: tuple[type[Aggregate.Event], ...] = (
    CollectionRequested,
    CollectionApproved,
    CollectionRejected,
    WaiverRequested,
    WaiverApproved,
    WaiverRejected,
    SettlementProposed,
    SettlementApproved,
    SettlementRejected,
    Settled,
    WrittenOff,
    RecoveryRecorded,
    WriteOffProposed,
    WriteOffApproved,
    WriteOffRejected,
)
