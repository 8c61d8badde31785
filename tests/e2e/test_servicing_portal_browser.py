"""Servicing on the loan page in headless Chromium (issue #15): outstanding, DPD and class, the schedule with paid
marks, the payment-recording form (a refusal shown on the page), a repayment's receipt from its row, the payoff paid
from the form completing the loan, and the no-due certificate downloaded."""

from __future__ import annotations

import io
import uuid
from typing import Any

from pypdf import PdfReader

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


def _signed_in_on_a_disbursed_loan(server: str, browser: Any, platform: Any, name: str) -> tuple[Any, Any, Any]:
    """A brand with a loan disbursed on D0, and a browser page signed in as its admin `name`: the tenant, the loan,
    the page."""
    tenant = make_tenant(platform)
    email = f"ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    page = browser.new_page()
    login(page, server, email)
    return tenant, loan_id, page


def test_the_loan_page_records_repayments_until_completed(server: str, browser: Any, platform: Any) -> None:
    tenant, loan_id, page = _signed_in_on_a_disbursed_loan(server, browser, platform, "Ravi Ops")
    page.goto(f"{server}/loans/{loan_id}")
    assert page.locator("#outstanding-total").inner_text() == "₹85,000.00"
    assert page.locator("#dpd").inner_text() == "0" and page.locator("#asset-class").inner_text() == "standard"
    assert page.locator("#servicing-schedule tbody tr").count() == 12
    assert "28 Feb 2026: ₹8,037.57" in page.locator("#next-due").inner_text()

    page.fill("#repayment-form input[name=amount]", "1000.00")
    page.fill("#repayment-form input[name=reference]", "UTR-PORTAL-1")
    page.click("#repayment-form button")
    page.wait_for_selector("#repayments")
    assert "UTR-PORTAL-1" in page.locator("#repayments").inner_text()
    receipt = page.request.get(server + str(page.locator("#repayments a.receipt-link").first.get_attribute("href")))
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"
    assert "UTR-PORTAL-1" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.body())).pages)
    assert "partially_paid" in page.locator("#servicing-schedule tbody tr").first.inner_text()
    assert page.locator("#outstanding-total").inner_text() == "₹84,000.00"
    # At a phone's width the schedule and the repayments scroll in their boxes: the page itself does not (it was
    # 735 px wide at 390, the whole page sliding sideways).
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 720})

    page.fill("#repayment-form input[name=amount]", "99999.00")  # above the payoff: refused, shown
    page.fill("#repayment-form input[name=reference]", "UTR-PORTAL-2")
    page.click("#repayment-form button")
    page.wait_for_selector("#servicing")
    assert "amount" in page.content().lower() and "payoff" in page.content().lower()

    payoff = platform.get(Loans).payoff(tenant.brand_id, loan_id).total
    page.goto(f"{server}/loans/{loan_id}")
    page.fill("#repayment-form input[name=amount]", str(payoff))
    page.fill("#repayment-form input[name=reference]", "UTR-PORTAL-3")
    page.click("#repayment-form button")
    page.wait_for_selector("#ndc-download")
    assert "completed" in page.locator("#loan-status").inner_text()
    assert page.locator("#outstanding-total").inner_text() == "₹0.00"
    page.screenshot(path=str(ARTIFACTS / "loan_servicing.png"), full_page=True)
    pdf = page.request.get(f"{server}/loans/{loan_id}/no-due-certificate.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")


def test_the_full_repayment_form_closes_the_loan_at_the_figure_it_shows(
    server: str, browser: Any, platform: Any
) -> None:
    """A full repayment collected in the field (the collection-money page's "Record full repayment"), in Chromium:
    another amount is refused at the form, saying the figure owed; the figure it shows closes the loan at once, its
    no-due certificate issued, with no approval."""
    tenant, loan_id, page = _signed_in_on_a_disbursed_loan(server, browser, platform, "Asha Field")
    page.goto(f"{server}/loans/{loan_id}/recoveries")
    page.click("#full-repayment summary")  # the form opens (a closed <details> hides its figure)
    owed = page.locator("#owed-today").inner_text()
    assert owed == "₹85,000.00", owed
    page.fill("#full-repayment-form input[name=amount]", "1000.00")
    page.fill("#full-repayment-form input[name=reference]", "CASH-FIELD-1")
    page.click("#full-repayment-form button")
    page.wait_for_load_state()
    assert "85000.00" in page.content() and "collection request" in page.content()  # refused, saying why
    assert platform.get(Loans).get(tenant.brand_id, loan_id).payments == {}

    page.fill("#full-repayment-form input[name=amount]", owed.replace("₹", "").replace(",", ""))
    page.fill("#full-repayment-form input[name=reference]", "CASH-FIELD-2")
    page.click("#full-repayment-form button")
    page.wait_for_load_state()
    page.goto(f"{server}/loans/{loan_id}")
    assert "completed" in page.locator("#loan-status").inner_text()
    assert page.locator("#ndc-download").count() == 1
    page.screenshot(path=str(ARTIFACTS / "loan_full_repayment.png"), full_page=True)
