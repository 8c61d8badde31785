"""The Loan's events from the credit decision to disbursal (issue #14), each with the state change it applies.

`Transitioned` (every event that changes the status) lives here; `domain/loans/loan.py` re-exports it and names
each of these events on the `Loan` class (so their topics are `domain.loans.loan:Loan.<Name>`, like the application
stage's events). The commands that trigger them are `domain/loans/loan_decisions.py` (CAM, CX approval, send back,
sanction, reactivation) and `domain/loans/loan_payout.py` (agreement and e-sign, disbursal, payout files).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.loans.pricing import Pricing
from domain.loans.states import LoanStatus
from domain.loans.terms import Fee, LoanKind, LoanTerms, PenalTerms
from domain.shared.aggregate import Aggregate


class Transitioned(Aggregate.Event):
    """Base of every Loan event that changes the status: the status it leads to and why (never stored itself)."""

    status: LoanStatus
    reason: str


class SendBackTo(StrEnum):
    """Whom an application is sent back to."""

    BORROWER = "borrower"  # pending → onboarding: the CX needs documents or information
    CX = "cx"  # cx_approved → pending: the SM sends it back to the credit executive


class PayoutMode(StrEnum):
    """How a payout reaches the borrower's account."""

    IMPS = "IMPS"
    NEFT = "NEFT"
    UPI = "UPI"


class EsignState(StrEnum):
    """The state of the latest e-sign link."""

    SENT = "sent"
    SIGNED = "signed"
    EXPIRED = "expired"


class AttemptState(StrEnum):
    """A payout attempt: initiated at the gateway, then confirmed or failed by its webhook."""

    INITIATED = "initiated"
    CONFIRMED = "confirmed"
    FAILED = "failed"


class SalaryCredit(BaseModel):
    """One salary credit of the CAM: the month (YYYY-MM) and the amount credited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    month: str
    amount: Decimal


class Cam(BaseModel):
    """The Credit Appraisal Memo as the CX recorded it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    salary_credits: list[SalaryCredit]
    foir: Decimal  # as the CX recorded it (the calculated one when none was entered)
    existing_emis: Decimal
    recommended_amount: Decimal
    recommended_rate: Decimal
    notes: str
    # The calculator's figures (None in CAMs recorded before it): the salary credits' average, this loan's monthly
    # obligation at the recommended amount, and FOIR = (existing EMIs + that obligation) / average salary, percent.
    average_salary: Decimal | None = None
    proposed_emi: Decimal | None = None
    calculated_foir: Decimal | None = None


class PayoutAttempt(BaseModel):
    """One payout attempt of a loan (the `disbursement` block of the loan)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempt: int
    mode: PayoutMode
    gateway_reference: str
    amount: Decimal
    state: AttemptState
    reason: str | None = None


def reset_decision(loan: Any) -> None:
    """The decision state of a loan that has none yet (at creation, and again when reactivated to pending)."""
    loan.cx_approved_amount = None
    loan.sanctioned_amount = None
    loan.sanction_pricing = None
    loan.sanction_terms = None
    loan.sanction_instalment = None
    loan.esign_state = None
    loan.esign_request_id = None
    loan.esign_link = None
    loan.esign_expires_at = None
    loan.esign_issued_at = None
    loan.agreement_sha256 = None
    loan.agreement_ref = None
    loan.signed_reference = None
    loan.signed_at = None
    loan.bank_account_ref = None
    loan.attempts = []
    loan.exported_file_id = None
    loan.disbursed_reference = None
    loan.disbursed_on = None
    loan.escalation = None
    loan.sanction_assignee = None


class CamRecorded(Aggregate.Event):
    """The CX recorded (or re-recorded) the Credit Appraisal Memo of a pending application. `cam_recorded_on` is
    the brand's business date then (None on events stored before it was recorded)."""

    cam: Cam
    cam_recorded_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.cam = self.cam


class CxApproved(Transitioned):
    """The CX approved an amount (within the product's range; may differ from the requested one): cx_approved.
    `cx_approved_on` is the brand's business date then (None on events stored before it was recorded: the brand's
    local day of `timestamp` stands in)."""

    requested_amount: Decimal
    approved_amount: Decimal
    remarks: str
    cx_approved_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.cx_approved_amount = self.approved_amount
        aggregate.escalation = None  # a fresh approval waits afresh
        aggregate.cx_approved_by = self.actor  # who may then not sanction it (Loan.sanction: two people decide)


class SentBack(Transitioned):
    """Sent back to the borrower (pending → onboarding, the funnel step reopens) or to the CX (→ pending). `step` is
    the borrower's funnel step to do again (None: the submitted step, as before the field existed). `sent_back_on` is
    the brand's business date then (None on events stored before it was recorded: the brand's local day of
    `timestamp` stands in)."""

    to: SendBackTo
    step: str | None = None
    sent_back_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        if self.to is SendBackTo.BORROWER:
            aggregate.sent_back = self.reason
            aggregate.submitted_on = None
        aggregate.cx_approved_amount = None


