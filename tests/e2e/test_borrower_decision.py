"""The credit decision as the borrower sees it (issue #14): a CX's send back reopens the borrower's submitted funnel
(their `me` shows the submitted step sent back with what is needed, and their application with the reason); they
submit the same application again; the Sanction Manager's rejection reaches their `me` as the reason code's text
(never the staff remarks)."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from tests.conftest import Tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms, steps_before_the_loan_request
from tests.e2e.test_onboarding_api import PERSONAL, PRODUCT, _pan
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name


def _onboarded(client: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[dict[str, Any], dict[str, str], Any]:
    """A borrower signed in with every step before the loan request done (the statement by an Account Aggregator
    consent, which the brand switches on), and the product to apply for: the session, its header, the product."""
    config = {"require_employment_data": False, "account_aggregation": True}
    client.patch("/api/v1/brand/config", json=config, headers=tenant.auth)
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth).json()
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    steps_before_the_loan_request(client, auth)
    return session, auth, product


def test_send_back_reopens_the_funnel_and_the_sm_s_reason_reaches_the_borrower(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    _, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    application = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()
    submitted = client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth)
    assert submitted.json()["status"] == "pending", submitted.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "completed" and me["application"]["status"] == "pending"
    assert me["application"]["reason"] is None

    url = f"/api/v1/loans/{application['id']}"
    back = client.post(f"{url}/send-back", json={"to": "borrower", "reason": "upload your last three payslips"},
                       headers=tenant.auth)  # fmt: skip
    assert back.status_code == 200, back.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "in_progress" and me["next_step"] == "submitted"
    submitted_step = next(s for s in me["steps"] if s["step"] == "submitted")
    assert submitted_step["done"] is False and submitted_step["sent_back"] == "upload your last three payslips"
    assert me["application"] == {
        "id": application["id"], "loan_number": application["loan_number"], "status": "onboarding",
        "reason": "upload your last three payslips",
    }  # fmt: skip

    again = client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth)
    assert again.status_code == 200 and again.json()["status"] == "pending", again.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["status"] == "completed"
    approved = client.post(f"{url}/cx-approve", json={"approved_amount": "45000", "remarks": "payslips fine"},
                           headers=tenant.auth)  # fmt: skip
    assert approved.status_code == 200, approved.text
    rejected = client.post(f"{url}/reject", json={"reason_code": "LOW_SALARY", "remarks": "internal: bonus only"},
                           headers=tenant.auth)  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    label = rejected.json()["rejection"]["label"]
    decision = client.get("/api/v1/borrower/me", headers=auth).json()["application"]
    assert decision["status"] == "rejected" and decision["reason"] == label
    assert "internal" not in str(decision)


def test_send_back_to_a_named_step_reopens_that_step_for_the_borrower(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    config = {"require_employment_data": False, "account_aggregation": True}
    client.patch("/api/v1/brand/config", json=config, headers=tenant.auth)
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth).json()
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    statement = {"method": "account_aggregator", "consent_id": "AA-78"}
    for step, body in (
        ("pan", {"pan": _pan()}),
        ("personal", PERSONAL),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-2"}),
        ("bank_account", {"account_number": "50100012345679", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
        ("bank_statement", statement),
    ):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth).status_code == 200, step
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    application = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()
    client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth)
    url = f"/api/v1/loans/{application['id']}/send-back"

    for bad in ("payslips", "mobile"):
        refused = client.post(url, json={"to": "borrower", "reason": "again", "step": bad}, headers=tenant.auth)
        assert refused.status_code == 422 and "step" in refused.text, refused.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["application"]["status"] == "pending"

    why = "the statement is of another account"
    back = client.post(url, json={"to": "borrower", "reason": why, "step": "bank_statement"}, headers=tenant.auth)
    assert back.status_code == 200, back.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "in_progress" and me["next_step"] == "bank_statement"
    redo = next(s for s in me["steps"] if s["step"] == "bank_statement")
    assert redo["done"] is False and redo["sent_back"] == why
    assert me["application"]["status"] == "onboarding" and me["application"]["reason"] == why

    again = client.put("/api/v1/borrower/steps/bank_statement", json=statement, headers=auth)
    assert again.status_code == 200, again.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "submitted"
    resubmitted = client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth)
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "pending", resubmitted.text


def test_the_web_status_page_follows_the_loan_to_sanction_and_disbursal_and_links_its_payment_page(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """The borrower's web status page (the same session token as the API's, as its cookie) said "we are reviewing it"
    whatever became of the application; now it says sanctioned (sign the agreement), then disbursed with a link to
    the loan's payment page, which opens."""
    import re
    import uuid
    from datetime import UTC, date, datetime, timedelta
    from urllib.parse import urlsplit

    from domain.loans.application import Loans
    from tests.support import settle

    session, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    application = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()
    loan_id = uuid.UUID(application["id"])
    client.cookies.set("cd_borrower", session["token"], path=f"/apply/{tenant.slug}")
    try:  # before submitting, the page names the tenure with its product's unit
        unsubmitted = client.get(f"/apply/{tenant.slug}/status").text
    finally:
        client.cookies.clear()
    unit = "months" if product["type"] == "emi" else "days"
    assert f"₹50,000 for 12 {unit}. Check your details" in unsubmitted, unsubmitted[:1500]
    assert client.post(f"/api/v1/borrower/applications/{loan_id}/submit", headers=auth).json()["status"] == "pending"

    def status_page() -> str:
        client.cookies.set("cd_borrower", session["token"], path=f"/apply/{tenant.slug}")
        try:
            page = client.get(f"/apply/{tenant.slug}/status")
        finally:
            client.cookies.clear()
        assert page.status_code == 200, page.text[:300]
        found = re.search(r'<p id="application">(.*?)</p>', page.text, re.S)
        assert found is not None, page.text[:500]
        return found.group(1) + (re.search(r'href="(/pay/[^"]+)" id="loan-payments"', page.text) or [""])[0]

    assert "we are reviewing it" in status_page()
    loans = platform.get(Loans)

    def moved(result: Any) -> None:
        settle(platform, Loans.name, result.position)  # the page reads the loans read model

    loans.cx_approve(tenant.brand_id, loan_id, "45000", "salary supports it")
    moved(loans.sanction(tenant.brand_id, loan_id, "45000", "within FOIR"))
    assert "Sign the loan agreement" in status_page() and "/pay/" not in status_page()
    serviced = f"/api/v1/borrower/applications/{loan_id}/loan"
    assert client.get(serviced, headers=auth).status_code == 409  # not disbursed: its application says where it is
    now = datetime.now(UTC)
    loans.issue_agreement(
        tenant.brand_id, loan_id, "ab" * 32, "a.pdf", "es-9", "https://esign/9", now + timedelta(days=2)
    )
    loans.sign(tenant.brand_id, loan_id, "prov-9", now)
    moved(loans.ready_for_disbursal(tenant.brand_id, loan_id, "acct-9"))
    assert "on its way to your bank account" in status_page()
    loans.initiate_disbursal(tenant.brand_id, loan_id, "IMPS", f"gw-{loan_id}")
    moved(loans.confirm_disbursal(tenant.brand_id, loan_id, f"gw-{loan_id}", date.today()))
    said = status_page()
    assert "disbursed and being repaid" in said and "/pay/" in said, said
    pay = client.get(re.search(r'href="(/pay/[^"]+)"', said).group(1))  # type: ignore[union-attr]
    assert pay.status_code == 200 and application["loan_number"] in pay.text and 'id="pay-form"' in pay.text

    # The borrower API's view of the same loan: what the staff loan page says, and the same payment page.
    mine = client.get(serviced, headers=auth)
    assert mine.status_code == 200, mine.text
    loan = mine.json()
    staff = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert (loan["status"], loan["dpd"], loan["outstanding"], loan["next_due"]) == (
        staff["status"], staff["dpd"], staff["outstanding"], staff["next_due"]
    )  # fmt: skip
    assert [(i["no"], i["due_date"], i["amount"], i["status"]) for i in loan["schedule"]] == [
        (i["no"], i["due_date"], i["amount"], i["status"]) for i in staff["schedule"]
    ]
    assert len(loan["schedule"]) == 12 and "/pay/" in loan["pay_url"]
    assert client.get(urlsplit(loan["pay_url"]).path).status_code == 200
    stranger = bearer(sign_in(client, sms, tenant.slug, mobile()))
    assert client.get(serviced, headers=stranger).status_code == 404  # another borrower's loan


