"""Loan states (LENDING.md "Loan states"): the transitions allowed and the error for the rest."""

from __future__ import annotations

import itertools

import pytest

from domain.loans.states import TRANSITIONS, LoanStatus, TransitionNotAllowed, can_transition, check_transition
from domain.shared.errors import Conflict

S = LoanStatus

HAPPY_PATH = [
    S.ONBOARDING,
    S.PENDING,
    S.CX_APPROVED,
    S.SM_APPROVED,
    S.APPROVED,
    S.AWAITING_DISBURSAL,
    S.ACTIVE,
    S.PARTIALLY_PAID,
    S.OVERDUE,
    S.ACTIVE,
    S.COMPLETED,
]


def test_every_state_of_lending_md_is_named() -> None:
    assert {s.value for s in LoanStatus} == {
        "onboarding", "pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal", "active",
        "partially_paid", "overdue", "completed", "rejected", "cancelled", "settled", "written_off",
    }  # fmt: skip
    assert set(TRANSITIONS) == set(LoanStatus)


def test_the_happy_path_from_onboarding_to_completed_is_allowed() -> None:
    for current, target in itertools.pairwise(HAPPY_PATH):
        assert check_transition(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.CX_APPROVED, S.PENDING),  # SM sends back to the CX
        (S.PENDING, S.ONBOARDING),  # CX sends back to the borrower for documents
        (S.REJECTED, S.PENDING),  # reactivation
        (S.CANCELLED, S.PENDING),
        (S.ONBOARDING, S.REJECTED),  # refused by the BRE
        (S.AWAITING_DISBURSAL, S.CANCELLED),
        (S.OVERDUE, S.WRITTEN_OFF),
        (S.OVERDUE, S.SETTLED),
        (S.COMPLETED, S.OVERDUE),  # the closing payment reversed
    ],
)
def test_side_paths_are_allowed(current: LoanStatus, target: LoanStatus) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING, S.ACTIVE),  # no disbursal without sanction, signature and Ops
        (S.SM_APPROVED, S.REJECTED),  # after sanction only cancellation
        (S.SM_APPROVED, S.CX_APPROVED),
        (S.ACTIVE, S.CANCELLED),  # a disbursed loan is not cancelled
        (S.ACTIVE, S.PENDING),
        (S.SETTLED, S.ACTIVE),
        (S.WRITTEN_OFF, S.ACTIVE),
        (S.REJECTED, S.CX_APPROVED),  # reactivation goes back to pending
        (S.ACTIVE, S.ACTIVE),
    ],
)
def test_other_transitions_are_refused_with_a_conflict_naming_both_states(current: LoanStatus, target: LoanStatus) -> None:  # fmt: skip
    assert not can_transition(current, target)
    with pytest.raises(TransitionNotAllowed) as caught:
        check_transition(current, target)
    assert isinstance(caught.value, Conflict)
    assert f"from {current.words} to {target.words}" in caught.value.message  # in words: `CX-approved`, not the code
    assert "_" not in caught.value.message
    assert caught.value.details["current"] == current and caught.value.details["target"] == target


def test_settled_and_written_off_are_final_and_the_error_says_so() -> None:
    assert S.SETTLED.final and S.WRITTEN_OFF.final and not S.REJECTED.final
    with pytest.raises(TransitionNotAllowed, match="written off is final"):
        check_transition(S.WRITTEN_OFF, S.ACTIVE)


def test_cancellation_is_possible_before_disbursal_only() -> None:
    before = {s for s in LoanStatus if can_transition(s, S.CANCELLED)}
    assert before == {S.ONBOARDING, S.PENDING, S.CX_APPROVED, S.SM_APPROVED, S.APPROVED, S.AWAITING_DISBURSAL}
