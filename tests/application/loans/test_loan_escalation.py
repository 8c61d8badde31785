"""Sanction Head escalations (issue #14): an SM escalates a CX-approved loan, the Sanction Head assigns it to another
SM or decides it; every move is an event with its reason, and every refusal records nothing."""

from __future__ import annotations

import uuid
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.loan import LoanNotFound
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BORROWER, BRAND, CX_B, OTHER, PRODUCT, event_names, fields

S = LoanStatus


def cx_approved(loans: Loans) -> UUID:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.submit(BRAND, created.id)
    loans.cx_approve(BRAND, created.id, "90000", "salary supports 90k")
    return created.id


def test_an_escalation_is_recorded_with_its_reason_and_only_once(loans: Loans) -> None:
    loan_id = cx_approved(loans)
    loans.escalate(BRAND, loan_id, "  the employer   looks like a shell company ")
    loan = loans.get(BRAND, loan_id)
    assert loan.escalation == "the employer looks like a shell company" and loan.status is S.CX_APPROVED
    before = event_names(loans, loan_id)
    with pytest.raises(Conflict):
        loans.escalate(BRAND, loan_id, "again please")
    assert event_names(loans, loan_id) == before and before[-1] == "Escalated"


def test_only_a_cx_approved_loan_is_escalated_and_a_reason_is_needed(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.submit(BRAND, created.id)
    with pytest.raises(Conflict):
        loans.escalate(BRAND, created.id, "not yet approved by the CX")
    loans.cx_approve(BRAND, created.id, "90000", "salary supports 90k")
    loan_id = created.id
    with pytest.raises(InvalidInput) as refused:
        loans.escalate(BRAND, loan_id, " ")
    assert fields(refused) == {"reason"}
    with pytest.raises(LoanNotFound):
        loans.escalate(OTHER, loan_id, "another brand's loan")
    assert "Escalated" not in event_names(loans, loan_id)


def test_the_head_assigns_an_escalated_loan_to_another_sm_which_handles_the_escalation(loans: Loans) -> None:
    loan_id = cx_approved(loans)
    loans.escalate(BRAND, loan_id, "needs a second opinion")
    loans.assign_sanction(BRAND, loan_id, str(CX_B), "Ravi knows this employer")
    loan = loans.get(BRAND, loan_id)
    assert loan.sanction_assignee == CX_B and loan.escalation is None
    with pytest.raises(Conflict):  # assigned to that SM already
        loans.assign_sanction(BRAND, loan_id, CX_B, "once more")
    loans.escalate(BRAND, loan_id, "Ravi escalates it back")  # the assignee may escalate again
    loans.sanction(BRAND, loan_id, "85000", "the head decides himself")
    assert loans.get(BRAND, loan_id).status is S.SM_APPROVED
    assert event_names(loans, loan_id)[-4:] == ["Escalated", "SanctionAssigned", "Escalated", "Sanctioned"]


def test_an_assignment_names_an_enabled_sanction_manager_of_the_brand(loans: Loans) -> None:
    loan_id = cx_approved(loans)
    before = event_names(loans, loan_id)
    for staff, reason in ((uuid.uuid4(), "a stranger"), ("not-a-uuid", "bad id"), (CX_B, "")):
        with pytest.raises(InvalidInput) as refused:
            loans.assign_sanction(BRAND, loan_id, staff, reason)
        assert fields(refused) == ({"reason"} if reason == "" else {"staff_id"})
    loans.sanction(BRAND, loan_id, "85000", "sanctioned")
    with pytest.raises(Conflict):
        loans.assign_sanction(BRAND, loan_id, CX_B, "too late, sanctioned")
    assert event_names(loans, loan_id) == [*before, "Sanctioned"]


def test_a_new_cx_approval_after_a_send_back_waits_afresh(loans: Loans) -> None:
    loan_id = cx_approved(loans)
    loans.escalate(BRAND, loan_id, "slow queue")
    loans.send_back(BRAND, loan_id, "cx", "verify the employer")
    loans.cx_approve(BRAND, loan_id, "90000", "employer verified")
    assert loans.get(BRAND, loan_id).escalation is None
    loans.escalate(BRAND, loan_id, "slow again")
    assert loans.get(BRAND, loan_id).escalation == "slow again"
