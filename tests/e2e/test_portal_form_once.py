"""One rendered portal form, one submission (api/form_once.py): a field agent's double tap on "Flag for visit" made
two field visits for one intent, as it did for payment links, calls and covenants. The form's nonce now makes a
repeat of the same form and content land on the first post's page; a refused post frees it; another form's content
runs; a post without a nonce runs as it always did. Served over real HTTP (uvicorn), the two taps at once."""

from __future__ import annotations

import re
import threading
from typing import Any
from uuid import UUID

import httpx
import pytest
from starlette.datastructures import FormData

from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests


def _portal(server: str, email: str) -> httpx.Client:
    browser = httpx.Client(base_url=server, follow_redirects=False, timeout=60)
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    return browser


def _flag_form(browser: httpx.Client) -> dict[str, str]:
    """The hidden fields of the field visits page's flag form as rendered now."""
    page = browser.get("/field-visits")
    assert page.status_code == 200, page.text[:300]
    form = page.text[page.text.index('id="flag-form"') :]
    form = form[: form.index("</form>")]
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', form))
    assert set(hidden) == {"csrf_token", "form_nonce"}, hidden
    return hidden


def _visits(client: Any, tenant: Tenant, loan_id: UUID) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/loans/{loan_id}/field-visits", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_a_double_tap_on_a_portal_form_records_once(
    server: str, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    number = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["loan_number"]
    agent = str(next(s["id"] for s in client.get("/api/v1/staff", headers=tenant.auth).json()["items"]))
    browser = _portal(server, email)
    second = _portal(server, email)  # the second tap's connection (same staff member, own session)
    try:
        hidden = _flag_form(browser)
        fields = {**hidden, "loan_number": number, "assignee_id": agent, "reason": "door locked twice"}

        # Two taps at once: the second waits for the first and is sent where the first was.
        answers: list[httpx.Response] = []
        csrf_of_second = _flag_form(second)["csrf_token"]
        taps = [
            threading.Thread(target=lambda: answers.append(browser.post("/field-visits", data=fields))),
            threading.Thread(
                target=lambda: answers.append(
                    second.post("/field-visits", data={**fields, "csrf_token": csrf_of_second})
                )
            ),
        ]
        for tap in taps:
            tap.start()
        for tap in taps:
            tap.join()
        assert [a.status_code for a in answers] == [303, 303], [a.text[:300] for a in answers]
        assert {a.headers["location"] for a in answers} == {"/field-visits"}
        assert len(_visits(client, tenant, loan_id)) == 1

        # A reload that posts the same form again, later: still one visit.
        again = browser.post("/field-visits", data=fields)
        assert again.status_code == 303 and again.headers["location"] == "/field-visits"
        assert len(_visits(client, tenant, loan_id)) == 1

        # A refused post frees its form: corrected and posted with the same nonce, it records.
        fresh = _flag_form(browser)
        refused = browser.post("/field-visits", data={**fresh, "loan_number": "NOPE-1", "assignee_id": agent,
                                                      "reason": "not reachable"})  # fmt: skip
        assert refused.status_code == 422, refused.text[:300]
        corrected = {**fresh, "loan_number": number, "assignee_id": agent, "reason": "not reachable"}
        assert browser.post("/field-visits", data=corrected).status_code == 303
        assert len(_visits(client, tenant, loan_id)) == 2

        # The same nonce with other content (a page kept by the back button, edited) is another submission.
        edited = {**corrected, "reason": "asked to come on Monday"}
        assert browser.post("/field-visits", data=edited).status_code == 303
        assert len(_visits(client, tenant, loan_id)) == 3

        # A post without a nonce (a script posting the fields itself) runs every time, as before.
        bare = {"csrf_token": hidden["csrf_token"], "loan_number": number, "assignee_id": agent, "reason": "scripted"}
        assert browser.post("/field-visits", data=bare).status_code == 303
        assert browser.post("/field-visits", data=bare).status_code == 303
        reasons = sorted(v["reason"] for v in _visits(client, tenant, loan_id))
        assert reasons == sorted(
            ["door locked twice", "not reachable", "asked to come on Monday", "scripted", "scripted"]
        )
    finally:
        browser.close()
        second.close()


def test_a_repeat_while_the_first_post_is_still_running_runs_nothing(
    server: str, client: Any, platform: Any, staff: tuple[Tenant, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first post is still at work past WAIT_SECONDS (a provider slow to answer): the repeat used to run on its
    own - two payment links and two texts for one intent. It is now answered 409, and nothing of it is recorded."""
    from adapters.operational import OperationalStore
    from api import form_once

    tenant, email = staff
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    number = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["loan_number"]
    me = next(s for s in client.get("/api/v1/staff", headers=tenant.auth).json()["items"] if s["email"] == email)
    browser = _portal(server, email)
    try:
        hidden = _flag_form(browser)
        fields = {**hidden, "loan_number": number, "assignee_id": str(me["id"]), "reason": "door locked twice"}
        digest = form_once.form_hash("POST", "/field-visits", FormData(list(fields.items())))
        ops = platform.get(OperationalStore)  # the first post: reserved, still running
        key = f"{form_once.KEY_PREFIX}{hidden['form_nonce']}:{digest}"
        assert ops.begin_idempotent(tenant.brand_id, f"staff:{me['id']}", key, digest) is None
        monkeypatch.setattr(form_once, "WAIT_SECONDS", 0.3)
        repeat = browser.post("/field-visits", data=fields)
        assert repeat.status_code == 409, repeat.text[:300]
        assert "still being processed" in repeat.text
        assert _visits(client, tenant, loan_id) == []
    finally:
        browser.close()
