"""Operational actions that are rows, not events, leave audit entries (adapters/ops_activity.py): payment links
(created, sent, paid), UPI Autopay mandates (registered, activated, revoked) and a borrower's messaging preferences
each write exactly one entry with who acted and the figures, in the same transaction as the change; a refused action
writes none; another brand sees none; the preferences' history keeps every change in order. Read through the audit
trail API and page (`/api/v1/audit/trail`, `/audit`), as an auditor does."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.engagement_store import EngagementStore
from api.services.disbursals import WEBHOOK_SECRET_ENV
from projections.identity import IdentityQueries
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import poll, staff_session
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan: 8037.57
PASSWORD = "audit-Password-2026!"
OPS = ("PaymentLink", "Mandate", "MessagingPreferences")


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    yield


def _trail(server: str, tenant: Tenant, record_id: UUID | str) -> list[dict[str, Any]]:
    """The record's operational entries in the audit trail, oldest first."""
    answer = httpx.get(f"{server}/api/v1/audit/trail", params={"aggregate_id": str(record_id), "limit": 200},
                       headers=tenant.auth)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return [e for e in reversed(answer.json()["items"]) if e["event_type"].startswith(OPS)]


def _key_actor(platform: Any, tenant: Tenant) -> str:
    (key,) = platform.get(IdentityQueries).api_keys(tenant.brand_id)
    return f"apikey:{key.id}"


