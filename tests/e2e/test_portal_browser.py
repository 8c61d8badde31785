"""The staff portal driven in a real headless Chromium (Debian's package) through Playwright."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from domain.customers.application import Customers
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.support import settle


def test_login_search_and_open_customer_360(server: str, browser: Any, staff: tuple[Any, str], platform: Any) -> None:
    tenant, email = staff
    r = platform.get(Customers).register(
        tenant.brand_id, name="Lakshmi Venkatesh", phone="99001 23456", pan="ABCPV1234L", loan_numbers=["SM808080"]
    )
    platform.get(Customers).add_alternate_phone(tenant.brand_id, r.id, "99001 23457", "spouse")
    other = platform.get(Customers).register(tenant.brand_id, name="Rahul Mehta", phone="99001 65432")
    settle(platform, "customers", other.position)

    page = browser.new_page()
    login(page, server, email)
    assert page.get_attribute("input[name=q]", "placeholder") == "Name, phone, loan number or PAN"

    page.fill("input[name=q]", "099001-23456")
    page.click("form.search button")
    rows = page.locator("#customer-results tbody tr")
    expect(rows).to_have_count(1)  # waits for the results (read at once, the old page may still be showing)
    assert "ABCPV****L" in rows.first.inner_text()

    page.click("text=Lakshmi Venkatesh")
    page.wait_for_url(f"{server}/customers/{r.id}")
    assert page.locator("h1").inner_text() == "Lakshmi Venkatesh"
    assert page.title() == "Lakshmi Venkatesh · Covenant Desk"
    timeline = page.locator("#timeline li")
    assert timeline.count() == 2
    assert "Added alternate phone +919900123457 (spouse)" in timeline.nth(0).inner_text()
    assert "+91 99001 23456" in page.locator("dl.facts").inner_text()
    assert "IST" in timeline.nth(0).inner_text()
    assert "Registered Lakshmi Venkatesh" in timeline.nth(1).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-360.png"), full_page=True)


def test_register_borrower_form_and_phone_width(server: str, browser: Any, staff: tuple[Any, str]) -> None:
    _tenant, email = staff
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, server, email)
    page.click("text=Register borrower")
    page.fill("input[name=name]", "Gurpreet Gill")
    page.fill("input[name=phone]", "12")
    page.click("form[action='/customers/new'] button[type=submit]")
    assert "is not a valid phone number" in page.locator(".alert").inner_text()
    page.fill("input[name=phone]", "+91 98140 11223")
    page.fill("input[name=pan]", "ABCPG1122G")
    page.click("form[action='/customers/new'] button[type=submit]")
    page.wait_for_selector("#timeline")
    assert page.locator("h1").inner_text() == "Gurpreet Gill"
    assert "by Priya Ops" in page.locator("#timeline").inner_text()
    # Nothing overflows sideways on a phone-width screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-360-phone.png"), full_page=True)


def test_jobs_page_triggers_a_run(server: str, browser: Any, staff: tuple[Any, str]) -> None:
    _tenant, email = staff
    page = browser.new_page()
    login(page, server, email)
    page.click("nav >> text=Jobs")
    page.wait_for_url(f"{server}/jobs")
    assert "Housekeeping" in page.locator("#jobs").inner_text()
    page.click("#jobs tr:has-text('housekeeping') button:has-text('Run now')")
    page.wait_for_url(f"{server}/jobs?requested=housekeeping")
    assert "housekeeping" in page.locator("#runs tbody tr").first.inner_text()


def test_forms_without_csrf_token_are_refused_and_logout_ends_the_session(server: str, staff: tuple[Any, str]) -> None:
    _tenant, email = staff
    with httpx.Client(base_url=server, follow_redirects=False) as http:
        login = http.post("/login", data={"email": email, "password": PASSWORD, "next": "/customers"})
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        forged = http.post("/customers/new", data={"name": "Forged Person", "phone": "98140 99999"})
        assert forged.status_code == 403
        assert http.post("/login", data={"email": email, "password": "wrong-password"}).status_code == 401
        page = http.get("/customers")
        assert page.status_code == 200
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        assert http.post("/logout", data={"csrf_token": token}).status_code == 303
        assert http.get("/customers").status_code == 303  # back to login
