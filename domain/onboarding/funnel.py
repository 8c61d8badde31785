"""The onboarding funnel of one borrower in one brand: each step recorded with when, in the funnel's order,
redone at will, reopened by a send-back, closed by the inactivity job or by staff, restarted for a new application
once the last one ended without a loan (domain/onboarding/reapply.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from domain.onboarding.attribution import Attribution
from domain.onboarding.steps import STEPS, FunnelRules, Step
from domain.shared.aggregate import Aggregate, current_actor
from domain.shared.clock import business_date
from domain.shared.errors import Conflict

#: How a close tells the application it cancels why (`Loan.Cancelled.reason`: this, then the close's reason), the
#: actor being the close's: the loans context's record of which cancels were a close's, by which the reconciliation
#: finds a funnel left open over one (`OnboardingQueries.unfinished_closes`, `Onboarding.finish_close`).
CLOSED_ONBOARDING = "the onboarding was closed: "
#: The loan request detail naming the re-loan offer whose application the funnel's loan request is
#: (`Funnel.take_offer`): its product, amount and tenure are the offer's, not the borrower's to redo.
RELOAN_OFFER_ID = "reloan_offer_id"
#: Why a re-loan offer's loan request is not sent back (the borrower could never redo it, so never submit again).
OFFER_REQUEST_KEPT = (
    "the loan request is the re-loan offer the borrower accepted: its amount and tenure are the offer's and the "
    "borrower cannot redo it; send back the submitted step with what you need"
)


class FunnelStatus(StrEnum):
    """Where the funnel stands."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


class LinkedBy(StrEnum):
    """How the funnel found its Customer 360 record."""

    PHONE = "phone"
    PAN = "pan"
    CREATED = "created"


