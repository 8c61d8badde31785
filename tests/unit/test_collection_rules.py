"""Pure rules of collections: the stage a loan is in after a closed date, the next action shown, the allocator's
least-loaded order, and the team view's rates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.collections.case import Stage
from domain.collections.stages import RESOLVED, Closure, closure, stage_after
from projections.collection_queries import next_action
from projections.collection_team import rate
from workers.collection_jobs import Allocator, target_stage

DAY = date(2026, 3, 1)


def _row(**values: Any) -> dict[str, Any]:
    return {"status": "active", "legal": False, "dpd": 0, "next_due": None, "unpaid": Decimal("0.00")} | values


def test_the_stage_follows_status_dpd_legal_and_the_window() -> None:
    assert target_stage(_row(status="written_off", unpaid=Decimal("0.01")), DAY, 3) is Stage.POST
    assert target_stage(_row(status="overdue", dpd=4, legal=True, unpaid=Decimal("86700.00")), DAY, 3) is Stage.POST
    assert target_stage(_row(status="overdue", dpd=4, legal=True), DAY, 3) is Stage.POST
    assert target_stage(_row(status="overdue", dpd=4), DAY, 3) is Stage.COLLECTIONS
    assert target_stage(_row(next_due=DAY + timedelta(days=3)), DAY, 3) is Stage.PRE
    assert target_stage(_row(status="partially_paid", next_due=DAY + timedelta(days=1)), DAY, 3) is Stage.PRE
    assert target_stage(_row(next_due=DAY + timedelta(days=4)), DAY, 3) is None  # outside the window
    assert target_stage(_row(next_due=DAY), DAY, 3) is None  # due today and paid: not overdue, not ahead
    assert target_stage(_row(next_due=DAY + timedelta(days=1)), DAY, 0) is None  # no window
    assert target_stage(_row(status="completed"), DAY, 3) is None
    assert target_stage(_row(status="completed", legal=True), DAY, 3) is None


def test_a_loan_owing_nothing_after_a_settlement_or_a_whole_recovery_leaves_post_collections() -> None:
    """A settled loan, and a written-off one whose write-off total was all recovered, stayed in post-collections at
    0.00 for good: on the head's worklist, counted as workload, and never resolved in the team's recovery rate."""
    assert target_stage(_row(status="settled"), DAY, 3) is None
    assert target_stage(_row(status="settled", legal=True, unpaid=Decimal("5.00")), DAY, 3) is None  # paid its deal
    assert target_stage(_row(status="written_off"), DAY, 3) is None
    assert stage_after("written_off", legal=False, dpd=40, next_due=None, owed=Decimal("0.00"), day=DAY,
                       window=3) is None  # fmt: skip
    assert closure("settled", Stage.POST) is Closure.SETTLED
    assert closure("settled", Stage.COLLECTIONS) is Closure.SETTLED  # settled straight from collections
    assert closure("written_off", Stage.POST) is Closure.RECOVERED
    assert closure("completed", Stage.POST) is Closure.COMPLETED
    assert closure("active", Stage.POST) is Closure.CURED and closure("overdue", Stage.COLLECTIONS) is Closure.CURED
    assert closure("active", Stage.PRE) is Closure.NOT_DUE


def test_every_closure_counts_as_resolved_for_its_stage() -> None:
    """The team view counted `cured` and `completed` alone: a pre-collections case closes `not_due` when paid
    before its due date (its team's success), a post-collections one `settled` or `recovered`."""
    assert {Closure.NOT_DUE, Closure.CURED, Closure.COMPLETED, Closure.SETTLED, Closure.RECOVERED} <= set(RESOLVED)


def test_the_next_action_puts_what_is_due_first() -> None:
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    base = {"attention_at": None, "callback_at": None, "ptp_status": None, "ptp_due_on": None, "stage": "collections",
            "contacts": 0}  # fmt: skip
    assert next_action(base, now) == "call the borrower"
    assert next_action(base | {"contacts": 2}, now) == "call again"
    assert next_action(base | {"stage": "pre"}, now) == "reminder call before the due date"
    due = now - timedelta(minutes=5)
    assert next_action(base | {"attention_at": due, "callback_at": due}, now) == "call back (requested)"
    assert next_action(base | {"attention_at": due, "ptp_status": "broken"}, now) == "promise broken: call again"
    later = now + timedelta(hours=1)
    assert next_action(base | {"attention_at": later, "callback_at": later}, now).startswith("call back at ")
    # a promise broke while a callback is still ahead: the promise is what is due now, not the callback
    broken_before_callback = base | {"attention_at": due, "callback_at": later, "ptp_status": "broken"}
    assert next_action(broken_before_callback, now) == "promise broken: call again"
    promised = base | {"ptp_status": "open", "ptp_due_on": date(2026, 3, 4)}
    assert next_action(promised, now) == "follow up the promise due 2026-03-04"


def test_the_allocator_gives_each_loan_to_the_least_loaded() -> None:
    a, b, c = (uuid.UUID(int=n) for n in (1, 2, 3))
    allocator = Allocator({a: 3, b: 1}, [a, b, c])
    picks = [allocator.pick() for _ in range(6)]
    assert picks[:3] == [c, b, c]  # c (0), then b and c tie at 1: the smaller id
    assert picks.count(a) == 1 and picks.count(b) == 2 and picks.count(c) == 3  # all end at 4
    assert Allocator({}, []).pick() is None


def test_rates_round_half_up_to_four_places_and_are_null_without_counts() -> None:
    assert rate(2, 3) == Decimal("0.6667")
    assert rate(1, 8) == Decimal("0.1250")
    assert rate(0, 0) is None
