"""The loan's payments page in headless Chromium (issue #15 item 2): a payment link created and sent from the form,
paid at the gateway simulator and shown `paid`; a refusal shown on the page; a mandate registered, approved by the
payer and revoked from the page."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    yield


def _reload_until(page: Any, selector: str, text: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = str(page.locator(selector).inner_text())
        if text in shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)
        page.reload()


def test_links_and_mandates_from_the_payments_page(
    server: str, browser: Any, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    email = f"ops-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Ravi Ops", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/loans/{loan_id}")
    page.click("#paylinks-link")
    page.wait_for_selector("#link-form")

    page.fill("#link-form input[name=amount]", "999999.00")  # above the payoff: refused, shown, nothing made
    page.click("#link-form button")
    page.wait_for_selector("#links")
    assert "payoff" in page.locator("[role=alert]").inner_text()
    assert "No payment links yet" in page.locator("#links").inner_text()

    page.fill("#link-form input[name=amount]", "")  # what is due now
    page.click("#link-form button")
    page.wait_for_selector("#links tbody tr >> text=sent")
    assert "₹8,037.57" in page.locator("#links").inner_text()
    links = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth).json()["items"]
    provider_simulators["gateway"].pay(links[0]["order_id"]).result(timeout=10)
    assert "paid" in _reload_until(page, "#links", "paid")

    page.fill("#mandate-form input[name=vpa]", "meera@okbank")
    page.fill("#mandate-form input[name=max_amount]", "9000")
    page.click("#mandate-form button")
    page.wait_for_selector("#mandate-list >> text=registered")
    mandate = httpx.get(f"{server}/api/v1/loans/{loan_id}/mandates", headers=tenant.auth).json()["items"][0]
    second = httpx.post(f"{server}/api/v1/loans/{loan_id}/mandates", headers=tenant.auth, json={
        "vpa": "ravi@ok", "max_amount": "1"}).status_code  # fmt: skip
    assert second == 409  # one registered mandate per loan
    provider_simulators["gateway"].approve_mandate(
        next(m for m in provider_simulators["gateway"]._mandates.values() if m.reference == mandate["id"]).mandate_id
    ).result(timeout=10)
    assert "active" in _reload_until(page, "#mandate-list", "active")
    page.click("#mandate-list form button")
    page.wait_for_selector("#mandate-list >> text=revoked")
    page.screenshot(path=str(ARTIFACTS / "loan_paylinks.png"), full_page=True)


def test_the_borrower_pays_from_the_reminders_payment_page(
    server: str, browser: Any, platform: Any, provider_simulators: Any
) -> None:
    """The page a reminder links (no login) in Chromium: what is due, Pay, the gateway's page, paid, and the page
    then shows the next instalment; a payoff closes the loan and the page offers the no-due certificate."""
    from datetime import UTC, datetime

    from api.services.pay_links import PayLinks

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 3, 5))  # instalment 1 (28 Feb) overdue: 5 DPD
    link = PayLinks().url(server, tenant.brand_id, loan_id, datetime.now(UTC))

    page = browser.new_page()
    page.goto(link)
    assert page.locator("#dpd").inner_text() == "5"
    due = page.locator("#due").inner_text()
    assert due.startswith("₹8,0"), due  # the instalment and its penal charges
    page.screenshot(path=str(ARTIFACTS / "pay-page-due.png"))
    page.click("#pay-due")
    page.wait_for_selector("#allow")  # the gateway's page
    assert "Rs " + due.removeprefix("₹").replace(",", "") in page.content()
    page.click("#allow")
    page.wait_for_selector("#result")
    page.goto(link)
    shown = _reload_until(page, "#figures", "31 Mar 2026")
    assert "31 Mar 2026" in shown and page.locator("#dpd").count() == 0, shown
    page.click("#pay-payoff")
    page.wait_for_selector("#allow")
    page.click("#allow")
    page.wait_for_selector("#result")
    page.goto(link)
    # Paid off: the page says so at once; the certificate, issued just after the closing payment, follows.
    assert "fully paid" in _reload_until(page, "main", "Download your no-due certificate")
    assert page.locator("#certificate").count() == 1
    page.screenshot(path=str(ARTIFACTS / "pay-page.png"))
    repayments = poll(lambda: httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json(),
                      lambda answer: len(answer["items"]) == 2)  # fmt: skip  # the read model follows the loan
    assert [p["mode"] for p in repayments["items"]] == ["payment_link", "payment_link"]
    page.close()