class Escalated(Aggregate.Event):
    """A CX-approved loan was escalated to the Sanction Head, by an SM or automatically after waiting over a day.
    `escalated_on` is the brand's business date then (None on events stored before it was recorded)."""

    reason: str
    automatic: bool = False
    escalated_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.escalation = self.reason


class SanctionAssigned(Aggregate.Event):
    """The Sanction Head assigned a CX-approved loan to a Sanction Manager; an escalation is handled by it.
    `sanction_assigned_on` is the brand's business date then (None on events stored before it was recorded)."""

    staff_id: UUID
    reason: str
    sanction_assigned_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.escalation = None
        aggregate.sanction_assignee = self.staff_id


class Sanctioned(Transitioned):
    """The SM sanctioned a final amount, priced with the loan's product version and coupon: sm_approved.

    All three amounts are kept: requested, CX-approved, sanctioned. `sanctioned_on` is the brand's business date
    then (None on events stored before it was recorded: the brand's local day of `timestamp` stands in)."""

    requested_amount: Decimal
    cx_approved_amount: Decimal
    sanctioned_amount: Decimal
    pricing: Pricing
    terms: LoanTerms  # what the schedule is built from: the sanctioned principal, tenure and the version's rate
    instalment: Decimal
    remarks: str
    sanctioned_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.sanctioned_amount = self.sanctioned_amount
        aggregate.sanction_pricing = self.pricing
        aggregate.sanction_terms = self.terms
        aggregate.sanction_instalment = self.instalment


class AgreementIssued(Aggregate.Event):
    """The agreement (its hash and stored reference) was generated and an e-sign link sent (again, on resend).
    `agreement_issued_on` is the brand's business date then (None on events stored before it was recorded)."""

    document_sha256: str
    document_ref: str
    esign_request_id: str
    link: str
    expires_at: datetime
    #: When this request was opened, by the application's clock (the expiry counts from it): no signature of it
    #: is dated earlier. Absent on agreements issued before it was recorded.
    issued_at: datetime | None = None
    agreement_issued_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.agreement_sha256 = self.document_sha256
        aggregate.agreement_ref = self.document_ref
        aggregate.esign_request_id = self.esign_request_id
        aggregate.esign_link = self.link
        aggregate.esign_expires_at = self.expires_at
        aggregate.esign_issued_at = self.issued_at
        aggregate.esign_state = EsignState.SENT


class EsignExpired(Aggregate.Event):
    """The e-sign link expired unsigned (staff may resend). `esign_expired_on` is the brand's business date then (None on events stored before it was recorded)."""

    esign_request_id: str
    esign_expired_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.esign_state = EsignState.EXPIRED


class Signed(Transitioned):
    """The borrower signed the agreement at the e-sign provider: approved. `signed_on` is the brand's business date
    when the signature was recorded (None on events stored before it was recorded; `signed_at` is the provider's
    instant)."""

    esign_request_id: str
    provider_reference: str
    signed_at: datetime
    signed_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.esign_state = EsignState.SIGNED
        aggregate.signed_reference = self.provider_reference
        aggregate.signed_at = self.signed_at


class DisbursalQueued(Transitioned):
    """Signed and the borrower's bank account verified: in the Ops queue (awaiting_disbursal).
    `disbursal_queued_on` is the brand's business date then (None on events stored before it was recorded)."""

    bank_account_ref: str
    net_disbursed: Decimal
    disbursal_queued_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.bank_account_ref = self.bank_account_ref


class DisbursalInitiated(Aggregate.Event):
    """A payout attempt was sent to the gateway (not yet money out: that is `Disbursed`). `disbursal_initiated_on` is
    the brand's business date then (None on events stored before it was recorded)."""

    mode: PayoutMode
    attempt: int
    gateway_reference: str
    amount: Decimal
    disbursal_initiated_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.attempts = [
            *aggregate.attempts,
            PayoutAttempt(
                attempt=self.attempt,
                mode=self.mode,
                gateway_reference=self.gateway_reference,
                amount=self.amount,
                state=AttemptState.INITIATED,
            ),
        ]


class DisbursalFailed(Aggregate.Event):
    """The gateway failed a payout attempt, with its reason (the loan may be paid again). `disbursal_failed_on` is
    the brand's business date then (None on events stored before it was recorded)."""

    reference: str
    reason: str
    disbursal_failed_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.attempts = [
            a.model_copy(update={"state": AttemptState.FAILED, "reason": self.reason})
            if a.gateway_reference == self.reference
            else a
            for a in aggregate.attempts
        ]


