"""Global search and the dashboards in headless Chromium (issue #18 items 2 and 3): the top bar's box suggests
the brand's borrowers, loans and staff grouped as it is typed into (debounced) and opens the profile on a click;
the dashboard shows V1 or V2 by the brand's `dashboard_version`, readable at phone and desktop widths with nothing
overflowing sideways."""

from __future__ import annotations

import uuid
from typing import Any

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue"]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _admin(platform: Any, tenant: Any, name: str = "Dev Admin") -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return email


def test_top_bar_search_groups_results_and_opens_the_profile(server: str, browser: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    tag = uuid.uuid4().hex[:4]
    surname = f"Quraishi{tag}"
    email = _admin(platform, tenant, f"Farzana Staff {surname}")
    customers: Customers = platform.get(Customers)
    mine = customers.register(tenant.brand_id, name=f"Farzana {surname}", phone=mobile("96"))
    theirs = customers.register(other.brand_id, name=f"Farzana {surname}", phone=mobile("96"))
    settle(platform, Customers.name, theirs.position)
    loan = platform.get(Loans).create(tenant.brand_id, mine.id, PRODUCT, "50000", 6)
    settle(platform, Loans.name, loan.position)
    number = platform.get(Loans).get(tenant.brand_id, loan.id).loan_number

    page = browser.new_context(viewport=DESKTOP).new_page()
    login(page, server, email)
    page.goto(f"{server}/dashboard")
    page.type("#global-search-input", surname.lower()[:10], delay=30)
    results = page.locator("#global-search-results")
    results.locator("a").first.wait_for()
    assert [h.inner_text() for h in results.locator("h3").all()] == ["BORROWERS", "LOANS", "STAFF"] or [
        h.inner_text().lower() for h in results.locator("h3").all()
    ] == ["borrowers", "loans", "staff"]
    borrowers = results.locator("[data-group=borrowers] a")
    assert borrowers.count() == 1 and borrowers.first.get_attribute("href") == f"/customers/{mine.id}"
    assert str(theirs.id) not in results.inner_html()
    assert number in results.locator("[data-group=loans]").inner_text()
    assert "Farzana Staff" in results.locator("[data-group=staff]").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "global-search.png"))
    results.locator("[data-group=loans] a").first.click()
    page.wait_for_url(f"{server}/loans/{loan.id}")

    # Without the script's suggestions, Enter submits the box to the search page: the same groups.
    page.goto(f"{server}/search?find={number[-6:]}")
    assert number in page.locator("#results-loans").inner_text()
    assert "No borrower found" in page.locator("#results-borrowers").inner_text()

    phone = browser.new_context(viewport=PHONE).new_page()
    login(phone, server, email)
    phone.fill("#global-search-input", "")
    phone.type("#global-search-input", surname.lower(), delay=20)
    phone.locator("#global-search-results a").first.wait_for()
    box = phone.locator("#global-search-results").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_dashboard_v1_then_v2_at_phone_and_desktop_widths(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    email = _admin(platform, tenant)
    set_business_date(platform, tenant, D0)
    disbursed_loan(platform, tenant)

    page = browser.new_context(viewport=DESKTOP).new_page()
    login(page, server, email)
    page.goto(f"{server}/dashboard")
    assert page.locator("#dashboard-v1").is_visible() and page.locator(".chart").count() == 0
    assert page.locator("#kpi-total .figure").inner_text() == "1"
    assert page.locator("#kpi-disbursed .figure").inner_text() == "1"

    changed, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"dashboard_version": "V2"})
    settle(platform, "identity", changed.position)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        view = browser.new_context(viewport=viewport).new_page()
        login(view, server, email)
        view.goto(f"{server}/dashboard")
        assert view.locator("#dashboard-v2").is_visible()
        assert view.locator("svg.chart").count() == 4
        for chart in view.locator("svg.chart").all():
            box = chart.bounding_box()
            assert box is not None and box["width"] <= viewport["width"] and box["height"] > 40
        assert "Sanction" in view.locator("#tat").inner_text() or "sanction" in view.locator("#tat").inner_text()
        assert view.locator("#reminders-panel").is_visible()
        assert view.evaluate("document.documentElement.scrollWidth") <= viewport["width"], name
        view.screenshot(path=str(ARTIFACTS / f"dashboard-v2-{name}.png"), full_page=True)
        view.click("#reminders-refresh")
        view.wait_for_selector("#dashboard-v2")
