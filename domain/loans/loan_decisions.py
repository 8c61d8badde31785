"""The Loan's credit-decision commands (issue #14): CAM, CX approval, send back, SM sanction, reactivation, and
moving an open application to another product (LOAN_RULE_TYPE).

A mixin of `domain.loans.loan.Loan` (kept apart so each module stays small): every command checks the loan's state
and raises before any event (nothing recorded), and every move is checked by `states.check_transition`. The values
(amounts within the product's range, the pricing at the sanctioned amount, reason codes) are checked by the `Loans`
application, which knows the product version and the brand's settings.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.loans.loan_events import (
    Cam,
    CamRecorded,
    CxApproved,
    Escalated,
    ProductChanged,
    ProductTerms,
    Reactivated,
    SanctionAssigned,
    Sanctioned,
    SendBackTo,
    SentBack,
)
from domain.loans.pricing import Pricing
from domain.loans.states import LoanStatus, check_transition
from domain.loans.terms import LoanTerms
from domain.shared.aggregate import current_actor
from domain.shared.errors import Conflict

S = LoanStatus

#: The statuses in which an application may move to another product: open and not yet sanctioned (submitted or not,
#: sent back to the borrower, under the CX's review, or CX-approved awaiting the sanction).
PRODUCT_CHANGEABLE = frozenset({S.ONBOARDING, S.PENDING, S.CX_APPROVED})


class SecondApproverRequired(Conflict):
    """Raised when one staff member would make both steps of a two-person decision: the CX approval and the sanction
    of a loan, or the asking for and the approval of collection money (`loan_recoveries.require_second_approver`)."""


class AssignedToAnother(Conflict):
    """Raised when a staff member does the credit executive's work (CAM, CX approval or rejection, send back to the
    borrower) on an application assigned to someone else, without LOAN_RELOCATE."""


class SanctionAssignedToAnother(Conflict):
    """Raised when a Sanction Manager decides (sanction, reject, send back to the CX, escalate, change the product of)
    a CX-approved loan the Sanction Head assigned to another Sanction Manager, without SANCTION_HEAD WRITE (or being
    an admin)."""


class ProductChange(BaseModel):
    """What the application computed for a product change (the new product version, priced and re-evaluated)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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
    facts: dict[str, Any] | None = None  # with the BRE re-run (a submitted application): the facts it read
    results: list[dict[str, Any]] | None = None
    passed: bool | None = None


def assigned_to_another(assignee: UUID | None, actor: str, *, exempt: bool) -> bool:
    """Whether work assigned to `assignee` is someone else's for `actor` (`staff:<id>`): the rule of
    `require_assigned_cx` / `require_assigned_sm`, and the loan page's, which shows whose it is instead of a form
    that would be refused. Unassigned work is the pool's, `exempt` staff (who reassign or decide any) act on any,
    and API keys and jobs are not people, left to their owners."""
    return not exempt and assignee is not None and actor.startswith("staff:") and actor != f"staff:{assignee}"


