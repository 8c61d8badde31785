"""A borrower's own online payment needs no approval (issue #16 item 5), and on a written-off loan it is a recovery:
a payment link sent before the write-off and paid after it is recorded once as a recovery however often the
gateway's webhook repeats (under the same or a new event id), against the gateway simulator over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from adapters.webhooks import sign
from domain.loans.application import Loans
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.e2e.test_paylinks import DUE, wiring
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue", "wiring"]  # the autouse fixtures of the servicing and payment-link tests


def test_a_link_paid_after_write_off_is_one_recovery(platform: Any, server: str, provider_simulators: Any) -> None:
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    made = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={"amount": "700.00"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    link = made.json()
    off = httpx.post(f"{server}/api/v1/loans/{loan_id}/write-off", json={"reason": "fraud: borrower absconded"},
                     headers=tenant.auth)  # fmt: skip
    assert off.status_code == 200, off.text

    delivery = gateway.pay(link["order_id"]).result(timeout=10)
    assert delivery.delivered
    assert gateway.redeliver(delivery, replay=False).attempts[-1].status == 200
    data = {"order_id": link["order_id"], "reference": "x", "amount": "700.00", "utr": "1"}
    again = json.dumps({"id": "evt_recovery_again", "type": "payment.captured",
                        "created_at": datetime.now(UTC).isoformat(), "data": data}).encode()  # fmt: skip
    answer = httpx.post(f"{server}/api/v1/webhooks/payments", content=again,
                        headers=sign(PROVIDER_WEBHOOK_SECRET, again, int(time.time())))  # fmt: skip
    assert answer.status_code == 200 and answer.json()["status"] == "duplicate", answer.text

    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    assert str(loan.status) == "written_off" and loan.payments == {}
    assert [(str(r.mode), r.reference, r.amount) for r in loan.recoveries.values()] == [
        ("payment_link", link["order_id"], loan.recovered)
    ]
    assert str(loan.recovered) == "700.00"


def test_a_link_sent_for_a_written_off_loan_is_paid_as_a_recovery_up_to_what_is_left(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    """Post-collections recovers written-off loans and a payment link is one of its channels (docs/recoveries.md; the
    spec's "Send payment links"): Ops and collection staff send one for a written-off loan - by default, and at most,
    what is left to recover (`Loan.owing`) - and the gateway's payment is recorded as a recovery on it. Found: any
    loan not being repaid was refused 409 ("a payment link needs a serviced loan")."""
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    off = httpx.post(f"{server}/api/v1/loans/{loan_id}/write-off", json={"reason": "borrower absconded"},
                     headers=tenant.auth)  # fmt: skip
    assert off.status_code == 200, off.text
    loans: Loans = platform.get(Loans)
    left = loans.get(tenant.brand_id, loan_id).owing(DUE).amount
    assert left > 0
    ops_url = f"{server}/api/v1/loans/{loan_id}/payment-links"
    desk_url = f"{server}/api/v1/loans/{loan_id}/collection-payment-links"

    above = httpx.post(ops_url, json={"amount": str(left + Decimal("0.01"))}, headers=tenant.auth)
    assert above.status_code == 422, above.text
    assert above.json()["errors"][0]["field"] == "amount" and "amount left to recover" in above.text
    part = httpx.post(ops_url, json={"amount": "700.00"}, headers=tenant.auth)
    assert part.status_code == 201 and part.json()["state"] == "sent", part.text
    assert gateway.pay(part.json()["order_id"]).result(timeout=10).delivered
    loan = loans.get(tenant.brand_id, loan_id)
    assert str(loan.status) == "written_off" and loan.payments == {} and str(loan.recovered) == "700.00"

    # the collection desk's link asks for the rest by default; paid, the loan has recovered all it wrote off
    rest = httpx.post(desk_url, json={"channel": "whatsapp"}, headers=tenant.auth)
    assert rest.status_code == 201, rest.text
    assert Decimal(rest.json()["amount"]) == left - Decimal("700.00")
    assert gateway.pay(rest.json()["order_id"]).result(timeout=10).delivered
    loan = loans.get(tenant.brand_id, loan_id)
    assert [(str(r.mode), r.reference) for r in loan.recoveries.values()] == [
        ("payment_link", part.json()["order_id"]), ("payment_link", rest.json()["order_id"])
    ]  # fmt: skip
    assert loan.recovered == left and loan.owing(DUE).amount == 0
    links = httpx.get(ops_url, headers=tenant.auth).json()["items"]
    assert [x["state"] for x in links] == ["paid", "paid"] and all(x["repayment_id"] for x in links), links
    listed = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
    assert sorted(p["kind"] for p in listed) == ["recovery", "recovery"], listed

    # nothing is left to recover: no more links, by either door
    for url in (ops_url, desk_url):
        done = httpx.post(url, json={}, headers=tenant.auth)
        assert done.status_code == 409 and "nothing is left to recover" in done.text, done.text
