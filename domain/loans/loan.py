"""The Loan aggregate: one application of a borrower, from onboarding through the BRE to (later) servicing.

Designed for the whole lifecycle of LENDING.md ("Loan states"): every change of status is a `Transitioned`
event carrying the status it leads to and the reason (the base aggregate records the actor and trace on every
event), and every move is checked by `domain.loans.states.check_transition`. This module implements the
application stage: Created (onboarding), Submitted (through the BRE: pending or rejected), BreOverridden,
Bypassed, Assigned, Cancelled, Rejected. The next stages add their own `Transitioned` subclasses (CxApproved,
SentBack, Sanctioned, Signed, DisbursalQueued, Disbursed, Reactivated; servicing events) beside these, without
changing them.

BRE overrides re-decide (docs/loans.md): the decision is always `BreOutcome(results, overrides).passed`. An override
may be recorded while the application is `pending`, or `rejected` *by the BRE* (not by a person); when the effective
decision flips, the same event moves the status (`rejected → pending` is LENDING.md's reactivation, the override's
justification being its recorded approval; `pending → rejected` when a CX overrides a pass into a fail).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.loans import loan_events as ev
from domain.loans import recovery_events as rv
from domain.loans import servicing_events as sv
from domain.loans.bre import ApplicantFacts, BrandPolicy, BreOutcome, Outcome, Override, Rule, RuleResult
from domain.loans.loan_decisions import LoanDecisions
from domain.loans.loan_events import Transitioned, reset_decision
from domain.loans.loan_payout import LoanPayout
from domain.loans.loan_recoveries import LoanRecoveries
from domain.loans.pricing import Pricing
from domain.loans.states import CANCELLABLE, LoanStatus, check_transition
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound

S = LoanStatus


class LoanNotFound(NotFound):
    """Raised when no loan has the id within the caller's brand."""


class StaffCannotTakeLoans(InvalidValue):
    """Raised when the staff member named to take an application is not an enabled staff member of the brand holding
    LOANS at WRITE (the 422 names `staff_id`); the cx-departures job tries the next in line on it."""

    def __init__(self) -> None:
        super().__init__("staff_id", "no enabled staff member of the brand who handles loans has this id")


class SanctionRequired(Conflict):
    """Raised when a CX-approved loan is rejected by someone who may not decide as the Sanction Manager."""


class Channel(StrEnum):
    """Who started the application: the borrower (web/app funnel) or staff on their behalf."""

    BORROWER = "borrower"
    STAFF = "staff"


class Check(StrEnum):
    """A verification LOAN_FORCE_BYPASS may skip (the BRE then marks the rules needing it `bypassed`)."""

    BUREAU = "bureau"
    BANK_STATEMENT = "bank_statement"


class AssignedBy(StrEnum):
    """How an application reached its credit executive."""

    AUTO = "auto"  # the brand's auto-allocation, by workload
    MANAGER = "manager"  # a manager (LOAN_RELOCATE) assigned or reassigned it


#: States in which an application may be (re)assigned: open and not yet disbursed.
ASSIGNABLE = CANCELLABLE


__all__ = ["AssignedBy", "Channel", "Check", "Loan", "LoanNotFound", "SanctionRequired", "Transitioned"]


