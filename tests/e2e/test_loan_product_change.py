"""Changing an application's product through the API and the portal, on PostgreSQL with the real products context:
LOAN_RULE_TYPE (403 without it), brand isolation (404), each bad field named (422) with nothing recorded, 409 on a
stale version and once sanctioned, the new product's pricing and BRE results on the loan, and the change in its
history; the loan page's "Change product" form refusing inline and then changing the product."""

from __future__ import annotations

from typing import Any

import psycopg

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import login
from tests.support import settle

EMI = {
    "code": "sal-emi", "name": "Salary EMI", "type": "emi", "min_amount": "15000", "max_amount": "500000",
    "min_tenure": 3, "max_tenure": 36, "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2.5", "gst_inclusive": False},
    "convenience_fee": {"kind": "fixed", "value": "499", "gst_inclusive": True}, "gst_percent": "18",
    "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 2, "bre_rules": [],
}  # fmt: skip
PAYDAY = {
    **EMI, "code": "payday", "name": "Payday", "type": "payday", "min_amount": "5000", "max_amount": "50000",
    "min_tenure": 7, "max_tenure": 45, "annual_percent": None, "daily_percent": "1",
    "processing_fee": {"kind": "fixed", "value": "750", "gst_inclusive": False},
    "bre_rules": [{"rule": "AGE", "min": "21", "max": "58"}],
}  # fmt: skip
STRICT = {**EMI, "code": "strict", "name": "Strict EMI", "bre_rules": [{"rule": "CREDIT_SCORE", "min": "700"}]}


