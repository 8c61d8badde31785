"""The credit executive's work on an application is its assigned CX's (the spec: the CX views "assigned customer
profiles", applications are auto-allocated to credit executives or reallocated by their manager). Found by the
maker-checker sweep: a credit executive recorded the CAM, sent back, rejected and CX-approved an application
assigned to another credit executive, 200 every time. Now a 409 naming the assignee, nothing recorded; the assigned
CX works it, a manager holding LOAN_RELOCATE (and an admin, an API key) works any, and an unassigned application is
still the pool's."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.e2e.test_api_admin import _portal_login, _staff
from tests.e2e.test_api_loan_decisions import CAM, _pending
from tests.e2e.test_api_loans import catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.support import settle

PASSWORD = "a-long-passphrase-1"


def _signed_in(client: Any, app: Any, tenant: Any, role: str) -> tuple[Any, str]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    staff = _staff(client, tenant, email=email, roles=[role], password=PASSWORD)
    return _portal_login(app, email, PASSWORD), staff["id"]


def test_a_credit_executive_does_not_work_an_application_assigned_to_another(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    loan_id = _pending(client, tenant, phone="9876512389")
    (asha, asha_id), (ravi, _) = (_signed_in(client, app, tenant, "credit_executive") for _ in range(2))
    settle(platform, "identity")
    url = f"/api/v1/loans/{loan_id}"
    assigned = client.post(f"{url}/assign", json={"staff_id": asha_id, "reason": "her queue"}, headers=tenant.auth)
    assert assigned.status_code == 200, assigned.text
    before = client.get(url, headers=tenant.auth).json()

    probes = [
        ("cam", CAM),
        ("send-back", {"to": "borrower", "reason": "payslip unreadable"}),
        ("reject", {"reason_code": "LOW_SALARY", "remarks": "not my call"}),
        ("cx-approve", {"approved_amount": "90000", "remarks": "salary supports"}),
        ("bre-overrides", {"rule": "BLOCKLIST", "result": "fail", "justification": "not my application to judge"}),
    ]
    for path, body in probes:
        refused = ravi.post(f"{url}/{path}", json=body)
        assert refused.status_code == 409, (path, refused.text)
        assert refused.json()["rule"] == "assigned_cx" and refused.json()["assignee_id"] == asha_id, refused.text
    after = client.get(url, headers=tenant.auth).json()
    assert (after["status"], after["version"], after["cam"]) == ("pending", before["version"], None)  # nothing

    # The loan page tells Ravi whose application it is instead of showing him forms that would be refused.
    settle(platform, "loans")
    shown = ravi.get(f"/loans/{loan_id}").text
    assert 'id="worked-by"' in shown and 'id="cam-form"' not in shown and 'id="reject-form"' not in shown
    assert 'id="send-back-form"' not in shown and 'id="override-form"' not in shown
    mine = asha.get(f"/loans/{loan_id}").text
    assert 'id="cam-form"' in mine and 'id="worked-by"' not in mine and 'id="override-form"' in mine
    # A form posted anyway is refused on the loan page and records nothing.
    csrf = ravi.headers["X-CSRF-Token"]
    page = ravi.post(f"/loans/{loan_id}/cx-approve",
                     data={"csrf_token": csrf, "approved_amount": "90000", "remarks": "salary supports"})  # fmt: skip
    assert page.status_code == 409 and "assigned to another credit executive" in page.text, page.text[:300]
    assert client.get(url, headers=tenant.auth).json()["status"] == "pending"

    assert asha.post(f"{url}/cam", json=CAM).status_code == 200
    approved = asha.post(f"{url}/cx-approve", json={"approved_amount": "90000", "remarks": "salary supports"})
    assert approved.status_code == 200 and approved.json()["status"] == "cx_approved", approved.text


def test_a_manager_and_the_pool_work_any_application(client: Any, app: Any, tenant: Any, platform: Any) -> None:
    """LOAN_RELOCATE (who reassigns applications: the Sanction Head here) acts on one assigned to a CX; an
    application nobody holds (auto-allocation off) is any credit executive's."""
    assigned_id = _pending(client, tenant, phone="9876512388")
    pool_id = _pending(client, tenant, phone="9876512387")
    (_, asha_id), (ravi, _) = (_signed_in(client, app, tenant, "credit_executive") for _ in range(2))
    head, _ = _signed_in(client, app, tenant, "sanction_head")
    settle(platform, "identity")
    url = f"/api/v1/loans/{assigned_id}"
    assert client.post(f"{url}/assign", json={"staff_id": asha_id}, headers=tenant.auth).status_code == 200
    rejected = head.post(f"{url}/reject", json={"reason_code": "LOW_SALARY", "remarks": "bonus is not salary"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text

    pool = ravi.post(f"/api/v1/loans/{pool_id}/cx-approve", json={"approved_amount": "90000", "remarks": "fine"})
    assert pool.status_code == 200 and pool.json()["status"] == "cx_approved", pool.text


def test_a_loan_page_assign_form_opened_before_another_managers_assignment_is_refused(
    client: Any, app: Any, tenant: Any, platform: Any
) -> None:
    """Two managers open the loan page; the first gives the application to Asha, the second's form - opened before -
    to Ravi: a 409 on the loan page, Asha's assignment kept (it was put over without a word)."""
    loan_id = _pending(client, tenant, phone="9876512390")
    (_, asha_id), (_, ravi_id) = (_signed_in(client, app, tenant, "credit_executive") for _ in range(2))
    manager, _ = _signed_in(client, app, tenant, "sanction_head")  # holds LOAN_RELOCATE
    settle(platform, "identity")
    page = manager.get(f"/loans/{loan_id}")
    assert page.status_code == 200, page.text[:300]
    form = page.text[page.text.index('id="assign-form"') :]
    seen = re.search(r'name="expected_version" value="(\d+)"', form[: form.index("</form>")])
    assert seen is not None, "the assign form carries no version"
    url = f"/api/v1/loans/{loan_id}"
    first = client.post(f"{url}/assign", json={"staff_id": asha_id, "reason": "her queue"}, headers=tenant.auth)
    assert first.status_code == 200, first.text
    csrf = manager.headers["X-CSRF-Token"]
    data = {"csrf_token": csrf, "staff_id": ravi_id, "reason": "his queue", "expected_version": seen.group(1)}
    refused = manager.post(f"/loans/{loan_id}/assign", data=data)
    assert refused.status_code == 409, refused.text[:300]
    assert client.get(url, headers=tenant.auth).json()["assignee_id"] == asha_id
    now = client.get(url, headers=tenant.auth).json()["version"]
    saved = manager.post(f"/loans/{loan_id}/assign", data={**data, "expected_version": str(now)})
    assert saved.status_code == 303, saved.text[:300]
    settle(platform, "loans")
    assert client.get(url, headers=tenant.auth).json()["assignee_id"] == ravi_id
