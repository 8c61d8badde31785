"""The rules of presenting a mandate's debit (domain/loans/mandate_debits.py): the first attempt, the same attempt
again while it awaits the gateway's answer, a failed one's retry once its date has come, and nothing otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from domain.loans.mandate_debits import (
    RETRIES,
    RETRY_SPACING_DAYS,
    NextDebit,
    awaits_answer,
    borrower_mandate_limit,
    next_debit,
    retry_date,
)
from domain.loans.position import InstalmentStatus
from domain.loans.servicing_views import Outstanding, ScheduleItem, ServicingView

DAY = date(2026, 2, 28)
DUE = Decimal("8037.57")


@dataclass(frozen=True)
class Noted:
    """A noted presentation, as the store keeps it."""

    attempt: int
    state: str
    amount: Decimal = Decimal("8000.00")
    order_id: str | None = None
    retry_on: date | None = None


def test_an_instalment_never_presented_is_presented_as_attempt_one_for_what_is_due() -> None:
    assert next_debit([], DUE, DAY) == NextDebit(1, DUE)


def test_a_debit_noted_but_never_answered_is_presented_again_as_it_was() -> None:
    """The worker died (or lost the answer) before the gateway's order was noted: the same attempt and amount, so the
    same reference, which the gateway takes once - not a new attempt for today's amount."""
    noted = Noted(2, "presented", order_id=None)
    assert awaits_answer(noted)
    assert next_debit([Noted(1, "failed", retry_on=DAY), noted], DUE, DAY) == NextDebit(2, Decimal("8000.00"))


@pytest.mark.parametrize("last", [Noted(1, "presented", order_id="order-1"), Noted(1, "paid", order_id="order-1")])
def test_a_debit_in_flight_or_paid_is_not_presented_again(last: Noted) -> None:
    assert not awaits_answer(last)
    assert next_debit([last], DUE, DAY) is None


def test_a_failed_debit_is_retried_on_its_retry_date_not_before() -> None:
    failed = Noted(1, "failed", order_id="order-1", retry_on=DAY)
    assert not awaits_answer(failed)
    assert next_debit([failed], DUE, date(2026, 2, 27)) is None
    assert next_debit([failed], DUE, DAY) == NextDebit(2, DUE)
    assert next_debit([failed], DUE, date(2026, 3, 5)) == NextDebit(2, DUE)


def test_a_failure_without_a_retry_date_or_past_the_retries_is_not_presented_again() -> None:
    assert next_debit([Noted(1, "failed", order_id="o")], DUE, DAY) is None
    spent = Noted(RETRIES + 1, "failed", order_id="o", retry_on=DAY)
    assert next_debit([spent], DUE, DAY) is None
    last_retry = Noted(RETRIES, "failed", order_id="o", retry_on=DAY)
    assert next_debit([last_retry], DUE, DAY) == NextDebit(RETRIES + 1, DUE)


def test_only_the_last_attempt_decides() -> None:
    earlier = [Noted(1, "presented", order_id=None), Noted(2, "failed", order_id="o", retry_on=DAY)]
    assert next_debit(earlier, DUE, DAY) == NextDebit(3, DUE)


def test_a_failed_attempt_is_given_a_retry_date_until_the_retries_are_spent() -> None:
    again = DAY + timedelta(days=RETRY_SPACING_DAYS)
    assert [retry_date(attempt, DAY) for attempt in range(1, RETRIES + 2)] == [*[again] * RETRIES, None]
    assert again == date(2026, 3, 1)  # the policy: one day after the failure


def _item(no: int, due: date, amount: str, unpaid: str, status: InstalmentStatus) -> ScheduleItem:
    money = Decimal(amount)
    return ScheduleItem(no, due, money, Decimal("0.00"), money, Decimal(unpaid) - money if Decimal(unpaid) > money
                        else Decimal("0.00"), money - Decimal(unpaid), Decimal(unpaid), status)  # fmt: skip


def _view(as_of: date, payoff: str, *items: ScheduleItem) -> ServicingView:
    total = Decimal(payoff)
    return ServicingView(as_of, items, Outstanding(total, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), total),
                         0, "standard", None, None, None)  # fmt: skip


def test_a_borrowers_mandate_covers_the_largest_instalment_left_or_what_is_due_at_most_the_payoff() -> None:
    first, second = date(2026, 2, 28), date(2026, 3, 31)
    ahead = _view(date(2026, 2, 1), "16000.00", _item(1, first, "8037.57", "8037.57", InstalmentStatus.DUE),
                  _item(2, second, "8100.00", "8100.00", InstalmentStatus.DUE))  # fmt: skip
    assert borrower_mandate_limit(ahead) == Decimal("8100.00")  # the largest instalment to come
    # overdue with penal charges: what the job presents (all that is unpaid and due) is more than one instalment
    late = _view(date(2026, 4, 2), "16500.00", _item(1, first, "8037.57", "8300.00", InstalmentStatus.OVERDUE),
                 _item(2, second, "8100.00", "8150.00", InstalmentStatus.OVERDUE))  # fmt: skip
    assert borrower_mandate_limit(late) == Decimal("16450.00")
    # a paid instalment counts for nothing; never above the payoff
    last = _view(date(2026, 3, 1), "5000.00", _item(1, first, "8037.57", "0.00", InstalmentStatus.PAID),
                 _item(2, second, "8100.00", "5000.00", InstalmentStatus.PARTIALLY_PAID))  # fmt: skip
    assert borrower_mandate_limit(last) == Decimal("5000.00")
    assert borrower_mandate_limit(_view(date(2026, 4, 1), "0.00",
                                        _item(1, first, "8037.57", "0.00", InstalmentStatus.PAID))) == Decimal("0.00")  # fmt: skip
