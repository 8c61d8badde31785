"""The loan page's repayments table and `GET /loans/{id}/repayments` list every money movement that repaid the
loan - repayments whatever brought them in, approved collections and manual receipts, payments toward a settlement,
and recoveries after a write-off - each labelled by kind with its allocation and receipt; pending and rejected
collection requests are not listed (docs/loans.md, "Receipts"; docs/recoveries.md)."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal
from typing import Any
from uuid import UUID

from pypdf import PdfReader

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD, login
from tests.e2e.test_recoveries_api import _key, _overdue_loan
from tests.e2e.test_servicing_api import catalogue
from tests.support import document_amounts_as_digits, settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)


def _collection(
    client: Any, url: str, headers: dict[str, str], reference: str, amount: str = "500.00", on: str = "2026-03-19"
) -> str:
    body = {"amount": amount, "mode": "cash", "reference": reference, "collected_on": on}
    made = client.post(f"{url}/collection-requests", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _decide(client: Any, request_id: str, headers: dict[str, str], approve: bool) -> None:
    action = "approve" if approve else "reject"
    body = None if approve else {"reason": "never reached the branch"}
    decided = client.post(f"/api/v1/collection-requests/{request_id}/{action}", json=body, headers=headers)
    assert decided.status_code == 200, decided.text


def _admin(platform: Any, tenant: Tenant) -> str:
    email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Test admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    return email


def _written_off_with_money(client: Any, platform: Any, tenant: Tenant) -> UUID:
    """An overdue loan with a staff repayment, an approved, a rejected and a pending collection, then written off
    with a recovery a collection request brought in, a direct recovery, and a rejected and a pending request."""
    loan_id = _overdue_loan(platform, tenant)
    manager = _key(platform, tenant, "collection_manager")
    url = f"/api/v1/loans/{loan_id}"
    staff_paid = {"amount": "1000.00", "mode": "neft", "reference": "UTR-STAFF"}  # paid on the business date
    assert client.post(f"{url}/repayments", json=staff_paid, headers=tenant.auth).status_code == 201
    _decide(client, _collection(client, url, manager, "COLL-OK"), manager, approve=True)  # collected the day before
    _decide(client, _collection(client, url, manager, "COLL-NO"), manager, approve=False)
    _collection(client, url, manager, "COLL-WAIT")
    done = client.post(f"{url}/write-off", json={"reason": "borrower absconded"}, headers=tenant.auth)
    assert done.status_code == 200, done.text
    _decide(client, _collection(client, url, manager, "REC-OK", "700.00", "2026-03-20"), manager, approve=True)
    _decide(client, _collection(client, url, manager, "REC-NO"), manager, approve=False)
    _collection(client, url, manager, "REC-WAIT")
    direct = {"amount": "300.00", "mode": "upi", "reference": "REC-DIRECT"}
    assert client.post(f"{url}/repayments", json=direct, headers=tenant.auth).status_code == 201
    return loan_id


def test_approved_recoveries_are_listed_with_their_receipts_and_pending_or_rejected_ones_are_not(
    server: str, browser: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _written_off_with_money(client, platform, tenant)

    # The API lists them in the order recorded, each with its kind and the request behind it.
    items = client.get(f"/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
    listed = [(i["reference"], i["kind"], i["request_id"] is not None, i["allocation"] == []) for i in items]
    assert listed == [
        ("UTR-STAFF", "repayment", False, False),
        ("COLL-OK", "collection", True, False),
        ("REC-OK", "recovery", True, True),
        ("REC-DIRECT", "recovery", False, True),
    ], listed

    # The loan page's table: by the day paid, labelled, with the allocation and the receipt link.
    page = browser.new_page()
    login(page, server, _admin(platform, tenant))
    page.goto(f"{server}/loans/{loan_id}")
    rows = page.locator("#repayments tbody tr")
    table = page.locator("#repayments").inner_text()
    assert all(shown in table for shown in ("UTR-STAFF", "COLL-OK", "REC-OK", "REC-DIRECT")), table
    for absent in ("COLL-NO", "COLL-WAIT", "REC-NO", "REC-WAIT"):
        assert absent not in table, table
    seen = [
        (rows.nth(i).get_attribute("data-kind"), rows.nth(i).locator("td.reference").inner_text())
        for i in range(rows.count())
    ]
    # COLL-OK was collected the day before the staff repayment; the recoveries were paid on the business date.
    assert seen == [
        ("collection", "COLL-OK"),
        ("repayment", "UTR-STAFF"),
        ("recovery", "REC-OK"),
        ("recovery", "REC-DIRECT"),
    ], seen
    recovery = page.locator("#repayments tbody tr", has_text="REC-OK")
    assert recovery.locator("td.kind").inner_text() == "recovery after write-off (collection)"
    assert "none: recovered after the write-off" in recovery.inner_text()
    assert "700.00" in recovery.inner_text()
    collected = page.locator("#repayments tbody tr", has_text="COLL-OK")
    assert collected.locator("td.kind").inner_text() == "collection"
    shown = [collected.locator(f"td.{c}").inner_text() for c in ("amount", "principal", "interest", "penal")]
    assert all(text.startswith("₹") for text in shown), shown  # the portal's one money format (domain.shared.rupees)
    cells = [Decimal(text.removeprefix("₹").replace(",", "")) for text in shown]
    assert cells[0] == Decimal("500.00") and sum(cells[1:]) == Decimal("500.00") and cells[3] > 0, shown
    href = recovery.locator("a.receipt-link").get_attribute("href")
    assert href is not None and href.startswith(f"/loans/{loan_id}/repayments/")
    receipt = page.request.get(server + href)
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"
    text = document_amounts_as_digits(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.body())).pages))
    assert "REC-OK" in text and "Amount received 700.00" in text, text
    page.close()


def test_payments_toward_a_settlement_are_marked_and_one_before_its_approval_is_not(
    client: Any, app: Any, platform: Any
) -> None:
    from tests.e2e.test_access_matrix import _signed_in

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{loan_id}"
    before = {"amount": "1000.00", "mode": "neft", "reference": "UTR-BEFORE"}
    assert client.post(f"{url}/repayments", json=before, headers=tenant.auth).status_code == 201
    settlement = client.post(f"{url}/settlements", json={"amount": "40000.00", "remarks": "one-time"}, headers=manager)
    assert settlement.status_code == 201, settlement.text
    sid = settlement.json()["id"]
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=head).status_code == 200  # the same day
    _decide(client, _collection(client, url, manager, "COLL-TOWARD", "5000.00"), manager, approve=True)
    rest = {"amount": "35000.00", "mode": "neft", "reference": "UTR-REST"}
    assert client.post(f"{url}/repayments", json=rest, headers=tenant.auth).status_code == 201
    assert client.get(url, headers=tenant.auth).json()["status"] == "settled"

    items = client.get(f"{url}/repayments", headers=tenant.auth).json()["items"]
    listed = [(i["reference"], i["kind"], i["settlement_id"]) for i in items]
    assert listed == [
        ("UTR-BEFORE", "repayment", None),
        ("COLL-TOWARD", "collection", sid),
        ("UTR-REST", "repayment", sid),
    ], listed

    portal, _ = _signed_in(app, platform, tenant.brand_id, "admin")
    try:
        html = portal.get(f"/loans/{loan_id}").text
        assert '<td class="kind" data-label="Kind">collection, toward the settlement</td>' in html
        assert '<td class="kind" data-label="Kind">repayment, toward the settlement</td>' in html
        assert html.count("toward the settlement") == 2
    finally:
        portal.__exit__(None, None, None)
