"""The dialer and field visits over HTTP against the dialer simulator (issue #16 items 8, 9): the dialer's token is
never shown back; click-to-call rings the agent's extension, the simulator's signed `call.completed` is logged once
on the loan's contact log however often it is delivered, forged and unsigned webhooks change nothing; field visits
flagged, recorded with a geo-tag and a photo, bad input refused with nothing written; brands and agents isolated."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.webhooks import sign
from domain.collections.application import Collections
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

TOKEN = "acefone-live-7c1d"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 4


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    yield


def _agent(platform: Any, tenant: Tenant, role: str = "collection_executive") -> UUID:
    made = platform.get(Identity).create_staff(
        tenant.brand_id,
        f"agent-{uuid.uuid4().hex[:8]}@lender.in",
        "Ravi Field",
        [role],
        "Str0ng-passphrase!",
        granter=OPERATOR,
    )
    settle(platform, "identity", made.position)
    return UUID(str(made.id))


def _dialer_ready(server: str, tenant: Tenant, staff_id: UUID, extension: str = "1021") -> None:
    on = httpx.patch(f"{server}/api/v1/dialer/settings", headers=tenant.auth,
                     json={"enabled": True, "account_id": "covenant-demo", "api_token": TOKEN})  # fmt: skip
    assert on.status_code == 200, on.text
    ext = httpx.put(f"{server}/api/v1/dialer/extensions/{staff_id}", json={"extension": extension}, headers=tenant.auth)
    assert ext.status_code == 200, ext.text


def _contacts(platform: Any, tenant: Tenant, loan_id: UUID) -> list[Any]:
    """The loan's contact log as the collections context holds it (its read model may be behind)."""
    return list(platform.get(Collections).case(tenant.brand_id, loan_id).contacts.values())


