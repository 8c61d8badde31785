"""The portal's edit forms for what staff could change only through the API: a covenant's assignee (the covenant
page), a job's settings (the jobs page), a notice source's settings (the sync page) and a borrower's messaging
preferences (the Customer 360). Each form carries the version it was rendered with and goes through the API's use
case with it: a save is made (post/redirect/get); a form opened before someone else's change is a 409 saying so in
words with the value now, nothing saved, what was typed kept; bad input is a 422 naming the field, nothing saved;
staff without the API's permission for the change see no form and a post of theirs is a 403; another brand's record
is a 404 and stays as it was."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_covenants import _covenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.e2e.test_stale_records import _customer
from tests.support import settle

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')
CHANGED_SINCE = "Someone else changed {} since you opened it, so nothing was saved. It is now: {}."


def _hidden(page: str, form_id: str) -> dict[str, str]:
    """The hidden fields (CSRF token, nonce, expected version) of the form `form_id` on `page`."""
    return dict(HIDDEN.findall(_form(page, form_id)))


def _member(platform: Any, tenant: Tenant, role: str, name: str = "Ravi Staff") -> tuple[str, str]:
    """A staff member of the brand holding `role`: their id and email."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return str(made.id), email


def _csrf(browser: TestClient) -> str:
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
    assert token is not None
    return token.group(1)


def _said(page: str, element_id: str) -> str:
    """The text of the message `element_id` on `page`, unescaped."""
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, page[:500]
    return html.unescape(found.group(1))


@pytest.fixture
def portals(app: Any, platform: Any, staff: tuple[Tenant, str]) -> Iterator[dict[str, Any]]:
    """Brand A's admin, brand A's `credit_executive` (covenants read, no messaging) and `loan_ops` (jobs and sync
    to run, not to configure), and brand B's admin, each signed in to the portal."""
    tenant, email = staff
    other = make_tenant(platform)
    made: dict[str, Any] = {"tenant": tenant, "other": other}
    emails = {
        "admin": email,
        "credit_executive": _member(platform, tenant, "credit_executive")[1],
        "loan_ops": _member(platform, tenant, "loan_ops")[1],
        "other_admin": _member(platform, other, "admin")[1],
    }
    opened = []
    try:
        for who, address in emails.items():
            browser, _ = _portal(app, address)
            opened.append(browser)
            made[who] = browser
        yield made
    finally:
        for browser in opened:
            browser.__exit__(None, None, None)


# Covenants: the assignee ------------------------------------------------------------------------------------------