class LoanDecisions:
    """CAM, CX approval, send back, sanction and reactivation of a Loan."""

    if TYPE_CHECKING:
        status: LoanStatus
        amount: Decimal
        cam: Cam | None
        cx_approved_amount: Decimal | None
        sanctioned_amount: Decimal | None
        sanction_pricing: Pricing | None
        sanction_terms: LoanTerms | None
        sanction_instalment: Decimal | None
        sent_back: str | None
        submitted_on: date | None
        rejection: dict[str, Any] | None
        escalation: str | None
        sanction_assignee: UUID | None
        assignee: UUID | None
        product_id: UUID
        product_version: int
        tenure: int
        coupon_code: str | None

        def trigger_event(self, event_class: Any, **kwargs: Any) -> None: ...

    def _emit(self, event_class: type[Any], **kwargs: Any) -> None:
        """Trigger the Loan's own subclass of `event_class` (its topic is `domain.loans.loan:Loan.<Name>`)."""
        self.trigger_event(getattr(type(self), event_class.__name__), **kwargs)

    def require_assigned_cx(self, *, any_application: bool = False) -> None:
        """The credit executive's work on an application is its assignee's (the spec's CX works the applications
        assigned to them, by auto-allocation or a manager): a staff member acting on one assigned to someone else is
        refused (409) unless `any_application` (LOAN_RELOCATE, who reassigns applications: managers, the Sanction
        Head, admins). An unassigned application is the pool's (auto-allocation off, or nobody eligible); API keys
        and jobs are not people and are left to their owners."""
        if not assigned_to_another(self.assignee, current_actor(), exempt=any_application):
            return
        raise AssignedToAnother(
            "the application is assigned to another credit executive: they work it, or a manager reassigns it",
            assignee_id=str(self.assignee),
            rule="assigned_cx",
        )

    def require_assigned_sm(self, *, any_sanction: bool = False) -> None:
        """The Sanction Manager's decision on a CX-approved loan the Sanction Head assigned (`SanctionAssigned`) is
        its assignee's: another staff member's sanction, rejection, send back to the CX, escalation or product change
        (which sends it back to the CX) is refused
        (409) unless `any_sanction` (SANCTION_HEAD WRITE, who assigns and decides himself, and admins). An unassigned
        loan is any Sanction Manager's (the SM queue's pool); API keys and jobs are not people and are left to their
        owners."""
        if not assigned_to_another(self.sanction_assignee, current_actor(), exempt=any_sanction):
            return
        raise SanctionAssignedToAnother(
            "the Sanction Head assigned this loan to another Sanction Manager: they decide it, or the Sanction Head "
            "reassigns it",
            assignee_id=str(self.sanction_assignee),
            rule="assigned_sm",
        )

    def record_cam(self, cam: Cam, today: date | None = None, *, any_application: bool = False) -> None:
        """Record the Credit Appraisal Memo of a pending application (again: the latest one counts), dated `today`
        (the brand's business date); the assigned CX's (`require_assigned_cx`)."""
        if self.status is not S.PENDING:
            raise Conflict(f"a CAM is recorded while the application is pending; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self.require_assigned_cx(any_application=any_application)
        self._emit(CamRecorded, cam=cam, cam_recorded_on=today)

    def cx_approve(
        self,
        approved_amount: Decimal,
        remarks: str,
        *,
        cam_required: bool = False,
        today: date | None = None,
        any_application: bool = False,
    ) -> None:
        """The CX approves `approved_amount` (checked against the product by the application): cx_approved, dated
        `today` (the brand's business date); the assigned CX's (`require_assigned_cx`)."""
        if self.status is not S.PENDING:
            raise Conflict(f"only a pending application can be approved by the CX; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self.require_assigned_cx(any_application=any_application)
        if cam_required and self.cam is None:
            raise Conflict("the brand requires the CAM before the CX approves: record it first", field="cam")
        target = check_transition(self.status, S.CX_APPROVED)
        self._emit(
            CxApproved,
            status=target,
            reason=f"approved {approved_amount} by the CX: {remarks}",
            requested_amount=self.amount,
            approved_amount=approved_amount,
            remarks=remarks,
            cx_approved_on=today,
        )

    def send_back(
        self,
        to: SendBackTo,
        reason: str,
        step: str | None = None,
        today: date | None = None,
        *,
        any_application: bool = False,
        any_sanction: bool = False,
    ) -> None:
        """Send back to the borrower (pending → onboarding; `step` the funnel step to do again: the assigned CX's,
        `require_assigned_cx`) or to the CX (cx_approved → pending: the SM's, the assigned one's when the Sanction Head
        assigned it, `require_assigned_sm`), with the reason, dated `today` (the brand's business date)."""
        needed = S.PENDING if to is SendBackTo.BORROWER else S.CX_APPROVED
        if self.status is not needed:
            raise Conflict(f"only a {needed.words} loan can be sent back to the {to}; this one is {self.status.words}",
                           status=str(self.status), to=str(to))  # fmt: skip
        if to is SendBackTo.BORROWER:
            self.require_assigned_cx(any_application=any_application)
        else:
            self.require_assigned_sm(any_sanction=any_sanction)
        target = check_transition(self.status, S.ONBOARDING if to is SendBackTo.BORROWER else S.PENDING)
        self._emit(SentBack, status=target, reason=reason, to=to, step=step, sent_back_on=today)

    def escalate(
        self, reason: str, *, automatic: bool = False, today: date | None = None, any_sanction: bool = False
    ) -> None:
        """Escalate a CX-approved loan to the Sanction Head (an SM's call - the assigned one's when the Sanction Head
        assigned it, `require_assigned_sm` - or the day-long wait's), dated `today` (the brand's business date); 409
        when it is not waiting for its sanction or is escalated already."""
        if self.status is not S.CX_APPROVED:
            raise Conflict(f"only a CX-approved loan can be escalated; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        if self.escalation is not None:
            raise Conflict("the loan is escalated already", escalation=self.escalation)
        self.require_assigned_sm(any_sanction=any_sanction)
        self._emit(Escalated, reason=reason, automatic=automatic, escalated_on=today)

    def assign_sanction(self, staff_id: UUID, reason: str, today: date | None = None) -> None:
        """The Sanction Head gives a CX-approved loan to a Sanction Manager (handling its escalation, if any), dated
        `today` (the brand's business date)."""
        if self.status is not S.CX_APPROVED:
            raise Conflict(f"only a CX-approved loan can be assigned for sanction; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        if self.sanction_assignee == staff_id and self.escalation is None:
            raise Conflict("the loan is assigned to that Sanction Manager already", staff_id=str(staff_id))
        self._emit(SanctionAssigned, staff_id=staff_id, reason=reason, sanction_assigned_on=today)

    def sanction(
        self,
        sanctioned_amount: Decimal,
        pricing: Pricing,
        terms: LoanTerms,
        instalment: Decimal,
        remarks: str,
        today: date | None = None,
        *,
        one_person_may_decide: bool = False,
        any_sanction: bool = False,
    ) -> None:
        """The SM sanctions the final amount with its pricing (the application prices it): sm_approved, dated `today`
        (the brand's business date); the assigned SM's when the Sanction Head assigned it (`require_assigned_sm`).
        The staff member who CX-approved it may not sanction it too unless `one_person_may_decide` (an admin, who
        holds every permission and may give them)."""
        if self.status is not S.CX_APPROVED or self.cx_approved_amount is None:
            raise Conflict(f"only a CX-approved loan can be sanctioned; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        self.require_assigned_sm(any_sanction=any_sanction)
        actor = current_actor()
        if not one_person_may_decide and actor.startswith("staff:") and actor == getattr(self, "cx_approved_by", None):
            # The sanction is the second of two approvals (the spec's "second and final internal approval"): a staff
            # member holding both LOANS and SANCTION_MANAGER (a Sanction Manager, an admin) who approved it as the
            # CX would else be both. Integrations (API keys) and jobs are not people and are left to their owners.
            raise SecondApproverRequired(
                "you approved this loan as the CX: another Sanction Manager must sanction it (or send it back)",
                status=str(self.status),
                cx_approved_by=actor,
                rule="second_approver",
            )
        if pricing.sanctioned != sanctioned_amount or terms.principal != sanctioned_amount:
            raise Conflict("the pricing is not of the sanctioned amount", sanctioned=str(sanctioned_amount))
        target = check_transition(self.status, S.SM_APPROVED)
        self._emit(
            Sanctioned,
            status=target,
            reason=f"sanctioned {sanctioned_amount}: {remarks}",
            requested_amount=self.amount,
            cx_approved_amount=self.cx_approved_amount,
            sanctioned_amount=sanctioned_amount,
            pricing=pricing,
            terms=terms,
            instalment=instalment,
            remarks=remarks,
            sanctioned_on=today,
        )

    def reactivate(self, reason: str, today: date | None = None) -> None:
        """LOAN_REACTIVATE: a rejected or cancelled loan back to pending, `reason` being the recorded approval, dated
        `today` (the brand's business date)."""
        if self.status not in (S.REJECTED, S.CANCELLED):
            raise Conflict(f"only a rejected or cancelled loan can be reactivated; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        if self.submitted_on is None:
            raise Conflict("an application never submitted through the BRE cannot be reactivated to pending")
        target = check_transition(self.status, S.PENDING)
        self._emit(Reactivated, status=target, reason=reason, previous_status=self.status, reactivated_on=today)

    def require_product_changeable(self, *, any_sanction: bool = False) -> None:
        """409 naming the status unless the application is open and not yet sanctioned (PRODUCT_CHANGEABLE); at the
        sanction step (cx_approved) the change is the assigned SM's when the Sanction Head assigned it, or anyone's
        with `any_sanction` (`require_assigned_sm`): it sends the loan back to the CX, undoing the SM's decision."""
        if self.status not in PRODUCT_CHANGEABLE:
            raise Conflict(f"the product of a loan can be changed only before the sanction (onboarding, pending or "
                           f"CX-approved); this one is {self.status.words}", status=str(self.status))  # fmt: skip
        # Before the CX approval the change is no CX's work (LOAN_RULE_TYPE is the SM's, so that whoever approves
        # did not pick the product) and no SM decides yet: no assignment rule holds there.
        if self.status is S.CX_APPROVED:
            self.require_assigned_sm(any_sanction=any_sanction)

    def change_product(self, change: ProductChange, reason: str, today: date, *, any_sanction: bool = False) -> None:
        """Move the application to `change`'s product version, amount and tenure (LOAN_RULE_TYPE). Once submitted the
        new product's BRE results decide as a submission's do: pending (back in the CX's queue, a CX approval not
        carried over) or rejected by the BRE (overridable, dated `today`: the brand's business date); before
        submission the status stays onboarding. A cx_approved loan the Sanction Head assigned is its SM's to change
        (`require_product_changeable`)."""
        self.require_product_changeable(any_sanction=any_sanction)
        if (change.product_id, change.product_version, change.amount, change.tenure, change.coupon_code) == (
            self.product_id, self.product_version, self.amount, self.tenure, self.coupon_code
        ):  # fmt: skip
            raise Conflict("the application already has this product version, amount, tenure and coupon",
                           product_id=str(change.product_id))  # fmt: skip
        if (self.status is not S.ONBOARDING) != (change.results is not None):
            raise Conflict("a submitted application's BRE must be re-run for the new product (and only then)")
        target = self.status
        if change.results is not None:
            wanted = S.PENDING if change.passed else S.REJECTED
            target = wanted if wanted is self.status else check_transition(self.status, wanted)
        self._emit(
            ProductChanged,
            status=target,
            reason=reason,
            previous_status=self.status,
            previous_product_id=self.product_id,
            previous_product_version=self.product_version,
            previous_amount=self.amount,
            previous_tenure=self.tenure,
            **{name: getattr(change, name) for name in ProductChange.model_fields},
            rejected_on=today if target is S.REJECTED and self.status is not S.REJECTED else None,
            product_changed_on=today,
        )

    @property
    def amounts(self) -> dict[str, Decimal | None]:
        """The three amounts of the decision: requested, CX-approved, sanctioned (None until decided)."""
        return {"requested": self.amount, "cx_approved": self.cx_approved_amount, "sanctioned": self.sanctioned_amount}
