"""Collection money in headless Chromium (issue #16 items 5-7): a collection executive reports a partial collection
and asks for a waiver from the loan's collection-money page (on a phone-width screen); a collection manager
approves the collection and rejects the waiver from the approvals queue; the money shows as approved and a
repayment; an admin writes the loan off from the loan page and it moves to the completed loans' Write-off tab."""

from __future__ import annotations

import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_collections import executive as collection_executive
from tests.e2e.test_collections import give_case
from tests.e2e.test_recoveries_api import LATE
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]
PHONE = {"width": 390, "height": 844}


def _staff(platform: Any, brand: Any, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(brand, email, f"Test {role}", [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return email


def test_collection_approved_in_the_queue_and_write_off(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    executive_id, executive = collection_executive(platform, tenant, "Esha")
    manager = _staff(platform, tenant.brand_id, "collection_manager")
    admin = _staff(platform, tenant.brand_id, "admin")
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    give_case(platform, tenant, loan_id, executive_id)  # the money page shows an executive their own loans
    set_business_date(platform, tenant, LATE)

    # the executive, on a phone
    page = browser.new_context(viewport=PHONE).new_page()
    login(page, server, executive)
    page.goto(f"{server}/loans/{loan_id}/recoveries")
    assert page.locator("#loan-status").inner_text() == "active"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.click("#collection-request summary")
    page.fill("#collection-request-form input[name=amount]", "2500.00")
    page.fill("#collection-request-form input[name=reference]", "FIELD-RCPT-1")
    page.click("#collection-request-form button")
    page.wait_for_selector("#recovery-requests")
    assert "pending approval" in page.locator("#recovery-requests").inner_text()
    page.click("#waiver summary")
    page.fill("#waiver-form input[name=amount]", "99999.00")  # above the penal charges: refused, shown
    page.fill("#waiver-form textarea[name=justification]", "hospital stay")
    page.click("#waiver-form button")
    page.wait_for_selector("#recovery-error")
    assert "penal" in page.locator("#recovery-error").inner_text()
    # the refused form comes back open, as typed: only the amount is changed
    assert page.locator("#waiver-form textarea[name=justification]").input_value() == "hospital stay"
    page.fill("#waiver-form input[name=amount]", "10.00")
    page.click("#waiver-form button")
    page.wait_for_selector("#recovery-requests")
    assert page.locator("#recovery-requests tbody tr").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(ARTIFACTS / "recoveries_phone.png"), full_page=True)
    assert "write-off-form" not in page.content()  # admins only
    page.context.close()

    # the manager's queue: approve the collection, reject the waiver
    page = browser.new_page()
    login(page, server, manager)
    page.goto(f"{server}/approvals/collections")
    row = page.locator("#approval-queue tbody tr", has_text="FIELD-RCPT-1")
    row.locator("button.approve").click()
    page.wait_for_selector("#approval-queue")
    assert "FIELD-RCPT-1" not in page.locator("#approval-queue").inner_text()
    page.goto(f"{server}/approvals/waivers")
    row = page.locator("#approval-queue tbody tr", has_text="hospital stay")
    row.locator("input[name=reason]").fill("pay the charges first")
    row.locator("button.reject").click()
    page.wait_for_selector("#approval-queue")
    page.goto(f"{server}/approvals/waivers?status=rejected")
    assert "pay the charges first" in page.locator("#approval-queue").inner_text()
    assert page.goto(f"{server}/approvals/receipts").status == 403  # receipts are confirmed by Ops
    page.close()
    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    assert [p.reference for p in loan.payments.values()] == ["FIELD-RCPT-1"]

    # the admin writes it off from the loan page
    page = browser.new_page()
    login(page, server, admin)
    page.goto(f"{server}/loans/{loan_id}")
    page.click("#write-off summary")
    page.fill("#write-off-form textarea[name=reason]", "borrower deceased; no estate")
    page.click("#write-off-form button")
    page.wait_for_selector("#ending")
    assert page.locator("#loan-status").inner_text() == "written_off"
    page.goto(f"{server}/completed-loans?tab=written_off")
    assert loan.loan_number in page.content()
    page.screenshot(path=str(ARTIFACTS / "recoveries_written_off.png"), full_page=True)
