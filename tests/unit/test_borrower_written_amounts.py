"""The borrower web flow reads amounts as people in India write them ("45,000", "1,00,000"); the JSON API does not."""

from __future__ import annotations

import pytest

from api.pages.borrower_forms import step_input
from domain.onboarding.steps import Step


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("45000", "45000"),
        ("45,000", "45000"),
        (" ₹45,000 ", "45000"),
        ("₹ 1,00,000.50", "100000.50"),
        ("12,34,567", "1234567"),
        ("999", "999"),
        ("1,000,000", "1000000"),
    ],
)
def test_a_written_salary_is_read_as_its_amount(typed: str, read: str) -> None:
    assert step_input(Step.EMPLOYMENT, {"monthly_salary": typed})["monthly_salary"] == read


@pytest.mark.parametrize("typed", ["45,00", "4,5000", "45.000,00", "forty", "45,000,", "-45,000"])
def test_an_amount_not_written_as_one_is_left_for_the_model_to_refuse(typed: str) -> None:
    assert step_input(Step.EMPLOYMENT, {"monthly_salary": typed})["monthly_salary"] == typed
