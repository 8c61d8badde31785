"""Collection money is decided by a second person: the staff member who asked for a partial collection, a manual
receipt, a penal waiver or a settlement does not approve it too (found after the sanction's second-approver rule: a
Collection Manager - COLLECTIONS and PENAL_WAIVERS and COLLECTION_APPROVALS - asked for a waiver and approved it
himself, 200 both times, and a Collection Head did the same with a settlement). Another holder of the approving
permission approves; the asker may still reject (withdraw) it; an admin and an API key are not held to it."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_recoveries_api import PNG, _key, _overdue_loan
from tests.e2e.test_servicing_api import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

PASSWORD = "second-pair-of-eyes-1"


class _Staff:
    """A staff member's browser session: the API through its cookie and CSRF header, the portal's forms."""

    def __init__(self, app: Any, platform: Any, tenant: Tenant, roles: list[str]) -> None:
        import re

        from starlette.testclient import TestClient

        email = f"{roles[0]}-{uuid.uuid4().hex[:8]}@lender.in"
        created = platform.get(Identity).create_staff(
            tenant.brand_id, email, f"Staff {roles[0]}", roles, PASSWORD, granter=OPERATOR
        )
        settle(platform, "identity")
        self.id: UUID = created.id
        self.client = TestClient(app, follow_redirects=False)
        assert self.client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', self.client.get("/dashboard").text)
        assert token is not None
        self.csrf = token.group(1)

    def api(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(f"/api/v1{path}", headers={"X-CSRF-Token": self.csrf}, **kwargs)

    def form(self, path: str, **fields: str) -> Any:
        return self.client.post(path, data={"csrf_token": self.csrf, **fields})


def test_the_manager_who_asked_for_a_waiver_or_a_collection_does_not_approve_it(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    first = _Staff(app, platform, tenant, ["collection_manager"])
    second = _Staff(app, platform, tenant, ["collection_manager"])
    url = f"/loans/{loan_id}"
    loans: Loans = platform.get(Loans)

    waiver = first.api(f"{url}/waivers", json={"amount": "1.00", "justification": "hospital stay"})
    assert waiver.status_code == 201, waiver.text
    wid = waiver.json()["id"]
    assert loans.get(tenant.brand_id, loan_id).waivers[wid].requested_by == f"staff:{first.id}"
    own = first.api(f"/waivers/{wid}/approve")
    assert own.status_code == 409, own.text
    assert "you asked for this waiver" in own.json()["detail"]
    assert own.json()["rule"] == "second_approver" and own.json()["requested_by"] == f"staff:{first.id}"
    assert loans.get(tenant.brand_id, loan_id).waivers[wid].status == "pending_approval"  # nothing recorded
    assert second.api(f"/waivers/{wid}/approve").status_code == 200

    collection = {"amount": "100.00", "mode": "cash", "reference": "R-SELF", "collected_on": "2026-03-19"}
    asked = first.api(f"{url}/collection-requests", json=collection)
    assert asked.status_code == 201, asked.text
    rid = asked.json()["id"]
    own = first.api(f"/collection-requests/{rid}/approve")
    assert own.status_code == 409 and "you asked for this collection" in own.json()["detail"], own.text
    assert not loans.get(tenant.brand_id, loan_id).payments  # no money recorded
    # The portal's approvals queue says the same and records nothing.
    page = first.form(f"/approvals/collections/{rid}/approve")
    assert page.status_code == 422 and "you asked for this collection" in page.text, page.text[:300]
    assert loans.get(tenant.brand_id, loan_id).collection_requests[rid].status == "pending_approval"
    approved = second.form(f"/approvals/collections/{rid}/approve")
    assert approved.status_code == 303, approved.text[:300]
    assert [p.reference for p in loans.get(tenant.brand_id, loan_id).payments.values()] == ["R-SELF"]

    # Withdrawing one's own request stays possible: a rejection approves nothing.
    again = first.api(f"{url}/collection-requests", json=collection | {"reference": "R-WITHDRAWN"})
    rejected = first.api(f"/collection-requests/{again.json()['id']}/reject", json={"reason": "typed it twice"})
    assert rejected.status_code == 200, rejected.text


def test_the_head_who_proposed_a_settlement_does_not_approve_it(app: Any, client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head, other_head = (_Staff(app, platform, tenant, ["collection_head"]) for _ in range(2))
    proposed = head.api(f"/loans/{loan_id}/settlements", json={"amount": "40000.00", "remarks": "job lost; one-time"})
    assert proposed.status_code == 201, proposed.text
    sid = proposed.json()["id"]
    own = head.api(f"/settlements/{sid}/approve")
    assert own.status_code == 409 and "you proposed this settlement" in own.json()["detail"], own.text
    page = head.form(f"/approvals/settlements/{sid}/approve")
    assert page.status_code == 422 and "you proposed this settlement" in page.text
    loans: Loans = platform.get(Loans)
    assert loans.get(tenant.brand_id, loan_id).settlements[sid].status == "pending_approval"
    assert other_head.api(f"/settlements/{sid}/approve").status_code == 200


def test_the_staff_member_who_uploaded_a_receipt_does_not_confirm_it(app: Any, client: Any, platform: Any) -> None:
    """A staff member holding both collection and Ops roles uploads a receipt: Ops' confirmation is someone else's."""
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    both = _Staff(app, platform, tenant, ["collection_manager", "loan_ops"])
    ops = _Staff(app, platform, tenant, ["loan_ops"])
    form = {"amount": "50.00", "mode": "cash", "reference": "MR-SELF"}
    receipt = both.api(f"/loans/{loan_id}/receipts", files={"file": ("r.png", PNG, "image/png")}, data=form)
    assert receipt.status_code == 201, receipt.text
    rid = receipt.json()["id"]
    own = both.api(f"/receipts/{rid}/confirm")
    assert own.status_code == 409 and "you asked for this receipt" in own.json()["detail"], own.text
    assert ops.api(f"/receipts/{rid}/confirm").status_code == 200


def test_an_admin_and_an_api_key_ask_and_approve_alone(app: Any, client: Any, platform: Any) -> None:
    """An admin holds every permission and may give them (the sanction's rule exempts them too); an API key is an
    integration, not a person, and is left to its owner."""
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    admin = _Staff(app, platform, tenant, ["admin"])
    waiver = admin.api(f"/loans/{loan_id}/waivers", json={"amount": "1.00", "justification": "hospital stay"})
    assert admin.api(f"/waivers/{waiver.json()['id']}/approve").status_code == 200
    settlement = admin.form(f"/loans/{loan_id}/settlements", amount="40000.00", remarks="job lost; one-time")
    assert settlement.status_code == 303, settlement.text[:300]
    (sid,) = platform.get(Loans).get(tenant.brand_id, loan_id).settlements
    assert admin.form(f"/approvals/settlements/{sid}/approve").status_code == 303

    key = _key(platform, tenant, "collection_manager")
    body = {"amount": "100.00", "mode": "cash", "reference": "R-KEY", "collected_on": "2026-03-19"}
    asked = client.post(f"/api/v1/loans/{loan_id}/collection-requests", json=body, headers=key)
    assert asked.status_code == 201, asked.text
    assert client.post(f"/api/v1/collection-requests/{asked.json()['id']}/approve", headers=key).status_code == 200
