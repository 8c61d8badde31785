"""The Loan's servicing events (issue #15): servicing opened, repayments recorded and reversed, days closed by COB.

Like `domain/loans/loan_events.py`, each event is named on the `Loan` class (topics `domain.loans.loan:Loan.<Name>`)
and applies its own state change. What an event records is a *fact* (a payment, a reversal, how far COB has run);
every figure derived from the facts (allocations, penal charges, DPD, class, the payoff) is recomputed by
`domain.loans.replay.replay` and recorded on the event for the auditor, never read back as an input. The commands
are `domain/loans/loan_servicing.py`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from domain.loans.loan_events import Transitioned
from domain.loans.replay import PaymentMade, PaymentReversed
from domain.loans.schedule import Schedule
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalTerms
from domain.shared.aggregate import Aggregate


class PaymentMode(StrEnum):
    """How a staff-recorded repayment was received."""

    CASH = "cash"
    CHEQUE = "cheque"
    NEFT = "neft"
    IMPS = "imps"
    RTGS = "rtgs"
    UPI = "upi"
    NACH = "nach"
    OTHER = "other"
    PAYMENT_LINK = "payment_link"  # paid through a gateway payment link (api/services/paylinks.py)
    UPI_AUTOPAY = "upi_autopay"  # debited under a UPI Autopay mandate


class AllocationRecord(BaseModel):
    """How much of a payment went to one instalment's penal charges, interest and principal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no: int
    penal: Decimal
    interest: Decimal
    principal: Decimal


class Reallocation(BaseModel):
    """A payment recorded earlier whose allocation the loan's replay changed (a back-dated payment before it, the
    reversal of one before it): how it is applied now."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_id: str
    allocation: tuple[AllocationRecord, ...]


class PaymentRecord(BaseModel):
    """A repayment as recorded (the allocation it had when recorded; a later back-dated payment or a reversal may
    re-allocate it, which the replay shows)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_id: str
    amount: Decimal
    mode: PaymentMode
    reference: str
    paid_on: date
    recorded_on: date
    allocation: tuple[AllocationRecord, ...]
    closes_loan: bool = False
    payoff_after: Decimal | None = None  # the payoff on the business date once it was applied
    reversed_on: date | None = None
    reversal_reason: str | None = None


class ServicingOpened(Aggregate.Event):
    """The disbursed loan's schedule (fixed with the brand's calendar on the disbursal date) and penal terms."""

    schedule: Schedule
    penal: PenalTerms

    def apply(self, aggregate: Any) -> None:
        aggregate.servicing_schedule = self.schedule
        aggregate.penal_terms = self.penal
        aggregate.servicing_facts = ()
        aggregate.payments = {}
        aggregate.cob_through = None


class RepaymentRecorded(Transitioned):
    """A repayment was recorded (staff); `status` is the state it leaves the loan in (the same one when unchanged)."""

    payment: PaymentRecord
    #: The scheduled principal + interest all the loan's standing payments have paid once this one is applied (the
    #: replay re-allocates them: a back-dated payment changes what later ones paid); None on events recorded before.
    principal_interest_paid: Decimal | None = None
    #: The earlier payments this one re-allocated (it is dated before them), each as it is applied now.
    reallocated: tuple[Reallocation, ...] = ()
    #: DPD and class on the business date once it is applied (what the read model shows until the next close of
    #: business, beside `status`); None on events recorded before.
    dpd: int | None = None
    asset_class: str | None = None

    def apply(self, aggregate: Any) -> None:
        p = self.payment
        aggregate.status = self.status
        aggregate.servicing_facts = (*aggregate.servicing_facts, PaymentMade(p.payment_id, p.amount, p.paid_on))
        aggregate.payments = {**aggregate.payments, p.payment_id: p}


