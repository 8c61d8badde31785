"""A loan's creation, CX approval, sanction and send-back record the brand's business date (docs/reports.md, "Which
date a report files a fact on"): `Created.created_on`, `CxApproved.cx_approved_on`, `Sanctioned.sanctioned_on`,
`SentBack.sent_back_on`, whatever the wall clock says; so do its assignments, escalation, CAM, bypass, override,
cancellation, reactivation, e-sign and payout events and the close of business's moves of state (`assigned_on`, ...,
`status_moved_on`: the COB's date) - and the same events stored before those fields existed (v1 payloads without
them) still load, with None for the date."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.states import LoanStatus
from tests.application.loans.fakes import BORROWER, BRAND, CX_A, CX_B, PRODUCT, TODAY, Parties
from tests.application.loans.test_loan_credit_decision import NOW, cam, pending

#: The brand runs months ahead of the clock (the in-memory store's events are recorded today).
BUSINESS_DAY = TODAY + timedelta(days=150)

DATED = {"Created": "created_on", "CxApproved": "cx_approved_on", "Sanctioned": "sanctioned_on",
         "SentBack": "sent_back_on"}  # fmt: skip


def _dates(loans: Loans, loan_id: UUID) -> list[tuple[str, Any]]:
    return [(type(e).__name__, getattr(e, DATED[type(e).__name__])) for e in loans.events.get(loan_id)
            if type(e).__name__ in DATED]  # fmt: skip


def test_creation_approval_send_back_and_sanction_record_the_business_date(loans: Loans, parties: Parties) -> None:
    parties.today = BUSINESS_DAY
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.send_back(BRAND, loan_id, "cx", "recheck the salary credits")
    parties.today = BUSINESS_DAY + timedelta(days=1)  # a close of business later
    loans.cx_approve(BRAND, loan_id, "90000", "rechecked")
    loans.sanction(BRAND, loan_id, "85000", "FOIR at the limit")
    assert _dates(loans, loan_id) == [
        ("Created", BUSINESS_DAY),
        ("CxApproved", BUSINESS_DAY),
        ("SentBack", BUSINESS_DAY),
        ("CxApproved", BUSINESS_DAY + timedelta(days=1)),
        ("Sanctioned", BUSINESS_DAY + timedelta(days=1)),
    ]


def test_events_stored_before_their_business_date_was_recorded_still_load(loans: Loans) -> None:
    loan_id = pending(loans)
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.send_back(BRAND, loan_id, "cx", "recheck the salary credits")
    loans.cx_approve(BRAND, loan_id, "90000", "rechecked")
    loans.sanction(BRAND, loan_id, "85000", "FOIR at the limit")
    stored = loans.recorder._stored_events  # type: ignore[attr-defined]
    stripped = 0
    for i, event in enumerate(stored):
        name = event.topic.rsplit(".", 1)[-1]
        if event.originator_id == loan_id and name in DATED:
            state = json.loads(event.state)
            assert state[DATED[name]] == TODAY.isoformat()
            del state[DATED[name]]  # the v1 payload as stored before the field existed
            stored[i] = dataclasses.replace(event, state=json.dumps(state).encode())
            stripped += 1
    assert stripped == 5
    assert {d for _, d in _dates(loans, loan_id)} == {None}
    loan = loans.get(BRAND, loan_id)
    assert (
        loan.status is LoanStatus.SM_APPROVED and loan.sanctioned_amount == 85000 and loan.cx_approved_amount == 90000
    )


#: A brand operated as of a past date (its book migrated, or its COB behind): months before the clock's day.
PAST_DAY = TODAY - timedelta(days=200)

#: Each event's own business-date field (the events counted in team performance's `actions` only, and the others).
ACTION_DATES = {
    "Bypassed": "bypassed_on", "Assigned": "assigned_on", "CamRecorded": "cam_recorded_on",
    "Escalated": "escalated_on", "SanctionAssigned": "sanction_assigned_on", "AgreementIssued": "agreement_issued_on",
    "EsignExpired": "esign_expired_on", "Signed": "signed_on", "DisbursalQueued": "disbursal_queued_on",
    "DisbursalInitiated": "disbursal_initiated_on", "DisbursalFailed": "disbursal_failed_on",
    "PayoutExported": "payout_exported_on", "PayoutReturned": "payout_returned_on", "StatusMoved": "status_moved_on",
    "BreOverridden": "bre_overridden_on", "Cancelled": "cancelled_on", "Reactivated": "reactivated_on",
}  # fmt: skip


def _action_dates(loans: Loans, loan_id: UUID) -> list[tuple[str, Any]]:
    return [(type(e).__name__, getattr(e, ACTION_DATES[type(e).__name__])) for e in loans.events.get(loan_id)
            if type(e).__name__ in ACTION_DATES]  # fmt: skip


def _every_action(loans: Loans, parties: Parties) -> tuple[UUID, date]:
    """A loan taken from creation to overdue by a brand operated as of PAST_DAY (the next day from the second
    agreement on); returns it and the day its close of business closed."""
    parties.today = PAST_DAY
    created = loans.create(BRAND, BORROWER, PRODUCT, "100000", 12)
    loans.bypass(BRAND, created.id, "bureau", "bureau down, salary account with us")
    loans.submit(BRAND, created.id)
    loan_id = created.id
    loans.assign(BRAND, loan_id, CX_A, "a manager's pick")
    loans.record_cam(BRAND, loan_id, cam())
    loans.cx_approve(BRAND, loan_id, "90000", "salary supports 90k")
    loans.escalate(BRAND, loan_id, "waiting for a day")
    loans.assign_sanction(BRAND, loan_id, CX_B, "take this one")
    loans.sanction(BRAND, loan_id, "85000", "FOIR at the limit")
    loans.issue_agreement(BRAND, loan_id, "ab" * 32, "agreements/x.pdf", "es-1", "https://esign/1", NOW)
    loans.expire_esign(BRAND, loan_id, NOW + timedelta(seconds=1))
    parties.today = PAST_DAY + timedelta(days=1)  # a close of business later
    loans.issue_agreement(BRAND, loan_id, "ab" * 32, "agreements/x.pdf", "es-2", "https://esign/2",
                          NOW + timedelta(days=2), NOW + timedelta(seconds=2))  # fmt: skip
    loans.sign(BRAND, loan_id, "prov-1", NOW + timedelta(minutes=1))  # the webhook's, recorded on the business date
    loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")
    loans.fail_disbursal(BRAND, loan_id, "gw-1", "beneficiary bank down")
    loans.mark_exported(BRAND, loan_id, "pf-1")
    loans.mark_export_returned(BRAND, loan_id, "pf-1", "bank returned the file")
    loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-2")
    loans.confirm_disbursal(BRAND, loan_id, "gw-2", PAST_DAY + timedelta(days=1))
    # the COB closes a day after the first instalment fell due, unpaid: the loan moves to overdue on that day, whatever
    # the brand's business date is when the job records it
    cob_day = PAST_DAY + timedelta(days=45)
    parties.today = cob_day + timedelta(days=1)
    loans.close_business_day(BRAND, loan_id, cob_day)
    assert loans.get(BRAND, loan_id).status is LoanStatus.OVERDUE
    return loan_id, cob_day


def test_assignment_escalation_esign_payout_and_cob_moves_record_the_business_date(
    loans: Loans, parties: Parties
) -> None:
    loan_id, cob_day = _every_action(loans, parties)
    day0, day1 = PAST_DAY, PAST_DAY + timedelta(days=1)
    assert _action_dates(loans, loan_id) == [
        ("Bypassed", day0), ("Assigned", day0), ("CamRecorded", day0), ("Escalated", day0),
        ("SanctionAssigned", day0), ("AgreementIssued", day0), ("EsignExpired", day0), ("AgreementIssued", day1),
        ("Signed", day1), ("DisbursalQueued", day1), ("DisbursalInitiated", day1), ("DisbursalFailed", day1),
        ("PayoutExported", day1), ("PayoutReturned", day1), ("DisbursalInitiated", day1), ("StatusMoved", cob_day),
    ]  # fmt: skip


def test_an_override_a_cancellation_and_a_reactivation_record_the_business_date(loans: Loans, parties: Parties) -> None:
    parties.today = PAST_DAY
    loan_id = pending(loans)
    loans.override(BRAND, loan_id, "CREDIT_SCORE", "fail", "the bureau report is someone else's")
    assert loans.get(BRAND, loan_id).status is LoanStatus.REJECTED
    loans.reactivate(BRAND, loan_id, "the report was the borrower's after all")
    loans.cancel(BRAND, loan_id, "the borrower withdrew")
    assert _action_dates(loans, loan_id) == [
        ("BreOverridden", PAST_DAY), ("Reactivated", PAST_DAY), ("Cancelled", PAST_DAY)
    ]  # fmt: skip


def test_an_auto_allocation_records_the_business_date(loans: Loans, parties: Parties) -> None:
    parties.today, parties.auto = PAST_DAY, True
    loan_id = pending(loans)
    assert _action_dates(loans, loan_id) == [("Assigned", PAST_DAY)]


def test_actions_stored_before_their_business_date_was_recorded_still_load(loans: Loans, parties: Parties) -> None:
    loan_id, _ = _every_action(loans, parties)
    stored = loans.recorder._stored_events  # type: ignore[attr-defined]
    stripped = 0
    for i, event in enumerate(stored):
        name = event.topic.rsplit(".", 1)[-1]
        if event.originator_id == loan_id and name in ACTION_DATES:
            state = json.loads(event.state)
            del state[ACTION_DATES[name]]  # the v1 payload as stored before the field existed
            stored[i] = dataclasses.replace(event, state=json.dumps(state).encode())
            stripped += 1
    assert stripped == 16
    assert {d for _, d in _action_dates(loans, loan_id)} == {None}
    loan = loans.get(BRAND, loan_id)
    assert loan.status is LoanStatus.OVERDUE and loan.assignee == CX_A and loan.sanction_assignee == CX_B
