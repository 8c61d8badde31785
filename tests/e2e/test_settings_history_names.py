"""The settings page's history of changes says who changed a setting by name (staff, API key) and an unset value
(a business date following the calendar) as "not set": it showed the actor's id as recorded (`staff:<uuid>`) and
Python's `None`."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _portal


def _history(page: str) -> list[list[str]]:
    """The history table's rows, each cell's text (tags dropped)."""
    table = page[page.index('id="history"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]


def test_the_history_names_who_changed_a_setting_and_says_not_set_for_none(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    by_key = client.patch("/api/v1/brand/config", json={"business_date": "2026-01-31"}, headers=tenant.auth)
    assert by_key.status_code == 200, by_key.text
    browser, csrf = _portal(app, email)
    try:
        form = browser.get("/settings").text
        version = re.search(r'name="expected_version" value="(\d+)"', form)
        assert version is not None
        saved = browser.post("/settings", data={"csrf_token": csrf, "form_nonce": "n1", "business_date": "2026-02-02",
                                                "expected_version": version.group(1)})  # fmt: skip
        assert saved.status_code == 303, saved.text[:300]
        page = browser.get("/settings").text
    finally:
        browser.__exit__(None, None, None)
    rows = [row for row in _history(page) if len(row) == 5 and row[2] == "business_date"]
    assert [(who, old, new) for _, who, _, old, new in rows] == [
        ("Priya Ops", "31 Jan 2026", "02 Feb 2026"),  # the staff fixture's name, the dates in the house format
        ("API key “test key”", "not set", "31 Jan 2026"),  # make_tenant's key
    ], rows
    shown = re.sub(r'title="[^"]*"', "", page[page.index('id="history"') :])
    assert "staff:" not in shown and "apikey:" not in shown and "None" not in shown


def test_lists_name_who_did_it_not_their_recorded_id(app: Any, client: Any, staff: tuple[Tenant, str]) -> None:
    """The blocklist, the staff notifications (list and a notice's receipts), a message template's versions and the
    dashboard's recent activity showed who did it as recorded (`apikey:<uuid>`, `staff:<uuid>`); they name them."""
    tenant, email = staff
    blocked = client.post("/api/v1/blocklist", json={"kind": "mobile", "value": "9876500001", "reason": "fraud ring"},
                          headers=tenant.auth)  # fmt: skip
    assert blocked.status_code == 201, blocked.text
    notice = client.post("/api/v1/staff-notifications", headers=tenant.auth,
                         json={"title": "Audit week", "body": "Files ready by Friday", "roles": ["admin"], "priority": "LOW"})  # fmt: skip
    assert notice.status_code == 201, notice.text
    template = client.post("/api/v1/message-templates", headers=tenant.auth,
                           json={"name": "Names test", "channel": "sms", "body": "Pay {{amount}}"})  # fmt: skip
    assert template.status_code == 201, template.text
    browser, _ = _portal(app, email)
    try:
        pages = {
            path: browser.get(path)
            for path in (
                "/blocklist",
                "/staff-notifications",
                f"/staff-notifications/{notice.json()['id']}",
                f"/engagement/templates/{template.json()['id']}",
                "/dashboard",
            )
        }
    finally:
        browser.__exit__(None, None, None)
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.text[:300])
        main = re.sub(r'(title|value|href|data-[a-z-]+)="[^"]*"', "", page.text[page.text.index("<main") :])
        assert "apikey:" not in main and "staff:" not in main, (path, re.findall(r".{60}(?:apikey|staff):.{40}", main))
    assert "API key “test key”" in pages["/blocklist"].text
