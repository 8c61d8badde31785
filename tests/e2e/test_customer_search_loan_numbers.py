"""The customers search (the portal's Customers page and `GET /api/v1/customers?q=`) finds a borrower by one of our
own loan numbers (`DEMO-L-000012`, read.loans), not only by the external loan numbers linked to the record (found in
Chromium); a loan number of ours that is another brand's, or no loan's, finds nobody."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_tenant
from tests.e2e.test_api_loans import PRODUCT, _borrower, catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.e2e.test_refused_forms_keep_input import _portal


def test_a_borrower_is_found_by_our_loan_number(app: Any, client: Any, platform: Any, staff: tuple[Any, str]) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant, "Nisha Varghese", "9876512377")
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "40000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    number = loan["loan_number"]
    assert "-L-" in number

    for typed in (number, number.lower(), f"  {number} "):
        found = client.get("/api/v1/customers", params={"q": typed}, headers=tenant.auth)
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [customer], typed
    browser, _ = _portal(app, email)
    try:
        page = browser.get("/customers", params={"q": number}).text
        assert f"/customers/{customer}" in page and "Nisha Varghese" in page
    finally:
        browser.__exit__(None, None, None)

    unknown = number[: number.rindex("-") + 1] + "999999"
    assert client.get("/api/v1/customers", params={"q": unknown}, headers=tenant.auth).json()["items"] == []
    other = make_tenant(platform)
    assert client.get("/api/v1/customers", params={"q": number}, headers=other.auth).json()["items"] == []
