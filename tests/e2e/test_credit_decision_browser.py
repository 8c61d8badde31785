"""The credit decision in headless Chromium (issue #14): a CX finds the application on their worklist, reviews it,
records the CAM and approves an amount; a Sanction Manager takes it from the sanction queue and sanctions a final
amount; the loan page shows the three amounts, the net disbursed, the schedule and the journey (who, amounts,
reason); the Sanction Head sees the SM's figures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_api_loans import PRODUCT, Catalogue
from tests.support import settle


@pytest.fixture
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before, loans._catalogue = loans._catalogue, Catalogue()
    yield loans._catalogue
    loans._catalogue = before


def test_cx_approves_and_the_sm_sanctions(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any, catalogue: Catalogue
) -> None:
    tenant, admin_email = staff
    identity = platform.get(Identity)
    cx = identity.create_staff(
        tenant.brand_id, "cx.decide@lender.in", "Nisha CX", ["credit_executive"], PASSWORD, granter=OPERATOR
    )
    sm = identity.create_staff(
        tenant.brand_id, "sm.decide@lender.in", "Arjun SM", ["sanction_manager"], PASSWORD, granter=OPERATOR
    )
    borrower = platform.get(Customers).register(
        tenant.brand_id, name="Kavya Rao", phone="9876522011",
        addresses=[Address(line1="2 Temple Street", city="Pune", pincode="411001")],
    )  # fmt: skip
    loans = platform.get(Loans)
    loan = loans.create(tenant.brand_id, borrower.id, PRODUCT, "100000", 12)
    loans.submit(tenant.brand_id, loan.id)
    settle(platform, "identity", sm.position)
    assigned = loans.assign(tenant.brand_id, loan.id, cx.id, "for the browser test")
    settle(platform, "loans", assigned.position)

    cx_page = browser.new_context().new_page()
    login(cx_page, server, "cx.decide@lender.in")
    cx_page.click("nav >> text=Worklist")
    assert "Kavya Rao" in cx_page.locator("#worklist-queue").inner_text()
    cx_page.click("#worklist-queue a")
    assert "Kavya Rao" in cx_page.locator("#review-profile").inner_text()
    assert "No hits" in cx_page.locator("#review-blocklist").inner_text()
    kyc = cx_page.locator("#review-kyc").inner_text()
    assert "Credit bureau" in kyc and "Bank statement analysis" in kyc and "No bank account yet" in kyc
    assert "No documents uploaded" in cx_page.locator("#review-documents").inner_text()
    pan_row = cx_page.locator("#review-document-checklist tr[data-kind=pan_card]")
    assert pan_row.get_attribute("data-state") == "missing" and "missing" in pan_row.inner_text()
    cx_page.click("#open-loan")
    for i, (month, salary) in enumerate((("2026-08", "52000"), ("2026-09", "52000"), ("2026-10", "53500"))):
        cx_page.fill(f"#cam-form input[name=month_{i}]", month)
        cx_page.fill(f"#cam-form input[name=salary_{i}]", salary)
    cx_page.fill("#cam-form input[name=foir]", "32.5")
    cx_page.fill("#cam-form input[name=recommended_amount]", "90000")
    cx_page.fill("#cam-form input[name=recommended_rate]", "24")
    cx_page.fill("#cam-form textarea[name=notes]", "stable employer, salary account")
    cx_page.click("#cam-form button")
    cx_page.wait_for_selector("#cam-view")
    cx_page.fill("#cx-approve-form input[name=approved_amount]", "250000")  # above the product's maximum
    cx_page.fill("#cx-approve-form textarea[name=remarks]", "salary supports it")
    cx_page.click("#cx-approve-form button")
    assert "between 10000.00 and 200000.00" in cx_page.locator(".alert").inner_text()
    cx_page.fill("#cx-approve-form input[name=approved_amount]", "90000")
    cx_page.fill("#cx-approve-form textarea[name=remarks]", "salary supports 90k")
    cx_page.click("#cx-approve-form button")
    cx_page.wait_for_selector("#loan-status:has-text('CX approved')")
    assert cx_page.locator("#sanction-form").count() == 0  # a CX cannot sanction

    sm_page = browser.new_context().new_page()
    login(sm_page, server, "sm.decide@lender.in")
    sm_page.click("nav >> text=Sanction")
    assert "₹90,000.00" in sm_page.locator("#sanction-queue").inner_text()
    sm_page.click("#sanction-queue a")
    sm_page.fill("#sanction-form input[name=sanctioned_amount]", "85000")
    sm_page.fill("#sanction-form textarea[name=remarks]", "FOIR at the limit")
    sm_page.click("#sanction-form button")
    sm_page.wait_for_selector("#loan-status:has-text('SM approved')")
    amounts = sm_page.locator("#decision-amounts").inner_text()
    assert "₹1,00,000.00" in amounts and "₹90,000.00" in amounts and "₹85,000.00" in amounts
    assert sm_page.locator("#net-disbursed").inner_text() == "₹82,494.00"
    sm_page.click("#schedule summary")
    assert "₹8,037.57" in sm_page.locator("#schedule").inner_text()
    journey = sm_page.locator("#loan-history").inner_text()
    assert "Nisha CX" in journey and "Arjun SM" in journey
    assert "sanctioned ₹85,000.00" in journey and "FOIR at the limit" in journey and "salary supports 90k" in journey
    ARTIFACTS.mkdir(exist_ok=True)
    sm_page.screenshot(path=str(ARTIFACTS / "loan_sanctioned.png"), full_page=True)

    head = browser.new_context().new_page()
    login(head, server, admin_email)
    head.goto(f"{server}/credit/sanction-head")
    figures = head.locator("#sm-figures").inner_text()
    assert "Arjun SM" in figures and "100.0%" in figures