def test_a_send_back_reopens_the_funnel_of_that_application_not_the_latest_linked_to_the_record(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """A record with two funnels - its owner's, and a later one of someone who typed its PAN from another phone: a
    send back to the borrower reopened the latest started, whichever application it had, so the owner's application
    waited on a funnel that could never submit it. It reopens the funnel of that application."""
    from uuid import UUID

    from domain.onboarding.application import Onboarding
    from domain.onboarding.funnel import FunnelStatus
    from domain.onboarding.steps import Step

    session, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    application = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()
    assert client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth).status_code == 200
    onboarding = platform.get(Onboarding)
    pan = onboarding.details(tenant.brand_id, UUID(session["borrower_id"]), Step.PAN)["pan"]
    stranger = sign_in(client, sms, tenant.slug, mobile())
    other = bearer(stranger)
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": pan}, headers=other).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=other).status_code == 200
    before = onboarding.funnel(tenant.brand_id, UUID(stranger["borrower_id"])).version

    back = client.post(f"/api/v1/loans/{application['id']}/send-back", headers=tenant.auth,
                       json={"to": "borrower", "reason": "upload your last three payslips"})  # fmt: skip
    assert back.status_code == 200, back.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "in_progress" and me["next_step"] == "submitted"
    theirs = onboarding.funnel(tenant.brand_id, UUID(stranger["borrower_id"]))
    assert theirs.version == before and theirs.status is FunnelStatus.IN_PROGRESS
