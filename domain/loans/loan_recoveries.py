"""The Loan's collection-money commands (issue #16 items 5-7): partial collections and manual receipts counted only
once approved, penal-charge waivers, settlements and write-off, and recoveries on a written-off loan. A mixin of
`domain.loans.loan.Loan` over `LoanServicing`; the events are `domain/loans/recovery_events.py`.

Every command raises before any event, so a refusal records nothing. Approving money records it through
`record_repayment` (the LENDING.md waterfall, the payoff check) in the same commit as the approval. Once a
settlement is approved the loan's payments count toward it; the one that completes it ends the loan `settled`, the
ledger's remaining balance taken off by a settlement waiver. A write-off takes the balance off the same way; money
received after it is a recovery, which changes no balance.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, TypeVar
from uuid import UUID

from domain.loans.loan_decisions import SecondApproverRequired
from domain.loans.loan_servicing import LoanServicing, RepaymentNotFound
from domain.loans.payments import PayoffQuote
from domain.loans.recovery_events import (
    CollectionApproved,
    CollectionKind,
    CollectionRejected,
    CollectionRequest,
    CollectionRequested,
    Ending,
    EndKind,
    RecoveryRecorded,
    RequestStatus,
    Settled,
    SettlementApproved,
    SettlementProposed,
    SettlementRecord,
    SettlementRejected,
    WaiverApproved,
    WaiverRecord,
    WaiverRejected,
    WaiverRequested,
    WriteOffApproved,
    WriteOffProposed,
    WriteOffRecord,
    WriteOffRejected,
    WrittenOff,
)
from domain.loans.replay import PaymentMade, PenalWaived, Replayed
from domain.loans.servicing_events import PaymentMode, PaymentRecord
from domain.loans.states import SERVICING, LoanStatus, check_transition
from domain.loans.waivers import balance_left
from domain.shared.aggregate import current_actor
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.rupees import rupees

S = LoanStatus
R = TypeVar("R", CollectionRequest, WaiverRecord, SettlementRecord, WriteOffRecord)
ZERO = Decimal("0.00")
PENDING = RequestStatus.PENDING_APPROVAL


class RecoveryRequestNotFound(NotFound):
    """No collection request, waiver, settlement or proposed write-off of the loan has that id."""


#: kind -> (what the asker did, who approves instead: the permission, the approval's word)
_SECOND: dict[str, tuple[str, str, str]] = {
    "collection": ("asked for this collection", "COLLECTION_APPROVALS", "approve"),
    "receipt": ("asked for this receipt", "LOAN_OPS", "confirm"),
    "waiver": ("asked for this waiver", "PENAL_WAIVERS", "approve"),
    "settlement": ("proposed this settlement", "POST_COLLECTIONS", "approve"),
    "write_off": ("proposed this write-off", "LOAN_WRITE_OFF", "approve"),
}


def require_second_approver(kind: str, requested_by: str | None, *, one_person_may_decide: bool = False) -> None:
    """Raise SecondApproverRequired (409) when the caller is the staff member who asked for the request of `kind`:
    money the collection team brings in or forgoes is decided by a second person (the maker-checker of the sanction,
    `LoanDecisions.sanction`). API keys and jobs are not people and are left to their owners; an admin, who holds
    every permission and may give them, is let through with `one_person_may_decide`."""
    actor = current_actor()
    if one_person_may_decide or not actor.startswith("staff:") or actor != requested_by:
        return
    did, permission, word = _SECOND[kind]
    raise SecondApproverRequired(
        f"you {did}: another holder of {permission} must {word} it (you may reject it)",
        rule="second_approver",
        requested_by=actor,
    )


class Owing(NamedTuple):
    """The most a payment on a date can be, and what that figure is (`payoff`, `settlement left to pay`, `amount
    left to recover`)."""

    amount: Decimal
    what: str


class LoanRecoveries(LoanServicing):
    """Collections' money on a disbursed Loan."""

    collection_requests: dict[str, CollectionRequest] = {}  # noqa: RUF012 - replaced whole by each event
    waivers: dict[str, WaiverRecord] = {}  # noqa: RUF012
    settlements: dict[str, SettlementRecord] = {}  # noqa: RUF012
    recoveries: dict[str, PaymentRecord] = {}  # noqa: RUF012
    write_off_requests: dict[str, WriteOffRecord] = {}  # noqa: RUF012
    ending: Ending | None = None

    if TYPE_CHECKING:
        brand_id: UUID

    # Reading ---------------------------------------------------------------------------------------------------

    @property
    def live_settlement(self) -> SettlementRecord | None:
        """The approved settlement payments count toward, while the loan is serviced."""
        if self.status not in SERVICING:
            return None
        return next((s for s in self.settlements.values() if s.status is RequestStatus.APPROVED), None)

    def paid_standing(self) -> Decimal:
        """What the payments that stand add up to."""
        reversed_ids = {p.payment_id for p in self.payments.values() if p.reversed_on is not None}
        return sum(
            (f.amount for f in self.servicing_facts if isinstance(f, PaymentMade) and f.payment_id not in reversed_ids),
            ZERO,
        )

    def settlement_remaining(self, settlement: SettlementRecord) -> Decimal:
        """What is still to pay of an approved settlement."""
        return max(ZERO, settlement.amount - (self.paid_standing() - (settlement.paid_before or ZERO)))

    @property
    def recovered(self) -> Decimal:
        """Money received after the write-off."""
        return sum((r.amount for r in self.recoveries.values()), ZERO)

    def penal_outstanding(self, today: date) -> Decimal:
        """The penal charges unpaid on the business date (the payoff's overdue penal)."""
        return self.payoff_quote(today).overdue_penal

    def payoff_quote(self, as_of: date) -> PayoffQuote:
        """Zero once the loan is settled or written off; else the servicing quote."""
        if self.ending is not None and as_of >= self.ending.on:
            return PayoffQuote(as_of, ZERO, ZERO, ZERO, ZERO, ZERO, ZERO, None)
        return super().payoff_quote(as_of)

    def owing(self, on: date) -> Owing:
        """What the loan owes on `on` - the most a payment then can be: the payoff as of that date; what is left of
        an approved settlement; on a written-off loan, what is left to recover (collections caps a promise to pay
        with it)."""
        return Owing(self._ceiling(on), self._ceiling_name())

    # Partial collections and receipts --------------------------------------------------------------------------

    def request_collection(self, request: CollectionRequest) -> None:
        """Report money collected (pending approval): 409 for a loan not serviced nor written off or a reference
        already used (payments, recoveries, requests not rejected), 422 for a date outside disbursal..business
        date or an amount above the payoff (or above what is left to recover; back-dated, above the payoff of its own
        day as approval would apply it)."""
        schedule = self._require_servicing("record a collection")
        if self.status not in SERVICING and self.status is not S.WRITTEN_OFF:
            raise Conflict(f"cannot record a collection on a loan that is {self.status.words}", status=str(self.status))
        self._require_new_reference(request.reference)
        if request.collected_on > request.requested_on:
            raise InvalidValue("collected_on", f"is after the business date {request.requested_on.isoformat()}")
        if request.collected_on < schedule.disbursed_on:
            raise InvalidValue("collected_on", f"is before the disbursal on {schedule.disbursed_on.isoformat()}")
        ceiling = self._ceiling(request.requested_on)
        if request.amount > ceiling:
            raise InvalidValue("amount", f"{request.amount} is above the {self._ceiling_name()} of {ceiling}")
        if self.status in SERVICING and self.live_settlement is None and request.collected_on < request.requested_on:
            # Back-dated, it must fit the payoff of its own day as approval will apply it (PaymentAbovePayoff, 422),
            # not only today's: else the request is taken and can only ever be refused at approval.
            self.replayed_with(PaymentMade("collection-request", request.amount, request.collected_on))
        request = request.model_copy(update={"requested_by": current_actor()})
        self._emit(CollectionRequested, brand_id=self.brand_id, loan_number=self.loan_number, request=request)

    def approve_collection(
        self,
        request_id: str,
        kind: CollectionKind,
        payment_id: str,
        today: date,
        *,
        one_person_may_decide: bool = False,
    ) -> None:
        """Approve a pending request of `kind`: its money is recorded (a repayment by the waterfall, or a recovery
        on a written-off loan) in the same commit. 409 when already decided, when the caller asked for it (unless
        `one_person_may_decide`: `require_second_approver`) or when the loan owes nothing any more (completed or
        settled meanwhile, or written off and all of it recovered: the request is still rejected as usual), 422 when
        it no longer fits."""
        request = self._pending(self.collection_requests, request_id, "collection request")
        if request.kind is not kind:
            raise Conflict(f"this is a {request.kind}: it is decided at its own address", kind=str(request.kind))
        require_second_approver(kind.value, request.requested_by, one_person_may_decide=one_person_may_decide)
        written_off = self.status is S.WRITTEN_OFF
        if (self.status not in SERVICING and not written_off) or (written_off and self._ceiling(today) <= 0):
            # Said plainly: recording it would replay the loan with a back-dated payment and refuse it quoting a
            # payoff figure of that replay, which explains nothing.
            raise Conflict(
                f"the loan is {self.status.words} and owes nothing: this {request.kind} of {rupees(request.amount)} cannot be "
                "approved; reject it",
                status=str(self.status),
            )
        mode = PaymentMode(request.mode)
        self.record_repayment(
            payment_id, request.amount, mode, request.reference, request.collected_on, today, request_id=request_id
        )
        self._emit(CollectionApproved, request_id=request_id, decided_on=today, payment_id=payment_id)

    def reject_collection(self, request_id: str, kind: CollectionKind, reason: str, today: date) -> None:
        """Reject a pending request with a reason: its money never counts."""
        request = self._pending(self.collection_requests, request_id, "collection request")
        if request.kind is not kind:
            raise Conflict(f"this is a {request.kind}: it is decided at its own address", kind=str(request.kind))
        self._emit(CollectionRejected, request_id=request_id, decided_on=today, reason=reason)

    # A full repayment collected in the field ----------------------------------------------------------------------

    def record_full_repayment(
        self, payment_id: str, amount: Decimal, mode: PaymentMode, reference: str, collected_on: date, today: date
    ) -> PaymentRecord:
        """A full repayment a collection executive collected (spec, Collection Executive: "Record full repayment"),
        recorded at once, with no approval: the amount must be exactly what the loan owes on `collected_on`
        (`owing`: the payoff that day, or what is left of an approved settlement), so the payment ends the loan -
        `completed`, or `settled` when it completes a settlement - and nothing less is taken this way: a
        part-payment is a collection request, which a second person approves. 409 for a loan not serviced (a
        written-off loan's money is a recovery, asked for as a collection request) or a reference already used,
        422 for a date outside disbursal..business date or before a payment or waiver already recorded (the figure
        owed that day would not count it), or an amount other than what is owed."""
        schedule = self._require_servicing("record a full repayment")
        if self.status is S.WRITTEN_OFF:
            raise Conflict(
                "the loan is written off: money recovered on it is a collection request, which needs approval",
                status=str(self.status),
            )
        if self.status not in SERVICING:
            raise Conflict(f"cannot record a repayment on a loan that is {self.status.words}", status=str(self.status))
        self._require_new_reference(reference)
        if collected_on > today:
            raise InvalidValue("collected_on", f"is after the business date {today.isoformat()}")
        if collected_on < schedule.disbursed_on:
            raise InvalidValue("collected_on", f"is before the disbursal on {schedule.disbursed_on.isoformat()}")
        last = self._last_money_day()
        if last is not None and collected_on < last:
            raise InvalidValue(
                "collected_on",
                f"is before the loan's last payment or waiver on {last.isoformat()}: a full repayment is dated on or "
                "after it",
            )
        owed = self.owing(collected_on)
        if amount != owed.amount:
            raise InvalidValue(
                "amount",
                f"{amount} is not what the loan owes on {collected_on.isoformat()}: its {owed.what} that day is "
                f"{owed.amount}. A part-payment is a collection request, which needs approval",
            )
        return self.record_repayment(payment_id, amount, mode, reference, collected_on, today)

    def _last_money_day(self) -> date | None:
        """The day of the latest payment (not reversed) or waiver of the loan, or None."""
        reversed_ids = {p.payment_id for p in self.payments.values() if p.reversed_on is not None}
        days = [
            f.on if isinstance(f, PenalWaived) else f.paid_on
            for f in self.servicing_facts
            if (isinstance(f, PaymentMade) and f.payment_id not in reversed_ids) or isinstance(f, PenalWaived)
        ]
        return max(days, default=None)

    # Waivers ---------------------------------------------------------------------------------------------------

    def request_waiver(self, waiver: WaiverRecord) -> None:
        """Ask to waive penal charges: at most those outstanding on the business date (422 `amount`)."""
        self._require_serviced("waive penal charges")
        penal = self.penal_outstanding(waiver.requested_on)
        if waiver.amount > penal:
            raise InvalidValue("amount", f"{waiver.amount} is above the penal charges outstanding ({penal})")
        waiver = waiver.model_copy(update={"requested_by": current_actor()})
        self._emit(WaiverRequested, brand_id=self.brand_id, loan_number=self.loan_number, waiver=waiver)

    def approve_waiver(self, waiver_id: str, today: date, *, one_person_may_decide: bool = False) -> None:
        """Approve a pending waiver: posted to the ledger on the business date, the status following. 409 when the
        caller asked for it (`require_second_approver`) or the penal charges outstanding are now below its amount
        (paid meanwhile)."""
        waiver = self._pending(self.waivers, waiver_id, "waiver")
        require_second_approver("waiver", waiver.requested_by, one_person_may_decide=one_person_may_decide)
        self._require_serviced("waive penal charges")
        penal = self.penal_outstanding(today)
        if waiver.amount > penal:
            raise Conflict(
                f"the penal charges outstanding are now {penal}, below the waiver's {waiver.amount}", penal=str(penal)
            )
        on = max(today, self.replayed().position.open_day)
        after = self.replayed((*self.servicing_facts, PenalWaived(waiver_id, waiver.amount, on)))
        self._emit(
            WaiverApproved,
            status=self._next_status(after.position, today),
            reason=f"penal charges of {waiver.amount} waived: {waiver.justification}",
            waiver_id=waiver_id,
            amount=waiver.amount,
            waived_on=on,
        )

    def reject_waiver(self, waiver_id: str, reason: str, today: date) -> None:
        """Reject a pending waiver with a reason."""
        self._pending(self.waivers, waiver_id, "waiver")
        self._emit(WaiverRejected, waiver_id=waiver_id, decided_on=today, reason=reason)

    # Settlement ------------------------------------------------------------------------------------------------

    def propose_settlement(self, settlement: SettlementRecord) -> None:
        """Propose a settlement below the payoff (422 `amount` otherwise); one open at a time (409)."""
        self._require_serviced("settle")
        if any(s.status is not RequestStatus.REJECTED for s in self.settlements.values()):
            raise Conflict("the loan already has a settlement proposed or approved")
        payoff = self.payoff_quote(settlement.proposed_on).total
        if settlement.amount >= payoff:
            raise InvalidValue("amount", f"{settlement.amount} is not below the payoff of {payoff}")
        self._emit(
            SettlementProposed,
            brand_id=self.brand_id,
            loan_number=self.loan_number,
            settlement=settlement.model_copy(update={"payoff_at_proposal": payoff, "requested_by": current_actor()}),
        )

    def approve_settlement(self, settlement_id: str, today: date, *, one_person_may_decide: bool = False) -> None:
        """Approve a pending settlement: payments from now on count toward it (409 when the caller proposed it,
        `require_second_approver`, or when it is no longer below the payoff)."""
        settlement = self._pending(self.settlements, settlement_id, "settlement")
        require_second_approver("settlement", settlement.requested_by, one_person_may_decide=one_person_may_decide)
        self._require_serviced("settle")
        payoff = self.payoff_quote(today).total
        if settlement.amount >= payoff:
            raise Conflict(f"the payoff is now {payoff}, not above the settlement's {settlement.amount}")
        self._emit(SettlementApproved, settlement_id=settlement_id, decided_on=today, paid_before=self.paid_standing())

    def reject_settlement(self, settlement_id: str, reason: str, today: date) -> None:
        """Reject a pending settlement with a reason."""
        self._pending(self.settlements, settlement_id, "settlement")
        self._emit(SettlementRejected, settlement_id=settlement_id, decided_on=today, reason=reason)

    # Write-off -------------------------------------------------------------------------------------------------

    def write_off(self, reason: str, today: date) -> Ending:
        """Write the loan off (a serviced loan only; 409 otherwise): `written_off`, its balance off the ledger."""
        self._require_serviced("write off")
        ending = self._ending(EndKind.WRITTEN_OFF, today)
        self._emit(
            WrittenOff,
            status=check_transition(self.status, S.WRITTEN_OFF),
            reason=f"written off ({ending.total}): {reason}",
            ending=ending,
        )
        return ending

    def propose_write_off(self, proposal: WriteOffRecord) -> None:
        """Propose writing the loan off with a reason (a serviced loan only, one proposal pending at a time: 409),
        the payoff on the day recorded; a holder of LOAN_WRITE_OFF approves (the write-off) or rejects it."""
        self._require_serviced("write off")
        if any(w.status is PENDING for w in self.write_off_requests.values()):
            raise Conflict("the loan already has a write-off proposed and pending approval")
        payoff = self.payoff_quote(proposal.proposed_on).total
        self._emit(
            WriteOffProposed,
            brand_id=self.brand_id,
            loan_number=self.loan_number,
            write_off=proposal.model_copy(update={"amount": payoff, "requested_by": current_actor()}),
        )

    def approve_write_off(self, write_off_id: str, today: date, *, one_person_may_decide: bool = False) -> Ending:
        """Approve a proposed write-off: the loan is written off (`write_off`, with the proposal's reason) in the same
        commit. 409 when already decided, when the caller proposed it (`require_second_approver`) or when the loan
        is no longer serviced (settled, completed, written off meanwhile: reject it)."""
        proposal = self._pending(self.write_off_requests, write_off_id, "write-off")
        require_second_approver("write_off", proposal.requested_by, one_person_may_decide=one_person_may_decide)
        ending = self.write_off(proposal.justification, today)
        self._emit(WriteOffApproved, write_off_id=write_off_id, decided_on=today)
        return ending

    def reject_write_off(self, write_off_id: str, reason: str, today: date) -> None:
        """Reject a proposed write-off with a reason: the loan is unchanged."""
        self._pending(self.write_off_requests, write_off_id, "write-off")
        self._emit(WriteOffRejected, write_off_id=write_off_id, decided_on=today, reason=reason)

    # Repayments meet collections -------------------------------------------------------------------------------

    def record_repayment(
        self,
        payment_id: str,
        amount: Decimal,
        mode: PaymentMode,
        reference: str,
        paid_on: date,
        business_date: date,
        *,
        request_id: str | None = None,
    ) -> PaymentRecord:
        """A repayment; on a written-off loan a recovery. With an approved settlement, at most what is left of it
        (422 `amount`), and the payment that completes it ends the loan `settled`."""
        if request_id is None:
            self._require_new_reference(reference)
        if self.status is S.WRITTEN_OFF:
            return self._record_recovery(payment_id, amount, mode, reference, paid_on, business_date)
        settlement = self.live_settlement
        remaining = self.settlement_remaining(settlement) if settlement is not None else None
        if remaining is not None and amount > remaining:
            raise InvalidValue("amount", f"{amount} is above what is left of the settlement ({remaining})")
        record = super().record_repayment(payment_id, amount, mode, reference, paid_on, business_date)
        if settlement is not None and remaining == amount and self.status in SERVICING:
            ending = self._ending(EndKind.SETTLED, business_date, settlement.settlement_id)
            self._emit(
                Settled,
                status=check_transition(self.status, S.SETTLED),
                reason=f"settlement of {settlement.amount} paid in full; {ending.total} waived",
                ending=ending,
            )
        return record

    def _left_after(self, after: Replayed, amount: Decimal, business_date: date) -> Decimal:
        """With an approved settlement, what is left of it once the payment counts (0 for the one settling it): the
        receipt said the whole payoff was still owed, though the settlement letter said nothing more was due."""
        settlement = self.live_settlement
        if settlement is None:
            return super()._left_after(after, amount, business_date)
        return max(ZERO, self.settlement_remaining(settlement) - amount)

    def _record_recovery(
        self, payment_id: str, amount: Decimal, mode: PaymentMode, reference: str, paid_on: date, today: date
    ) -> PaymentRecord:
        assert self.ending is not None
        if paid_on > today:
            raise InvalidValue("paid_on", f"is after the business date {today.isoformat()}")
        left = self.ending.total - self.recovered
        if amount > left:
            raise InvalidValue("amount", f"{amount} is above what is left to recover ({left})")
        record = PaymentRecord(
            payment_id=payment_id,
            amount=amount,
            mode=mode,
            reference=reference,
            paid_on=paid_on,
            recorded_on=today,
            allocation=(),
            payoff_after=ZERO,
        )
        self._emit(RecoveryRecorded, payment=record)
        return record

    # Helpers ---------------------------------------------------------------------------------------------------

    def _require_serviced(self, doing: str) -> None:
        self._require_servicing(doing)
        if self.status not in SERVICING:
            raise Conflict(f"cannot {doing}: the loan is {self.status.words}", status=str(self.status))

    def _require_new_reference(self, reference: str) -> None:
        taken = (
            any(p.reference == reference for p in self.payments.values())
            or any(r.reference == reference for r in self.recoveries.values())
            or any(
                r.reference == reference and r.status is not RequestStatus.REJECTED
                for r in self.collection_requests.values()
            )
        )
        if taken:
            raise Conflict("a payment or collection with this reference is already recorded", reference=reference)

    def _ceiling(self, today: date) -> Decimal:
        if self.status is S.WRITTEN_OFF:
            assert self.ending is not None
            return self.ending.total - self.recovered
        settlement = self.live_settlement
        if settlement is not None:
            return self.settlement_remaining(settlement)
        return self.payoff_quote(today).total

    def _ceiling_name(self) -> str:
        if self.status is S.WRITTEN_OFF:
            return "amount left to recover"
        return "settlement left to pay" if self.live_settlement is not None else "payoff"

    def _pending(self, records: dict[str, R], record_id: str, what: str) -> R:
        record = records.get(record_id)
        if record is None:
            raise RecoveryRequestNotFound(f"{what} {record_id} not found", id=record_id)
        if record.status is not PENDING:
            raise Conflict(f"the {what} is already {record.status.replace('_', ' ')}", status=str(record.status))
        return record

    def _ending(self, kind: EndKind, today: date, settlement_id: str | None = None) -> Ending:
        through = max(today - timedelta(days=1), self.cob_through or today - timedelta(days=1))
        position = self.replayed(through=through).position
        left = balance_left(position, today)
        return Ending(
            kind=kind,
            on=today,
            through=through,
            principal=left.principal,
            interest=left.interest,
            penal=left.penal,
            settlement_id=settlement_id,
        )


__all__ = [
    "LoanRecoveries",
    "RecoveryRequestNotFound",
    "RepaymentNotFound",
    "SecondApproverRequired",
    "require_second_approver",
]
