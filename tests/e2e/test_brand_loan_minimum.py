"""The brand's minimum loan amount through the API on PostgreSQL: a brand that set `min_loan_amount` refuses an
application below it and a product whose whole range lies below it (422 naming the field, both amounts in rupees,
nothing recorded); a brand that never set it (its starting ₹15,000 shown, not enforced) takes both as before, and
setting it to the starting value it shows is setting it."""

from __future__ import annotations

from typing import Any

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_loan_product_change import EMI, PAYDAY, _events
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import mobile

SMALL = {**PAYDAY, "code": "small", "name": "Small payday", "min_amount": "5000", "max_amount": "14000"}


def _borrower(client: Any, tenant: Tenant) -> str:
    made = client.post("/api/v1/customers", json={"name": "Anita Desai", "phone": mobile(),
                                                  "date_of_birth": "1990-01-15"}, headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _apply(client: Any, tenant: Tenant, product: str, amount: str) -> Any:
    body = {"customer_id": _borrower(client, tenant), "product_id": product, "amount": amount, "tenure": 30}
    return client.post("/api/v1/loans", json=body, headers=tenant.auth)


def _product(client: Any, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/loan-products", json={k: v for k, v in body.items() if v is not None},
                       headers=tenant.auth)  # fmt: skip


def _errors(refused: Any) -> dict[str, str]:
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in refused.json()["errors"]}


def test_a_brand_that_set_a_minimum_loan_amount_refuses_applications_and_products_below_it(
    client: Any, platform: Any
) -> None:
    database_url = platform.dsn
    tenant, unset = make_tenant(platform), make_tenant(platform)
    changed = client.patch("/api/v1/brand/config", json={"min_loan_amount": "20000"}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text
    payday = _product(client, tenant, PAYDAY)  # 5,000 - 50,000 reaches the minimum
    assert payday.status_code == 201, payday.text

    before = _events(database_url)
    refused = _apply(client, tenant, payday.json()["id"], "16000")  # within the product's range
    assert _errors(refused) == {"amount": "₹16,000.00 is below the brand's minimum loan amount of ₹20,000.00"}
    small = _product(client, tenant, SMALL)
    assert _errors(small)["max_amount"] == (
        "₹14,000.00 is below the brand's minimum loan amount of ₹20,000.00: no loan on this product could be made"
    )
    assert _events(database_url) == before  # no application recorded
    assert [p["code"] for p in client.get("/api/v1/loan-products", headers=tenant.auth).json()["items"]] == ["PAYDAY"]
    lowered = client.patch(f"/api/v1/loan-products/{payday.json()['id']}", json={"max_amount": "15000"},
                           headers=tenant.auth)  # fmt: skip
    assert "max_amount" in _errors(lowered)
    assert _apply(client, tenant, payday.json()["id"], "20000").status_code == 201  # the minimum itself

    # A brand that never set it: its starting value is shown, and the product's range alone applies, as before.
    assert client.get("/api/v1/brand/config", headers=unset.auth).json()["settings"]["min_loan_amount"] == "15000.00"
    theirs = _product(client, unset, SMALL)
    assert theirs.status_code == 201, theirs.text
    assert _apply(client, unset, theirs.json()["id"], "8000").status_code == 201

    # Set to the very value it showed: that is setting it (recorded in its history), enforced from then on.
    same = client.patch("/api/v1/brand/config", json={"min_loan_amount": "15000"}, headers=unset.auth)
    assert same.status_code == 200, same.text
    history = client.get("/api/v1/brand/config/history", headers=unset.auth).json()["items"]
    assert [(h["setting"], h["old"], h["new"]) for h in history] == [("min_loan_amount", "15000.00", "15000.00")]
    assert _errors(_apply(client, unset, theirs.json()["id"], "8000")) == {
        "amount": "₹8,000.00 is below the brand's minimum loan amount of ₹15,000.00"
    }
    emi = _product(client, unset, EMI)
    assert emi.status_code == 201, emi.text


def test_the_settings_say_whether_the_minimum_binds_until_the_brand_sets_it(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    """The settings page showed 15000.00 as the "smallest loan amount allowed" on a brand that never set it, where no
    minimum binds: an admin read it as enforced. The page and the API now say whether it binds."""
    tenant, email = staff
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["min_loan_amount_enforced"] is False
    browser, _ = _portal(app, email)
    try:
        assert 'id="min-loan-amount-unset"' in browser.get("/settings").text
        same = client.patch("/api/v1/brand/config", json={"min_loan_amount": "15000"}, headers=tenant.auth)
        assert same.status_code == 200 and same.json()["min_loan_amount_enforced"] is True, same.text
        assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["min_loan_amount_enforced"] is True
        assert 'id="min-loan-amount-unset"' not in browser.get("/settings").text
    finally:
        browser.__exit__(None, None, None)