def test_a_covenants_assignee_is_edited_from_its_page_with_the_version_it_showed(
    client: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    customer = _customer(client, platform, tenant)
    covenant = _covenant(client, tenant, customer)
    asha = _member(platform, tenant, "admin", "Asha Iyer")[0]
    meena = _member(platform, tenant, "admin", "Meena Das")[0]
    settle(platform, "covenants")
    page, api = f"/covenants/{covenant['id']}", f"/api/v1/covenants/{covenant['id']}"
    action = f"{page}/assignee"

    def assignee() -> Any:
        return client.get(api, headers=tenant.auth).json()["assignee_id"]

    # Saved: post/redirect/get to the page, which says so (once) and shows the new assignee.
    opened = admin.get(page).text
    assert 'id="assignee-saved"' not in opened
    fields = _hidden(opened, "assignee-form")
    assert fields["expected_version"] == str(covenant["version"])
    saved = admin.post(action, data={**fields, "assignee_id": asha})
    assert saved.status_code == 303, saved.text[:300]
    assert saved.headers["location"] == f"{page}?assigned={asha}#covenant-assignee"
    assert assignee() == asha
    shown = admin.get(saved.headers["location"]).text
    assert _said(shown, "assignee-saved") == "Assigned to Asha Iyer." and shown.count('id="assignee-saved"') == 1
    assert f'<option value="{asha}" selected>' in _form(shown, "assignee-form")
    assert 'id="assignee-saved"' not in admin.get(page).text  # the page opened again later says nothing
    # The address names who: another brand's staff member or anything else is never said.
    stranger = _member(platform, portals["other"], "admin", "Someone Else")[0]
    for named in (stranger, "<b>x</b>", str(uuid.uuid4())):
        assert 'id="assignee-saved"' not in admin.get(page, params={"assigned": named}).text
    # Saving nobody says so too.
    cleared = admin.post(action, data={**_hidden(shown, "assignee-form"), "assignee_id": ""})
    assert cleared.headers["location"] == f"{page}?assigned=nobody#covenant-assignee", cleared.text[:300]
    said = _said(admin.get(cleared.headers["location"]).text, "assignee-saved")
    assert said == "Assignee removed: nobody follows this covenant up." and assignee() is None
    asha_again = admin.post(action, data={**_hidden(admin.get(page).text, "assignee-form"), "assignee_id": asha})
    assert asha_again.status_code == 303 and assignee() == asha

    # A form opened before someone else's change: 409 in words with the assignee now, nothing saved, the choice kept.
    stale_fields = _hidden(admin.get(page).text, "assignee-form")
    other = client.patch(api, json={"assignee_id": meena}, headers=tenant.auth)
    assert other.status_code == 200, other.text
    refused = admin.post(action, data={**stale_fields, "assignee_id": ""})
    assert refused.status_code == 409, refused.text[:300]
    said = _said(refused.text, "assignee-error")
    assert CHANGED_SINCE.format("this covenant", "assigned to Meena Das") in said, said
    kept = _form(refused.text, "assignee-form")
    assert '<option value="" selected>' in kept and f'<option value="{meena}" selected>' not in kept
    assert f'name="expected_version" value="{other.json()["version"]}"' in kept  # the version as it is now
    assert assignee() == meena

    # Bad input: 422 naming the field, nothing saved.
    fields = _hidden(admin.get(page).text, "assignee-form")
    for wrong, words in (("not-an-id", "assignee: choose a staff member"), (str(uuid.uuid4()), "assignee id")):
        bad = admin.post(action, data={**fields, "assignee_id": wrong})
        assert bad.status_code == 422 and words in html.unescape(bad.text), bad.text[:300]
        assert 'id="assignee-error"' in bad.text
    assert assignee() == meena

    # Without COVENANTS at WRITE (as the API's PATCH needs): no form, and a post is refused.
    ce = portals["credit_executive"]
    shown = ce.get(page)
    assert shown.status_code == 200 and 'id="assignee-form"' not in shown.text
    assert ce.post(action, data={"csrf_token": _csrf(ce), "assignee_id": asha}).status_code == 403
    assert assignee() == meena

    # Brand B's admin, by the covenant's id: 404, nothing changed.
    other_admin = portals["other_admin"]
    assert other_admin.get(page).status_code == 404
    theirs = other_admin.post(action, data={"csrf_token": _csrf(other_admin), "assignee_id": "",
                                            "expected_version": str(other.json()["version"])})  # fmt: skip
    assert theirs.status_code == 404, theirs.text[:300]
    assert assignee() == meena


# Jobs: a job's settings -------------------------------------------------------------------------------------------


def _job_form(hidden: dict[str, str], **values: str) -> dict[str, str]:
    """The settings form as posted: its hidden fields and every setting it shows."""
    shown = {"cron": "0 3 * * *", "enabled": "on", "batch_size": "250", "retry_count": "2",
             "retry_interval_seconds": "30", "filters": "{}", "variables": "{}"}  # fmt: skip
    return {**hidden, **shown, **values}


def test_a_jobs_settings_are_edited_from_the_jobs_page_with_the_version_it_showed(
    client: Any, portals: dict[str, Any]
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    api, action, form = "/api/v1/jobs/housekeeping", "/jobs/housekeeping/settings", "settings-form-housekeeping"

    def job(auth: dict[str, str] = tenant.auth) -> dict[str, Any]:
        found: dict[str, Any] = client.get(api, headers=auth).json()
        return found

    # Saved: post/redirect/get to the jobs page, which says so and shows the settings.
    fields = _hidden(admin.get("/jobs").text, form)
    assert fields["expected_version"] == "0"  # the job's defaults, never changed by the brand
    saved = admin.post(action, data=_job_form(fields, variables='{"as_of": "2026-01-31"}'))
    assert saved.status_code == 303 and saved.headers["location"] == "/jobs?configured=housekeeping", saved.text[:300]
    shown = admin.get(saved.headers["location"]).text
    assert _said(shown, "settings-saved") == "Housekeeping: settings saved."
    now = job()
    assert now["version"] == 1 and now["settings"]["cron"] == "0 3 * * *" and now["settings"]["batch_size"] == 250
    assert (now["settings"]["retry_count"], now["settings"]["retry_interval_seconds"]) == (2, 30)
    assert now["settings"]["variables"] == {"as_of": "2026-01-31"}
    assert 'name="batch_size" inputmode="numeric" value="250"' in _form(shown, form)

    # A form opened before someone else's change: 409 in words with the settings now, nothing saved, input kept.
    stale = _hidden(admin.get("/jobs").text, form)
    other = client.patch(api, json={"batch_size": 300, "enabled": False}, headers=tenant.auth | {"If-Match": '"1"'})
    assert other.status_code == 200, other.text
    refused = admin.post(action, data=_job_form(stale, batch_size="400"))
    assert refused.status_code == 409, refused.text[:300]
    said = _said(refused.text, "settings-error")
    words = 'schedule 0 3 * * *, disabled, batches of 300, 2 retries 30s apart, filters {}, variables {"as_of": "2026-01-31"}'
    assert CHANGED_SINCE.format("the settings of Housekeeping", words) in said, said
    kept = _form(refused.text, form)
    assert 'name="batch_size" inputmode="numeric" value="400"' in kept and 'name="expected_version" value="2"' in kept
    assert job()["settings"]["batch_size"] == 300 and job()["version"] == 2

    # Bad input: 422 naming each field, nothing saved, what was typed kept.
    fields = _hidden(admin.get("/jobs").text, form)
    bad = admin.post(action, data=_job_form(fields, batch_size="0", retry_count="many", filters="not json"))
    assert bad.status_code == 422, bad.text[:300]
    said = _said(bad.text, "settings-error")
    assert "batch size: write a whole number from 1 to 100000" in said and "retry count: write a whole number" in said
    assert "filters: write it as JSON" in said, said
    assert 'name="retry_count" inputmode="numeric" value="many"' in _form(bad.text, form)
    cron = admin.post(action, data=_job_form(_hidden(admin.get("/jobs").text, form), cron="every day"))
    assert cron.status_code == 422 and "cron" in _said(cron.text, "settings-error"), cron.text[:300]
    assert job()["version"] == 2 and job()["settings"]["batch_size"] == 300

    # Loan Ops run jobs (JOBS at WRITE) but do not configure them (the API's PATCH needs ALL): no form, a post 403.
    ops = portals["loan_ops"]
    page = ops.get("/jobs")
    assert page.status_code == 200 and 'id="run-housekeeping"' in page.text and f'id="{form}"' not in page.text
    refused_ops = ops.post(action, data=_job_form({"csrf_token": _csrf(ops), "expected_version": "2"}))
    assert refused_ops.status_code == 403, refused_ops.text[:300]
    assert job()["version"] == 2 and job()["settings"]["batch_size"] == 300

    # Brand B's admin saves the same job: brand B's settings, brand A's untouched.
    theirs = portals["other_admin"]
    fields = _hidden(theirs.get("/jobs").text, form)
    assert fields["expected_version"] == "0"
    assert theirs.post(action, data=_job_form(fields, batch_size="777")).status_code == 303
    assert job(portals["other"].auth)["settings"]["batch_size"] == 777
    assert job()["version"] == 2 and job()["settings"]["batch_size"] == 300


def test_a_jobs_filter_typed_with_a_json_escape_of_a_nul_is_422_and_saves_nothing(
    client: Any, portals: dict[str, Any]
) -> None:
    # The form's JSON is decoded by the page: `"SML\u0000"` typed as text passed the form's own text check and became
    # a real NUL, which the settings stored and PostgreSQL's jsonb then refused in the activity projection.
    tenant, admin = portals["tenant"], portals["admin"]
    api, action = "/api/v1/jobs/covenant-evaluation", "/jobs/covenant-evaluation/settings"
    fields = _hidden(admin.get("/jobs").text, "settings-form-covenant-evaluation")
    assert fields["expected_version"] == "0"
    for filters in ('{"company": "SML\\u0000"}', '{"company": "SML\\ud800"}', '{"com\\u0000pany": "SML"}'):
        refused = admin.post(action, data=_job_form(fields, filters=filters))
        assert refused.status_code == 422, (filters, refused.text[:300])
        said = _said(refused.text, "settings-error")
        assert said.startswith("filters") and ("NUL" in said or "surrogate" in said), said
    found = client.get(api, headers=tenant.auth).json()
    assert found["version"] == 0 and found["settings"]["filters"] == {}


# Notice sources: a source's settings ------------------------------------------------------------------------------


def _source(client: Any, tenant: Tenant) -> dict[str, Any]:
    created = client.post(
        "/api/v1/notice-sources",
        json={"company": "SML", "base_url": "http://127.0.0.1:9", "token": "tok-1234567890",
              "schedule": "*/30 * * * *", "enabled": False},
        headers=tenant.auth,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_notice_sources_settings_are_edited_from_the_sync_page_with_the_version_it_showed(
    client: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    source = _source(client, tenant)
    settle(platform, "notices")
    api, action, form = (
        f"/api/v1/notice-sources/{source['id']}",
        f"/sync/{source['id']}/settings",
        f"source-form-{source['id']}",
    )

    def now() -> dict[str, Any]:
        found: dict[str, Any] = client.get(api, headers=tenant.auth).json()
        return found

    # Saved: post/redirect/get to the sync page, which says so; an empty token keeps the token.
    fields = _hidden(admin.get("/sync").text, form)
    assert fields["expected_version"] == "1"
    data = {"base_url": "http://127.0.0.1:9/softmedia", "schedule": "*/15 * * * *", "enabled": "on", "token": ""}
    saved = admin.post(action, data={**fields, **data})
    assert saved.status_code == 303 and saved.headers["location"] == f"/sync?configured={source['id']}", saved.text
    assert _said(admin.get(saved.headers["location"]).text, "source-saved") == "Settings of SML saved."
    after = now()
    assert (after["base_url"], after["schedule"], after["enabled"], after["token"]) == (
        "http://127.0.0.1:9/softmedia", "*/15 * * * *", True, source["token"])  # fmt: skip
    assert after["version"] == 2

    # A form opened before someone else's change: 409 in words with the settings now, nothing saved, input kept.
    stale = _hidden(admin.get("/sync").text, form)
    other = client.patch(api, json={"schedule": "0 * * * *"}, headers=tenant.auth | {"If-Match": '"2"'})
    assert other.status_code == 200, other.text
    refused = admin.post(action, data={**stale, **data, "schedule": "*/20 * * * *", "token": "tok-new-secret-99"})
    assert refused.status_code == 409, refused.text[:300]
    said = _said(refused.text, "source-settings-error")
    words = f"http://127.0.0.1:9/softmedia, schedule 0 * * * *, enabled, token {source['token']}"
    assert CHANGED_SINCE.format("the settings of SML", words) in said, said
    kept = _form(refused.text, form)
    assert 'value="*/20 * * * *"' in kept and 'name="expected_version" value="3"' in kept
    assert "tok-new-secret-99" not in refused.text  # a token is never echoed
    assert (now()["schedule"], now()["version"], now()["token"]) == ("0 * * * *", 3, source["token"])

    # Bad input: 422 naming the field, nothing saved.
    fields = _hidden(admin.get("/sync").text, form)
    bad = admin.post(action, data={**fields, **data, "schedule": "whenever"})
    assert bad.status_code == 422 and "schedule" in _said(bad.text, "source-settings-error"), bad.text[:300]
    assert 'value="whenever"' in _form(bad.text, form)
    assert (now()["schedule"], now()["version"]) == ("0 * * * *", 3)

    # Loan Ops sync (NOTICE_SYNC at WRITE) but do not configure (the API's PATCH needs ALL): no form, a post 403.
    ops = portals["loan_ops"]
    page = ops.get("/sync")
    assert (
        page.status_code == 200
        and f'action="/sync/{source["id"]}/run"' in page.text
        and f'id="{form}"' not in page.text
    )
    refused_ops = ops.post(action, data={"csrf_token": _csrf(ops), **data, "expected_version": "3"})
    assert refused_ops.status_code == 403, refused_ops.text[:300]
    assert (now()["schedule"], now()["version"]) == ("0 * * * *", 3)

    # Brand B's admin, by the source's id: 404, nothing changed.
    theirs = portals["other_admin"]
    assert f'id="{form}"' not in theirs.get("/sync").text
    posted = theirs.post(action, data={"csrf_token": _csrf(theirs), **data, "expected_version": "3"})
    assert posted.status_code == 404, posted.text[:300]
    assert (now()["schedule"], now()["enabled"], now()["version"]) == ("0 * * * *", True, 3)


# Messaging preferences: the Customer 360 --------------------------------------------------------------------------


def test_a_borrowers_messaging_preferences_are_edited_from_the_customer_360_with_the_version_it_showed(
    client: Any, platform: Any, portals: dict[str, Any]
) -> None:
    tenant, admin = portals["tenant"], portals["admin"]
    customer = _customer(client, platform, tenant)
    page, api = f"/customers/{customer}", f"/api/v1/customers/{customer}/messaging-preferences"
    action, form = f"{page}/messaging-preferences", "preferences-form"

    def now() -> dict[str, Any]:
        found: dict[str, Any] = client.get(api, headers=tenant.auth).json()
        return found

    # Saved: post/redirect/get to the 360, which says so (once) and shows them with who changed them.
    opened = admin.get(page).text
    assert _said(opened, "messaging-opted-out") == "nothing" and 'id="preferences-saved"' not in opened
    fields = _hidden(opened, form)
    assert fields["expected_version"] == "0"  # never set
    saved = admin.post(action, data={**fields, "language": "hi", "opted_out": ["sms", "whatsapp"], "reason": "asked"})
    assert saved.status_code == 303, saved.text[:300]
    assert saved.headers["location"] == f"{page}?preferences=saved#customer-messaging"
    assert (now()["language"], now()["opted_out"], now()["reason"], now()["version"]) == (
        "hi", ["sms", "whatsapp"], "asked", 1)  # fmt: skip
    shown = admin.get(saved.headers["location"]).text
    assert _said(shown, "preferences-saved") == "Messaging preferences saved."
    assert shown.count("Messaging preferences saved.") == 1
    assert _said(shown, "messaging-language") == "hi" and _said(shown, "messaging-opted-out") == "sms, whatsapp"
    assert "by Priya Ops" in shown
    assert 'id="preferences-saved"' not in admin.get(page).text  # the 360 opened again later says nothing

    # A form opened before someone else's change: 409 in words with the preferences now, nothing saved, input kept.
    stale = _hidden(admin.get(page).text, form)
    other = client.put(api, json={"language": "en", "opted_out": ["email"]}, headers=tenant.auth | {"If-Match": '"1"'})
    assert other.status_code == 200, other.text
    refused = admin.post(action, data={**stale, "language": "hi", "opted_out": ["sms"], "reason": "typed again"})
    assert refused.status_code == 409, refused.text[:300]
    said = _said(refused.text, "preferences-error")
    assert CHANGED_SINCE.format("this borrower's messaging preferences", "language en, opted out of email") in said
    kept = _form(refused.text, form)
    assert 'value="sms" checked' in kept and 'value="email" checked' not in kept and 'value="typed again"' in kept
    assert 'name="expected_version" value="2"' in kept
    assert (now()["language"], now()["opted_out"], now()["version"]) == ("en", ["email"], 2)

    # Bad input: 422 naming the field, nothing saved.
    fields = _hidden(admin.get(page).text, form)
    for data, words in (({"language": "fr"}, "language: choose one of the languages listed"),
                        ({"language": "hi", "reason": "x" * 301}, "reason: at most 300 characters"),
                        ({"language": "hi", "opted_out": ["fax"]}, "opted out[0]: one of")):  # fmt: skip
        bad = admin.post(action, data={**fields, **data})
        assert bad.status_code == 422 and words in _said(bad.text, "preferences-error"), bad.text[:300]
    assert (now()["language"], now()["opted_out"], now()["version"]) == ("en", ["email"], 2)

    # A Credit Executive sees the borrower but holds no MESSAGES (the API's PUT needs WRITE): no card, a post 403.
    ce = portals["credit_executive"]
    seen = ce.get(page)
    assert seen.status_code == 200 and 'id="customer-messaging"' not in seen.text
    refused_ce = ce.post(action, data={"csrf_token": _csrf(ce), "language": "hi", "expected_version": "2"})
    assert refused_ce.status_code == 403, refused_ce.text[:300]
    assert (now()["language"], now()["version"]) == ("en", 2)

    # Brand B's admin, by the borrower's id: 404, nothing changed.
    theirs = portals["other_admin"]
    assert theirs.get(page).status_code == 404
    posted = theirs.post(action, data={"csrf_token": _csrf(theirs), "language": "hi", "expected_version": "2"})
    assert posted.status_code == 404, posted.text[:300]
    assert (now()["language"], now()["opted_out"], now()["version"]) == ("en", ["email"], 2)
