"""The sync page's "Connect a source" form: the API's connect (POST /api/v1/notice-sources) for staff holding its
permission (NOTICE_SYNC at ALL). Connected: post/redirect/get to the sync page, which says so once, lists the source
(its token by its last characters only) and syncs it. Bad input is a 422 naming each field at the form, what was
typed kept but never the token, nothing connected; a company that already has a source is a 409, nothing changed;
staff without the permission see no form and their post is a 403; a source is its brand's alone."""

from __future__ import annotations

import html
import uuid
from typing import Any

from adapters.simulators.softmedia import SoftmediaSimulator
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_notices import TOKEN, _item, _sync, simulator
from tests.e2e.test_portal_edit_forms import _csrf, _hidden, _said, portals
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle

__all__ = ["portals", "simulator"]  # fixtures used by name

ACTION, FORM = "/sync/connect", "connect-form"


def _sources(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    listed = client.get("/api/v1/notice-sources", headers=auth)
    assert listed.status_code == 200, listed.text
    return list(listed.json()["items"])


def test_a_source_is_connected_from_the_sync_page_and_then_syncs(
    client: Any, platform: Any, portals: dict[str, Any], simulator: SoftmediaSimulator
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    simulator.dataset.upsert(_item("C1", loan="SML0000000101", name="Kavya Nair", days=12, amount="2500.00"))
    simulator.dataset.upsert(_item("C2", name="Arjun Rao", days=3, amount="800.00", mode="upcoming"))
    opened = admin.get("/sync")
    assert opened.status_code == 200 and 'id="source-connected"' not in opened.text
    fields = _hidden(opened.text, FORM)
    assert set(fields) == {"csrf_token", "form_nonce"}
    data = {"company": "sml", "base_url": simulator.base_url, "token": TOKEN, "schedule": "*/30 * * * *",
            "enabled": "on"}  # fmt: skip

    # Connected: post/redirect/get to the sync page, which says so once and lists the source.
    saved = admin.post(ACTION, data={**fields, **data})
    assert saved.status_code == 303, saved.text[:300]
    [source] = _sources(client, tenant.auth)
    assert saved.headers["location"] == f"/sync?connected={source['id']}"
    assert (source["company"], source["base_url"], source["schedule"], source["enabled"]) == (
        "SML", simulator.base_url, "*/30 * * * *", True)  # fmt: skip
    assert source["token"].endswith(TOKEN[-4:])
    shown = admin.get(saved.headers["location"]).text
    said = _said(shown, "source-connected")
    assert said == "Source of SML connected: it syncs on its schedule, or now with “Sync now”.", said
    assert shown.count('id="source-connected"') == 1
    assert f'data-source="{source["id"]}"' in shown and TOKEN not in shown  # the token is never shown
    assert 'id="source-connected"' not in admin.get("/sync").text  # the page opened again later says nothing

    # The same form posted again (a double tap, a reload that re-posts) is sent to the same page, nothing run twice.
    again = admin.post(ACTION, data={**fields, **data})
    assert again.status_code == 303 and again.headers["location"] == saved.headers["location"], again.text[:300]
    assert len(_sources(client, tenant.auth)) == 1

    # The source syncs as any other: its notices come in from the simulator.
    run = _sync(client, platform, tenant, source["id"])
    assert run["status"] == "succeeded", run
    assert (run["fetched"], run["created"]) == (2, 2)
    overdue = client.get("/api/v1/notices/overdue", headers=tenant.auth).json()["items"]
    assert [n["source_notice_id"] for n in overdue] == ["C1"]

    # A second form for a company that already has a source: 409 at the form, nothing changed, the token not echoed.
    other_token = "tok-a-second-secret-42"
    twice = admin.post(ACTION, data={**_hidden(admin.get("/sync").text, FORM), **data, "base_url": "http://127.0.0.1:9",
                                     "token": other_token})  # fmt: skip
    assert twice.status_code == 409, twice.text[:300]
    assert "SML already has a notice source, so nothing was connected" in _said(twice.text, "connect-error")
    assert other_token not in twice.text and 'value="http://127.0.0.1:9"' in _form(twice.text, FORM)
    [unchanged] = _sources(client, tenant.auth)
    assert (unchanged["base_url"], unchanged["token"], unchanged["version"]) == (
        simulator.base_url, source["token"], source["version"])  # fmt: skip

    # Brand B's admin sees nothing of brand A's source and connects their own SML (its own, disabled here).
    theirs = portals["other_admin"]
    assert f'data-source="{source["id"]}"' not in theirs.get("/sync").text
    other_data = {**data, "enabled": ""}
    connected = theirs.post(ACTION, data={**_hidden(theirs.get("/sync").text, FORM), **other_data})
    assert connected.status_code == 303, connected.text[:300]
    [their_source] = _sources(client, portals["other"].auth)
    assert their_source["id"] != source["id"] and their_source["enabled"] is False
    said = _said(theirs.get(connected.headers["location"]).text, "source-connected")
    assert said == "Source of SML connected, its scheduled syncs disabled.", said
    assert [s["id"] for s in _sources(client, tenant.auth)] == [source["id"]]
    assert 'id="source-connected"' not in admin.get(connected.headers["location"]).text  # not brand A's to name


def test_bad_input_to_the_connect_form_connects_nothing_and_keeps_what_was_typed_but_the_token(
    client: Any, portals: dict[str, Any]
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    secret = "tok-typed-never-echoed-77"
    fields = _hidden(admin.get("/sync").text, FORM)
    typed = {"company": "S M L", "base_url": "ftp://nowhere", "token": secret, "schedule": "whenever"}
    bad = admin.post(ACTION, data={**fields, **typed})
    assert bad.status_code == 422, bad.text[:300]
    said = _said(bad.text, "connect-error")
    for words in ("company: a company code of 1-30 letters", "base url: an http(s) URL", "schedule: 'whenever' has 1"):
        assert words in said, said
    kept = _form(bad.text, FORM)
    assert 'value="S M L"' in kept and 'value="ftp://nowhere"' in kept and 'value="whenever"' in kept
    assert 'name="enabled" checked' not in kept  # left unticked, shown unticked
    assert secret not in bad.text  # the token is never written back
    assert 'id="source-connected"' not in bad.text

    # Too short, or what no HTTP header carries (another script's letters made every sync fail as it began; spaces).
    for token in ("short", "टोकन-1234-5678", "tok 1234 5678", " " * 12):
        refused = admin.post(ACTION, data={**_hidden(admin.get("/sync").text, FORM), "company": "SML",
                                           "base_url": "http://127.0.0.1:9", "token": token, "schedule": "0 * * * *"})  # fmt: skip
        assert refused.status_code == 422, (token, refused.text[:300])
        said = html.unescape(_said(refused.text, "connect-error"))
        assert "token: the source's API token: 8-500 characters (ASCII letters, digits, symbols), no spaces" in said
    long = admin.post(ACTION, data={**_hidden(admin.get("/sync").text, FORM), "company": "SML",
                                    "base_url": "http://127.0.0.1:9/" + "x" * 500, "token": secret,
                                    "schedule": "0 * * * *"})  # fmt: skip
    assert long.status_code == 422 and "at most 500 characters" in _said(long.text, "connect-error"), long.text[:300]
    assert _sources(client, tenant.auth) == []


def test_staff_who_do_not_configure_syncs_see_no_connect_form_and_their_post_is_refused(
    client: Any, portals: dict[str, Any]
) -> None:
    tenant = portals["tenant"]
    # Loan Ops sync (NOTICE_SYNC at WRITE) but do not connect (the API's POST needs ALL).
    ops = portals["loan_ops"]
    page = ops.get("/sync")
    assert page.status_code == 200 and f'id="{FORM}"' not in page.text and 'action="/sync/connect"' not in page.text
    data = {"csrf_token": _csrf(ops), "company": "SML", "base_url": "http://127.0.0.1:9", "token": "tok-1234567890",
            "schedule": "*/30 * * * *", "enabled": "on"}  # fmt: skip
    refused = ops.post(ACTION, data=data)
    assert refused.status_code == 403, refused.text[:300]
    # A Credit Executive does not even see the sync page.
    ce = portals["credit_executive"]
    assert ce.post(ACTION, data={**data, "csrf_token": _csrf(ce)}).status_code == 403
    assert _sources(client, tenant.auth) == []


def test_staff_of_some_companies_connect_only_theirs(
    client: Any, app: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant = portals["tenant"]
    email = f"head-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, "Kiran Head", ["collection_head"], PASSWORD,
                                               companies=["KFL"], granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    head, _ = _portal(app, email)
    try:
        data = {"base_url": "http://127.0.0.1:9", "token": "tok-1234567890", "schedule": "*/30 * * * *"}
        refused = head.post(ACTION, data={**_hidden(head.get("/sync").text, FORM), **data, "company": "SML"})
        assert refused.status_code == 422, refused.text[:300]
        said = _said(refused.text, "connect-error")
        assert said == "company: SML is not one of the companies you manage (KFL)", said
        assert _sources(client, tenant.auth) == []
        made_kfl = head.post(ACTION, data={**_hidden(head.get("/sync").text, FORM), **data, "company": "KFL"})
        assert made_kfl.status_code == 303, made_kfl.text[:300]
        assert [s["company"] for s in _sources(client, tenant.auth)] == ["KFL"]
    finally:
        head.__exit__(None, None, None)
