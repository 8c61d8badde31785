"""Scheduled reminders through the API, the `reminder-dispatch` job and the SMS simulator over HTTP (issue #17 item
4): a due reminder is sent once (reruns and a run killed after sending send nothing more), a future one waits;
cancel before sending only (409 after); an opted-out borrower's reminder fails with the reason; the list's filters,
search and keyset pages; bad input is a 422 that writes nothing; another brand gets 404s; roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.reminder_messages import ReminderMessages
from domain.reminders.application import Reminders
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, poll, zone_at
from tests.e2e.test_engagement import configure
from tests.support import mobile, settle
from workers.runtime import scheduler_for


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


def dispatch(server: str, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = httpx.post(f"{server}/api/v1/jobs/reminder-dispatch/runs", json={}, headers=tenant.auth, timeout=30)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, Reminders.name)
    settle(platform, "jobs")
    return dict(httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def borrower(server: str, tenant: Tenant, name: str) -> tuple[str, str]:
    phone = mobile("9")
    made = httpx.post(f"{server}/api/v1/customers", json={"name": name, "phone": phone}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return made.json()["id"], made.json()["phone"]


def sms_template(server: str, tenant: Tenant) -> str:
    made = httpx.post(
        f"{server}/api/v1/message-templates",
        json={"name": "Call us", "channel": "sms", "body": "Hi {{borrower_name}}, please call us today."},
        headers=tenant.auth,
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def schedule(server: str, tenant: Tenant, customer: str, template: str, at: datetime, **extra: Any) -> httpx.Response:
    body = {"customer_id": customer, "channel": "sms", "template_id": template, "scheduled_at": at.isoformat(), **extra}
    return httpx.post(f"{server}/api/v1/reminders", json=body, headers=tenant.auth)


def listed(server: str, tenant: Tenant, **query: Any) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/api/v1/reminders", params=query, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_due_reminders_are_sent_once_future_ones_wait_and_cancel_is_before_sending_only(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    asha, asha_phone = borrower(server, tenant, "Asha Verma")
    template = sms_template(server, tenant)
    now = datetime.now(UTC)

    due = schedule(server, tenant, asha, template, now - timedelta(minutes=1))
    assert due.status_code == 201, due.text
    assert due.json()["status"] == "scheduled" and due.json()["borrower_name"] == "Asha Verma"
    assert (
        due.json()["template_name"] == "Call us" and due.headers["Location"] == f"/api/v1/reminders/{due.json()['id']}"
    )
    later = schedule(server, tenant, asha, template, now + timedelta(hours=2)).json()

    run = dispatch(server, platform, tenant)
    assert run["status"] == "succeeded", run
    texts = [m["text"] for m in sms.messages(asha_phone)]
    assert texts == ["Hi Asha Verma, please call us today."]
    sent = httpx.get(f"{server}/api/v1/reminders/{due.json()['id']}", headers=tenant.auth).json()
    assert sent["status"] == "sent" and sent["message_id"] is not None
    assert httpx.get(f"{server}/api/v1/reminders/{later['id']}", headers=tenant.auth).json()["status"] == "scheduled"
    assert dispatch(server, platform, tenant)["status"] == "succeeded"  # a rerun sends nothing more
    assert len(sms.messages(asha_phone)) == 1

    # A run killed after sending and before recording: the reminder is taken and its message sent, not recorded.
    crashed = schedule(server, tenant, asha, template, now).json()
    reminders = platform.get(Reminders)
    taken = reminders.take(tenant.brand_id, [uuid.UUID(crashed["id"])])
    outcome = platform.port(ReminderMessages).send(tenant.brand_id, taken[0])
    assert outcome.sent and len(sms.messages(asha_phone)) == 2
    cancel_taken = httpx.post(f"{server}/api/v1/reminders/{crashed['id']}/cancel", headers=tenant.auth)
    assert cancel_taken.status_code == 409  # being sent
    assert dispatch(server, platform, tenant)["status"] == "succeeded"
    assert len(sms.messages(asha_phone)) == 2  # the rerun found the message already sent
    recorded = httpx.get(f"{server}/api/v1/reminders/{crashed['id']}", headers=tenant.auth).json()
    assert recorded["status"] == "sent" and recorded["message_id"] == str(outcome.message_id)

    cancelled = httpx.post(f"{server}/api/v1/reminders/{later['id']}/cancel", headers=tenant.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert httpx.post(f"{server}/api/v1/reminders/{later['id']}/cancel", headers=tenant.auth).status_code == 409
    assert httpx.post(f"{server}/api/v1/reminders/{due.json()['id']}/cancel", headers=tenant.auth).status_code == 409


def test_an_opted_out_borrowers_reminder_fails_with_the_reason(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    ravi, ravi_phone = borrower(server, tenant, "Ravi Kumar")
    template = sms_template(server, tenant)
    prefs = httpx.put(f"{server}/api/v1/customers/{ravi}/messaging-preferences",
                      json={"opted_out": ["sms"], "reason": "asked on call"}, headers=tenant.auth)  # fmt: skip
    assert prefs.status_code == 200, prefs.text
    made = schedule(server, tenant, ravi, template, datetime.now(UTC)).json()
    assert dispatch(server, platform, tenant)["status"] == "succeeded"
    failed = httpx.get(f"{server}/api/v1/reminders/{made['id']}", headers=tenant.auth).json()
    assert failed["status"] == "failed" and "opted_out" in (failed["reason"] or "")
    assert provider_simulators["sms"].messages(ravi_phone) == []


def test_the_list_filters_searches_and_pages(server: str, platform: Any) -> None:
    tenant = make_tenant(platform)
    asha, _ = borrower(server, tenant, "Asha Verma")
    meena, meena_phone = borrower(server, tenant, "Meena Iyer")
    template = sms_template(server, tenant)
    email = httpx.post(f"{server}/api/v1/message-templates", headers=tenant.auth, json={
        "name": "Mail us", "channel": "email", "subject": "Hello", "body": "<p>Hi {{borrower_name}}</p>"}).json()  # fmt: skip
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    first = schedule(server, tenant, asha, template, base).json()
    second = schedule(server, tenant, meena, template, base + timedelta(days=2)).json()
    third = httpx.post(f"{server}/api/v1/reminders", headers=tenant.auth, json={
        "customer_id": meena, "channel": "email", "template_id": email["id"],
        "scheduled_at": (base + timedelta(days=4)).isoformat()}).json()  # fmt: skip
    httpx.post(f"{server}/api/v1/reminders/{first['id']}/cancel", headers=tenant.auth)

    def ids(**query: Any) -> list[str]:
        return [r["id"] for r in listed(server, tenant, **query)]

    assert ids() == [third["id"], second["id"], first["id"]]  # latest scheduled first
    assert ids(channel="email") == [third["id"]]
    assert ids(status="cancelled") == [first["id"]]
    assert ids(status="scheduled", channel="sms") == [second["id"]]
    assert ids(q="meena") == [third["id"], second["id"]]
    assert ids(q="IYER") == [third["id"], second["id"]]
    assert ids(q=meena_phone[-6:]) == [third["id"], second["id"]]
    assert ids(q="nobody") == []
    day = (base + timedelta(days=2)).astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()  # the brand's day
    assert ids(scheduled_from=day, scheduled_to=day) == [second["id"]]
    assert ids(scheduled_from=(base + timedelta(days=1)).isoformat()) == [third["id"], second["id"]]
    assert ids(scheduled_to=(base + timedelta(days=1)).isoformat()) == [first["id"]]
    today = datetime.now(UTC).date()
    assert len(ids(created_from=(today - timedelta(days=1)).isoformat())) == 3
    assert ids(created_to=(today - timedelta(days=2)).isoformat()) == []

    page1 = httpx.get(f"{server}/api/v1/reminders", params={"limit": 2}, headers=tenant.auth).json()
    page2 = httpx.get(f"{server}/api/v1/reminders", params={"limit": 2, "cursor": page1["next_cursor"]},
                      headers=tenant.auth).json()  # fmt: skip
    assert [r["id"] for r in page1["items"] + page2["items"]] == [third["id"], second["id"], first["id"]]
    assert page2["next_cursor"] is None
    forged = httpx.get(f"{server}/api/v1/reminders", params={"cursor": "forged"}, headers=tenant.auth)
    assert forged.status_code == 422


def test_bad_input_cross_brand_and_roles(server: str, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    asha, _ = borrower(server, tenant, "Asha Verma")
    template = sms_template(server, tenant)
    now = datetime.now(UTC)
    cases = [
        {"customer_id": str(uuid.uuid4())},  # no such borrower
        {"template_id": str(uuid.uuid4())},  # no such template
        {"channel": "email"},  # an SMS template by email
        {"channel": "pigeon"},
        {"scheduled_at": "2026-12-01T10:00:00"},  # no offset
        {"scheduled_at": (now - timedelta(days=2)).isoformat()},  # in the past
    ]
    for change in cases:
        body = {"customer_id": asha, "channel": "sms", "template_id": template,
                "scheduled_at": (now + timedelta(hours=1)).isoformat(), **change}  # fmt: skip
        refused = httpx.post(f"{server}/api/v1/reminders", json=body, headers=tenant.auth)
        assert refused.status_code == 422, (change, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert listed(server, tenant) == []

    made = schedule(server, tenant, asha, template, now + timedelta(hours=1)).json()
    assert httpx.get(f"{server}/api/v1/reminders/{made['id']}", headers=other.auth).status_code == 404
    assert httpx.post(f"{server}/api/v1/reminders/{made['id']}/cancel", headers=other.auth).status_code == 404
    assert listed(server, other) == [] and listed(server, other, q="Asha") == []
    assert schedule(server, other, asha, template, now + timedelta(hours=1)).status_code == 422

    for role, allowed in (("collection_executive", True), ("loan_ops", True), ("sales", False)):
        key = make_tenant(platform, role=role)
        # a key of another brand: allowed roles get the 422 of an unknown borrower, others a 403
        answer = schedule(server, key, asha, template, now + timedelta(hours=1))
        assert answer.status_code == (422 if allowed else 403), (role, answer.status_code)
    assert httpx.get(f"{server}/api/v1/reminders/{made['id']}", headers=tenant.auth).json()["status"] == "scheduled"


def test_a_reminder_whose_delivery_finally_fails_shows_failed_with_the_reason(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), message_max_attempts=1)
    asha, asha_phone = borrower(server, tenant, "Asha Verma")
    template = sms_template(server, tenant)
    made = schedule(server, tenant, asha, template, datetime.now(UTC)).json()
    sms.fail_next_deliveries(1, "handset_unreachable", to=asha_phone)
    assert dispatch(server, platform, tenant)["status"] == "succeeded"
    assert len(sms.messages(asha_phone)) == 1  # handed to the provider; its receipt says it failed

    def shown() -> dict[str, Any]:
        return dict(httpx.get(f"{server}/api/v1/reminders/{made['id']}", headers=tenant.auth).json())

    failed = poll(shown, lambda r: r["status"] == "failed")
    assert failed["status"] == "failed" and failed["message_status"] == "failed"
    assert failed["reason"] == "handset_unreachable"
    assert [r["id"] for r in listed(server, tenant, status="failed")] == [made["id"]]
    assert listed(server, tenant, status="sent") == []


def test_a_reminder_asked_for_with_an_offset_no_zone_has_is_refused_and_one_at_the_edge_scheduled_and_readable(
    server: str, platform: Any
) -> None:
    # Found by the stateful schemathesis run's defect class (a callback's -18:08): offsets up to ±23:59 parse, but the
    # reminders read model could not write one beyond PostgreSQL's ±15:59, so the API answered 202 and never showed it.
    # Such an offset is now a 422 naming the field, nothing recorded; Kiribati's +14:00 is kept, in UTC.
    tenant = make_tenant(platform)
    asha, _ = borrower(server, tenant, "Asha Verma")
    template = sms_template(server, tenant)
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    odd = schedule(server, tenant, asha, template, when.astimezone(timezone(-timedelta(hours=18, minutes=8))))
    assert odd.status_code == 422 and "scheduled_at" in odd.text and "offset" in odd.text, odd.text
    assert listed(server, tenant) == []
    made = schedule(server, tenant, asha, template, when.astimezone(timezone(timedelta(hours=14))))
    assert made.status_code == 201, made.text
    assert datetime.fromisoformat(made.json()["scheduled_at"]) == when
    [shown] = listed(server, tenant)
    assert datetime.fromisoformat(shown["scheduled_at"]) == when
