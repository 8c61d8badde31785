"""The sales page shows its money targets as the portal shows money and its steps in words: the disbursal amount and
collections goals read `500000.00` and `0.00` beside the dashboard's ₹5,00,000.00, and the onboarding funnel's steps
`bank_account`, `loan_request`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.e2e.test_servicing_api import catalogue

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests


def test_the_sales_page_shows_money_targets_in_rupees_and_the_count_as_a_number(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    month = datetime.now(UTC).strftime("%Y-%m")
    goals = {month: {"disbursal_amount": "500000.00", "disbursal_count": 10, "collections": "125000.50"}}
    patched = client.patch("/api/v1/brand/config", json={"monthly_targets": goals}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    browser, _ = _portal(app, email)
    try:
        page = browser.get("/sales", params={"month": month})
    finally:
        browser.__exit__(None, None, None)
    assert page.status_code == 200
    targets = page.text[page.text.index('id="sales-targets"') :]
    cards = {
        name: re.sub(r"<[^>]+>", "", body)
        for name, body in re.findall(r"<h2>([^<]+)</h2>\s*(.*?)</section>", targets[: targets.index("</div>")], re.S)
    }
    assert "Goal ₹5,00,000.00 · actual ₹0.00" in cards["disbursal amount"]
    assert "Goal ₹1,25,000.50 · actual ₹0.00" in cards["collections"]
    assert "Goal 10 · actual 0" in cards["disbursal count"]
    assert not re.search(r"<td[^>]*>[a-z]+_[a-z_]+</td>", page.text)  # no step shown by its code


def test_the_disbursal_target_counts_the_sanctioned_principal_not_the_amount_asked(
    client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """A loan asked for at 1,00,000 and sanctioned at 85,000 is disbursed on 85,000: the sales page's "actual" summed the
    amount asked (1,00,000) while Dashboard V2's targets count the sanctioned principal."""
    from tests.e2e.test_servicing_api import disbursed_loan, set_business_date

    tenant, _ = staff
    today = datetime.now(UTC).date()
    set_business_date(platform, tenant, today)
    disbursed_loan(platform, tenant, today)
    month = today.strftime("%Y-%m")
    goals = {month: {"disbursal_amount": "500000.00", "disbursal_count": 10, "collections": "1.00"}}
    assert client.patch("/api/v1/brand/config", json={"monthly_targets": goals}, headers=tenant.auth).status_code == 200
    overview = client.get("/api/v1/sales/overview", params={"month": month}, headers=tenant.auth)
    assert overview.status_code == 200, overview.text
    lines = {t["name"]: t for t in overview.json()["targets"]}
    assert lines["disbursal_amount"]["actual"] == "85000.00" and lines["disbursal_count"]["actual"] == "1"
