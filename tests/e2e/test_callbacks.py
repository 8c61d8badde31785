"""Callback requests over HTTP on the real PostgreSQL: a borrower asks through the borrower API (their own
application only; a second request, or two at the same moment, is a 409 naming the open one), it reaches the CX the
application is assigned to and the queue (oldest first, keyset pages, `assigned_to=me`), staff answer it once
(who and when), another brand gets 404s; the web flow's status page form (CSRF, one open request, shown on Customer
360 and the portal queue); and a credit executive calls the borrower of an application assigned to them through
the dialer without COLLECTIONS, by API and by the portal's "Call borrower" button (loan page, credit review,
callback queue, whose close form then names the call)."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from adapters.simulators.sms import SmsSimulator
from domain.callbacks.request import MAX_REMARKS
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.shared.clock import FixedClock
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms, steps_before_the_loan_request
from tests.e2e.test_onboarding_api import PRODUCT
from tests.support import mobile, settle
from workers.callback_jobs import CallbackJobPort, CallbackRouter

__all__ = ["sms"]  # the fixture, used by name

PASSWORD = "callback-pass-2026"


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    yield


def _staff(platform: Any, tenant: Tenant, role: str, name: str) -> tuple[UUID, str]:
    email = f"{role}-{uuid.uuid4().hex[:6]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return UUID(str(made.id)), email


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _application(client: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[dict[str, Any], dict[str, str]]:
    """A new borrower with every step before the loan request done (as tests/e2e/test_borrower_decision.py), their
    application (onboarding status) and the borrower's header."""
    config = {"require_employment_data": False, "account_aggregation": True}
    client.patch("/api/v1/brand/config", json=config, headers=tenant.auth)
    made_product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth)
    if made_product.status_code == 201:
        product = made_product.json()
    else:  # the brand's product from an earlier borrower
        product = client.get("/api/v1/loan-products", headers=tenant.auth).json()["items"][0]
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    steps_before_the_loan_request(client, auth)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    made = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert made.status_code == 201, made.text
    return made.json(), auth


def _assign(client: Any, tenant: Tenant, loan_id: str, staff_id: UUID) -> None:
    assigned = client.post(f"/api/v1/loans/{loan_id}/assign", json={"staff_id": str(staff_id)}, headers=tenant.auth)
    assert assigned.status_code == 200, assigned.text