class Funnel(Aggregate):
    """A borrower's funnel; its id (`funnel_id(account_id)`) is the borrower's id. `done` holds each finished step
    and when."""

    id: UUID

    class Started(Aggregate.Created):
        """The phone was verified: the funnel starts with its mobile step done."""

        brand_id: UUID
        account_id: UUID
        phone: str
        at: datetime
        next_step: Step | None

    class StepRecorded(Aggregate.Event):
        """A step was recorded (or redone); `first` when the funnel reached it for the first time. `on` is the brand's
        business date then (None on events stored before it was recorded, and on a submission recorded without the
        brand's rules: the date of `at` in the brand's timezone stands in)."""

        step: Step
        details: dict[str, Any]
        at: datetime
        first: bool
        next_step: Step | None
        on: date | None = None

    class StepReopened(Aggregate.Event):
        """Staff sent a step back: it must be done again."""

        step: Step
        reason: str
        at: datetime
        next_step: Step | None

    class CustomerLinked(Aggregate.Event):
        """The funnel's Customer 360 record: found by phone or PAN, or created at the personal step."""

        customer_id: UUID
        linked_by: LinkedBy
        at: datetime

    class Closed(Aggregate.Event):
        """The funnel was closed as rejected: by the inactivity job (`actor` `job:onboarding-inactive`) or by staff
        (`staff:<id>`, `apikey:<id>`); `on` is the brand's business date then, from which the rejection cooldown
        counts (None on events stored before it was recorded: the date of `at` in the brand's timezone stands in)."""

        reason: str
        at: datetime
        on: date | None = None

    class Restarted(Aggregate.Event):
        """The borrower started a new application: their last one ended without a loan (`application_id`, rejected
        or cancelled) or their onboarding was closed (`previous_status` rejected), and the brand's rejection cooldown
        is over; or their loan was repaid (their income and bank statement to give again too); or they accepted a
        re-loan offer whose brand asks for updated income and bank data (`loan_request`, the offer's application).
        The steps in `steps` are to do again (the loan request and the submitted step; the KYC steps stay done: the
        record is on file); the funnel is in progress again at `next_step`."""

        previous_status: FunnelStatus
        steps: list[Step]
        at: datetime
        next_step: Step | None
        application_id: UUID | None = None
        #: A re-loan offer the borrower accepted (`Funnel.take_offer`): its application is the funnel's loan request
        #: (these details, as the loan request step records them), to submit once the steps in `steps` are done.
        loan_request: dict[str, Any] | None = None

    class AttributionRecorded(Aggregate.Event):
        """The UTM parameters of the link the borrower signed up by (first touch; docs/leads.md)."""

        attribution: Attribution

    #: The sign-up's UTM attribution (None when the link carried none); set once, by `attribute`.
    attribution: Attribution | None = None
    #: When the funnel was closed as rejected: the brand's business date then (None while it is not closed, and on a
    #: funnel closed before the date was recorded: `closed_at` then says when).
    closed_on: date | None = None
    closed_at: datetime | None = None
    #: Who closed it, as its `Closed` event records the actor (`staff:<id>`, `apikey:<id>`, `job:<name>`); None while
    #: it is not closed.
    closed_by: str | None = None
    #: How many times the borrower started a new application after the first.
    restarts: int = 0

    def attribute(self, attribution: Attribution) -> bool:
        """Keep the first attribution the borrower came with; later ones change nothing."""
        if self.attribution is not None:
            return False
        self._attributed(attribution=attribution)
        return True

    @event(AttributionRecorded)
    def _attributed(self, attribution: Attribution) -> None:
        self.attribution = attribution

    @event(Started)
    def __init__(self, brand_id: UUID, account_id: UUID, phone: str, at: datetime, next_step: Step | None) -> None:
        self.brand_id = brand_id
        self.account_id = account_id
        self.phone = phone
        self.started_at = at
        self.touched_at = at
        self.done: dict[Step, datetime] = {Step.MOBILE: at}
        # The brand's business date each step was last recorded on, where its event says (`StepRecorded.on`): a brand
        # held at a configured date, or moved on by the close of business before midnight, is on another day than the
        # wall clock.
        self.done_on: dict[Step, date] = {}
        self.reached: set[Step] = {Step.MOBILE}
        self.details: dict[Step, dict[str, Any]] = {}
        self.customer_id: UUID | None = None
        self.sent_back: dict[Step, str] = {}  # steps staff sent back, and why (until redone)
        self.status = FunnelStatus.IN_PROGRESS
        self.reason: str | None = None

    def given_on(self, step: Step, timezone: str) -> date | None:
        """The brand's business date `step` was last done on (None while it is not done): as its event recorded it,
        else the date it was done in the brand's `timezone`."""
        at = self.done.get(step)
        if at is None:
            return None
        return self.done_on.get(step) or business_date(at, timezone)

    def next_step(self, rules: FunnelRules) -> Step | None:
        """The first required step not done (None when everything is)."""
        return next((s for s in rules.required() if s not in self.done), None)

    def missing(self, rules: FunnelRules) -> list[Step]:
        """Every required step not done, in order."""
        return [s for s in rules.required() if s not in self.done]

    def _require_open(self) -> None:
        if self.status is FunnelStatus.REJECTED:
            raise Conflict(f"this onboarding was closed: {self.reason}", status=self.status.value)
        if self.status is FunnelStatus.COMPLETED:
            raise Conflict("this onboarding was submitted; it can no longer change", status=self.status.value)

    def require_can_record(self, step: Step, rules: FunnelRules) -> None:
        """Refuse (409 naming the step to do first) unless the funnel is open and every required step before
        `step` is done."""
        self._require_open()
        if step is Step.MOBILE:
            raise Conflict("the mobile step is done by signing in")
        before = [s for s in rules.required() if s.position < step.position and s not in self.done]
        if before:
            raise Conflict(f"finish the {before[0].value} step first", next_step=before[0].value)

    def record(self, step: Step, details: dict[str, Any], rules: FunnelRules, at: datetime) -> None:
        """Record `step` once every required step before it is done (409 naming the step to do first)."""
        self.require_can_record(step, rules)
        done = {**self.done, step: at}
        required = rules.required()
        upcoming = next((s for s in required if s not in done), None)
        self._step_recorded(
            step=step, details=details, at=at, first=step not in self.reached, next_step=upcoming, on=rules.today(at)
        )

    def record_submission(self, details: dict[str, Any], at: datetime) -> None:
        """Record the submitted step of an application the loans context has submitted already (the borrower's submit
        whose funnel save lost a race, or the job's reconciliation of an application submitted on the loan): the
        submission happened, so only an open funnel is asked for (409 when closed or submitted), not the order of its
        steps - a step sent back at that moment is for the application's own send-back now. The funnel is finished."""
        self._require_open()
        self._step_recorded(
            step=Step.SUBMITTED, details=details, at=at, first=Step.SUBMITTED not in self.reached, next_step=None
        )

    @event(StepRecorded)
    def _step_recorded(
        self,
        step: Step,
        details: dict[str, Any],
        at: datetime,
        first: bool,
        next_step: Step | None,
        on: date | None = None,
    ) -> None:
        self.done[step] = at
        if on is None:
            self.done_on.pop(step, None)
        else:
            self.done_on[step] = on
        self.sent_back.pop(step, None)
        self.reached.add(step)
        self.details[step] = details
        self.touched_at = at
        if step is Step.SUBMITTED:
            self.status = FunnelStatus.COMPLETED

    def reopen(self, step: Step, reason: str, rules: FunnelRules, at: datetime) -> None:
        """Send a done step back to the borrower. A submitted funnel reopens too when its application is sent back to
        the borrower (the loans context's send back): the step - or the submitted step itself - is to do again, and
        the borrower submits the same application again. A re-loan offer's loan request is not sent back (409
        `OFFER_REQUEST_KEPT`): the borrower cannot redo it (`Onboarding.apply`), so could never submit again."""
        if self.status is FunnelStatus.REJECTED:
            self._require_open()
        if self.status is not FunnelStatus.COMPLETED and step is Step.SUBMITTED:
            raise Conflict("the submitted step is not done, so it cannot be sent back", step=step.value)
        if step not in self.done or step is Step.MOBILE:
            raise Conflict(f"the {step.value} step is not done, so it cannot be sent back", step=step.value)
        if step is Step.LOAN_REQUEST and (self.details.get(Step.LOAN_REQUEST) or {}).get(RELOAN_OFFER_ID):
            raise Conflict(OFFER_REQUEST_KEPT, step=step.value)
        done = {s: t for s, t in self.done.items() if s not in (step, Step.SUBMITTED)}
        upcoming = next((s for s in rules.required() if s not in done), None)
        self._step_reopened(step=step, reason=reason, at=at, next_step=upcoming)

    @event(StepReopened)
    def _step_reopened(self, step: Step, reason: str, at: datetime, next_step: Step | None) -> None:
        self.done.pop(step, None)
        self.done.pop(Step.SUBMITTED, None)  # a reopened funnel is submitted again
        self.sent_back[step] = reason
        self.touched_at = at
        self.status = FunnelStatus.IN_PROGRESS

    def link_customer(self, customer_id: UUID, linked_by: LinkedBy, at: datetime) -> None:
        """Remember the Customer 360 record (once)."""
        if self.customer_id != customer_id:
            self._customer_linked(customer_id=customer_id, linked_by=linked_by, at=at)

    @event(CustomerLinked)
    def _customer_linked(self, customer_id: UUID, linked_by: LinkedBy, at: datetime) -> None:
        self.customer_id = customer_id

    def require_closable(self) -> None:
        """Refuse (409) to close a funnel that is not in progress: closed already (with its reason), or submitted (its
        application is the credit team's now: cancelled or rejected there, not here). The problem says the funnel's
        state twice: `funnel_status` (the close's own contract) and `current_status`, as every other refusal of the
        funnel says it (a `status` detail, which the problem renames: its own `status` is the HTTP one)."""
        if self.status is FunnelStatus.REJECTED:
            raise Conflict(
                f"this onboarding is closed already: {self.reason}",
                funnel_status=self.status.value,
                status=self.status.value,
                reason=self.reason,
            )
        if self.status is FunnelStatus.COMPLETED:
            raise Conflict(
                "this onboarding was submitted, so it is not closed here: cancel or reject its application instead",
                funnel_status=self.status.value,
                status=self.status.value,
            )

    def close(self, reason: str, at: datetime, on: date | None = None) -> None:
        """Close an unfinished funnel as rejected (`on`: the brand's business date, whence the cooldown counts); the
        close records who closed it (the event's actor)."""
        self.require_closable()
        self._closed(reason=reason, at=at, on=on, actor=current_actor())

    @event(Closed)
    def _closed(self, reason: str, at: datetime, on: date | None = None, *, actor: str) -> None:
        self.status = FunnelStatus.REJECTED
        self.reason = reason
        self.touched_at = at
        self.closed_at = at
        self.closed_on = on
        self.closed_by = actor

    def restart(
        self,
        rules: FunnelRules,
        at: datetime,
        application_id: UUID | None,
        keep_loan_request: bool = False,
        again: Sequence[Step] = (),
    ) -> None:
        """Open a finished funnel (submitted, or closed as rejected) for a new application: the loan request and the
        submitted steps are to do again, and `again` (a re-loan's income and bank statement), every other step done
        stays done. `keep_loan_request` when the funnel's application is still in onboarding (a funnel closed before
        a close cancelled its application): the borrower submits that one.
        Whether the borrower may (their last application ended, the cooldown is over) is `reapply.standing`'s."""
        if self.status is FunnelStatus.IN_PROGRESS:
            raise Conflict("your onboarding is in progress: continue it", status=self.status.value)
        steps = [Step.SUBMITTED] if keep_loan_request else [Step.LOAN_REQUEST, Step.SUBMITTED]
        steps = [*(s for s in again if s not in steps), *steps]
        done = {s: t for s, t in self.done.items() if s not in steps}
        upcoming = next((s for s in rules.required() if s not in done), None)
        self._restarted(
            previous_status=self.status, steps=steps, at=at, next_step=upcoming, application_id=application_id
        )

    def take_offer(
        self,
        rules: FunnelRules,
        at: datetime,
        loan_request: dict[str, Any],
        again: Sequence[Step],
        previous: UUID | None,
    ) -> None:
        """Open a finished funnel for the application a re-loan offer the borrower accepted started (`loan_request`:
        its details, as the loan request step records them): the steps in `again` (their income and bank statement)
        are to do, then the submitted step submits that application; every other step stays done. `previous` is the
        funnel's last application (the repaid loan). Whether the offer asks again is `reapply.offer_asks_again`'s."""
        if self.status is FunnelStatus.IN_PROGRESS:
            raise Conflict("your onboarding is in progress: continue it", status=self.status.value)
        steps = [*(s for s in again if s is not Step.SUBMITTED), Step.SUBMITTED]
        done = {s: t for s, t in self.done.items() if s not in steps} | {Step.LOAN_REQUEST: at}
        upcoming = next((s for s in rules.required() if s not in done), None)
        self._restarted(
            previous_status=self.status,
            steps=steps,
            at=at,
            next_step=upcoming,
            application_id=previous,
            loan_request=loan_request,
        )

    def take_offer_sent_back(
        self,
        rules: FunnelRules,
        at: datetime,
        loan_request: dict[str, Any],
        step: Step,
        reason: str,
        previous: UUID | None,
    ) -> None:
        """Open a finished funnel for the application a re-loan offer the borrower accepted started, which the loans
        context has sent back to them: no step of the funnel made that application (it went to the BRE at once), so
        the funnel takes it as its loan request (`loan_request`, as `take_offer` records it) and `step` is sent back
        with the reason, as `reopen` sends back a step of the funnel's own application; the submitted step then
        submits that application again. `step` is a done step, or the submitted step; not the mobile step, nor the
        loan request (the offer's: `OFFER_REQUEST_KEPT`). Refused (409) before anything is recorded."""
        if self.status is FunnelStatus.IN_PROGRESS:
            raise Conflict("your onboarding is in progress: continue it", status=self.status.value)
        if step is Step.LOAN_REQUEST:
            raise Conflict(OFFER_REQUEST_KEPT, step=step.value)
        if step is Step.MOBILE or (step is not Step.SUBMITTED and step not in self.done):
            raise Conflict(f"the {step.value} step is not done, so it cannot be sent back", step=step.value)
        self.take_offer(rules, at, loan_request, (), previous)
        done = {s: t for s, t in self.done.items() if s not in (step, Step.SUBMITTED)}
        upcoming = next((s for s in rules.required() if s not in done), None)
        self._step_reopened(step=step, reason=reason, at=at, next_step=upcoming)

    @event(Restarted)
    def _restarted(
        self,
        previous_status: FunnelStatus,
        steps: list[Step],
        at: datetime,
        next_step: Step | None,
        application_id: UUID | None = None,
        loan_request: dict[str, Any] | None = None,
    ) -> None:
        for step in steps:
            self.done.pop(step, None)
            self.sent_back.pop(step, None)
        if loan_request is not None:
            self.done[Step.LOAN_REQUEST] = at
            self.reached.add(Step.LOAN_REQUEST)
            self.details[Step.LOAN_REQUEST] = loan_request
        self.status = FunnelStatus.IN_PROGRESS
        self.reason = None
        self.closed_on = None
        self.closed_at = None
        self.closed_by = None
        self.touched_at = at
        self.restarts += 1


__all__ = ["CLOSED_ONBOARDING", "OFFER_REQUEST_KEPT", "RELOAN_OFFER_ID", "STEPS", "Funnel", "FunnelStatus", "LinkedBy"]
