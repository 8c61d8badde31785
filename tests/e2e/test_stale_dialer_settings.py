"""Two admins editing the brand's dialer settings: the later save used to put its values over the other's without a
word - the API's PATCH ignored If-Match (the settings showed no version to send), and the portal's form, which posts
every field, saved a page opened before another admin switched the dialer on or changed its account back to what it
showed. The settings now carry their version (`version`, `ETag`); the API takes it as If-Match and the form carries
it: a change made since is a 409 naming the current version, nothing saved, the form keeping what was typed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle

URL = "/api/v1/dialer/settings"


def _settings(client: Any, tenant: Tenant) -> dict[str, Any]:
    shown = client.get(URL, headers=tenant.auth)
    assert shown.status_code == 200, shown.text
    assert shown.headers["ETag"] == f'"{shown.json()["version"]}"'
    found: dict[str, Any] = shown.json()
    return found


def test_a_dialer_change_made_on_settings_read_before_another_is_refused(client: Any, tenant: Tenant) -> None:
    first = client.patch(URL, json={"account_id": "acct-one", "api_token": "token-one-1234"}, headers=tenant.auth)
    assert first.status_code == 200, first.text
    read_a, read_b = _settings(client, tenant), _settings(client, tenant)
    assert read_a["version"] == read_b["version"] == first.json()["version"]
    version = read_a["version"]

    saved = client.patch(URL, json={"enabled": True}, headers=tenant.auth | {"If-Match": f'"{version}"'})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == version + 1 and saved.headers["ETag"] == f'"{version + 1}"'
    stale = client.patch(URL, json={"enabled": False, "account_id": "acct-two"},
                         headers=tenant.auth | {"If-Match": f'"{version}"'})  # fmt: skip
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert stale.json()["current_version"] == version + 1
    now = _settings(client, tenant)
    assert (now["enabled"], now["account_id"], now["version"]) == (True, "acct-one", version + 1)  # nothing of it

    # An If-Match that is not an ETag of ours is 422 naming it, and so is an empty one (the schema's pattern refuses
    # it; it was read as no If-Match and the change made), nothing of either applied.
    for tag in ("nonsense", "", " "):
        refused = client.patch(URL, json={"enabled": False}, headers=tenant.auth | {"If-Match": tag})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "If-Match", (tag, refused.text)
    assert _settings(client, tenant)["version"] == version + 1
    # Without If-Match the change is made (If-Match is optional, as on every operation that takes it).
    assert client.patch(URL, json={"enabled": False}, headers=tenant.auth).json()["version"] == version + 2


def test_a_brand_never_configured_is_version_0(client: Any, tenant: Tenant) -> None:
    assert _settings(client, tenant)["version"] == 0
    stale = client.patch(URL, json={"account_id": "acct-one"}, headers=tenant.auth | {"If-Match": '"3"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == 0, stale.text
    assert _settings(client, tenant)["configured"] is False
    made = client.patch(URL, json={"account_id": "acct-one"}, headers=tenant.auth | {"If-Match": '"0"'})
    assert made.status_code == 200 and made.json()["version"] == 1, made.text


def test_a_dialer_settings_page_opened_before_a_change_elsewhere_is_refused_with_the_input_kept(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    made = client.patch(URL, json={"account_id": "acct-one", "api_token": "token-one-1234"}, headers=tenant.auth)
    assert made.status_code == 200, made.text
    browser, _ = _portal(app, email)
    try:
        form = _form(browser.get("/settings/dialer").text, "dialer-form")
        fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
        assert fields["expected_version"] == str(made.json()["version"])

        # Another admin switches the dialer on meanwhile.
        other = client.patch(URL, json={"enabled": True}, headers=tenant.auth)
        assert other.status_code == 200, other.text
        settle(platform, "fieldwork")

        # This page, opened before, changes the account (its "enabled" box unticked, as it was shown).
        refused = browser.post("/settings/dialer", data={**fields, "account_id": "acct-typed"})
        assert refused.status_code == 409, refused.text[:500]
        kept = _form(refused.text, "dialer-form")
        assert 'name="account_id" value="acct-typed"' in kept  # what was typed stays on the page
        assert f'name="expected_version" value="{other.json()["version"]}"' in kept  # the version as it is now
        now = _settings(client, tenant)
        assert (now["enabled"], now["account_id"]) == (True, "acct-one")  # not switched off, not the typed account

        # Saved again from the page as it is now: the change is made.
        again = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', kept))
        saved = browser.post("/settings/dialer", data={**again, "enabled": "on", "account_id": "acct-typed"})
        assert saved.status_code == 303, saved.text[:500]
        settle(platform, "fieldwork")
        now = _settings(client, tenant)
        assert (now["enabled"], now["account_id"]) == (True, "acct-typed")
    finally:
        browser.__exit__(None, None, None)


def test_two_dialer_changes_passing_the_version_check_together_keep_the_saved_ones_token(
    client: Any, tenant: Tenant, platform: Any, monkeypatch: Any
) -> None:
    """Both admins read version v and both pass the check; the second to save is refused (409). Its token was kept
    anyway, before the events, over the first's: the settings showed the first's account and last four, and
    click-to-call used the refused request's token."""
    from domain.fieldwork.application import FieldWork
    from domain.shared.application import ConcurrentModification

    made = client.patch(URL, json={"account_id": "acct-one", "api_token": "token-one-1111"}, headers=tenant.auth)
    assert made.status_code == 200, made.text
    version = made.json()["version"]
    fieldwork = platform.get(FieldWork)
    read = fieldwork.dialer_setup

    def the_other_admin_saves_meanwhile(brand_id: Any) -> Any:
        setup = read(brand_id)  # what this request read, at `version`
        monkeypatch.setattr(fieldwork, "dialer_setup", read)
        fieldwork.configure_dialer(
            tenant.brand_id, enabled=None, account_id="acct-b", api_token="token-bbb-2222", expected_version=version
        )
        return setup

    monkeypatch.setattr(fieldwork, "dialer_setup", the_other_admin_saves_meanwhile)
    with pytest.raises(ConcurrentModification):  # the change saved second
        fieldwork.configure_dialer(
            tenant.brand_id, enabled=None, account_id="acct-a", api_token="token-aaa-3333", expected_version=version
        )
    settle(platform, "fieldwork")
    now = _settings(client, tenant)
    assert (now["account_id"], now["version"]) == ("acct-b", version + 1)
    assert fieldwork.tokens.token(tenant.brand_id) == "token-bbb-2222"  # the saved change's, not the refused one's


def test_another_token_with_the_same_last_four_is_a_recorded_change(client: Any, tenant: Tenant) -> None:
    made = client.patch(URL, json={"account_id": "acct-one", "api_token": "token-one-1234"}, headers=tenant.auth)
    assert made.status_code == 200, made.text
    same = client.patch(URL, json={"api_token": "token-one-1234"}, headers=tenant.auth)
    assert same.status_code == 200 and same.json()["version"] == made.json()["version"]  # the same token: no change
    rotated = client.patch(URL, json={"api_token": "token-two-1234"}, headers=tenant.auth)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["version"] == made.json()["version"] + 1  # recorded: the history shows when it changed
