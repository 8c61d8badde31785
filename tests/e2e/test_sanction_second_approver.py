"""The sanction is the second of two approvals: the staff member who approved a loan as the CX does not sanction it
too (found by a privilege sweep: a Sanction Manager - who holds LOANS WRITE - CX-approved a pending loan and then
sanctioned it himself, 200 both times, so one person made both internal approvals)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.e2e.test_api_admin import _portal_login, _staff
from tests.e2e.test_api_loan_decisions import _pending
from tests.e2e.test_api_loans import catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.support import settle

PASSWORD = "a-long-passphrase-1"


def _signed_in(client: Any, app: Any, tenant: Any, role: str) -> Any:
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    _staff(client, tenant, email=email, roles=[role], password=PASSWORD)
    return _portal_login(app, email, PASSWORD)


def test_the_staff_member_who_cx_approved_a_loan_does_not_sanction_it(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    loan_id = _pending(client, tenant, phone="9876512399")
    first, second = (_signed_in(client, app, tenant, "sanction_manager") for _ in range(2))
    settle(platform, "identity")
    url = f"/api/v1/loans/{loan_id}"
    approved = first.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"})
    assert approved.status_code == 200, approved.text

    own = first.post(f"{url}/sanction", json={"sanctioned_amount": "90000", "remarks": "my own approval"})
    assert own.status_code == 409, own.text
    assert "another Sanction Manager must sanction it" in own.json()["detail"]
    assert client.get(url, headers=tenant.auth).json()["status"] == "cx_approved"  # nothing recorded

    sanctioned = second.post(f"{url}/sanction", json={"sanctioned_amount": "90000", "remarks": "second pair of eyes"})
    assert sanctioned.status_code == 200, sanctioned.text
    assert sanctioned.json()["status"] == "sm_approved"


def test_an_sm_sent_back_loan_approved_by_another_cx_may_be_sanctioned_by_the_first(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """What counts is who made the approval being sanctioned: the latest one."""
    loan_id = _pending(client, tenant, phone="9876512398")
    manager, executive = (
        _signed_in(client, app, tenant, "sanction_manager"),
        _signed_in(client, app, tenant, "credit_executive"),
    )
    settle(platform, "identity")
    url = f"/api/v1/loans/{loan_id}"
    assert (
        manager.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"}).status_code
        == 200
    )
    back = manager.post(f"{url}/send-back", json={"to": "cx", "reason": "a CX should look at this"})
    assert back.status_code == 200, back.text
    assert (
        executive.post(f"{url}/cx-approve", json={"approved_amount": "80000", "remarks": "salary supports"}).status_code
        == 200
    )
    sanctioned = manager.post(f"{url}/sanction", json={"sanctioned_amount": "80000", "remarks": "checked"})
    assert sanctioned.status_code == 200, sanctioned.text


def test_an_admin_may_make_both_approvals(client: Any, app: Any, tenant: Any, platform: Any) -> None:
    """An admin holds every permission and may give them, so the rule would only send them round it: a brand run by
    its admin alone (the demo's) approves and sanctions with that one account, in the API and the portal."""
    url = f"/api/v1/loans/{_pending(client, tenant, phone='9876512397')}"
    admin = _signed_in(client, app, tenant, "admin")
    settle(platform, "identity")
    assert (
        admin.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"}).status_code
        == 200
    )
    sanctioned = admin.post(f"{url}/sanction", json={"sanctioned_amount": "90000", "remarks": "admin decides"})
    assert sanctioned.status_code == 200 and sanctioned.json()["status"] == "sm_approved", sanctioned.text

    url = f"/api/v1/loans/{_pending(client, tenant, phone='9876512396')}"
    assert (
        admin.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"}).status_code
        == 200
    )
    csrf = admin.get("/dashboard").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    page = admin.post(f"{url.removeprefix('/api/v1')}/sanction",
                      data={"csrf_token": csrf, "sanctioned_amount": "90000", "remarks": "admin decides"})  # fmt: skip
    assert page.status_code == 303, page.text[:300]
    assert client.get(url, headers=tenant.auth).json()["status"] == "sm_approved"
