"""The BRE backtest through the API on PostgreSQL: applications submitted through the real products and loans
contexts, then the product's current and proposed rules re-run over them (decisions changed both ways, failures per
rule); bad rules name the field; another brand's product is a 404."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Tenant, make_tenant
from tests.support import mobile, settle

PRODUCT = {
    "code": "bt-emi",
    "name": "Backtest EMI",
    "type": "emi",
    "min_amount": "15000",
    "max_amount": "500000",
    "min_tenure": 3,
    "max_tenure": 36,
    "annual_percent": "24",
    "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
    "convenience_fee": {"kind": "fixed", "value": "0", "gst_inclusive": True},
    "gst_percent": "18",
    "penal": {"kind": "simple", "daily_percent": "0.1"},
    "max_active_loans": 2,
    "bre_rules": [{"rule": "AGE", "min": "25"}, {"rule": "PINCODE"}],
}


def _apply(client: Any, tenant: Tenant, product_id: str, born: str, pincode: str) -> tuple[str, str]:
    """A borrower born on `born` living at `pincode` applies and submits: (loan id, status)."""
    made = client.post(
        "/api/v1/customers",
        json={
            "name": "Kavya Rao",
            "phone": mobile("98"),
            "date_of_birth": born,
            "addresses": [{"line1": "12 MG Road", "city": "Bengaluru", "pincode": pincode}],
        },
        headers=tenant.auth,
    )
    assert made.status_code == 201, made.text
    body = {"customer_id": made.json()["id"], "product_id": product_id, "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert loan.status_code == 201, loan.text
    submitted = client.post(f"/api/v1/loans/{loan.json()['id']}/submit", headers=tenant.auth)
    assert submitted.status_code == 200, submitted.text
    return loan.json()["id"], submitted.json()["status"]


def test_a_backtest_shows_the_decisions_that_would_change(client: Any, tenant: Tenant, platform: Any) -> None:
    created = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth)
    assert created.status_code == 201, created.text
    product = created.json()["id"]
    url = f"/api/v1/loan-products/{product}/backtest"
    empty = client.post(url, json={}, headers=tenant.auth)
    assert empty.status_code == 200, empty.text
    assert empty.json()["evaluated"] == 0 and empty.json()["now_failing"] == {"count": 0, "loan_ids": []}

    young, young_status = _apply(client, tenant, product, "2002-06-01", "560001")  # 24 on 2026-11-30
    _thirty, thirty_status = _apply(client, tenant, product, "1996-01-10", "560001")
    forty, forty_status = _apply(client, tenant, product, "1986-03-03", "110099")
    assert (young_status, thirty_status, forty_status) == ("rejected", "pending", "pending")
    settle(platform, "loans")

    current = client.post(url, json={}, headers=tenant.auth).json()
    assert current["evaluated"] == 3 and current["version"] == 1
    assert (
        current["rules"]
        == current["current_rules"]
        == [
            {"rule": "AGE", "min": "25", "max": None},
            {"rule": "PINCODE", "min": None, "max": None},
        ]
    )
    assert current["now_passing"]["count"] == current["now_failing"]["count"] == 0
    assert {f["rule"]: (f["current"], f["backtested"]) for f in current["failures"]}["AGE"] == (1, 1)

    proposed = client.post(url, json={"rules": [{"rule": "AGE", "min": "22", "max": "35"}]}, headers=tenant.auth)
    assert proposed.status_code == 200, proposed.text
    result = proposed.json()
    assert result["now_passing"] == {"count": 1, "loan_ids": [young]}
    assert result["now_failing"] == {"count": 1, "loan_ids": [forty]}
    failures = {f["rule"]: (f["current"], f["backtested"]) for f in result["failures"]}
    assert failures["AGE"] == (1, 1) and failures["PINCODE"] == (0, 0)

    # The serviceability list is a brand setting: the PINCODE rule reads it from the policy recorded then.
    client.patch("/api/v1/brand/config", json={"serviceable_pincodes": ["560001"]}, headers=tenant.auth)
    _late, late_status = _apply(client, tenant, product, "1990-05-05", "110099")
    assert late_status == "rejected"


def test_bad_rules_name_the_field_and_other_brands_products_are_404(client: Any, tenant: Tenant, platform: Any) -> None:
    product = client.post("/api/v1/loan-products", json=PRODUCT | {"code": "bt-2"}, headers=tenant.auth).json()["id"]
    url = f"/api/v1/loan-products/{product}/backtest"
    for rules, field in (
        ([{"rule": "CREDIT_SCORE"}], "rules[0].min"),
        ([{"rule": "AGE"}, {"rule": "BLOCKLIST"}], "rules[1].rule"),
        ([{"rule": "FOIR", "max": "50"}, {"rule": "FOIR", "max": "40"}], "rules[1].rule"),
        ([{"rule": "SCORE", "min": "1"}], "rules[0].rule"),
    ):
        bad = client.post(url, json={"rules": rules}, headers=tenant.auth)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == [field]
    other = make_tenant(platform)
    assert client.post(url, json={}, headers=other.auth).status_code == 404
    assert (
        client.post(f"/api/v1/loan-products/{uuid.uuid4()}/backtest", json={}, headers=tenant.auth).status_code == 404
    )
