"""The BRE's facts from other contexts, on PostgreSQL through the API: the blocklist's Aadhaar (matched by the
digest the funnel keeps beside the masked number) and bank accounts, and central dedup across brands - two
booleans on the results, nothing of the other brand in any response."""

from __future__ import annotations

import json
import uuid
from typing import Any

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import login
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name

PRODUCT = {
    "code": "PL", "name": "Personal loan", "type": "emi", "min_amount": "10000", "max_amount": "200000",
    "min_tenure": 3, "max_tenure": 24, "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False}, "gst_percent": "18",
    "max_active_loans": 3, "bre_rules": [],
}  # fmt: skip
AADHAAR = "2345 6789 0124"  # passes the Verhoeff check
ACCOUNT = "50100012345678"


def _pan() -> str:
    n = uuid.uuid4().int
    letters = "".join(chr(65 + (n >> (5 * i)) % 26) for i in range(5))
    return f"{letters[:3]}P{letters[3]}{n % 10000:04d}K"


def _funnel_application(client: Any, tenant: Tenant, sms: SmsSimulator, product_id: str) -> tuple[str, dict[str, str]]:
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    personal = {
        "name": "Asha Verma", "date_of_birth": "1994-05-17", "gender": "female", "email": "asha@example.in",
        "addresses": [{"kind": "current", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001"},
                      {"kind": "permanent", "line1": "4 Civil Lines", "city": "Jaipur", "pincode": "302006"}],
    }  # fmt: skip
    for step, body in (
        ("pan", {"pan": _pan()}),
        ("personal", personal),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": AADHAAR, "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": ACCOUNT, "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
        ("bank_statement", {"method": "account_aggregator", "consent_id": "AA-1"}),
    ):
        answer = client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth)
        assert answer.status_code == 200, (step, answer.text)
    created = client.post(
        "/api/v1/borrower/applications", json={"product_id": product_id, "amount": "50000", "tenure": 12}, headers=auth
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), auth


def test_a_blocklisted_aadhaar_or_bank_account_fails_the_blocklist_rule(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    client.patch(
        "/api/v1/brand/config",
        json={"require_employment_data": False, "account_aggregation": True},
        headers=tenant.auth,
    )
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth).json()["id"]
    clean, auth = _funnel_application(client, tenant, sms, product)
    passed = client.post(f"/api/v1/borrower/applications/{clean}/submit", headers=auth).json()
    blocklist = next(r for r in passed["results"] if r["rule"] == "BLOCKLIST")
    assert blocklist["outcome"] == "pass", blocklist

    for kind, value in (("aadhaar", AADHAAR), ("bank_account", f"{ACCOUNT}@HDFC0001234")):
        added = client.post("/api/v1/blocklist", json={"kind": kind, "value": value, "reason": "fraud ring"}, headers=tenant.auth)  # fmt: skip
        assert added.status_code == 201, added.text
    loan, auth = _funnel_application(client, tenant, sms, product)
    submitted = client.post(f"/api/v1/borrower/applications/{loan}/submit", headers=auth)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "rejected"
    staff = client.get(f"/api/v1/loans/{loan}", headers=tenant.auth).json()
    blocklist = next(r for r in staff["results"] if r["rule"] == "BLOCKLIST")
    assert blocklist["outcome"] == "fail"
    assert blocklist["reason"] == "aadhaar and bank account are on the brand's blocklist"
    assert AADHAAR.replace(" ", "") not in json.dumps(staff)  # the number is never kept, only its digest


