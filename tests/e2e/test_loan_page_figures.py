"""The staff loan page and the API's loan once sanctioned at another amount than requested (found in Chromium): the
page's pricing is the sanction's (the figures the loan is disbursed and repaid on), the requested pricing beside it
as "As requested"; the API keeps `pricing` and `instalment` as priced at creation (a published contract) and adds
`sanctioned_pricing`.

The product catalogue is the fake of tests/e2e/test_api_loans.py (2 % processing fee with 18 % GST on top, ₹500
convenience fee with its GST inside, 24 % a year)."""

from __future__ import annotations

import re
from typing import Any

from tests.e2e.test_api_loans import PRODUCT, _borrower, catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.e2e.test_refused_forms_keep_input import _portal


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</section>", start)]


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _sanctioned_above_request(client: Any, tenant: Any) -> str:
    """A 40,000 application for 12 months, CX-approved and sanctioned at 50,000."""
    customer = _borrower(client, tenant, "Kavya Rao", "9876512399")
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "40000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    url = f"/api/v1/loans/{loan['id']}"
    assert client.post(f"{url}/submit", headers=tenant.auth).json()["status"] == "pending"
    approved = client.post(f"{url}/cx-approve", json={"approved_amount": "50000", "remarks": "salary supports 50k"},
                           headers=tenant.auth)  # fmt: skip
    assert approved.status_code == 200, approved.text
    sanctioned = client.post(f"{url}/sanction", json={"sanctioned_amount": "50000", "remarks": "as approved"},
                             headers=tenant.auth)  # fmt: skip
    assert sanctioned.status_code == 200, sanctioned.text
    return str(loan["id"])


def test_the_pricing_once_sanctioned_is_the_sanctions_with_the_requested_beside_it(
    app: Any, client: Any, staff: tuple[Any, str]
) -> None:
    tenant, email = staff
    loan_id = _sanctioned_above_request(client, tenant)
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    # 50,000: 2 % = 1000.00 + GST 180.00; convenience 500.00 (GST 76.27 inside) -> net 48,320.00; EMI 4727.98.
    # 40,000 as requested: 800.00 + 144.00; 500.00 -> net 38,556.00; EMI 3782.38.
    assert loan["amounts"]["net_disbursed"] == "48320.00" and loan["schedule"][0]["amount"] == "4727.98"
    pricing = loan["sanctioned_pricing"]
    assert (pricing["sanctioned"], pricing["net_disbursed"], pricing["instalment"]) == ("50000.00", "48320.00",
                                                                                         "4727.98")  # fmt: skip
    assert pricing["processing_fee"] == {"amount": "1000.00", "gst": "180.00", "gst_inclusive": False}
    requested = loan["pricing"]  # as priced at creation, unchanged by the sanction
    assert (requested["sanctioned"], requested["net_disbursed"], requested["instalment"]) == ("40000.00", "38556.00",
                                                                                              "3782.38")  # fmt: skip
    assert loan["instalment"] == "3782.38"

    browser, _csrf = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}")
        assert page.status_code == 200, page.text[:300]
        shown = _text(_section(page.text, "pricing"))
        assert "Pricing as sanctioned" in shown and "Pricing preview" not in shown
        assert "Net disbursed ₹48,320.00" in shown and "EMI ₹4,727.98" in shown
        assert "As requested (₹40,000.00): net disbursed ₹38,556.00, EMI ₹3,782.38" in shown
    finally:
        browser.__exit__(None, None, None)


def test_before_the_sanction_the_pricing_is_the_requested_amounts_preview(
    app: Any, client: Any, staff: tuple[Any, str]
) -> None:
    tenant, email = staff
    customer = _borrower(client, tenant, "Kavya Rao", "9876512398")
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "40000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    pricing = loan["pricing"]
    assert loan["sanctioned_pricing"] is None
    assert (pricing["sanctioned"], pricing["net_disbursed"], pricing["instalment"]) == ("40000.00", "38556.00",
                                                                                         "3782.38")  # fmt: skip
    browser, _csrf = _portal(app, email)
    try:
        shown = _text(_section(browser.get(f"/loans/{loan['id']}").text, "pricing"))
        assert "Pricing preview" in shown and "Net disbursed ₹38,556.00" in shown and "As requested" not in shown
    finally:
        browser.__exit__(None, None, None)