def test_a_borrower_asks_once_the_cx_sees_it_and_answers_it_once(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    other_brand = make_tenant(platform)
    url = "/api/v1/borrower/callback-requests"

    stranger, _ = _application(client, tenant, sms)  # another borrower's application of the same brand
    refused = client.post(url, json={"loan_id": stranger["id"], "note": "x" * 501, "window": "noon"}, headers=auth)
    assert refused.status_code == 422, refused.text
    assert client.get(url, headers=auth).json() == {"items": []}  # nothing recorded
    assert client.post(url, json={}, headers=tenant.auth).status_code == 401  # staff keys never open it

    asked = client.post(url, json={"window": "evening", "note": "EMI date?", "loan_id": application["id"]},
                        headers=auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    mine = asked.json()
    assert (mine["status"], mine["window"], mine["loan_number"]) == ("open", "evening", application["loan_number"])
    again = client.post(url, json={"note": "double tap"}, headers=auth)
    assert again.status_code == 409 and again.json()["open_id"] == mine["id"], again.text

    cx_key = _key(platform, tenant, "credit_executive")
    queue = client.get("/api/v1/callback-requests", params={"assigned_to": str(cx)}, headers=cx_key)
    assert queue.status_code == 200, queue.text
    [row] = queue.json()["items"]
    assert (row["id"], row["assignee_id"], row["assignee_name"], row["note"], row["source"]) == (
        mine["id"], str(cx), "Kavya Credit", "EMI date?", "api")  # fmt: skip
    assert client.get("/api/v1/callback-requests", params={"assigned_to": "unassigned"},
                      headers=cx_key).json()["items"] == []  # fmt: skip
    bad = client.get("/api/v1/callback-requests", params={"assigned_to": "someone"}, headers=cx_key)
    assert bad.status_code == 422 and "assigned_to" in bad.text

    one = f"/api/v1/callback-requests/{mine['id']}"
    assert client.get(one, headers=other_brand.auth).status_code == 404
    cross = client.post(f"{one}/respond", json={"outcome": "connected", "remarks": "called"}, headers=other_brand.auth)
    assert cross.status_code == 404
    assert client.get("/api/v1/callback-requests", headers=other_brand.auth).json()["items"] == []
    assert client.post(f"{one}/respond", json={"outcome": "answered", "remarks": "ok ok"},
                       headers=cx_key).status_code == 422  # fmt: skip
    assert client.get(one, headers=cx_key).json()["status"] == "open"

    answered = client.post(f"{one}/respond", json={"outcome": "connected", "remarks": "EMI is on the 5th"},
                           headers=cx_key)  # fmt: skip
    assert answered.status_code == 200, answered.text
    closed = answered.json()
    assert (closed["status"], closed["outcome"], closed["remarks"]) == ("closed", "connected", "EMI is on the 5th")
    assert closed["responded_by"].startswith("apikey:") and closed["responded_at"] is not None
    twice = client.post(f"{one}/respond", json={"outcome": "not_reachable", "remarks": "again"}, headers=cx_key)
    assert twice.status_code == 409, twice.text
    seen = client.get(url, headers=auth).json()["items"]
    assert [(s["id"], s["status"]) for s in seen] == [(mine["id"], "closed")] and "remarks" not in seen[0]
    assert client.get("/api/v1/callback-requests", headers=cx_key).json()["items"] == []  # open by default

    sales = _key(platform, tenant, "sales")  # sales answer borrowers still in the funnel
    assert client.get("/api/v1/callback-requests", params={"status": "all"}, headers=sales).status_code == 200
    reader = _key(platform, tenant, "sanction_manager")  # reads, does not answer
    assert client.get("/api/v1/callback-requests", headers=reader).status_code == 200
    assert client.post(f"{one}/respond", json={"outcome": "connected", "remarks": "hello"},
                       headers=reader).status_code == 403  # fmt: skip


def test_two_requests_at_the_same_moment_make_one(client: Any, tenant: Tenant, sms: SmsSimulator) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    answers: list[Any] = []
    start = threading.Barrier(4)

    def tap() -> None:
        start.wait()
        answers.append(client.post("/api/v1/borrower/callback-requests", json={"note": "tap"}, headers=auth))

    taps = [threading.Thread(target=tap) for _ in range(4)]
    for t in taps:
        t.start()
    for t in taps:
        t.join()
    made = [a for a in answers if a.status_code == 201]
    assert len(made) == 1 and sorted(a.status_code for a in answers) == [201, 409, 409, 409], answers
    assert {a.json()["open_id"] for a in answers if a.status_code == 409} == {made[0].json()["id"]}
    assert len(client.get("/api/v1/borrower/callback-requests", headers=auth).json()["items"]) == 1


def _portal(app: Any, email: str) -> tuple[TestClient, str]:
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
    assert token is not None
    return browser, token.group(1)


def test_the_status_page_form_asks_once_and_staff_see_it_on_the_360_and_the_queue(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    application, auth = _application(client, tenant, sms)
    customer_id = client.get(f"/api/v1/loans/{application['id']}", headers=tenant.auth).json()["customer_id"]
    token = auth["Authorization"].removeprefix("Bearer ")
    slug = tenant.slug
    web = TestClient(app, follow_redirects=False)
    web.__enter__()
    web.cookies.set("cd_borrower", token, path=f"/apply/{slug}")
    _, email = _staff(platform, tenant, "collection_executive", "Ravi Collect")
    staff, csrf_staff = _portal(app, email)
    try:
        status = web.get(f"/apply/{slug}/status")
        assert status.status_code == 200 and 'id="callback-form"' in status.text
        assert f'value="{application["id"]}"' in status.text  # "about your application"
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', status.text)
        assert csrf is not None
        form = {"csrf_token": csrf.group(1), "window": "morning", "note": "Call <me> about KYC",
                "loan_id": application["id"]}  # fmt: skip
        forged = web.post(f"/apply/{slug}/callback", data={**form, "csrf_token": "forged"})
        assert forged.status_code == 403
        bad = web.post(f"/apply/{slug}/callback", data={**form, "window": "midnight"})
        assert bad.status_code == 422 and 'id="callback-error"' in bad.text
        assert client.get("/api/v1/borrower/callback-requests", headers=auth).json()["items"] == []

        asked = web.post(f"/apply/{slug}/callback", data=form)
        assert asked.status_code == 303 and asked.headers["location"].startswith(f"/apply/{slug}/status")
        shown = web.get(f"/apply/{slug}/status")
        assert 'id="callback-open"' in shown.text and "morning" in shown.text and 'id="callback-form"' not in shown.text
        again = web.post(f"/apply/{slug}/callback", data=form)
        assert again.status_code == 409 and "already asked" in again.text
        [made] = client.get("/api/v1/borrower/callback-requests", headers=auth).json()["items"]
        assert (made["window"], made["note"], made["loan_id"]) == ("morning", "Call <me> about KYC", application["id"])
        # Sales answer borrowers in the funnel but hold no LOANS: the queue names the loan without a link they would
        # only meet a 403 behind (it linked every request's loan).
        _, sales_email = _staff(platform, tenant, "sales", "Sam Sales")
        seller, _ = _portal(app, sales_email)
        sales_queue = seller.get("/callback-requests?status=all")
        assert sales_queue.status_code == 200 and made["id"] in sales_queue.text
        assert f'href="/loans/{application["id"]}"' not in sales_queue.text
        seller.__exit__(None, None, None)
        # The day they asked, in the brand's time (in UTC, a request at 01:00 IST read the day before).
        asked_on = (
            datetime.fromisoformat(made["requested_at"]).astimezone(ZoneInfo("Asia/Kolkata")).strftime("%d %b %Y")
        )
        assert f"You asked on {asked_on}." in shown.text, shown.text

        page = staff.get("/callback-requests")
        assert page.status_code == 200 and f'data-id="{made["id"]}"' in page.text
        assert "Call &lt;me&gt; about KYC" in page.text and "Call <me>" not in page.text
        assert 'href="/callback-requests"' in page.text  # the navigation links the queue
        card = staff.get(f"/customers/{customer_id}")
        assert card.status_code == 200 and 'id="customer-callback"' in card.text and made["id"] in card.text

        # "Call me after 6": the close form takes the time to call again, in the brand's timezone (as a note's).
        assert 'type="datetime-local" name="callback_at"' in page.text
        close = f"/callback-requests/{made['id']}/respond"
        asked_later = {"csrf_token": csrf_staff, "outcome": "callback_requested", "remarks": "asked to call after 6"}
        for when in ("", "tomorrow after six", "2020-01-01T18:00"):  # none, garbage, past: refused on the page
            refused = staff.post(close, data={**asked_later, "callback_at": when})
            assert refused.status_code == 422 and "callback at" in refused.text and 'role="alert"' in refused.text
        connected_at = staff.post(
            close, data={**asked_later, "outcome": "connected", "callback_at": "2030-01-01T18:00"}
        )
        assert connected_at.status_code == 422 and "callback at" in connected_at.text  # only a callback takes a time
        one = f"/api/v1/callback-requests/{made['id']}"
        assert client.get(one, headers=tenant.auth).json()["status"] == "open"  # nothing recorded
        timezone = client.patch("/api/v1/brand/config", json={"timezone": "Asia/Dubai"}, headers=tenant.auth)
        assert timezone.status_code == 200, timezone.text
        at = (datetime.now(ZoneInfo("Asia/Dubai")) + timedelta(days=1)).replace(hour=18, minute=30, second=0,
                                                                               microsecond=0)  # fmt: skip
        closed = staff.post(close, data={**asked_later, "callback_at": at.strftime("%Y-%m-%dT%H:%M")})
        assert closed.status_code == 303, closed.text
        answered = client.get(one, headers=tenant.auth).json()
        assert (answered["status"], answered["outcome"]) == ("closed", "callback_requested")
        assert datetime.fromisoformat(answered["callback_at"]) == at  # 18:30 in Dubai, not in Kolkata
        follow_up = client.get(f"/api/v1/callback-requests/{answered['follow_up_id']}", headers=tenant.auth).json()
        assert (follow_up["status"], follow_up["source"], follow_up["follows_id"]) == ("open", "follow_up", made["id"])
        assert datetime.fromisoformat(follow_up["due_at"]) == at and follow_up["loan_id"] == application["id"]
        assert follow_up["assignee_name"] == "Ravi Collect"  # who promised the call has it

        # Not lost: on the queue (and "mine"), on Customer 360 and on the borrower's status page, until answered.
        queue = staff.get("/callback-requests?assigned_to=me")
        assert f'data-id="{follow_up["id"]}"' in queue.text and f'data-id="{made["id"]}"' not in queue.text
        assert f"call back at {at.strftime('%d %b %Y')} 18:30" in queue.text
        history = staff.get("/callback-requests?status=closed")
        assert made["id"] in history.text and "Ravi Collect" in history.text
        assert f'href="/callback-requests?status=all#callback-{follow_up["id"]}"' in history.text
        card = staff.get(f"/customers/{customer_id}").text
        assert (
            f'data-id="{follow_up["id"]}"' in card
            and f'called again at <span class="callback-due">{at.strftime("%d %b %Y")} 18:30' in card
        )
        status_page = web.get(f"/apply/{slug}/status").text
        assert f"We will call you back at {at.strftime('%d %b %Y')} 18:30" in status_page
        assert 'id="callback-form"' not in status_page
        assert web.post(f"/apply/{slug}/callback", data=form).status_code == 409  # one open request

        closed = staff.post(f"/callback-requests/{follow_up['id']}/respond",
                            data={"csrf_token": csrf_staff, "outcome": "connected", "remarks": "called at 6:30"})  # fmt: skip
        assert closed.status_code == 303, closed.text
        assert 'id="customer-callback"' not in staff.get(f"/customers/{customer_id}").text
        assert 'id="callback-form"' in web.get(f"/apply/{slug}/status").text  # may ask again

        _, sales_email = _staff(platform, make_tenant(platform), "sales", "Other Brand")
        outsider, outsider_csrf = _portal(app, sales_email)
        assert made["id"] not in outsider.get("/callback-requests?status=all").text
        assert outsider.post(f"/callback-requests/{made['id']}/respond",
                             data={"csrf_token": outsider_csrf, "outcome": "connected",
                                   "remarks": "not mine"}).status_code == 404  # fmt: skip
        outsider.__exit__(None, None, None)
    finally:
        web.__exit__(None, None, None)
        staff.__exit__(None, None, None)


def test_a_credit_executive_calls_the_borrower_of_an_application_assigned_to_them(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: Any
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    other_cx, _ = _staff(platform, tenant, "credit_executive", "Arun Credit")
    application, _auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    on = client.patch("/api/v1/dialer/settings", headers=tenant.auth,
                      json={"enabled": True, "account_id": "covenant-demo", "api_token": "acefone-live-7c1d"})  # fmt: skip
    assert on.status_code == 200, on.text
    for staff_id, extension in ((cx, "2101"), (other_cx, "2102")):
        ext = client.put(f"/api/v1/dialer/extensions/{staff_id}", json={"extension": extension}, headers=tenant.auth)
        assert ext.status_code == 200, ext.text
    cx_key = _key(platform, tenant, "credit_executive")
    url = f"/api/v1/loans/{application['id']}/credit-calls"

    assert client.post(f"/api/v1/loans/{application['id']}/calls", json={"staff_id": str(cx)},
                       headers=cx_key).status_code == 403  # the collections path still needs COLLECTIONS  # fmt: skip
    not_theirs = client.post(url, json={"staff_id": str(other_cx)}, headers=cx_key)
    assert not_theirs.status_code == 404, not_theirs.text
    assert client.post(f"/api/v1/loans/{uuid.uuid4()}/credit-calls", json={"staff_id": str(cx)},
                       headers=cx_key).status_code == 404  # fmt: skip
    elsewhere = make_tenant(platform)
    assert client.post(url, json={"staff_id": str(cx)}, headers=elsewhere.auth).status_code == 404

    dialer = provider_simulators["dialer"]
    dialer.auto_complete = False  # no call event back to this in-process client
    try:
        placed = client.post(url, json={"staff_id": str(cx)}, headers=cx_key)
    finally:
        dialer.auto_complete = True
    assert placed.status_code == 202, placed.text
    call = placed.json()
    assert (call["staff_id"], call["extension"], call["loan_id"]) == (str(cx), "2101", application["id"])
    # Its Location is one a credit executive may read (the collections' /api/v1/calls/{id} needs COLLECTIONS).
    location = placed.headers["location"]
    assert location == f"/api/v1/loans/{application['id']}/credit-calls/{call['id']}"
    read = client.get(location, headers=cx_key)
    assert read.status_code == 200 and read.json()["id"] == call["id"], read.text
    assert client.get(f"/api/v1/calls/{call['id']}", headers=cx_key).status_code == 403
    assert client.get(location, headers=_key(platform, tenant, "sales")).status_code == 403  # no LOANS
    assert client.get(location, headers=elsewhere.auth).status_code == 404  # another brand's admin
    other_application, _ = _application(client, tenant, sms)
    _assign(client, tenant, other_application["id"], cx)
    about_other = f"/api/v1/loans/{other_application['id']}/credit-calls/{call['id']}"
    assert client.get(about_other, headers=cx_key).status_code == 404  # not a call about that application
    assert client.get(f"{url}/{uuid.uuid4()}", headers=cx_key).status_code == 404
    sim = next(c for c in dialer.calls() if c["reference"] == call["id"])
    assert sim["agent_extension"] == "2101"
    assert client.post(url, json={"staff_id": str(cx)}, headers=_key(platform, tenant, "collection_executive")
                       ).status_code == 403  # fmt: skip

    # The call answers the borrower's callback request it was made for.
    session_auth = _auth
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"]},
                        headers=session_auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    respond = f"/api/v1/callback-requests/{asked.json()['id']}/respond"
    answered = client.post(respond, json={"outcome": "connected", "remarks": "called back", "call_id": call["id"]},
                           headers=cx_key)  # fmt: skip
    assert answered.status_code == 200 and answered.json()["call_id"] == call["id"], answered.text


def _dialer_on(client: Any, tenant: Tenant, extensions: dict[UUID, str]) -> None:
    on = client.patch("/api/v1/dialer/settings", headers=tenant.auth,
                      json={"enabled": True, "account_id": "covenant-demo", "api_token": "acefone-live-7c1d"})  # fmt: skip
    assert on.status_code == 200, on.text
    for staff_id, extension in extensions.items():
        ext = client.put(f"/api/v1/dialer/extensions/{staff_id}", json={"extension": extension}, headers=tenant.auth)
        assert ext.status_code == 200, ext.text


def test_the_portals_call_borrower_button_calls_through_the_credit_call_and_the_queue_links_the_call(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: Any
) -> None:
    cx, cx_email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    _, other_email = _staff(platform, tenant, "credit_executive", "Arun Credit")
    _, head_email = _staff(platform, tenant, "sanction_head", "Meera Head")  # LOAN_RELOCATE, no extension
    _, admin_email = _staff(platform, tenant, "admin", "Anil Admin")  # holds COLLECTIONS: keeps the collections' Call
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    _dialer_on(client, tenant, {cx: "2101"})
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"]}, headers=auth)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    loan_page, review_page = f"/loans/{application['id']}", f"/credit/review/{application['id']}"
    dialer = provider_simulators["dialer"]
    earlier = {c["reference"] for c in dialer.calls()}  # the simulator is shared with the other tests

    def placed_about() -> list[dict[str, Any]]:
        return [c for c in dialer.calls() if c["reference"] not in earlier]

    mine, csrf = _portal(app, cx_email)
    other, other_csrf = _portal(app, other_email)
    head, head_csrf = _portal(app, head_email)
    admin, _ = _portal(app, admin_email)
    dialer.auto_complete = False  # no call event back to this in-process client
    try:
        for page in (loan_page, review_page):
            shown = mine.get(page)
            assert shown.status_code == 200 and 'id="credit-call"' in shown.text, page
            assert 'id="credit-call"' not in other.get(page).text  # not assigned to them
            assert 'id="credit-call"' in head.get(page).text  # LOAN_RELOCATE: any application of the brand
            assert 'id="credit-call"' not in admin.get(page).text  # COLLECTIONS holders keep their own button
        queue = mine.get("/callback-requests")
        assert f'action="/callback-requests/{request_id}/call?' in queue.text
        assert f'action="/callback-requests/{request_id}/call?' not in other.get("/callback-requests").text

        # Refusals: no CSRF token, not theirs, no extension - shown on the page, nothing placed.
        assert mine.post(f"{loan_page}/credit-call", data={"csrf_token": "forged"}).status_code == 403
        refused = other.post(f"{loan_page}/credit-call", data={"csrf_token": other_csrf})
        assert refused.status_code == 404 and "not assigned to you" in refused.text
        assert other.post(f"/callback-requests/{request_id}/call", data={"csrf_token": other_csrf}).status_code == 404
        no_extension = head.post(f"{review_page}/call", data={"csrf_token": head_csrf})
        assert no_extension.status_code == 409 and 'role="alert"' in no_extension.text
        assert "no dialer extension" in no_extension.text
        assert placed_about() == []

        from_loan = mine.post(f"{loan_page}/credit-call", data={"csrf_token": csrf})
        assert from_loan.status_code == 303, from_loan.text
        assert from_loan.headers["location"].startswith(f"{loan_page}?called=")
        assert 'id="call-placed"' in mine.get(from_loan.headers["location"]).text
        from_review = mine.post(f"{review_page}/call", data={"csrf_token": csrf})
        assert from_review.status_code == 303 and from_review.headers["location"].startswith(f"{review_page}?called=")
        from_queue = mine.post(f"/callback-requests/{request_id}/call?assigned_to=me", data={"csrf_token": csrf})
        assert from_queue.status_code == 303, from_queue.text
    finally:
        dialer.auto_complete = True
    location = from_queue.headers["location"]
    call_id = re.search(r"called=([0-9a-f-]{36})", location)
    assert call_id is not None and "assigned_to=me" in location and f"callback={request_id}" in location
    calls = placed_about()
    assert len(calls) == 3 and call_id.group(1) in {c["reference"] for c in calls}
    assert {c["agent_extension"] for c in calls} == {"2101"}
    assert {c["reference"] for c in calls} >= {
        from_loan.headers["location"].split("called=")[1].split("#")[0],
        from_review.headers["location"].split("called=")[1].split("#")[0],
    }

    # The queue names that call in the close form; closing the request links it.
    queue = mine.get(location)
    assert f'name="call_id" value="{call_id.group(1)}"' in queue.text and 'id="call-placed"' in queue.text
    assert 'name="call_id"' not in mine.get("/callback-requests").text  # only after placing one from the queue
    bad = mine.post(f"/callback-requests/{request_id}/respond",
                    data={"csrf_token": csrf, "outcome": "connected", "remarks": "called back", "call_id": "nope"})  # fmt: skip
    assert bad.status_code == 422 and "call_id" in bad.text
    respond = re.search(r'action="(/callback-requests/[^"]+/respond\?[^"]+)"', queue.text)
    assert respond is not None and call_id.group(1) in respond.group(1)
    short = mine.post(respond.group(1).replace("&amp;", "&"),
                      data={"csrf_token": csrf, "outcome": "connected", "remarks": "x", "call_id": call_id.group(1)})  # fmt: skip
    assert short.status_code == 422 and f'name="call_id" value="{call_id.group(1)}"' in short.text  # kept on refusal
    closed = mine.post(f"/callback-requests/{request_id}/respond",
                       data={"csrf_token": csrf, "outcome": "connected", "remarks": "called back",
                             "call_id": call_id.group(1)})  # fmt: skip
    assert closed.status_code == 303, closed.text
    answered = client.get(f"/api/v1/callback-requests/{request_id}", headers=tenant.auth).json()
    assert (answered["status"], answered["call_id"]) == ("closed", call_id.group(1))

    # Another brand's staff: the loan and the request are not theirs to call about.
    _, outsider_email = _staff(platform, make_tenant(platform), "credit_executive", "Other Brand")
    outsider, outsider_csrf = _portal(app, outsider_email)
    for url in (f"{loan_page}/credit-call", f"{review_page}/call", f"/callback-requests/{request_id}/call"):
        assert outsider.post(url, data={"csrf_token": outsider_csrf}).status_code == 404, url
    assert len(placed_about()) == 3
    for browser in (mine, other, head, admin, outsider):
        browser.__exit__(None, None, None)


def test_the_status_page_form_takes_a_full_note_with_line_breaks_as_a_browser_posts_it(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    web = TestClient(app, follow_redirects=False)
    web.__enter__()
    web.cookies.set("cd_borrower", session["token"], path=f"/apply/{tenant.slug}")
    try:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', web.get(f"/apply/{tenant.slug}/status").text)
        assert csrf is not None
        # What the textarea (maxlength=500) let the borrower type - 100 lines of 4 letters, 99 line breaks: 499
        # characters - posted with CR LF line breaks (598 characters on the wire).
        typed = "\n".join(["EMI?"] * 100)
        asked = web.post(f"/apply/{tenant.slug}/callback",
                         data={"csrf_token": csrf.group(1), "note": typed.replace("\n", "\r\n")})  # fmt: skip
        assert asked.status_code == 303, asked.text
        [made] = client.get("/api/v1/borrower/callback-requests", headers=bearer(session)).json()["items"]
        assert made["note"] == typed
    finally:
        web.__exit__(None, None, None)


def test_of_responses_at_the_same_moment_one_closes_it_and_the_others_are_told_it_was_answered(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    asked = client.post("/api/v1/borrower/callback-requests", json={"note": "call me"}, headers=auth)
    assert asked.status_code == 201, asked.text
    respond = f"/api/v1/callback-requests/{asked.json()['id']}/respond"
    keys = [_key(platform, tenant, "credit_executive") for _ in range(3)]
    answers: list[Any] = []
    start = threading.Barrier(3)

    def answer(key: dict[str, str], n: int) -> None:
        start.wait()
        answers.append(client.post(respond, json={"outcome": "connected", "remarks": f"answer {n}"}, headers=key))

    staff = [threading.Thread(target=answer, args=(key, n)) for n, key in enumerate(keys)]
    for t in staff:
        t.start()
    for t in staff:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    for lost in (a for a in answers if a.status_code == 409):
        problem = lost.json()
        assert lost.headers["content-type"].startswith("application/problem+json")
        assert f"already answered by {won['responded_by']}" in problem["detail"], problem  # not "reload and retry"
        assert (problem["status"], problem["responded_by"]) == (409, won["responded_by"])
    kept = client.get(respond.removesuffix("/respond"), headers=keys[0]).json()
    assert (kept["status"], kept["remarks"], kept["responded_by"]) == ("closed", won["remarks"], won["responded_by"])


def test_the_portal_answers_a_second_close_of_an_answered_request_with_409(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    asked = client.post("/api/v1/borrower/callback-requests", json={"note": "call me"}, headers=auth)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    _, email = _staff(platform, tenant, "collection_executive", "Ravi Collect")
    _, other_email = _staff(platform, tenant, "loan_ops", "Lata Ops")
    first, csrf = _portal(app, email)
    second, other_csrf = _portal(app, other_email)
    try:
        close = f"/callback-requests/{request_id}/respond"
        closed = first.post(close, data={"csrf_token": csrf, "outcome": "connected", "remarks": "sorted it out"})
        assert closed.status_code == 303, closed.text
        # The other staff member's form, opened before it was closed (or a double submit): a conflict, not bad input.
        late = second.post(close, data={"csrf_token": other_csrf, "outcome": "not_reachable", "remarks": "no answer"})
        assert late.status_code == 409 and 'role="alert"' in late.text, late.text
        assert "already answered by Ravi Collect" in late.text and "staff:" not in late.text  # a name, not an id
        call = second.post(f"/callback-requests/{request_id}/call", data={"csrf_token": other_csrf})
        assert call.status_code == 409 and "already answered" in call.text
        kept = client.get(f"/api/v1/callback-requests/{request_id}", headers=tenant.auth).json()
        assert (kept["outcome"], kept["remarks"]) == ("connected", "sorted it out")
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)


def test_assigned_to_me_is_a_staff_members_own_queue_an_api_key_names_a_staff_id(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"]}, headers=auth)
    assert asked.status_code == 201, asked.text
    queue = "/api/v1/callback-requests"
    # An API key is nobody's assignee: "me" would be an empty queue that looks like "nothing to call".
    mine = client.get(queue, params={"assigned_to": "me"}, headers=tenant.auth)
    assert mine.status_code == 422 and mine.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in mine.json()["errors"]] == ["assigned_to"], mine.text
    named = client.get(queue, params={"assigned_to": str(cx)}, headers=tenant.auth).json()["items"]
    assert [r["id"] for r in named] == [asked.json()["id"]]
    browser, _ = _portal(app, email)  # the signed-in CX's own: the portal's "mine"
    try:
        page = browser.get("/callback-requests?assigned_to=me")
        assert page.status_code == 200 and f'data-id="{asked.json()["id"]}"' in page.text
    finally:
        browser.__exit__(None, None, None)


def test_a_refused_close_keeps_the_outcome_remarks_and_the_queues_filters(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    # The close form's refusal used to come back on the default queue (open, anyone's) with the remarks gone; the
    # queue's filters ride on the form's action now, and the refused form is filled again as typed.
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    asked = client.post("/api/v1/borrower/callback-requests", json={"window": "evening"}, headers=auth)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    settle(platform, "callbacks")
    _, email = _staff(platform, tenant, "collection_executive", "Ravi Collect")
    staff, csrf = _portal(app, email)
    try:
        queue = staff.get("/callback-requests?status=all")
        action = re.search(rf'action="(/callback-requests/{request_id}/respond\?[^"]*)"', queue.text)
        assert action is not None and "status=all" in action.group(1)
        url = action.group(1).replace("&amp;", "&")
        refused = staff.post(url, data={"csrf_token": csrf, "outcome": "wrong_number", "remarks": "<b"})
        assert refused.status_code == 422 and 'role="alert"' in refused.text, refused.text[:300]
        row = refused.text[refused.text.index(f'id="callback-{request_id}"') :]
        form = row[row.index('class="respond-form"') : row.index("</form>")]
        assert 'name="remarks" required minlength="3" maxlength="1000" value="&lt;b"' in form
        assert '<option value="wrong_number" selected>' in form and '<option value="connected" >' in form
        assert '<option value="all" selected>' in refused.text  # the queue as it was filtered
        assert client.get(f"/api/v1/callback-requests/{request_id}", headers=tenant.auth).json()["status"] == "open"

        closed = staff.post(url, data={"csrf_token": csrf, "outcome": "wrong_number", "remarks": "number not hers"})
        assert closed.status_code == 303 and "status=all" in closed.headers["location"], closed.headers
    finally:
        staff.__exit__(None, None, None)


def test_callback_requested_by_api_needs_a_callback_at_to_come_and_opens_the_follow_up_due_then(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"], "note": "EMI?"},
                        headers=auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    one = f"/api/v1/callback-requests/{asked.json()['id']}"
    cx_key = _key(platform, tenant, "credit_executive")
    later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=2)).replace(microsecond=0)
    busy = {"outcome": "callback_requested", "remarks": "driving, call in two days"}
    for body in (
        busy,  # when?
        {**busy, "callback_at": "the day after tomorrow"},
        {**busy, "callback_at": "2020-01-01T10:00:00+05:30"},  # past
        {**busy, "callback_at": later.replace(tzinfo=None).isoformat()},  # no offset
        {**busy, "callback_at": (later + timedelta(days=400)).isoformat()},  # a typo of the year
        {**busy, "outcome": "connected", "callback_at": later.isoformat()},  # only a callback takes a time
    ):
        refused = client.post(f"{one}/respond", json=body, headers=cx_key)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in refused.json()["errors"]] == ["callback_at"], (body, refused.text)
    assert client.get(one, headers=cx_key).json()["status"] == "open"  # nothing recorded

    answered = client.post(f"{one}/respond", json={**busy, "callback_at": later.isoformat()}, headers=cx_key)
    assert answered.status_code == 200, answered.text
    closed = answered.json()
    assert (closed["status"], closed["outcome"]) == ("closed", "callback_requested")
    assert datetime.fromisoformat(closed["callback_at"]) == later and closed["follow_up_id"] is not None
    follow_up = client.get(f"/api/v1/callback-requests/{closed['follow_up_id']}", headers=cx_key).json()
    assert (follow_up["status"], follow_up["source"], follow_up["follows_id"], follow_up["note"]) == (
        "open", "follow_up", closed["id"], "EMI?")  # fmt: skip
    assert datetime.fromisoformat(follow_up["due_at"]) == later
    assert follow_up["assignee_id"] == str(cx)  # an API key answered: it stays with the application's CX
    queue = client.get("/api/v1/callback-requests", params={"assigned_to": str(cx)}, headers=cx_key).json()["items"]
    assert [r["id"] for r in queue] == [follow_up["id"]]

    # The borrower sees when we call again, and cannot open a second request beside it.
    mine = client.get("/api/v1/borrower/callback-requests", headers=auth).json()["items"]
    assert [(r["id"], r["status"]) for r in mine] == [(follow_up["id"], "open"), (closed["id"], "closed")]
    assert datetime.fromisoformat(mine[0]["due_at"]) == later and mine[1]["due_at"] is None
    again = client.post("/api/v1/borrower/callback-requests", json={}, headers=auth)
    assert again.status_code == 409 and again.json()["open_id"] == follow_up["id"]


def test_a_credit_executive_reads_the_call_they_placed_at_its_location_and_others_cannot(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: Any
) -> None:
    cx, cx_email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    _, other_email = _staff(platform, tenant, "credit_executive", "Arun Credit")
    _, head_email = _staff(platform, tenant, "sanction_head", "Meera Head")  # LOAN_RELOCATE: any application
    _, collector_email = _staff(platform, tenant, "collection_executive", "Ravi Collect")
    application, _ = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    _dialer_on(client, tenant, {cx: "2101"})
    mine, csrf = _portal(app, cx_email)
    other, _ = _portal(app, other_email)
    head, _ = _portal(app, head_email)
    collector, _ = _portal(app, collector_email)
    dialer = provider_simulators["dialer"]
    dialer.auto_complete = False  # no call event back to this in-process client
    try:
        placed = mine.post(f"/api/v1/loans/{application['id']}/credit-calls", json={},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    finally:
        dialer.auto_complete = True
    assert placed.status_code == 202, placed.text
    call_id, location = placed.json()["id"], placed.headers["location"]
    read = mine.get(location)
    assert read.status_code == 200, read.text
    assert (read.json()["id"], read.json()["staff_id"], read.json()["loan_id"]) == (call_id, str(cx), application["id"])
    assert head.get(location).status_code == 200
    assert other.get(location).status_code == 404  # not their application: as placing it
    # LOANS READ (the loan page), but not their application: as placing it; nor at /api/v1/calls/{id}, which reads
    # a call only on a loan the executive works, as the loan's call list does (docs/fieldwork.md)
    assert collector.get(location).status_code == 404
    assert collector.get(f"/api/v1/calls/{call_id}").status_code == 404
    _assign(client, tenant, application["id"], _staff(platform, tenant, "credit_executive", "Nila Credit")[0])
    assert mine.get(location).status_code == 404  # reassigned: no longer theirs
    for browser in (mine, other, head, collector):
        browser.__exit__(None, None, None)


def test_call_placed_shows_only_for_a_call_placed_about_this_loan_or_this_callbacks_borrower(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: Any
) -> None:
    cx, cx_email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    second, _ = _application(client, tenant, sms)  # another borrower's application, also the CX's
    for loan in (application, second):
        _assign(client, tenant, loan["id"], cx)
    _dialer_on(client, tenant, {cx: "2101"})
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"]}, headers=auth)
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    elsewhere = make_tenant(platform)  # another brand's credit call
    their_cx, _ = _staff(platform, elsewhere, "credit_executive", "Other Credit")
    their_application, _ = _application(client, elsewhere, sms)
    _assign(client, elsewhere, their_application["id"], their_cx)
    _dialer_on(client, elsewhere, {their_cx: "3101"})
    dialer = provider_simulators["dialer"]
    mine, csrf = _portal(app, cx_email)
    dialer.auto_complete = False  # no call event back to this in-process client
    try:
        theirs = client.post(f"/api/v1/loans/{their_application['id']}/credit-calls",
                             json={"staff_id": str(their_cx)}, headers=elsewhere.auth)  # fmt: skip
        about_second = mine.post(f"/loans/{second['id']}/credit-call", data={"csrf_token": csrf})
        placed = mine.post(f"/loans/{application['id']}/credit-call", data={"csrf_token": csrf})
    finally:
        dialer.auto_complete = True
    assert theirs.status_code == 202 and about_second.status_code == 303 and placed.status_code == 303
    other_brands, second_call = theirs.json()["id"], about_second.headers["location"].split("called=")[1].split("#")[0]
    call_id = placed.headers["location"].split("called=")[1].split("#")[0]
    try:
        for page in (f"/loans/{application['id']}", f"/credit/review/{application['id']}"):
            assert 'id="call-placed"' in mine.get(f"{page}?called={call_id}").text, page
            for value in ("yes", "not-a-call", str(uuid.uuid4()), other_brands, second_call):
                shown = mine.get(f"{page}?called={value}")
                assert shown.status_code == 200 and 'id="credit-call"' in shown.text
                assert 'id="call-placed"' not in shown.text, (page, value)

        queue = mine.get(f"/callback-requests?called={call_id}&callback={request_id}")
        assert 'id="call-placed"' in queue.text and f'name="call_id" value="{call_id}"' in queue.text
        for value in ("yes", str(uuid.uuid4()), other_brands, second_call):  # second_call: another borrower's
            shown = mine.get(f"/callback-requests?called={value}&callback={request_id}")
            assert shown.status_code == 200 and f'data-id="{request_id}"' in shown.text
            assert 'id="call-placed"' not in shown.text and 'name="call_id"' not in shown.text, value
    finally:
        mine.__exit__(None, None, None)


def _route(platform: Any, clock: FixedClock | None = None) -> None:
    """One run of the router `make run` starts (here until its queues are empty), then its writes read back."""
    port = platform.port(CallbackJobPort)
    router = CallbackRouter(port if clock is None else replace(port, clock=clock))
    while True:
        while router.drain():  # the queues also hold other tests' requests
            pass
        # A move's notice is pushed once read.callback_requests shows the move: a pass that ran before it did pushed
        # nothing and ended the loop, so wait for the read model and pass again until a pass does nothing.
        settle(platform, "callbacks")
        if not router.drain():
            break
    settle(platform, "staff_notices")


def _my_notices(browser: TestClient) -> list[dict[str, Any]]:
    mine = browser.get("/api/v1/staff-notifications/mine")
    assert mine.status_code == 200, mine.text
    return [n for n in mine.json()["items"] if "callback" in n["title"].lower()]


def test_an_open_request_follows_its_application_to_the_new_cx_and_each_holder_is_told_once(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    cx, cx_email = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    cx2, cx2_email = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], cx)
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"], "note": "EMI?"},
                        headers=auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    one = f"/api/v1/callback-requests/{asked.json()['id']}"
    assert client.get(one, headers=tenant.auth).json()["assignee_id"] == str(cx)
    first, _ = _portal(app, cx_email)
    second, _ = _portal(app, cx2_email)

    _route(platform)
    _route(platform)  # a second run (a restart, a repeat) tells nobody twice
    [told] = _my_notices(first)
    assert told["title"].startswith("New callback request") and application["loan_number"] in told["body"]
    assert _my_notices(second) == []

    _assign(client, tenant, application["id"], cx2)  # the application is reassigned through its API
    _route(platform)
    moved = client.get(one, headers=tenant.auth).json()
    assert (moved["assignee_id"], moved["assignee_name"], moved["status"]) == (str(cx2), "Mohan Credit", "open")
    # The router runs outside any request or job run: what each pass records names it (docs/events.md).
    from domain.callbacks.application import Callbacks

    [move] = [e for e in platform.get(Callbacks).events.get(UUID(moved["id"])) if e.actor == "job:callback-router"]
    assert type(move).__name__ == "Reassigned" and str(move.trace_id).startswith("worker-pass:callback-router:")
    queue = client.get("/api/v1/callback-requests", params={"assigned_to": str(cx2)}, headers=tenant.auth)
    assert [r["id"] for r in queue.json()["items"]] == [moved["id"]]
    _route(platform)
    [now_theirs] = _my_notices(second)
    assert now_theirs["title"].startswith("New callback request")
    assert len(_my_notices(first)) == 1  # nothing more to the CX who lost it
    assert client.get(one, headers=tenant.auth).json()["assignee_id"] == str(cx2)  # a repeat moved nothing back

    # The new CX promises a call back; when its time comes they are told once (not before), however often it runs.
    later = (datetime.now(ZoneInfo("Asia/Kolkata")) + timedelta(days=2)).replace(microsecond=0)
    cx2_key = _key(platform, tenant, "credit_executive")
    answered = client.post(f"{one}/respond", headers=cx2_key, json={
        "outcome": "callback_requested", "remarks": "driving, call in two days", "callback_at": later.isoformat()})  # fmt: skip
    assert answered.status_code == 200, answered.text
    follow_up = client.get(f"/api/v1/callback-requests/{answered.json()['follow_up_id']}", headers=tenant.auth).json()
    assert follow_up["assignee_id"] == str(cx2)  # an API key answered: it stays with the holder
    _route(platform)
    assert len(_my_notices(second)) == 1  # the promiser is not told of their own follow-up; not due yet
    for _ in range(2):
        _route(platform, FixedClock(later + timedelta(minutes=1)))
    due = [n for n in _my_notices(second) if n["title"].startswith("Callback due now")]
    assert len(due) == 1 and due[0]["priority"] == "HIGH", _my_notices(second)
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)


def _raw_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_queue_cursor_serves_only_the_filters_and_the_order_it_was_made_with(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    # A cursor used to be a bare position: with other filters it started a page of another queue at it, and one
    # made before the queue was ordered by coalesce(due_at, requested_at) started at its old place in new order.
    asked = []
    for _ in range(3):
        borrower = bearer(sign_in(client, sms, tenant.slug, mobile()))
        made = client.post("/api/v1/borrower/callback-requests", json={"note": "call me"}, headers=borrower)
        assert made.status_code == 201, made.text
        asked.append(made.json()["id"])
    queue = "/api/v1/callback-requests"
    first = client.get(queue, params={"status": "open", "limit": 1}, headers=tenant.auth)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    seen = [r["id"] for r in first.json()["items"]]
    while cursor:  # the same filters walk the whole queue, each request once, in its order
        page = client.get(queue, params={"status": "open", "limit": 1, "cursor": cursor}, headers=tenant.auth)
        assert page.status_code == 200, page.text
        seen += [r["id"] for r in page.json()["items"]]
        cursor = page.json()["next_cursor"]
    assert seen == asked

    cursor = first.json()["next_cursor"]
    for other in ({"status": "all"}, {"status": "closed"}, {"status": "open", "assigned_to": "unassigned"}, {}):
        if other == {}:  # status open is the default: the same filters, so the cursor serves
            same = client.get(queue, params={"limit": 1, "cursor": cursor}, headers=tenant.auth)
            assert same.status_code == 200 and [r["id"] for r in same.json()["items"]] == asked[1:2], same.text
            continue
        refused = client.get(queue, params={**other, "limit": 1, "cursor": cursor}, headers=tenant.auth)
        assert refused.status_code == 422, (other, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        [error] = refused.json()["errors"]
        assert error["field"] == "cursor" and "other filters" in error["message"], refused.text

    # A cursor of the earlier format, the bare (requested_at, id) of the old order, and a bound one of order 1.
    row = first.json()["items"][0]
    bare = _raw_cursor([row["requested_at"], row["id"]])
    old_order = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert old_order["o"] == 2  # the queue's order is its second
    before = _raw_cursor({**old_order, "o": 1})
    for stale, says in ((bare, "earlier release"), (before, "earlier order")):
        refused = client.get(queue, params={"status": "open", "limit": 1, "cursor": stale}, headers=tenant.auth)
        assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
        [error] = refused.json()["errors"]
        assert error["field"] == "cursor" and says in error["message"], refused.text


def test_remarks_are_bound_as_the_rule_counts_them_trimmed_with_a_crlf_as_one_character(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    # The schema capped the text as sent at MAX_REMARKS, so remarks the rule takes (a browser's CR LF line breaks
    # count as one character) were refused; "ab" passed the schema and met the rule's 3 characters later.
    borrower = bearer(sign_in(client, sms, tenant.slug, mobile()))
    asked = client.post("/api/v1/borrower/callback-requests", json={"note": "call me"}, headers=borrower)
    assert asked.status_code == 201, asked.text
    respond = f"/api/v1/callback-requests/{asked.json()['id']}/respond"
    short = client.post(respond, json={"outcome": "connected", "remarks": "ab"}, headers=tenant.auth)
    assert short.status_code == 422 and [e["field"] for e in short.json()["errors"]] == ["remarks"], short.text
    lines = ["x" * 99] * (MAX_REMARKS // 100)  # 10 lines of 99 and 9 line breaks: 999 characters as the rule counts
    over = "\r\n".join([*lines, "y"])  # 1001 as the rule counts them
    refused = client.post(respond, json={"outcome": "connected", "remarks": over}, headers=tenant.auth)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["remarks"]
    assert client.get(f"/api/v1/callback-requests/{asked.json()['id']}", headers=tenant.auth).json()["status"] == "open"
    full = "\r\n".join(lines) + "z"  # MAX_REMARKS as the rule counts them; longer as sent
    assert len(full) > MAX_REMARKS and len(full.replace("\r\n", "\n")) == MAX_REMARKS
    answered = client.post(respond, json={"outcome": "connected", "remarks": full}, headers=tenant.auth)
    assert answered.status_code == 200, answered.text
    assert answered.json()["remarks"] == full.replace("\r\n", "\n")
