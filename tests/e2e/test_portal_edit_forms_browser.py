"""A job's settings form in headless Chromium: the jobs page's "Edit settings" opens the form with the settings
shown, a save says so above the tables; a save from a page opened before someone else's change says in words what
the settings are now, with the form open and what was typed kept, and saving it again makes the change."""

from __future__ import annotations

from typing import Any

import httpx

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD, login
from tests.support import settle


def test_a_jobs_settings_saved_in_the_browser_and_refused_when_changed_since(
    server: str, browser: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    email = "jobs-admin@" + tenant.slug + ".in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, "Asha Admin", ["admin"], PASSWORD,
                                               granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    api = f"{server}/api/v1/jobs/housekeeping"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server, email)

    page.goto(f"{server}/jobs")
    form = "#settings-form-housekeeping"
    assert not page.is_visible(form)  # folded until asked for
    page.click("#settings-housekeeping summary")
    page.fill(f"{form} input[name=batch_size]", "250")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#settings-saved")
    assert page.inner_text("#settings-saved") == "Housekeeping: settings saved."
    assert httpx.get(api, headers=tenant.auth).json()["settings"]["batch_size"] == 250

    # Someone else changes the settings while this page is open; its save is refused, saying what they are now.
    page.click("#settings-housekeeping summary")
    other = httpx.patch(api, json={"batch_size": 300}, headers=tenant.auth)
    assert other.status_code == 200, other.text
    page.fill(f"{form} input[name=batch_size]", "400")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#settings-error")
    said = page.inner_text("#settings-error")
    assert said.startswith("Someone else changed the settings of Housekeeping since you opened it") and (
        "batches of 300" in said
    ), said
    assert page.is_visible(form) and page.input_value(f"{form} input[name=batch_size]") == "400"
    assert httpx.get(api, headers=tenant.auth).json()["settings"]["batch_size"] == 300

    # Saved again from the page as it is now: the change is made.
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#settings-saved")
    assert httpx.get(api, headers=tenant.auth).json()["settings"]["batch_size"] == 400
