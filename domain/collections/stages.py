"""Where a loan stands in collections after a closed business date, and why its case closes: the rules the
close-of-business sweep (workers/collection_jobs.py) applies to each loan it reads from the read models, and which
closures the team's recovery rate counts as resolved (docs/collections.md, "Stages")."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from domain.collections.case import Stage
from domain.loans.states import SERVICING_CODES, LoanStatus

S = LoanStatus

#: The statuses of a loan whose repayment ended other than by its schedule: in post-collections while it still owes.
ENDED_STATUSES: tuple[str, ...] = (S.SETTLED.value, S.WRITTEN_OFF.value)


class Closure(StrEnum):
    """Why a loan's case closed: it left every stage, owing nothing that stage asks for."""

    CURED = "cured"  # overdue (or in legal) and now paid up, still being repaid
    COMPLETED = "completed"  # paid off
    NOT_DUE = "not_due"  # in pre-collections, and its instalment was paid before it fell due
    SETTLED = "settled"  # its settlement was paid: it owes nothing
    RECOVERED = "recovered"  # written off, and the write-off's whole total recovered since


#: The closures the team view counts as resolved (`recovery_rate`): each is a case that left its stage paid up -
#: `not_due` is the pre-collections team's, `settled` and `recovered` mostly the post-collections team's.
RESOLVED: tuple[Closure, ...] = tuple(Closure)


def stage_after(
    status: str, *, legal: bool, dpd: int, next_due: date | None, owed: Decimal, day: date, window: int
) -> Stage | None:
    """The stage a loan is in for the business date after `day` (None: in no stage, its case closes).

    `owed` is what the post stage would ask for (docs/collections.md): for a written-off loan, what is left to
    recover. A settled loan owes nothing (its settlement was paid), nor does a written-off one recovered in full:
    they leave collections rather than sit in post-collections at 0.00 for good."""
    if status == S.SETTLED or (status == S.WRITTEN_OFF and owed <= 0):
        return None
    if status in ENDED_STATUSES or (legal and status in SERVICING_CODES):
        return Stage.POST
    if status == S.OVERDUE or (status in SERVICING_CODES and dpd > 0):
        return Stage.COLLECTIONS
    ahead = next_due is not None and day < next_due <= day + timedelta(days=window)
    if status in (S.ACTIVE, S.PARTIALLY_PAID) and ahead:
        return Stage.PRE
    return None


def closure(status: str, stage: Stage | None) -> Closure:
    """Why the case of a loan in `status` closes as it leaves `stage` (the stage it was open in)."""
    if status == S.COMPLETED:
        return Closure.COMPLETED
    if status == S.SETTLED:
        return Closure.SETTLED
    if status == S.WRITTEN_OFF:
        return Closure.RECOVERED
    return Closure.CURED if stage in (Stage.COLLECTIONS, Stage.POST) else Closure.NOT_DUE
