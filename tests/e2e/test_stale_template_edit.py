"""Two people editing one message template: the later save used to make the next version over the other's without a
word (the first editor's wording silently gone from what goes out). The editor's page carries the version it was
opened at, the API takes it as If-Match (and answers the template with its ETag): a template saved since is a 409
and nothing is saved; the portal keeps the refused draft on the page."""

from __future__ import annotations

import re
from typing import Any

import httpx

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.support import settle


def test_a_template_saved_since_it_was_opened_is_not_overwritten(server: str, platform: Any) -> None:
    tenant = make_tenant(platform)
    url = f"{server}/api/v1/message-templates"
    made = httpx.post(url, json={"name": "Stale edit test", "channel": "sms", "body": "Pay {{amount}} today"},
                      headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    template_id = made.json()["id"]
    read = httpx.get(f"{url}/{template_id}", headers=tenant.auth)
    assert read.headers["ETag"] == '"1"'

    # API: two editors start from version 1; the second save is refused.
    first = httpx.put(f"{url}/{template_id}", json={"body": "Please pay {{amount}} by {{due_date}}"},
                      headers={**tenant.auth, "If-Match": '"1"'})  # fmt: skip
    assert first.status_code == 200 and first.json()["version"] == 2 and first.headers["ETag"] == '"2"'
    second = httpx.put(f"{url}/{template_id}", json={"body": "Pay now: {{amount}}"},
                       headers={**tenant.auth, "If-Match": '"1"'})  # fmt: skip
    assert second.status_code == 409, second.text
    assert second.headers["content-type"].startswith("application/problem+json")
    assert second.json()["current_version"] == 2
    latest = httpx.get(f"{url}/{template_id}", headers=tenant.auth).json()
    assert latest["version"] == 2 and latest["body"] == "Please pay {{amount}} by {{due_date}}"
    # Without If-Match the API saves as before (the next version).
    assert (
        httpx.put(f"{url}/{template_id}", json={"body": "Pay {{amount}}"}, headers=tenant.auth).json()["version"] == 3
    )

    # Portal: a page opened at version 3, saved after someone made version 4.
    email = f"templates-{template_id[:8]}@lender.in"
    settle(platform, "identity", platform.get(Identity).create_staff(tenant.brand_id, email, "Tara", ["admin"],
                                                                      PASSWORD, granter=OPERATOR).position)  # fmt: skip
    with httpx.Client(base_url=server, follow_redirects=False, timeout=60) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        page = browser.get(f"/engagement/templates/{template_id}").text
        form = page[page.index('id="template-form"') :]
        hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
        assert hidden["expected_version"] == "3"
        assert (
            httpx.put(f"{url}/{template_id}", json={"body": "Due {{amount}}"}, headers=tenant.auth).status_code == 200
        )
        saved = browser.post(f"/engagement/templates/{template_id}",
                             data={**hidden, "body": "My wording: {{amount}}", "action": "save"})  # fmt: skip
        assert saved.status_code == 409, saved.text[:500]
        assert "someone saved it since" in saved.text and "My wording: {{amount}}" in saved.text  # the draft stays
        latest = httpx.get(f"{url}/{template_id}", headers=tenant.auth).json()
        assert latest["version"] == 4 and latest["body"] == "Due {{amount}}"


def test_an_etag_past_a_postgresql_integer_is_a_stale_version_not_a_server_error(client: Any, platform: Any) -> None:
    # Found by the schema fuzz once If-Match stated its pattern (up to 18 digits, as `expected_version` reads): the
    # version was cast to PostgreSQL's int, so "19511356287086" was a 500 ("integer out of range"), not the 409 of
    # any other version the template is not at.
    tenant = make_tenant(platform)
    made = client.post("/api/v1/message-templates", json={"name": "Big ETag", "channel": "sms", "body": "Pay {{amount}}"},
                       headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    url = f"/api/v1/message-templates/{made.json()['id']}"
    for etag in ('"19511356287086"', '"999999999999999999"', '"2147483648"'):
        refused = client.put(url, json={"body": "Pay now: {{amount}}"}, headers={**tenant.auth, "If-Match": etag})
        assert refused.status_code == 409, refused.text
        assert refused.json()["current_version"] == 1
    assert client.get(url, headers=tenant.auth).json()["version"] == 1  # nothing saved


def test_a_preview_keeps_the_version_the_draft_was_opened_at(server: str, platform: Any) -> None:
    """Previewing a draft showed the page again with the template's current version as the one the editor started
    from: a colleague's save in between was then overwritten by Save, with no 409."""
    tenant = make_tenant(platform)
    url = f"{server}/api/v1/message-templates"
    made = httpx.post(url, json={"name": "Preview edit test", "channel": "sms", "body": "Pay {{amount}} today"},
                      headers=tenant.auth)  # fmt: skip
    template_id = made.json()["id"]
    email = f"preview-{template_id[:8]}@lender.in"
    settle(platform, "identity", platform.get(Identity).create_staff(tenant.brand_id, email, "Tara", ["admin"],
                                                                      PASSWORD, granter=OPERATOR).position)  # fmt: skip
    with httpx.Client(base_url=server, follow_redirects=False, timeout=60) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        page = browser.get(f"/engagement/templates/{template_id}").text
        hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                                 page[page.index('id="template-form"') :]))  # fmt: skip
        assert hidden["expected_version"] == "1"
        colleague = httpx.put(f"{url}/{template_id}", json={"body": "Due {{amount}}"}, headers=tenant.auth)
        assert colleague.status_code == 200 and colleague.json()["version"] == 2
        draft = {**hidden, "body": "My wording: {{amount}}"}
        preview = browser.post(f"/engagement/templates/{template_id}", data={**draft, "action": "preview"})
        assert preview.status_code == 200, preview.text[:300]
        again = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">',
                                preview.text[preview.text.index('id="template-form"') :]))  # fmt: skip
        assert again["expected_version"] == "1"
        saved = browser.post(f"/engagement/templates/{template_id}",
                             data={**again, "body": draft["body"], "action": "save"})  # fmt: skip
        assert saved.status_code == 409, saved.text[:300]
        assert httpx.get(f"{url}/{template_id}", headers=tenant.auth).json()["body"] == "Due {{amount}}"
