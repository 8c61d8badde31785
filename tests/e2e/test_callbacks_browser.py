"""The callback queue in a real headless Chromium: closing a request with "callback requested" takes the time to
call again from the close form's date and time picker (the brand's timezone, as a Customer 360 note's), and the
follow-up then shows on the queue due at that time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from adapters.simulators.sms import SmsSimulator
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name


def test_callback_requested_on_the_queue_takes_the_pickers_time_and_the_follow_up_shows_due_then(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, sms: SmsSimulator
) -> None:
    tenant, email = staff
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    asked = client.post("/api/v1/borrower/callback-requests", json={"note": "EMI date?"}, headers=auth)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/callback-requests")
    row = page.locator(f"#callback-{request_id}")
    row.locator("select[name=outcome]").select_option("callback_requested")
    row.locator("input[name=remarks]").fill("driving, call tomorrow at six")
    row.locator("button", has_text="Close").click()  # no time given: refused on the page, nothing recorded
    page.wait_for_selector("[role=alert]")
    assert "callback at" in page.locator("[role=alert]").inner_text()

    at = datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=1)
    row = page.locator(f"#callback-{request_id}")
    assert row.locator("input[name=remarks]").input_value() == "driving, call tomorrow at six"  # kept as typed
    row.locator("select[name=outcome]").select_option("callback_requested")
    row.locator("input[name=remarks]").fill("driving, call tomorrow at six")
    row.locator("input[name=callback_at]").fill(at.strftime("%Y-%m-%dT18:00"))
    row.locator("button", has_text="Close").click()
    page.wait_for_url(re.compile(rf"{re.escape(server)}/callback-requests(\?[^/]*)?$"))  # the queue, as filtered
    answered = client.get(f"/api/v1/callback-requests/{request_id}", headers=tenant.auth).json()
    assert answered["status"] == "closed" and answered["follow_up_id"] is not None
    follow_up = page.locator(f"#callback-{answered['follow_up_id']}")
    assert f"call back at {at.strftime('%d %b %Y')} 18:00" in follow_up.inner_text()
    assert page.locator(f"#callback-{request_id}").count() == 0  # the answered one left the open queue
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "callback-follow-up.png"), full_page=True)