class RepaymentReversed(Transitioned):
    """A repayment was reversed (bounced cheque, chargeback) with a reason: what it paid re-opens. Reversing a payment
    of a completed loan re-opens the loan and withdraws its no-due certificate (`apply`): the loan has none while it
    owes, and its next closure is issued a new one."""

    payment_id: str
    reversed_on: date
    amount: Decimal
    #: As on `RepaymentRecorded`: the principal + interest the payments still standing have paid after the reversal.
    principal_interest_paid: Decimal | None = None
    #: The payments after the reversed one whose allocation changed, each as it is applied now.
    reallocated: tuple[Reallocation, ...] = ()
    #: As on `RepaymentRecorded`: DPD and class on the business date after the reversal; None on events before.
    dpd: int | None = None
    asset_class: str | None = None
    #: The verification code of the no-due certificate the reversal withdrew (it re-opened the completed loan), for
    #: the auditor and consumers; None when the loan had none, and on events recorded before the field - whose
    #: replay withdraws the certificate all the same: `apply` decides it from the state, never from this field.
    no_due_withdrawn: str | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.servicing_facts = (*aggregate.servicing_facts, PaymentReversed(self.payment_id))
        payment = aggregate.payments[self.payment_id]
        aggregate.payments = {
            **aggregate.payments,
            self.payment_id: payment.model_copy(
                update={"reversed_on": self.reversed_on, "reversal_reason": self.reason}
            ),
        }
        if aggregate.no_due is not None and self.status != LoanStatus.COMPLETED:
            # The loan owes again: the certificate no longer says the truth (LENDING.md, "Payments").
            withdrawn = WithdrawnNoDue(
                certificate=aggregate.no_due,
                withdrawn_on=self.reversed_on,
                payment_id=self.payment_id,
                reason=self.reason,
            )
            aggregate.no_dues_withdrawn = (*aggregate.no_dues_withdrawn, withdrawn)
            aggregate.no_due = None


class DayClosed(Aggregate.Event):
    """COB closed the loan's business days through `business_date`: the penal charges of those days, DPD and the
    RBI class that evening (the status is unchanged, or moved by the `StatusMoved` recorded with it)."""

    business_date: date
    penal_charged: Decimal
    dpd: int
    asset_class: str

    def apply(self, aggregate: Any) -> None:
        aggregate.cob_through = self.business_date


class StatusMoved(Transitioned):
    """The close of business moved the loan's state (`active`, `partially_paid`, `overdue`), with DPD and class in
    the reason. `status_moved_on` is the business date the COB closed (the `DayClosed` recorded with it; None on
    events stored before it was recorded)."""

    dpd: int
    asset_class: str
    status_moved_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status


class NoDueCertificateIssued(Aggregate.Event):
    """The completed loan's no-due certificate was generated (once per closure: a reversal that re-opens the loan
    withdraws it, and the next closure is issued another): its SHA-256, verification code and figures."""

    sha256: str
    verification_code: str
    closed_on: date
    disbursed: Decimal
    repaid: Decimal

    def apply(self, aggregate: Any) -> None:
        aggregate.no_due = NoDue(
            sha256=self.sha256,
            verification_code=self.verification_code,
            closed_on=self.closed_on,
            disbursed=self.disbursed,
            repaid=self.repaid,
        )


class NoDue(BaseModel):
    """A no-due certificate as recorded."""

    model_config = ConfigDict(frozen=True)

    sha256: str
    verification_code: str
    closed_on: date
    disbursed: Decimal
    repaid: Decimal


class WithdrawnNoDue(BaseModel):
    """A no-due certificate withdrawn by the reversal of a payment that re-opened the loan: the certificate as
    recorded, the day of the reversal, the payment reversed and the reason given."""

    model_config = ConfigDict(frozen=True)

    certificate: NoDue
    withdrawn_on: date
    payment_id: str
    reason: str


#: Every servicing event, as the Loan class names them.
EVENTS: tuple[type[Aggregate.Event], ...] = (
    ServicingOpened,
    RepaymentRecorded,
    RepaymentReversed,
    DayClosed,
    StatusMoved,
    NoDueCertificateIssued,
)
