"""Issue #17's "How it will be checked", walked black-box through the HTTP API only: a borrower's loan taken from
sanction to disbursal over HTTP (e-sign at the simulator, a payout file), the business date moved across its first
due date with the `borrower-notifications` job run through `/api/v1/jobs`, the exact messages read back from the SMS
and WhatsApp simulators' outboxes (kind, channel, count), reruns sending nothing, quiet hours and an opt-out
recorded, a failed delivery retried, forged and repeated receipts, a template with hostile values, reminders across
their filters and a staff acknowledgement.

Runs under pytest (a live test server, its simulators) and against a running server:
`python -m tests.e2e.test_engagement_blackbox http://127.0.0.1:8000 cdk_admin_key [cdk_of_another_brand]`."""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.e2e.blackbox import API, DAY, NIGHT, Headers, ok, poll, zone_at
from tests.support import settle

Runner = Callable[[str], None]


@dataclass
class Drive:
    """What a live server's workers do by themselves and the pytest app's are asked to: run a requested job run,
    issue agreements and queue signed loans."""

    execute: Runner | None = None
    tick: Callable[[], None] | None = None


def _settings(http: httpx.Client, h: Headers, **changes: Any) -> None:
    ok(http.patch(f"{API}/brand/config", json=changes, headers=h))


def run_job(http: httpx.Client, h: Headers, name: str, drive: Drive = Drive()) -> dict[str, Any]:
    """Ask for a run through the API; wait for its end (a live server's scheduler runs it; pytest's `execute`)."""
    run_id = ok(http.post(f"{API}/jobs/{name}/runs", json={}, headers=h), 202)["run_id"]
    if drive.execute is not None:
        drive.execute(run_id)
    run = poll(lambda: ok(http.get(f"{API}/jobs/runs/{run_id}", headers=h)),
                 lambda r: r["status"] in ("succeeded", "failed"), timeout=60)  # fmt: skip
    assert run["status"] == "succeeded", run
    return dict(run)


def _outbox(sim: str, phone: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sim}/outbox", params={"to": phone}).json()["items"])


def _messages(http: httpx.Client, h: Headers, **query: str) -> list[dict[str, Any]]:
    return list(ok(http.get(f"{API}/messages", params={"limit": 200, **query}, headers=h))["items"])


