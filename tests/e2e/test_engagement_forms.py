"""The engagement actions staff had through the API only, now portal forms: a new message template (the templates
list), the provider's approval of a WhatsApp template version (the template's page) and a message sent to a borrower
now (the Customer 360's messaging card, through the SMS and WhatsApp simulators over HTTP). Each: a success
(post/redirect/get with a flash), a role without the API's permission refused (403, nothing changed), bad input
(422 said at the form, what was typed kept, nothing changed), another brand's record (404)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.e2e.blackbox import DAY, poll, zone_at
from tests.e2e.test_engagement import (
    configure,
    wiring,  # noqa: F401 - the simulators' webhook secret and our public address
)
from tests.e2e.test_notice_match_confirm import _member
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


@pytest.fixture
def portals(app: Any, platform: Any, staff: tuple[Tenant, str]) -> Iterator[dict[str, Any]]:
    """Brand A's admin, brand A's credit executive (no messaging permissions) and brand B's admin, signed in, each
    with their CSRF token."""
    tenant, email = staff
    other = make_tenant(platform)
    made: dict[str, Any] = {"tenant": tenant, "other": other}
    opened: list[TestClient] = []
    try:
        for who, address in (("admin", email), ("reader", _member(platform, tenant, "credit_executive")),
                             ("other_admin", _member(platform, other, "admin"))):  # fmt: skip
            browser, token = _portal(app, address)
            opened.append(browser)
            made[who], made[f"{who}_csrf"] = browser, token
        yield made
    finally:
        for browser in opened:
            browser.__exit__(None, None, None)


def _templates(client: Any, tenant: Tenant) -> dict[str, dict[str, Any]]:
    answer = client.get("/api/v1/message-templates", params={"limit": 200}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return {t["id"]: t for t in answer.json()["items"]}


def test_a_new_template_is_created_from_the_templates_list(client: Any, portals: dict[str, Any]) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    listed = admin.get("/engagement/templates").text
    fields = dict(HIDDEN.findall(_form(listed, "new-template-form")))
    before = _templates(client, tenant)
    form = {**fields, "name": "Festival greeting", "kind": "custom", "channel": "whatsapp", "language": "en",
            "subject": "", "body": "Happy Diwali {{borrower_name}} from us"}  # fmt: skip

    # Refused, nothing created: a role without MESSAGE_TEMPLATES WRITE (no form, 403), bad input (422 at the form,
    # what was typed kept).
    assert 'id="new-template-form"' not in portals["reader"].get("/engagement/templates").text
    assert (
        portals["reader"].post("/engagement/templates", data={**form, "csrf_token": portals["reader_csrf"]}).status_code
        == 403
    )
    bad = admin.post("/engagement/templates", data={**form, "channel": "pigeon"})
    assert bad.status_code == 422 and 'id="new-template-error"' in bad.text and "channel" in bad.text
    assert "Happy Diwali {{borrower_name}} from us" in _form(bad.text, "new-template-form")
    short = admin.post("/engagement/templates", data={**form, "body": "x"})
    assert short.status_code == 422 and 'id="new-template-error"' in short.text
    assert _templates(client, tenant).keys() == before.keys()

    # Created: PRG to its page, which says so; a WhatsApp template awaits approval.
    made = admin.post("/engagement/templates", data=form)
    assert made.status_code == 303, made.text[:400]
    match = re.fullmatch(r"/engagement/templates/([0-9a-f-]{36})\?saved=v1", made.headers["location"])
    assert match is not None, made.headers["location"]
    template = _templates(client, tenant)[match.group(1)]
    assert (template["name"], template["channel"], template["approval"]) == ("Festival greeting", "whatsapp", "pending")
    shown = admin.get(made.headers["location"]).text
    assert 'id="template-saved"' in shown and "Saved as version 1." in shown
    # The same name, channel and language as another kind: 409 at the form, what was typed kept, nothing saved.
    other_kind = admin.post("/engagement/templates", data={**form, "kind": "paid", "form_nonce": uuid.uuid4().hex})
    assert other_kind.status_code == 409 and 'id="new-template-error"' in other_kind.text
    assert "is a custom template" in other_kind.text and 'value="paid" selected' in other_kind.text
    assert _templates(client, tenant)[match.group(1)]["version"] == 1

    # Another brand's admin creates in their own brand: brand A's templates do not change, B cannot open A's.
    other = portals["other_admin"]
    theirs = other.post("/engagement/templates", data={**form, "csrf_token": portals["other_admin_csrf"],
                                                       "form_nonce": uuid.uuid4().hex})  # fmt: skip
    assert theirs.status_code == 303
    assert _templates(client, tenant).keys() == {*before.keys(), match.group(1)}
    assert other.get(f"/engagement/templates/{match.group(1)}").status_code == 404


def test_a_whatsapp_templates_approval_is_recorded_from_its_page(client: Any, portals: dict[str, Any]) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    url = "/api/v1/message-templates"
    wa = client.post(url, json={"name": "WA nudge", "channel": "whatsapp", "body": "Hi {{borrower_name}}, pay soon"},
                     headers=tenant.auth).json()  # fmt: skip
    sms = client.post(url, json={"name": "SMS nudge", "channel": "sms", "body": "Hi {{borrower_name}}, pay soon"},
                      headers=tenant.auth).json()  # fmt: skip
    page, action = f"/engagement/templates/{wa['id']}", f"/engagement/templates/{wa['id']}/approval"
    fields = dict(HIDDEN.findall(_form(admin.get(page).text, "approval-form")))
    assert fields["version"] == "1" and wa["approval"] == "pending"

    def approval() -> str:
        return str(client.get(f"{url}/{wa['id']}", headers=tenant.auth).json()["approval"])

    reader = portals["reader"]
    assert (
        reader.post(action, data={**fields, "csrf_token": portals["reader_csrf"], "state": "approved"}).status_code
        == 403
    )
    bad = admin.post(action, data={**fields, "state": "maybe"})
    assert bad.status_code == 422 and 'id="approval-error"' in bad.text
    assert admin.post(action, data={**fields, "state": "approved", "version": "x"}).status_code == 422
    # An SMS template needs no approval: a 409 said on its page (which shows no approval form).
    assert 'id="approval-form"' not in admin.get(f"/engagement/templates/{sms['id']}").text
    refused = admin.post(f"/engagement/templates/{sms['id']}/approval", data={**fields, "state": "approved"})
    assert refused.status_code == 409 and "only WhatsApp templates need approval" in refused.text
    other = portals["other_admin"]
    assert other.post(action, data={**fields, "csrf_token": portals["other_admin_csrf"],
                                    "state": "approved"}).status_code == 404  # fmt: skip
    assert approval() == "pending"

    saved = admin.post(action, data={**fields, "state": "approved"})
    assert saved.status_code == 303 and saved.headers["location"] == f"{page}?approval=approved#approval-card"
    assert approval() == "approved"
    shown = admin.get(saved.headers["location"]).text
    assert 'id="approval-saved"' in shown and "Approval recorded: approved." in shown


def test_a_message_is_sent_now_from_the_customer_360(
    client: Any, platform: Any, portals: dict[str, Any], provider_simulators: Any
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    configure(platform, tenant, timezone=zone_at(DAY))  # daytime at the brand: an SMS is not held for quiet hours
    phone = mobile("97")
    made = client.post("/api/v1/customers", json={"name": "Meena Kumari", "phone": phone}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    customer_id = made.json()["id"]
    page, action = f"/customers/{customer_id}", f"/customers/{customer_id}/messages"
    opened = admin.get(page).text
    fields = dict(HIDDEN.findall(_form(opened, "send-message-form")))
    sms = provider_simulators["sms"]

    def sent() -> list[dict[str, Any]]:
        answer = client.get("/api/v1/messages", params={"customer_id": customer_id}, headers=tenant.auth)
        return list(answer.json()["items"])

    # Refused, nothing sent: a role without MESSAGES WRITE, bad input, another brand's borrower.
    assert 'id="send-message-form"' not in portals["reader"].get(page).text
    refused = portals["reader"].post(action, data={**fields, "csrf_token": portals["reader_csrf"], "channel": "sms",
                                                   "kind": "due_1"})  # fmt: skip
    assert refused.status_code == 403
    bad = admin.post(action, data={**fields, "channel": "pigeon", "kind": "due_1"})
    assert bad.status_code == 422 and 'id="message-error"' in bad.text and "channel" in bad.text
    assert admin.post(action, data={**fields, "channel": "sms", "kind": "nonsense"}).status_code == 422
    other = portals["other_admin"]
    assert other.post(action, data={**fields, "csrf_token": portals["other_admin_csrf"], "channel": "sms",
                                    "kind": "due_1"}).status_code == 404  # fmt: skip
    assert sent() == [] and sms.messages(phone) == []

    # Sent: PRG to the 360's messaging card saying so; the message reached the SMS simulator once, even when the
    # same form is posted again.
    done = admin.post(action, data={**fields, "channel": "sms", "kind": "due_1"})
    assert done.status_code == 303, done.text[:400]
    assert done.headers["location"].startswith(f"{page}?message=") and done.headers["location"].endswith(
        "#customer-messaging"
    )
    assert 'id="message-sent"' in admin.get(done.headers["location"]).text
    again = admin.post(action, data={**fields, "channel": "sms", "kind": "due_1"})
    assert again.status_code == 303
    messages = sent()
    assert len(messages) == 1 and messages[0]["channel"] == "sms" and messages[0]["source"] == "manual"
    assert len(poll(lambda: sms.messages(phone), bool)) == 1


def test_a_borrowers_messages_stay_theirs_when_filtered_and_paged(
    client: Any, platform: Any, portals: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Customer 360 links to the borrower's messages (`?customer_id=`): the Filter form dropped it, showing the
    brand's messages without a word, and the list stopped at 100 with no next page. Both now keep the borrower."""
    from api.pages import engagement as engagement_pages

    tenant, admin = portals["tenant"], portals["admin"]
    configure(platform, tenant, timezone=zone_at(DAY))
    people = []
    for name in ("Kiran Rao", "Asha Nair"):
        made = client.post("/api/v1/customers", json={"name": name, "phone": mobile("93")}, headers=tenant.auth)
        assert made.status_code == 201, made.text
        people.append(made.json()["id"])
    kiran, asha = people
    for who, key in ((kiran, "k-1"), (kiran, "k-2"), (asha, "a-1")):
        sent = client.post("/api/v1/messages", headers=tenant.auth, json={
            "customer_id": who, "channel": "sms", "kind": "due_1", "idempotency_key": key,
            "variables": {"amount": "1.00", "due_date": "01 Mar 2026"}})  # fmt: skip
        assert sent.status_code == 201, sent.text
    theirs = {m["id"] for m in client.get("/api/v1/messages", params={"customer_id": kiran},
                                          headers=tenant.auth).json()["items"]}  # fmt: skip
    assert len(theirs) == 2
    monkeypatch.setattr(engagement_pages, "MESSAGES_PAGE", 1)
    first = admin.get("/engagement/messages", params={"customer_id": kiran, "channel": "sms"})
    assert first.status_code == 200 and 'id="message-scope"' in first.text
    assert f'name="customer_id" value="{kiran}"' in _form(first.text, "message-filters")
    older = re.search(r'href="([^"]+)" id="older-messages"', first.text)
    assert older is not None and f"customer_id={kiran}" in older.group(1)
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert second.status_code == 200 and 'id="older-messages"' not in second.text
    shown = len(re.findall(r"<tr><td>", first.text)) + len(re.findall(r"<tr><td>", second.text))
    assert shown == 2  # Kiran's two, page by page; not Asha's
