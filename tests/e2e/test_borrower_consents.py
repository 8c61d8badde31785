"""The borrower's own DigiLocker and Account Aggregator round trips over the API, against the provider simulators:
start answers the consent page, allow → complete records the funnel step from the fetched data, deny → a clear
state, nothing recorded, and the borrower starts again or uploads instead."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import EMPLOYMENT, PERSONAL, _pan
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name


def _to_aadhaar(client: Any, sms: SmsSimulator, tenant: Tenant, phone: str | None = None) -> dict[str, str]:
    auth = bearer(sign_in(client, sms, tenant.slug, phone or mobile()))
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200
    return auth


def test_digilocker_allow_records_the_aadhaar_step_and_deny_leaves_it_open(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any]
) -> None:
    digilocker = provider_simulators["digilocker"]
    digilocker.reset_faults()
    early = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.post("/api/v1/borrower/consents/digilocker", headers=early).status_code == 409  # no record yet
    auth = _to_aadhaar(client, sms, tenant)

    started = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "pending" and started.json()["redirect_url"].startswith("http")
    back = client.get("/apply/consents/digilocker")  # where the provider sends an app's borrower back
    assert back.status_code == 200 and "Go back to the app" in back.text
    waiting = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert waiting.status_code == 200 and waiting.json()["status"] == "pending", waiting.text
    digilocker.deny(started.json()["consent_id"])
    denied = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert denied.status_code == 200 and denied.json()["status"] == "denied", denied.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "aadhaar"

    again = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert again.status_code == 201 and again.json()["consent_id"] != started.json()["consent_id"]
    digilocker.allow(again.json()["consent_id"])
    done = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert done.status_code == 200 and done.json()["status"] == "verified", done.text
    details = done.json()["details"]
    assert details["method"] == "digilocker" and details["name"] == "Asha Verma"
    assert details["aadhaar_number"].startswith("XXXXXXXX") and details["digilocker_reference"]
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["next_step"] == "bank_account"


def test_account_aggregator_only_when_the_brand_has_it_then_allow_and_deny(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any]
) -> None:
    aa = provider_simulators["aa"]
    aa.reset_faults()
    auth = _to_aadhaar(client, sms, tenant)
    upload = {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}
    assert client.put("/api/v1/borrower/steps/aadhaar", json=upload, headers=auth).status_code == 200
    account = {"account_number": "123456789012", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}
    assert client.put("/api/v1/borrower/steps/bank_account", json=account, headers=auth).status_code == 200

    off = client.patch("/api/v1/brand/config", json={"account_aggregation": False}, headers=tenant.auth)
    assert off.status_code == 200, off.text
    assert client.post("/api/v1/borrower/consents/account-aggregator", headers=auth).status_code == 409
    on = client.patch("/api/v1/brand/config", json={"account_aggregation": True}, headers=tenant.auth)
    assert on.status_code == 200, on.text

    started = client.post("/api/v1/borrower/consents/account-aggregator", headers=auth)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    aa.reject(started.json()["consent_id"])
    denied = client.post("/api/v1/borrower/consents/account-aggregator/complete", headers=auth)
    assert denied.json()["status"] == "denied", denied.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "bank_statement"

    again = client.post("/api/v1/borrower/consents/account-aggregator", headers=auth)
    aa.approve(again.json()["consent_id"])
    done = client.post("/api/v1/borrower/consents/account-aggregator/complete", headers=auth)
    assert done.status_code == 200 and done.json()["status"] == "verified", done.text
    assert done.json()["details"]["method"] == "account_aggregator" and done.json()["details"]["source"] == "aa"
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "loan_request"


def test_digilocker_someone_elses_aadhaar_or_the_provider_down_records_nothing_on_the_funnel(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any]
) -> None:
    digilocker = provider_simulators["digilocker"]
    digilocker.reset_faults()
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    personal = {**PERSONAL, "name": "Asha Mismatch"}  # the simulator answers someone else's Aadhaar
    assert client.put("/api/v1/borrower/steps/personal", json=personal, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200

    digilocker.fail_next(10, 503)
    down = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert down.status_code == 201 and down.json()["status"] == "failed" and down.json()["retryable"], down.text
    digilocker.reset_faults()

    started = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    digilocker.allow(started.json()["consent_id"])
    other = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert other.status_code == 200 and other.json()["status"] == "not_verified", other.text
    assert "does not match" in other.json()["reason"]
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "aadhaar"


def test_a_consent_is_not_started_before_the_steps_its_step_comes_after(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any]
) -> None:
    """DigiLocker is a paid call: a round trip the funnel could not record yet (employment not done) is refused
    before it is made, naming the step to do first; the Account Aggregator's likewise before the bank account."""
    digilocker, aa = provider_simulators["digilocker"], provider_simulators["aa"]
    digilocker.reset_faults()
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    asked = len(digilocker.outbox.requests()), len(aa.outbox.requests())
    early = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert early.status_code == 409 and early.json()["next_step"] == "employment", early.text
    assert "employment" in early.json()["detail"]
    too_early = client.post("/api/v1/borrower/consents/account-aggregator", headers=auth)
    assert too_early.status_code == 409 and too_early.json()["next_step"] == "employment", too_early.text
    assert (len(digilocker.outbox.requests()), len(aa.outbox.requests())) == asked, "a provider was asked"
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200
    started = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text


def test_a_consent_verified_while_its_step_was_closed_is_recorded_once_the_step_opens(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any], platform: Any
) -> None:
    """The consent was verified and saved, then the funnel refused the step (staff sent employment back meanwhile:
    409). A later complete asked DigiLocker for a consent no longer waiting (409 "no aadhaar consent is waiting")
    for good, and the borrower had to go round DigiLocker (a paid call) again."""
    digilocker = provider_simulators["digilocker"]
    digilocker.reset_faults()
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200
    started = client.post("/api/v1/borrower/consents/digilocker", headers=auth)
    assert started.status_code == 201, started.text
    digilocker.allow(started.json()["consent_id"])
    back = {"step": "employment", "reason": "salary slip unreadable"}
    sent = client.post(f"/api/v1/onboarding/{session['borrower_id']}/send-back", json=back, headers=tenant.auth)
    assert sent.status_code == 200, sent.text
    early = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert early.status_code == 409 and "employment" in early.text, early.text
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200
    fetched = len(digilocker.outbox.requests())
    done = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)
    assert done.status_code == 200 and done.json()["status"] == "verified", done.text
    assert done.json()["consent_id"] == started.json()["consent_id"]
    assert done.json()["details"]["method"] == "digilocker" and done.json()["details"]["name"] == "Asha Verma"
    assert len(digilocker.outbox.requests()) == fetched, "DigiLocker was asked again for a consent it had answered"
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["next_step"] == "bank_account"
    again = client.post("/api/v1/borrower/consents/digilocker/complete", headers=auth)  # recorded: as before
    assert again.status_code == 409, again.text
