"""Escalations and send backs to a named step in headless Chromium (issue #14): a Sanction Manager escalates a
CX-approved loan from its page; the Sanction Head sees it first on his page with its reason and assigns it to another
SM, whose sanction queue then holds it (and the first SM's does not); a pending loan is sent back to the borrower with
the step to do again chosen in the form."""

from __future__ import annotations

from typing import Any

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_api_loans import PRODUCT, Catalogue
from tests.e2e.test_credit_decision_browser import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the fixture, used by name


def _loan(platform: Any, brand_id: Any, name: str, phone: str) -> Any:
    borrower = platform.get(Customers).register(
        brand_id, name=name, phone=phone, addresses=[Address(line1="2 Temple Street", city="Pune", pincode="411001")]
    )
    loans = platform.get(Loans)
    loan = loans.create(brand_id, borrower.id, PRODUCT, "100000", 12)
    loans.submit(brand_id, loan.id)
    return loan


def test_escalate_then_the_head_assigns_and_a_send_back_names_its_step(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any, catalogue: Catalogue
) -> None:
    tenant, admin_email = staff
    identity = platform.get(Identity)
    identity.create_staff(
        tenant.brand_id, "sm.one@lender.in", "Arjun SM", ["sanction_manager"], PASSWORD, granter=OPERATOR
    )
    meena = identity.create_staff(
        tenant.brand_id, "sm.two@lender.in", "Meena SM", ["sanction_manager"], PASSWORD, granter=OPERATOR
    )
    loans = platform.get(Loans)
    loan = _loan(platform, tenant.brand_id, "Kavya Rao", "9876522031")
    loans.cx_approve(tenant.brand_id, loan.id, "90000", "salary supports 90k")
    waiting = _loan(platform, tenant.brand_id, "Dev Shah", "9876522032")
    settle(platform, "identity", meena.position)
    settle(platform, "loans")

    arjun = browser.new_context().new_page()
    login(arjun, server, "sm.one@lender.in")
    arjun.goto(f"{server}/loans/{loan.id}")
    arjun.fill("#escalate-form textarea[name=reason]", "employer unknown to me")
    arjun.click("#escalate-form button")
    arjun.wait_for_selector("#loan-history:has-text('employer unknown to me')")

    head = browser.new_context().new_page()
    login(head, server, admin_email)
    head.goto(f"{server}/credit/sanction-head")
    row = head.locator(f"#escalated-loans tr[data-loan='{loan.id}']")
    assert "employer unknown to me" in row.inner_text()
    assert head.locator("#escalations").bounding_box()["y"] < head.locator("#team-figures").bounding_box()["y"]
    row.locator("select[name=staff_id]").select_option(label="Meena SM")
    # A refused assignment (a reason of blanks) is said on this page, the form as posted (it answered with the loan
    # page, which has no such form, saying what was typed was kept).
    row.locator("input[name=reason]").fill("      ")
    row.locator("button").click()
    head.wait_for_selector("#assign-error")
    assert head.url.endswith(f"/loans/{loan.id}/sanction-assign")  # the Sanction Head's page, at the form's address
    again = head.locator(f"#escalated-loans tr[data-loan='{loan.id}']")
    assert again.locator("select[name=staff_id] option:checked").inner_text() == "Meena SM"
    again.locator("input[name=reason]").fill("Meena knows the employer")
    again.locator("button").click()  # assigned: back on the Sanction Head's page
    head.wait_for_url(f"{server}/credit/sanction-head")
    assert head.locator("#assign-error").count() == 0
    assert head.locator(f"#escalated-loans tr[data-loan='{loan.id}']").count() == 0
    head.goto(f"{server}/loans/{loan.id}")
    head.wait_for_selector("#loan-history:has-text('Meena knows the employer')")
    head.goto(f"{server}/credit/sanction-head")
    assert "Meena SM" in head.locator("#sm-figures").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    head.screenshot(path=str(ARTIFACTS / "sanction_head.png"), full_page=True)

    meena_page = browser.new_context().new_page()
    login(meena_page, server, "sm.two@lender.in")
    meena_page.click("nav >> text=Sanction")
    assert "Kavya Rao" in meena_page.locator("#sanction-queue").inner_text()
    arjun.click("nav >> text=Sanction")
    assert "Kavya Rao" not in arjun.locator("main").inner_text()

    head.goto(f"{server}/loans/{waiting.id}")
    head.select_option("#send-back-form select[name=step]", "bank_statement")
    head.fill("#send-back-form textarea[name=reason]", "the statement is of another account")
    head.click("#send-back-form button")
    head.wait_for_selector("#loan-status:has-text('onboarding')")
    sent = loans.events.get(waiting.id)
    assert [getattr(e, "step", None) for e in sent][-1] == "bank_statement"
