"""A loan's credit decisions over the API take `If-Match` (the ETag of `GET /loans/{id}`): a decision made against a
version the loan has moved past is a 409 naming `current_version`, nothing recorded; the current one is taken. Before,
the decisions refused the header (422) although the loan's GET carries its ETag, so an integrator could not guard
them as the portal's forms do."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_tenant
from tests.e2e.test_loan_product_change import EMI, _application, _product
from tests.support import settle

CAM = {
    "salary_credits": [{"month": m, "amount": "68000"} for m in ("2026-08", "2026-09", "2026-10")],
    "foir": "28", "existing_emis": "0", "recommended_amount": "30000", "recommended_rate": "18", "notes": "first",
}  # fmt: skip


def test_a_decision_against_a_version_the_loan_moved_past_is_refused_and_the_current_one_taken(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _application(client, tenant, _product(client, tenant, EMI))
    settle(platform, "loans")
    url = f"/api/v1/loans/{loan_id}"
    read = client.get(url, headers=tenant.auth)
    version = int(read.json()["version"])
    assert read.headers["ETag"] == f'"{version}"' and read.json()["status"] == "pending"
    stale = {"If-Match": f'"{version}"'}

    first = client.post(f"{url}/cam", json=CAM, headers=tenant.auth | stale)
    assert first.status_code == 200, first.text
    moved = int(first.json()["version"])
    assert moved > version and first.headers["ETag"] == f'"{moved}"'

    decisions = [
        ("cam", {**CAM, "notes": "second"}),
        ("cx-approve", {"approved_amount": "30000", "remarks": "salary supports it"}),
        ("send-back", {"to": "borrower", "reason": "a clearer payslip"}),
        ("reject", {"reason_code": "OTHER", "remarks": "not eligible"}),
    ]
    for path, body in decisions:
        refused = client.post(f"{url}/{path}", json=body, headers=tenant.auth | stale)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["current_version"] == moved, (path, refused.text)
    settle(platform, "loans")
    now = client.get(url, headers=tenant.auth).json()
    assert (now["status"], now["version"], now["cam"]["notes"]) == ("pending", moved, "first")  # nothing recorded

    taken = client.post(f"{url}/cx-approve", json=decisions[1][1], headers=tenant.auth | {"If-Match": f'"{moved}"'})
    assert taken.status_code == 200, taken.text
    assert taken.json()["status"] == "cx_approved"
    malformed = client.post(f"{url}/sanction", json={"sanctioned_amount": "30000", "remarks": "salary supports it"},
                            headers=tenant.auth | {"If-Match": "*"})  # fmt: skip
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "If-Match", malformed.text