def test_a_payment_links_creation_sending_and_payment_each_leave_one_entry_with_actor_and_figures(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    tenant = make_tenant(platform)
    staff = _key_actor(platform, tenant)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, DUE)
    url = f"{server}/api/v1/loans/{loan_id}/payment-links"

    refused = httpx.post(url, json={"amount": "999999.00"}, headers=tenant.auth)
    assert refused.status_code == 422
    assert _trail(server, tenant, loan_id) == []  # a refused link: no entry

    made = httpx.post(url, json={"channel": "whatsapp"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    link = made.json()
    entries = _trail(server, tenant, loan_id)
    assert [(e["event_type"], e["actor"], e["aggregate_type"]) for e in entries] == [
        ("PaymentLinkCreated", staff, "Loan"),
        ("PaymentLinkSent", staff, "Loan"),
    ]
    created, sent = (e["details"] for e in entries)
    assert (created["link_id"], created["amount"], created["channel"], created["state"], created["order_id"]) == (
        link["id"], "8037.57", "whatsapp", "created", link["order_id"])  # fmt: skip
    assert (sent["amount"], sent["channel"], sent["state_before"], sent["state"]) == (
        "8037.57", "whatsapp", "created", "sent")  # fmt: skip

    assert gateway.pay(link["order_id"]).result(timeout=10).delivered
    paid = poll(lambda: _trail(server, tenant, loan_id), lambda found: len(found) == 3)
    assert paid[2]["event_type"] == "PaymentLinkPaid" and paid[2]["actor"] == "webhook:payments"
    assert (paid[2]["details"]["state_before"], paid[2]["details"]["state"], paid[2]["details"]["amount"]) == (
        "sent", "paid", "8037.57")  # fmt: skip
    assert paid[2]["details"]["repayment_id"]

    # The audit trail page lists them with the recorded figures; another brand's trail has none of them.
    email = f"auditor.{uuid.uuid4().hex[:8]}@audit.example.in"
    made_staff = httpx.post(f"{server}/api/v1/staff", headers=tenant.auth,
                            json={"name": "Audit Admin", "email": email, "roles": ["admin"], "password": PASSWORD})  # fmt: skip
    assert made_staff.status_code == 201, made_staff.text
    page = staff_session(server, email, PASSWORD).get("/audit", params={"aggregate_id": str(loan_id)})
    assert page.status_code == 200 and "payment link created" in page.text and "PaymentLinkPaid" in page.text
    other = make_tenant(platform)
    assert _trail(server, other, loan_id) == []
    everything = httpx.get(f"{server}/api/v1/audit/trail", params={"limit": 200}, headers=other.auth).json()
    assert not [e for e in everything["items"] if e["event_type"].startswith(OPS)]


def test_a_mandates_registration_activation_and_revocation_each_leave_one_entry_and_refusals_none(
    platform: Any, server: str, provider_simulators: Any
) -> None:
    tenant = make_tenant(platform)
    staff = _key_actor(platform, tenant)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    url = f"{server}/api/v1/loans/{loan_id}/mandates"

    made = httpx.post(url, json={"vpa": "meera@okbank", "max_amount": "10000.00"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    mandate = made.json()
    twice = httpx.post(url, json={"vpa": "meera@okbank", "max_amount": "10000.00"}, headers=tenant.auth)
    assert twice.status_code == 409
    (registered,) = _trail(server, tenant, loan_id)
    assert (registered["event_type"], registered["actor"]) == ("MandateRegistered", staff)
    assert {k: registered["details"][k] for k in ("mandate_id", "vpa", "max_amount", "frequency", "state")} == {
        "mandate_id": mandate["id"], "vpa": "meera@okbank", "max_amount": "10000.00",
        "frequency": mandate["frequency"], "state": "registered"}  # fmt: skip

    httpx.get(mandate["approval_url"], params={"outcome": "approve"})  # the payer approves in their UPI app
    active = poll(lambda: _trail(server, tenant, loan_id), lambda found: len(found) == 2)
    assert (active[1]["event_type"], active[1]["actor"]) == ("MandateActivated", "webhook:payments")
    assert (active[1]["details"]["state_before"], active[1]["details"]["state"]) == ("registered", "active")

    assert httpx.post(f"{url}/{mandate['id']}/revoke", headers=tenant.auth).status_code == 200
    assert httpx.post(f"{url}/{mandate['id']}/revoke", headers=tenant.auth).status_code == 409
    other = make_tenant(platform)
    assert httpx.post(f"{url}/{mandate['id']}/revoke", headers=other.auth).status_code == 404
    entries = _trail(server, tenant, loan_id)
    assert [(e["event_type"], e["actor"]) for e in entries] == [
        ("MandateRegistered", staff), ("MandateActivated", "webhook:payments"), ("MandateRevoked", staff)]  # fmt: skip
    revoked = entries[2]["details"]
    assert (revoked["state_before"], revoked["state"], revoked["max_amount"], revoked["reason"]) == (
        "active", "revoked", "10000.00", "revoked by staff")  # fmt: skip
    assert _trail(server, other, loan_id) == []

    # Keyset pages of two entries walk the loan's events and these entries together, each once, newest first.
    whole = httpx.get(f"{server}/api/v1/audit/trail", params={"aggregate_id": str(loan_id), "limit": 200},
                      headers=tenant.auth).json()["items"]  # fmt: skip
    walked: list[dict[str, Any]] = []
    params: dict[str, Any] = {"aggregate_id": str(loan_id), "limit": 2}
    while True:
        page = httpx.get(f"{server}/api/v1/audit/trail", params=params, headers=tenant.auth).json()
        walked += page["items"]
        if not page.get("next_cursor"):
            break
        params["cursor"] = page["next_cursor"]
    assert walked == whole and len(whole) > 3


def test_every_change_of_a_borrowers_preferences_is_kept_in_order_with_old_and_new_values(
    platform: Any, server: str
) -> None:
    tenant = make_tenant(platform)
    staff = _key_actor(platform, tenant)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    customer_id = httpx.get(f"{server}/api/v1/loans/{loan_id}", headers=tenant.auth).json()["customer_id"]
    url = f"{server}/api/v1/customers/{customer_id}/messaging-preferences"
    changes = [
        {"opted_out": ["whatsapp"], "reason": "asked on call"},
        {"opted_out": ["whatsapp", "sms"], "language": "hi", "reason": "DND"},
        {"opted_out": [], "language": "en", "reason": "opted back in"},
    ]
    for change in changes:
        assert httpx.put(url, json=change, headers=tenant.auth).status_code == 200
        time.sleep(0.01)
    bad = httpx.put(url, json={"opted_out": ["pigeon"]}, headers=tenant.auth)
    assert bad.status_code == 422
    stale = httpx.put(url, json={"opted_out": ["email"]}, headers={**tenant.auth, "If-Match": '"1"'})
    assert stale.status_code == 409  # at version 3: nothing saved, no entry
    other = make_tenant(platform)
    assert httpx.put(url, json={"opted_out": ["email"]}, headers=other.auth).status_code == 404

    history = platform.get(EngagementStore).preference_history(tenant.brand_id, UUID(customer_id))
    assert [
        (h.version, h.changed_by, h.language_before, h.language, h.opted_out_before, h.opted_out, h.reason)
        for h in history
    ] == [
        (1, staff, None, "en", None, ("whatsapp",), "asked on call"),
        (2, staff, "en", "hi", ("whatsapp",), ("sms", "whatsapp"), "DND"),
        (3, staff, "hi", "en", ("sms", "whatsapp"), (), "opted back in"),
    ]
    assert [h.reason_before for h in history] == [None, "asked on call", "DND"]
    assert history == sorted(history, key=lambda h: h.changed_at)
    entries = _trail(server, tenant, customer_id)
    assert [(e["event_type"], e["aggregate_type"], e["details"]["version"]) for e in entries] == [
        ("MessagingPreferencesChanged", "CustomerRecord", 1), ("MessagingPreferencesChanged", "CustomerRecord", 2),
        ("MessagingPreferencesChanged", "CustomerRecord", 3)]  # fmt: skip
    assert platform.get(EngagementStore).preference_history(other.brand_id, UUID(customer_id)) == []

    # Customer 360 lists every change, newest first.
    email = f"messaging.{uuid.uuid4().hex[:8]}@audit.example.in"
    made_staff = httpx.post(f"{server}/api/v1/staff", headers=tenant.auth,
                            json={"name": "Audit Admin", "email": email, "roles": ["admin"], "password": PASSWORD})  # fmt: skip
    assert made_staff.status_code == 201, made_staff.text
    page = staff_session(server, email, PASSWORD).get(f"/customers/{customer_id}")
    assert page.status_code == 200 and 'id="preferences-history"' in page.text
    shown = [int(v) for v in re.findall(r'<li data-version="(\d+)"', page.text)]
    assert shown == [3, 2, 1]
    assert "language hi → en" in page.text and "opted out of not set → whatsapp" in page.text
    assert _trail(server, other, customer_id) == []
