"""The engagement pages in headless Chromium (issue #17 item 5): a template edited (preview of a hostile draft shown
escaped, saving makes version 2), the delivery dashboard's SVG chart and the message list after a job run, the
loan page's link to its messages, and the pages at phone width."""

from __future__ import annotations

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
from tests.e2e.blackbox import DAY, zone_at
from tests.e2e.conftest import PASSWORD, login
from tests.e2e.test_engagement import configure, run_job
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


def test_templates_dashboard_and_messages_pages(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Asha Admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    configure(platform, tenant, timezone=zone_at(DAY))
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 21))
    run_job(server, platform, tenant)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server, email)
    page.goto(f"{server}/engagement/templates")
    page.wait_for_selector("#templates")
    assert "due_7 sms en" in page.locator("#templates").inner_text()
    page.click("#templates a >> text=due_7 sms en")
    page.wait_for_selector("#template-form")
    assert "Dear Asha Verma" in page.locator("#preview").inner_text()  # sample data

    page.fill("#template-form textarea[name=body]", "Hello {{borrower_name}} <b>bold</b>, pay {{amount}}")
    page.click("#template-form button[value=preview]")
    page.wait_for_selector("#preview")
    assert "Hello Asha Verma <b>bold</b>, pay" in page.locator("#preview").inner_text()
    assert page.locator("#preview b").count() == 0  # shown as text, never markup
    page.fill("#template-form textarea[name=body]", "Hello {{nickname}}")
    page.click("#template-form button[value=save]")
    page.wait_for_selector("[role=alert]")
    assert "nickname" in page.locator("[role=alert]").inner_text()
    page.fill("#template-form textarea[name=body]", "Hi {{borrower_name}}, {{amount}} due {{due_date}}")
    page.click("#template-form button[value=save]")
    page.wait_for_selector("#versions >> text=v2")

    page.goto(f"{server}/engagement/deliveries")
    page.wait_for_selector("#delivery-chart")
    assert page.locator("#delivery-chart rect").count() >= 4
    assert "sms" in page.locator("#deliveries").inner_text()

    page.goto(f"{server}/loans/{loan_id}")
    page.click("#engagement-messages-link")
    page.wait_for_selector("#messages")
    shown = page.locator("#messages").inner_text()
    assert "due_7 #1" in shown and "whatsapp" in shown and "delivered" in shown

    for path in ("/engagement/messages", "/engagement/deliveries", "/engagement/templates"):
        page.set_viewport_size({"width": 375, "height": 812})
        page.goto(f"{server}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.close()

    other = make_tenant(platform)
    listed = httpx.get(f"{server}/api/v1/messages", params={"loan_id": str(loan_id)}, headers=other.auth).json()
    assert listed["items"] == []