class Loan(LoanDecisions, LoanPayout, LoanRecoveries, Aggregate):
    """A loan of one brand's borrower, priced with one product version; its status moves only by events."""

    #: Passed in: random for an application started by staff or the borrower, derived from the offer for the one a
    #: re-loan offer starts (so accepting the offer twice at once cannot start two).
    id: UUID
    #: Why it was cancelled (its `Cancelled` event's reason), None unless it was: the onboarding context tells a cancel
    #: made by closing the borrower's onboarding by it (`Onboarding.finish_close`).
    cancel_reason: str | None = None
    #: The bank account the application is paid out to (a `BankAccount` id), as its latest submission naming one named
    #: it: the account the borrower last gave at their bank account step. None when none was named (an application
    #: staff started): it is then paid to the borrower's newest verified account (`Agreements.payout_account`).
    payout_account_ref: str | None = None

    class Created(Aggregate.Created):
        """An application was started (status onboarding). `created_on` is the brand's business date then (None on
        events stored before it was recorded: the brand's local day of `timestamp` stands in)."""

        brand_id: UUID
        customer_id: UUID
        product_id: UUID
        product_version: int
        amount: Decimal
        tenure: int
        coupon_code: str | None = None
        loan_number: str
        channel: Channel
        pricing: Pricing  # fees, coupon discount, GST, net disbursed as priced at creation
        instalment: Decimal  # the EMI, or the payday bullet per month
        created_on: date | None = None

    class Submitted(Transitioned):
        """Submitted through the BRE: the facts and policy it read, each rule's result; pending or rejected.
        `payout_account_ref` is the bank account the submission names for the payout: the one the borrower last gave
        at their onboarding's bank account step (the verification context's `BankAccount` id); None when it names
        none - an application staff submitted, and events stored before it was recorded."""

        submitted_on: date
        facts: dict[str, Any]
        policy: dict[str, Any]
        results: list[dict[str, Any]]
        passed: bool
        payout_account_ref: str | None = None

    class BreOverridden(Transitioned):
        """A CX overrode one rule's result, with a justification; `status` is the decision it leads to. When it
        is rejected, `rejected_on` is the brand's business date then (whence the rejection cooldown counts; None
        otherwise, and on events stored before it was recorded: the date of `timestamp` stands in).
        `bre_overridden_on` is the brand's business date then, whatever the decision (None on events stored before
        it was recorded)."""

        rule: Rule
        outcome: Outcome
        justification: str
        rejected_on: date | None = None
        bre_overridden_on: date | None = None

    class Bypassed(Transitioned):
        """LOAN_FORCE_BYPASS skipped a check; after submission the BRE re-ran (`results`) and re-decided.
        `bypassed_on` is the brand's business date then (None on events stored before it was recorded)."""

        check: Check
        results: list[dict[str, Any]] | None = None
        bypassed_on: date | None = None

    class Assigned(Aggregate.Event):
        """The application was assigned to a credit executive (by auto-allocation or a manager). `assigned_on` is the
        brand's business date then (None on events stored before it was recorded)."""

        staff_id: UUID
        previous_staff_id: UUID | None = None
        by: AssignedBy
        reason: str
        assigned_on: date | None = None

    class Cancelled(Transitioned):
        """The application was cancelled before disbursal. `cancelled_on` is the brand's business date then (None on
        events stored before it was recorded)."""

        cancelled_on: date | None = None

    class Rejected(Transitioned):
        """A person rejected the application with a reason code and remarks (`reason` is the code's text);
        `previous_status` says who: pending is the CX, cx_approved the SM. `rejected_on` is the brand's business
        date then, whence the rejection cooldown counts (None on events stored before it was recorded: the date of
        `timestamp` stands in)."""

        reason_code: str
        remarks: str
        previous_status: LoanStatus | None = None
        rejected_on: date | None = None

    # The credit decision to disbursal (domain/loans/loan_events.py).
    CamRecorded = ev.CamRecorded
    CxApproved = ev.CxApproved
    SentBack = ev.SentBack
    Escalated = ev.Escalated
    SanctionAssigned = ev.SanctionAssigned
    Sanctioned = ev.Sanctioned
    AgreementIssued = ev.AgreementIssued
    EsignExpired = ev.EsignExpired
    Signed = ev.Signed
    DisbursalQueued = ev.DisbursalQueued
    DisbursalInitiated = ev.DisbursalInitiated
    DisbursalFailed = ev.DisbursalFailed
    PayoutExported = ev.PayoutExported
    PayoutReturned = ev.PayoutReturned
    Disbursed = ev.Disbursed
    Reactivated = ev.Reactivated
    ProductChanged = ev.ProductChanged
    # Servicing (domain/loans/servicing_events.py).
    ServicingOpened = sv.ServicingOpened
    RepaymentRecorded = sv.RepaymentRecorded
    RepaymentReversed = sv.RepaymentReversed
    DayClosed = sv.DayClosed
    StatusMoved = sv.StatusMoved
    NoDueCertificateIssued = sv.NoDueCertificateIssued
    # Collection money (domain/loans/recovery_events.py).
    CollectionRequested = rv.CollectionRequested
    CollectionApproved = rv.CollectionApproved
    CollectionRejected = rv.CollectionRejected
    WaiverRequested = rv.WaiverRequested
    WaiverApproved = rv.WaiverApproved
    WaiverRejected = rv.WaiverRejected
    SettlementProposed = rv.SettlementProposed
    SettlementApproved = rv.SettlementApproved
    SettlementRejected = rv.SettlementRejected
    Settled = rv.Settled
    WrittenOff = rv.WrittenOff
    RecoveryRecorded = rv.RecoveryRecorded
    WriteOffProposed = rv.WriteOffProposed
    WriteOffApproved = rv.WriteOffApproved
    WriteOffRejected = rv.WriteOffRejected

    @event(Created)
    def __init__(
        self,
        brand_id: UUID,
        customer_id: UUID,
        product_id: UUID,
        product_version: int,
        amount: Decimal,
        tenure: int,
        loan_number: str,
        channel: Channel,
        pricing: Pricing,
        instalment: Decimal,
        coupon_code: str | None = None,
        created_on: date | None = None,  # the brand's business date (on the event only)
    ) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.product_id = product_id
        self.product_version = product_version
        self.amount = amount
        self.tenure = tenure
        self.coupon_code = coupon_code
        self.loan_number = loan_number
        self.channel = channel
        self.pricing = pricing
        self.instalment = instalment
        self.status = S.ONBOARDING
        self.assignee: UUID | None = None
        self.submitted_on: date | None = None
        self.facts: dict[str, Any] | None = None
        self.policy: dict[str, Any] | None = None
        self.results: list[dict[str, Any]] = []
        self.overrides: dict[Rule, Override] = {}
        self.bypassed: set[Check] = set()
        self.rejected_by_bre = False
        self.cam: ev.Cam | None = None
        self.sent_back: str | None = None
        self.rejection: dict[str, Any] | None = None
        reset_decision(self)

    # Reading the BRE state -------------------------------------------------------------------------------------

    @property
    def submitted(self) -> bool:
        """Whether the application has been through the BRE."""
        return self.submitted_on is not None

    def bre_outcome(self) -> BreOutcome:
        """The recorded results with the overrides applied (what decides)."""
        results = tuple(RuleResult.from_record(r) for r in self.results)
        return BreOutcome(results=results, overrides=tuple(self.overrides.values()))

    def recorded_facts(self) -> ApplicantFacts:
        """The facts recorded at submission."""
        if self.facts is None:
            raise Conflict("the application has not been submitted", id=str(self.id))
        return ApplicantFacts.from_record(self.facts)

    def bypassed_facts(self) -> ApplicantFacts:
        """The facts recorded at submission with every check bypassed so far: a bypass made after the submission
        records its results, not the facts, so a later run of the rules (another bypass, a product change) must add
        it again."""
        recorded = self.recorded_facts()
        return replace(recorded, bypassed=recorded.bypassed | {c.value for c in self.bypassed})

    def recorded_policy(self) -> BrandPolicy:
        """The brand policy recorded at submission."""
        if self.policy is None:
            raise Conflict("the application has not been submitted", id=str(self.id))
        return BrandPolicy.from_record(self.policy)

    # Commands --------------------------------------------------------------------------------------------------

    def submit(
        self,
        facts: ApplicantFacts,
        policy: BrandPolicy,
        outcome: BreOutcome,
        today: date,
        payout_account_ref: str | None = None,
    ) -> None:
        """Record the BRE's evaluation: pending when every rule passed (or was bypassed), else rejected; with the bank
        account the borrower's submission names for the payout (`payout_account_ref`, None: none named)."""
        if self.status is not S.ONBOARDING:
            raise Conflict(f"only an application in onboarding can be submitted; this one is {self.status.words}")
        target = check_transition(self.status, S.PENDING if outcome.passed else S.REJECTED)
        self._submitted(
            status=target,
            reason=_decision_reason(outcome),
            submitted_on=today,
            facts=facts.to_record(),
            policy=policy.to_record(),
            results=[r.to_record() for r in outcome.results],
            passed=outcome.passed,
            payout_account_ref=payout_account_ref,
        )

    @event(Submitted)
    def _submitted(
        self,
        status: LoanStatus,
        reason: str,
        submitted_on: date,
        facts: dict[str, Any],
        policy: dict[str, Any],
        results: list[dict[str, Any]],
        passed: bool,
        payout_account_ref: str | None = None,
    ) -> None:
        self.status = status
        self.submitted_on = submitted_on
        self.facts = facts
        self.policy = policy
        self.results = list(results)
        self.rejected_by_bre = not passed
        if payout_account_ref is not None:  # a submission naming none (staff's) keeps the one named before
            self.payout_account_ref = payout_account_ref

    def _require_bre_open(self, doing: str) -> None:
        if self.status is S.PENDING or (self.status is S.REJECTED and self.rejected_by_bre):
            return
        if self.status is S.REJECTED:
            raise Conflict(f"cannot {doing}: the application was rejected by a person, not by the BRE")
        raise Conflict(
            f"cannot {doing}: the application is {self.status.words} (pending or rejected by the BRE needed)"
        )

    def override(self, override: Override, today: date, *, any_application: bool = False) -> None:
        """Override one evaluated rule's result (pass or fail); the decision follows the overridden results (a
        rejection it makes is dated `today`, the brand's business date). A CX's action: the assigned CX's
        (`require_assigned_cx`)."""
        self._require_bre_open("override a rule")
        self.require_assigned_cx(any_application=any_application)
        decided = self.bre_outcome().overridden(override)  # 422 naming rule or result when it changes nothing
        target = self._redecide(decided)
        self._bre_overridden(
            status=target,
            reason=f"{override.rule} overridden to {override.outcome}: {override.justification}",
            rule=override.rule,
            outcome=override.outcome,
            justification=override.justification,
            rejected_on=today if target is S.REJECTED else None,
            bre_overridden_on=today,
        )

    @event(BreOverridden)
    def _bre_overridden(
        self,
        status: LoanStatus,
        reason: str,
        rule: Rule,
        outcome: Outcome,
        justification: str,
        rejected_on: date | None = None,
        bre_overridden_on: date | None = None,
    ) -> None:
        self.overrides[rule] = Override(rule=rule, outcome=outcome, justification=justification)
        self.status = status
        self.rejected_by_bre = status is S.REJECTED

    def bypass(
        self, check: Check, reason: str, reevaluated: BreOutcome | None = None, *, today: date | None = None
    ) -> None:
        """Skip `check`: before submission it is remembered for the BRE; after it, `reevaluated` (the recorded
        facts run again with the bypass) replaces the results and the decision follows. Dated `today` (the brand's
        business date)."""
        if check in self.bypassed:
            raise Conflict(f"the {check} check is already bypassed", check=str(check))
        if not self.submitted:
            if self.status is not S.ONBOARDING:
                raise Conflict(f"cannot bypass a check of an application that is {self.status.words}")
            self._bypassed(status=self.status, reason=reason, check=check, results=None, bypassed_on=today)
            return
        self._require_bre_open("bypass a check")
        if reevaluated is None:
            raise Conflict("a submitted application's BRE must be re-run with the bypass")
        decided = BreOutcome(results=reevaluated.results, overrides=tuple(self.overrides.values()))
        target = self._redecide(decided)
        self._bypassed(
            status=target,
            reason=reason,
            check=check,
            results=[r.to_record() for r in reevaluated.results],
            bypassed_on=today,
        )

    @event(Bypassed)
    def _bypassed(
        self,
        status: LoanStatus,
        reason: str,
        check: Check,
        results: list[dict[str, Any]] | None,
        bypassed_on: date | None = None,
    ) -> None:
        self.bypassed.add(check)
        if results is not None:
            self.results = list(results)
            self.rejected_by_bre = status is S.REJECTED
        self.status = status

    def _redecide(self, decided: BreOutcome) -> LoanStatus:
        target = S.PENDING if decided.passed else S.REJECTED
        return target if target is self.status else check_transition(self.status, target)

    def assign(self, staff_id: UUID, by: AssignedBy, reason: str, *, today: date | None = None) -> None:
        """Assign the application to a credit executive (again: a reassignment, the previous one recorded), dated
        `today` (the brand's business date)."""
        if self.status not in ASSIGNABLE:
            raise Conflict(f"cannot assign an application that is {self.status.words}", status=str(self.status))
        if self.assignee == staff_id:
            raise Conflict("the application is already assigned to this staff member", staff_id=str(staff_id))
        self._assigned(staff_id=staff_id, previous_staff_id=self.assignee, by=by, reason=reason, assigned_on=today)

    @event(Assigned)
    def _assigned(
        self,
        staff_id: UUID,
        previous_staff_id: UUID | None,
        by: AssignedBy,
        reason: str,
        assigned_on: date | None = None,
    ) -> None:
        self.assignee = staff_id

    def cancel(self, reason: str, *, today: date | None = None) -> None:
        """Cancel before disbursal, with a reason (not while a payout may be on its way), dated `today` (the brand's
        business date)."""
        self.require_no_payout_pending("cancel")
        self._cancelled(status=check_transition(self.status, S.CANCELLED), reason=reason, cancelled_on=today)

    @event(Cancelled)
    def _cancelled(self, status: LoanStatus, reason: str, cancelled_on: date | None = None) -> None:
        self.status = status
        self.cancel_reason = reason

    def reject(
        self,
        reason_code: str,
        label: str,
        remarks: str,
        *,
        today: date,
        sanctioning: bool = True,
        any_application: bool = False,
        any_sanction: bool = False,
    ) -> None:
        """Reject with one of the brand's reason codes (`label` its text) and remarks, on `today` (the brand's
        business date: whence the rejection cooldown counts). A CX-approved loan is the Sanction Manager's to reject:
        `sanctioning` False (the caller may not sanction) refuses it, on the state this command commits against, so a
        CX's reject meant for a pending loan never lands on one approved meanwhile. Before that it is the assigned
        CX's (`require_assigned_cx`); after it the assigned SM's when the Sanction Head assigned it
        (`require_assigned_sm`)."""
        if self.status is S.CX_APPROVED and not sanctioning:
            raise SanctionRequired("rejecting a CX-approved loan is the Sanction Manager's decision",
                                   status=str(self.status))  # fmt: skip
        target = check_transition(self.status, S.REJECTED)
        if self.status is S.CX_APPROVED:
            self.require_assigned_sm(any_sanction=any_sanction)
        else:
            self.require_assigned_cx(any_application=any_application)
        self._rejected(
            status=target,
            reason=label,
            reason_code=reason_code,
            remarks=remarks,
            previous_status=self.status,
            rejected_on=today,
        )

    @event(Rejected)
    def _rejected(
        self,
        status: LoanStatus,
        reason: str,
        reason_code: str,
        remarks: str,
        previous_status: LoanStatus | None,
        rejected_on: date | None = None,
    ) -> None:
        self.status = status
        self.rejected_by_bre = False
        self.rejection = {"code": reason_code, "label": reason, "remarks": remarks, "by": previous_status}


def _decision_reason(outcome: BreOutcome) -> str:
    if outcome.passed:
        return "passed the BRE"
    return "rejected by the BRE: " + "; ".join(f"{r.rule}: {r.reason}" for r in outcome.failed)
