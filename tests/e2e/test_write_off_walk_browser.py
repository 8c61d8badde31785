"""A write-off walked in headless Chromium, as staff work it: a Collection Executive opens their collection case,
goes to the loan page and on to its ledger, then proposes the write-off from the case page (spec, Collection
Executive: "Initiate a Write-Off"); an admin finds it through the "Approvals" entry of the bar, approves it on
/approvals/write-offs, and the loan page shows the loan written off."""

from __future__ import annotations

import re
import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_collections import executive, give_case
from tests.e2e.test_recoveries_api import _overdue_loan
from tests.e2e.test_servicing_api import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

REASON = "borrower absconded; employer and references untraceable"


def test_an_executive_walks_case_loan_and_ledger_then_proposes_a_write_off_an_admin_approves(
    server: str, browser: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    executive_id, executive_email = executive(platform, tenant, "Esha")
    give_case(platform, tenant, loan_id, executive_id)
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, admin_email, "Anil Admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    loan_number = platform.get(Loans).get(tenant.brand_id, loan_id).loan_number
    case = f"{server}/collections/loans/{loan_id}"

    page = browser.new_page()
    login(page, server, executive_email)
    page.goto(case)
    assert loan_number in page.locator("h1").inner_text()
    page.click("#case-facts a:text-is('loan page')")
    page.wait_for_url(f"{server}/loans/{loan_id}")
    assert loan_number in page.locator("h1").inner_text()
    assert page.locator("#loan-status").get_attribute("data-status") != "written_off"
    page.click("#ledger-link")
    page.wait_for_url(f"{server}/loans/{loan_id}/ledger")
    assert page.locator("#loan-ledger tbody tr").count() > 0
    assert ">Approvals</a>" not in page.content()  # an executive decides nothing

    page.goto(case)
    page.click("#write-off-proposal summary")
    page.fill("#write-off-proposal-form textarea[name=reason]", REASON)
    page.click("#write-off-proposal-form button")
    page.wait_for_url(re.compile(rf"/loans/{loan_id}/recoveries(\?.*)?$"))
    asked = page.locator("#recovery-requests tbody tr", has_text=REASON)
    assert asked.count() == 1 and "pending approval" in asked.inner_text().lower()
    assert page.locator("#loan-status").inner_text() != "written_off"
    page.context.close()

    page = browser.new_page()
    login(page, server, admin_email)
    page.click("nav[aria-label=Main] a:text-is('Approvals')")
    page.wait_for_url(re.compile(r"/approvals/[a-z-]+$"))
    page.click("#approval-tabs a:text-is('Write-offs')")
    page.wait_for_url(f"{server}/approvals/write-offs")
    row = page.locator("#approval-queue tbody tr", has_text=REASON)
    assert loan_number in row.inner_text() and "Esha" in row.inner_text()
    row.locator("button.approve").click()
    page.wait_for_url(re.compile(r"/approvals/write-offs(\?.*)?$"))
    page.wait_for_selector("#approval-queue")
    assert REASON not in page.locator("#approval-queue").inner_text()
    page.goto(f"{server}/loans/{loan_id}")
    assert page.locator("#loan-status").get_attribute("data-status") == "written_off"
    page.screenshot(path=str(ARTIFACTS / "write_off_walk.png"), full_page=True)
