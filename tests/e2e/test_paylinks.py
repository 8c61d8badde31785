"""Payment links and UPI Autopay mandates against the gateway simulator over HTTP (issue #15 item 2): a link paid
once however often its webhook repeats, forged and stale webhooks refused with nothing recorded, a mandate approved
by the payer -> active -> a debit presented by the `mandate-debits` job -> a repayment; a failed debit retried the
next day and recorded once; revocation; brand isolation and roles."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.webhook_inbox import STALE_CLAIM
from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.paylinks import PROVIDER as PAYMENTS
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan: 8037.57


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    yield


def _get(server: str, tenant: Tenant, path: str) -> Any:
    answer = httpx.get(f"{server}{path}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _repayments(server: str, tenant: Tenant, loan_id: UUID) -> list[dict[str, Any]]:
    return list(_get(server, tenant, f"/api/v1/loans/{loan_id}/repayments")["items"])


def _debits_job(server: str, platform: Any, tenant: Tenant, as_of: date) -> dict[str, Any]:
    accepted = httpx.post(f"{server}/api/v1/jobs/mandate-debits/runs", json={"as_of": as_of.isoformat()},
                          headers=tenant.auth)  # fmt: skip
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    return dict(_get(server, tenant, f"/api/v1/jobs/runs/{run_id}"))


def test_a_link_is_paid_once_and_forged_webhooks_record_nothing(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    url = f"{server}/api/v1/loans/{loan_id}/payment-links"

    for bad, status in (({"channel": "pigeon"}, 422), ({"amount": "999999.00"}, 422), ({"amount": "-1"}, 422)):
        refused = httpx.post(url, json=bad, headers=tenant.auth)
        assert refused.status_code == status, refused.text
    assert _get(server, tenant, f"/api/v1/loans/{loan_id}/payment-links")["items"] == []

    made = httpx.post(url, json={}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["amount"] == "8037.57" and link["state"] == "sent" and link["channel"] == "sms"
    texts = [m for m in provider_simulators["sms"].sent_to(link["phone"]) if link["payment_url"] in str(m)]
    assert texts, "the link went to the borrower by SMS"
    wa = httpx.post(url, json={"amount": "100.00", "channel": "whatsapp"}, headers=tenant.auth)
    assert wa.status_code == 201 and wa.json()["state"] == "sent" and wa.json()["amount"] == "100.00"
    on_whatsapp = [m for m in provider_simulators["whatsapp"].messages(link["phone"])
                   if wa.json()["payment_url"] in m["text"]]  # fmt: skip
    assert len(on_whatsapp) == 1 and on_whatsapp[0]["template"] == "payment_link", on_whatsapp
    assert not [m for m in provider_simulators["sms"].sent_to(link["phone"]) if wa.json()["payment_url"] in str(m)]

    # forged, unsigned and stale webhooks claiming the link was paid: refused, nothing recorded
    hook = f"{server}/api/v1/webhooks/payments"
    data = {"order_id": link["order_id"], "reference": "x", "amount": link["amount"], "utr": "1"}
    body = json.dumps({"id": "evt_forged", "type": "payment.captured", "created_at": datetime.now(UTC).isoformat(),
                       "data": data}).encode()  # fmt: skip
    forged = httpx.post(hook, content=body, headers=sign("not-the-secret", body, int(time.time())))
    assert forged.status_code == 401 and forged.json()["reason"] == "bad_signature"
    unsigned = httpx.post(hook, content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 400
    stale = httpx.post(hook, content=body, headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time()) - 3600))
    assert stale.status_code == 401 and stale.json()["reason"] == "stale_timestamp"
    assert _repayments(server, tenant, loan_id) == []

    delivery = gateway.pay(link["order_id"]).result(timeout=10)
    assert delivery.delivered
    for replay in (False, True):  # the gateway's repeat, freshly signed, and the captured request sent again
        assert gateway.redeliver(delivery, replay=replay).attempts[-1].status == 200
    again = json.dumps({"id": "evt_again", "type": "payment.captured", "created_at": datetime.now(UTC).isoformat(),
                        "data": data}).encode()  # fmt: skip  # the same payment under a new event id
    answer = httpx.post(hook, content=again, headers=sign(PROVIDER_WEBHOOK_SECRET, again, int(time.time())))
    assert answer.status_code == 200 and answer.json()["status"] == "duplicate", answer.text

    paid = _repayments(server, tenant, loan_id)
    assert [(p["mode"], p["reference"], p["amount"]) for p in paid] == [("payment_link", link["order_id"], "8037.57")]
    links = _get(server, tenant, f"/api/v1/loans/{loan_id}/payment-links")["items"]
    assert [(x["state"], x["repayment_id"]) for x in links] == [("paid", paid[0]["id"]), ("sent", None)]
    loan = _get(server, tenant, f"/api/v1/loans/{loan_id}")
    assert loan["schedule"][0]["status"] == "paid"

    other = make_tenant(platform)
    assert httpx.get(url, headers=other.auth).status_code == 404
    assert httpx.post(url, json={}, headers=other.auth).status_code == 404
    viewer = make_tenant(platform, "credit_executive")
    assert httpx.post(url, json={}, headers=viewer.auth).status_code in (403, 404)


def test_mandate_active_debit_failure_retry_success_revoke(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    url = f"{server}/api/v1/loans/{loan_id}/mandates"

    bad = httpx.post(url, json={"vpa": "not a vpa", "max_amount": "10000"}, headers=tenant.auth)
    assert bad.status_code == 422 and "vpa" in bad.text
    made = httpx.post(url, json={"vpa": "meera@okbank", "max_amount": "10000.00"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    mandate = made.json()
    assert mandate["state"] == "registered" and mandate["approval_url"]
    twice = httpx.post(url, json={"vpa": "meera@okbank", "max_amount": "10000.00"}, headers=tenant.auth)
    assert twice.status_code == 409

    # nothing is presented before the mandate is active
    set_business_date(platform, tenant, DUE)
    assert _debits_job(server, platform, tenant, DUE)["status"] == "succeeded"
    httpx.get(mandate["approval_url"], params={"outcome": "approve"})  # the payer approves in their UPI app
    listed = poll(lambda: _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"],
                    lambda items: items[0]["state"] == "active")  # fmt: skip
    assert listed[0]["state"] == "active" and listed[0]["debits"] == []

    gateway_id = mandate["approval_url"].rstrip("/").split("/")[-2]
    gateway.fail_next_debits(gateway_id, 1, "insufficient_funds")
    _debits_job(server, platform, tenant, DUE)
    failed = poll(lambda: _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"][0]["debits"],
                    lambda d: d and d[0]["state"] != "presented")  # fmt: skip
    assert [(d["attempt"], d["state"], d["reason"], d["retry_on"]) for d in failed] == [
        (1, "failed", "insufficient_funds", "2026-03-01")
    ]
    assert _repayments(server, tenant, loan_id) == []
    _debits_job(server, platform, tenant, DUE)  # the retry is not due yet: nothing presented
    assert len(_get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"][0]["debits"]) == 1

    set_business_date(platform, tenant, date(2026, 3, 1))
    _debits_job(server, platform, tenant, date(2026, 3, 1))
    debits = poll(lambda: _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"][0]["debits"],
                    lambda d: len(d) == 2 and d[1]["state"] == "paid")  # fmt: skip
    assert [(d["attempt"], d["state"]) for d in debits] == [(1, "failed"), (2, "paid")]
    paid = _repayments(server, tenant, loan_id)
    assert [(p["mode"], p["reference"], p["id"]) for p in paid] == [
        ("upi_autopay", debits[1]["order_id"], debits[1]["repayment_id"])
    ]
    _debits_job(server, platform, tenant, date(2026, 3, 1))  # a rerun: the instalment is paid, nothing presented
    assert len(_repayments(server, tenant, loan_id)) == 1

    revoked = httpx.post(f"{url}/{mandate['id']}/revoke", headers=tenant.auth)
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert httpx.post(f"{url}/{mandate['id']}/revoke", headers=tenant.auth).status_code == 409
    other = make_tenant(platform)
    assert httpx.post(f"{url}/{mandate['id']}/revoke", headers=other.auth).status_code == 404


def test_a_capture_whose_handling_died_after_its_claim_is_recorded_by_the_gateways_retry(
    platform: Any, server: str
) -> None:
    """The event id used to be noted as processed before the payment was recorded: a process that died in between
    (or a database gone before the note was taken back) left every retry of the gateway answered `duplicate`, the
    money taken and never recorded. An unsettled claim is now taken over once STALE_CLAIM old; before that, a
    delivery is refused 409 so the gateway delivers it again."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    made = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    link = made.json()
    event_id = f"evt_died_{link['order_id']}"
    data = {"order_id": link["order_id"], "reference": "pay_1", "amount": link["amount"], "utr": "1"}
    body = json.dumps({"id": event_id, "type": "payment.captured", "created_at": datetime.now(UTC).isoformat(),
                       "data": data}).encode()  # fmt: skip

    def deliver(expect: int = 200) -> str:
        answer = httpx.post(f"{server}/api/v1/webhooks/payments", content=body,
                            headers=sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())))  # fmt: skip
        assert answer.status_code == expect, answer.text
        return str(answer.json()["status" if expect == 200 else "detail"])

    def claimed(ago: timedelta) -> None:  # what the first delivery left: its claim, never settled
        with platform.db.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.webhook_events (source, event_id, event_type, received_at) "
                "VALUES (%s, %s, 'payment.captured', %s) "
                "ON CONFLICT (source, event_id) DO UPDATE SET received_at = EXCLUDED.received_at",
                (PAYMENTS, event_id, datetime.now(UTC) - ago),
            )

    claimed(timedelta(minutes=1))
    # The first delivery may still be recording it, or may yet fail: delivered again, not acknowledged as a duplicate
    # (a 200 stopped the gateway, and a first delivery that then failed left the payment unrecorded for good).
    assert deliver(409) == f"event {event_id} is being handled by an earlier delivery; deliver again"
    assert _repayments(server, tenant, loan_id) == []
    claimed(STALE_CLAIM + timedelta(minutes=1))
    assert deliver() == "processed"
    assert deliver() == "duplicate"  # settled: a redelivery changes nothing
    paid = _repayments(server, tenant, loan_id)
    assert [(p["reference"], p["amount"]) for p in paid] == [(link["order_id"], link["amount"])]
    links = _get(server, tenant, f"/api/v1/loans/{loan_id}/payment-links")["items"]
    assert [(x["state"], x["repayment_id"]) for x in links] == [("paid", paid[0]["id"])]