def disbursed_loan(http: httpx.Client, h: Headers, on: date, drive: Drive = Drive()) -> tuple[str, str, str]:
    """A borrower's loan taken to disbursal over HTTP on business date `on`: (loan id, customer id, phone)."""
    _settings(http, h, business_date=on.isoformat())
    phone = f"9{uuid.uuid4().int % 10**7:07d}71"  # never ending 1111 (the simulators treat that specially)
    body = {"name": "Asha Verma", "phone": phone, "email": f"asha.{uuid.uuid4().hex[:8]}@example.in",
            "date_of_birth": "1990-01-15", "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}]}  # fmt: skip
    customer = ok(http.post(f"{API}/customers", json=body, headers=h), 201)["id"]
    account = {"account_number": "50100123456789", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}
    ok(http.post(f"{API}/customers/{customer}/bank-accounts", json=account, headers=h), 201)
    product = {"name": "BB17", "code": "B17" + uuid.uuid4().hex[:6].upper(), "type": "emi", "min_amount": "10000",
               "max_amount": "500000", "min_tenure": 3, "max_tenure": 36, "annual_percent": "18", "gst_percent": "18",
               "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 3, "bre_rules": [],
               "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False}}  # fmt: skip
    product_id = ok(http.post(f"{API}/loan-products", json=product, headers=h), 201)["id"]
    loan = ok(http.post(f"{API}/loans", json={"customer_id": customer, "product_id": product_id, "amount": "60000", "tenure": 6}, headers=h), 201)  # fmt: skip
    url = f"{API}/loans/{loan['id']}"

    def current() -> dict[str, Any]:
        if drive.tick is not None:
            drive.tick()
        return dict(ok(http.get(url, headers=h)))

    assert ok(http.post(f"{url}/submit", headers=h))["status"] == "pending"
    ok(http.post(f"{url}/cx-approve", json={"approved_amount": "60000", "remarks": "salary supports it"}, headers=h))
    ok(http.post(f"{url}/sanction", json={"sanctioned_amount": "60000", "remarks": "salary supports it"}, headers=h))
    sent = poll(current, lambda v: bool(v.get("esign")))
    assert sent["esign"], sent["status"]
    ok(httpx.post(sent["esign"]["link"], json={"action": "sign"}, timeout=10))
    queued = poll(current, lambda v: v["status"] == "awaiting_disbursal")
    assert queued["status"] == "awaiting_disbursal", queued["status"]
    file = ok(http.post(f"{API}/payout-files", json={"loan_ids": [loan["id"]]}, headers=h), 201)
    ok(http.post(f"{API}/payout-files/{file['id']}/confirm", headers=h))
    active = poll(current, lambda v: v["status"] == "active")
    assert active["status"] == "active" and active["disbursed_on"] == on.isoformat(), active["status"]
    return loan["id"], customer, phone


def check_due_dates_quiet_hours_opt_outs_retries(
    http: httpx.Client, h: Headers, sims: dict[str, str], drive: Drive = Drive()
) -> dict[str, Any]:
    """Across the first due date: disbursed, due_7/3/1/0 and overdue on the cadence, each once per channel in the
    outboxes; reruns send nothing; a failed delivery retried once; an opt-out and quiet hours recorded."""
    sms, wa = sims["sms"], sims["whatsapp"]
    _settings(http, h, timezone=zone_at(DAY), message_retry_minutes=0, overdue_reminder_days=3)
    on = date(2026, 1, 31)
    loan_id, customer, phone = disbursed_loan(http, h, on, drive)
    due = date.fromisoformat(ok(http.get(f"{API}/loans/{loan_id}", headers=h))["schedule"][0]["due_date"])

    def job() -> None:
        run_job(http, h, "borrower-notifications", drive)

    def texts(sim: str) -> list[str]:
        return [m["text"] for m in _outbox(sim, phone)]

    def kinds(**q: str) -> list[tuple[str, str]]:
        return sorted((m["kind"], m["channel"]) for m in _messages(http, h, loan_id=loan_id, **q))

    job()
    job()
    assert kinds() == [("disbursed", "sms"), ("disbursed", "whatsapp")], kinds()
    told = [t for t in texts(sms) if "disbursed" in t or "credited" in t]
    assert len(told) == 1, told  # one disbursal SMS: the engagement message, no second one from the payout
    sms_n, wa_n = len(texts(sms)), len(texts(wa))

    _settings(http, h, business_date=(due - timedelta(days=7)).isoformat())
    job()
    job()  # a rerun: nothing
    assert (len(texts(sms)), len(texts(wa))) == (sms_n + 1, wa_n + 1), (texts(sms), texts(wa))
    due7 = sorted(c for k, c in kinds() if k == "due_7")
    assert due7 == ["email", "sms", "whatsapp"], kinds()

    # a failed delivery (handset unreachable) is retried by the next run, once
    httpx.post(f"{sms}/faults", json={"switch": "fail_next_deliveries", "args": {"n": 1, "reason": "handset_unreachable", "to": phone}})  # fmt: skip
    _settings(http, h, business_date=(due - timedelta(days=3)).isoformat())
    job()
    failed = poll(lambda: [m for m in _messages(http, h, loan_id=loan_id, channel="sms") if m["kind"] == "due_3"],
                    lambda f: bool(f) and f[0]["status"] == "queued")  # fmt: skip
    assert failed[0]["status"] == "queued" and failed[0]["reason"] == "handset_unreachable", failed
    job()
    job()
    again = poll(lambda: [m for m in _messages(http, h, loan_id=loan_id, channel="sms") if m["kind"] == "due_3"],
                   lambda f: f[0]["status"] == "delivered")  # fmt: skip
    assert again[0]["status"] == "delivered" and again[0]["attempts"] == 2, again
    assert len(texts(sms)) == sms_n + 3, texts(sms)  # due_7, due_3 twice (the failed one and its retry)

    # opt-out of WhatsApp: due_1's WhatsApp recorded suppressed, nothing sent
    ok(http.put(f"{API}/customers/{customer}/messaging-preferences", json={"opted_out": ["whatsapp"], "reason": "asked"}, headers=h))  # fmt: skip
    wa_n = len(texts(wa))
    _settings(http, h, business_date=(due - timedelta(days=1)).isoformat())
    job()
    due1 = {m["channel"]: m for m in _messages(http, h, loan_id=loan_id) if m["kind"] == "due_1"}
    assert due1["whatsapp"]["status"] == "suppressed" and due1["whatsapp"]["reason"] == "opted_out", due1
    assert len(texts(wa)) == wa_n and due1["sms"]["status"] != "suppressed"

    # quiet hours: at night brand time the SMS is deferred and recorded, not sent; email is not held
    _settings(http, h, timezone=zone_at(NIGHT), business_date=due.isoformat())
    sms_n = len(texts(sms))
    job()
    due0 = {m["channel"]: m for m in _messages(http, h, loan_id=loan_id) if m["kind"] == "due_0"}
    assert due0["sms"]["status"] == "deferred" and due0["sms"]["reason"] == "quiet_hours", due0
    assert len(texts(sms)) == sms_n and due0["email"]["status"] in ("sent", "delivered"), due0

    # overdue: day 1 and day 4 on a cadence of 3 (SMS), nothing on days 2 and 3
    _settings(http, h, timezone=zone_at(DAY))
    for day in (1, 2, 3, 4):
        _settings(http, h, business_date=(due + timedelta(days=day)).isoformat())
        job()
    overdue = [m for m in _messages(http, h, loan_id=loan_id, channel="sms") if m["kind"] == "overdue"]
    assert len(overdue) == 2, overdue
    held = next(m for m in _messages(http, h, loan_id=loan_id, channel="sms") if m["kind"] == "due_0")
    assert held["status"] == "deferred" and held["next_attempt_at"], held  # until 08:00 in the zone it was held in
    sms_texts = texts(sms)
    return {"loan_id": loan_id, "customer": customer, "phone": phone, "sms_texts": sms_texts}


def check_webhooks(http: httpx.Client, h: Headers, provider_id: str) -> None:
    """Unsigned 400, forged 401, stale 401: nothing changes."""
    import hmac
    from hashlib import sha256

    raw = (b'{"id": "evt-%s", "type": "message.failed", "created_at": "2026-01-01T00:00:00Z", "data": '
           b'{"message_id": "%s", "status": "failed", "reason": "x"}}' % (uuid.uuid4().hex.encode(), provider_id.encode()))  # fmt: skip
    for channel in ("sms", "whatsapp"):
        assert http.post(f"{API}/webhooks/{channel}", content=raw).status_code == 400
        ts = str(int(time.time()))
        mac = hmac.new(b"not-the-secret", ts.encode() + b"." + raw, sha256).hexdigest()
        forged = http.post(f"{API}/webhooks/{channel}", content=raw, headers={"X-Timestamp": ts, "X-Signature": f"v1={mac}"})  # fmt: skip
        assert forged.status_code == 401, forged.text


def check_hostile_template(http: httpx.Client, h: Headers) -> None:
    url = f"{API}/message-templates"
    email = {"name": f"Hostile {uuid.uuid4().hex[:6]}", "channel": "email", "subject": "For {{borrower_name}}",
             "body": "<p>Dear {{borrower_name}}, pay {{amount}} at {{payment_link}}</p>"}  # fmt: skip
    template = ok(http.post(url, json=email, headers=h), 201)
    hostile = {"borrower_name": "<script>alert(1)</script>{{payment_link}}\r\nBcc: x@evil.example <a href=x>",
               "amount": "<b>10</b>"}  # fmt: skip
    preview = ok(http.post(f"{url}/{template['id']}/preview", json={"variables": hostile}, headers=h))
    body, subject = preview["body"], preview["subject"]
    assert "<script>" not in body and "&lt;script&gt;" in body and "<a href" not in body, body
    assert "\n" not in subject and "\r" not in subject and "<b>" not in body, (subject, body)
    sms = ok(http.post(url, json={"name": f"H sms {uuid.uuid4().hex[:6]}", "channel": "sms", "body": "Hi {{borrower_name}}"}, headers=h), 201)  # fmt: skip
    text = ok(http.post(f"{url}/{sms['id']}/preview", json={"variables": hostile}, headers=h))["body"]
    assert "\n" not in text and "{{payment_link}}" in text, text
    bad = http.post(url, json={"name": "bad", "channel": "sms", "body": "Hi {{nickname}}"}, headers=h)
    assert bad.status_code == 422, bad.text


def check_reminders(http: httpx.Client, h: Headers, sims: dict[str, str], drive: Drive = Drive()) -> None:
    tag = uuid.uuid4().hex[:6]
    phone = f"9{uuid.uuid4().int % 10**7:07d}73"  # never ending 3333 (the simulators treat that specially)
    made = ok(http.post(f"{API}/customers", json={"name": f"Rem {tag} Kumar", "phone": phone}, headers=h), 201)
    tmpl = ok(http.post(f"{API}/message-templates", json={"name": f"Call {tag}", "channel": "sms", "body": "Hi {{borrower_name}}, call us. Pay: {{payment_link}}"}, headers=h), 201)  # fmt: skip
    now = datetime.now(UTC)
    body = {"customer_id": made["id"], "channel": "sms", "template_id": tmpl["id"]}
    due = ok(http.post(f"{API}/reminders", json={**body, "scheduled_at": now.isoformat()}, headers=h), 201)
    later = ok(http.post(f"{API}/reminders", json={**body, "scheduled_at": (now + timedelta(days=2)).isoformat()}, headers=h), 201)  # fmt: skip
    gone = ok(http.post(f"{API}/reminders", json={**body, "scheduled_at": (now + timedelta(days=3)).isoformat()}, headers=h), 201)  # fmt: skip
    assert ok(http.post(f"{API}/reminders/{gone['id']}/cancel", headers=h))["status"] == "cancelled"
    assert http.post(f"{API}/reminders/{gone['id']}/cancel", headers=h).status_code == 409
    run_job(http, h, "reminder-dispatch", drive)
    run_job(http, h, "reminder-dispatch", drive)

    def listed(**q: str) -> set[str]:
        got = ok(http.get(f"{API}/reminders", params={"q": f"Rem {tag}", **q}, headers=h))
        return {r["id"] for r in got["items"]}

    sent = poll(lambda: listed(status="sent"), lambda s: due["id"] in s)
    assert sent == {due["id"]}, sent
    texts = [m["text"] for m in _outbox(sims["sms"], phone) if "call us" in m["text"]]
    assert len(texts) == 1 and re.search(r"/apply/[a-z0-9-]+$", texts[0]), texts  # the brand's portal, not blank
    assert http.get(texts[0].rsplit(" ", 1)[1]).status_code == 200  # a page that opens
    assert listed(status="scheduled") == {later["id"]} and listed(status="cancelled") == {gone["id"]}
    assert listed(channel="sms") == {due["id"], later["id"], gone["id"]} and listed(channel="email") == set()
    zone = ok(http.get(f"{API}/brand/config", headers=h))["settings"]["timezone"]
    local = now.astimezone(ZoneInfo(zone))  # date filters are the brand's dates, not UTC's
    today = local.date().isoformat()
    tomorrow = (local + timedelta(days=1)).date().isoformat()
    assert listed(created_from=today, created_to=tomorrow) == {due["id"], later["id"], gone["id"]}
    assert listed(scheduled_from=tomorrow) == {later["id"], gone["id"]}, (zone, tomorrow, due, later, gone)
    assert listed(scheduled_to=(now + timedelta(days=2, hours=1)).isoformat()) == {due["id"], later["id"]}
    assert {r["id"] for r in ok(http.get(f"{API}/reminders", params={"q": phone[-6:]}, headers=h))["items"]} == {due["id"], later["id"], gone["id"]}  # fmt: skip
    assert http.get(f"{API}/reminders", params={"cursor": "forged"}, headers=h).status_code == 422


def check_staff_acknowledgements(http: httpx.Client, h: Headers) -> None:
    made = ok(http.post(f"{API}/staff-notifications", json={"title": "Audit", "body": "Read me", "priority": "HIGH", "roles": ["admin"]}, headers=h), 201)  # fmt: skip
    mine = ok(http.get(f"{API}/staff-notifications/mine", headers=h))
    assert made["id"] in [n["id"] for n in mine["items"]], mine
    first = ok(http.post(f"{API}/staff-notifications/{made['id']}/ack", headers=h))
    again = ok(http.post(f"{API}/staff-notifications/{made['id']}/ack", headers=h))
    assert first["read_at"] and first["read_at"] == again["read_at"]
    receipts = ok(http.get(f"{API}/staff-notifications/{made['id']}/receipts", headers=h))
    assert receipts["read_count"] == 1, receipts
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    hidden = ok(http.post(f"{API}/staff-notifications", json={"title": "Later", "body": "x", "priority": "LOW", "roles": ["admin"], "publish_at": later}, headers=h), 201)  # fmt: skip
    assert hidden["id"] not in str(ok(http.get(f"{API}/staff-notifications/mine", headers=h)))
    assert http.post(f"{API}/staff-notifications/{hidden['id']}/ack", headers=h).status_code == 404


def check_isolation(http: httpx.Client, h: Headers, other: Headers, loan: dict[str, Any]) -> None:
    assert ok(http.get(f"{API}/messages", params={"loan_id": loan["loan_id"]}, headers=other))["items"] == []
    msg = _messages(http, h, loan_id=loan["loan_id"])[0]
    assert http.get(f"{API}/messages/{msg['id']}", headers=other).status_code == 404


def run_all(http: httpx.Client, h: Headers, other: Headers, sims: dict[str, str], drive: Drive = Drive()) -> None:
    loan = check_due_dates_quiet_hours_opt_outs_retries(http, h, sims, drive)
    sms_msgs = _messages(http, h, loan_id=loan["loan_id"], channel="sms")
    check_webhooks(http, h, sms_msgs[0]["provider_id"])
    check_hostile_template(http, h)
    check_reminders(http, h, sims, drive)
    check_staff_acknowledgements(http, h)
    check_isolation(http, h, other, loan)


def test_engagement_black_box(
    server: str, platform: Any, provider_simulators: dict[str, Any], monkeypatch: Any
) -> None:
    from api.services.disbursals import WEBHOOK_SECRET_ENV
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PUBLIC_BASE_URL", server)  # receipts and the e-sign webhook come back to the test server
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    tenant, other = make_tenant(platform), make_tenant(platform)

    def tick() -> None:
        AgreementWorker(platform.port(AgreementJobPort)).drain(check_queue=True)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    drive = Drive(execute=scheduler_for(platform).execute, tick=tick)
    sims = {name: sim.base_url for name, sim in provider_simulators.items()}
    with httpx.Client(base_url=server, timeout=60) as http:
        run_all(http, tenant.auth, other.auth, sims, drive)


if __name__ == "__main__":
    base, key = sys.argv[1], sys.argv[2]
    with httpx.Client(base_url=base, timeout=60) as live:
        auth = {"Authorization": f"Bearer {key}"}
        other_auth = {"Authorization": f"Bearer {sys.argv[3] if len(sys.argv) > 3 else 'x'}"}
        sims = ok(live.get(f"{API}/dev/simulators", headers=auth))
        before = ok(live.get(f"{API}/brand/config", headers=auth))["settings"]
        try:
            run_all(live, auth, other_auth, sims)
            print("PASS all")
        finally:
            live.patch(
                f"{API}/brand/config", json={k: before.get(k) for k in ("timezone", "business_date")}, headers=auth
            )
