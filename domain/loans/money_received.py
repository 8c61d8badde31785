"""Every money movement that repaid a loan, as staff read it on the loan page and in `GET /loans/{id}/repayments`:
its repayments (whatever brought them in: staff, a payment link, UPI Autopay, an approved collection or a confirmed
manual receipt) and its recoveries after a write-off, each with how it came in and the settlement it counted toward.

Pending and rejected collection requests are not money received: an approval records the money (a
`RepaymentRecorded`, or a `RecoveryRecorded` on a written-off loan) and only then is it listed. Nothing here is
stored: it reads the Loan's payments, recoveries, requests and settlements as its events left them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from domain.loans.loan_recoveries import LoanRecoveries
from domain.loans.money import ZERO
from domain.loans.recovery_events import RequestStatus, SettlementRecord
from domain.loans.servicing_events import PaymentRecord


class ReceivedKind(StrEnum):
    """How money received on a loan came in."""

    REPAYMENT = "repayment"  # recorded by staff, a payment link, UPI Autopay (no approval needed)
    COLLECTION = "collection"  # a partial collection the collection team reported, once approved
    RECEIPT = "receipt"  # a manual receipt (a document) the collection team uploaded, once Ops confirmed it
    RECOVERY = "recovery"  # money received after the write-off, whatever its channel (no allocation)


#: How the portal names each kind.
LABELS = {
    ReceivedKind.REPAYMENT: "repayment",
    ReceivedKind.COLLECTION: "collection",
    ReceivedKind.RECEIPT: "manual receipt",
    ReceivedKind.RECOVERY: "recovery after write-off",
}


@dataclass(frozen=True)
class Received:
    """One repayment or recovery of the loan, with how it came in: the approved collection request or manual
    receipt that brought it (`request_id` and its kind, else None), and the approved settlement it counted toward."""

    record: PaymentRecord
    kind: ReceivedKind
    request_id: str | None = None
    request_kind: str | None = None  # collection or receipt
    settlement_id: str | None = None

    @property
    def recovery(self) -> bool:
        """Received after the write-off: it changed no balance (no allocation)."""
        return self.kind is ReceivedKind.RECOVERY

    @property
    def label(self) -> str:
        """What the portal calls it: the kind, the request's kind for a recovery a request brought in, and the
        settlement it counted toward."""
        text = LABELS[self.kind]
        if self.recovery and self.request_kind is not None:
            text += f" ({LABELS[ReceivedKind(self.request_kind)]})"
        return f"{text}, toward the settlement" if self.settlement_id else text

    @property
    def principal(self) -> Decimal:
        """Principal the payment paid, as recorded (the receipt's allocation)."""
        return sum((a.principal for a in self.record.allocation), ZERO)

    @property
    def interest(self) -> Decimal:
        """Interest the payment paid, as recorded."""
        return sum((a.interest for a in self.record.allocation), ZERO)

    @property
    def penal(self) -> Decimal:
        """Penal charges the payment paid, as recorded."""
        return sum((a.penal for a in self.record.allocation), ZERO)


def money_received(loan: LoanRecoveries) -> tuple[Received, ...]:
    """The loan's repayments then its recoveries, in the order recorded (recoveries are only ever recorded after
    the write-off, so after every repayment)."""
    requests = {
        r.payment_id: r
        for r in loan.collection_requests.values()
        if r.status is RequestStatus.APPROVED and r.payment_id is not None
    }
    payments = list(loan.payments.values())
    toward: dict[str, str] = {}
    for settlement in loan.settlements.values():
        for payment_id in _toward_settlement(payments, settlement):
            toward[payment_id] = settlement.settlement_id
    received = []
    for record in (*payments, *loan.recoveries.values()):
        request = requests.get(record.payment_id)
        if record.payment_id in loan.recoveries:
            kind = ReceivedKind.RECOVERY
        elif request is not None:
            kind = ReceivedKind(str(request.kind))
        else:
            kind = ReceivedKind.REPAYMENT
        received.append(
            Received(
                record,
                kind,
                request.request_id if request is not None else None,
                str(request.kind) if request is not None else None,
                toward.get(record.payment_id),
            )
        )
    return tuple(received)


def by_date(received: Sequence[Received]) -> list[Received]:
    """By the day the money was paid, those of one day in the order recorded (as the replay applies them)."""
    return sorted(received, key=lambda r: r.record.paid_on)


def _toward_settlement(payments: Sequence[PaymentRecord], settlement: SettlementRecord) -> list[str]:
    """The repayments recorded after the settlement's approval: from then on every payment counts toward it.

    The Loan keeps its payments in the order recorded and the approval's day and `paid_before` (what the standing
    payments added up to then), not its place among them: those recorded before the day came before it, those
    after it after; of those recorded on the day itself, the first ones until the standing payments reach
    `paid_before` came before it. (A payment reversed on the approval's day is taken as standing at approval.)"""
    if settlement.status is not RequestStatus.APPROVED or settlement.decided_on is None:
        return []
    on, before = settlement.decided_on, settlement.paid_before or ZERO
    count = 0
    while count < len(payments) and payments[count].recorded_on < on:
        count += 1
    standing = sum((p.amount for p in payments[:count] if p.reversed_on is None or p.reversed_on >= on), ZERO)
    while count < len(payments) and payments[count].recorded_on == on and standing < before:
        payment = payments[count]
        if payment.reversed_on is None or payment.reversed_on >= on:
            standing += payment.amount
        count += 1
    return [p.payment_id for p in payments[count:]]