def _staff_loan(client: Any, tenant: Tenant, product: str, phone: str, pan: str) -> str:
    made = client.post(
        "/api/v1/customers",
        json={"name": "Ravi Kumar", "phone": phone, "pan": pan, "date_of_birth": "1990-01-15",
              "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}]},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = {"customer_id": made.json()["id"], "product_id": product, "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert loan.status_code == 201, loan.text
    return str(loan.json()["id"])


def test_central_dedup_flags_a_borrower_of_another_brand_and_leaks_nothing_of_it(client: Any, platform: Any) -> None:
    first, second, third = make_tenant(platform), make_tenant(platform), make_tenant(platform)
    phone, pan = mobile(), _pan()
    products = {t.slug: client.post("/api/v1/loan-products", json=PRODUCT, headers=t.auth).json()["id"] for t in (first, second, third)}  # fmt: skip
    # In the first brand the borrower is rejected (their PAN is on that brand's blocklist).
    client.post("/api/v1/blocklist", json={"kind": "pan", "value": pan, "reason": "fraud"}, headers=first.auth)
    theirs = _staff_loan(client, first, products[first.slug], phone, pan)
    assert client.post(f"/api/v1/loans/{theirs}/submit", headers=first.auth).json()["status"] == "rejected"
    before = client.get(f"/api/v1/loans/{theirs}", headers=first.auth).json()

    for tenant in (second, third):
        client.patch("/api/v1/brand/config", json={"central_dedup": tenant is second}, headers=tenant.auth)
    flagged = _staff_loan(client, second, products[second.slug], phone, _pan())  # the same phone
    decided = client.post(f"/api/v1/loans/{flagged}/submit", headers=second.auth)
    assert decided.status_code == 200, decided.text
    result = decided.json()
    dedup = next(r for r in result["results"] if r["rule"] == "CENTRAL_DEDUP")
    assert dedup["outcome"] == "flagged" and dedup["reason"] == "a borrower of another brand (rejected there)"
    assert dedup["inputs"] == {"other_brand_borrower": "yes", "rejected_there": "yes"}
    assert result["status"] == "pending"  # informational: it never decides
    override = {"rule": "CENTRAL_DEDUP", "result": "pass", "justification": "known to us for years"}
    refused = client.post(f"/api/v1/loans/{flagged}/bre-overrides", json=override, headers=second.auth)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["rule"]
    # Nothing of the first brand in anything the second brand can read about this loan or borrower.
    seen = json.dumps(client.get(f"/api/v1/loans/{flagged}", headers=second.auth).json())
    seen += client.get(f"/loans/{flagged}", headers=second.auth).text
    for secret in (first.slug, str(first.brand_id), theirs, before["borrower"]["id"], before["loan_number"]):
        assert secret not in seen
    assert client.get(f"/api/v1/loans/{theirs}", headers=second.auth).status_code == 404
    assert client.get(f"/api/v1/loans/{theirs}", headers=first.auth).json()["history"] == before["history"]

    # A borrower known nowhere else: a pass; a brand with central dedup off: no such result at all.
    alone = _staff_loan(client, second, products[second.slug], mobile(), _pan())
    alone_dedup = [r for r in client.post(f"/api/v1/loans/{alone}/submit", headers=second.auth).json()["results"] if r["rule"] == "CENTRAL_DEDUP"]  # fmt: skip
    assert [(r["outcome"], r["reason"]) for r in alone_dedup] == [("pass", "not a borrower of another brand")]
    off = _staff_loan(client, third, products[third.slug], phone, pan)
    assert "CENTRAL_DEDUP" not in {r["rule"] for r in client.post(f"/api/v1/loans/{off}/submit", headers=third.auth).json()["results"]}  # fmt: skip


def test_the_borrower_never_sees_the_central_dedup_flag(client: Any, platform: Any, sms: SmsSimulator) -> None:
    first, second = make_tenant(platform), make_tenant(platform)
    phone = mobile()
    elsewhere = client.post("/api/v1/loan-products", json=PRODUCT, headers=first.auth).json()["id"]
    _staff_loan(client, first, elsewhere, phone, _pan())
    client.patch("/api/v1/brand/config", json={"central_dedup": True, "require_employment_data": False, "account_aggregation": True}, headers=second.auth)  # fmt: skip
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=second.auth).json()["id"]
    auth = bearer(sign_in(client, sms, second.slug, phone))
    personal = {
        "name": "Asha Verma", "date_of_birth": "1994-05-17", "email": "asha@example.in",
        "addresses": [{"kind": "current", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001"},
                      {"kind": "permanent", "line1": "4 Civil Lines", "city": "Jaipur", "pincode": "302006"}],
    }  # fmt: skip
    for step, body in (
        ("pan", {"pan": _pan()}),
        ("personal", personal),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": AADHAAR, "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": ACCOUNT, "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
        ("bank_statement", {"method": "account_aggregator", "consent_id": "AA-1"}),
    ):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth).status_code == 200, step
    request = {"product_id": product, "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()["id"]
    submitted = client.post(f"/api/v1/borrower/applications/{loan}/submit", headers=auth)
    read = client.get(f"/api/v1/borrower/applications/{loan}", headers=auth)
    for answer in (submitted, read):
        assert answer.status_code == 200 and answer.json()["results"], answer.text
        assert "CENTRAL_DEDUP" not in answer.text and "another brand" not in answer.text
    staff = client.get(f"/api/v1/loans/{loan}", headers=second.auth).json()
    assert [r["outcome"] for r in staff["results"] if r["rule"] == "CENTRAL_DEDUP"] == ["flagged"]


def test_the_cx_sees_the_central_dedup_flag_on_the_loan_page(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    tenant, email = staff
    elsewhere = make_tenant(platform)
    phone = mobile()
    theirs = client.post("/api/v1/loan-products", json=PRODUCT, headers=elsewhere.auth).json()["id"]
    _staff_loan(client, elsewhere, theirs, phone, _pan())
    client.patch("/api/v1/brand/config", json={"central_dedup": True}, headers=tenant.auth)
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth).json()["id"]
    loan = _staff_loan(client, tenant, product, phone, _pan())
    assert client.post(f"/api/v1/loans/{loan}/submit", headers=tenant.auth).json()["status"] == "pending"
    settle(platform, "loans")

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/loans/{loan}")
    results = page.locator("#bre-results").inner_text()
    assert "Borrower of another brand" in results and "a borrower of another brand (not rejected there)" in results
    assert elsewhere.slug not in page.content() and str(elsewhere.brand_id) not in page.content()
    options = page.locator("#override-form select[name=rule] option").all_inner_texts()
    assert "Blocklist" in options and "Borrower of another brand" not in options  # informational: not overridable
    page.close()
