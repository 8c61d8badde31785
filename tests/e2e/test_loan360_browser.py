"""Loans across the portal in headless Chromium (issue #15): a loan paid off in full shows under Completed loans,
its borrower's Customer 360 lists it with its status and zero outstanding beside an open loan's DPD and next due,
the automated re-loan offer is accepted from the Re-loans list, and the COB page runs COB for a date."""

from __future__ import annotations

import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_reloans import _job
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


def test_completed_loans_customer_360_reloan_acceptance_and_cob(
    server: str, browser: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    email = f"ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = identity.create_staff(tenant.brand_id, email, "Ravi Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    changed, _ = identity.change_configuration(
        tenant.brand_id, {"automated_reloan": True, "reloan_hike": {"kind": "fixed", "value": "5000"}}
    )
    settle(platform, "identity", changed.position)
    set_business_date(platform, tenant, D0)
    loans: Loans = platform.get(Loans)
    paid, open_one = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    payoff = loans.payoff(tenant.brand_id, paid).total
    closing, _ = loans.record_repayment(tenant.brand_id, paid, payoff, "neft", "UTR-BROWSER-END")
    settle(platform, Loans.name, closing.position)
    number = loans.get(tenant.brand_id, paid).loan_number
    customer_id = loans.get(tenant.brand_id, paid).customer_id

    page = browser.new_page()
    login(page, server, email)
    page.click("nav >> text=Completed loans")
    page.wait_for_selector("#completed-loans")
    assert number in page.locator("#completed-loans").inner_text()
    page.click("#tab-written_off")
    page.wait_for_selector("#completed-loans")
    assert "No written-off loans" in page.locator("#completed-loans").inner_text()

    page.goto(f"{server}/customers/{customer_id}")
    row = page.locator(f'#customer-loans tr[data-loan="{number}"]')
    assert "completed" in row.inner_text() and "₹0.00" in row.inner_text()
    other = loans.get(tenant.brand_id, open_one)  # another borrower's open loan: DPD, class, next due
    page.goto(f"{server}/customers/{other.customer_id}")
    row = page.locator(f'#customer-loans tr[data-loan="{other.loan_number}"]')
    assert "standard" in row.inner_text() and "#1" in row.inner_text() and "₹85,000.00" in row.inner_text()

    assert _job(client, platform, tenant)["status"] == "succeeded"
    page.goto(f"{server}/reloan-offers")
    offer = page.locator("#reloan-offers tbody tr").first
    assert number in offer.inner_text() and "₹90,000.00" in offer.inner_text()
    offer.locator("text=Accept").click()
    page.wait_for_selector("#reloan-offers")
    assert "approved" in page.url and "application" in page.locator("#reloan-offers").inner_text()

    page.goto(f"{server}/loan-cob")
    page.fill("#cob-run input[name=as_of]", "2026-01-31")
    page.click("#cob-run button")
    page.wait_for_selector("#cob-started")
    page.screenshot(path=str(ARTIFACTS / "loan_cob_page.png"), full_page=True)
