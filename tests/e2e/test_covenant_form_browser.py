"""The New covenant form in headless Chromium at a phone's width: opened from the borrower's Customer 360 (the
borrower filled in), only the chosen type's terms shown, a refusal shown at its field with the rest as typed, then
saved onto the covenant's page - nothing overflowing sideways on the way."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_covenants import _borrower
from tests.support import settle

PHONE = {"width": 375, "height": 812}


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def test_staff_fill_in_a_new_covenant_on_a_phone(
    server: str, browser: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant)
    settle(platform, "customers")
    phone = browser.new_context(viewport=PHONE).new_page()
    login(phone, server, email)

    phone.goto(f"{server}/covenants")
    assert phone.locator("#new-covenant").get_attribute("href") == "/covenants/new"
    phone.goto(f"{server}/customers/{customer}")
    phone.click("#customer-covenants #new-covenant")
    phone.wait_for_selector("#covenant-form")
    assert "Suresh Menon" in phone.locator("#covenant-borrower").inner_text()
    _fits(phone)
    terms = {
        kind: phone.locator(f"#covenant-form fieldset.terms[data-type={kind}]")
        for kind in ("financial", "document", "other")
    }
    assert not any(t.is_visible() for t in terms.values())  # no type chosen yet
    phone.select_option("#covenant-form select[name=type]", "document")
    assert terms["document"].is_visible() and not terms["financial"].is_visible()
    phone.select_option("#covenant-form select[name=type]", "financial")
    assert terms["financial"].is_visible() and not terms["document"].is_visible() and not terms["other"].is_visible()

    form = phone.locator("#covenant-form")
    form.locator("input[name=application_ref]").fill("APP-2024-078")
    form.locator("input[name=title]").fill("Current ratio")
    form.locator("input[name=metric]").fill("Current ratio")
    form.locator("select[name=operator]").select_option(">=")
    form.locator("input[name=threshold]").fill("1.3x")  # not a number: refused at its field
    form.locator("select[name=frequency]").select_option("half_yearly")
    form.locator("input[name=start_date]").fill("2024-04-01")
    form.locator("input[name=first_due_date]").fill("2024-09-30")
    form.locator("input[name=expiry_date]").fill("2026-03-31")
    form.locator("input[name=grace_days]").fill("3")
    form.locator("input[name=company]").fill("SML")
    _fits(phone)
    phone.click("#covenant-form button[type=submit]")
    phone.wait_for_selector("#error-threshold")
    assert phone.url == f"{server}/covenants/new"
    _fits(phone)
    form = phone.locator("#covenant-form")
    assert form.locator("input[name=threshold]").input_value() == "1.3x"
    assert form.locator("input[name=title]").input_value() == "Current ratio"
    assert form.locator("select[name=frequency]").input_value() == "half_yearly"
    assert form.locator("input[name=first_due_date]").input_value() == "2024-09-30"
    assert terms["financial"].is_visible()  # the type kept: its terms still shown
    phone.screenshot(path=str(ARTIFACTS / "covenant_form_refused_phone.png"), full_page=True)
    assert client.get(f"/api/v1/covenants?customer_id={customer}", headers=tenant.auth).json()["items"] == []

    form.locator("input[name=threshold]").fill("1.3")
    phone.click("#covenant-form button[type=submit]")
    phone.wait_for_url(f"{server}/covenants/*")
    _fits(phone)
    facts = phone.locator("dl.facts").inner_text()
    for shown in ("Suresh Menon", "APP-2024-078", "financial", "Current ratio >= 1.3", "Half-yearly",
                  "30 Sep 2024", "3 /", "SML"):  # fmt: skip
        assert shown in facts, shown
    assert phone.locator("h1").inner_text() == "Current ratio"
