"""Lost updates on the records that showed no version: a covenant, a job's settings, a notice source, a borrower's
messaging preferences and the dialer extensions. Two staff editing one of them used to overwrite each other without a
word, and an `If-Match` was refused with 422 ("this operation does not check a record's version"). Each now shows its
`version` (and `ETag`) on its GET and its command's answer; a change sent with an `If-Match` the record moved past is a
409 problem+json naming `current_version`, nothing of it applied; the version read is taken; without `If-Match` the
change is made as before. The dialer settings page's extension form carries the version too: a stale save is a 409
that keeps what was typed."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile, settle


def _read(client: Any, tenant: Tenant, url: str) -> dict[str, Any]:
    shown = client.get(url, headers=tenant.auth)
    assert shown.status_code == 200, shown.text
    assert shown.headers["ETag"] == f'"{shown.json()["version"]}"', url
    found: dict[str, Any] = shown.json()
    return found


def _stale_change_is_refused(
    client: Any,
    tenant: Tenant,
    method: str,
    url: str,
    read: str,
    first: dict[str, Any] | None,
    second: dict[str, Any] | None,
    shown: Callable[[dict[str, Any]], Any],
) -> None:
    """Two clients read the record; the first changes it with the version read (taken, a new ETag), the second with
    the same version (409 naming the version now, nothing applied); the second again with the version now: made."""
    version = _read(client, tenant, read)["version"]
    tag = {"If-Match": f'"{version}"'}
    made = client.request(method, url, json=first, headers=tenant.auth | tag)
    assert made.status_code == 200, made.text
    assert made.headers["ETag"] == f'"{made.json()["version"]}"' and made.json()["version"] > version, made.text
    now = _read(client, tenant, read)
    assert now["version"] == made.json()["version"]
    changed = shown(now)

    stale = client.request(method, url, json=second, headers=tenant.auth | tag)
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["current_version"] == now["version"], stale.text
    after = _read(client, tenant, read)
    assert shown(after) == changed and after["version"] == now["version"]  # nothing of it applied

    fresh = client.request(method, url, json=second, headers=tenant.auth | {"If-Match": f'"{now["version"]}"'})
    assert fresh.status_code == 200, fresh.text
    assert shown(_read(client, tenant, read)) != changed


def _staff(platform: Any, tenant: Tenant) -> str:
    made = platform.get(Identity).create_staff(tenant.brand_id, f"s{uuid.uuid4().hex[:8]}@lender.in", "Asha Ops",
                                               ["admin"], PASSWORD, granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    return str(made.id)


def _customer(client: Any, platform: Any, tenant: Tenant) -> str:
    made = client.post("/api/v1/customers", json={"name": "Kavya Rao", "phone": mobile()}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    settle(platform, "customers")
    return str(made.json()["id"])


def test_a_covenant_reassigned_on_a_version_read_before_another_change_is_refused(
    client: Any, platform: Any, tenant: Tenant
) -> None:
    customer = _customer(client, platform, tenant)
    a, b = _staff(platform, tenant), _staff(platform, tenant)
    created = client.post(
        "/api/v1/covenants",
        headers=tenant.auth,
        json={"customer_id": customer, "application_ref": "APP-1", "title": "Debt service coverage",
              "type": "financial", "metric": "DSCR", "operator": ">=", "threshold": "1.25", "frequency": "monthly",
              "start_date": "2024-01-01", "first_due_date": "2024-01-31", "expiry_date": "2024-12-31",
              "grace_days": 5, "notification_lead_days": 7},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.headers["ETag"] == '"1"'
    url = f"/api/v1/covenants/{created.json()['id']}"
    _stale_change_is_refused(client, tenant, "PATCH", url, url, {"assignee_id": a}, {"assignee_id": b},
                             lambda r: r["assignee_id"])  # fmt: skip
    # Without If-Match the change is made, as before.
    assert client.patch(url, json={"assignee_id": None}, headers=tenant.auth).status_code == 200
    assert _read(client, tenant, url)["assignee_id"] is None


def test_a_job_setting_changed_on_a_version_read_before_another_change_is_refused(client: Any, tenant: Tenant) -> None:
    url = "/api/v1/jobs/housekeeping"
    assert _read(client, tenant, url)["version"] == 0  # the job's defaults: never changed by the brand
    never = client.patch(url, json={"batch_size": 300}, headers=tenant.auth | {"If-Match": '"2"'})
    assert never.status_code == 409 and never.json()["current_version"] == 0, never.text
    _stale_change_is_refused(client, tenant, "PATCH", url, url, {"batch_size": 100}, {"batch_size": 200},
                             lambda r: r["settings"]["batch_size"])  # fmt: skip
    listed = {j["name"]: j for j in client.get("/api/v1/jobs", headers=tenant.auth).json()["items"]}
    assert listed["housekeeping"]["version"] == _read(client, tenant, url)["version"]
    assert client.patch(url, json={"batch_size": 400}, headers=tenant.auth).status_code == 200  # no If-Match


def test_a_notice_source_changed_on_a_version_read_before_another_change_is_refused(
    client: Any, tenant: Tenant
) -> None:
    created = client.post(
        "/api/v1/notice-sources",
        json={"company": "SML", "base_url": "http://127.0.0.1:9", "token": "tok-1234567890",
              "schedule": "*/30 * * * *", "enabled": False},
        headers=tenant.auth,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1 and created.headers["ETag"] == '"1"'
    url = f"/api/v1/notice-sources/{created.json()['id']}"
    _stale_change_is_refused(client, tenant, "PATCH", url, url, {"schedule": "*/15 * * * *"},
                             {"schedule": "*/20 * * * *"}, lambda r: r["schedule"])  # fmt: skip
    assert client.patch(url, json={"schedule": "0 * * * *"}, headers=tenant.auth).status_code == 200  # no If-Match


def test_messaging_preferences_set_on_a_version_read_before_another_change_are_refused(
    client: Any, platform: Any, tenant: Tenant
) -> None:
    url = f"/api/v1/customers/{_customer(client, platform, tenant)}/messaging-preferences"
    assert _read(client, tenant, url)["version"] == 0  # never set
    stale_first = client.put(url, json={"language": "hi"}, headers=tenant.auth | {"If-Match": '"3"'})
    assert stale_first.status_code == 409 and stale_first.json()["current_version"] == 0, stale_first.text
    assert _read(client, tenant, url)["language"] == "en"
    _stale_change_is_refused(client, tenant, "PUT", url, url, {"language": "hi", "opted_out": ["sms"]},
                             {"language": "en", "opted_out": ["email"]}, lambda r: (r["language"], r["opted_out"]))  # fmt: skip
    plain = client.put(url, json={"language": "en"}, headers=tenant.auth)  # no If-Match
    assert plain.status_code == 200 and plain.json()["language"] == "en", plain.text


def test_a_dialer_extension_set_or_removed_on_a_version_read_before_another_change_is_refused(
    client: Any, platform: Any, tenant: Tenant
) -> None:
    member = _staff(platform, tenant)
    read = "/api/v1/dialer/settings"
    url = f"/api/v1/dialer/extensions/{member}"

    def extension(r: dict[str, Any]) -> Any:
        return {e["staff_id"]: e["extension"] for e in r["extensions"]}.get(member)

    _stale_change_is_refused(client, tenant, "PUT", url, read, {"extension": "1021"}, {"extension": "1022"},
                             extension)  # fmt: skip
    version = _read(client, tenant, read)["version"]
    stale = client.delete(url, headers=tenant.auth | {"If-Match": f'"{version - 1}"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == version, stale.text
    assert extension(_read(client, tenant, read)) == "1022"
    removed = client.delete(url, headers=tenant.auth | {"If-Match": f'"{version}"'})
    assert removed.status_code == 200 and removed.headers["ETag"] == f'"{version + 1}"', removed.text
    assert extension(_read(client, tenant, read)) is None


def test_an_extension_form_opened_before_a_change_elsewhere_is_refused_with_the_input_kept(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    member = _staff(platform, tenant)
    first = client.put(f"/api/v1/dialer/extensions/{member}", json={"extension": "1021"}, headers=tenant.auth)
    assert first.status_code == 200, first.text
    browser, _ = _portal(app, email)
    try:
        form = _form(browser.get("/settings/dialer").text, "extension-form")
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
        assert fields["expected_version"] == str(first.json()["version"])

        # Another admin gives the member another extension meanwhile.
        other = client.put(f"/api/v1/dialer/extensions/{member}", json={"extension": "1030"}, headers=tenant.auth)
        assert other.status_code == 200, other.text
        settle(platform, "fieldwork")

        # This page, opened before, sets the member's extension to what it thought was theirs.
        refused = browser.post("/settings/dialer/extensions", data={**fields, "staff_id": member, "extension": "1040"})
        assert refused.status_code == 409, refused.text[:500]
        kept = _form(refused.text, "extension-form")
        assert 'value="1040"' in kept  # what was typed stays on the page
        assert f'name="expected_version" value="{other.json()["version"]}"' in kept  # the version as it is now
        now = _read(client, tenant, "/api/v1/dialer/settings")
        assert {e["staff_id"]: e["extension"] for e in now["extensions"]}[member] == "1030"  # not overwritten

        # Saved again from the page as it is now: the change is made.
        again = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', kept))
        saved = browser.post("/settings/dialer/extensions", data={**again, "staff_id": member, "extension": "1040"})
        assert saved.status_code == 303, saved.text[:500]
        settle(platform, "fieldwork")
        now = _read(client, tenant, "/api/v1/dialer/settings")
        assert {e["staff_id"]: e["extension"] for e in now["extensions"]}[member] == "1040"
    finally:
        browser.__exit__(None, None, None)


def test_the_api_key_list_walks_in_pages_showing_every_key_once(client: Any, tenant: Tenant) -> None:
    # GET /api-keys answered every key at once and ignored `cursor` (and `limit`).
    made = set()
    for n in range(7):
        key = client.post("/api/v1/api-keys", json={"label": f"key {n}", "role": "admin"}, headers=tenant.auth)
        assert key.status_code == 201, key.text
        made.add(key.json()["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = client.get("/api/v1/api-keys", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                          headers=tenant.auth)  # fmt: skip
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 3
        seen += [k["id"] for k in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert pages < 20
    assert len(seen) == len(set(seen))  # no key twice
    assert made <= set(seen) and pages >= 3
    everything = client.get("/api/v1/api-keys", params={"limit": 200}, headers=tenant.auth).json()["items"]
    assert [k["id"] for k in everything] == seen  # the pages in the list's order
