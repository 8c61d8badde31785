"""The brand settings form posts every setting, so a page opened before the close of business moved the business date
rolled it back when an admin saved an unrelated change (and undid another admin's change the same way): a silent
overwrite. A save now applies what the form changed from the version it showed, onto the settings as they are; a
setting changed both there and since is a 409 that saves nothing and shows the settings as they are now."""

from __future__ import annotations

import html
import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

from domain.identity.application import Identity
from domain.identity.brand_config import CLOSE_OF_BUSINESS_ACTOR
from domain.shared.aggregate import acting_as
from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle


class _FormFields(HTMLParser):
    """What a browser would post for the form `form_id`: named inputs (ticked checkboxes as "on") and textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.textarea: str | None = None
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value") or "on"))
            else:
                self.fields.append((a["name"], a.get("value", "")))
        elif self.inside and tag == "textarea":
            self.textarea = a.get("name")
            self.fields.append((self.textarea or "", ""))

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            name, text = self.fields[-1]
            self.fields[-1] = (name, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self.textarea = None
        elif tag == "form":
            self.inside = False


def _settings_form(page: str) -> dict[str, str]:
    parser = _FormFields("settings")
    parser.feed(page)
    return dict(parser.fields)


def _business_date_line(page: str) -> str:
    """The settings page's line on the business date, as text."""
    found = re.search(r'<p class="muted" id="business-date">(.*?)</p>', page, re.S)
    assert found is not None
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


def _read(client: Any, tenant: Tenant, path: str) -> dict[str, Any]:
    """An API resource as JSON (asserting it answered 200)."""
    answer = client.get(f"/api/v1/{path}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _config(client: Any, tenant: Tenant) -> dict[str, Any]:
    return _read(client, tenant, "brand/config")


def test_a_settings_page_opened_before_a_change_elsewhere_saves_only_its_own_changes(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    identity = platform.get(Identity)
    settle(
        platform,
        "identity",
        identity.change_configuration(tenant.brand_id, {"business_date": date(2026, 3, 2)})[0].position,
    )
    browser, _ = _portal(app, email)
    try:
        page = browser.get("/settings")
        assert page.status_code == 200
        form = _settings_form(page.text)
        assert form["business_date"] == "2026-03-02" and form["expected_version"].isdigit()
        stale_page = dict(form)
        conflicting_page = _settings_form(browser.get("/settings").text)

        # The close of business moves the business date, another admin changes the cooldown.
        moved = identity.change_configuration(tenant.brand_id, {"business_date": date(2026, 3, 3)})[0]
        other = identity.change_configuration(tenant.brand_id, {"rejection_cooldown_days": 11})[0]
        settle(platform, "identity", max(moved.position, other.position))

        # This admin, from the page opened before, changes only the minimum age.
        stale_page["min_age"] = str(int(stale_page["min_age"]) + 2)
        saved = browser.post("/settings", data=stale_page)
        assert saved.status_code == 303, saved.text[:500]
        config = _config(client, tenant)
        assert config["settings"]["business_date"] == "2026-03-03"  # not rolled back to the page's 2026-03-02
        assert config["settings"]["rejection_cooldown_days"] == 11  # the other admin's change stands
        assert config["settings"]["min_age"] == int(stale_page["min_age"])
        version = config["version"]

        # A form that changes a setting which was changed since it was opened: nothing is saved, 409, and the
        # page shows the settings as they are now (not the stale values typed back).
        conflicting_page["rejection_cooldown_days"] = "30"
        conflicting_page["inactive_user_days"] = str(int(conflicting_page["inactive_user_days"]) + 5)
        refused = browser.post("/settings", data=conflicting_page)
        assert refused.status_code == 409, refused.text[:500]
        assert "rejection_cooldown_days" in refused.text and "reload the page" in refused.text
        shown = _settings_form(refused.text)
        assert shown["business_date"] == "2026-03-03" and shown["rejection_cooldown_days"] == "11"
        assert shown["expected_version"] == str(version)
        after = _config(client, tenant)
        assert after["version"] == version and after["settings"] == config["settings"]

        # A version the configuration never had is refused, naming the field.
        unknown = browser.post("/settings", data={**shown, "expected_version": "999", "min_age": "30"})
        assert unknown.status_code == 422 and "no version 999" in unknown.text, unknown.text[:500]
        assert _config(client, tenant)["version"] == version

        # The page as it is now saves.
        shown["rejection_cooldown_days"] = "30"
        assert browser.post("/settings", data=shown).status_code == 303
        assert _config(client, tenant)["settings"]["rejection_cooldown_days"] == 30
    finally:
        browser.__exit__(None, None, None)


def test_the_settings_page_and_the_api_say_whether_an_admin_holds_the_business_date(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """A business date only the close of business moved follows the calendar; an admin saving an unrelated setting
    holds nothing, saving a date holds the brand there (the scheduled COB then runs as of it, one day a run)."""
    tenant, email = staff
    identity = platform.get(Identity)
    with acting_as(CLOSE_OF_BUSINESS_ACTOR):
        moved = identity.change_configuration(tenant.brand_id, {"business_date": date(2026, 3, 2)})[0]
    settle(platform, "identity", moved.position)
    assert _config(client, tenant)["business_date_held"] is False
    browser, _ = _portal(app, email)
    try:
        page = browser.get("/settings")
        assert _business_date_line(page.text).startswith("Business date: 02 Mar 2026 — follows the calendar")
        form = _settings_form(page.text)
        form["min_age"] = str(int(form["min_age"]) + 1)
        assert browser.post("/settings", data=form).status_code == 303
        assert _config(client, tenant)["business_date_held"] is False

        form = _settings_form(browser.get("/settings").text)
        form["business_date"] = "2026-03-10"
        saved = browser.post("/settings", data=form)
        assert saved.status_code == 303, saved.text[:500]
        config = _config(client, tenant)
        assert (config["business_date"], config["business_date_held"]) == ("2026-03-10", True)
        assert _business_date_line(browser.get("/settings").text).startswith("Business date: 10 Mar 2026 — held:")
        history = _read(client, tenant, "brand/config/history")["items"]
        assert (history[0]["setting"], history[0]["actor"][:6]) == ("business_date", "staff:")
    finally:
        browser.__exit__(None, None, None)
