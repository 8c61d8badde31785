"""The owning agent on the Customer 360 in a real headless Chromium: an admin (RELOCATE_USER) moves a borrower to an
agent with the "Agent" card's form; the profile and timeline name the agent, and the directory's "My customers" of
that agent lists the borrower."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import expect

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.support import mobile, settle


def test_a_borrower_moved_on_the_360_shows_their_agent_and_is_in_the_agents_list(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any
) -> None:
    tenant, email = staff  # an admin: RELOCATE_USER
    agent_email = f"agent-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(
        tenant.brand_id, agent_email, "Deepa Field", ["sales"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity")
    record = platform.get(Customers).register(tenant.brand_id, name="Farhan Qureshi", phone=mobile("98"))
    settle(platform, Customers.name, record.position)

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/customers/{record.id}")
    expect(page.locator("#customer-agent-name")).to_have_text("—")
    page.select_option("#agent-form select[name=agent_id]", label="Deepa Field")
    page.fill("#agent-form input[name=reason]", "Deepa covers Lucknow")
    page.click("#agent-form button[type=submit]")
    page.wait_for_url(f"{server}/customers/{record.id}#customer-agent")
    expect(page.locator("#customer-agent-name")).to_have_text("Deepa Field")
    assert "Moved to Deepa Field: Deepa covers Lucknow" in page.locator("#timeline li").first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-agent.png"), full_page=True)

    agent_page = browser.new_context().new_page()
    agent_page.goto(f"{server}/customers")
    agent_page.fill("input[name=email]", agent_email)
    agent_page.fill("input[name=password]", PASSWORD)
    agent_page.click("button[type=submit]")
    agent_page.wait_for_url(f"{server}/customers")
    agent_page.click("#my-customers")
    rows = agent_page.locator("#customer-results tbody tr")
    expect(rows).to_have_count(1)
    assert "Farhan Qureshi" in rows.first.inner_text() and "Deepa Field" in rows.first.inner_text()
    rows.first.locator("a").click()
    agent_page.wait_for_url(f"{server}/customers/{record.id}")
    expect(agent_page.locator("#customer-agent-name")).to_have_text("Deepa Field")
    expect(agent_page.locator("#agent-form")).to_have_count(0)  # sales: no RELOCATE_USER, no form
