"""`Disbursals.reconcile` counts each settled request by its outcome, an enum (before, by string prefix: any other
string, a typo included, was silently counted as "no payout"); the outcomes' values are the strings logged with
`disbursal.reconciled`, unchanged."""

from __future__ import annotations

import pytest

from api.services.disbursals import Reconciled, ReconcileOutcome


def test_each_outcome_is_counted_in_its_own_bucket() -> None:
    done = Reconciled()
    for outcome in ReconcileOutcome:
        done.add(outcome)
    done.failed += 1  # could not be settled: counted by reconcile itself
    assert (done.paid, done.failed_at_gateway, done.pending, done.no_payout, done.failed) == (2, 2, 1, 1, 1)
    assert done.total == 7


def test_the_outcomes_log_the_strings_they_always_logged() -> None:
    assert [o.value for o in ReconcileOutcome] == [
        "paid", "paid_before", "failed", "failed_before", "pending", "no_payout"
    ]  # fmt: skip
    assert ReconcileOutcome("paid_before") is ReconcileOutcome.PAID_BEFORE


def test_a_string_that_is_no_outcome_is_refused_not_counted_as_no_payout() -> None:
    done = Reconciled()
    with pytest.raises(ValueError, match="not a reconciliation outcome"):
        done.add("nopayout")  # type: ignore[arg-type]
    assert done.total == 0
