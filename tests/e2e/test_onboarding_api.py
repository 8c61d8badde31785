"""Borrower onboarding over the API on PostgreSQL, with the code read from the SMS simulator's outbox: sign-in,
the lock, steps in order, resume, linking to a staff-registered borrower, the staff lists and conversion, and
the wall between borrower tokens and staff credentials."""

from __future__ import annotations

import uuid
from typing import Any

from adapters.simulators.sms import SmsSimulator
from domain.onboarding.application import Onboarding
from domain.onboarding.steps import Step
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name


PERSONAL = {
    "name": "Asha Verma",
    "date_of_birth": "1994-05-17",
    "gender": "female",
    "email": "asha@example.in",
    "addresses": [
        {"kind": "current", "line1": "12 MG Road", "city": "Bengaluru", "pincode": "560001"},
        {"kind": "permanent", "line1": "4 Civil Lines", "city": "Jaipur", "pincode": "302006"},
    ],
}


def _pan() -> str:
    n = uuid.uuid4().int
    letters = "".join(chr(65 + (n >> (5 * i)) % 26) for i in range(5))
    return f"{letters[:3]}P{letters[3]}{n % 10000:04d}K"


def test_sign_in_with_the_code_from_the_sms_outbox_and_walk_the_funnel(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    phone = mobile()
    session = sign_in(client, sms, tenant.slug, phone)
    auth = bearer(session)
    me = client.get("/api/v1/borrower/me", headers=auth)
    assert me.status_code == 200 and me.json()["next_step"] == "pan"
    assert "otp" not in me.text and session["token"].startswith("cdb_")

    early = client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth)
    assert early.status_code == 409 and early.json()["next_step"] == "pan"
    bad = client.put("/api/v1/borrower/steps/pan", json={"pan": "12345"}, headers=auth)
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["pan"]
    pan = _pan()
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": pan}, headers=auth).json()["next_step"] == "personal"
    done = client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth)
    assert done.status_code == 200 and done.json()["next_step"] == "employment"

    # Leave and come back: a new sign-in resumes at the next step.
    again = sign_in(client, sms, tenant.slug, phone)
    assert again["borrower_id"] == session["borrower_id"] and again["token"] != session["token"]
    resumed = client.get("/api/v1/borrower/me", headers=bearer(again)).json()
    assert resumed["next_step"] == "employment"
    assert [s["step"] for s in resumed["steps"] if s["done"]] == ["mobile", "pan", "personal"]

    # One Customer 360 record, made at the personal step, visible to staff.
    settle(platform, "onboarding")
    found = client.get("/api/v1/customers", params={"q": pan}, headers=tenant.auth).json()["items"]
    assert [c["name"] for c in found] == ["Asha Verma"]

    listed = client.get("/api/v1/onboarding", params={"step": "employment"}, headers=tenant.auth).json()["items"]
    assert [(r["id"], r["name"], r["step"]) for r in listed] == [(session["borrower_id"], "Asha Verma", "employment")]
    conversion = client.get("/api/v1/onboarding/conversion", headers=tenant.auth).json()
    reached = {s["step"]: (s["reached"], s["percent"], s["waiting"]) for s in conversion["steps"]}
    assert conversion["started"] == 1
    assert reached["pan"] == (1, "100.0", 0) and reached["employment"] == (0, "0.0", 1)

    assert client.delete("/api/v1/borrower/session", headers=auth).status_code == 200
    assert client.get("/api/v1/borrower/me", headers=auth).status_code == 401


def test_five_wrong_codes_lock_the_phone_with_retry_after(client: Any, tenant: Tenant, sms: SmsSimulator) -> None:
    phone = mobile()
    assert client.post("/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": phone}).status_code == 202
    right = sms.last_code(phone)
    assert right is not None
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    body = {"brand": tenant.slug, "phone": phone, "otp": wrong}
    statuses = [client.post("/api/v1/borrower/session", json=body).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429]
    locked = client.post("/api/v1/borrower/session", json={**body, "otp": right})
    assert locked.status_code == 429 and 800 < int(locked.headers["Retry-After"]) <= 900
    resend = client.post("/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": phone})
    assert resend.status_code == 202 and resend.json()["expires_in"] == 0  # nothing sent while locked
    assert len(sms.messages(phone)) == 1


