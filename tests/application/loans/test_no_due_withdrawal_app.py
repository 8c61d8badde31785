"""The no-due certificate across a reversal, through the Loans application on the in-memory store (every load a
replay of the stored events through the event mapper): the reversal that re-opens the completed loan withdraws its
certificate in the stored history (a load, and the auditor's as-of replay, give what the live loan had), and the next
closure is issued its own certificate once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.loans.application import Loans
from domain.loans.loan_servicing import NoDueCertificateWithdrawn
from domain.loans.states import LoanStatus
from domain.loans.terms import PenalTerms
from tests.application.loans.fakes import BRAND, PRODUCT, Catalogue, event_names, product_version
from tests.application.loans.servicing_fixtures import MovableParties, disbursed

S = LoanStatus
D0 = date(2026, 1, 31)


@pytest.fixture
def parties() -> MovableParties:
    return MovableParties(today=D0)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue(products={(BRAND, PRODUCT): product_version(penal=PenalTerms(daily_percent=Decimal("0.1")))})


def _issue(loans: Loans, loan_id: object, sha256: str) -> bool:
    loan = loans.get(BRAND, loan_id)  # type: ignore[arg-type]
    issued = loan.issue_no_due_certificate(sha256)
    loans.commit(loan)
    return issued


def test_a_reversal_withdraws_the_stored_certificate_and_the_next_closure_is_issued_one(
    loans: Loans, parties: MovableParties
) -> None:
    loan_id = disbursed(loans, D0)
    parties.today = date(2026, 2, 10)
    _, cheque = loans.record_repayment(BRAND, loan_id, str(loans.payoff(BRAND, loan_id).total), "cheque", "CHQ-1")
    assert _issue(loans, loan_id, "a" * 64)
    issued = loans.get(BRAND, loan_id)
    first, issued_version = issued.no_due, issued.version
    assert first is not None and first.closed_on == date(2026, 2, 10)

    parties.today = date(2026, 2, 12)
    loans.reverse_repayment(BRAND, loan_id, cheque.payment_id, "cheque bounced")
    reopened = loans.get(BRAND, loan_id)  # replayed from the stored events
    assert reopened.status is S.ACTIVE and reopened.no_due is None
    assert [(w.certificate, w.withdrawn_on, w.payment_id) for w in reopened.no_dues_withdrawn] == [
        (first, date(2026, 2, 12), cheque.payment_id)
    ]
    with pytest.raises(NoDueCertificateWithdrawn):
        _issue(loans, loan_id, "b" * 64)
    # The auditor's replay as of the certificate's version still shows it; as of the reversal, it is withdrawn.
    assert loans.replayed_at(loan_id, issued_version).no_due == first
    assert loans.replayed_at(loan_id, reopened.version).no_due is None

    parties.today = date(2026, 2, 20)
    total = loans.payoff(BRAND, loan_id).total
    _, closing = loans.record_repayment(BRAND, loan_id, str(total), "neft", "UTR-2")
    assert closing.closes_loan
    assert _issue(loans, loan_id, "c" * 64)
    assert not _issue(loans, loan_id, "d" * 64)  # once per closure
    closed = loans.get(BRAND, loan_id)
    assert closed.no_due is not None
    assert (closed.no_due.closed_on, closed.no_due.repaid, closed.no_due.sha256) == (date(2026, 2, 20), total, "c" * 64)
    assert closed.no_due.verification_code != first.verification_code
    assert event_names(loans, loan_id).count("NoDueCertificateIssued") == 2