def test_the_dialer_token_is_write_only_and_settings_are_per_brand(platform: Any, server: str) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    agent = _agent(platform, tenant)
    _dialer_ready(server, tenant, agent)
    shown = httpx.get(f"{server}/api/v1/dialer/settings", headers=tenant.auth)
    assert shown.status_code == 200 and TOKEN not in shown.text
    body = shown.json()
    assert (body["enabled"], body["account_id"], body["token_hint"]) == (True, "covenant-demo", "****7c1d")
    assert [(e["staff_id"], e["extension"]) for e in body["extensions"]] == [(str(agent), "1021")]
    assert httpx.get(f"{server}/api/v1/dialer/settings", headers=other.auth).json()["configured"] is False

    for bad in ({"api_token": "short"}, {"account_id": "bad account!"}, {"enabled": "yes please"}):
        refused = httpx.patch(f"{server}/api/v1/dialer/settings", json=bad, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
    taken = httpx.put(f"{server}/api/v1/dialer/extensions/{_agent(platform, tenant)}", json={"extension": "1021"},
                      headers=tenant.auth)  # fmt: skip
    assert taken.status_code == 409, taken.text
    stranger = httpx.put(f"{server}/api/v1/dialer/extensions/{agent}", json={"extension": "1099"}, headers=other.auth)
    assert stranger.status_code == 404, stranger.text
    assert httpx.get(f"{server}/api/v1/dialer/settings", headers=tenant.auth).json() == body  # nothing changed
    executive = make_tenant(platform, "collection_executive")
    assert httpx.get(f"{server}/api/v1/dialer/settings", headers=executive.auth).status_code == 403


def test_a_call_is_placed_and_logged_once_on_the_contact_log(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    dialer = provider_simulators["dialer"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    agent = _agent(platform, tenant)
    url = f"{server}/api/v1/loans/{loan_id}/calls"

    unready = httpx.post(url, json={"staff_id": str(agent)}, headers=tenant.auth)
    assert unready.status_code == 409, unready.text  # no dialer yet
    _dialer_ready(server, tenant, agent)
    assert httpx.post(url, json={}, headers=tenant.auth).status_code == 422  # a key names the staff member
    stranger = httpx.post(url, json={"staff_id": str(agent), "phone": "9000000001"}, headers=tenant.auth)
    assert stranger.status_code == 422 and "phone" in stranger.text

    dialer.auto_complete = False
    try:
        placed = httpx.post(url, json={"staff_id": str(agent)}, headers=tenant.auth)
        assert placed.status_code == 202, placed.text
        call = placed.json()
        assert placed.headers["location"] == f"/api/v1/calls/{call['id']}"
        assert (call["status"], call["extension"], call["alternate"]) == ("placed", "1021", False)
        sim = next(c for c in dialer.calls() if c["reference"] == call["id"])
        assert (sim["agent_extension"], sim["destination"]) == ("1021", call["destination"])
        delivery = dialer.complete(sim["call_id"], status="answered", duration=135).result(timeout=10)
        assert delivery.delivered, delivery.attempts
    finally:
        dialer.auto_complete = True
    ended = poll(lambda: httpx.get(f"{server}/api/v1/calls/{call['id']}", headers=tenant.auth).json(),
                   lambda c: c["contact_logged"])  # fmt: skip
    assert (ended["status"], ended["duration_seconds"]) == ("answered", 135)
    assert ended["recording_url"].endswith(f"/recordings/{sim['call_id']}.mp3")
    logged = poll(lambda: _contacts(platform, tenant, loan_id), lambda c: len(c) == 1)
    assert [(c.channel, c.outcome, c.call.duration_seconds, c.staff_id) for c in logged] == [
        ("dialer", "connected", 135, agent)
    ]

    again = dialer.redeliver(delivery)  # the provider delivers the same event again
    assert again.delivered and json.loads(again.attempts[-1].body or b"{}").get("status") in (None, "duplicate")
    replay = dialer.redeliver(delivery, replay=True)  # a captured request sent again, byte for byte
    assert replay.status in (200, 401)
    time.sleep(0.3)
    assert len(_contacts(platform, tenant, loan_id)) == 1


def test_forged_and_unsigned_dialer_webhooks_change_nothing(platform: Any, server: str) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    agent = _agent(platform, tenant)
    _dialer_ready(server, tenant, agent)
    placed = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)}, headers=tenant.auth)
    call_id = placed.json()["id"]
    event = {"id": "evt_forged", "type": "call.completed", "created_at": "2026-01-31T10:00:00+00:00",
             "data": {"call_id": "call_x", "reference": call_id, "status": "answered", "duration_seconds": 9}}  # fmt: skip
    body = json.dumps(event).encode()
    hook = f"{server}/api/v1/webhooks/dialer"
    forged = httpx.post(hook, content=body, headers={**sign("not-the-secret", body, int(time.time())),
                                                    "Content-Type": "application/json"})  # fmt: skip
    assert forged.status_code == 401, forged.text
    unsigned = httpx.post(hook, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 400, unsigned.text
    stale = httpx.post(hook, content=body, headers={**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time()) - 3600),
                                                   "Content-Type": "application/json"})  # fmt: skip
    assert stale.status_code == 401, stale.text
    wrong_call = httpx.post(hook, content=body, headers={**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())),
                                                        "Content-Type": "application/json"})  # fmt: skip
    # Signed, but not the provider id of our call: that never changes, so it is acknowledged (a 409 would have the
    # dialer deliver it again for ever) and changes nothing.
    assert wrong_call.status_code == 200 and wrong_call.json()["status"] == "ignored", wrong_call.text
    row = httpx.get(f"{server}/api/v1/calls/{call_id}", headers=tenant.auth).json()
    assert row["duration_seconds"] != 9 and row["status"] in ("placed", "answered", "no_answer", "busy", "failed")


def test_a_call_event_naming_another_brands_call_touches_neither(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """Brand A's call as the reference, brand B's call at the dialer as the provider id: a permanent mismatch,
    acknowledged `ignored` (not a 409 the dialer would retry for ever), and neither brand's call changes."""
    dialer = provider_simulators["dialer"]
    placed: dict[str, tuple[Tenant, dict[str, Any]]] = {}
    dialer.auto_complete = False
    try:
        for name in ("a", "b"):
            tenant = make_tenant(platform)
            set_business_date(platform, tenant, date(2026, 1, 31))
            loan_id = disbursed_loan(platform, tenant)
            agent = _agent(platform, tenant)
            _dialer_ready(server, tenant, agent)
            call = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)},
                              headers=tenant.auth)  # fmt: skip
            assert call.status_code == 202, call.text
            placed[name] = (tenant, call.json())
    finally:
        dialer.auto_complete = True
    (a, call_a), (b, call_b) = placed["a"], placed["b"]
    sim_b = next(c for c in dialer.calls() if c["reference"] == call_b["id"])
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": "call.completed", "created_at": "2026-01-31T10:00:00+00:00",
             "data": {"call_id": sim_b["call_id"], "reference": call_a["id"], "status": "answered",
                      "duration_seconds": 7}}  # fmt: skip
    body = json.dumps(event).encode()
    headers = {**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())), "Content-Type": "application/json"}
    for _ in range(2):  # a repeat gets the same answer
        crossed = httpx.post(f"{server}/api/v1/webhooks/dialer", content=body, headers=headers)
        assert crossed.status_code == 200 and crossed.json()["status"] == "ignored", crossed.text
    for tenant, call in ((a, call_a), (b, call_b)):
        row = httpx.get(f"{server}/api/v1/calls/{call['id']}", headers=tenant.auth).json()
        assert (row["status"], row["contact_logged"]) == ("placed", False), row
    assert httpx.get(f"{server}/api/v1/calls/{call_a['id']}", headers=b.auth).status_code == 404


