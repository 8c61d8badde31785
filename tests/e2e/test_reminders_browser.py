"""The reminders page in headless Chromium (issue #17 items 4 and 7): a collection executive schedules a reminder
for a borrower found by phone (a refusal shown on the page, nothing written), filters the list by channel, status
and borrower, cancels one before it is sent; the page fits a phone's width."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD, login
from tests.support import mobile, settle


def test_schedule_filter_and_cancel_from_the_reminders_page(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    email = f"coll-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Kiran Coll", ["collection_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    phone = mobile("9")
    asha = httpx.post(f"{server}/api/v1/customers", json={"name": "Asha Verma", "phone": phone}, headers=tenant.auth)
    assert asha.status_code == 201, asha.text
    meena = httpx.post(f"{server}/api/v1/customers", headers=tenant.auth,
                       json={"name": "Meena Iyer", "phone": mobile("8")}).json()  # fmt: skip
    template = httpx.post(f"{server}/api/v1/message-templates", headers=tenant.auth, json={
        "name": "Call us", "channel": "sms", "body": "Hi {{borrower_name}}, please call us."}).json()  # fmt: skip
    soon = datetime.now(UTC) + timedelta(days=2)
    other = httpx.post(f"{server}/api/v1/reminders", headers=tenant.auth, json={
        "customer_id": meena["id"], "channel": "sms", "template_id": template["id"],
        "scheduled_at": (soon + timedelta(days=1)).isoformat()})  # fmt: skip
    assert other.status_code == 201, other.text

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/reminders")
    form = "#reminder-form"
    local = soon.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%dT%H:%M")
    page.fill(f"{form} input[name=customer]", "nobody at all")
    page.select_option(f"{form} select[name=channel]", "sms")
    page.select_option(f"{form} select[name=template_id]", template["id"])
    page.fill(f"{form} input[name=scheduled_at]", local)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert "exactly one" in page.locator("[role=alert]").inner_text()
    assert "Asha" not in page.locator("#reminders").inner_text()

    page.fill(f"{form} input[name=customer]", phone)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#reminders >> text=Asha Verma")
    row = page.locator("#reminders tr", has_text="Asha Verma")
    assert "sms" in row.inner_text() and "Call us" in row.inner_text() and "scheduled" in row.inner_text()

    page.fill("#reminder-filters input[name=q]", "meena")
    page.click("#reminder-filters button[type=submit]")
    page.wait_for_selector("#reminders >> text=Meena Iyer")
    assert "Asha" not in page.locator("#reminders").inner_text()
    page.fill("#reminder-filters input[name=q]", phone[-6:])
    page.select_option("#reminder-filters select[name=channel]", "sms")
    page.click("#reminder-filters button[type=submit]")
    page.wait_for_selector("#reminders >> text=Asha Verma")
    assert "Meena" not in page.locator("#reminders").inner_text()

    page.locator("#reminders tr", has_text="Asha Verma").locator("button", has_text="Cancel").click()
    page.wait_for_selector("#reminders >> text=cancelled")
    page.select_option("#reminder-filters select[name=status]", "scheduled")
    page.fill("#reminder-filters input[name=q]", "")
    page.click("#reminder-filters button[type=submit]")
    page.wait_for_selector("#reminders >> text=Meena Iyer")
    assert "Asha" not in page.locator("#reminders").inner_text()
    listed = httpx.get(f"{server}/api/v1/reminders", params={"status": "cancelled"}, headers=tenant.auth).json()
    assert [r["borrower_name"] for r in listed["items"]] == ["Asha Verma"]

    page.goto(f"{server}/customers/{meena['id']}")  # Customer 360 links to the form, the borrower filled in
    page.click("#schedule-reminder")
    page.wait_for_selector("#reminder-form")
    assert page.input_value("#reminder-form input[name=customer]") == meena["id"]

    # A reversed range on the page is not a server error nor an empty list: its end is dropped, and said so.
    page.goto(f"{server}/reminders?created_from=2026-01-01&created_to=2025-01-01")
    assert "ignored: created to (before created from)" in page.locator("[role=alert]").inner_text()
    assert "Meena Iyer" in page.locator("#reminders").inner_text()

    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{server}/reminders")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.close()
