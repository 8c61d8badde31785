"""E-sign and disbursal of a sanctioned loan (issue #14): agreements and links, signing once, the Ops queue, payout
attempts failed, retried and confirmed once, concurrent initiation, payout files - on the in-memory event store with the
fakes of tests/application/loans/fakes.py. Every refusal records nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.loans.application import Loans
from domain.loans.loan_events import AttemptState, EsignState
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import BRAND, TODAY, event_names, fields
from tests.application.loans.test_loan_credit_decision import NOW, issued, queued

S = LoanStatus


# E-sign ----------------------------------------------------------------------------------------------------------


def test_an_agreement_is_issued_again_on_resend_and_signing_once_approves(loans: Loans) -> None:
    loan_id = issued(loans)
    loans.issue_agreement(
        BRAND, loan_id, "cd" * 32, "agreements/y.pdf", "es-2", "https://esign/2", NOW + timedelta(days=2)
    )
    assert event_names(loans, loan_id).count("AgreementIssued") == 2
    first = loans.sign(BRAND, loan_id, "prov-1", NOW)
    again = loans.sign(BRAND, loan_id, "prov-1", NOW)
    loan = loans.get(BRAND, loan_id)
    assert first.changed and not again.changed
    assert loan.status is S.APPROVED and loan.esign_state is EsignState.SIGNED and loan.esign_request_id == "es-2"
    assert event_names(loans, loan_id).count("Signed") == 1


def test_an_expired_link_cannot_be_signed_until_resent(loans: Loans) -> None:
    loan_id = issued(loans)
    with pytest.raises(Conflict):
        loans.expire_esign(BRAND, loan_id, NOW)  # not expired yet
    loans.expire_esign(BRAND, loan_id, NOW + timedelta(days=3))
    with pytest.raises(Conflict):
        loans.sign(BRAND, loan_id, "prov-1", NOW)
    assert loans.get(BRAND, loan_id).status is S.SM_APPROVED
    loans.issue_agreement(
        BRAND, loan_id, "ab" * 32, "agreements/x.pdf", "es-3", "https://esign/3", NOW + timedelta(days=5)
    )
    loans.sign(BRAND, loan_id, "prov-2", NOW + timedelta(days=4))
    assert loans.get(BRAND, loan_id).status is S.APPROVED


def test_a_signature_after_the_expiry_is_refused(loans: Loans) -> None:
    loan_id = issued(loans)
    with pytest.raises(Conflict):
        loans.sign(BRAND, loan_id, "prov-1", NOW + timedelta(days=2, seconds=1))
    assert "Signed" not in event_names(loans, loan_id)


def test_a_sanctioned_loan_is_queued_for_disbursal_only_once_signed(loans: Loans) -> None:
    loan_id = issued(loans)
    with pytest.raises(Conflict):
        loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    loans.sign(BRAND, loan_id, "prov-1", NOW)
    loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.AWAITING_DISBURSAL and loan.bank_account_ref == "acct-1"


# Disbursal -------------------------------------------------------------------------------------------------------


def test_a_payout_fails_is_retried_and_confirmed_once(loans: Loans) -> None:
    loan_id = queued(loans)
    loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")
    with pytest.raises(Conflict):
        loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-2")  # one in flight
    loans.fail_disbursal(BRAND, loan_id, "gw-1", "beneficiary bank down")
    assert not loans.fail_disbursal(BRAND, loan_id, "gw-1", "beneficiary bank down").changed
    loans.initiate_disbursal(BRAND, loan_id, "NEFT", "gw-2")
    assert loans.confirm_disbursal(BRAND, loan_id, "gw-2", TODAY).changed
    assert not loans.confirm_disbursal(BRAND, loan_id, "gw-2", TODAY).changed
    with pytest.raises(Conflict):
        loans.confirm_disbursal(BRAND, loan_id, "gw-1", TODAY)
    loan = loans.get(BRAND, loan_id)
    assert loan.status is S.ACTIVE and loan.disbursed_on == TODAY
    assert [(a.attempt, a.state, a.amount) for a in loan.attempts] == [
        (1, AttemptState.FAILED, Decimal("82494.00")),
        (2, AttemptState.CONFIRMED, Decimal("82494.00")),
    ]
    assert event_names(loans, loan_id).count("Disbursed") == 1


def test_two_staff_initiating_at_once_the_second_is_a_409(loans: Loans) -> None:
    loan_id = queued(loans)
    first, second = loans.get(BRAND, loan_id), loans.get(BRAND, loan_id)
    first.initiate_disbursal(_imps(), 1, "gw-a")
    second.initiate_disbursal(_imps(), 1, "gw-b")
    loans.commit(first)
    with pytest.raises(Conflict):
        loans.commit(second)
    assert [a.gateway_reference for a in loans.get(BRAND, loan_id).attempts] == ["gw-a"]


def _imps() -> Any:
    from domain.loans.loan_events import PayoutMode

    return PayoutMode.IMPS


def test_payout_refusals(loans: Loans) -> None:
    loan_id = issued(loans)
    with pytest.raises(Conflict):
        loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")  # not awaiting disbursal
    loans.sign(BRAND, loan_id, "prov-1", NOW)
    loans.ready_for_disbursal(BRAND, loan_id, "acct-1")
    with pytest.raises(InvalidInput) as refused:
        loans.initiate_disbursal(BRAND, loan_id, "CHEQUE", "gw-1")
    assert fields(refused) == {"mode"}
    with pytest.raises(Conflict):
        loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1", amount=Decimal("85000.00"))  # not the net
    with pytest.raises(Conflict):
        loans.confirm_disbursal(BRAND, loan_id, "gw-unknown", TODAY)
    assert loans.get(BRAND, loan_id).attempts == []


def test_an_exported_loan_is_not_paid_again_until_the_file_is_returned(loans: Loans) -> None:
    loan_id = queued(loans)
    loans.mark_exported(BRAND, loan_id, "pf-1")
    with pytest.raises(Conflict):
        loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")
    with pytest.raises(Conflict):
        loans.mark_exported(BRAND, loan_id, "pf-2")
    with pytest.raises(Conflict):
        loans.cancel(BRAND, loan_id, "borrower withdrew")
    loans.mark_export_returned(BRAND, loan_id, "pf-1", "bank returned the file")
    loans.initiate_disbursal(BRAND, loan_id, "IMPS", "gw-1")
    assert loans.get(BRAND, loan_id).attempt_in_flight is not None


def test_an_exported_file_confirmation_disburses(loans: Loans) -> None:
    loan_id = queued(loans)
    loans.mark_exported(BRAND, loan_id, "pf-1")
    loans.confirm_disbursal(BRAND, loan_id, "pf-1", TODAY)
    assert loans.get(BRAND, loan_id).status is S.ACTIVE
