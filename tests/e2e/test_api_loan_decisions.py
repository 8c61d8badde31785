"""The credit decision through the API on PostgreSQL (issue #14): CAM, CX approval, send backs both ways, SM
sanction with its amounts and schedule, rejection by the SM with a reason code, cancel and reactivate, the worklists,
refusals recording nothing, permissions per role and brand isolation.

The product catalogue is the fake of tests/e2e/test_api_loans.py (installed on the platform's Loans)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_api_loans import PRODUCT, _borrower, catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle

CAM = {
    "salary_credits": [
        {"month": "2026-08", "amount": "52000"},
        {"month": "2026-09", "amount": "52000"},
        {"month": "2026-10", "amount": "53500"},
    ],
    "foir": "32.5",
    "existing_emis": "6000",
    "recommended_amount": "80000",
    "recommended_rate": "24",
    "notes": "stable employer, salary account",
}


def _pending(
    client: Any, tenant: Any, amount: str = "100000", name: str = "Asha Menon", phone: str = "9876512345"
) -> str:
    customer = _borrower(client, tenant, name, phone)
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": amount, "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    submitted = client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth)
    assert submitted.json()["status"] == "pending", submitted.text
    return str(loan["id"])


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.loans_events").fetchone()[0])  # type: ignore[index]


def test_cx_approval_sanction_amounts_schedule_and_history(client: Any, tenant: Any) -> None:
    loan_id = _pending(client, tenant)
    url = f"/api/v1/loans/{loan_id}"
    cam = client.post(f"{url}/cam", json=CAM, headers=tenant.auth)
    assert cam.status_code == 200, cam.text
    assert cam.json()["cam"]["foir"] == "32.5"
    # Left out, FOIR is the calculator's: (6000 + the 80,000 loan's EMI at 24 % over 12 months, 7564.77 as
    # numpy-financial's pmt rounds) / the credits' average 52,500.00 = 25.84 %.
    calculated = client.post(f"{url}/cam", json={k: v for k, v in CAM.items() if k != "foir"}, headers=tenant.auth)
    assert calculated.status_code == 200, calculated.text
    memo = calculated.json()["cam"]
    assert (memo["average_salary"], memo["proposed_emi"], memo["foir"], memo["calculated_foir"]) == (
        "52500.00", "7564.77", "25.84", "25.84"
    ), memo  # fmt: skip
    approved = client.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"},
                           headers=tenant.auth)  # fmt: skip
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "cx_approved" and body["amounts"]["cx_approved"] == "90000.00"
    assert body["amounts"]["requested"] == "100000.00" and body["amounts"]["sanctioned"] is None
    assert body["schedule"] is None

    sanctioned = client.post(f"{url}/sanction", json={"sanctioned_amount": "85000", "remarks": "FOIR at the limit"},
                             headers=tenant.auth)  # fmt: skip
    assert sanctioned.status_code == 200, sanctioned.text
    loan = sanctioned.json()
    assert loan["status"] == "sm_approved"
    # 2 % of 85,000 = 1700.00, GST 18 % on top 306.00; convenience 500.00 with its GST (76.27) inside.
    assert loan["amounts"] == {
        "requested": "100000.00", "cx_approved": "90000.00", "sanctioned": "85000.00", "processing_fee": "1700.00",
        "processing_fee_before_discount": "1700.00", "convenience_fee": "500.00", "gst": "382.27",
        "net_disbursed": "82494.00",
    }  # fmt: skip
    schedule = loan["schedule"]
    assert [i["no"] for i in schedule] == list(range(1, 13))
    assert sum(Decimal(i["principal"]) for i in schedule) == Decimal("85000.00")
    assert all(Decimal(i["amount"]) == Decimal(i["principal"]) + Decimal(i["interest"]) for i in schedule)
    assert schedule[0]["amount"] == "8037.57"  # EMI of 85,000 at 24 % over 12 months (LENDING.md)
    kinds = [e["kind"] for e in loan["history"]]
    assert kinds[-3:] == ["cam_recorded", "cx_approved", "sanctioned"]
    sanction_entry = loan["history"][-1]
    assert sanction_entry["details"]["sanctioned"] == "85000.00" and sanction_entry["actor"].startswith("apikey:")

    again = client.post(f"{url}/sanction", json={"sanctioned_amount": "85000", "remarks": "twice"}, headers=tenant.auth)
    assert again.status_code == 409
    rejected = client.post(f"{url}/reject", json={"reason_code": "LOW_SALARY", "remarks": "too late"},
                           headers=tenant.auth)  # fmt: skip
    assert rejected.status_code == 409


def test_send_backs_rejection_cancel_reactivate(client: Any, tenant: Any) -> None:
    loan_id = _pending(client, tenant, name="Dev Patel", phone="9876512346")
    url = f"/api/v1/loans/{loan_id}"
    back = client.post(f"{url}/send-back", json={"to": "borrower", "reason": "upload payslips"}, headers=tenant.auth)
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "onboarding" and back.json()["sent_back"]["reason"] == "upload payslips"
    assert client.post(f"{url}/submit", headers=tenant.auth).json()["status"] == "pending"
    client.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "ok now"}, headers=tenant.auth)
    to_cx = client.post(f"{url}/send-back", json={"to": "cx", "reason": "verify employer"}, headers=tenant.auth)
    assert to_cx.status_code == 200 and to_cx.json()["status"] == "pending"
    assert to_cx.json()["amounts"]["cx_approved"] is None
    client.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "employer ok"}, headers=tenant.auth)
    rejected = client.post(f"{url}/reject", json={"reason_code": "LOW_SALARY", "remarks": "bonus is not salary"},
                           headers=tenant.auth)  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejection"]["code"] == "LOW_SALARY" and rejected.json()["rejection"]["by"] == "cx_approved"
    reactivated = client.post(f"{url}/reactivate", json={"reason": "approved by head of credit"}, headers=tenant.auth)
    assert reactivated.status_code == 200, reactivated.text
    assert reactivated.json()["status"] == "pending" and reactivated.json()["rejection"] is None
    cancelled = client.post(f"{url}/cancel", json={"reason": "borrower withdrew"}, headers=tenant.auth)
    assert cancelled.json()["status"] == "cancelled"
    assert (
        client.post(f"{url}/reactivate", json={"reason": "came back"}, headers=tenant.auth).json()["status"]
        == "pending"
    )
    assert [e["kind"] for e in client.get(url, headers=tenant.auth).json()["history"]][-4:] == [
        "rejected", "reactivated", "cancelled", "reactivated"
    ]  # fmt: skip


def test_refusals_name_the_field_and_record_nothing(client: Any, tenant: Any, platform: Any) -> None:
    loan_id = _pending(client, tenant, name="Lata Rao", phone="9876512347")
    url = f"/api/v1/loans/{loan_id}"
    before = _events(platform.dsn)
    for path, body, field in (
        ("cx-approve", {"approved_amount": "500000", "remarks": "too much"}, "approved_amount"),
        ("cx-approve", {"approved_amount": "50000", "remarks": ""}, "remarks"),
        ("cam", {**CAM, "foir": "140"}, "foir"),
        ("cam", {**CAM, "salary_credits": CAM["salary_credits"][:2]}, "salary_credits"),
        ("send-back", {"to": "cx", "reason": ""}, "reason"),
        ("reject", {"reason_code": "NOPE", "remarks": "bad code"}, "reason_code"),
    ):
        refused = client.post(f"{url}/{path}", json=body, headers=tenant.auth)
        assert refused.status_code == 422, (path, refused.text)
        assert field in {e["field"] for e in refused.json()["errors"]}, (path, refused.text)
    for path, body in (
        ("sanction", {"sanctioned_amount": "85000", "remarks": "not CX-approved"}),
        ("send-back", {"to": "cx", "reason": "not CX-approved yet"}),
        ("reactivate", {"reason": "nothing to reactivate"}),
    ):
        refused = client.post(f"{url}/{path}", json=body, headers=tenant.auth)
        assert refused.status_code == 409, (path, refused.text)
    bad_to = client.post(f"{url}/send-back", json={"to": "manager", "reason": "who"}, headers=tenant.auth)
    assert bad_to.status_code == 422
    assert _events(platform.dsn) == before


def test_permissions_per_role_and_brand_isolation(client: Any, tenant: Any, platform: Any) -> None:
    cx = make_tenant(platform, "credit_executive")
    sm = make_tenant(platform, "sanction_manager")
    # Roles in the tenant's own brand: keys of other roles issued for the same brand.
    from domain.identity.application import Identity

    identity = platform.get(Identity)
    keys = {}
    for role in ("credit_executive", "sanction_manager", "sanction_head", "loan_ops"):
        issued = identity.issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
        keys[role] = {"Authorization": f"Bearer {issued.secret}"}
    settle(platform, "identity")
    loan_id = _pending(client, tenant, name="Ravi Kumar", phone="9876512348")
    url = f"/api/v1/loans/{loan_id}"
    approve = {"approved_amount": "90000", "remarks": "fine"}
    assert client.post(f"{url}/cx-approve", json=approve, headers=keys["loan_ops"]).status_code == 403
    assert client.post(f"{url}/cx-approve", json=approve, headers=keys["credit_executive"]).status_code == 200
    sanction = {"sanctioned_amount": "85000", "remarks": "sanctioned"}
    assert client.post(f"{url}/sanction", json=sanction, headers=keys["credit_executive"]).status_code == 403
    reject = {"reason_code": "LOW_SALARY", "remarks": "SM decision"}
    assert client.post(f"{url}/reject", json=reject, headers=keys["credit_executive"]).status_code == 403
    back = {"to": "cx", "reason": "a CX cannot send to the CX"}
    assert client.post(f"{url}/send-back", json=back, headers=keys["credit_executive"]).status_code == 403
    queue = client.get("/api/v1/credit/sm-queue", headers=keys["sanction_manager"])
    assert queue.status_code == 200 and [i["id"] for i in queue.json()["items"]] == [loan_id]
    assert client.get("/api/v1/credit/sm-queue", headers=keys["credit_executive"]).status_code == 403
    assert client.post(f"{url}/sanction", json=sanction, headers=keys["sanction_manager"]).status_code == 200
    figures = client.get("/api/v1/credit/team-figures", headers=keys["sanction_head"])
    assert figures.status_code == 200, figures.text
    assert [(m["sanctioned"], m["approval_rate"]) for m in figures.json()["managers"]] == [(1, "100.0")]
    assert client.get("/api/v1/credit/team-figures", headers=keys["sanction_manager"]).status_code == 403
    head = client.get("/api/v1/credit/sm-loans", headers=keys["sanction_head"]).json()
    assert [i["id"] for i in head["items"]] == [loan_id]
    assert (
        client.post(f"{url}/reactivate", json={"reason": "x y z"}, headers=keys["sanction_manager"]).status_code == 403
    )

    for other in (cx, sm, make_tenant(platform)):
        assert client.get(url, headers=other.auth).status_code == 404
        assert client.post(f"{url}/cancel", json={"reason": "not yours"}, headers=other.auth).status_code in (403, 404)
    assert (
        client.post(f"{url}/cancel", json={"reason": "not yours"}, headers=make_tenant(platform).auth).status_code
        == 404
    )


def test_the_cx_worklist_is_mine_oldest_first(client: Any, tenant: Any, platform: Any) -> None:
    from domain.identity.application import Identity

    identity = platform.get(Identity)
    cx = identity.create_staff(
        tenant.brand_id, "cx-worklist@lender.in", "Ravi CX", ["credit_executive"], granter=OPERATOR
    )
    settle(platform, "identity", cx.position)
    first = _pending(client, tenant, name="Anu One", phone="9876512349")
    second = _pending(client, tenant, name="Anu Two", phone="9876512350")
    for loan_id in (second, first):
        assert client.post(f"/api/v1/loans/{loan_id}/assign", json={"staff_id": str(cx.id)},
                           headers=tenant.auth).status_code == 200  # fmt: skip
    from projections.loan_decision_queries import DecisionQueries

    page = DecisionQueries(platform.db.pool).cx_worklist(tenant.brand_id, cx.id, limit=1)
    assert [i.id for i in page.items] == [__import__("uuid").UUID(first)]
    rest = DecisionQueries(platform.db.pool).cx_worklist(tenant.brand_id, cx.id, cursor=page.next_cursor)
    assert [str(i.id) for i in rest.items] == [second]


def test_the_borrower_is_told_of_a_send_back_and_of_the_sm_s_rejection_by_sms(
    client: Any, tenant: Any, platform: Any
) -> None:
    import httpx

    from adapters.providers.call_log import ProviderCallLog
    from adapters.providers.directory import ProviderDirectory
    from adapters.providers.http import ProviderConfig
    from adapters.simulators.sms import SmsSimulator
    from domain.customers.application import Customers
    from domain.identity.application import Identity
    from domain.loans.application import Loans
    from workers.contexts.loans import SmsBorrowerContact

    loans = platform.get(Loans)
    before = loans.contact
    with SmsSimulator() as sms:
        directory = ProviderDirectory({"sms": ProviderConfig("sms", sms.base_url, "sim-key", timeout=2.0)},
                                      platform.get(ProviderCallLog))  # fmt: skip
        loans.contact = SmsBorrowerContact(platform.get(Identity), platform.get(Customers), directory)
        try:
            loan_id = _pending(client, tenant, name="Neha Joshi", phone="9876512351")
            url = f"/api/v1/loans/{loan_id}"
            client.post(f"{url}/send-back", json={"to": "borrower", "reason": "upload the last three payslips"},
                        headers=tenant.auth)  # fmt: skip
            client.post(f"{url}/submit", headers=tenant.auth)
            client.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "payslips fine"},
                        headers=tenant.auth)  # fmt: skip
            rejected = client.post(f"{url}/reject", json={"reason_code": "LOW_SALARY", "remarks": "bonus not salary"},
                                   headers=tenant.auth)  # fmt: skip
            assert rejected.status_code == 200, rejected.text
            label = rejected.json()["rejection"]["label"]
            outbox = httpx.get(f"{sms.base_url}/outbox", params={"to": "9876512351"}).json()["items"]
        finally:
            loans.contact = before
    texts = [item["text"] for item in outbox]
    assert len(texts) == 2
    assert "was not approved" in texts[0] and label in texts[0]
    assert "upload the last three payslips" in texts[1]


def test_a_send_back_names_the_step_the_borrower_does_again(client: Any, tenant: Any, app: Any, platform: Any) -> None:
    """The loan said "Sent back to the borrower: <reason>" but not which step, though the event records it: the
    API's `sent_back` carries `step` and the loan page says it."""
    loan_id = _pending(client, tenant, name="Ira Sen", phone="9876512399")
    back = client.post(f"/api/v1/loans/{loan_id}/send-back", headers=tenant.auth,
                       json={"to": "borrower", "reason": "payslip is blurred", "step": "employment"})  # fmt: skip
    assert back.status_code == 200, back.text
    assert back.json()["sent_back"]["step"] == "employment" and back.json()["sent_back"]["to"] == "borrower"
    email = f"cx-{loan_id[:8]}@lender.in"
    settle(platform, "identity", platform.get(Identity).create_staff(tenant.brand_id, email, "Cx", ["admin"],
                                                                      PASSWORD, granter=OPERATOR).position)  # fmt: skip
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}").text
        shown = page[page.index('id="sent-back"') :]
        shown = shown[: shown.index("</p>")]
        assert "to do the employment step again: payslip is blurred" in shown, shown
    finally:
        browser.__exit__(None, None, None)