def test_unknown_phones_answer_like_known_ones_and_resends_are_throttled(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    phone = mobile()
    first = client.post("/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": phone})
    second = client.post("/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": phone})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["expires_in"] == 300 and second.json()["expires_in"] == 0
    assert len(sms.messages(phone)) == 1
    refused = client.post("/api/v1/borrower/otp", json={"brand": tenant.slug, "phone": "12"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "phone"


def test_a_staff_registered_borrower_is_linked_by_phone(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    phone = mobile()
    staff_made = client.post("/api/v1/customers", json={"name": "Asha V", "phone": phone}, headers=tenant.auth).json()[
        "id"
    ]
    session = sign_in(client, sms, tenant.slug, phone)
    auth = bearer(session)
    client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    settle(platform, "customers")
    record = client.get(f"/api/v1/customers/{staff_made}", headers=tenant.auth).json()
    assert record["name"] == "Asha Verma" and record["email"] == "asha@example.in"
    found = client.get("/api/v1/customers", params={"q": phone}, headers=tenant.auth).json()["items"]
    assert [c["id"] for c in found] == [staff_made]
    funnel = client.get(f"/api/v1/onboarding/{session['borrower_id']}", headers=tenant.auth).json()
    assert funnel["next_step"] == "employment"


def test_borrower_tokens_and_staff_credentials_never_cross(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    assert client.get("/api/v1/customers", headers=bearer(session)).status_code == 401
    assert client.get("/api/v1/onboarding", headers=bearer(session)).status_code == 401
    assert client.get("/api/v1/borrower/me", headers=tenant.auth).status_code == 401
    other = make_tenant(platform)
    # Another brand's staff never see this borrower.
    assert client.get(f"/api/v1/onboarding/{session['borrower_id']}", headers=other.auth).status_code == 404
    settle(platform, "onboarding")
    listed = client.get("/api/v1/onboarding", headers=other.auth).text
    assert session["borrower_id"] not in listed


def test_send_back_reopens_a_step_and_the_completed_list_needs_its_permission(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth)
    url = f"/api/v1/onboarding/{session['borrower_id']}"
    version = client.get(url, headers=tenant.auth).json()["version"]
    stale = client.post(f"{url}/send-back", json={"step": "pan", "reason": "PAN copy unreadable"},
                        headers={**tenant.auth, "If-Match": f'"{version - 1}"'})  # fmt: skip
    assert stale.status_code == 409 and stale.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, headers=tenant.auth).json()["version"] == version  # nothing recorded
    sent = client.post(f"{url}/send-back", json={"step": "pan", "reason": "PAN copy unreadable"},
                       headers={**tenant.auth, "If-Match": f'"{version}"'})  # fmt: skip
    assert sent.status_code == 200 and sent.json()["next_step"] == "pan"
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["missing"][0] == "pan" and me["steps"][1]["sent_back"] == "PAN copy unreadable"
    replayed = client.get(
        f"/api/v1/audit/funnel/{session['borrower_id']}/state",
        params={"as_of": "2100-01-01T00:00:00+00:00"},
        headers=tenant.auth,
    )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["state"]["sent_back"] == {"pan": "PAN copy unreadable"}
    sales = make_tenant(platform, role="sales")
    assert client.get("/api/v1/onboarding", headers=sales.auth).status_code in (200, 403)
    completed = client.get("/api/v1/onboarding", params={"state": "completed"}, headers=tenant.auth)
    assert completed.status_code == 200 and completed.json()["items"] == []


def test_the_inactivity_job_closes_idle_funnels_when_the_brand_says_so(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    from datetime import date, timedelta

    from workers.runtime import scheduler_for

    session = sign_in(client, sms, tenant.slug, mobile())
    later = (date.today() + timedelta(days=3)).isoformat()
    changed = client.patch(
        "/api/v1/brand/config",
        json={"auto_reject_inactive_users": True, "inactive_user_days": 1, "business_date": later},
        headers=tenant.auth,
    )
    assert changed.status_code == 200, changed.text
    settle(platform, "onboarding")
    run = client.post("/api/v1/jobs/onboarding-inactive/runs", json={"as_of": later}, headers=tenant.auth)
    assert run.status_code == 202, run.text
    scheduler_for(platform).execute(run.json()["run_id"])
    settle(platform, "onboarding")
    rejected = client.get("/api/v1/onboarding", params={"state": "rejected"}, headers=tenant.auth).json()["items"]
    assert [(r["id"], r["reason"]) for r in rejected] == [
        (session["borrower_id"], "inactive for 1 day: closed automatically")
    ]
    me = client.get("/api/v1/borrower/me", headers=bearer(session)).json()
    assert me["status"] == "rejected" and me["next_step"] is None
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=bearer(session)).status_code == 409


def test_an_inactivity_run_resuming_from_a_cursor_that_no_longer_decodes_walks_again_from_the_start(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    # A retried run resumes from its recorded cursor; one recorded before cursors were bound to their filters (a
    # bare key), or under another cutoff, no longer decodes: the run failed on it at every retry.
    import base64
    import json
    from datetime import date, timedelta

    from workers.runtime import scheduler_for

    session = sign_in(client, sms, tenant.slug, mobile())
    later = (date.today() + timedelta(days=3)).isoformat()
    changed = client.patch(
        "/api/v1/brand/config",
        json={"auto_reject_inactive_users": True, "inactive_user_days": 1, "business_date": later},
        headers=tenant.auth,
    )
    assert changed.status_code == 200, changed.text
    settle(platform, "onboarding")
    run = client.post("/api/v1/jobs/onboarding-inactive/runs", json={"as_of": later}, headers=tenant.auth)
    assert run.status_code == 202, run.text
    scheduler = scheduler_for(platform)
    attempt = scheduler.port.jobs.start_attempt(run.json()["run_id"], "test-worker")
    bare = json.dumps(["2000-01-01T00:00:00+00:00", str(uuid.uuid4())]).encode()
    attempt.cursor = base64.urlsafe_b64encode(bare).decode().rstrip("=")  # as a retry of an earlier release finds it
    batches = list(scheduler.handlers["onboarding-inactive"](attempt))
    assert sum(counts.succeeded for counts, _ in batches) == 1, batches
    settle(platform, "onboarding")
    rejected = client.get("/api/v1/onboarding", params={"state": "rejected"}, headers=tenant.auth).json()["items"]
    assert [r["id"] for r in rejected] == [session["borrower_id"]]


PRODUCT = {
    "code": "PL",
    "name": "Personal loan",
    "type": "emi",
    "min_amount": "10000",
    "max_amount": "200000",
    "min_tenure": 3,
    "max_tenure": 24,
    "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
    "convenience_fee": {"kind": "fixed", "value": "500", "gst_inclusive": True},
    "gst_percent": "18",
    "penal": {"kind": "simple", "daily_percent": "0.1"},
    "max_active_loans": 2,
    "bre_rules": [],
}


def test_the_whole_funnel_ends_in_a_submitted_application_with_its_bre_results(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    client.patch(
        "/api/v1/brand/config",
        json={"require_employment_data": False, "account_aggregation": True},
        headers=tenant.auth,
    )
    product = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth)
    assert product.status_code == 201, product.text
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    products = client.get("/api/v1/borrower/products", headers=auth).json()["items"]
    assert [(p["id"], p["min_amount"]) for p in products] == [(product.json()["id"], "10000.00")]
    steps = [
        ("pan", {"pan": _pan()}),
        ("personal", PERSONAL),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
    ]
    for step, body in steps:
        answer = client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth)
        assert answer.status_code == 200, (step, answer.text)
    request = {"product_id": product.json()["id"], "amount": "50000", "tenure": 12}
    early = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert early.status_code == 409 and early.json()["next_step"] == "bank_statement"
    client.put(
        "/api/v1/borrower/steps/bank_statement",
        json={"method": "account_aggregator", "consent_id": "AA-77"},
        headers=auth,
    )
    too_big = client.post("/api/v1/borrower/applications", json={**request, "amount": "900000"}, headers=auth)
    assert too_big.status_code == 422 and [e["field"] for e in too_big.json()["errors"]] == ["amount"]
    created = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert created.status_code == 201, created.text
    application = created.json()
    assert application["status"] == "onboarding" and application["loan_number"].startswith(tenant.slug.upper())
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "submitted"

    submitted = client.post(f"/api/v1/borrower/applications/{application['id']}/submit", headers=auth)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] in ("pending", "rejected") and isinstance(submitted.json()["results"], list)
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "completed" and me["missing"] == []
    staff_view = client.get(f"/api/v1/loans/{application['id']}", headers=tenant.auth).json()
    assert staff_view["channel"] == "borrower" and staff_view["borrower"]["name"] == "Asha Verma"
    settle(platform, "onboarding")
    done = client.get("/api/v1/onboarding", params={"state": "completed"}, headers=tenant.auth).json()["items"]
    assert [r["id"] for r in done] == [session["borrower_id"]]

    other = sign_in(client, sms, tenant.slug, mobile())  # another borrower of the brand
    assert client.get(f"/api/v1/borrower/applications/{application['id']}", headers=bearer(other)).status_code == 404


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_borrower_uploads_are_their_own_and_steps_name_only_their_own(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)

    def upload(headers: dict[str, str], kind: str, name: str, data: bytes) -> Any:
        return client.post(
            "/api/v1/borrower/documents", data={"kind": kind}, files={"file": (name, data)}, headers=headers
        )

    assert upload(auth, "aadhaar_front", "front.png", PNG).status_code == 409  # no record before the personal step
    client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth)
    disguised = upload(auth, "aadhaar_front", "front.pdf", PNG)
    assert disguised.status_code == 422 and disguised.json()["errors"][0]["field"] == "file"
    front = upload(auth, "aadhaar_front", "front.png", PNG)
    assert front.status_code == 201, front.text
    assert (
        front.json()["uploaded_by"] == "borrower" and front.json()["uploader"] == f"borrower:{session['borrower_id']}"
    )
    listed = client.get("/api/v1/borrower/documents", headers=auth).json()
    assert [d["id"] for d in listed["items"]] == [front.json()["id"]]
    located = client.get(front.headers["location"], headers=auth)  # the upload's Location is the document
    assert located.status_code == 200 and located.json() == front.json(), located.text

    other = bearer(sign_in(client, sms, tenant.slug, mobile()))
    client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=other)
    client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=other)
    client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=other)
    assert client.get(front.headers["location"], headers=other).status_code == 404  # another borrower's
    aadhaar = {"method": "upload", "aadhaar_number": "2345 6789 0124", "document_id": front.json()["id"]}
    stolen = client.put("/api/v1/borrower/steps/aadhaar", json=aadhaar, headers=other)
    assert stolen.status_code == 422 and stolen.json()["errors"][0]["field"] == "document_id"
    client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth)
    pan_card = upload(auth, "pan_card", "pan.png", PNG + b"pan")
    assert pan_card.status_code == 201, pan_card.text
    wrong = client.put("/api/v1/borrower/steps/aadhaar", json={**aadhaar, "document_id": pan_card.json()["id"]},
                       headers=auth)  # fmt: skip
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "document_id", wrong.text
    assert "aadhaar_front" in wrong.json()["errors"][0]["message"]  # says which kinds it takes
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "aadhaar"  # nothing recorded
    own = client.put("/api/v1/borrower/steps/aadhaar", json=aadhaar, headers=auth)
    assert own.status_code == 200 and own.json()["next_step"] == "bank_account"