def test_a_call_event_ended_at_an_offset_no_zone_has_is_refused_naming_it_and_changes_nothing(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """`ended_at` -18:08 (Python reads offsets up to ±23:59, PostgreSQL stores up to ±15:59: recorded, it broke the read
    model writing it) is a 422 naming data.ended_at; the call stays placed and the corrected delivery is recorded."""
    dialer = provider_simulators["dialer"]
    dialer.auto_complete = False
    try:
        tenant = make_tenant(platform)
        set_business_date(platform, tenant, date(2026, 1, 31))
        loan_id = disbursed_loan(platform, tenant)
        agent = _agent(platform, tenant)
        _dialer_ready(server, tenant, agent)
        call = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)}, headers=tenant.auth)
        assert call.status_code == 202, call.text
        placed = call.json()
    finally:
        dialer.auto_complete = True
    sim = next(c for c in dialer.calls() if c["reference"] == placed["id"])
    data = {"call_id": sim["call_id"], "reference": placed["id"], "status": "answered", "duration_seconds": 7}
    url = f"{server}/api/v1/webhooks/dialer"
    for ended_at, status in (("2026-01-31T10:00:00-18:08", 422), ("2026-01-31T10:00:00+05:30", 200)):
        event = {"id": f"evt_{uuid.uuid4().hex}", "type": "call.completed", "created_at": "2026-01-31T10:00:00+00:00",
                 "data": {**data, "ended_at": ended_at}}  # fmt: skip
        body = json.dumps(event).encode()
        headers = {**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())), "Content-Type": "application/json"}
        answer = httpx.post(url, content=body, headers=headers)
        assert answer.status_code == status, answer.text
        if status == 422:
            assert [e["field"] for e in answer.json()["errors"]] == ["data.ended_at"], answer.text
            row = httpx.get(f"{server}/api/v1/calls/{placed['id']}", headers=tenant.auth).json()
            assert row["status"] == "placed", row
    settle(platform, "fieldwork")
    row = httpx.get(f"{server}/api/v1/calls/{placed['id']}", headers=tenant.auth).json()
    assert row["status"] == "answered" and row["ended_at"] is not None, row


def test_a_dialer_that_cannot_be_reached_records_no_call(platform: Any, server: str, provider_simulators: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    agent = _agent(platform, tenant)
    _dialer_ready(server, tenant, agent)
    provider_simulators["dialer"].fail_next(3, status=503)
    down = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)}, headers=tenant.auth)
    assert down.status_code == 503, down.text
    listed = httpx.get(f"{server}/api/v1/loans/{loan_id}/calls", headers=tenant.auth).json()
    assert listed["items"] == []


