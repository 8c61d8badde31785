"""A refused borrower step's summary names what the borrower did, not the API's field (api/pages/borrower_forms.py)."""

from __future__ import annotations

from api.pages.borrower_forms import summary_line
from domain.onboarding.steps import Step
from domain.shared.errors import FieldError


def test_the_statements_are_named_as_the_borrower_uploaded_them() -> None:
    coverage = FieldError("document_ids", "statements cover 2026-10..2026-11; 2026-09 is missing")
    assert summary_line(Step.BANK_STATEMENT, coverage) == (
        "The statements you uploaded cover 2026-10..2026-11; 2026-09 is missing"
    )
    assert summary_line(Step.BANK_STATEMENT, FieldError("document_ids", "upload at least one statement")) == (
        "The statements you uploaded: upload at least one statement"
    )
    assert summary_line(Step.BANK_STATEMENT, FieldError("document_ids[1]", "it was rejected")) == (
        "Statement 2 you uploaded: it was rejected"
    )


def test_other_fields_keep_their_names() -> None:
    assert summary_line(Step.BANK_STATEMENT, FieldError("period_to", "before the first month")) == (
        "period to: before the first month"
    )
    assert summary_line(Step.PERSONAL, FieldError("document_ids", "x")) == "document ids: x"
