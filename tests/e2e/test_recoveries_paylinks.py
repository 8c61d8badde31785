"""A borrower's own online payment needs no approval (issue #16 item 5), and on a written-off loan it is a recovery:
a payment link sent before the write-off and paid after it is recorded once as a recovery however often the
gateway's webhook repeats (under the same or a new event id), against the gateway simulator over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime
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
