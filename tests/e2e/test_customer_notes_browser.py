"""Notes on the Customer 360 in a real headless Chromium: the form (with the callback picker in the brand's
timezone) adds a note that shows first, with its author and the "callback at" label; an empty note is refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from domain.customers.application import Customers
from tests.e2e.conftest import ARTIFACTS, login
from tests.support import mobile, settle


def test_a_note_written_on_the_360_shows_first_with_its_callback(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any
) -> None:
    tenant, email = staff
    customers = platform.get(Customers)
    record = customers.register(tenant.brand_id, name="Savitri Pillai", phone=mobile("98"))
    earlier = customers.add_note(tenant.brand_id, record.id, "First contact: borrower busy")
    settle(platform, Customers.name, earlier.position)

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/customers/{record.id}")
    notes = page.locator("#notes li")
    expect(notes).to_have_count(1)
    page.fill("#note-form textarea[name=text]", "Asked for a callback after 6 pm\nsalary credited late")
    callback = datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)
    page.fill("#note-form input[name=callback_at]", callback.strftime("%Y-%m-%dT18:00"))
    page.click("#note-form button[type=submit]")
    page.wait_for_url(f"{server}/customers/{record.id}#customer-notes")
    expect(notes).to_have_count(2)
    newest = notes.first.inner_text()
    assert "Asked for a callback after 6 pm\nsalary credited late" in newest  # line breaks kept
    assert "by Priya Ops" in newest and f"callback at {callback.strftime('%d %b %Y')} 18:00" in newest
    assert "First contact: borrower busy" in notes.nth(1).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "customer-notes.png"), full_page=True)

    page.fill("#note-form textarea[name=text]", " \u200b ")
    page.click("#note-form button[type=submit]")
    assert "text:" in page.locator("main").inner_text()
