"""When a UPI Autopay mandate's debit is presented (again): the rules the `mandate-debits` job follows (docs/loans.md,
"The `mandate-debits` job"), pure. `api/services/mandates.py` reads the debits, calls the gateway and notes what it
answered; these functions say what to present and when.

Each instalment is presented as numbered attempts. A failed attempt is presented again `RETRY_SPACING_DAYS` business
days after the failure, at most `RETRIES` more times; an attempt noted as presented whose gateway order never came
back (the process presenting it died, or lost the answer) is presented again as it was, under the same reference:
the gateway takes a reference once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from domain.loans.money import ZERO
from domain.loans.position import InstalmentStatus
from domain.loans.servicing_views import ServicingView

#: The retry policy of a failed debit (the same for every brand): presented again this many more times per
#: instalment, each this many days after the failure (by the business date the job runs on).
RETRIES = 2
RETRY_SPACING_DAYS = 1


def borrower_mandate_limit(view: ServicingView) -> Decimal:
    """The max amount of a mandate the borrower sets up on their payment page (there is no one to type it): enough
    for any one debit the job presents - the largest instalment still to pay, or what is unpaid on the instalments
    due by `view.as_of` (penal charges included) when that is more - and never above the payoff on that date (the
    job caps each debit at it too). Zero when nothing is left to pay."""
    unpaid = [i for i in view.schedule if i.status is not InstalmentStatus.PAID and i.unpaid > ZERO]
    due = sum((i.unpaid for i in unpaid if i.due_date <= view.as_of), ZERO)
    largest = max((i.amount for i in unpaid), default=ZERO)
    return max(min(max(largest, due), view.outstanding.total), ZERO)


class PresentedDebit(Protocol):
    """One presentation (attempt) of an instalment under a mandate, as noted."""

    @property
    def attempt(self) -> int: ...

    @property
    def amount(self) -> Decimal: ...

    @property
    def state(self) -> str: ...  # presented, paid or failed

    @property
    def order_id(self) -> str | None: ...  # the gateway's order, once its answer came

    @property
    def retry_on(self) -> date | None: ...  # a failed one's retry date


@dataclass(frozen=True)
class NextDebit:
    """The attempt to present for an instalment, and its amount."""

    attempt: int
    amount: Decimal


def awaits_answer(debit: PresentedDebit) -> bool:
    """Whether `debit` was noted as presented and the gateway's answer (its order) never came: the process presenting
    it died or lost the answer. It is presented again under the same reference, which the gateway takes once."""
    return debit.state == "presented" and debit.order_id is None


def next_debit(tried: Sequence[PresentedDebit], due: Decimal, day: date) -> NextDebit | None:
    """What to present on `day` for an instalment whose attempts so far are `tried` (oldest first) and of which `due`
    is to be collected now: the first attempt; the last one again, as it was, when it awaits its answer; the next one
    once a failure's retry date has come (and the retries are not spent). None when a debit is in flight or paid, the
    retry is not due yet, or the retries are spent."""
    if not tried:
        return NextDebit(1, due)
    last = tried[-1]
    if awaits_answer(last):
        return NextDebit(last.attempt, last.amount)
    if last.state in ("presented", "paid"):
        return None
    if last.attempt > RETRIES or last.retry_on is None or last.retry_on > day:
        return None
    return NextDebit(last.attempt + 1, due)


def retry_date(failed_attempt: int, business_date: date) -> date | None:
    """When a debit whose attempt `failed_attempt` failed on `business_date` is presented again (None: the retries are
    spent, the instalment is left to collections)."""
    if failed_attempt > RETRIES:
        return None
    return business_date + timedelta(days=RETRY_SPACING_DAYS)
