"""The borrower web flow in headless Chromium at a phone's width: sign in with the code read from the SMS
simulator's outbox, a few steps (a refused one shown per field), leave, come back in a fresh browser and resume;
then staff see the borrower on the onboarding page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.onboarding_support import sms

__all__ = ["sms"]  # the fixture, used by name

PHONE_VIEW = {"width": 390, "height": 844}


def _sign_in(browser: Any, server: str, sms: SmsSimulator, slug: str, phone: str) -> Any:
    page = browser.new_context(viewport=PHONE_VIEW).new_page()
    page.goto(f"{server}/apply/{slug}")
    page.fill("#phone", phone)
    page.click("#phone-form button")
    page.wait_for_selector("#otp")
    outbox = httpx.get(f"{sms.base_url}/outbox", params={"to": phone}).json()["items"]
    code = next(word for word in outbox[0]["text"].split() if word.isdigit() and len(word) == 6)
    page.fill("#otp", code)
    page.click("#code-form button")
    return page


def test_a_borrower_signs_in_fills_steps_leaves_and_resumes(
    server: str, browser: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    phone = f"9{uuid.uuid4().int % 10**9:09d}"
    page = _sign_in(browser, server, sms, tenant.slug, phone)
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/pan")
    assert page.locator("h1").inner_text() == "Your PAN"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEW["width"]
    cookie = next(c for c in page.context.cookies() if c["name"] == "cd_borrower")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == f"/apply/{tenant.slug}"

    page.fill("#pan", "ABC12")
    page.click("#step-form button[type=submit]")
    assert "not a valid PAN" in page.locator("#error-pan").inner_text()
    page.fill("#pan", "abcpv4321q")
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/personal")
    page.fill("#name", "Meera Iyer")
    page.fill("#date_of_birth", "1992-08-14")
    page.fill("#email", "meera@example.in")
    for kind, line, city, pin in (
        ("current", "5 Park St", "Kolkata", "700016"),
        ("permanent", "9 Anna Salai", "Chennai", "600002"),
    ):
        page.fill(f"#{kind}_line1", line)
        page.fill(f"#{kind}_city", city)
        page.fill(f"#{kind}_pincode", pin)
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/employment")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "borrower-employment-phone.png"), full_page=True)
    page.context.close()  # leaves

    again = _sign_in(browser, server, sms, tenant.slug, phone)  # another browser, the same borrower
    again.wait_for_url(f"{server}/apply/{tenant.slug}/steps/employment")
    again.click("text=See all steps")
    assert len(again.locator("#steps li.done").all()) == 3 and "employment" in again.locator("#continue").get_attribute(
        "href"
    )
    again.goto(f"{server}/apply/{tenant.slug}/steps/pan")
    assert again.input_value("#pan") == "ABCPV4321Q"  # what was recorded, to redo
    again.context.close()

    staff_page = browser.new_page()
    login(staff_page, server, email)
    staff_page.click("nav >> text=Onboarding")
    staff_page.wait_for_url(f"{server}/onboarding")
    row = staff_page.locator("#onboarding-list tr:has-text('Meera Iyer')")
    assert "employment" in row.inner_text()
    row.locator("a").click()
    assert staff_page.locator("#next-step").inner_text() == "employment"
