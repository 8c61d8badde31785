"""A loan's creation, CX approval, sanction and send-back record the brand's business date (docs/reports.md, "Which
date a report files a fact on"): `Created.created_on`, `CxApproved.cx_approved_on`, `Sanctioned.sanctioned_on`,
`SentBack.sent_back_on`, whatever the wall clock says - and the same events stored before those fields existed (v1
payloads without them) still load, with None for the date."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.states import LoanStatus
from tests.application.loans.fakes import BRAND, TODAY, Parties
from tests.application.loans.test_loan_credit_decision import pending

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
