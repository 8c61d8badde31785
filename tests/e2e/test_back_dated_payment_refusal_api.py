"""A back-dated payment refused because a payment recorded after it would then be above that later day's payoff,
through the API on PostgreSQL: a 422 naming `amount` in the words of the payment entered (its amount and date) and
the later payment's figures, with those figures as members of the problem beside `errors`; nothing recorded."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

D0 = date(2026, 1, 31)
EARLIER = date(2026, 2, 10)
LATER = date(2026, 3, 5)


def test_a_back_dated_payment_refused_for_a_later_ones_sake_names_what_was_entered(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATER)
    url = f"/api/v1/loans/{loan_id}/repayments"
    later = Decimal(client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"]) - 100
    paid = client.post(url, json={"amount": str(later), "mode": "neft", "reference": "UTR-1"}, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    version = platform.get(Loans).get(tenant.brand_id, loan_id).version

    body = {"amount": "500.00", "mode": "neft", "reference": "UTR-2", "paid_on": str(EARLIER)}
    refused = client.post(url, json=body, headers=tenant.auth)
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    (error,) = problem["errors"]
    assert error["field"] == "amount"
    assert error["message"].startswith(
        f"500.00 paid on {EARLIER} cannot be recorded: the later payment of {later} on {LATER} would then be "
        "above that day's payoff of "
    ), error
    assert (problem["amount"], problem["paid_on"], problem["later_amount"], problem["later_paid_on"]) == (
        "500.00",
        str(EARLIER),
        str(later),
        str(LATER),
    )
    assert Decimal(problem["later_payoff"]) < later and problem["later_payoff"] in error["message"]
    assert platform.get(Loans).get(tenant.brand_id, loan_id).version == version  # nothing recorded