def test_a_field_visit_is_flagged_recorded_with_geo_tag_and_photo(platform: Any, server: str) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    agent = _agent(platform, tenant)
    flag_url = f"{server}/api/v1/loans/{loan_id}/field-visits"
    for bad in ({"assignee_id": str(agent), "reason": "x"}, {"assignee_id": str(uuid.uuid4()), "reason": "skip"},
                {"assignee_id": str(agent), "reason": "skip trace", "due_on": "31-01-2026"}):  # fmt: skip
        assert httpx.post(flag_url, json=bad, headers=tenant.auth).status_code == 422
    flagged = httpx.post(flag_url, json={"assignee_id": str(agent), "reason": "not reachable by phone",
                                         "due_on": "2026-02-03"}, headers=tenant.auth)  # fmt: skip
    assert flagged.status_code == 201, flagged.text
    visit = flagged.json()
    assert (visit["status"], visit["assignee_id"], visit["address"]) == (
        "assigned",
        str(agent),
        "4 Lake Road, Chennai, 600001",
    )
    visit_url = f"{server}/api/v1/field-visits/{visit['id']}"
    assert httpx.get(visit_url, headers=other.auth).status_code == 404
    assert httpx.post(f"{server}/api/v1/loans/{loan_id}/field-visits", json={"assignee_id": str(agent),
                      "reason": "probe"}, headers=other.auth).status_code == 404  # fmt: skip

    fields = {"outcome": "promised_to_pay", "latitude": "13.082680", "longitude": "80.270718", "remarks": "met him"}
    for key, value in (("latitude", "95"), ("longitude", "80.2707181"), ("outcome", "vanished")):
        refused = httpx.post(f"{visit_url}/visit", data={**fields, key: value},
                             files={"file": ("door.jpg", JPEG, "image/jpeg")}, headers=tenant.auth)  # fmt: skip
        assert refused.status_code == 422 and key in refused.text, refused.text
    not_photo = httpx.post(f"{visit_url}/visit", data=fields, files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")},
                           headers=tenant.auth)  # fmt: skip
    assert not_photo.status_code == 422
    assert httpx.get(visit_url, headers=tenant.auth).json()["status"] == "assigned"

    recorded = httpx.post(f"{visit_url}/visit", data=fields, files={"file": ("door.jpg", JPEG, "image/jpeg")},
                          headers=tenant.auth)  # fmt: skip
    assert recorded.status_code == 200, recorded.text
    done = recorded.json()
    assert (done["status"], done["outcome"], done["latitude"], done["longitude"]) == (
        "visited", "promised_to_pay", "13.082680", "80.270718")  # fmt: skip
    photo = done["photos"][0]
    got = httpx.get(f"{visit_url}/photos/{photo['sha256']}", headers=tenant.auth)
    assert got.status_code == 200 and got.content == JPEG and got.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{server}/api/v1/field-visits/{visit['id']}/photos/{photo['sha256']}",
                     headers=other.auth).status_code == 404  # fmt: skip
    again = httpx.post(f"{visit_url}/visit", data=fields, files={"file": ("b.jpg", JPEG + b"1", "image/jpeg")},
                       headers=tenant.auth)  # fmt: skip
    assert again.status_code == 409
    mine = httpx.get(f"{server}/api/v1/field-visits", params={"assignee": str(agent)}, headers=tenant.auth).json()
    assert [v["id"] for v in mine["items"]] == [visit["id"]]
    logged = poll(lambda: _contacts(platform, tenant, loan_id), lambda c: len(c) == 1)
    assert [(c.channel, c.outcome, c.staff_id) for c in logged] == [("field", "promised_to_pay", agent)]


