"""The borrower is told of their re-loan offer (spec "Step 7 Re-Loan"): when the `reloan-offers` job makes an offer
on a closed loan, the brand's `reloan_offer` template goes out through the engagement context - in the borrower's
language, not on a channel they opted out of, once however often the job runs - with the amount and the link to the
web flow's status page, where the borrower (signed in with the phone the message reached) finds the offer. A brand
whose templates were seeded before the kind existed gets its defaults when the first such message is sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.services.disbursals import WEBHOOK_SECRET_ENV
from api.services.engagement import Engagement
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.blackbox import DAY, zone_at
from tests.e2e.onboarding_support import bearer, sign_in
from tests.e2e.test_loan360 import _close
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]


@pytest.fixture(autouse=True)
def wiring(provider_simulators: Any, server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    yield


def _job(server: str, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = httpx.post(f"{server}/api/v1/jobs/reloan-offers/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, ReloanOffers.name)
    settle(platform, "jobs")
    return dict(httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _seeded_before_reloan_offers(platform: Any, tenant: Tenant) -> None:
    """The brand's templates as seeded before the `reloan_offer` kind existed: every other default."""
    assert platform.port(Engagement).seed_defaults(tenant.brand_id) == 44  # 38 first defaults + 6 of the offer
    with platform.db.pool.connection() as conn:
        conn.execute(
            "DELETE FROM ops.message_template_versions WHERE template_id IN (SELECT id FROM ops.message_templates "
            "WHERE brand_id = %s AND kind = 'reloan_offer')",
            (tenant.brand_id,),
        )
        conn.execute(
            "DELETE FROM ops.message_templates WHERE brand_id = %s AND kind = 'reloan_offer'", (tenant.brand_id,)
        )


def test_an_offer_is_told_once_in_the_borrowers_language_on_the_channels_they_accept(
    client: Any, server: str, platform: Any, provider_simulators: Any
) -> None:
    sms, whatsapp = provider_simulators["sms"], provider_simulators["whatsapp"]
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    result, _ = platform.get(Identity).change_configuration(
        tenant.brand_id,
        {"timezone": zone_at(DAY), "automated_reloan": True, "reloan_hike": {"kind": "percent", "value": "10"}},
    )
    settle(platform, "identity", result.position)
    _seeded_before_reloan_offers(platform, tenant)
    loan_id = disbursed_loan(platform, tenant)
    closed = platform.get(Loans).get(tenant.brand_id, loan_id)
    with platform.db.pool.connection() as conn:
        phone = str(
            conn.execute("SELECT phone FROM read.customers WHERE id = %s", (closed.customer_id,)).fetchone()["phone"]
        )
    # Hindi, and no WhatsApp: the borrower's choices hold for offers as for reminders
    prefs = httpx.put(
        f"{server}/api/v1/customers/{closed.customer_id}/messaging-preferences",
        json={"language": "hi", "opted_out": ["whatsapp"], "reason": "asked on a call"},
        headers=tenant.auth,
    )
    assert prefs.status_code == 200, prefs.text
    _close(client, platform, tenant, loan_id)
    sms_before, wa_before = len(sms.messages(phone)), len(whatsapp.messages(phone))

    run = _job(server, platform, tenant)
    assert run["status"] == "succeeded"
    # one loan offered, then its offer told on three channels (SMS sent, WhatsApp suppressed, no email address):
    # the run counts messages, never more outcomes than items (it once read processed 2, succeeded 3)
    assert (run["processed"], run["succeeded"], run["failed"], run["skipped"]) == (4, 3, 0, 1), run
    [offer] = httpx.get(f"{server}/api/v1/reloan-offers", headers=tenant.auth).json()["items"]
    texts = [m["text"] for m in sms.messages(phone)[: len(sms.messages(phone)) - sms_before]]
    assert len(texts) == 1, texts
    link = f"{server}/apply/{tenant.slug}/status"
    assert "₹93,500.00" in texts[0] and link in texts[0] and "पूर्व-स्वीकृत" in texts[0], texts[0]
    assert len(whatsapp.messages(phone)) == wa_before  # opted out: recorded, never sent
    sent = httpx.get(f"{server}/api/v1/messages", params={"loan_id": str(loan_id)}, headers=tenant.auth).json()
    by_channel = {m["channel"]: m for m in sent["items"] if m["kind"] == "reloan_offer"}
    assert by_channel["sms"]["status"] in ("sent", "delivered") and by_channel["sms"]["language"] == "hi"
    assert by_channel["whatsapp"]["status"] == "suppressed" and "email" not in by_channel  # no email address
    # the brand seeded before the kind existed now has its defaults (and can edit them)
    templates = httpx.get(f"{server}/api/v1/message-templates", params={"limit": 200}, headers=tenant.auth).json()
    assert {(t["channel"], t["language"]) for t in templates["items"] if t["kind"] == "reloan_offer"} == {
        (c, lang) for c in ("sms", "whatsapp", "email") for lang in ("en", "hi")
    }

    # reruns tell nobody twice
    assert _job(server, platform, tenant)["status"] == "succeeded"
    assert len(sms.messages(phone)) == sms_before + 1
    again = httpx.get(f"{server}/api/v1/messages", params={"loan_id": str(loan_id)}, headers=tenant.auth).json()
    assert len([m for m in again["items"] if m["kind"] == "reloan_offer"]) == 2

    # the borrower signs in with the phone the message reached and finds the offer there
    session = sign_in(client, sms, tenant.slug, phone)
    [mine] = client.get("/api/v1/borrower/reloan-offers", headers=bearer(session)).json()["items"]
    assert (mine["id"], mine["status"], mine["amount"]) == (offer["id"], "pending", "93500.00")
    client.cookies.set("cd_borrower", session["token"], path=f"/apply/{tenant.slug}")
    try:
        page = client.get(link.removeprefix(server))
    finally:
        client.cookies.clear()
    assert page.status_code == 200 and f'data-offer="{offer["id"]}"' in page.text and "₹93,500" in page.text
