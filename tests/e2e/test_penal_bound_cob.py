"""A loan whose penal charges reach the money bound, on PostgreSQL through the COB job and the read models
(docs/loans.md, "Penal charges at the money bound"): compound penal charges at 100 % a day double an overdue
instalment every day, so an 85,000 loan would owe more than 99,999,999,999,999.99 - the most MONEY, a payment and
the read models' numeric(16, 2) hold - five weeks after its first missed instalment. Before the bound, the COB job
failed on that loan's day (its run record's numeric(18, 2) overflowed: `retrying`, the brand's dates no longer
closed) and the payoff quoted was past what any payment may carry, so the loan could never be paid off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from domain.loans.application import Loans
from domain.loans.money import MONEY_CEILING
from domain.loans.overdue import days_past_due
from domain.loans.terms import PenalKind, PenalTerms
from tests.conftest import make_tenant
from tests.e2e.test_loan_cob import _cob
from tests.e2e.test_servicing_api import PenalCatalogue, disbursed_loan, set_business_date
from tests.support import settle

D0 = date(2026, 1, 31)  # 85,000 at 24 % for 12 months: 8037.57 due 28 Feb, 31 Mar, ...


@pytest.fixture(autouse=True)
def catalogue(platform: Any) -> Iterator[None]:
    loans = platform.get(Loans)
    before = loans._catalogue
    # The personal loan of test_api_loans with compound penal charges of 100 % a day (the most a product takes).
    loans._catalogue = PenalCatalogue(PenalTerms(kind=PenalKind.COMPOUND, daily_percent=Decimal("100")))
    yield
    loans._catalogue = before


def _rows(platform: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    with platform.engine.pool.connection() as conn:
        return list(conn.execute(sql, params).fetchall())


def _loan_projections_healthy(platform: Any, loan_id: UUID) -> None:
    """No read model of the loans failed or parked an event of this loan, and none stopped."""
    assert [(f.projection, f.status, f.error) for f in platform.engine.failures() if f.aggregate_id == loan_id] == []
    assert [s.name for s in platform.engine.status() if s.source == Loans.name and s.error] == []


def test_a_compound_loan_stops_at_the_money_bound_and_its_cob_read_models_and_payoff_hold(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    assert _cob(client, platform, tenant, "2026-01-31")["status"] == "succeeded"
    set_business_date(platform, tenant, date(2026, 4, 30))
    run = _cob(client, platform, tenant, "2026-04-30")  # each date to 30 Apr: 61 days after the first missed EMI
    assert run["status"] == "succeeded", run
    settle(platform, Loans.name)
    _loan_projections_healthy(platform, loan_id)

    loans: Loans = platform.get(Loans)
    loan = loans.get(tenant.brand_id, loan_id)
    position = loan.replayed().position
    owed = sum((i.unpaid for i in position.instalments), Decimal(0))
    assert owed == MONEY_CEILING  # reached (about 3 Apr) and kept: 8037.57 * 2^61 would be ~1.9e22
    penal = sum((i.penal_accrued for i in position.instalments), Decimal(0))

    # the read models say what the aggregate says
    row = _rows(
        platform, "SELECT status, dpd, asset_class, cob_through, version FROM read.loans WHERE id = %s", loan_id
    )
    assert row == [{"status": str(loan.status), "dpd": days_past_due(position, date(2026, 4, 30)),
                    "asset_class": str(position.asset_class), "cob_through": date(2026, 4, 30),
                    "version": loan.version}]  # fmt: skip
    kept = _rows(platform, "SELECT no, principal, interest, paid_principal, paid_interest, paid_penal "
                 "FROM read.report_instalments WHERE loan_id = %s ORDER BY no", loan_id)  # fmt: skip
    assert kept == [{"no": i.no, "principal": i.principal_due, "interest": i.interest_due,
                     "paid_principal": i.principal_paid, "paid_interest": i.interest_paid,
                     "paid_penal": i.penal_paid} for i in position.instalments]  # fmt: skip
    # the COB's run records (numeric(18, 2), one row a date) add up to the charges, each day's within the bound
    days = _rows(platform, "SELECT business_date, penal_charged FROM ops.loan_cob_days WHERE brand_id = %s "
                 "ORDER BY business_date", tenant.brand_id)  # fmt: skip
    assert sum((d["penal_charged"] for d in days), Decimal(0)) == penal
    assert max(d["penal_charged"] for d in days) <= MONEY_CEILING
    assert [d["penal_charged"] for d in days if d["business_date"] > date(2026, 4, 5)] == [Decimal("0.00")] * 25

    # what the API quotes is a payable amount: at most the bound, today and a year on
    url = f"/api/v1/loans/{loan_id}"
    view = client.get(url, headers=tenant.auth).json()
    quote = client.get(f"{url}/payoff", headers=tenant.auth).json()
    assert view["outstanding"]["total"] == quote["total"]
    assert Decimal("99999999990000.00") < Decimal(quote["total"]) <= MONEY_CEILING, quote
    later = client.get(f"{url}/payoff", params={"as_of": "2027-05-01"}, headers=tenant.auth).json()
    assert Decimal(later["total"]) == MONEY_CEILING  # every instalment overdue: all that is owed, nothing more

    # so the loan can be paid off, and its repayment fits every read model
    body = {"amount": quote["total"], "mode": "rtgs", "reference": "UTR-BOUND"}
    paid = client.post(f"{url}/repayments", json=body, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "completed"
    settle(platform, Loans.name)
    _loan_projections_healthy(platform, loan_id)
    assert _rows(platform, "SELECT status FROM read.loans WHERE id = %s", loan_id) == [{"status": "completed"}]
    assert _rows(platform, "SELECT amount, penal FROM read.report_payments WHERE loan_id = %s", loan_id) == [
        {"amount": Decimal(quote["total"]), "penal": Decimal(quote["overdue_penal"])}
    ]