EMPLOYMENT = {
    "company_name": "Infra Softworks",
    "designation": "Analyst",
    "date_of_joining": "2021-07-01",
    "monthly_salary": "48000",
    "salary_mode": "bank",
    "salary_date": 1,
    "office_address": "Tower B, Outer Ring Road",
    "office_pincode": "560103",
    "employment_type": "full_time",
}


def test_steps_start_the_kyc_checks_on_the_provider_simulators(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth)
    client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth)
    aadhaar = {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-9"}
    recorded = client.put("/api/v1/borrower/steps/aadhaar", json=aadhaar, headers=auth)
    assert recorded.status_code == 200
    account = {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}
    assert client.put("/api/v1/borrower/steps/bank_account", json=account, headers=auth).status_code == 200
    customer = client.get(f"/api/v1/onboarding/{session['borrower_id']}", headers=tenant.auth).json()
    settle(platform, "verification")
    customer_id = platform.get(Onboarding).state(tenant.brand_id, uuid.UUID(session["borrower_id"])).customer_id
    kyc = client.get(f"/api/v1/customers/{customer_id}/kyc", headers=tenant.auth).json()
    assert [c["kind"] for c in kyc["checks"]] == ["pan"] and kyc["checks"][0]["status"] != "failed"
    assert [(a["account_masked"][-4:], a["status"]) for a in kyc["bank_accounts"]] == [("5678", "verified")]
    assert customer["steps"][4]["done"]  # aadhaar, recorded masked:
    assert (
        platform.get(Onboarding).details(tenant.brand_id, uuid.UUID(session["borrower_id"]), Step.AADHAAR)[
            "aadhaar_number"
        ]
        == "XXXXXXXX0124"
    )
