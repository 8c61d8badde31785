"""The borrower web flow in headless Chromium at a phone's width: sign in with the code read from the SMS
simulator's outbox, a few steps (a refused one shown per field), leave, come back in a fresh browser and resume;
then staff see the borrower on the onboarding page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.onboarding_support import sms
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name

PHONE_VIEW = {"width": 390, "height": 844}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%%EOF\n"


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
    phone = mobile("9")
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
    # The documents page: the PAN card missing, uploaded from the phone, then received.
    page.goto(f"{server}/apply/{tenant.slug}/documents")
    assert page.locator("#documents-checklist li[data-kind=pan_card]").get_attribute("data-state") == "missing"
    page.select_option("#document_kind", "pan_card")
    page.set_input_files("#document_file", files=[{"name": "pan.png", "mimeType": "image/png", "buffer": PNG}])
    page.click("#documents-form button[type=submit]")
    page.wait_for_selector("#documents-saved")
    assert page.locator("#documents-checklist li[data-kind=pan_card]").get_attribute("data-state") == "received"
    assert "pan.png" in page.locator("#documents-uploaded").inner_text()
    with page.expect_download() as fetched:  # the file's link downloads it by the flow's cookie
        page.click("#documents-uploaded a[data-file]")
    assert fetched.value.suggested_filename == "pan.png" and Path(fetched.value.path()).read_bytes() == PNG
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEW["width"]
    page.screenshot(path=str(ARTIFACTS / "borrower-documents-phone.png"), full_page=True)
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


def test_a_borrower_goes_all_the_way_to_a_submitted_application(
    server: str, browser: Any, sms: SmsSimulator, staff: tuple[Tenant, str], client: Any
) -> None:
    from tests.e2e.test_onboarding_api import PRODUCT

    tenant, _email = staff
    settings = {"require_employment_data": False, "require_selfie_video": True}
    client.patch("/api/v1/brand/config", json=settings, headers=tenant.auth)
    assert client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth).status_code == 201
    page = _sign_in(browser, server, sms, tenant.slug, mobile("8"))
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/pan")

    def fill(values: dict[str, str]) -> None:
        for name, value in values.items():
            page.fill(f"#{name}", value)
        page.click("#step-form button[type=submit]")

    fill({"pan": "ABCPR7788Z"})
    fill({"name": "Ravi Rao", "date_of_birth": "1990-02-02", "email": "ravi@example.in", "current_line1": "1 Main Rd",
          "current_city": "Pune", "current_pincode": "411001", "permanent_line1": "1 Main Rd",
          "permanent_city": "Pune", "permanent_pincode": "411001"})  # fmt: skip
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/aadhaar")  # employment is optional for this brand
    page.set_input_files("#aadhaar_front", files=[{"name": "front.png", "mimeType": "image/png", "buffer": PNG}])
    fill({"aadhaar_number": "234567890124"})
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/selfie")  # this brand wants a selfie
    page.set_input_files("#selfie", files=[{"name": "me.png", "mimeType": "image/png", "buffer": PDF}])
    page.click("#step-form button[type=submit]")
    assert "PDF" in page.locator("#error-selfie").inner_text()  # sniffed from the bytes, not the name
    page.set_input_files("#selfie", files=[{"name": "me.png", "mimeType": "image/png", "buffer": PNG + b"selfie"}])
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/bank_account")
    fill({"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Ravi Rao"})
    page.set_input_files("#statement", files=[{"name": "may.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/loan_request")
    assert "Personal loan" in page.locator("#product_id").inner_text()
    fill({"amount": "900000", "tenure": "12"})
    assert "must be between" in page.locator("#error-amount").inner_text()
    fill({"amount": "50000", "tenure": "12"})
    page.wait_for_url(f"{server}/apply/{tenant.slug}/status")
    page.click("#submit-form button")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/status")
    assert page.locator("#status-title").inner_text() == "Application submitted"
    assert tenant.slug.upper() in page.locator("#application").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "borrower-submitted-phone.png"), full_page=True)
