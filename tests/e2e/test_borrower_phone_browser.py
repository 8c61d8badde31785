"""The borrower's pages on a 375 px phone in headless Chromium, used by thumb and by keyboard: what the borrower typed
and sees again in an error never widens the page past the screen; the code page takes the code straight away
(focused, Enter signs in); links standing alone on their line ("See all steps", a payment's "Receipt") are tap
targets of a finger's size."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx

from adapters.simulators.sms import SmsSimulator
from api.services.pay_links import PayLinks
from tests.conftest import Tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import mobile

__all__ = ["catalogue", "sms"]  # fixtures, used by name

PHONE = {"width": 375, "height": 740}
#: The smallest tap target WCAG 2.2 allows (2.5.8), in CSS pixels; the flow's own buttons are 44-52.
MIN_TARGET = 24


def _height(page: Any, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return float(box["height"])


def test_a_phone_borrower_signs_in_by_keyboard_and_nothing_overflows(
    server: str, browser: Any, sms: SmsSimulator, tenant: Tenant
) -> None:
    page = browser.new_context(viewport=PHONE).new_page()
    base = f"{server}/apply/{tenant.slug}"
    page.goto(base)
    page.fill("#phone", "9" * 300)  # a thumb held on a key: the refusal repeats it
    page.click("#phone-form button")
    assert "is not a phone number" in page.locator("#error").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.get_attribute("#phone", "aria-describedby") == "error"

    phone = mobile()
    page.fill("#phone", phone)
    page.press("#phone", "Enter")
    page.wait_for_selector("#otp")
    # No tap needed before typing the code: the field takes the focus as the page loads (waited for: on a loaded
    # machine the element can be there a moment before its autofocus is applied).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'otp'", timeout=5000)
    page.keyboard.type(sms.last_code(phone) or "")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/steps/pan")
    see_all = "#step-form ~ p a[href$='/status']"
    assert _height(page, see_all) >= MIN_TARGET
    page.fill("#pan", "P" * 19 + "😀" * 40)
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#error-pan")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.get_attribute("#pan", "aria-describedby") == "hint-pan error-pan"


def test_a_payment_receipt_link_is_a_finger_sized_target(
    server: str, browser: Any, tenant: Tenant, platform: Any
) -> None:
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    paid = {"amount": "500.00", "mode": "neft", "reference": "UTR-" + "7" * 40, "paid_on": "2026-02-28"}
    assert httpx.post(f"{server}/api/v1/loans/{loan_id}/repayments", json=paid, headers=tenant.auth).status_code == 201
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(PayLinks.configured().url(server, tenant.brand_id, loan_id, datetime.now(UTC)))
    assert page.locator("#payments a.receipt").count() == 1
    assert _height(page, "#payments a.receipt") >= MIN_TARGET
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
