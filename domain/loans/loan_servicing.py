"""The Loan's servicing commands (issue #15): open servicing at disbursal, record and reverse repayments, close
business days (COB). A mixin of `domain.loans.loan.Loan`; the events are `domain/loans/servicing_events.py`.

The loan's facts are its payments, its reversals and how far COB has run (`cob_through`); its position — what each
instalment owes and has paid, penal charges, DPD, the class — is always `replay.replay` of those facts on the
schedule fixed at disbursal (docs/lending.md, "Order of facts"), so a back-dated payment or a reversal recomputes
everything from its date. The status stays the Loan's one source of truth: every command that moves it records the
new status with a reason on its event (`servicing_status` of the replayed position on the business date).
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from domain.loans.overdue import days_past_due, next_asset_class
from domain.loans.payments import (
    Allocation,
    LaterPaymentAbovePayoff,
    PaymentAbovePayoff,
    PaymentOnCompletedLoan,
    PayoffQuote,
    payoff,
)
from domain.loans.position import AssetClass, LoanPosition, open_position
from domain.loans.pricing import Pricing
from domain.loans.replay import Fact, PaymentMade, PaymentReversed, PenalWaived, Replayed, replay
from domain.loans.schedule import Schedule
from domain.loans.servicing_events import (
    AllocationRecord,
    DayClosed,
    NoDue,
    NoDueCertificateIssued,
    PaymentMode,
    PaymentRecord,
    Reallocation,
    RepaymentRecorded,
    RepaymentReversed,
    ServicingOpened,
    StatusMoved,
    WithdrawnNoDue,
)
from domain.loans.states import SERVICING, LoanStatus, check_transition, servicing_status
from domain.loans.terms import PenalTerms
from domain.shared.errors import Conflict, Gone, InvalidValue, NotFound

S = LoanStatus


class RepaymentNotFound(NotFound):
    """No repayment of the loan has that id."""


class NoDueCertificateWithdrawn(Gone):
    """Raised when a loan's no-due certificate is asked for while the loan has none because the reversal of a payment
    re-opened it and withdrew the certificate its closure was issued (a new one comes with its next closure)."""

    def __init__(self, withdrawn: WithdrawnNoDue, status: LoanStatus) -> None:
        certificate = withdrawn.certificate
        again = "; a new one is issued when it is completed again" if status.servicing else ""
        super().__init__(
            f"the no-due certificate {certificate.verification_code} of the closure on "
            f"{certificate.closed_on.isoformat()} was withdrawn on {withdrawn.withdrawn_on.isoformat()}: the payment "
            f"{withdrawn.payment_id} was reversed ({withdrawn.reason}) and the loan is {status.words}, so it has no "
            f"no-due certificate now{again}",
            verification_code=certificate.verification_code,
            closed_on=certificate.closed_on.isoformat(),
            withdrawn_on=withdrawn.withdrawn_on.isoformat(),
            payment_id=withdrawn.payment_id,
            status=str(status),
        )
        self.withdrawn = withdrawn
        self.status = status


class LoanServicing:
    """Schedule, payments, reversals and COB days of a disbursed Loan."""

    # Defaults for loans that have not been disbursed (immutable values: events replace them, never mutate).
    servicing_schedule: Schedule | None = None
    penal_terms: PenalTerms | None = None
    servicing_facts: tuple[Fact, ...] = ()
    payments: dict[str, PaymentRecord] = {}  # noqa: RUF012 - replaced whole by each event, never mutated
    cob_through: date | None = None
    no_due: NoDue | None = None  # the certificate of the loan's current closure (None while it owes)
    no_dues_withdrawn: tuple[WithdrawnNoDue, ...] = ()  # the certificates reversals withdrew, oldest first

    if TYPE_CHECKING:
        id: UUID
        status: LoanStatus
        loan_number: str
        sanction_pricing: Pricing | None
        disbursed_on: date | None

        def _emit(self, event_class: type[Any], **kwargs: Any) -> None: ...

    # Reading ---------------------------------------------------------------------------------------------------

    @property
    def servicing_open(self) -> bool:
        """Whether the loan was disbursed and its schedule fixed."""
        return self.servicing_schedule is not None

    def _require_servicing(self, doing: str) -> Schedule:
        if self.servicing_schedule is None:
            raise Conflict(f"cannot {doing}: the loan has not been disbursed", status=str(self.status))
        return self.servicing_schedule

    def opening_position(self) -> LoanPosition:
        """The position on the disbursal date: every instalment due, nothing paid."""
        schedule = self._require_servicing("read the position")
        return open_position(schedule, self.penal_terms or PenalTerms(), self.sanction_pricing)

    def replayed(self, facts: tuple[Fact, ...] | None = None, through: date | None = None) -> Replayed:
        """The position rebuilt from the facts (these ones, or the loan's) with COB run through `through` (or as
        far as it ran)."""
        return replay(
            self.opening_position(),
            self.servicing_facts if facts is None else facts,
            closed_through=self.cob_through if through is None else through,
        )

    def payoff_quote(self, as_of: date) -> PayoffQuote:
        """The payoff on `as_of`: the payments made up to that day (and not reversed) replayed, the days before
        it closed; zero once the loan is completed by then. InvalidValue before the disbursal date."""
        schedule = self._require_servicing("quote a payoff")
        if as_of < schedule.disbursed_on:
            raise InvalidValue("as_of", f"is before the disbursal on {schedule.disbursed_on.isoformat()}")
        standing = tuple(f for f in self.servicing_facts if not (isinstance(f, PaymentMade) and f.paid_on > as_of)
                         and not (isinstance(f, PenalWaived) and f.on > as_of))  # fmt: skip
        # Replayed up to the last of them; `payoff` closes the days from there to `as_of` (in stretches).
        position = replay(self.opening_position(), standing).position
        if position.completed:
            return _zero_quote(position, as_of)
        return payoff(position, as_of)

    # Commands --------------------------------------------------------------------------------------------------

    def open_servicing(self, schedule: Schedule, penal: PenalTerms) -> None:
        """Fix the schedule (built on the disbursal date with the brand's calendar) and the penal terms."""
        if self.servicing_open:
            raise Conflict("the loan's servicing is already open")
        if self.status is not S.ACTIVE or self.disbursed_on is None:
            raise Conflict(
                f"only a disbursed loan is serviced; this one is {self.status.words}", status=str(self.status)
            )
        self._emit(ServicingOpened, schedule=schedule, penal=penal)

    def record_repayment(
        self,
        payment_id: str,
        amount: Decimal,
        mode: PaymentMode,
        reference: str,
        paid_on: date,
        business_date: date,
    ) -> PaymentRecord:
        """Record a repayment received on `paid_on` (not after the business date, not before disbursal); 409 for a
        reference already recorded, 422 (PaymentAbovePayoff, nothing recorded) above the payoff."""
        schedule = self._require_servicing("record a repayment")
        if self.status not in SERVICING and self.status is not S.COMPLETED:
            raise Conflict(f"cannot record a repayment on a loan that is {self.status.words}", status=str(self.status))
        if any(p.reference == reference for p in self.payments.values()):
            raise Conflict("a repayment with this reference is already recorded", reference=reference)
        if paid_on > business_date:
            raise InvalidValue("paid_on", f"is after the business date {business_date.isoformat()}")
        if paid_on < schedule.disbursed_on:
            raise InvalidValue("paid_on", f"is before the disbursal on {schedule.disbursed_on.isoformat()}")
        if self.status is S.COMPLETED:
            raise PaymentOnCompletedLoan(amount, self.replayed().position.closed_on)
        after = self.replayed_with(PaymentMade(payment_id, amount, paid_on))  # 422 when it does not fit
        # Dated before a payment or waiver already recorded, it changes how the later payments are applied.
        back_dated = any(
            (f.on if isinstance(f, PenalWaived) else f.paid_on) > paid_on
            for f in self.servicing_facts
            if isinstance(f, PaymentMade | PenalWaived)
        )
        allocation = dict(after.allocations)[payment_id]
        left = self._left_after(after, amount, business_date)
        record = PaymentRecord(
            payment_id=payment_id,
            amount=amount,
            mode=mode,
            reference=reference,
            paid_on=paid_on,
            recorded_on=business_date,
            allocation=_records(allocation),
            closes_loan=allocation.closes_loan,
            payoff_after=left,
        )
        status = self._next_status(after.position, business_date)
        self._emit(
            RepaymentRecorded,
            status=status,
            reason=f"repayment {amount} ({mode} {reference}) paid on {paid_on.isoformat()}",
            payment=record,
            principal_interest_paid=after.principal_interest_paid,
            reallocated=_reallocated(self.replayed(), after) if back_dated else (),
            **self._standing(after.position, business_date),
        )
        return record

    def reverse_repayment(self, payment_id: str, reason: str, business_date: date) -> None:
        """Reverse a recorded repayment with a reason: what it paid re-opens, DPD and charges recomputed from its
        date. 404 for an unknown repayment, 409 when it is already reversed."""
        self._require_servicing("reverse a repayment")
        payment = self.payments.get(payment_id)
        if payment is None:
            raise RepaymentNotFound(f"repayment {payment_id} not found", id=payment_id)
        if payment.reversed_on is not None:
            raise Conflict("the repayment is already reversed", reversed_on=payment.reversed_on.isoformat())
        before = self.replayed()
        after = self.replayed((*self.servicing_facts, PaymentReversed(payment_id)))
        status = self._next_status(after.position, business_date)
        # Re-opened, the loan owes again: its no-due certificate is withdrawn (RepaymentReversed.apply).
        withdrawn = self.no_due.verification_code if self.no_due is not None and status is not S.COMPLETED else None
        self._emit(
            RepaymentReversed,
            status=status,
            reason=reason,
            payment_id=payment_id,
            reversed_on=business_date,
            amount=payment.amount,
            principal_interest_paid=after.principal_interest_paid,
            reallocated=_reallocated(before, after),
            **self._standing(after.position, business_date),
            no_due_withdrawn=withdrawn,
        )

    def close_business_day(self, day: date) -> bool:
        """COB: close every day through `day`. False, recording nothing, when already closed through it (a rerun),
        when the loan is not being serviced (completed, or not disbursed), or on a quiet day (nothing overdue, no
        charge, no move of state or class: `cob_through` is then the last day COB recorded something)."""
        if not self.servicing_open or self.status not in SERVICING:
            return False
        if self.cob_through is not None and day <= self.cob_through:
            return False
        if day < self.servicing_schedule.disbursed_on:  # type: ignore[union-attr]
            return False  # a date before the loan existed (COB catching up on missed dates)
        before = self.replayed()
        if day < before.position.closed_through:
            return False
        after = _closed_on(before, day)
        earlier = self.cob_through or (self.servicing_schedule.disbursed_on - timedelta(days=1))  # type: ignore[union-attr]
        charged = sum((c.amount for c in after.charges if c.day > earlier), Decimal("0.00"))
        dpd = days_past_due(after.position, day)
        asset_class = str(after.position.asset_class)
        status = self._next_status(after.position, day)
        if (
            not charged
            and not dpd
            and status is self.status
            and after.position.asset_class == before.position.asset_class
        ):
            # A quiet day (most loans, most days): nothing overdue, nothing charged, nothing moved - nothing recorded.
            # Its replay is the same whether or not it is recorded, so a rerun or a resumed partition changes nothing.
            return False
        self._emit(DayClosed, business_date=day, penal_charged=charged, dpd=dpd, asset_class=asset_class)
        if status is not self.status:
            reason = f"close of business {day.isoformat()}: DPD {dpd}, {asset_class}"
            self._emit(StatusMoved, status=status, reason=reason, dpd=dpd, asset_class=asset_class, status_moved_on=day)
        return True

    def cob_quiet_until(self, day: date) -> date | None:
        """After COB closed `day` on this loan: the last business date through which `close_business_day` records
        nothing as long as no other event is recorded on the loan, so the COB may pass it over (workers/loan_cob.py);
        None when the next date must be looked at (overdue, a class other than standard, a charge not yet recorded,
        a state to move, not serviced).

        Quiet until the oldest unpaid instalment's due date: until then nothing is overdue, so no day charges, DPD
        stays 0, the class standard and the state what the payments left (a back-dated payment or a reversal is a
        new event, which ends the promise)."""
        if not self.servicing_open or self.status not in (S.ACTIVE, S.PARTIALLY_PAID):
            return None
        before = self.replayed()
        if before.position.asset_class is not AssetClass.STANDARD:
            return None
        after = _closed_on(before, max(day, self.cob_through or day))
        position = after.position
        oldest = position.first_unsettled
        if position.completed or position.asset_class is not AssetClass.STANDARD or oldest is None:
            return None
        earlier = self.cob_through or (self.servicing_schedule.disbursed_on - timedelta(days=1))  # type: ignore[union-attr]
        if any(c.amount for c in after.charges if c.day > earlier):
            return None
        if oldest.due_date <= day or servicing_status(position, day) is not self.status:
            return None
        return oldest.due_date

    def closure(self) -> NoDue:
        """The figures of the no-due certificate of the completed loan's current closure (no hash yet): closure
        date, principal disbursed, amount repaid (the payments that stand), the verification code (from the loan id,
        the date and - from the second closure on, after a reversal re-opened the loan - the closure's number, so no
        two certificates of a loan share a code). 409 for a loan not completed; 410 (NoDueCertificateWithdrawn) for
        one whose certificate a reversal withdrew."""
        position = self.replayed().position
        if position.closed_on is None or self.status is not S.COMPLETED:
            if self.no_dues_withdrawn:
                raise NoDueCertificateWithdrawn(self.no_dues_withdrawn[-1], self.status)
            raise Conflict(f"a no-due certificate needs a completed loan; this one is {self.status.words}",
                           status=str(self.status))  # fmt: skip
        closure_no = len(self.no_dues_withdrawn) + 1
        key = f"{self.id}:{position.closed_on.isoformat()}" + (f":{closure_no}" if closure_no > 1 else "")
        code = hashlib.sha256(key.encode()).hexdigest()[:12].upper()
        return NoDue(
            sha256="",
            verification_code=f"NDC-{code}",
            closed_on=position.closed_on,
            disbursed=position.schedule.principal,
            repaid=position.paid,
        )

    def issue_no_due_certificate(self, sha256: str) -> bool:
        """Record the generated certificate's hash, once per closure (False, nothing recorded, when the current
        closure's is already issued; a reversal that re-opens the loan withdraws it, and the next closure is issued
        its own). 409 / 410 as `closure`."""
        if self.no_due is not None:
            return False
        figures = self.closure()
        self._emit(NoDueCertificateIssued, **figures.model_dump(exclude={"sha256"}), sha256=sha256)
        return True

    # Helpers ---------------------------------------------------------------------------------------------------

    def replayed_with(self, payment: PaymentMade) -> Replayed:
        """The loan's facts replayed with a new `payment` (not recorded). PaymentAbovePayoff (422) when it is above
        the payoff of its day; LaterPaymentAbovePayoff (422) when, back-dated, it fits its own day but leaves a
        payment recorded after it above that one's day's payoff: the refusal names the payment asked for, not only
        the figures of the later one, which the replay refused."""
        try:
            return self.replayed((*self.servicing_facts, payment))
        except PaymentAbovePayoff as refused:
            if refused.payment_id is None or refused.payment_id == payment.payment_id:
                raise
            raise LaterPaymentAbovePayoff(payment.amount, payment.paid_on, refused) from None

    def position_after(self, position: LoanPosition, day: date) -> LoanPosition:
        """`position` with the days before `day` closed (on a copy)."""
        if day > position.open_day and not position.completed:
            return replay(position, (), closed_through=day - timedelta(days=1)).position
        return position

    def _standing(self, position: LoanPosition, as_of: date) -> dict[str, Any]:
        """DPD and class on `as_of` (the business date), as the loan's view computes them: what the read model
        shows beside the status a payment or reversal leaves, until the next close of business."""
        if position.completed:
            return {"dpd": 0, "asset_class": str(AssetClass.STANDARD)}
        on = self.position_after(position, max(as_of, position.open_day))
        return {"dpd": days_past_due(on, as_of), "asset_class": str(next_asset_class(on.asset_class, on, as_of))}

    def _left_after(self, after: Replayed, amount: Decimal, business_date: date) -> Decimal:
        """What the loan owes once a payment of `amount` is applied (`after`): the payoff on the business date (the
        receipt's "outstanding after it")."""
        if after.position.completed:
            return Decimal("0.00")
        on = max(business_date, after.position.open_day)
        return payoff(self.position_after(after.position, on), on).total

    def _next_status(self, position: LoanPosition, as_of: date) -> LoanStatus:
        target = servicing_status(position, as_of)
        return target if target is self.status else check_transition(self.status, target)


def _closed_on(before: Replayed, day: date) -> Replayed:
    """`loan.replayed(through=day)` from `before` = `loan.replayed()` (the same facts, closed less far): the days
    after `before` closed on it, its charges added (closing days in two steps gives what one step gives)."""
    extra = replay(before.position, (), closed_through=day)
    return Replayed(position=extra.position, allocations=before.allocations, charges=before.charges + extra.charges)


def _zero_quote(position: LoanPosition, as_of: date) -> PayoffQuote:
    zero = Decimal("0.00")
    return PayoffQuote(
        as_of=as_of,
        overdue_penal=zero,
        overdue_interest=zero,
        overdue_principal=zero,
        principal_not_due=zero,
        accrued_interest=zero,
        interest_paid_ahead=zero,
        current_instalment=None,
    )


def _records(allocation: Allocation) -> tuple[AllocationRecord, ...]:
    """An allocation as the events record it."""
    return tuple(
        AllocationRecord(no=line.no, penal=line.penal, interest=line.interest, principal=line.principal)
        for line in allocation.lines
    )


def _reallocated(before: Replayed, after: Replayed) -> tuple[Reallocation, ...]:
    """The payments standing in both replays that `after` applies differently, as it applies them."""
    was = dict(before.allocations)
    return tuple(
        Reallocation(payment_id=payment_id, allocation=_records(allocation))
        for payment_id, allocation in after.allocations
        if payment_id in was and was[payment_id].lines != allocation.lines
    )
