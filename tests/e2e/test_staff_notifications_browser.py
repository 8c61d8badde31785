"""Staff notifications in headless Chromium (issue #17 items 5 and 7): an admin writes a notice to a role and one
to a named person from the admin page; the addressee's bell shows the unread count and the notices, and
acknowledging one from the bell lowers the count; the rest are acknowledged from the full list; the admin's
read-receipts page shows who read it and when; a scheduled notice stays out of the bell; phone width fits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD, login
from tests.support import settle


def _staff(platform: Any, brand_id: uuid.UUID, name: str, roles: list[str]) -> tuple[str, uuid.UUID]:
    email = f"{name.split()[0].lower()}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(brand_id, email, name, roles, PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return email, made.id


def test_notices_reach_the_bell_are_acknowledged_and_reported(server: str, browser: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    admin_email, _ = _staff(platform, tenant.brand_id, "Priya Admin", ["admin"])
    ops_email, ops_id = _staff(platform, tenant.brand_id, "Ravi Ops", ["collection_executive"])

    admin = browser.new_page()
    login(admin, server, admin_email)
    admin.goto(f"{server}/staff-notifications")
    form = "#staff-notification-form"
    admin.fill(f"{form} input[name=title]", "Month-end close")
    admin.fill(f"{form} textarea[name=body]", "Post every receipt by 6 pm.\n<b>No exceptions</b>")
    admin.select_option(f"{form} select[name=priority]", "HIGH")
    admin.check(f"{form} input[name=roles][value=collection_executive]")
    admin.click(f"{form} button[type=submit]")
    admin.wait_for_selector("#staff-notifications >> text=Month-end close")

    admin.fill(f"{form} input[name=title]", "Your queue moved")
    admin.fill(f"{form} textarea[name=body]", "Twenty cases moved to you.")
    admin.select_option(f"{form} select[name=priority]", "LOW")
    admin.fill(f"{form} input[name=staff_ids]", str(ops_id))
    admin.click(f"{form} button[type=submit]")
    admin.wait_for_selector("#staff-notifications >> text=Your queue moved")

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = httpx.post(f"{server}/api/v1/staff-notifications", headers=tenant.auth, json={
        "title": "Tomorrow's drill", "body": "Fire drill", "priority": "MEDIUM", "roles": ["collection_executive"],
        "publish_at": later})  # fmt: skip
    assert scheduled.status_code == 201, scheduled.text

    ops = browser.new_page()
    login(ops, server, ops_email)
    ops.wait_for_selector("#bell-count:not([hidden])")
    assert ops.locator("#bell-count").inner_text() == "2"
    ops.click("#bell")
    ops.wait_for_selector("#bell-panel:not([hidden])")
    shown = ops.locator("#bell-list").inner_text()
    assert "Month-end close" in shown and "Your queue moved" in shown and "drill" not in shown
    assert "<b>No exceptions</b>" in shown  # text, never markup
    ops.locator("#bell-list li", has_text="Month-end close").locator("button").click()
    ops.wait_for_selector("#bell-count:text-is('1')")

    ops.goto(f"{server}/notifications")
    items = ops.locator("#my-notifications")
    assert "Acknowledged" in items.locator("li", has_text="Month-end close").inner_text()
    ops.locator("#my-notifications li", has_text="Your queue moved").locator("button").click()
    ops.wait_for_selector("#unread-line >> text=0 unread")
    ops.wait_for_selector("#bell-count[hidden]", state="attached")

    ops.set_viewport_size({"width": 375, "height": 812})
    ops.click("#bell")
    assert ops.evaluate("document.documentElement.scrollWidth") <= 375
    ops.set_viewport_size({"width": 1280, "height": 900})

    admin.goto(f"{server}/staff-notifications")
    assert "1 / 1" in admin.locator("#staff-notifications tr", has_text="Month-end close").inner_text()
    assert "scheduled" in admin.locator("#staff-notifications tr", has_text="Tomorrow's drill").inner_text()
    admin.click("#staff-notifications >> text=Month-end close")
    admin.wait_for_selector("#receipts")
    assert "1 of 1 read" in admin.locator("#receipt-summary").inner_text()
    row = admin.locator("#receipts tr", has_text="Ravi Ops").inner_text()
    assert "not yet" not in row and ops_email in row
    admin.set_viewport_size({"width": 375, "height": 812})
    assert admin.evaluate("document.documentElement.scrollWidth") <= 375
    admin.goto(f"{server}/staff-notifications")
    assert admin.evaluate("document.documentElement.scrollWidth") <= 375
    admin.close()
    ops.close()
