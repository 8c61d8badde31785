"""BRE decisions after submission: overrides and bypasses re-decide an application (docs/loans.md), their input is
checked and a refusal records nothing - on the in-memory event store with the fakes of tests/application/loans/fakes.py."""

from __future__ import annotations

import pytest

from domain.loans.application import Loans
from domain.loans.bre import ApplicantFacts, Rule
from domain.loans.states import LoanStatus
from domain.shared.errors import Conflict, InvalidInput
from tests.application.loans.fakes import (
    BORROWER,
    BRAND,
    PRODUCT,
    Facts,
    event_names,
    fields,
)  # fmt: skip

# Overrides and bypasses ----------------------------------------------------------------------------------------------


def test_overriding_the_failed_rule_of_a_bre_rejection_reopens_it_as_pending(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts(credit_score=688)
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.override(BRAND, created.id, "CREDIT_SCORE", "pass", "thin file, salary account with us for 6 years")
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING and not loan.rejected_by_bre
    assert loan.overrides[Rule.CREDIT_SCORE].justification.startswith("thin file")
    assert loan.bre_outcome().passed


def test_overriding_a_pass_into_a_fail_rejects(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.override(BRAND, created.id, "COOLDOWN", "fail", "rejected last week under another phone number")
    assert loans.get(BRAND, created.id).status is LoanStatus.REJECTED


def test_override_input_is_checked_and_nothing_recorded(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    before = event_names(loans, created.id)
    for rule, result, why, name in (
        ("NOPE", "pass", "a long enough reason", "rule"),
        ("CREDIT_SCORE", "maybe", "a long enough reason", "result"),
        ("CREDIT_SCORE", "fail", "short", "justification"),
        ("SALARY", "fail", "a long enough reason", "rule"),  # not evaluated for this product
        ("CREDIT_SCORE", "pass", "a long enough reason", "result"),  # already passes
    ):
        with pytest.raises(InvalidInput) as refused:
            loans.override(BRAND, created.id, rule, result, why)
        assert fields(refused) == {name}
    assert event_names(loans, created.id) == before


def test_a_person_s_rejection_cannot_be_overridden(loans: Loans) -> None:
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    loans.reject(BRAND, created.id, "income_not_verified", "salary slips do not match the bank statement")
    with pytest.raises(Conflict):
        loans.override(BRAND, created.id, "CREDIT_SCORE", "fail", "a long enough reason")


def test_a_bypass_before_submission_is_used_by_the_bre(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts()  # no bureau record
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.bypass(BRAND, created.id, "bureau", "bureau down, existing customer")
    loans.submit(BRAND, created.id)
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING
    assert {r["rule"]: r["outcome"] for r in loan.results}["CREDIT_SCORE"] == "bypassed"


def test_a_bypass_after_a_bre_rejection_re_evaluates_and_re_decides(loans: Loans, source: Facts) -> None:
    source.given = ApplicantFacts()
    created = loans.create(BRAND, BORROWER, PRODUCT, "50000", 12)
    loans.submit(BRAND, created.id)
    assert loans.get(BRAND, created.id).status is LoanStatus.REJECTED
    loans.bypass(BRAND, created.id, "bureau", "bureau outage all day")
    loan = loans.get(BRAND, created.id)
    assert loan.status is LoanStatus.PENDING and loan.bypassed == {"bureau"}
    with pytest.raises(Conflict):
        loans.bypass(BRAND, created.id, "bureau", "again")
    with pytest.raises(InvalidInput) as refused:
        loans.bypass(BRAND, created.id, "cibil", "no such check")
    assert fields(refused) == {"check"}
