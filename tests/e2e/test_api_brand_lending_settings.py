"""The brand settings of #13 item 7 through the API: pincodes, providers, holidays, reason codes, re-loan hike and
monthly targets; each saved with its history, each bad value a 422 naming the element, and nothing recorded."""

from __future__ import annotations

import json
import uuid
from html.parser import HTMLParser
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant, make_tenant


def test_lending_settings_are_saved_with_history(client: Any, tenant: Tenant) -> None:
    before = client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]
    assert before["serviceable_pincodes"] == [] and before["providers"]["bureau"] == "simulator"
    assert any(r["code"] == "LOW_SALARY" for r in before["rejection_reasons"])
    changed = client.patch(
        "/api/v1/brand/config",
        json={
            "serviceable_pincodes": ["560001", " 110001", "560001"],
            "providers": {"sms": "msg91", "bureau": "cibil"},
            "repayment_holidays": ["2027-01-26", "2026-12-25"],
            "rejection_reasons": [{"code": "LOW_SALARY", "label": "Income below our minimum"}],
            "reloan_hike": {"kind": "percent", "value": "10"},
            "monthly_targets": {"2026-12": {"disbursal_amount": "2500000", "disbursal_count": 120}},
        },
        headers=tenant.auth,
    )
    assert changed.status_code == 200, changed.text
    settings = changed.json()["settings"]
    assert settings["serviceable_pincodes"] == ["110001", "560001"]
    assert settings["providers"]["sms"] == "msg91" and settings["providers"]["pan"] == "simulator"
    assert settings["repayment_holidays"] == ["2026-12-25", "2027-01-26"]
    assert settings["reloan_hike"] == {"kind": "percent", "value": "10"}
    assert settings["monthly_targets"] == {
        "2026-12": {"disbursal_amount": "2500000.00", "disbursal_count": 120, "collections": "0.00"}
    }
    history = client.get("/api/v1/brand/config/history", headers=tenant.auth).json()["items"]
    changed_settings = {h["setting"]: h for h in history}
    assert changed_settings["serviceable_pincodes"]["old"] == []
    assert changed_settings["serviceable_pincodes"]["new"] == ["110001", "560001"]
    assert changed_settings["providers"]["new"]["bureau"] == "cibil"
    assert set(changed_settings) >= {"repayment_holidays", "rejection_reasons", "reloan_hike", "monthly_targets"}


def test_bad_lending_settings_name_the_element_and_change_nothing(client: Any, tenant: Tenant) -> None:
    version = client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"]
    cases = [
        ({"serviceable_pincodes": ["56001"]}, "serviceable_pincodes[0]"),
        ({"serviceable_pincodes": "560001"}, "serviceable_pincodes"),
        ({"providers": {"fax": "x"}}, "providers.fax"),
        ({"providers": {"sms": "Bad Name"}}, "providers.sms"),
        ({"repayment_holidays": ["2026-02-30"]}, "repayment_holidays[0]"),
        ({"rejection_reasons": [{"code": "ok", "label": "x"}]}, "rejection_reasons[0].code"),
        (
            {"rejection_reasons": [{"code": "OK", "label": "A"}, {"code": "OK", "label": "B"}]},
            "rejection_reasons[1].code",
        ),
        ({"reloan_hike": {"kind": "double", "value": "1"}}, "reloan_hike.kind"),
        ({"reloan_hike": {"kind": "fixed", "value": "-1"}}, "reloan_hike.value"),
        ({"monthly_targets": {"2026-13": {}}}, "monthly_targets.2026-13"),
        ({"monthly_targets": {"2026-01": {"collections": "x"}}}, "monthly_targets.2026-01.collections"),
    ]
    for body, field in cases:
        bad = client.patch("/api/v1/brand/config", json=body, headers=tenant.auth)
        assert bad.status_code == 422, (body, bad.text)
        assert [e["field"] for e in bad.json()["errors"]] == [field], bad.json()
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"] == version


