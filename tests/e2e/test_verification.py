"""KYC and bank verification through the API against the real provider simulators over HTTP: results recorded,
provider failures a clear state with a retry, masking, validation, brand isolation, Customer 360."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.support import mobile, settle

STATEMENT = b"%PDF-1.7\nsalary statement of Asha\n%%EOF\n"
PASSWORD = "kyc-portal-pass-2026"


@pytest.fixture
def kyc(provider_simulators: dict[str, Any]) -> dict[str, Any]:
    """The session's provider simulators (the platform's directory points at them), faults reset."""
    for simulator in provider_simulators.values():
        simulator.reset_faults()
    return provider_simulators


def _customer(client: Any, tenant: Tenant, pan: str = "ABCPK0742Q") -> str:
    phone = mobile("9")
    body = {"name": "Asha Kulkarni", "phone": phone, "pan": pan, "date_of_birth": "1990-04-12"}
    made = client.post("/api/v1/customers", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.verification_events").fetchone()[0])


def test_a_bank_account_is_verified_by_penny_drop_and_shows_on_the_account_and_customer_360(
    client: Any, tenant: Tenant, kyc: dict[str, Any], platform: Any
) -> None:
    customer = _customer(client, tenant)
    body = {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Kulkarni"}
    added = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth)
    assert added.status_code == 201, added.text
    account = added.json()
    assert account["verified"] is True and account["status"] == "verified" and account["name_score"] >= 95
    assert account["account_masked"] == "XXXXXXXXXX5678" and "50100012345678" not in added.text
    assert account["bank_holder_name"] == "ASHA KULKARNI" and account["credited"] is True
    again = client.get(f"/api/v1/bank-accounts/{account['id']}", headers=tenant.auth).json()
    assert again["verified"] is True and again["name_score"] == account["name_score"]

    someone_else = {**body, "account_number": "50100012344444"}
    mismatch = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=someone_else, headers=tenant.auth)
    assert mismatch.status_code == 201 and mismatch.json()["status"] == "not_verified"
    assert mismatch.json()["name_score"] < 80 and "does not match" in mismatch.json()["reason"]
    passbook = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "passbook"},
        files={"file": ("passbook.pdf", STATEMENT)},
        headers=tenant.auth,
    ).json()
    manual = client.post(
        f"/api/v1/bank-accounts/{mismatch.json()['id']}/manual-verification",
        json={"document_id": passbook["id"], "note": "joint account; passbook shows both names"},
        headers=tenant.auth,
    )
    assert manual.status_code == 200, manual.text
    assert manual.json()["verified"] is True and manual.json()["method"] == "manual"

    email = f"kyc-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Priya Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    client.cookies.clear()
    logged_in = client.post("/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert logged_in.status_code in (302, 303), logged_in.text
    page = client.get(f"/customers/{customer}")
    client.cookies.clear()
    assert page.status_code == 200 and 'id="customer-kyc"' in page.text
    assert "XXXXXXXXXX5678" in page.text and "50100012345678" not in page.text
    assert f'data-account="{account["id"]}"' in page.text and "verified" in page.text


def test_a_provider_failing_mid_flow_leaves_a_clear_state_and_a_retry_succeeds(
    client: Any, tenant: Tenant, kyc: dict[str, Any]
) -> None:
    customer = _customer(client, tenant)
    kyc["penny_drop"].fail_next(10, 503)
    body = {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Kulkarni"}
    added = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth)
    assert added.status_code == 201, added.text
    failed = added.json()
    assert failed["status"] == "failed" and failed["verified"] is False and failed["reason"]
    kyc["penny_drop"].reset_faults()
    retried = client.post(f"/api/v1/bank-accounts/{failed['id']}/retry", headers=tenant.auth)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "verified" and retried.json()["attempts"] == 2
    assert client.post(f"/api/v1/bank-accounts/{failed['id']}/retry", headers=tenant.auth).status_code == 409

    kyc["bureau"].fail_next(10, 502)
    pulled = client.post(f"/api/v1/customers/{customer}/bureau-pulls", headers=tenant.auth)
    assert pulled.status_code == 201 and pulled.json()["status"] == "failed" and pulled.json()["retryable"] is True
    facts = client.get(f"/api/v1/customers/{customer}/credit-facts", headers=tenant.auth).json()
    assert facts["credit_score"] is None and facts["bank_verified"] is True
    kyc["bureau"].reset_faults()
    retried = client.post(f"/api/v1/customers/{customer}/verifications/bureau/retry", headers=tenant.auth)
    assert retried.status_code == 201, retried.text
    assert retried.json()["status"] == "verified" and retried.json()["result"]["score"] == 742
    facts = client.get(f"/api/v1/customers/{customer}/credit-facts", headers=tenant.auth).json()
    assert facts["credit_score"] == 742 and facts["existing_loans"] == len(retried.json()["result"]["tradelines"])


def test_pan_statement_and_aadhaar_through_the_simulators(client: Any, tenant: Tenant, kyc: dict[str, Any]) -> None:
    customer = _customer(client, tenant)
    pan = client.post(f"/api/v1/customers/{customer}/pan-verifications", headers=tenant.auth)
    assert pan.status_code == 201, pan.text
    result = pan.json()["result"]
    assert pan.json()["status"] == "verified" and result["pan_masked"] == "ABCPK****Q"
    assert result["aadhaar_linked"] is True and result["fraud_flag"] is False and result["name_score"] >= 95

    uploaded = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "bank_statement"},
        files={"file": ("march.pdf", STATEMENT, "application/pdf")},
        headers=tenant.auth,
    ).json()
    analysed = client.post(
        f"/api/v1/customers/{customer}/statement-analyses", json={"document_id": uploaded["id"]}, headers=tenant.auth
    )
    assert analysed.status_code == 201, analysed.text
    assert analysed.json()["status"] == "verified" and analysed.json()["result"]["salary_credits"]
    facts = client.get(f"/api/v1/customers/{customer}/credit-facts", headers=tenant.auth).json()
    assert facts["monthly_salary"] == analysed.json()["result"]["monthly_salary"] is not None

    started = client.post(f"/api/v1/customers/{customer}/aadhaar", json={"method": "digilocker"}, headers=tenant.auth)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    kyc["digilocker"].allow(started.json()["result"]["consent_id"])
    done = client.post(f"/api/v1/customers/{customer}/aadhaar/complete", headers=tenant.auth)
    assert done.status_code == 201, done.text
    aadhaar = done.json()["result"]
    assert aadhaar["masked_aadhaar"].startswith("XXXX XXXX ") and aadhaar["photo_document_id"]
    kinds = {
        d["kind"] for d in client.get(f"/api/v1/customers/{customer}/documents", headers=tenant.auth).json()["items"]
    }
    assert "aadhaar_photo" in kinds
    checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
    if done.json()["status"] == "verified":
        assert "aadhaar_front" not in checklist["missing"]


def test_bad_formats_are_422_naming_the_field_and_nothing_is_recorded(
    client: Any, tenant: Tenant, kyc: dict[str, Any], dsn: str
) -> None:
    customer = _customer(client, tenant)
    before = _events(dsn)
    body = {"account_number": "12-AB", "ifsc": "HDFC1234567", "holder_name": "Asha Kulkarni"}
    refused = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"account_number", "ifsc"}
    no_pan = client.post(
        "/api/v1/customers", json={"name": "Ravi Das", "phone": mobile("8")}, headers=tenant.auth
    ).json()
    refused = client.post(f"/api/v1/customers/{no_pan['id']}/pan-verifications", headers=tenant.auth)
    assert refused.status_code == 422 and {e["field"] for e in refused.json()["errors"]} == {"pan", "date_of_birth"}
    unknown = client.post(f"/api/v1/customers/{customer}/verifications/selfie/retry", headers=tenant.auth)
    assert unknown.status_code == 404
    assert _events(dsn) == before


def test_another_brands_borrower_and_account_are_not_found(
    client: Any, tenant: Tenant, kyc: dict[str, Any], platform: Any
) -> None:
    customer = _customer(client, tenant)
    body = {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Kulkarni"}
    account = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth).json()
    other = make_tenant(platform)
    assert client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/bank-accounts/{account['id']}", headers=other.auth).status_code == 404
    assert client.post(f"/api/v1/bank-accounts/{account['id']}/retry", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/customers/{customer}/kyc", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/customers/{customer}/credit-facts", headers=other.auth).status_code == 404
    assert client.post(f"/api/v1/customers/{customer}/bureau-pulls", headers=other.auth).status_code == 404


def test_account_aggregator_statements_when_the_brand_turns_it_on(
    client: Any, tenant: Tenant, kyc: dict[str, Any]
) -> None:
    customer = _customer(client, tenant)
    path = f"/api/v1/customers/{customer}/statement-analyses"
    assert client.post(path, json={"source": "aa"}, headers=tenant.auth).status_code == 409  # off by default
    switched = client.patch("/api/v1/brand/config", json={"account_aggregation": True}, headers=tenant.auth)
    assert switched.status_code == 200, switched.text
    started = client.post(path, json={"source": "aa"}, headers=tenant.auth)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    handle = started.json()["result"]["consent_id"]
    kyc["aa"].approve(handle)
    kyc["aa"].fail_next(10, 503)
    failed = client.post(f"{path}/complete", headers=tenant.auth)
    assert failed.status_code == 201 and failed.json()["status"] == "failed" and failed.json()["retryable"]
    kyc["aa"].reset_faults()
    done = client.post(f"/api/v1/customers/{customer}/verifications/statement/retry", headers=tenant.auth)
    assert done.status_code == 201, done.text
    assert done.json()["status"] == "verified" and done.json()["source"] == "aa"
    checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
    assert "bank_statement" not in checklist["missing"]


def test_auditors_replay_a_kyc_profile_and_a_bank_account(client: Any, tenant: Tenant, kyc: dict[str, Any]) -> None:
    customer = _customer(client, tenant)
    body = {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Kulkarni"}
    account = client.post(f"/api/v1/customers/{customer}/bank-accounts", json=body, headers=tenant.auth).json()
    client.post(f"/api/v1/customers/{customer}/bureau-pulls", headers=tenant.auth)
    kyc_id = client.get("/api/v1/audit/types", headers=tenant.auth)
    assert {"kyc_profile", "bank_account", "document"} <= set(kyc_id.json()["items"])
    state = client.get(
        f"/api/v1/audit/bank_account/{account['id']}/state",
        params={"as_of": "2100-01-01T00:00:00+00:00"},
        headers=tenant.auth,
    )
    assert state.status_code == 200, state.text
    assert state.json()["state"]["status"] == "verified"
    from domain.verification.profile import profile_id

    profile = profile_id(tenant.brand_id, uuid.UUID(customer))
    replayed = client.get(
        f"/api/v1/audit/kyc_profile/{profile}/state", params={"as_of": "2100-01-01T00:00:00+00:00"}, headers=tenant.auth
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["state"]["checks"]["bureau"]["status"] == "verified"
