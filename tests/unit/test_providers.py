"""Pure parts of the provider contracts: name match scores and what the statement and bureau values derive."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from adapters.simulators.bsa import statement_settings
from adapters.simulators.provider import e164, rng
from domain.providers.calls import name_match_score
from domain.providers.kyc import BureauReport, EmiDebit, SalaryCredit, StatementAnalysis, Tradeline


@pytest.mark.parametrize(
    ("expected", "actual", "low", "high"),
    [
        ("Karthik Raman", "KARTHIK RAMAN", 100, 100),
        ("Karthik Raman", "RAMAN KARTHIK", 100, 100),
        ("Karthik Raman", "KARTHIK R", 90, 99),
        ("Mohd Irfan Khan", "Mohammed Irfan Khan", 100, 100),
        ("Karthik Raman", "PRIYA NAIR", 0, 10),
        ("Karthik Raman", None, 0, 0),
    ],
)
def test_name_match_score(expected: str, actual: str | None, low: int, high: int) -> None:
    assert low <= name_match_score(expected, actual) <= high


def _credit(month: str, amount: str) -> SalaryCredit:
    return SalaryCredit(month, Decimal(amount), "ACME", date.fromisoformat(f"{month}-01"))


def test_monthly_salary_is_the_mean_of_the_last_three_credits() -> None:
    analysis = StatementAnalysis(
        reference="r",
        source="bsa",
        account_holder="X",
        bank="B",
        period_from=date(2026, 5, 1),
        period_to=date(2026, 10, 31),
        salary_credits=(
            _credit("2026-10", "50000"),
            _credit("2026-05", "10"),
            _credit("2026-09", "50001"),
            _credit("2026-08", "50001"),
        ),
        emis=(EmiDebit("HDFC", Decimal("1200.50"), 5), EmiDebit("SBI", Decimal("800"), 10)),
        average_balance=Decimal("1"),
        bounces=0,
    )
    assert analysis.monthly_salary == Decimal("50000.67") and analysis.total_emi == Decimal("2000.50")
    assert StatementAnalysis(**{**analysis.__dict__, "salary_credits": ()}).monthly_salary is None


def test_bureau_report_totals() -> None:
    line = Tradeline("HDFC", "personal_loan", Decimal(100000), Decimal(50000), Decimal("4500.25"), 30, date(2025, 1, 1))
    report = BureauReport(
        "r", 700, (line, Tradeline("SBI", "credit_card", Decimal(1), Decimal(1), Decimal(0), 0, date(2025, 1, 1))), 1
    )
    assert (report.total_emi, report.max_dpd, report.no_history) == (Decimal("4500.25"), 30, False)
    assert BureauReport("r", -1, (), 0).no_history


def test_simulator_helpers() -> None:
    assert e164("98765 43210") == e164("919876543210") == e164("09876543210") == "+919876543210"
    assert e164("12345") == "12345"
    assert rng("score", "ABCPK1234L").random() == rng("score", "ABCPK1234L").random()
    assert statement_settings(b"%PDF\nSALARY=52000\nEMIS=9\nHOLDER=Asha Rao\n") == {
        "salary": Decimal(52000),
        "emis": 6,
        "holder": "Asha Rao",
    }