def test_an_empty_or_blank_message_sender_is_422_naming_its_channel_and_a_channel_left_out_is_the_default(
    client: Any, platform: Any
) -> None:
    # Found by a probe: `{"sms": ""}` was saved, and the SMS went out from the default sender as if it were unset.
    tenant = make_tenant(platform)
    version = client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"]
    for senders, field in (
        ({"sms": ""}, "message_senders.sms"),
        ({"sms": "   "}, "message_senders.sms"),
        ({"sms": "ACMEFN", "whatsapp": "\u200b\u200b"}, "message_senders.whatsapp"),
        ({"email": ""}, "message_senders.email"),
        ({"email": "Acme <notify@acme.in>\r\nBcc: spy@example.in"}, "message_senders.email"),
        ({"sms": 7}, "message_senders.sms"),
        ({"sms": "A" * 101}, "message_senders.sms"),
        ({"fax": "ACME"}, "message_senders.fax"),
        ("ACMEFN", "message_senders"),
        (None, "message_senders"),
    ):
        bad = client.patch("/api/v1/brand/config", json={"message_senders": senders}, headers=tenant.auth)
        assert bad.status_code == 422, (senders, bad.text)
        assert [e["field"] for e in bad.json()["errors"]] == [field], (senders, bad.json())
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"] == version
    saved = client.patch("/api/v1/brand/config", json={"message_senders": {"sms": " ACMEFN "}}, headers=tenant.auth)
    assert saved.status_code == 200, saved.text
    assert saved.json()["settings"]["message_senders"] == {"sms": "ACMEFN"}  # whatsapp left out: its default


class _Form(HTMLParser):
    """The #settings form's fields as a browser would submit them (inputs, checked checkboxes, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name:
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[name] = a.get("value") or ("on" if a.get("type") == "checkbox" else "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def test_the_settings_page_saves_the_list_settings_unchanged_and_changed(client: Any, app: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    email = f"admin-{uuid.uuid4().hex[:6]}@lender.in"
    client.post(
        "/api/v1/staff",
        json={"name": "Settings Admin", "email": email, "roles": ["admin"], "password": "admin-pass-2026"},
        headers=tenant.auth,
    )
    client.patch("/api/v1/brand/config", json={"serviceable_pincodes": ["560001"]}, headers=tenant.auth)
    browser = TestClient(app, follow_redirects=False)
    with browser:
        assert browser.post("/login", data={"email": email, "password": "admin-pass-2026"}).status_code == 303
        form = _Form()
        html = browser.get("/settings").text
        form.feed(html)
        # Maps stay one-line inputs (the browser tests fill them), lists are text areas.
        assert '<input name="covenant_lead_days"' in html and '<input name="reloan_hike"' in html
        assert '<textarea name="serviceable_pincodes"' in html
        assert json.loads(form.fields["serviceable_pincodes"]) == ["560001"]
        assert json.loads(form.fields["reloan_hike"]) == {"kind": "percent", "value": "0"}
        version = client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"]
        saved = browser.post("/settings", data=form.fields)
        assert saved.status_code == 303, saved.text
        assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["version"] == version
        changed = form.fields | {"serviceable_pincodes": '["560001", "400001"]', "repayment_holidays": '["2026-12-25"]'}
        assert browser.post("/settings", data=changed).status_code == 303
        settings = client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]
        assert settings["serviceable_pincodes"] == ["400001", "560001"]
        assert settings["repayment_holidays"] == ["2026-12-25"]
        bad = browser.post("/settings", data=form.fields | {"serviceable_pincodes": '["4000"]'})
        assert bad.status_code == 422 and "serviceable pincodes[0]: must be a 6-digit pincode" in bad.text


def test_a_null_business_date_clears_the_fixed_date_back_to_today(client: Any, tenant: Tenant) -> None:
    fixed = client.patch("/api/v1/brand/config", json={"business_date": "2031-01-31"}, headers=tenant.auth)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["business_date"] == "2031-01-31" and fixed.json()["settings"]["business_date"] == "2031-01-31"
    cleared = client.patch("/api/v1/brand/config", json={"business_date": None}, headers=tenant.auth)
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert body["settings"]["business_date"] is None
    assert body["changes"] == [{"setting": "business_date", "old": "2031-01-31", "new": None}]
    today = client.get("/api/v1/brand/config", headers=tenant.auth).json()["business_date"]
    assert body["business_date"] == today != "2031-01-31"
    again = client.patch("/api/v1/brand/config", json={"business_date": None}, headers=tenant.auth)
    assert again.status_code == 200 and again.json()["changes"] == [] and again.json()["version"] == body["version"]
