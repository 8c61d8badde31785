"""The portal's `| words` filter: a status or another code in the product's words, never its underscores."""

from __future__ import annotations

import pytest

from api.web import WORD_FAMILIES, code_words, templates
from domain.covenants.schedule import Frequency
from domain.documents.content import DocumentKind
from domain.loans.states import LoanStatus
from domain.onboarding.steps import Step


def test_a_loan_status_reads_as_its_status_name() -> None:
    # The spec's lifecycle table names the statuses (`CX APPROVED`, `SM APPROVED`, `APPROVED`); a pill shows the name,
    # not STATUS_WORDS' sentence words (`sanctioned`, `signed`), and never the underscore.
    assert code_words("cx_approved", "loan") == "CX approved"
    assert code_words("sm_approved", "loan") == "SM approved"
    assert code_words("awaiting_disbursal", "loan") == "awaiting disbursal"
    assert all("_" not in code_words(s, "loan") for s in LoanStatus)
    assert all(code_words(s, "loan").lower() == s.value.replace("_", " ") for s in LoanStatus)


def test_a_code_of_another_family_reads_as_its_own_words() -> None:
    assert code_words("approved", "loan") == "approved"
    assert code_words("approved") == "approved"  # a recovery request's status, say
    assert code_words("pending_approval") == "pending approval"


def test_other_families_and_the_fallback_read_as_words() -> None:
    assert code_words(Step.BANK_ACCOUNT, "step") == "bank account"
    assert code_words("pan", "step") == "PAN"
    assert code_words(Frequency.HALF_YEARLY, "frequency") == "half-yearly"
    assert code_words(DocumentKind.FORM16_ITR, "document") == "Form 16 or ITR"
    assert code_words("not_reachable") == "not reachable"
    assert code_words("pan_card") == "PAN card"
    assert code_words("not_reachable", capital=True) == "Not reachable"
    assert code_words("pending", "loan", capital=True) == "Pending"  # the rest of the words kept
    assert code_words(None, "loan") == "" and code_words("") == ""


def test_every_code_of_each_family_has_words_without_underscores() -> None:
    for family, words in WORD_FAMILIES.items():
        assert words or family == "loan", family  # a loan status is its own name (`CX approved`)
        assert all("_" not in w for w in words.values()), family
    assert set(WORD_FAMILIES["step"]) == {str(s) for s in Step}
    assert set(WORD_FAMILIES["document"]) == {str(k) for k in DocumentKind}
    assert set(WORD_FAMILIES["frequency"]) == {str(f) for f in Frequency}


def test_an_unknown_family_is_a_template_error_not_a_silent_code() -> None:
    with pytest.raises(KeyError):
        code_words("active", "loans")


def test_the_filter_is_registered_for_templates() -> None:
    rendered = templates.from_string("{{ s | words('loan') }} · {{ o | words(capital=True) }}").render(
        s="partially_paid", o="refused_to_pay"
    )
    assert rendered == "partially paid · Refused to pay"
