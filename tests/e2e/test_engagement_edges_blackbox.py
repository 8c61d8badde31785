"""Issue #17's borrower notifications at their edges, checked as an outside checker would: through the HTTP API, the
`borrower-notifications` job run through `/api/v1/jobs`, the messages read back from the SMS and WhatsApp
simulators' outboxes and the SMTP sink. The loans are set up in process (the HTTP walk to disbursal is
tests/e2e/test_engagement_blackbox.py's); everything checked goes through HTTP.

What the other engagement tests do not walk: a delivery receipt of an earlier attempt arriving late (out of order)
after its retry was queued; an opt-out recorded while a message waits for quiet hours to end or for its retry; a
message held for quiet hours sent once they end (never twice), held until 08:00 in a daylight-saving zone; the
business date jumping several days; a loan paid in advance, in part, on its due date before the job, and closed;
hostile placeholder values in the messages really sent on SMS, WhatsApp and email; two job runs at once. Every
test sets the brand's timezone from the real clock (`zone_at`), so it passes at any hour."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, NIGHT, poll, staff_session, zone_at
from tests.e2e.test_engagement import configure, messages, run_job
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue"]

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan (85,000 disbursed 2026-01-31): 8,037.57
EMI = "8,037.57"


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


#: Zones that keep daylight saving, far from IST on both sides (each hour of the day is night in one of them).
DST_ZONES = ("America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
             "America/Halifax", "America/Santiago", "Atlantic/Azores", "Europe/London", "Europe/Berlin",
             "Europe/Athens", "Australia/Adelaide", "Australia/Sydney", "Pacific/Auckland")  # fmt: skip


def night_zone() -> str:
    """A daylight-saving zone whose local hour now is a quiet (night) one; a fixed offset when none is."""
    now = datetime.now(UTC)
    found = [z for z in DST_ZONES if now.astimezone(ZoneInfo(z)).hour in NIGHT]
    return found[0] if found else zone_at(NIGHT)


def _loan(platform: Any, tenant: Tenant) -> tuple[str, str, str]:
    """A loan disbursed on 2026-01-31 (the business date left there): (loan id, customer id, phone)."""
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    with platform.db.pool.connection() as conn:
        row = conn.execute(
            "SELECT c.id, c.phone FROM read.customers c JOIN read.engagement_loans l ON l.customer_id = c.id "
            "WHERE l.loan_id = %s",
            (loan_id,),
        ).fetchone()
    return str(loan_id), str(row["id"]), str(row["phone"])


def _of(server: str, tenant: Tenant, loan_id: str, kind: str, channel: str) -> list[dict[str, Any]]:
    return [m for m in messages(server, tenant, loan_id=loan_id, channel=channel) if m["kind"] == kind]


def _receipt(server: str, channel: str, data: dict[str, Any]) -> httpx.Response:
    raw = json.dumps({"id": f"evt-{uuid.uuid4().hex}", "type": f"message.{data['status']}",
                      "created_at": datetime.now(UTC).isoformat(), "data": data}).encode()  # fmt: skip
    return httpx.post(f"{server}/api/v1/webhooks/{channel}", content=raw,
                      headers=sign(PROVIDER_WEBHOOK_SECRET, raw, int(time.time())))  # fmt: skip


def _opt_out(server: str, tenant: Tenant, customer: str, channels: list[str]) -> None:
    answer = httpx.put(f"{server}/api/v1/customers/{customer}/messaging-preferences",
                       json={"opted_out": channels, "reason": "asked on a call"}, headers=tenant.auth)  # fmt: skip
    assert answer.status_code == 200, answer.text


def _quiet_hours_end(platform: Any, message_id: str) -> None:
    """08:00 brand time has come for a message held for quiet hours (the clock cannot be moved from outside)."""
    with platform.db.pool.connection() as conn:
        conn.execute(
            "UPDATE ops.messages SET next_attempt_at = now() - interval '1 second' WHERE id = %s", (message_id,)
        )


def test_a_late_receipt_of_an_earlier_attempt_neither_cancels_its_retry_nor_queues_another(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=0)
    loan_id, _, phone = _loan(platform, tenant)
    run_job(server, platform, tenant)
    set_business_date(platform, tenant, DUE - timedelta(days=7))
    sms.fail_next_deliveries(1, "handset_unreachable", to=phone)
    run_job(server, platform, tenant)
    queued = poll(lambda: _of(server, tenant, loan_id, "due_7", "sms"), lambda f: f and f[0]["status"] == "queued")
    assert queued[0]["status"] == "queued" and queued[0]["attempts"] == 2, queued
    first = next(m for m in sms.messages(phone) if EMI in m["text"])

    # The first attempt's `sent` receipt arrives late (a provider's retried webhook), after its `failed` one.
    late = _receipt(server, "sms", {"message_id": first["message_id"], "reference": f"{queued[0]['id']}.1",
                                    "status": "sent", "reason": None})  # fmt: skip
    assert late.status_code == 200, late.text
    still = _of(server, tenant, loan_id, "due_7", "sms")[0]
    assert still["status"] == "queued" and still["attempts"] == 2, still  # the retry is still owed

    run_job(server, platform, tenant)  # the retry goes out: attempt 2
    done = poll(lambda: _of(server, tenant, loan_id, "due_7", "sms"), lambda f: f[0]["status"] == "delivered")
    assert done[0]["status"] == "delivered" and done[0]["attempts"] == 2, done
    assert len([m for m in sms.messages(phone) if EMI in m["text"]]) == 2

    # A late `failed` of attempt 1 (a new event id) after attempt 2 was delivered: nothing changes, no third send.
    again = _receipt(server, "sms", {"message_id": first["message_id"], "reference": f"{queued[0]['id']}.1",
                                     "status": "failed", "reason": "handset_unreachable"})  # fmt: skip
    assert again.status_code == 200, again.text
    run_job(server, platform, tenant)
    final = _of(server, tenant, loan_id, "due_7", "sms")[0]
    assert final["status"] == "delivered" and final["attempts"] == 2, final
    assert len([m for m in sms.messages(phone) if EMI in m["text"]]) == 2


def test_a_late_failed_receipt_of_an_earlier_attempt_does_not_send_a_third_time(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=0)
    loan_id, _, phone = _loan(platform, tenant)
    run_job(server, platform, tenant)
    set_business_date(platform, tenant, DUE - timedelta(days=3))
    sms.fail_next_deliveries(1, "handset_unreachable", to=phone)
    run_job(server, platform, tenant)
    queued = poll(lambda: _of(server, tenant, loan_id, "due_3", "sms"), lambda f: f and f[0]["status"] == "queued")
    message_id = queued[0]["id"]
    run_job(server, platform, tenant)  # attempt 2 handed over
    sent = poll(lambda: _of(server, tenant, loan_id, "due_3", "sms"), lambda f: f[0]["status"] == "delivered")
    assert sent[0]["attempts"] == 2, sent
    # attempt 2 is `sent` (its delivery receipt not in yet) when a second `failed` of attempt 1 comes in
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE ops.messages SET status = 'sent', delivered_at = NULL WHERE id = %s", (message_id,))
    late = _receipt(server, "sms", {"message_id": "sms-old", "reference": f"{message_id}.1", "status": "failed",
                                    "reason": "handset_unreachable"})  # fmt: skip
    assert late.status_code == 200, late.text
    after = _of(server, tenant, loan_id, "due_3", "sms")[0]
    assert after["status"] == "sent" and after["attempts"] == 2, after
    run_job(server, platform, tenant)
    assert len([m for m in sms.messages(phone) if "in 3 days" in m["text"]]) == 2


def test_an_opt_out_recorded_while_a_message_waits_stops_it_and_the_rest_goes_once_after_quiet_hours(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms, wa = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    # The retry waits an hour: due on the due date's run, a `due_1` is superseded by `due_0` before any opt-out.
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=60)
    loan_id, customer, phone = _loan(platform, tenant)
    run_job(server, platform, tenant)

    # a retry waiting (due_1 WhatsApp failed, retryable) ...
    set_business_date(platform, tenant, DUE - timedelta(days=1))
    wa.fail_next_deliveries(1, "handset_unreachable", to=phone)
    run_job(server, platform, tenant)
    poll(lambda: _of(server, tenant, loan_id, "due_1", "whatsapp"), lambda f: f and f[0]["status"] == "queued")
    # ... and due_0 held for quiet hours, on both channels, until 08:00 in the brand's zone
    night = night_zone()
    configure(platform, tenant, timezone=night)
    set_business_date(platform, tenant, DUE)
    wa_before, sms_before = len(wa.messages(phone)), len(sms.messages(phone))
    run_job(server, platform, tenant)
    held = {c: _of(server, tenant, loan_id, "due_0", c)[0] for c in ("sms", "whatsapp")}
    local = datetime.now(ZoneInfo(night))
    morning = datetime.combine(local.date() + timedelta(days=local.hour >= 8), dt_time(8), ZoneInfo(night))
    for message in held.values():
        assert message["status"] == "deferred" and message["reason"] == "quiet_hours", held
        assert datetime.fromisoformat(message["next_attempt_at"]) == morning, (night, held)  # 08:00 there
    assert (len(wa.messages(phone)), len(sms.messages(phone))) == (wa_before, sms_before)

    # the borrower opts out of WhatsApp meanwhile; the morning comes
    _opt_out(server, tenant, customer, ["whatsapp"])
    configure(platform, tenant, timezone=zone_at(DAY))
    for message in held.values():
        _quiet_hours_end(platform, message["id"])
    _quiet_hours_end(platform, _of(server, tenant, loan_id, "due_1", "whatsapp")[0]["id"])
    run_job(server, platform, tenant)
    run_job(server, platform, tenant)  # a rerun sends nothing more
    now = {c: _of(server, tenant, loan_id, "due_0", c)[0] for c in ("sms", "whatsapp")}
    assert now["whatsapp"]["status"] == "suppressed" and now["whatsapp"]["reason"] == "opted_out", now
    retry = _of(server, tenant, loan_id, "due_1", "whatsapp")[0]
    assert retry["status"] == "suppressed" and retry["reason"] == "opted_out", retry
    assert len(wa.messages(phone)) == wa_before  # neither the held message nor the retry reached WhatsApp
    # the SMS held for quiet hours went out once they ended, once
    assert poll(lambda: _of(server, tenant, loan_id, "due_0", "sms")[0]["status"], lambda s: s == "delivered") == (
        "delivered"
    )
    assert len([m for m in sms.messages(phone) if "is due today" in m["text"]]) == 1


def test_quiet_hours_end_at_eight_in_a_daylight_saving_zone_and_bound_exactly() -> None:
    from api.services.engagement_delivery import BrandMessaging

    york = ZoneInfo("America/New_York")
    brand = BrandMessaging(uuid.uuid4(), "B", "America/New_York", {}, {}, 10, 3)

    def at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=york)

    for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 10, 31), date(2026, 11, 1)):  # around both changes
        assert brand.quiet_until("sms", at(day, 20, 59, 59)) is None
        assert brand.quiet_until("sms", at(day, 8, 0)) is None
        ends = brand.quiet_until("whatsapp", at(day, 21, 0))
        assert ends == at(day + timedelta(days=1), 8, 0), (day, ends)
        assert brand.quiet_until("sms", at(day, 7, 59, 59)) == at(day, 8, 0)
        assert brand.quiet_until("email", at(day, 23, 0)) is None
    # 08:00 EDT on the day clocks go forward is 12:00 UTC; 08:00 EST on the day they go back is 13:00 UTC
    assert brand.quiet_until("sms", at(date(2026, 3, 7), 22, 0)).astimezone(UTC).hour == 12  # type: ignore[union-attr]
    assert brand.quiet_until("sms", at(date(2026, 10, 31), 22, 0)).astimezone(UTC).hour == 13  # type: ignore[union-attr]


def test_a_jump_of_several_days_sends_only_what_the_new_date_owes(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    """docs/engagement.md: each phase is "as of the business date D" (due on D+7, D+3, D+1, D; overdue on the
    cadence): a date moved past D-7 to D-2 owes nothing missed; to D+5 only the overdue cycle of day 5."""
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), overdue_reminder_days=3)
    loan_id, _, phone = _loan(platform, tenant)
    run_job(server, platform, tenant)
    set_business_date(platform, tenant, DUE - timedelta(days=2))
    run_job(server, platform, tenant)
    kinds = {m["kind"] for m in messages(server, tenant, loan_id=loan_id)}
    assert kinds == {"disbursed"}, kinds
    set_business_date(platform, tenant, DUE + timedelta(days=5))
    run_job(server, platform, tenant)
    run_job(server, platform, tenant)
    overdue = [m for m in messages(server, tenant, loan_id=loan_id) if m["kind"] != "disbursed"]
    assert sorted((m["kind"], m["channel"]) for m in overdue) == [("overdue", "sms"), ("overdue", "whatsapp")], overdue
    assert len([m for m in sms.messages(phone) if "overdue" in m["text"].lower()]) == 1


def test_paid_in_part_in_advance_on_the_due_date_and_in_full(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    loan_id, _, phone = _loan(platform, tenant)
    url = f"{server}/api/v1/loans/{loan_id}"

    def pay(amount: str, on: date) -> dict[str, Any]:
        body = {"amount": amount, "mode": "upi", "reference": f"UTR-{uuid.uuid4().hex[:8]}", "paid_on": on.isoformat()}
        answer = httpx.post(f"{url}/repayments", json=body, headers=tenant.auth)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    # 3,000 paid ten days early: the 7-day reminder asks for what is left of the instalment, as the loan shows it
    set_business_date(platform, tenant, DUE - timedelta(days=10))
    pay("3000.00", DUE - timedelta(days=10))
    set_business_date(platform, tenant, DUE - timedelta(days=7))
    run_job(server, platform, tenant)
    loan = httpx.get(url, headers=tenant.auth).json()
    owed = loan["next_due"]["amount"]
    assert owed == "5037.57", loan["next_due"]
    texts = [m["text"] for m in sms.messages(phone) if "in 7 days" in m["text"]]
    assert len(texts) == 1 and "5,037.57" in texts[0] and EMI not in texts[0], texts

    # the rest paid on the due date before the job runs: no due-date message for it
    set_business_date(platform, tenant, DUE)
    pay("5037.57", DUE)
    run_job(server, platform, tenant)
    assert _of(server, tenant, loan_id, "due_0", "sms") == []
    # the next instalment's reminders still come (due 2026-03-31)
    set_business_date(platform, tenant, date(2026, 3, 24))
    run_job(server, platform, tenant)
    assert len([m for m in messages(server, tenant, loan_id=loan_id) if m["kind"] == "due_7"]) == 4  # 2 x sms, wa

    # paid off: the fully-paid message (SMS), nothing more after
    payoff = httpx.get(f"{url}/payoff", headers=tenant.auth)
    assert payoff.status_code == 200, payoff.text
    pay(str(payoff.json()["total"]), date(2026, 3, 24))
    run_job(server, platform, tenant)
    assert [m["channel"] for m in messages(server, tenant, loan_id=loan_id) if m["kind"] == "paid"] == ["sms"]
    count = len(messages(server, tenant, loan_id=loan_id))
    for day in (date(2026, 3, 28), date(2026, 3, 31), date(2026, 4, 5)):
        set_business_date(platform, tenant, day)
        run_job(server, platform, tenant)
    assert len(messages(server, tenant, loan_id=loan_id)) == count


def test_hostile_borrower_name_is_one_safe_line_on_sms_and_whatsapp_and_escaped_in_the_email(
    server: str, platform: Any, provider_simulators: Any, mail_sink: Any
) -> None:
    sms, wa = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    phone = mobile("97")
    address = f"h.{uuid.uuid4().hex[:8]}@example.in"
    made = httpx.post(f"{server}/api/v1/customers", headers=tenant.auth, json={
        "name": "<img src=x onerror=alert(1)> Ravi", "phone": phone, "email": address})  # fmt: skip
    assert made.status_code == 201, made.text
    customer = made.json()["id"]
    refused = httpx.post(f"{server}/api/v1/messages", headers=tenant.auth, json={
        "customer_id": customer, "channel": "sms", "kind": "due_0", "variables": {"amount": "1 \u202eZ"},
        "idempotency_key": "bidi"})  # fmt: skip
    assert refused.status_code == 422 and "variables.amount" in refused.text, refused.text  # an override: refused
    for channel in ("sms", "whatsapp", "email"):
        answer = httpx.post(f"{server}/api/v1/messages", headers=tenant.auth, json={
            "customer_id": customer, "channel": channel, "kind": "due_0",
            "variables": {"amount": "<b>₹1</b>\r\nBcc: x@evil.example مرحبا",
                          "due_date": "{{payment_link}}" + "Ж" * 400},
            "idempotency_key": f"hostile-{channel}"})  # fmt: skip
        assert answer.status_code == 201, answer.text
    for text in (sms.messages(phone)[0]["text"], wa.messages(phone)[0]["text"]):
        assert "\n" not in text and "\r" not in text, text
        assert "<img src=x onerror=alert(1)> Ravi" in text and "{{payment_link}}" + "Ж" * 184 in text, text
        assert "Ж" * 185 not in text and "<b>₹1</b> Bcc: x@evil.example مرحبا" in text, text  # one line, 200 at most
    mail = poll(lambda: [m for m in mail_sink.messages if address in str(m["To"])], bool)
    assert len(mail) == 1
    html_part = next(p for p in mail[0].walk() if p.get_content_type() == "text/html").get_content()
    assert "<img" not in html_part and "&lt;img" in html_part and "<b>" not in html_part, html_part
    assert "Bcc" not in str(mail[0]["Subject"] or "") and not mail[0]["Bcc"], mail[0]["Subject"]


def test_two_runs_at_once_send_one_message_per_key(server: str, platform: Any, provider_simulators: Any) -> None:
    from workers.runtime import scheduler_for

    sms, wa = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    loans = [_loan(platform, tenant) for _ in range(3)]
    set_business_date(platform, tenant, DUE - timedelta(days=7))
    runs = []
    for _ in range(2):
        accepted = httpx.post(f"{server}/api/v1/jobs/borrower-notifications/runs", json={}, headers=tenant.auth)
        assert accepted.status_code == 202, accepted.text
        runs.append(accepted.json()["run_id"])
    scheduler = scheduler_for(platform)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(scheduler.execute, runs))
    settle(platform, "jobs")
    ended = [httpx.get(f"{server}/api/v1/jobs/runs/{run}", headers=tenant.auth).json()["status"] for run in runs]
    assert ended == ["succeeded", "succeeded"], ended
    for loan_id, _, phone in loans:
        got = sorted((m["kind"], m["channel"]) for m in messages(server, tenant, loan_id=loan_id))
        assert got == [("due_7", "sms"), ("due_7", "whatsapp")], got  # (disbursed more than 3 days before)
        assert len([m for m in sms.messages(phone) if "in 7 days" in m["text"]]) == 1
        assert len([m for m in wa.messages(phone) if EMI in m["text"]]) == 1


def test_a_holiday_moves_the_reminders_with_the_due_date_and_a_written_off_loan_gets_none(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    # 28 Feb 2026 a holiday and 1 Mar a Sunday: instalment 1 falls due on Monday 2 Mar
    configure(platform, tenant, timezone=zone_at(DAY), overdue_reminder_days=3, repayment_holidays=[DUE])
    loan_id, _, phone = _loan(platform, tenant)
    loan = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    moved = date(2026, 3, 2)
    assert loan["schedule"][0]["due_date"] == moved.isoformat(), loan["schedule"][0]
    run_job(server, platform, tenant)
    for days in (7, 3):
        set_business_date(platform, tenant, DUE - timedelta(days=days))  # the unmoved date's reminders: none
        run_job(server, platform, tenant)
    assert {m["kind"] for m in messages(server, tenant, loan_id=loan_id)} == {"disbursed"}
    for days in (7, 3, 1, 0):
        set_business_date(platform, tenant, moved - timedelta(days=days))
        run_job(server, platform, tenant)
    got = sorted(
        (m["kind"], m["channel"]) for m in messages(server, tenant, loan_id=loan_id) if m["kind"] != "disbursed"
    )
    assert got == sorted((k, c) for k in ("due_7", "due_3", "due_1", "due_0") for c in ("sms", "whatsapp")), got
    assert all("02 Mar 2026" in m["text"] for m in sms.messages(phone) if "instalment" in m["text"])

    set_business_date(platform, tenant, moved + timedelta(days=1))
    run_job(server, platform, tenant)
    assert len([m for m in messages(server, tenant, loan_id=loan_id, channel="sms") if m["kind"] == "overdue"]) == 1
    off = httpx.post(f"{server}/api/v1/loans/{loan_id}/write-off", json={"reason": "borrower unreachable for months"},
                     headers=tenant.auth)  # fmt: skip
    assert off.status_code in (200, 201), off.text
    count = len(messages(server, tenant, loan_id=loan_id))
    for days in (4, 7, 30):  # overdue cycles 1, 2 and 9 would be owed were it still serviced
        set_business_date(platform, tenant, moved + timedelta(days=days))
        run_job(server, platform, tenant)
    assert len(messages(server, tenant, loan_id=loan_id)) == count


def test_a_reminder_held_for_quiet_hours_whose_borrower_opts_out_fails_unsent(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    from tests.e2e.test_reminders import borrower, dispatch, sms_template

    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=night_zone())
    customer, phone = borrower(server, tenant, "Nila Das")
    body = {"customer_id": customer, "channel": "sms", "template_id": sms_template(server, tenant),
            "scheduled_at": datetime.now(UTC).isoformat()}  # fmt: skip
    made = httpx.post(f"{server}/api/v1/reminders", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    reminder = f"{server}/api/v1/reminders/{made.json()['id']}"
    assert dispatch(server, platform, tenant)["status"] == "succeeded"
    held = httpx.get(reminder, headers=tenant.auth).json()
    assert held["status"] == "sent" and held["message_status"] == "deferred", held
    _opt_out(server, tenant, customer, ["sms"])
    configure(platform, tenant, timezone=zone_at(DAY))
    _quiet_hours_end(platform, held["message_id"])
    run_job(server, platform, tenant)  # sends what is due of the brand's, reminders' messages too
    dispatch(server, platform, tenant)
    now = httpx.get(reminder, headers=tenant.auth).json()
    assert now["status"] == "failed" and now["message_status"] == "suppressed", now
    assert sms.messages(phone) == []


# A reminder held overnight (quiet hours) or queued for its retry is checked again when it goes: still owed, by the
# rule the job composed it by (the engagement dues read model), or recorded `suppressed` and never sent.


def _pay(server: str, tenant: Tenant, loan_id: str, amount: str, on: date) -> None:
    body = {"amount": amount, "mode": "upi", "reference": f"UTR-{uuid.uuid4().hex[:8]}", "paid_on": on.isoformat()}
    answer = httpx.post(f"{server}/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
    assert answer.status_code == 201, answer.text


def _hold(server: str, platform: Any, tenant: Tenant, day: date, loans: list[str], kind: str) -> list[str]:
    """The job run at night on `day`: each loan's `kind` reminder held for quiet hours on SMS and WhatsApp; their ids."""
    configure(platform, tenant, timezone=zone_at(NIGHT))
    set_business_date(platform, tenant, day)
    run_job(server, platform, tenant)
    held = [m for loan_id in loans for c in ("sms", "whatsapp") for m in _of(server, tenant, loan_id, kind, c)]
    assert len(held) == 2 * len(loans), held
    assert all(m["status"] == "deferred" and m["reason"] == "quiet_hours" for m in held), held
    return [m["id"] for m in held]


