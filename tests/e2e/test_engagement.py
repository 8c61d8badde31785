"""Engagement through the API and the simulators over HTTP (issue #17): templates (defaults, versions, hostile
values escaped, WhatsApp approval), the `borrower-notifications` job across due dates (exactly one message per
loan, instalment, kind and channel across reruns), signed receipts (forged refused, repeats once), a failed
delivery retried, opt-outs and quiet hours recorded, brand isolation and roles."""

from __future__ import annotations

import html
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.identity.application import Identity
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, NIGHT, poll, zone_at
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan (disbursed 2026-01-31)


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


def configure(platform: Any, tenant: Tenant, **settings: Any) -> None:
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, settings)
    settle(platform, "identity", result.position)


def run_job(server: str, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = httpx.post(f"{server}/api/v1/jobs/borrower-notifications/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    answer = httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=tenant.auth)
    return dict(answer.json())


def messages(server: str, tenant: Tenant, **query: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/api/v1/messages", params=query, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _phone(platform: Any, tenant: Tenant, loan_id: UUID) -> str:
    from domain.loans.application import Loans

    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    with platform.db.pool.connection() as conn:
        row = conn.execute("SELECT phone FROM read.customers WHERE id = %s", (loan.customer_id,)).fetchone()
    return str(row["phone"])


def test_templates_versions_preview_escaping_approval_and_isolation(server: str, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    url = f"{server}/api/v1/message-templates"
    listed = httpx.get(url, params={"limit": 200}, headers=tenant.auth).json()["items"]
    assert {(t["kind"], t["channel"], t["language"]) for t in listed} >= {
        ("due_7", "sms", "hi"),
        ("paid", "email", "en"),
    }
    assert all(t["approval"] == "approved" for t in listed if t["channel"] == "whatsapp")

    bad = httpx.post(url, json={"name": "x1 promo", "channel": "sms", "body": "Hi {{nickname}}"}, headers=tenant.auth)
    assert bad.status_code == 422 and "nickname" in bad.text
    email = {"name": "Hostile test", "channel": "email", "subject": "For {{borrower_name}}",
             "body": "<p>Dear {{borrower_name}}, pay {{amount}}</p>"}  # fmt: skip
    made = httpx.post(url, json=email, headers=tenant.auth)
    assert made.status_code == 201, made.text
    template = made.json()
    assert template["version"] == 1
    again = httpx.post(url, json={**email, "kind": "paid"}, headers=tenant.auth)  # the same name: another kind
    assert again.status_code == 409 and again.json()["kind"] == "custom" and again.json()["id"] == template["id"]
    assert httpx.get(f"{url}/{template['id']}", headers=tenant.auth).json()["version"] == 1  # nothing saved
    changed = httpx.put(f"{url}/{template['id']}", json={"subject": "To {{borrower_name}}",
                        "body": "<p>Hello {{borrower_name}}: {{amount}} by {{due_date}}</p>"}, headers=tenant.auth)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["version"] == 2
    hostile = {"borrower_name": "<script>alert(1)</script>{{payment_link}}\nPAY AT evil.example", "amount": "₹10"}
    preview = httpx.post(f"{url}/{template['id']}/preview", json={"variables": hostile}, headers=tenant.auth)
    assert preview.status_code == 200, preview.text
    body = preview.json()["body"]
    assert "<script>" not in body and "&lt;script&gt;" in body and "{{payment_link}}" in body
    assert "https://pay" not in body and "\n" not in body and preview.json()["version"] == 2
    assert "\n" not in preview.json()["subject"]
    draft = httpx.post(f"{url}/{template['id']}/preview", json={"subject": "Draft for {{borrower_name}}"},
                       headers=tenant.auth)  # fmt: skip
    assert draft.status_code == 200, draft.text  # a draft of the subject alone: the saved body, the draft's subject
    assert draft.json()["subject"].startswith("Draft for ") and "Hello " in draft.json()["body"]
    sms = next(t for t in listed if t["channel"] == "sms")
    no_subject = httpx.post(f"{url}/{sms['id']}/preview", json={"subject": "An SMS has none"}, headers=tenant.auth)
    assert no_subject.status_code == 422 and no_subject.json()["errors"][0]["field"] == "subject"

    wa = httpx.post(url, json={"name": "WA custom", "channel": "whatsapp", "body": "Hi {{borrower_name}}"},
                    headers=tenant.auth).json()  # fmt: skip
    assert wa["approval"] == "pending"
    approved = httpx.post(f"{url}/{wa['id']}/approval", json={"state": "approved"}, headers=tenant.auth)
    assert approved.status_code == 200 and approved.json()["approval"] == "approved"

    assert httpx.get(f"{url}/{template['id']}", headers=other.auth).status_code == 404
    assert httpx.post(f"{url}/{template['id']}/preview", json={}, headers=other.auth).status_code == 404
    collector = make_tenant(platform, role="collection_executive")
    assert httpx.post(url, json=email, headers=collector.auth).status_code == 403


def test_due_date_reminders_once_per_key_receipts_retries_opt_outs_and_quiet_hours(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    sms, wa = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=0)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    phone = _phone(platform, tenant, loan_id)

    first = run_job(server, platform, tenant)
    assert first["status"] == "succeeded", first
    # The disbursal confirmation: SMS and WhatsApp, once.
    assert [m["kind"] for m in messages(server, tenant, loan_id=str(loan_id))] == ["disbursed", "disbursed"]
    # the run counts messages (one loan's confirmation is two), never more outcomes than items processed
    assert first["succeeded"] == 2 and first["processed"] >= first["succeeded"] + first["failed"] + first["skipped"]

    set_business_date(platform, tenant, DUE - timedelta(days=7))
    sms_before, wa_before = len(sms.messages(phone)), len(wa.messages(phone))
    run_job(server, platform, tenant)
    run_job(server, platform, tenant)  # a rerun sends nothing
    assert len(sms.messages(phone)) == sms_before + 1 and len(wa.messages(phone)) == wa_before + 1
    assert "8,037.57" in sms.messages(phone)[0]["text"] and "28 Feb 2026" in sms.messages(phone)[0]["text"]
    due7 = [m for m in messages(server, tenant, loan_id=str(loan_id)) if m["kind"] == "due_7"]
    assert sorted(m["channel"] for m in due7) == ["sms", "whatsapp"] and all(m["instalment"] == 1 for m in due7)
    delivered = poll(lambda: messages(server, tenant, loan_id=str(loan_id), status="delivered"),
                      lambda found: len(found) >= 4)  # fmt: skip
    assert len(delivered) >= 4 and all(m["provider_id"] for m in delivered)

    # A failed delivery (handset unreachable) is retried per the policy: the next run sends it again, once.
    sms.fail_next_deliveries(1, "handset_unreachable", to=phone)
    set_business_date(platform, tenant, DUE - timedelta(days=3))
    run_job(server, platform, tenant)
    failed = poll(lambda: [m for m in messages(server, tenant, loan_id=str(loan_id), channel="sms")
                            if m["kind"] == "due_3"], lambda f: f and f[0]["status"] == "queued")  # fmt: skip
    assert failed[0]["reason"] == "handset_unreachable" and failed[0]["attempts"] == 2
    run_job(server, platform, tenant)
    again = poll(lambda: messages(server, tenant, loan_id=str(loan_id), channel="sms"),
                  lambda f: next(m for m in f if m["kind"] == "due_3")["status"] == "delivered")  # fmt: skip
    assert next(m for m in again if m["kind"] == "due_3")["status"] == "delivered"
    assert len([m for m in sms.messages(phone) if "in 3 days" in m["text"]]) == 2

    # Signed receipts: forged refused (nothing changes), a repeat is a duplicate.
    target = next(m for m in again if m["kind"] == "due_3")
    raw = (b'{"id": "evt-forged", "type": "message.failed", "created_at": "2026-01-01T00:00:00Z", "data": '
           b'{"message_id": "%s", "status": "failed", "reason": "x"}}' % target["provider_id"].encode())  # fmt: skip
    forged = httpx.post(f"{server}/api/v1/webhooks/sms", content=raw,
                        headers=sign("not-the-secret", raw, int(time.time())))  # fmt: skip
    assert forged.status_code == 401
    signed = sign(PROVIDER_WEBHOOK_SECRET, raw, int(time.time()))
    assert httpx.post(f"{server}/api/v1/webhooks/sms", content=raw, headers=signed).json()["status"] == "processed"
    assert httpx.post(f"{server}/api/v1/webhooks/sms", content=raw, headers=signed).json()["status"] == "duplicate"
    assert messages(server, tenant, loan_id=str(loan_id), channel="sms")[0]["status"] == "delivered"

    # Opt-out of WhatsApp: the next reminder's WhatsApp message is recorded suppressed and never sent.
    customer_id = due7[0]["customer_id"]
    prefs = httpx.put(f"{server}/api/v1/customers/{customer_id}/messaging-preferences",
                      json={"opted_out": ["whatsapp"], "reason": "asked on call"}, headers=tenant.auth)  # fmt: skip
    assert prefs.status_code == 200 and prefs.json()["opted_out"] == ["whatsapp"]
    wa_count = len(wa.messages(phone))
    set_business_date(platform, tenant, DUE - timedelta(days=1))
    run_job(server, platform, tenant)
    due1 = {m["channel"]: m for m in messages(server, tenant, loan_id=str(loan_id)) if m["kind"] == "due_1"}
    assert due1["whatsapp"]["status"] == "suppressed" and due1["whatsapp"]["reason"] == "opted_out"
    assert len(wa.messages(phone)) == wa_count

    # Quiet hours: at night, brand time, SMS is deferred (recorded), not sent.
    configure(platform, tenant, timezone=zone_at(NIGHT))
    sms_count = len(sms.messages(phone))
    set_business_date(platform, tenant, DUE)
    run_job(server, platform, tenant)
    due0 = {m["channel"]: m for m in messages(server, tenant, loan_id=str(loan_id)) if m["kind"] == "due_0"}
    assert due0["sms"]["status"] == "deferred" and due0["sms"]["reason"] == "quiet_hours"
    assert due0["sms"]["next_attempt_at"] is not None and len(sms.messages(phone)) == sms_count

    # Overdue reminders on the cadence: day 1 and day 4 (cadence 3), nothing on days 2-3.
    configure(platform, tenant, timezone=zone_at(DAY), overdue_reminder_days=3)
    for day in (1, 2, 3, 4):
        set_business_date(platform, tenant, DUE + timedelta(days=day))
        run_job(server, platform, tenant)
    overdue = [m for m in messages(server, tenant, loan_id=str(loan_id), channel="sms") if m["kind"] == "overdue"]
    assert len(overdue) == 2

    other = make_tenant(platform)
    assert messages(server, other, loan_id=str(loan_id)) == []
    assert httpx.get(f"{server}/api/v1/messages/{overdue[0]['id']}", headers=other.auth).status_code == 404
    assert uuid.UUID(overdue[0]["id"])


def test_a_send_a_crash_left_mid_way_reaches_the_handset_once(platform: Any, provider_simulators: Any) -> None:
    from adapters.providers.channels import ChannelClients
    from api.services.engagement import Engagement
    from api.services.engagement_delivery import reference
    from domain.customers.application import Customers
    from domain.engagement.templates import Channel, Kind
    from domain.providers.calls import Caller

    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    phone = mobile("97")
    made = platform.get(Customers).register(tenant.brand_id, name="Kiran Rao", phone=phone)
    settle(platform, Customers.name, made.position)
    engagement = platform.port(Engagement)
    engagement.seed_defaults(tenant.brand_id)
    brand = engagement.brand(tenant.brand_id)
    recipient = engagement.dues.recipient(tenant.brand_id, made.id)
    template = engagement.store.usable(tenant.brand_id, Kind.DUE_0.value, "sms")["en"]
    message = engagement.compose(brand, recipient, Channel.SMS, "due_0", "crash:1", template, {"amount": "₹1.00"})
    assert message is not None and engagement.messages.claim([message]) == [message]
    # The sender marked it `sending`, the provider took it, and the process died before recording the answer.
    engagement.messages.mark_sending([message.id], datetime.now(UTC))
    first = ChannelClients(engagement.directory).send(
        "sms", None, to=phone, text=message.body, sender="CVDESK", reference=reference(message), callback_url=None,
        caller=Caller(tenant.brand_id),
    )  # fmt: skip
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE ops.messages SET updated_at = updated_at - interval '3 minutes' WHERE id = %s",
                     (message.id,))  # fmt: skip
    done = engagement.deliver_due(tenant.brand_id)
    assert done.sent == 1
    assert len(sms.messages(phone)) == 1  # the provider kept one message for the repeated reference
    stored = engagement.message(tenant.brand_id, message.id)
    assert stored.status == "sent" and stored.provider_id == first.message_id
    assert engagement.deliver_due(tenant.brand_id).sent == 0
    # The key stays claimed: sending it again is refused by the table, not by luck.
    again = engagement.compose(brand, recipient, Channel.SMS, "due_0", "crash:1", template, {})
    assert again is not None and engagement.messages.claim([again]) == []


def test_an_email_another_sender_just_claimed_is_not_sent_again_by_the_notifications_job(
    platform: Any, mail_sink: Any
) -> None:
    """A reminder, a re-loan notice or a manual send claims its email `queued` and hands it to the mail server
    itself. The notifications job's pending phase (`stuck` 0: it thought itself the only sender) read such a row as
    due and sent it too: the borrower got the email twice (a mail server keeps no reference to know a copy by). It
    is now its claimer's until untouched for STUCK (the claimer died), then sent once."""
    from adapters.message_store import STUCK
    from api.services.engagement import Engagement
    from domain.customers.application import Customers
    from domain.engagement.templates import Channel, Kind

    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    address = f"asha.{uuid.uuid4().hex[:8]}@example.in"
    made = platform.get(Customers).register(tenant.brand_id, name="Asha Nair", phone=mobile("95"), email=address)
    settle(platform, Customers.name, made.position)
    engagement = platform.port(Engagement)
    engagement.seed_defaults(tenant.brand_id)
    brand = engagement.brand(tenant.brand_id)
    recipient = engagement.dues.recipient(tenant.brand_id, made.id)
    template = engagement.store.usable(tenant.brand_id, Kind.DUE_1.value, "email")["en"]
    message = engagement.compose(brand, recipient, Channel.EMAIL, "due_1", "other-lane:1", template,
                                 {"amount": "₹1.00", "due_date": "01 Mar 2026"})  # fmt: skip
    assert message is not None and engagement.claim(brand, [message]) == [message]  # another lane, mid-send
    assert engagement.deliver_due(tenant.brand_id, stuck=timedelta(0)).sent == 0
    assert [m for m in mail_sink.messages if m["To"] == address] == []
    with platform.db.pool.connection() as conn:  # its claimer died: nobody touched it for STUCK
        conn.execute("UPDATE ops.messages SET updated_at = updated_at - %s WHERE id = %s",
                     (STUCK + timedelta(seconds=5), message.id))  # fmt: skip
    assert engagement.deliver_due(tenant.brand_id, stuck=timedelta(0)).sent == 1
    assert len(poll(lambda: [m for m in mail_sink.messages if m["To"] == address], bool)) == 1


def test_one_message_by_email_once_per_key_escaped_and_opt_out_recorded(
    server: str, platform: Any, mail_sink: Any
) -> None:
    tenant = make_tenant(platform)
    address = f"kiran.{uuid.uuid4().hex[:8]}@example.in"
    customer = httpx.post(f"{server}/api/v1/customers", headers=tenant.auth, json={
        "name": "Kiran <b>Rao</b>", "phone": mobile("96"), "email": address})  # fmt: skip
    assert customer.status_code in (201, 422), customer.text
    if customer.status_code == 422:  # the name rules refuse markup: a plain name, hostile values come as variables
        customer = httpx.post(f"{server}/api/v1/customers", headers=tenant.auth, json={
            "name": "Kiran Rao", "phone": mobile("96"), "email": address})  # fmt: skip
    customer_id = customer.json()["id"]
    body = {"customer_id": customer_id, "channel": "email", "kind": "due_1", "idempotency_key": "call-42",
            "variables": {"amount": "<script>x</script>", "due_date": "01 Mar 2026"}}  # fmt: skip
    first = httpx.post(f"{server}/api/v1/messages", json=body, headers=tenant.auth)
    assert first.status_code == 201, first.text
    again = httpx.post(f"{server}/api/v1/messages", json=body, headers=tenant.auth)
    assert again.json()["id"] == first.json()["id"]
    for other in ({"channel": "sms"}, {"kind": "paid"}):  # the key of another message: refused, nothing sent
        reused = httpx.post(f"{server}/api/v1/messages", json={**body, **other}, headers=tenant.auth)
        assert reused.status_code == 422 and reused.json()["errors"][0]["field"] == "idempotency_key", reused.text
    mails = poll(lambda: [m for m in mail_sink.messages if m["To"] == address], lambda found: len(found) >= 1)
    time.sleep(0.5)
    mails = [m for m in mail_sink.messages if m["To"] == address]
    assert len(mails) == 1 and first.json()["status"] == "sent" and first.json()["template_version"] == 1
    html = mails[0].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    # No loan named: the reminder's link is the brand's borrower portal, a page that opens.
    assert f"{server}/apply/{tenant.slug}" in html and httpx.get(f"{server}/apply/{tenant.slug}").status_code == 200

    prefs = httpx.put(f"{server}/api/v1/customers/{customer_id}/messaging-preferences", headers=tenant.auth,
                      json={"opted_out": ["email"], "language": "hi"})  # fmt: skip
    assert prefs.status_code == 200
    suppressed = httpx.post(f"{server}/api/v1/messages", headers=tenant.auth,
                            json={**body, "idempotency_key": "call-43"}).json()  # fmt: skip
    assert suppressed["status"] == "suppressed" and suppressed["language"] == "hi"
    assert len([m for m in mail_sink.messages if m["To"] == address]) == 1
    bad = httpx.put(f"{server}/api/v1/customers/{customer_id}/messaging-preferences", headers=tenant.auth,
                    json={"opted_out": ["pigeon"]})  # fmt: skip
    assert bad.status_code == 422 and "opted_out" in bad.text
    other = make_tenant(platform)
    assert httpx.get(f"{server}/api/v1/customers/{customer_id}/messaging-preferences",
                     headers=other.auth).status_code == 404  # fmt: skip


def test_email_goes_out_from_the_brands_own_sender_address(server: str, platform: Any, mail_sink: Any) -> None:
    from domain.shared.errors import InvalidInput

    own, plain = make_tenant(platform), make_tenant(platform)
    configure(platform, own, message_senders={"sms": "ACMEFN", "whatsapp": "ACMEFN",
                                              "email": "Acme Finance <notify@acme-finance.in>"})  # fmt: skip
    with pytest.raises(InvalidInput):  # a line break would smuggle a header in: refused, nothing changed
        platform.get(Identity).change_configuration(own.brand_id, {"message_senders": {
            "email": "Acme <notify@acme-finance.in>\r\nBcc: spy@example.in"}})  # fmt: skip
    sent_to: dict[str, str] = {}
    for tenant in (own, plain):
        address = f"payer.{uuid.uuid4().hex[:8]}@example.in"
        customer = httpx.post(f"{server}/api/v1/customers", headers=tenant.auth, json={
            "name": "Meena Iyer", "phone": mobile("95"), "email": address})  # fmt: skip
        assert customer.status_code == 201, customer.text
        sent = httpx.post(f"{server}/api/v1/messages", headers=tenant.auth, json={
            "customer_id": customer.json()["id"], "channel": "email", "kind": "due_1", "idempotency_key": "from-1",
            "variables": {"amount": "₹10.00", "due_date": "01 Mar 2026"}})  # fmt: skip
        assert sent.status_code == 201 and sent.json()["status"] == "sent", sent.text
        sent_to[str(tenant.brand_id)] = address
    mails = poll(lambda: [m for m in mail_sink.messages if m["To"] in sent_to.values()], lambda found: len(found) >= 2)
    by_to = {m["To"]: m for m in mails}
    assert by_to[sent_to[str(own.brand_id)]]["From"] == "Acme Finance <notify@acme-finance.in>"
    assert "acme-finance" not in str(by_to[sent_to[str(plain.brand_id)]]["From"])  # the mailer's MAIL_FROM


def test_the_fully_paid_message_links_to_the_borrowers_signed_certificate_not_the_staff_endpoint(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    import hashlib
    import re

    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    phone = _phone(platform, tenant, loan_id)
    quote = httpx.get(f"{server}/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()
    closing = httpx.post(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth,
                         json={"amount": quote["total"], "mode": "neft", "reference": "UTR-NDC"})  # fmt: skip
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    poll(lambda: run_job(server, platform, tenant) and [m for m in sms.messages(phone) if "/no-due" in m["text"]],
          bool)  # fmt: skip
    texts = [m["text"] for m in sms.messages(phone) if "no-due-certificates/" in m["text"]]
    assert len(texts) == 1 and f"/api/v1/loans/{loan_id}/no-due-certificate" not in texts[0]
    link = re.search(r"(http\S+/api/v1/no-due-certificates/[A-Za-z0-9_-]+)", texts[0])
    assert link is not None and len(link.group(1)) <= 200

    # The borrower opens it with no login; the same certificate the staff download serves.
    shared = httpx.get(link.group(1))
    assert shared.status_code == 200 and shared.headers["content-type"].startswith("application/pdf")
    staff = httpx.get(f"{server}/api/v1/loans/{loan_id}/no-due-certificate", headers=tenant.auth)
    assert shared.content == staff.content
    assert shared.headers["x-content-sha256"] == hashlib.sha256(shared.content).hexdigest()
    # A changed or forged token opens nothing; the staff endpoint still needs a login.
    token = link.group(1).rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert httpx.get(f"{server}/api/v1/no-due-certificates/{tampered}").status_code == 404
    assert httpx.get(f"{server}/api/v1/no-due-certificates/not-a-token").status_code == 404
    assert httpx.get(f"{server}/api/v1/loans/{loan_id}/no-due-certificate").status_code == 401
    # The receipt the spec's "fully paid" message carries: the loan's own payment page, its receipts listed (the
    # message had only the certificate, though its email subject promised a receipt).
    pay = re.search(r"Receipts: (http\S+/pay/[A-Za-z0-9_-]+)", texts[0])
    assert pay is not None, texts[0]
    page = httpx.get(pay.group(1))
    assert page.status_code == 200 and f"/receipts/{closing.json()['id']}" in page.text
    receipt = httpx.get(f"{server}/pay/{pay.group(1).rsplit('/', 1)[1]}/receipts/{closing.json()['id']}")
    assert receipt.status_code == 200 and receipt.headers["content-type"].startswith("application/pdf")


def test_a_closure_after_a_bounced_closing_payment_is_told_again_with_its_new_certificate(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    """The closing cheque bounces after the "paid" message went out: the reversal withdraws the certificate (its link
    answers 410), and the loan paid off again is told again, with the new certificate's code - the first message's
    key would have swallowed it, leaving the borrower with the withdrawn code."""
    sms = provider_simulators["sms"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    phone = _phone(platform, tenant, loan_id)
    url = f"{server}/api/v1/loans/{loan_id}"

    def close(reference: str) -> str:
        total = httpx.get(f"{url}/payoff", headers=tenant.auth).json()["total"]
        closing = httpx.post(f"{url}/repayments", headers=tenant.auth,
                             json={"amount": total, "mode": "cheque", "reference": reference})  # fmt: skip
        assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
        return str(closing.json()["id"])

    def told() -> list[str]:
        return [m["text"] for m in sms.messages(phone) if "no-due-certificates/" in m["text"]]

    cheque = close("CHQ-NDC-1")
    poll(lambda: run_job(server, platform, tenant) and told(), bool)
    (first,) = told()
    first_code = httpx.get(f"{url}/no-due-certificate", headers=tenant.auth).headers["x-verification-code"]
    assert f"(code {first_code})" in first
    link = re.search(r"(http\S+/api/v1/no-due-certificates/[A-Za-z0-9_-]+)", first)
    assert link is not None

    reversed_ = httpx.post(f"{url}/repayments/{cheque}/reverse", json={"reason": "cheque bounced"},
                           headers=tenant.auth)  # fmt: skip
    assert reversed_.status_code == 200, reversed_.text
    assert httpx.get(link.group(1)).status_code == 410  # the withdrawn certificate is not served
    run_job(server, platform, tenant)
    assert len(told()) == 1  # nothing to tell while the loan owes

    close("CHQ-NDC-2")
    second_code = httpx.get(f"{url}/no-due-certificate", headers=tenant.auth).headers["x-verification-code"]
    assert second_code != first_code
    poll(lambda: run_job(server, platform, tenant) and len(told()) == 2, bool)
    codes = sorted(re.findall(r"\(code (NDC-[0-9A-F]+)\)", " ".join(told())))
    assert codes == sorted([first_code, second_code]), told()  # one message a closure, each with its own code
    assert httpx.get(link.group(1)).headers["x-verification-code"] == second_code  # the loan's certificate now


def test_a_no_due_link_is_bound_to_its_brand_and_loan_and_expires() -> None:
    from api.services.no_due_links import NoDueLinks

    brand, loan, now = uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)
    token = NoDueLinks(days=90).token(brand, loan, now)
    assert NoDueLinks.open(token, now) == (brand, loan) and len(token) == 70
    assert NoDueLinks.open(token, now + timedelta(days=91)) is None  # expired
    forged = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    assert NoDueLinks.open(forged, now) is None


def _pay_link(sms: Any, phone: str, words: str) -> str:
    texts = [m["text"] for m in sms.messages(phone) if words in m["text"]]
    assert texts, (words, [m["text"] for m in sms.messages(phone)])
    found = re.search(r"(http\S+/pay/[A-Za-z0-9_-]+)", texts[-1])
    assert found is not None and len(found.group(1)) <= 200, texts[-1]
    return found.group(1)


def _go_on(answer: httpx.Response) -> str:
    """The gateway's page a payment page's form goes on to: a page refreshing to it, with a link to it."""
    assert answer.status_code == 200, answer.text
    found = re.search(r'<a class="button" href="([^"]+)" id="continue-payment">', answer.text)
    assert found is not None and f"url={found.group(1)}" in answer.text, answer.text
    return html.unescape(found.group(1))


def _web_links(server: str, tenant: Tenant, loan_id: UUID) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return [x for x in answer.json()["items"] if x["channel"] == "web"]


def test_a_reminders_payment_link_opens_the_loans_payment_page_and_pays_at_the_gateway(
    server: str, platform: Any, provider_simulators: Any
) -> None:
    """The due reminder's link is the loan's signed payment page (no login): it shows what is due and the payoff,
    starts one gateway order for either (a second tap reuses it), the gateway's payment is recorded, and once the
    loan is paid off the page links the no-due certificate. A changed link, or a certificate's, opens nothing."""
    sms, gateway = provider_simulators["sms"], provider_simulators["gateway"]
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY))
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    phone = _phone(platform, tenant, loan_id)
    set_business_date(platform, tenant, DUE)
    run_job(server, platform, tenant)
    link = poll(lambda: [m for m in sms.messages(phone) if "/pay/" in m["text"]], bool) and _pay_link(
        sms, phone, "/pay/"
    )
    assert "/apply" not in link

    page = httpx.get(link)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store", page.text
    loan = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert loan["loan_number"] in page.text and "₹8,037.57" in page.text and "28 Feb 2026" in page.text
    payoff = httpx.get(f"{server}/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"]
    assert f"₹{Decimal(payoff):,.2f}" in page.text

    token = link.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (f"{server}/pay/{tampered}", f"{server}/pay/not-a-token"):
        assert httpx.get(bad).status_code == 404 and httpx.post(bad, data={"amount": "due"}).status_code == 404
    from api.services.no_due_links import NoDueLinks

    certificate_token = NoDueLinks().token(tenant.brand_id, loan_id, datetime.now(UTC))
    assert httpx.get(f"{server}/pay/{certificate_token}").status_code == 404  # a certificate's link pays nothing
    assert httpx.get(f"{server}/api/v1/no-due-certificates/{token}").status_code == 404  # and this one opens no PDF
    assert _web_links(server, tenant, loan_id) == []

    with ThreadPoolExecutor(max_workers=4) as taps:  # four taps at once: one order
        at_once = {_go_on(a) for a in taps.map(lambda _: httpx.post(link, data={"amount": "due"}), range(4))}
    started, again = at_once.pop(), _go_on(httpx.post(link, data={"amount": "due"}))
    assert at_once == set() and started == again  # the same order: a second tap does not start another
    [order] = _web_links(server, tenant, loan_id)
    assert (order["amount"], order["state"], order["payment_url"]) == ("8037.57", "created", started)
    assert gateway.pay(order["order_id"]).result(timeout=10).delivered
    paid = poll(lambda: httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"],
                bool)  # fmt: skip
    assert [(p["mode"], p["amount"], p["reference"]) for p in paid] == [("payment_link", "8037.57", order["order_id"])]
    after = httpx.get(link)
    assert after.status_code == 200 and "due 31 Mar 2026" in after.text and "due 28 Feb 2026" not in after.text
    assert order["order_id"] in after.text  # the payment is listed (paid on 28 Feb), with its receipt

    whole = _go_on(httpx.post(link, data={"amount": "payoff"}))
    closing = next(x for x in _web_links(server, tenant, loan_id) if x["state"] == "created")
    quote = httpx.get(f"{server}/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"]
    assert closing["amount"] == quote and closing["payment_url"] == whole
    assert gateway.pay(closing["order_id"]).result(timeout=10).delivered
    done = poll(lambda: httpx.get(link), lambda r: "fully paid" in r.text and 'id="certificate"' in r.text)
    certificate = re.search(r'href="(http\S+/api/v1/no-due-certificates/[A-Za-z0-9_-]+)"', done.text)
    assert certificate is not None, done.text
    pdf = httpx.get(certificate.group(1))
    assert pdf.status_code == 200 and pdf.headers["content-type"].startswith("application/pdf")
    refused = httpx.post(link, data={"amount": "due"})
    assert refused.status_code == 409 and "fully paid" in refused.text  # no order for a closed loan

    other = make_tenant(platform)
    assert _web_links(server, tenant, loan_id)[0]["state"] == "paid"
    assert httpx.get(f"{server}/api/v1/loans/{loan_id}/payment-links", headers=other.auth).status_code == 404


def test_a_failure_recorded_without_its_retry_is_queued_by_the_providers_next_receipt(
    server: str, platform: Any
) -> None:
    """A failed receipt records the failure, then queues the retry, as two writes: when the second did not happen
    (it failed, or the process died in between), the provider's next delivery found the message failed already and
    changed nothing, so a message its policy retries stayed failed for good."""
    tenant = make_tenant(platform)
    configure(platform, tenant, timezone=zone_at(DAY), message_retry_minutes=0)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    run_job(server, platform, tenant)
    (sent,) = [m for m in messages(server, tenant, loan_id=str(loan_id), channel="sms") if m["kind"] == "disbursed"]
    with platform.db.pool.connection() as conn:  # what the first receipt left: the failure, no retry queued
        conn.execute(
            "UPDATE ops.messages SET status = 'failed', reason = 'handset_unreachable' WHERE id = %s", (sent["id"],)
        )

    def receipt(event_id: str) -> dict[str, Any]:
        raw = json.dumps({"id": event_id, "type": "message.failed", "created_at": datetime.now(UTC).isoformat(),
                          "data": {"reference": f"{sent['id']}.{sent['attempts']}", "status": "failed",
                                   "reason": "handset_unreachable"}}).encode()  # fmt: skip
        answer = httpx.post(f"{server}/api/v1/webhooks/sms", content=raw,
                            headers=sign(PROVIDER_WEBHOOK_SECRET, raw, int(time.time())))  # fmt: skip
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    first = receipt(f"evt-again-{sent['id']}")
    assert (first["status"], first.get("detail")) == ("processed", "retry queued"), first
    now = httpx.get(f"{server}/api/v1/messages/{sent['id']}", headers=tenant.auth).json()
    assert (now["status"], now["attempts"]) == ("queued", sent["attempts"] + 1), now
    for event_id in (f"evt-again-{sent['id']}", f"evt-late-{sent['id']}"):  # redelivered, or under another id
        assert receipt(event_id)["status"] == "ignored"  # a receipt of the earlier attempt: not queued twice
    later = httpx.get(f"{server}/api/v1/messages/{sent['id']}", headers=tenant.auth).json()
    assert (later["status"], later["attempts"]) == ("queued", sent["attempts"] + 1), later


def test_an_overdue_instalment_paid_but_for_its_penal_charges_is_still_reminded(server: str, platform: Any) -> None:
    """A payment goes to penal charges first (LENDING.md): a borrower who pays an overdue instalment's amount still
    owes its penal charges, and the loan stays overdue. The notifications' read model counted the whole payment
    against the instalment, so their overdue reminders stopped."""
    from domain.loans.application import Loans
    from projections.engagement_dues import EngagementDueQueries

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    late = DUE + timedelta(days=10)
    set_business_date(platform, tenant, late)
    paid = httpx.post(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth,
                      json={"amount": "8037.57", "mode": "upi", "reference": "UTR-PENAL"})  # fmt: skip
    assert paid.status_code == 201, paid.text
    ((first, penal),) = [(a["no"], Decimal(a["penal"])) for a in paid.json()["allocation"]]
    assert first == 1 and penal > 0
    settle(platform, Loans.name)
    owed = platform.get(EngagementDueQueries).overdue(tenant.brand_id, late, None, 1000)
    assert [(i.instalment, i.amount) for i in owed if i.loan_id == loan_id] == [(1, penal)]


def test_an_overdue_reminder_asks_for_every_overdue_instalment(server: str, platform: Any) -> None:
    """Two instalments overdue: the reminder asked for what was left of the oldest alone, while the pay page it links
    to asks for both. It asks for everything overdue through the last instalment due (penal charges aside)."""
    from domain.loans.application import Loans
    from projections.engagement_dues import EngagementDueQueries

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    late = date(2026, 4, 5)  # 28 Feb and 31 Mar both unpaid
    set_business_date(platform, tenant, late)
    settle(platform, Loans.name)
    schedule = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()["schedule"]
    both = sum((Decimal(i["amount"]) for i in schedule[:2]), Decimal(0))
    owed = platform.get(EngagementDueQueries).overdue(tenant.brand_id, late, None, 1000)
    assert [(i.instalment, i.due_date, i.amount) for i in owed if i.loan_id == loan_id] == [
        (1, date(2026, 2, 28), both)
    ]
