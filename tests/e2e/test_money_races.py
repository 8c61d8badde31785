"""Races between the money-moving and state-ending commands, run over HTTP against real PostgreSQL and the provider
simulators (docs/loans.md, "Races between money commands"):

- a payout file exported at the moment a single disbursement of the same loan is at the gateway: the loan is paid
  once - by the gateway or by the file, never both;
- money captured at the gateway after the loan was paid off by another route - a UPI Autopay debit presented by the
  `mandate-debits` job, a payment link opened before the payoff - is kept `unapplied` on its debit or link with the
  loan's reason and an audit entry on the loan, for staff to refund; it used to be only logged (lost to staff);
- two approvers approving one settlement at once: one approval, the other a 409 (the event store's optimistic
  concurrency; no outside party is called between the read and the record)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import UUID

import httpx

from adapters.webhooks import sign
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import API, poll
from tests.e2e.test_disbursal_edges_blackbox import Fee, World, world
from tests.e2e.test_paylinks import DUE, _debits_job, _get, _repayments, wiring
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue", "wiring", "world"]  # fixtures


def _at_once(calls: list[Callable[[], httpx.Response]], offsets: list[float]) -> list[httpx.Response]:
    """Run the calls from threads released together, each after its offset (seconds)."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        time.sleep(offsets[i])
        answers[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [a for a in answers if a is not None]


def test_a_payout_file_exported_while_the_gateway_pays_the_loan_never_pays_it_twice(
    world: World, server: str, provider_simulators: dict[str, Any]
) -> None:
    """The disbursement is inside its gateway call (the gateway slowed to 1 s) when the file is exported: the file
    waits and then refuses the loan (a payout in flight), or the disbursement is refused - never a payout at the
    gateway and the same loan in a live payout file."""
    w = world
    product, _ = w.product(Fee("percent", "1", False))
    gateway = provider_simulators["gateway"]
    outcomes = set()
    try:
        for offset in (0.3, 0.6):
            loan_id = w.application(product, "40000")["id"]
            number = w.to_state(loan_id, "awaiting_disbursal", "40000")["loan_number"]
            gateway.add_latency(1.0, 1, path="/v1/payouts")
            disburse_it = partial(httpx.post, f"{server}{API}/loans/{loan_id}/disburse", json={"mode": "IMPS"},
                                  headers=w.h, timeout=30)  # fmt: skip
            export_it = partial(httpx.post, f"{server}{API}/payout-files", json={"loan_ids": [loan_id]}, headers=w.h,
                                timeout=30)  # fmt: skip
            disburse, export = _at_once([disburse_it, export_it], [0.0, offset])
            paid = [p for p in gateway.payouts() if p["reference"] == number]
            shown = w.loan(loan_id)
            assert not (paid and export.status_code == 201), (
                "the gateway paid the loan and the loan is in a payout file too",
                disburse.status_code, export.status_code, shown.get("disbursement"),
            )  # fmt: skip
            if paid:
                assert disburse.status_code == 202 and export.status_code == 422, (disburse.text, export.text)
                assert "payout" in export.text and number in export.text, export.text
                assert len(shown["disbursement"]["attempts"]) == 1, shown["disbursement"]
                outcomes.add("paid by the gateway")
            else:
                assert export.status_code == 201 and disburse.status_code == 409, (disburse.text, export.text)
                outcomes.add("in the file")
    finally:
        gateway.add_latency(0, path="/v1/payouts")
    w.count("export/disburse races", 2)


def _capture(server: str, order_id: str, reference: str, amount: str) -> httpx.Response:
    """The gateway's `payment.captured` for an order, signed as it signs it."""
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "payment.captured",
                       "created_at": datetime.now(UTC).isoformat(),
                       "data": {"order_id": order_id, "reference": reference, "amount": amount,
                                "method": "upi_autopay", "utr": "901234567890"}}).encode()  # fmt: skip
    headers = {**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())), "Content-Type": "application/json"}
    return httpx.post(f"{server}{API}/webhooks/payments", content=body, headers=headers, timeout=30)


def _pay_off(server: str, tenant: Tenant, loan_id: UUID, reference: str) -> httpx.Response:
    payoff = _get(server, tenant, f"{API}/loans/{loan_id}/payoff")["total"]
    body = {"amount": payoff, "mode": "upi", "reference": reference}
    return httpx.post(f"{server}{API}/loans/{loan_id}/repayments", json=body, headers=tenant.auth, timeout=30)