class PayoutExported(Aggregate.Event):
    """The loan was put in a bank payout file: it cannot be paid again unless the file is returned.
    `payout_exported_on` is the brand's business date then (None on events stored before it was recorded)."""

    payout_file_id: str
    amount: Decimal
    payout_exported_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.exported_file_id = self.payout_file_id


class PayoutReturned(Aggregate.Event):
    """The payout file holding the loan failed or was returned by the bank: it may be paid again.
    `payout_returned_on` is the brand's business date then (None on events stored before it was recorded)."""

    payout_file_id: str
    reason: str
    payout_returned_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.exported_file_id = None


class Disbursed(Transitioned):
    """The gateway (or the bank, for a payout file) confirmed the money reached the borrower: active."""

    reference: str
    disbursed_on: date
    amount: Decimal
    mode: str

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.disbursed_reference = self.reference
        aggregate.disbursed_on = self.disbursed_on
        aggregate.attempts = [
            a.model_copy(update={"state": AttemptState.CONFIRMED}) if a.gateway_reference == self.reference else a
            for a in aggregate.attempts
        ]


class Reactivated(Transitioned):
    """LOAN_REACTIVATE reopened a rejected or cancelled loan to pending; `reason` is the recorded approval.
    `reactivated_on` is the brand's business date then (None on events stored before it was recorded)."""

    previous_status: LoanStatus
    reactivated_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.rejected_by_bre = False
        aggregate.rejection = None
        reset_decision(aggregate)


class ProductTerms(BaseModel):
    """The terms of the product version a loan moved to, as recorded on its `ProductChanged` (what every later figure
    - sanction, agreement, schedule, penal charges, payoff - is computed with, by that product id and version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    kind: LoanKind
    annual_percent: Decimal | None = None
    daily_percent: Decimal | None = None
    processing_fee: Fee
    convenience_fee: Fee
    gst_percent: Decimal
    penal: PenalTerms
    bre_rules: list[dict[str, str]]


class ProductChanged(Transitioned):
    """LOAN_RULE_TYPE moved an open application (onboarding, pending or cx_approved) to another product (or to its
    product's current version): the new product version's terms, the amount and tenure, the pricing and instalment
    priced with them, the coupon kept or dropped (`coupon_dropped` and why), and - once submitted - the new product's
    BRE rules run again on the facts recorded at submission (`facts` with this loan's new obligation, `results`,
    `passed`), the status following as a submission's does (pending or rejected). A CX approval, its CAM and the
    rules' overrides were of the old product and do not carry over. `reason` is the staff member's why - or, on an
    application in onboarding, that the borrower redid their loan request before submitting it (`Loans.amend_request`:
    the same application, its number kept, with the coupon they gave now). When the re-run rejects an application
    that was not rejected, `rejected_on` is the brand's business date then, whence the rejection cooldown counts (None
    otherwise, and on events stored before it was recorded: the date of `timestamp` stands in). `product_changed_on` is
    the brand's business date of the change, whatever its outcome (None on events stored before it was recorded)."""

    previous_status: LoanStatus
    previous_product_id: UUID
    previous_product_version: int
    previous_amount: Decimal
    previous_tenure: int
    product_id: UUID
    product_version: int
    amount: Decimal
    tenure: int
    terms: ProductTerms
    pricing: Pricing
    instalment: Decimal
    coupon_code: str | None = None
    coupon_dropped: str | None = None
    coupon_dropped_reason: str | None = None
    facts: dict[str, Any] | None = None
    results: list[dict[str, Any]] | None = None
    passed: bool | None = None
    rejected_on: date | None = None
    product_changed_on: date | None = None

    def apply(self, aggregate: Any) -> None:
        aggregate.status = self.status
        aggregate.product_id = self.product_id
        aggregate.product_version = self.product_version
        aggregate.amount = self.amount
        aggregate.tenure = self.tenure
        aggregate.pricing = self.pricing
        aggregate.instalment = self.instalment
        aggregate.coupon_code = self.coupon_code
        if self.results is not None:
            aggregate.facts = self.facts
            aggregate.results = list(self.results)
            aggregate.rejected_by_bre = not self.passed
        # The old product's decision does not carry over: its rules' overrides, the CAM (its FOIR figures used the old
        # product's instalment) and the CX approval; the application is back in the CX's queue.
        aggregate.overrides = {}
        aggregate.cam = None
        aggregate.cx_approved_amount = None
        aggregate.escalation = None


#: Every event of this module, as the Loan class names them.
EVENTS: tuple[type[Aggregate.Event], ...] = (
    CamRecorded,
    CxApproved,
    SentBack,
    Sanctioned,
    AgreementIssued,
    EsignExpired,
    Signed,
    DisbursalQueued,
    DisbursalInitiated,
    DisbursalFailed,
    PayoutExported,
    PayoutReturned,
    Disbursed,
    Reactivated,
    ProductChanged,
)
