"""Every provider webhook probed as an outside integrator's test would (docs/api.md, "Provider webhooks"): unsigned,
forged and stale deliveries refused, a signed body that is not an event or carries data of the wrong type refused
with a problem+json 4xx, and a signed, well-formed event for a reference we do not know acknowledged with 200
`ignored` (a permanent 4xx/5xx there would make the provider retry for ever)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from adapters.webhooks import sign
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

#: Each webhook with a well-formed event of its own whose reference is nobody's.
UNKNOWN: dict[str, dict[str, Any]] = {
    "sms": {"type": "message.delivered", "data": {"reference": str(uuid.uuid4()), "message_id": "sms_nobody"}},
    "whatsapp": {"type": "message.delivered", "data": {"reference": str(uuid.uuid4()), "message_id": "wa_nobody"}},
    "esign": {
        "type": "esign.signed",
        "data": {"request_id": "esr_nobody", "reference": str(uuid.uuid4()), "document_sha256": "0" * 64},
    },
    "gateway": {"type": "payout.processed", "data": {"payout_id": "pout_nobody", "reference": "LN-NOBODY"}},
    "payments": {
        "type": "payment.captured",
        "data": {"order_id": "order_nobody", "reference": "nobody", "amount": 10000, "status": "captured"},
    },
    "payments-mandate": {"type": "mandate.activated", "data": {"reference": str(uuid.uuid4())}},
}
HOOKS = sorted({name.split("-")[0] for name in UNKNOWN} | {"dialer"})


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    yield


def _event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"evt_{uuid.uuid4().hex}", "type": kind, "created_at": "2026-01-31T10:00:00+00:00", "data": data}


def post(server: str, hook: str, body: bytes, secret: str | None = PROVIDER_WEBHOOK_SECRET,
         at: int | None = None) -> httpx.Response:  # fmt: skip
    """POST `body` to the webhook, signed with `secret` at `at` (now) - unsigned when `secret` is None."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers |= sign(secret, body, at if at is not None else int(time.time()))
    return httpx.post(f"{server}/api/v1/webhooks/{hook}", content=body, headers=headers)


@pytest.mark.parametrize("hook", HOOKS)
def test_unsigned_forged_and_stale_deliveries_are_refused_as_problems(server: str, hook: str) -> None:
    body = json.dumps(_event("x.y", {})).encode()
    unsigned = post(server, hook, body, secret=None)
    forged = post(server, hook, body, secret="not-the-secret")
    stale = post(server, hook, body, at=int(time.time()) - 3600)
    assert [unsigned.status_code, forged.status_code, stale.status_code] == [400, 401, 401]
    for answer in (unsigned, forged, stale):
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
        assert answer.json()["reason"] in ("missing_header", "bad_signature", "stale_timestamp"), answer.text


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'"text"',
        b'{"id": "evt_1", "type": "message.delivered", "created_at": "2026-01-31T10:00:00+00:00"}',
        b'{"id": 5, "type": ["a"], "created_at": "yesterday", "data": "x"}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_a_problem_naming_the_body(server: str, hook: str, raw: bytes) -> None:
    answer = post(server, hook, raw)
    expected = 400 if hook == "esign" else 422  # e-sign's documented 400 `malformed-json` (docs/api.md)
    assert answer.status_code == expected, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    assert "body" in answer.text


@pytest.mark.parametrize("case", sorted(UNKNOWN))
def test_a_signed_event_for_a_reference_we_do_not_know_is_acknowledged_ignored(server: str, case: str) -> None:
    hook = case.split("-")[0]
    event = _event(UNKNOWN[case]["type"], UNKNOWN[case]["data"])
    body = json.dumps(event).encode()
    first, again = post(server, hook, body), post(server, hook, body)
    assert (first.status_code, again.status_code) == (200, 200), (first.text, again.text)
    status = first.json().get("status") or first.json().get("outcome")
    assert status == "ignored", first.text


#: Each webhook with an event whose data has fields of the wrong type, and the fields its 422 names.
WRONG_TYPES: dict[str, tuple[str, dict[str, Any], set[str]]] = {
    "sms": ("message.delivered", {"reference": 5, "message_id": ["m"]}, {"data.reference", "data.message_id"}),
    "whatsapp": ("message.failed", {"reference": str(uuid.uuid4()), "reason": {"code": 1}}, {"data.reason"}),
    "esign": (
        "esign.signed",
        {"reference": 5, "request_id": ["r"], "document_sha256": "0" * 64},
        {"data.reference", "data.request_id"},
    ),
    "gateway": ("payout.processed", {"payout_id": 12345}, {"data.payout_id"}),
    "payments": ("payment.captured", {"order_id": {"id": 1}, "amount": "10.00"}, {"data.order_id"}),
    "dialer": (
        "call.completed",
        {"call_id": "c1", "reference": "not-a-uuid", "status": "answered", "duration_seconds": "long"},
        {"data.reference", "data.duration_seconds"},
    ),
}


@pytest.mark.parametrize("hook", sorted(WRONG_TYPES))
def test_a_signed_event_with_data_of_the_wrong_type_is_a_422_naming_the_fields(server: str, hook: str) -> None:
    kind, data, fields = WRONG_TYPES[hook]
    body = json.dumps(_event(kind, data)).encode()
    answer = post(server, hook, body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    assert {e["field"] for e in answer.json()["errors"]} == fields, answer.text
    assert post(server, hook, body).status_code == 422  # the same answer again: nothing was kept


def test_a_dialer_event_for_a_call_not_recorded_yet_is_a_409_the_documented_race(server: str) -> None:
    """The dialer answers click-to-call before we record the call, so its event may arrive first: 409, deliver again."""
    data = {"call_id": "c1", "reference": str(uuid.uuid4()), "status": "answered", "duration_seconds": 3}
    answer = post(server, "dialer", json.dumps(_event("call.completed", data)).encode())
    assert answer.status_code == 409, answer.text


def test_a_captured_payment_of_zero_is_a_422_and_records_nothing(platform: Any, server: str) -> None:
    """Before, an `amount` of 0 (falsy) fell back to the link's amount: a payment of nothing paid the instalment."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    link = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={}, headers=tenant.auth)
    assert link.status_code == 201, link.text
    for amount in (0, "0.00", -5):
        data = {"order_id": link.json()["order_id"], "reference": "x", "amount": amount, "utr": "1"}
        answer = post(server, "payments", json.dumps(_event("payment.captured", data)).encode())
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == ["data.amount"], answer.text
    paid = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth)
    assert paid.status_code == 200 and paid.json()["items"] == [], paid.text