def _trail(server: str, tenant: Tenant, loan_id: UUID) -> list[dict[str, Any]]:
    answer = httpx.get(f"{server}{API}/audit/trail", params={"aggregate_id": str(loan_id), "limit": 200},
                       headers=tenant.auth)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_mandate_debit_captured_after_the_loan_was_paid_off_is_kept_unapplied_for_staff(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """The job presents the due instalment while staff record the payoff; the gateway's capture comes after the loan
    closed: the loan keeps its one payoff, the debit is `unapplied` with the amount and the loan's reason, and the
    loan's audit trail says so (before: `presented` for ever, the money only in a log line)."""
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    url = f"{server}{API}/loans/{loan_id}/mandates"
    made = httpx.post(url, json={"vpa": "ravi@okbank", "max_amount": "10000.00"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    httpx.get(made.json()["approval_url"], params={"outcome": "approve"})
    poll(lambda: _get(server, tenant, f"{API}/loans/{loan_id}/mandates")["items"], lambda i: i[0]["state"] == "active")
    set_business_date(platform, tenant, DUE)

    gateway_id = made.json()["approval_url"].rstrip("/").split("/")[-2]
    gateway.add_latency(1.5, 1, path=f"/v1/mandates/{gateway_id}/debits")  # the job is inside its gateway call...
    gateway.drop_next_webhooks(1)  # ...and the capture is late: it reaches us after the payoff (sent below)
    run = threading.Thread(target=_debits_job, args=(server, platform, tenant, DUE))
    run.start()
    poll(lambda: _get(server, tenant, f"{API}/loans/{loan_id}/mandates")["items"][0]["debits"], bool, timeout=10)
    paid_off = _pay_off(server, tenant, loan_id, "NEFT-PAYOFF-1")  # while the gateway takes the debit
    run.join()
    assert paid_off.status_code in (200, 201), paid_off.text
    loan = _get(server, tenant, f"{API}/loans/{loan_id}")
    assert loan["status"] == "completed", loan["status"]
    debits = _get(server, tenant, f"{API}/loans/{loan_id}/mandates")["items"][0]["debits"]
    (debit,) = debits
    assert debit["order_id"], debit
    answer = _capture(server, debit["order_id"], debit["reference"], debit["amount"])
    assert answer.status_code == 200, answer.text

    after = _get(server, tenant, f"{API}/loans/{loan_id}/mandates")["items"][0]["debits"]
    assert [(d["state"], d["repayment_id"]) for d in after] == [("unapplied", None)], after
    assert f"Rs {debit['amount']} captured at the gateway, not applied" in after[0]["reason"], after[0]["reason"]
    assert "completed" in after[0]["reason"] or "closed" in after[0]["reason"], after[0]["reason"]
    assert [p["reference"] for p in _repayments(server, tenant, loan_id)] == ["NEFT-PAYOFF-1"]
    entries = [e for e in _trail(server, tenant, loan_id) if e["event_type"] == "MandateDebitUnapplied"]
    assert len(entries) == 1 and entries[0]["details"]["amount"] == debit["amount"], entries
    assert entries[0]["details"]["order_id"] == debit["order_id"], entries
    again = _capture(server, debit["order_id"], debit["reference"], debit["amount"])  # a new event id: no change
    assert again.status_code == 200, again.text
    assert len([e for e in _trail(server, tenant, loan_id) if e["event_type"] == "MandateDebitUnapplied"]) == 1


def test_a_payment_link_paid_after_the_loan_was_paid_off_is_kept_unapplied_for_staff(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """A link for the due instalment is opened; the loan is paid off by another route; then the borrower pays the
    link: the link is `unapplied` (not `sent` for ever) with the loan's reason and a `PaymentLinkUnapplied` entry,
    and the loan still holds only the payoff."""
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    made = httpx.post(f"{server}{API}/loans/{loan_id}/payment-links", json={}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    link = made.json()

    paid_off = _pay_off(server, tenant, loan_id, "NEFT-PAYOFF-2")
    assert paid_off.status_code in (200, 201), paid_off.text
    assert gateway.pay(link["order_id"]).result(timeout=10).delivered

    links = _get(server, tenant, f"{API}/loans/{loan_id}/payment-links")["items"]
    assert [(x["state"], x["repayment_id"]) for x in links] == [("unapplied", None)], links
    assert f"Rs {Decimal(link['amount'])} captured at the gateway, not applied" in links[0]["reason"], links
    assert [p["reference"] for p in _repayments(server, tenant, loan_id)] == ["NEFT-PAYOFF-2"]
    entries = [e for e in _trail(server, tenant, loan_id) if e["event_type"] == "PaymentLinkUnapplied"]
    assert len(entries) == 1 and entries[0]["details"]["state_before"] == "sent", entries


def test_two_approvers_approving_one_settlement_at_once_approve_it_once(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """Safe as built: the approval reads and records the Loan only (no outside party between), and the event store
    refuses the stale second append - one 200, one 409, one approval in the loan's history."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    proposed = httpx.post(f"{server}{API}/loans/{loan_id}/settlements", json={"amount": "60000.00",
                          "remarks": "borrower lost the job, one-time offer"}, headers=tenant.auth)  # fmt: skip
    assert proposed.status_code == 201, proposed.text
    settlement_id = proposed.json()["id"]
    approve = partial(httpx.post, f"{server}{API}/settlements/{settlement_id}/approve", headers=tenant.auth,
                      timeout=30)  # fmt: skip
    answers = _at_once([approve, approve], [0.0, 0.0])
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text[:200] for a in answers]
    loan = _get(server, tenant, f"{API}/loans/{loan_id}")
    approved = [e for e in loan["history"] if "settlement" in e["kind"] and "approved" in e["kind"]]
    assert len(approved) == 1, [e["kind"] for e in loan["history"]]