def test_a_field_visit_goes_only_to_someone_who_may_work_collections(platform: Any, server: str) -> None:
    """Loan Ops (no COLLECTIONS) was given visits it could neither list nor record (GET /field-visits: 403), while
    the portal's flag form offers only collection staff and admins and a collections reallocation refuses them."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    agent, ops = _agent(platform, tenant), _agent(platform, tenant, "loan_ops")
    flag_url = f"{server}/api/v1/loans/{loan_id}/field-visits"
    refused = httpx.post(flag_url, json={"assignee_id": str(ops), "reason": "skip tracing"}, headers=tenant.auth)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["assignee_id"]
    assert httpx.get(flag_url, headers=tenant.auth).json()["items"] == []
    visit = httpx.post(flag_url, json={"assignee_id": str(agent), "reason": "skip tracing"}, headers=tenant.auth)
    assert visit.status_code == 201, visit.text
    visit_url = f"{server}/api/v1/field-visits/{visit.json()['id']}"
    moved = httpx.post(f"{visit_url}/reassign", json={"assignee_id": str(ops)}, headers=tenant.auth)
    assert moved.status_code == 422 and "assignee_id" in moved.text, moved.text
    assert httpx.get(visit_url, headers=tenant.auth).json()["assignee_id"] == str(agent)


def _session(server: str, email: str) -> httpx.Client:
    """An API client signed in as a staff member (the session cookie and its CSRF token, as a portal script)."""
    client = httpx.Client(base_url=server, follow_redirects=False)
    signed = client.post("/login", data={"email": email, "password": "Str0ng-passphrase!", "next": "/dashboard"})
    assert signed.status_code == 303, signed.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/dashboard").text)
    assert token is not None
    client.headers["X-CSRF-Token"] = token.group(1)
    return client


def test_other_brands_and_other_executives_get_404(platform: Any, server: str) -> None:
    a, b = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, b, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, b)
    agent, other_agent = _agent(platform, b), _agent(platform, b)
    _dialer_ready(server, b, agent)
    call = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)}, headers=b.auth).json()
    visit = httpx.post(f"{server}/api/v1/loans/{loan_id}/field-visits", headers=b.auth,
                       json={"assignee_id": str(other_agent), "reason": "skip tracing"}).json()  # fmt: skip
    probes = [
        ("GET", f"/api/v1/calls/{call['id']}", None),
        ("POST", f"/api/v1/loans/{loan_id}/calls", {"staff_id": str(agent)}),
        ("POST", f"/api/v1/loans/{loan_id}/field-visits", {"assignee_id": str(agent), "reason": "probe"}),
        ("GET", f"/api/v1/field-visits/{visit['id']}", None),
        ("GET", f"/api/v1/loans/{loan_id}/field-visits", None),  # another brand's loan: as if there were none
        ("GET", f"/api/v1/loans/{uuid.uuid4()}/field-visits", None),
        ("POST", f"/api/v1/field-visits/{visit['id']}/reassign", {"assignee_id": str(agent)}),
        ("POST", f"/api/v1/field-visits/{visit['id']}/cancel", {"reason": "probe"}),
        ("PUT", f"/api/v1/dialer/extensions/{agent}", {"extension": "1777"}),
    ]
    for method, url, body in probes:
        answer = httpx.request(method, f"{server}{url}", headers=a.auth, **({"json": body} if body else {}))
        assert answer.status_code == 404, (method, url, answer.status_code, answer.text)
    for url in ("/api/v1/field-visits", f"/api/v1/loans/{loan_id}/calls"):
        text = httpx.get(f"{server}{url}", headers=a.auth).text
        assert call["id"] not in text and visit["id"] not in text, url

    # An executive of brand B works only their own loans and visits (the loan is on nobody's worklist yet).
    email = platform.get(Identity).staff(b.brand_id, agent).email
    executive = _session(server, email)
    assert executive.post(f"/api/v1/loans/{loan_id}/calls", json={}).status_code == 404
    assert executive.post(f"/api/v1/loans/{loan_id}/field-visits",
                          json={"assignee_id": str(agent), "reason": "probe"}).status_code == 404  # fmt: skip
    assert executive.get(f"/api/v1/field-visits/{visit['id']}").status_code == 404
    assert executive.get("/api/v1/field-visits").json()["items"] == []
    recorded = executive.post(f"/api/v1/field-visits/{visit['id']}/visit", files={"file": ("a.jpg", JPEG, "image/jpeg")},
                              data={"outcome": "shifted", "latitude": "13.08", "longitude": "80.27"})  # fmt: skip
    assert recorded.status_code == 404, recorded.text
    assert httpx.get(f"{server}/api/v1/field-visits/{visit['id']}", headers=b.auth).json()["status"] == "assigned"
    executive.close()


def test_an_executive_reads_only_the_calls_of_loans_they_work(platform: Any, server: str) -> None:
    """A call (its number, duration and recording link) is the desk's data of the loan: `GET /calls/{id}` follows
    the loan's call list - the caller who logged it reads it, another executive of the brand gets 404."""
    b = make_tenant(platform)
    set_business_date(platform, b, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, b)
    agent, other_agent = _agent(platform, b), _agent(platform, b)
    _dialer_ready(server, b, agent)
    call = httpx.post(f"{server}/api/v1/loans/{loan_id}/calls", json={"staff_id": str(agent)}, headers=b.auth).json()
    url = f"/api/v1/calls/{call['id']}"
    assert poll(lambda: httpx.get(f"{server}{url}", headers=b.auth).json(), lambda c: c["contact_logged"])["contact_logged"]  # fmt: skip
    caller = _session(server, platform.get(Identity).staff(b.brand_id, agent).email)
    other = _session(server, platform.get(Identity).staff(b.brand_id, other_agent).email)
    try:
        assert caller.get(url).status_code == 200  # they logged it: the loan is theirs to read
        assert other.get(f"/api/v1/loans/{loan_id}/calls").status_code == 404
        leaked = other.get(url)
        assert leaked.status_code == 404, leaked.text
        assert "recording" not in leaked.text and call["destination"] not in leaked.text
    finally:
        caller.close()
        other.close()
