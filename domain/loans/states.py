"""Loan states (LENDING.md, "Loan states"): the names, the transitions allowed between them, and the servicing
state a position is in on a date.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from domain.loans.overdue import days_past_due
from domain.loans.position import LoanPosition
from domain.shared.errors import Conflict


class LoanStatus(StrEnum):
    """Where a loan is in its life."""

    ONBOARDING = "onboarding"
    PENDING = "pending"
    CX_APPROVED = "cx_approved"
    SM_APPROVED = "sm_approved"
    APPROVED = "approved"
    AWAITING_DISBURSAL = "awaiting_disbursal"
    ACTIVE = "active"
    PARTIALLY_PAID = "partially_paid"
    OVERDUE = "overdue"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    SETTLED = "settled"
    WRITTEN_OFF = "written_off"

    @property
    def words(self) -> str:
        """The status as a message to a person names it (`CX-approved`, `awaiting disbursal`): STATUS_WORDS."""
        return STATUS_WORDS[self]

    @property
    def final(self) -> bool:
        """No transition leaves this state."""
        return not TRANSITIONS[self]

    @property
    def servicing(self) -> bool:
        """Disbursed and not yet closed: repayments, COB and collections apply."""
        return self in SERVICING


S = LoanStatus

#: How every message a person reads names a loan's status (a refusal, a reason): in words, never the code
#: (`cx_approved`). The API's machine-readable fields (`status`, `current`, `allowed`) keep the codes.
STATUS_WORDS: Mapping[LoanStatus, str] = MappingProxyType(
    {
        S.ONBOARDING: "in onboarding",
        S.PENDING: "pending",
        S.CX_APPROVED: "CX-approved",
        S.SM_APPROVED: "sanctioned",
        S.APPROVED: "signed",
        S.AWAITING_DISBURSAL: "awaiting disbursal",
        S.ACTIVE: "active",
        S.PARTIALLY_PAID: "partially paid",
        S.OVERDUE: "overdue",
        S.COMPLETED: "completed",
        S.REJECTED: "rejected",
        S.CANCELLED: "cancelled",
        S.SETTLED: "settled",
        S.WRITTEN_OFF: "written off",
    }
)


def status_words(status: str | None) -> str:
    """A loan status (its code, as a read model keeps it) in words (STATUS_WORDS); another value with its
    underscores as spaces, nothing as `—`."""
    if not status:
        return "—"
    try:
        return STATUS_WORDS[LoanStatus(status)]
    except ValueError:
        return str(status).replace("_", " ")


#: The states of a disbursed loan that is still being repaid.
SERVICING = frozenset({S.ACTIVE, S.PARTIALLY_PAID, S.OVERDUE})
#: SERVICING's codes in the order LoanStatus declares them, `("active", "partially_paid", "overdue")`: what a query's
#: IN list or array parameter and a filter's options are built from (a set has no order; these always the same one).
SERVICING_CODES: tuple[str, ...] = tuple(s.value for s in LoanStatus if s in SERVICING)
#: The states in which money is still taken: a loan being repaid, or one written off - what is received then is a
#: recovery, at most what is left to recover (`Loan.owing`; docs/recoveries.md) - so a payment link may ask for it.
TAKES_MONEY = SERVICING | {S.WRITTEN_OFF}
#: The states that hold no open application or loan (counted neither for `max_active_loans` nor for workload).
CLOSED = frozenset({S.REJECTED, S.CANCELLED, S.COMPLETED, S.SETTLED, S.WRITTEN_OFF})
#: Before disbursement a loan may be cancelled (with a reason) from any of these.
CANCELLABLE = frozenset({S.ONBOARDING, S.PENDING, S.CX_APPROVED, S.SM_APPROVED, S.APPROVED, S.AWAITING_DISBURSAL})
#: The states in which an application is in its credit executive's hands (docs/loans.md, "Assignment and
#: allocation"): `pending` (submitted, or sent back to the CX by the SM) and `onboarding` (sent back to the borrower:
#: the resubmission comes back to the assignee). A departed assignee's applications in these are reassigned.
CX_WORKED = frozenset({S.ONBOARDING, S.PENDING})
#: CX_WORKED's codes in LoanStatus's order (a query's array parameter).
CX_WORKED_CODES: tuple[str, ...] = tuple(s.value for s in LoanStatus if s in CX_WORKED)

#: Every transition allowed, from each state.
TRANSITIONS: Mapping[LoanStatus, frozenset[LoanStatus]] = MappingProxyType(
    {
        # Submitted through the BRE (pending), or refused by it; the borrower or a job may close the funnel.
        S.ONBOARDING: frozenset({S.PENDING, S.REJECTED, S.CANCELLED}),
        # CX approves or rejects, or sends back to the borrower for documents (the funnel step re-opens).
        S.PENDING: frozenset({S.CX_APPROVED, S.REJECTED, S.ONBOARDING, S.CANCELLED}),
        # SM sanctions or rejects, or sends back to the CX.
        S.CX_APPROVED: frozenset({S.SM_APPROVED, S.REJECTED, S.PENDING, S.CANCELLED}),
        # After sanction a loan changes only by signature, disbursement or cancellation.
        S.SM_APPROVED: frozenset({S.APPROVED, S.CANCELLED}),
        S.APPROVED: frozenset({S.AWAITING_DISBURSAL, S.CANCELLED}),
        S.AWAITING_DISBURSAL: frozenset({S.ACTIVE, S.CANCELLED}),
        S.ACTIVE: frozenset({S.PARTIALLY_PAID, S.OVERDUE, S.COMPLETED, S.SETTLED, S.WRITTEN_OFF}),
        S.PARTIALLY_PAID: frozenset({S.ACTIVE, S.OVERDUE, S.COMPLETED, S.SETTLED, S.WRITTEN_OFF}),
        S.OVERDUE: frozenset({S.ACTIVE, S.PARTIALLY_PAID, S.COMPLETED, S.SETTLED, S.WRITTEN_OFF}),
        # Reversing the payment that closed a loan re-opens it.
        S.COMPLETED: frozenset({S.ACTIVE, S.PARTIALLY_PAID, S.OVERDUE}),
        # Reactivation, with a recorded approval.
        S.REJECTED: frozenset({S.PENDING}),
        S.CANCELLED: frozenset({S.PENDING}),
        S.SETTLED: frozenset(),
        S.WRITTEN_OFF: frozenset(),
    }
)


class TransitionNotAllowed(Conflict):
    """Raised when a loan is asked to move between two states that no transition joins."""

    def __init__(self, current: LoanStatus, target: LoanStatus) -> None:
        allowed = sorted(TRANSITIONS[current])
        if allowed:
            reason = f"from {current.words} a loan may go to {', '.join(s.words for s in allowed)}"
        else:
            reason = f"{current.words} is final"
        super().__init__(
            f"a loan cannot go from {current.words} to {target.words}: {reason}",
            current=str(current),
            target=str(target),
            allowed=[str(s) for s in allowed],
        )
        self.current = current
        self.target = target


def can_transition(current: LoanStatus, target: LoanStatus) -> bool:
    """Whether a loan in `current` may move to `target`."""
    return target in TRANSITIONS[current]


def check_transition(current: LoanStatus, target: LoanStatus) -> LoanStatus:
    """`target` when a loan in `current` may move to it; TransitionNotAllowed (409) naming both otherwise."""
    if not can_transition(current, target):
        raise TransitionNotAllowed(current, target)
    return target


def servicing_status(position: LoanPosition, as_of: date) -> LoanStatus:
    """The state a disbursed loan's position puts it in on `as_of`: `completed` when the payoff reached zero,
    `overdue` when DPD > 0, `partially_paid` when a payment left the oldest unpaid instalment part paid, else
    `active`."""
    if position.completed:
        return LoanStatus.COMPLETED
    if days_past_due(position, as_of) > 0:
        return LoanStatus.OVERDUE
    oldest = position.first_unsettled
    if oldest is not None and oldest.paid:
        return LoanStatus.PARTIALLY_PAID
    return LoanStatus.ACTIVE
