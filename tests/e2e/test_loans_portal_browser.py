"""The loan pages in headless Chromium: the queue with its filters, a loan with its pricing preview, submitting it
through the BRE, a bypass and an override re-deciding it, assigning and cancelling, each shown in its history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_api_loans import SCORED, Catalogue
from tests.support import settle


@pytest.fixture
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before, loans._catalogue = loans._catalogue, Catalogue()
    yield loans._catalogue
    loans._catalogue = before


def test_queue_loan_page_and_its_forms(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any, catalogue: Catalogue
) -> None:
    tenant, email = staff
    borrower = platform.get(Customers).register(
        tenant.brand_id, name="Farah Khan", phone="9876522001",
        addresses=[Address(line1="9 Hill Road", city="Mumbai", pincode="400050")],
    )  # fmt: skip
    cx = platform.get(Identity).create_staff(
        tenant.brand_id, "cx.farah@lender.in", "Nisha CX", ["credit_executive"], granter=OPERATOR
    )
    loan = platform.get(Loans).create(tenant.brand_id, borrower.id, SCORED, "60000", 12)
    settle(platform, "identity", cx.position)
    settle(platform, "loans", loan.position)
    settle(platform, "customers")  # the name search reads read.customers

    page = browser.new_page()
    login(page, server, email)
    page.click("nav >> text=Loans")
    page.wait_for_url(f"{server}/loans")
    assert "Farah Khan" in page.locator("#loan-queue").inner_text()
    page.fill("input[name=q]", "farah")
    page.click("#loan-filters button")
    assert page.locator("#loan-queue tbody tr").count() == 1
    page.select_option("select[name=status]", "cancelled")
    page.click("#loan-filters button")
    assert "No loans match" in page.locator("#loan-queue").inner_text()

    page.goto(f"{server}/loans/{loan.id}")
    assert "Net disbursed" in page.locator("#pricing").inner_text()
    assert "₹5,673.58" in page.locator("#pricing").inner_text()  # EMI of 60,000 at 24% over 12 months
    page.click("#submit-form button")
    page.wait_for_selector("#bre-results")
    assert page.locator("#loan-status").inner_text() == "rejected"
    assert "credit score not known" in page.locator("#bre-results").inner_text()

    page.select_option("#bypass-form select[name=check]", "bureau")
    page.fill("#bypass-form input[name=reason]", "bureau outage today")
    page.click("#bypass-form button")
    page.wait_for_selector("#loan-status:has-text('pending')")

    page.select_option("#override-form select[name=rule]", "COOLDOWN")
    page.select_option("#override-form select[name=result]", "pass")
    page.fill("#override-form textarea[name=justification]", "checked with the other branch")
    page.click("#override-form button")
    assert "COOLDOWN is already 'pass'" in page.locator(".alert").inner_text()  # refused, the page kept

    page.select_option("#assign-form select[name=staff_id]", str(cx.id))
    page.click("#assign-form button")
    page.wait_for_selector("#loan-assignee:has-text('Nisha CX')")

    page.goto(f"{server}/loans")
    page.click("#mine")
    assert "No loans match" in page.locator("#loan-queue").inner_text()  # assigned to Nisha, not to the admin
    page.goto(f"{server}/loans/{loan.id}")
    page.fill("#cancel-form input[name=reason]", "borrower took another offer")
    page.click("#cancel-form button")
    page.wait_for_selector("#loan-status:has-text('cancelled')")
    history = page.locator("#loan-history").inner_text()
    assert "Priya Ops" in history
    for kind in ("created", "submitted", "bypassed", "assigned", "cancelled"):
        assert kind in history
    assert "borrower took another offer" in history
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "loan.png"), full_page=True)