def _morning(server: str, platform: Any, tenant: Tenant, held: list[str]) -> dict[str, Any]:
    """08:00 comes for the held messages: the job's run (its counts)."""
    configure(platform, tenant, timezone=zone_at(DAY))
    for message_id in held:
        _quiet_hours_end(platform, message_id)
    return run_job(server, platform, tenant)


def _loans_by_day(server: str, platform: Any, tenant: Tenant, count: int) -> list[tuple[str, str, str]]:
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=0)
    loans = [_loan(platform, tenant) for _ in range(count)]
    run_job(server, platform, tenant)  # their disbursal messages, by day
    return loans


def test_a_reminder_held_overnight_for_an_instalment_paid_since_is_suppressed_and_an_unpaid_one_goes_once(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    from tests.e2e.conftest import PASSWORD
    from tests.e2e.test_notice_match_confirm import _member

    sms, wa = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    (paid, paid_customer, paid_phone), (unpaid, _, unpaid_phone) = _loans_by_day(server, platform, tenant, 2)
    held = _hold(server, platform, tenant, DUE, [paid, unpaid], "due_0")
    _pay(server, tenant, paid, "8037.57", DUE)  # the instalment, in full, at night after the reminder was held

    run = _morning(server, platform, tenant, held)
    # the run's counts: the pending phase's 2 suppressed (processed and skipped) and 2 sent; the due_0 phase composes
    # the unpaid loan's 2 again (its email key is free: the borrower has no address) and skips them, as before
    assert (run["processed"], run["succeeded"], run["skipped"], run["failed"]) == (6, 2, 4, 0), run
    for channel in ("sms", "whatsapp"):
        (stopped,) = _of(server, tenant, paid, "due_0", channel)
        assert stopped["status"] == "suppressed" and stopped["reason"] == "no_longer_due", stopped
        assert stopped["next_attempt_at"] is None, stopped
        gone = poll(lambda c=channel: _of(server, tenant, unpaid, "due_0", c), lambda f: f[0]["status"] == "delivered")
        assert gone[0]["status"] == "delivered", gone
    assert [m for m in sms.messages(paid_phone) if "due today" in m["text"]] == []
    assert [m for m in wa.messages(paid_phone) if EMI in m["text"]] == []
    run_job(server, platform, tenant)  # a rerun sends nothing more
    assert len([m for m in sms.messages(unpaid_phone) if "due today" in m["text"] and EMI in m["text"]]) == 1
    assert len([m for m in wa.messages(unpaid_phone) if EMI in m["text"]]) == 1
    listed = messages(server, tenant, customer_id=paid_customer, status="suppressed")
    assert sorted((m["kind"], m["channel"], m["reason"]) for m in listed) == [
        ("due_0", "sms", "no_longer_due"), ("due_0", "whatsapp", "no_longer_due")
    ], listed  # fmt: skip

    # the Customer 360's messaging card says so
    browser = staff_session(server, _member(platform, tenant, "admin"), PASSWORD)
    try:
        page = browser.get(f"/customers/{paid_customer}")
        assert page.status_code == 200, page.text[:400]
        card = page.text[page.text.index('id="recent-messages"') :]
        card = card[: card.index("</ul>")]
        assert card.count('data-status="suppressed" data-reason="no_longer_due"') == 2, card
        assert "no longer owed" in card, card
    finally:
        browser.close()


def test_a_loan_paid_off_or_written_off_while_its_reminder_is_held_gets_none(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    (closed, _, closed_phone), (written, _, written_phone) = _loans_by_day(server, platform, tenant, 2)
    held = _hold(server, platform, tenant, DUE - timedelta(days=7), [closed, written], "due_7")
    payoff = httpx.get(f"{server}/api/v1/loans/{closed}/payoff", headers=tenant.auth)
    assert payoff.status_code == 200, payoff.text
    _pay(server, tenant, closed, str(payoff.json()["total"]), DUE - timedelta(days=7))
    off = httpx.post(f"{server}/api/v1/loans/{written}/write-off", json={"reason": "borrower deceased, no estate"},
                     headers=tenant.auth)  # fmt: skip
    assert off.status_code in (200, 201), off.text
    assert httpx.get(f"{server}/api/v1/loans/{written}", headers=tenant.auth).json()["status"] == "written_off"

    _morning(server, platform, tenant, held)
    for loan_id in (closed, written):
        got = [
            (m["status"], m["reason"]) for c in ("sms", "whatsapp") for m in _of(server, tenant, loan_id, "due_7", c)
        ]
        assert got == [("suppressed", "no_longer_due")] * 2, (loan_id, got)
    assert [m for m in sms.messages(closed_phone) if "in 7 days" in m["text"]] == []
    assert [m for m in sms.messages(written_phone) if "in 7 days" in m["text"]] == []
    # the paid-off loan's fully-paid message went, by day
    assert [m["channel"] for m in messages(server, tenant, loan_id=closed) if m["kind"] == "paid"] == ["sms"]


def test_due_reminders_held_past_their_day_give_way_to_the_next_one(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    """docs/engagement.md: "due tomorrow" held into the due date and "due today" held into the next day are
    suppressed `superseded` - the next reminder of the cadence (here the first overdue one) speaks for the instalment."""
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    ((loan_id, _, phone),) = _loans_by_day(server, platform, tenant, 1)
    held = _hold(server, platform, tenant, DUE - timedelta(days=1), [loan_id], "due_1")
    held += _hold(server, platform, tenant, DUE, [loan_id], "due_0")
    set_business_date(platform, tenant, DUE + timedelta(days=1))
    _morning(server, platform, tenant, held)
    for kind in ("due_1", "due_0"):
        got = [(m["status"], m["reason"]) for c in ("sms", "whatsapp") for m in _of(server, tenant, loan_id, kind, c)]
        assert got == [("suppressed", "superseded")] * 2, (kind, got)
    texts = [m["text"] for m in sms.messages(phone) if EMI in m["text"]]
    assert len(texts) == 1 and "1 days overdue" in texts[0], texts  # the overdue reminder alone


def test_a_part_paid_while_a_reminder_is_held_leaves_it_asking_for_the_rest(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    ((loan_id, _, phone),) = _loans_by_day(server, platform, tenant, 1)
    held = _hold(server, platform, tenant, DUE - timedelta(days=3), [loan_id], "due_3")
    assert all(EMI in m["body"] for c in ("sms", "whatsapp") for m in _of(server, tenant, loan_id, "due_3", c))
    _pay(server, tenant, loan_id, "3000.00", DUE - timedelta(days=3))
    _morning(server, platform, tenant, held)
    sent = poll(lambda: _of(server, tenant, loan_id, "due_3", "sms"), lambda f: f[0]["status"] == "delivered")
    assert sent[0]["status"] == "delivered" and "5,037.57" in sent[0]["body"] and EMI not in sent[0]["body"], sent
    texts = [m["text"] for m in sms.messages(phone) if "in 3 days" in m["text"]]
    assert len(texts) == 1 and "5,037.57" in texts[0] and EMI not in texts[0], texts
    run_job(server, platform, tenant)
    assert len([m for m in sms.messages(phone) if "in 3 days" in m["text"]]) == 1