def _product(client: Any, tenant: Tenant, body: dict[str, Any]) -> str:
    made = client.post("/api/v1/loan-products", json={k: v for k, v in body.items() if v is not None},
                       headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _application(client: Any, tenant: Tenant, product: str, phone: str = "9876533001") -> str:
    made = client.post(
        "/api/v1/customers",
        json={"name": "Anita Desai", "phone": phone, "date_of_birth": "1990-01-15",
              "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}]},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = {"customer_id": made.json()["id"], "product_id": product, "amount": "40000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert loan.status_code == 201, loan.text
    submitted = client.post(f"/api/v1/loans/{loan.json()['id']}/submit", headers=tenant.auth)
    assert submitted.json()["status"] == "pending", submitted.text
    return str(loan.json()["id"])


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.loans_events").fetchone()[0])  # type: ignore[index]


def test_changing_the_product_through_the_api(client: Any, tenant: Tenant, platform: Any) -> None:
    database_url = platform.dsn
    emi, payday, strict = (_product(client, tenant, b) for b in (EMI, PAYDAY, STRICT))
    retired = _product(client, tenant, {**EMI, "code": "retired"})
    assert client.post(f"/api/v1/loan-products/{retired}/deactivate", json={"reason": "superseded"},
                       headers=tenant.auth).status_code == 200  # fmt: skip
    other = make_tenant(platform)
    foreign = _product(client, other, EMI)
    loan_id = _application(client, tenant, emi)
    url = f"/api/v1/loans/{loan_id}"
    version = client.get(url, headers=tenant.auth).json()["version"]

    identity = platform.get(Identity)
    keys = {}
    for role in ("credit_executive", "sanction_manager"):
        issued = identity.issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
        keys[role] = {"Authorization": f"Bearer {issued.secret}"}
    settle(platform, "identity")
    change = {"product_id": payday, "tenure": 30, "reason": "qualifies for payday only"}
    before = _events(database_url)
    denied = client.post(f"{url}/product", json=change, headers=keys["credit_executive"])
    assert denied.status_code == 403 and denied.json()["permission"] == "LOAN_RULE_TYPE"
    assert client.post(f"{url}/product", json=change, headers=other.auth).status_code == 404
    for body, field in (
        ({**change, "product_id": foreign}, "product_id"),  # another brand's product
        ({**change, "product_id": retired}, "product_id"),  # not active
        ({**change, "amount": "60000"}, "amount"),  # above the payday maximum
        ({**change, "tenure": 90}, "tenure"),  # above 45 days
        ({k: v for k, v in change.items() if k != "tenure"}, "tenure"),  # months do not carry over to days
        ({**change, "reason": " "}, "reason"),
        ({**change, "tenure": "30"}, "tenure"),  # a JSON integer
    ):
        refused = client.post(f"{url}/product", json=body, headers=tenant.auth)
        assert refused.status_code == 422, (field, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in {e["field"] for e in refused.json()["errors"]}, (field, refused.text)
    stale = client.post(f"{url}/product", json=change, headers={**tenant.auth, "If-Match": f'"{version - 1}"'})
    assert stale.status_code == 409, stale.text
    assert _events(database_url) == before  # nothing recorded by any refusal

    changed = client.post(f"{url}/product", json=change, headers={**keys["sanction_manager"],
                                                                    "If-Match": f'"{version}"'})  # fmt: skip
    assert changed.status_code == 200, changed.text
    loan = changed.json()
    assert (loan["product_id"], loan["tenure"], loan["amount"], loan["status"]) == (payday, 30, "40000.00", "pending")
    # 750 fee + 18 % GST 135 on top, 499 convenience with its GST (76.12) inside: 40,000 - 885 - 499 = 38,616.00;
    # the bullet 40,000 + 1 % a day for 30 days = 52,000.00, spread per month.
    assert loan["pricing"]["net_disbursed"] == "38616.00" and loan["instalment"] == "52000.00"
    assert loan["results"][0]["rule"] == "AGE" and loan["results"][0]["outcome"] == "pass"
    entry = loan["history"][-1]
    assert entry["kind"] == "product_changed" and entry["reason"] == "qualifies for payday only"
    assert entry["details"]["previous_product_id"] == emi and entry["details"]["product_code"] == "PAYDAY"
    again = client.post(f"{url}/product", json={**change, "expected_version": version}, headers=tenant.auth)
    assert again.status_code == 409, again.text  # the version it was made against has moved on

    # A product whose rules the recorded facts fail: rejected by the BRE, overridable as at submission.
    rejected = client.post(f"{url}/product", json={"product_id": strict, "tenure": 12, "amount": "35000",
                                                   "reason": "back to EMI"}, headers=tenant.auth).json()  # fmt: skip
    assert rejected["status"] == "rejected" and rejected["amount"] == "35000.00"
    # the other contexts' read models follow the new amount (the dashboards' principal, the reminders' loan)
    settle(platform, "loans")  # every read model of the loans' events
    with psycopg.connect(database_url) as conn:
        principal = conn.execute("SELECT principal FROM read.insight_loans WHERE loan_id = %s", (loan_id,)).fetchone()
        amount = conn.execute("SELECT amount FROM read.engagement_loans WHERE loan_id = %s", (loan_id,)).fetchone()
    assert principal is not None and amount is not None and (str(principal[0]), str(amount[0])) == ("35000.00",) * 2
    assert {r["rule"]: r["outcome"] for r in rejected["results"]}["CREDIT_SCORE"] == "fail"

    # Once sanctioned the product is fixed: 409 naming the status.
    sanctioned_id = _application(client, tenant, emi, phone="9876533002")
    surl = f"/api/v1/loans/{sanctioned_id}"
    client.post(f"{surl}/cx-approve", json={"approved_amount": "40000", "remarks": "fine"}, headers=tenant.auth)
    assert client.post(f"{surl}/sanction", json={"sanctioned_amount": "40000", "remarks": "fine"},
                       headers=tenant.auth).status_code == 200  # fmt: skip
    late = client.post(f"{surl}/product", json=change, headers=tenant.auth)
    assert late.status_code == 409 and "this one is sanctioned" in late.json()["detail"], late.text  # in words
    assert late.json()["current_status"] == "sm_approved"  # the machine-readable field keeps the code


def test_the_loan_page_changes_the_product(server: str, browser: Any, staff: tuple[Any, str], platform: Any) -> None:
    from starlette.testclient import TestClient

    from workers.web_app import build_app

    tenant, email = staff
    with TestClient(build_app(lambda: platform, close_platform=False)) as client:
        emi, payday = _product(client, tenant, EMI), _product(client, tenant, PAYDAY)
        loan_id = _application(client, tenant, emi, phone="9876533003")
    settle(platform, "loans")
    settle(platform, "products")
    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/loans/{loan_id}")
    form = "#change-product-form"
    assert "Payday (PAYDAY" in page.locator(f"{form} select[name=product_id]").inner_text()
    page.select_option(f"{form} select[name=product_id]", payday)
    page.fill(f"{form} input[name=amount]", "90000")
    page.fill(f"{form} input[name=tenure]", "30")
    page.fill(f"{form} textarea[name=reason]", "qualifies for payday only")
    page.click(f"{form} button")
    assert "amount: must be between 5000" in page.locator(".alert").inner_text()  # refused inline
    assert page.locator("#loan-status").inner_text() == "pending"
    page.select_option(f"{form} select[name=product_id]", payday)
    page.fill(f"{form} input[name=amount]", "")
    page.fill(f"{form} input[name=tenure]", "30")
    page.fill(f"{form} textarea[name=reason]", "qualifies for payday only")
    page.click(f"{form} button")
    page.wait_for_selector("td:has-text('product changed')")
    assert "a day" in page.locator("#pricing").inner_text() and page.locator(".alert").count() == 0
    assert "Payday (PAYDAY)" in page.locator("main").inner_text()
    assert "product changed" in page.locator("main").inner_text()
    assert "qualifies for payday only" in page.locator("main").inner_text()


def _status_counts(dsn: str, brand_id: Any) -> dict[str, tuple[int, str]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT key, loans, amount FROM read.insight_counts WHERE brand_id = %s AND dimension = 'status'",
            (brand_id,),
        ).fetchall()
    return {key: (int(loans), str(amount)) for key, loans, amount in rows if loans}


def test_a_change_of_amount_keeping_the_status_moves_the_dashboards_status_amount(
    client: Any, tenant: Tenant, platform: Any
) -> None:
    emi = _product(client, tenant, EMI)
    other = _product(client, tenant, {**EMI, "code": "sal-emi-2"})
    loan_id = _application(client, tenant, emi, phone="9876533004")
    settle(platform, "loans")
    assert _status_counts(platform.dsn, tenant.brand_id) == {"pending": (1, "40000.00")}
    changed = client.post(f"/api/v1/loans/{loan_id}/product", json={"product_id": other, "amount": "30000",
                          "reason": "a smaller loan"}, headers=tenant.auth)  # fmt: skip
    assert changed.status_code == 200 and changed.json()["status"] == "pending", changed.text
    settle(platform, "loans")
    # still one pending application, now of 30,000 (the counter kept 40,000 when only the amount moved)
    assert _status_counts(platform.dsn, tenant.brand_id) == {"pending": (1, "30000.00")}
