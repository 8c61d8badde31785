"""A PAN typed by someone signed in with another phone links their onboarding to the one Customer 360 record (staff
see the application beside it; `check_someone_elses_pan` in the origination black box), but a PAN is no proof: anyone
can type one. Found by the brand-isolation audit: the stranger's portal then showed the record's KYC documents and
downloaded them, listed its open document requests, and opened the record's loans by id. Now a record found by the
PAN alone shows its borrower nothing of what it holds (`Onboarding.record_shown`): only what their own funnel made."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.testclient import TestClient

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_api_loans import PRODUCT, catalogue
from tests.e2e.test_onboarding_api import EMPLOYMENT, PERSONAL, _pan
from tests.support import mobile, settle

__all__ = ["catalogue", "sms"]  # the fixtures, used by name

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _past_personal(client: Any, sms: SmsSimulator, tenant: Tenant, pan: str, personal: Any) -> dict[str, str]:
    """A new borrower signed in (a phone of their own) past the PAN and personal steps: their bearer header."""
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": pan}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=personal, headers=auth).status_code == 200
    return auth


def _upload(client: Any, auth: dict[str, str], kind: str, name: str) -> Any:
    sent = client.post(
        "/api/v1/borrower/documents",
        data={"kind": kind},
        files={"file": (name, PDF + uuid.uuid4().bytes)},
        headers=auth,
    )
    assert sent.status_code == 201, sent.text
    return sent


def test_a_record_found_by_the_pan_alone_shows_the_stranger_nothing_it_holds(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    pan = _pan()
    owner_auth = _past_personal(client, sms, tenant, pan, PERSONAL)
    sent = _upload(client, owner_auth, "pan_card", "pan.pdf")
    document = sent.json()["id"]
    owner = sent.json()["customer_id"]
    asked = client.post(
        f"/api/v1/customers/{owner}/document-requests", json={"kinds": ["salary_slip"]}, headers=tenant.auth
    )
    assert asked.status_code == 201, asked.text
    body = {"customer_id": owner, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert loan.status_code == 201, loan.text
    settle(platform, "documents")

    # The owner sees their record (the control: what the stranger is refused exists and is shown to its borrower).
    assert [d["id"] for d in client.get("/api/v1/borrower/documents", headers=owner_auth).json()["items"]] == [document]
    assert client.get(f"/api/v1/borrower/documents/{document}/file", headers=owner_auth).status_code == 200
    assert client.get(f"/api/v1/borrower/applications/{loan.json()['id']}", headers=owner_auth).status_code == 200
    assert client.get("/api/v1/borrower/me", headers=owner_auth).json()["requested_documents"]

    stranger = _past_personal(client, sms, tenant, pan, {**PERSONAL, "name": "Someone Else"})
    theirs = _upload(client, stranger, "salary_slip", "slip.pdf")
    assert theirs.json()["customer_id"] == owner, theirs.text  # linked, for staff
    settle(platform, "documents")

    listed = client.get("/api/v1/borrower/documents", headers=stranger)
    assert listed.status_code == 200, listed.text
    assert [d["id"] for d in listed.json()["items"]] == [theirs.json()["id"]], listed.text  # their own upload only
    assert listed.json()["required"] == [] and listed.json()["missing"] == [] and not listed.json().get("requested")
    assert client.get(f"/api/v1/borrower/documents/{theirs.json()['id']}/file", headers=stranger).status_code == 200
    assert client.get(f"/api/v1/borrower/documents/{document}", headers=stranger).status_code == 404
    assert client.get(f"/api/v1/borrower/documents/{document}/file", headers=stranger).status_code == 404
    assert not client.get("/api/v1/borrower/me", headers=stranger).json().get("requested_documents")
    assert client.get(f"/api/v1/borrower/applications/{loan.json()['id']}", headers=stranger).status_code == 404
    assert client.get("/api/v1/borrower/reloan-offers", headers=stranger).json()["items"] == []

    web = TestClient(app, follow_redirects=False)
    with web:
        web.cookies.set("cd_borrower", stranger["Authorization"].removeprefix("Bearer "), path=f"/apply/{tenant.slug}")
        page = web.get(f"/apply/{tenant.slug}/documents")
        assert page.status_code == 200 and 'id="documents-held-elsewhere"' in page.text, page.text[:500]
        assert "pan.pdf" not in page.text and document not in page.text


def test_the_records_verified_digilocker_consent_does_not_complete_the_strangers_aadhaar_step(
    client: Any, tenant: Tenant, sms: SmsSimulator, provider_simulators: dict[str, Any]
) -> None:
    """A consent verified on the record and not recorded on this funnel is recorded from the check without asking
    DigiLocker again - for the record's own borrower. The stranger's `complete` took the owner's verified Aadhaar
    (name, date of birth, address) as theirs, without ever consenting."""
    digilocker = provider_simulators["digilocker"]
    digilocker.reset_faults()
    pan = _pan()
    owner = bearer(sign_in(client, sms, tenant.slug, mobile()))
    for step, body in (("pan", {"pan": pan}), ("personal", PERSONAL), ("employment", EMPLOYMENT)):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=owner).status_code == 200
    started = client.post("/api/v1/borrower/consents/digilocker", headers=owner)
    assert started.status_code == 201, started.text
    digilocker.allow(started.json()["consent_id"])

    stranger = bearer(sign_in(client, sms, tenant.slug, mobile()))
    for step, body in (("pan", {"pan": pan}), ("personal", PERSONAL), ("employment", EMPLOYMENT)):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=stranger).status_code == 200
    # The owner's consent is verified on the record (their complete), not yet recorded on the stranger's funnel.
    done = client.post("/api/v1/borrower/consents/digilocker/complete", headers=owner)
    assert done.status_code == 200 and done.json()["status"] == "verified", done.text
    taken = client.post("/api/v1/borrower/consents/digilocker/complete", headers=stranger)
    assert taken.json().get("status") != "verified" and "Asha Verma" not in taken.text, taken.text
    assert client.get("/api/v1/borrower/me", headers=stranger).json()["next_step"] == "aadhaar"


def test_a_strangers_callback_request_is_filed_under_no_record_and_names_none_of_its_loans(
    client: Any, tenant: Tenant, sms: SmsSimulator, catalogue: Any, platform: Any
) -> None:
    """A callback request took the funnel's record, PAN-found or not: the stranger's request was filed under the
    owner's Customer 360 record (shown on it, routed to whoever held the owner's loan) and could name the owner's
    loan as their own."""
    pan = _pan()
    owner_auth = _past_personal(client, sms, tenant, pan, PERSONAL)
    owner = _upload(client, owner_auth, "pan_card", "pan.pdf").json()["customer_id"]
    body = {"customer_id": owner, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert loan.status_code == 201, loan.text

    stranger = _past_personal(client, sms, tenant, pan, {**PERSONAL, "name": "Someone Else"})
    about_loan = {"note": "about my loan", "loan_id": loan.json()["id"]}
    named = client.post("/api/v1/borrower/callback-requests", json=about_loan, headers=stranger)
    assert named.status_code == 422 and named.json()["errors"][0]["field"] == "loan_id", named.text
    asked = client.post("/api/v1/borrower/callback-requests", json={"note": "call me"}, headers=stranger)
    assert asked.status_code == 201, asked.text
    settle(platform, "callbacks")
    filed = client.get(f"/api/v1/callback-requests/{asked.json()['id']}", headers=tenant.auth)
    assert filed.status_code == 200, filed.text
    assert filed.json()["customer_id"] is None and filed.json()["loan_id"] is None, filed.text

    # The control: the owner's own request is filed under their record and may name their loan.
    mine = client.post("/api/v1/borrower/callback-requests", json=about_loan, headers=owner_auth)
    assert mine.status_code == 201, mine.text
    settle(platform, "callbacks")
    theirs = client.get(f"/api/v1/callback-requests/{mine.json()['id']}", headers=tenant.auth).json()
    assert (theirs["customer_id"], theirs["loan_id"]) == (owner, loan.json()["id"])


def test_a_strangers_bank_account_and_references_are_not_put_on_the_record(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """The bank-account step put the account typed on the funnel's record, verified by the typist's own penny drop:
    on a record found by the PAN alone, the stranger's account became the owner's newest verified account, where the
    owner's next loan is paid out. Their references became the owner's alternate phones. Neither is put on it now;
    the funnel keeps what they typed, for staff."""
    from tests.e2e.test_onboarding_api import EMPLOYMENT

    pan = _pan()
    owner_auth = _past_personal(client, sms, tenant, pan, PERSONAL)
    owner = _upload(client, owner_auth, "pan_card", "pan.pdf").json()["customer_id"]
    settle(platform, "customers")
    before = client.get(f"/api/v1/customers/{owner}", headers=tenant.auth).json()
    references = [{"name": "Ravi Kumar", "relation": "friend", "phone": mobile()}]
    stranger = _past_personal(client, sms, tenant, pan, {**PERSONAL, "name": "Someone Else", "references": references})
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=stranger).status_code == 200
    aadhaar = {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-9"}
    assert client.put("/api/v1/borrower/steps/aadhaar", json=aadhaar, headers=stranger).status_code == 200
    account = {"account_number": "50100098765432", "ifsc": "HDFC0001234", "holder_name": "Someone Else"}
    assert client.put("/api/v1/borrower/steps/bank_account", json=account, headers=stranger).status_code == 200
    settle(platform, "verification")
    settle(platform, "customers")
    kyc = client.get(f"/api/v1/customers/{owner}/kyc", headers=tenant.auth).json()
    assert kyc["bank_accounts"] == []  # the owner's record has no account of the stranger's
    after = client.get(f"/api/v1/customers/{owner}", headers=tenant.auth).json()
    assert after["alternate_phones"] == before["alternate_phones"]