def test_a_link_request_that_failed_after_its_text_went_is_not_made_again_under_its_key(
    platform: Any, server: str, provider_simulators: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payment link records nothing in the event store: its gateway order, its row and its text. Its Idempotency-Key
    was marked applied only by event saves, so a failure after the text (the link's `sent` mark lost with the
    database) freed the key, and the client's retry made a second order and sent a second text. A request that made a
    provider act is now never run again under its key: the retry is told it was applied."""
    from adapters.paylink_store import PaylinkStore

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    url = f"{server}/api/v1/loans/{loan_id}/payment-links"
    headers = {**tenant.auth, "Idempotency-Key": "link-after-call-1"}

    def database_gone(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away after the text was sent")

    with monkeypatch.context() as patched:
        patched.setattr(platform.get(PaylinkStore), "mark_link", database_gone)
        failed = httpx.post(url, json={}, headers=headers)
    assert failed.status_code == 500, failed.text
    again = httpx.post(url, json={}, headers=headers)
    assert again.status_code == 409 and again.json()["type"].endswith("idempotency-applied"), again.text
    (link,) = _get(server, tenant, f"/api/v1/loans/{loan_id}/payment-links")["items"]
    texts = [m for m in provider_simulators["sms"].sent_to(link["phone"]) if link["payment_url"] in str(m)]
    assert len(texts) == 1


def test_a_debit_run_the_gateway_could_not_reach_fails_and_is_retried(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """The gateway down at 07:00: each debit failed, was logged, and the run ended `succeeded`, so its retries never
    ran and the instalment waited for the next day's run (overdue by then). The run now fails its attempt, naming
    the debits not presented, and the retry presents them."""
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    configured = httpx.patch(f"{server}/api/v1/jobs/mandate-debits", json={"retry_count": 0}, headers=tenant.auth)
    assert configured.status_code == 200, configured.text
    made = httpx.post(f"{server}/api/v1/loans/{loan_id}/mandates", json={"vpa": "meera@okbank",
                      "max_amount": "10000.00"}, headers=tenant.auth).json()  # fmt: skip
    httpx.get(made["approval_url"], params={"outcome": "approve"})
    poll(lambda: _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"],
         lambda items: items[0]["state"] == "active")  # fmt: skip
    gateway_id = made["approval_url"].rstrip("/").split("/")[-2]
    set_business_date(platform, tenant, DUE)
    gateway.fail_next(1000, 503, path=f"/v1/mandates/{gateway_id}/debits")
    try:
        down = _debits_job(server, platform, tenant, DUE)
    finally:
        gateway.reset_faults()
    assert down["status"] == "failed" and "DebitsNotPresented: 1 debit(s) not presented" in down["error"], down
    kept = _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"][0]["debits"]
    assert [(d["attempt"], d["state"], d["order_id"]) for d in kept] == [(1, "presented", None)]  # awaiting its answer
    again = _debits_job(server, platform, tenant, DUE)
    assert again["status"] == "succeeded", again
    debits = _get(server, tenant, f"/api/v1/loans/{loan_id}/mandates")["items"][0]["debits"]
    assert [(d["reference"], d["attempt"]) for d in debits] == [(kept[0]["reference"], 1)] and debits[0]["order_id"]
