"""The borrower web flow in headless Chromium at a phone's width, across a reload and a lost session: the code page
is a GET after the phone form's post (a reload or the back button shows it again and sends no second code), and a
step posted after the session ended is given back on that step once the borrower signs in again."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_flow_browser import PHONE_VIEW
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name


def _codes(sms: SmsSimulator, phone: str) -> list[str]:
    outbox = httpx.get(f"{sms.base_url}/outbox", params={"to": phone}).json()["items"]
    return [next(w for w in m["text"].split() if w.isdigit() and len(w) == 6) for m in outbox]


def _sign_in(page: Any, server: str, sms: SmsSimulator, slug: str, phone: str) -> None:
    page.goto(f"{server}/apply/{slug}")
    page.fill("#phone", phone)
    page.click("#phone-form button")
    page.wait_for_url(f"{server}/apply/{slug}/code")
    page.fill("#otp", _codes(sms, phone)[0])
    page.click("#code-form button")


def test_reloading_the_code_page_or_going_back_sends_no_second_code(
    server: str, browser: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    tenant, _ = staff
    phone = mobile("7")
    base = f"{server}/apply/{tenant.slug}"
    page = browser.new_context(viewport=PHONE_VIEW).new_page()
    page.goto(base)
    page.fill("#phone", phone)
    page.click("#phone-form button")
    page.wait_for_url(f"{base}/code")  # a GET: it was the answer of the form's POST
    shown = page.locator("#code-sent").inner_text()
    assert shown == f"We sent a 6-digit code to +91 ••••• •{phone[-4:]}. It works for 5 minutes.", shown
    assert page.locator("#resend-wait").inner_text().startswith("You can ask for a new code in")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.reload()
    page.wait_for_selector("#otp")
    assert page.url == f"{base}/code" and page.locator("#code-sent").inner_text() == shown
    page.go_back()
    page.wait_for_selector("#phone-form")
    page.go_forward()
    page.wait_for_selector("#otp")
    assert page.url == f"{base}/code" and dialogs == []
    assert len(_codes(sms, phone)) == 1  # one code for one tap, however often the page was shown
    page.fill("#otp", _codes(sms, phone)[0])
    page.click("#code-form button")
    page.wait_for_url(f"{base}/steps/pan")
    page.context.close()


def test_a_step_sent_after_the_session_ended_comes_back_filled_in_after_signing_in_again(
    server: str, browser: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    tenant, _ = staff
    phone = mobile("6")
    base = f"{server}/apply/{tenant.slug}"
    page = browser.new_context(viewport=PHONE_VIEW).new_page()
    _sign_in(page, server, sms, tenant.slug, phone)
    page.wait_for_url(f"{base}/steps/pan")
    page.fill("#pan", "abcpv4321q")
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{base}/steps/personal")
    typed = {"name": "Meera Iyer", "date_of_birth": "1992-08-14", "email": "meera@example.in",
             "current_line1": "5 Park St", "current_city": "Kolkata", "current_pincode": "700016",
             "permanent_line1": "9 Anna Salai", "permanent_city": "Chennai", "permanent_pincode": "600002"}  # fmt: skip
    for name, value in typed.items():
        page.fill(f"#{name}", value)
    # Meanwhile the session ends (signed out on another device; an expired one is the same to the flow).
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "cd_borrower")
    assert httpx.delete(f"{server}/api/v1/borrower/session", headers={"Authorization": f"Bearer {token}"}).is_success
    page.click("#step-form button[type=submit]")
    page.wait_for_selector("#session-ended")
    assert "We kept what you typed" in page.locator("#session-ended").inner_text()

    page.fill("#phone", phone)
    page.click("#phone-form button")
    page.wait_for_url(f"{base}/code")
    page.fill("#otp", _codes(sms, phone)[0])
    page.click("#code-form button")
    page.wait_for_url(f"{base}/steps/personal")  # the same step, not only the next unfinished one
    assert page.locator("#draft-restored").is_visible()
    assert {name: page.input_value(f"#{name}") for name in typed} == typed
    page.click("#step-form button[type=submit]")
    page.wait_for_url(f"{base}/steps/employment")  # saved as typed
    page.goto(f"{base}/steps/personal")
    assert page.input_value("#name") == "Meera Iyer" and page.locator("#draft-restored").count() == 0
    page.context.close()
