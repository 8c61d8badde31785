"""When a borrower whose onboarding is finished may start a new application (spec, brand configuration: "Rejection
Cooldown | 15 days | How many days before a rejected customer can re-apply").

- Their application ended without a loan - `rejected` (by the BRE at submission, or by credit/sanction staff) or
  `cancelled` - or their funnel was **closed as rejected** (by staff, or by the inactivity job).
- Or their loan was **repaid** (`completed`): spec "Step 7 Re-Loan", "after successfully repaying a loan, an
  eligible customer can apply for another loan" - from the day it closed, on any brand, giving their income and
  bank statement again (`REFRESHED`: "only updated income and bank data may be needed"; the KYC stays on file). The brand's `automated_reloan`
  only adds a pre-approved offer on closure; a brand without it (the default) made none, and the borrower was left
  with no way to apply again. The new application's BRE decides whether they are eligible. A loan closed as
  `settled` (less than it owed) or `written_off` was not repaid: no new application online (409 saying so).
- No other application of theirs is open (onboarding, pending, approved, sanctioned, disbursed and being repaid -
  an accepted re-loan offer's too): one must be decided or closed first.
- A closed funnel's application is cancelled by the close (`Onboarding._close`), so the restart puts the loan request
  to do again and the borrower makes a new one. Only a funnel closed before closes cancelled its application still
  has it in onboarding: that one does not count as open, and is kept (`keep_loan_request`) for the borrower to
  submit.
- From `rejected on + rejection_cooldown_days` (the COOLDOWN rule's own arithmetic, `may_apply_again_on`, on the
  borrower's latest rejection as the BRE reads it), and for a closed funnel from its close date + the same days: on
  that day, not before, on the brand's business date. So a restart is never followed by a COOLDOWN failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from domain.loans.bre_checks import may_apply_again_on
from domain.loans.states import LoanStatus
from domain.onboarding.steps import Step
from domain.shared.errors import Conflict

#: How the borrower's own application may have ended for them to apply again.
ENDED_WITHOUT_LOAN = frozenset({LoanStatus.REJECTED.value, LoanStatus.CANCELLED.value})
#: Repaid: the borrower may apply for their next loan (a re-loan) at once.
REPAID = frozenset({LoanStatus.COMPLETED.value})
#: What a re-loan asks again (spec "Faster Processing: KYC data is already on file; only updated income and bank data
#: may be needed"): the income and the bank statement the last loan was decided on are that loan's age.
REFRESHED = (Step.EMPLOYMENT, Step.BANK_STATEMENT)
#: Closed after being disbursed without being repaid, and what the borrower is told (no new application online).
NOT_REPAID = {
    LoanStatus.SETTLED.value: "your last loan was closed as settled, for less than it owed",
    LoanStatus.WRITTEN_OFF.value: "your last loan was written off",
}

_SAYS = {
    "onboarding": "not submitted yet",
    "pending": "being reviewed",
    "cx_approved": "being reviewed",
    "sm_approved": "sanctioned",
    "approved": "signed",
    "awaiting_disbursal": "being disbursed",
    "active": "being repaid",
    "partially_paid": "being repaid",
    "overdue": "being repaid",
}


@dataclass(frozen=True)
class OpenApplication:
    """One of the borrower's applications that is neither closed nor refused."""

    id: UUID
    loan_number: str
    status: str


@dataclass(frozen=True)
class LoanHistory:
    """The borrower's applications as the re-apply rule reads them (the loans context answers it)."""

    open: tuple[OpenApplication, ...] = ()
    last_rejected_on: date | None = None  # the latest rejection in the brand, as the BRE's COOLDOWN reads it


@dataclass(frozen=True)
class Reapply:
    """Whether, and from which day, a borrower whose onboarding is finished may start a new application."""

    today: date
    may_apply_from: date | None  # None while `waiting_for` holds
    waiting_for: str | None = None  # what must happen first (an open application decided or closed)
    # the closed funnel's own application is still in onboarding (closed before closes cancelled it): submit that one
    keep_loan_request: bool = False
    # the steps to give again besides the loan request: after a repaid loan, `REFRESHED` (a re-loan)
    again: tuple[Step, ...] = ()

    @property
    def allowed(self) -> bool:
        """The borrower may start again today."""
        return self.waiting_for is None and self.may_apply_from is not None and self.may_apply_from <= self.today

    def refusal(self) -> Conflict | None:
        """The 409 a new application meets today (None when it may start)."""
        if self.waiting_for is not None:
            return Conflict(self.waiting_for)
        if self.may_apply_from is not None and self.may_apply_from > self.today:
            day = self.may_apply_from.isoformat()
            return Conflict(f"you may apply again from {day}", may_apply_from=day)
        return None


def _waiting_for(application: OpenApplication) -> str:
    says = _SAYS.get(application.status, application.status.replace("_", " "))
    return f"your application {application.loan_number} is {says}: you can start another once it is decided or closed"


def standing(
    *,
    closed_on: date | None,
    application_id: UUID | None,
    application_status: str | None,
    history: LoanHistory,
    cooldown_days: int,
    today: date,
) -> Reapply:
    """The re-apply rule for a finished funnel: closed as rejected on `closed_on` (None: submitted), whose own
    application is `application_id` in `application_status` (None: it has none, or the loans context has none)."""
    own_in_onboarding = application_status == LoanStatus.ONBOARDING.value and closed_on is not None
    others = [a for a in history.open if not (own_in_onboarding and a.id == application_id)]
    if closed_on is None and application_status not in ENDED_WITHOUT_LOAN | REPAID:  # submitted, not ended
        if application_status in NOT_REPAID:
            says = NOT_REPAID[application_status]
            return Reapply(today, None, f"{says}: we cannot take a new application online; please contact us")
        own = next((a for a in history.open if a.id == application_id), None)
        return Reapply(today, None, _waiting_for(own) if own else "your application is still open")
    if others:
        return Reapply(today, None, _waiting_for(others[0]))
    rejected_on = history.last_rejected_on
    if rejected_on is None and application_status == LoanStatus.REJECTED.value:
        rejected_on = today  # the read model has not caught up with a rejection just made: it was made today
    ends = [may_apply_again_on(d, cooldown_days) for d in (rejected_on, closed_on) if d is not None]
    again = REFRESHED if application_status in REPAID else ()
    return Reapply(today, max(ends, default=today), keep_loan_request=own_in_onboarding, again=again)


def offer_asks_again(given_on: date | None, today: date, refresh_days: int | None) -> bool:
    """Whether accepting a re-loan offer asks the borrower again for their income and bank statement (`REFRESHED`)
    before its application goes to the BRE: the brand's `reloan_refresh_days` is set and the bank statement they last
    gave (`given_on`, their business date; None: none on file) is more than that many days old (0: always asked).
    Unset (the default), the offer is pre-approved on the data on file and its application is submitted at once."""
    if refresh_days is None:
        return False
    return given_on is None or (today - given_on).days > refresh_days


__all__ = [
    "ENDED_WITHOUT_LOAN",
    "NOT_REPAID",
    "REFRESHED",
    "REPAID",
    "LoanHistory",
    "OpenApplication",
    "Reapply",
    "offer_asks_again",
    "standing",
]
