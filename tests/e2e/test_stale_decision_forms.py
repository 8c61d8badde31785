"""Two staff on one application: a credit-decision form (CAM, CX approval, sanction, reject) posted from a loan page
read before someone else changed the loan is refused with a 409, the page showing the loan as it is now and the form
as typed; posted again from that page, it is taken. Before, the stale CAM silently replaced the other CX's, and a
Sanction Manager's page kept from before a send back sanctioned the CX's new approval without its having been seen."""

from __future__ import annotations

import re
from typing import Any

from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_loan_product_change import EMI, _application, _product
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle

CAM = {
    "salary_credits": [{"month": m, "amount": "68000"} for m in ("2026-08", "2026-09", "2026-10")],
    "foir": "28", "existing_emis": "0", "recommended_amount": "30000", "recommended_rate": "18",
    "notes": "the other CX's appraisal",
}  # fmt: skip


def _version(page: str, form_id: str) -> str:
    found = re.search(r'name="expected_version" value="(\d+)"', _form(page, form_id))
    assert found is not None, form_id
    return found.group(1)


def _cam_form(csrf: str, version: str, amount: str) -> dict[str, str]:
    fields = {"csrf_token": csrf, "expected_version": version, "recommended_amount": amount,
              "recommended_rate": "20", "notes": "my <b>own</b> appraisal"}  # fmt: skip
    for i, month in enumerate(("2026-08", "2026-09", "2026-10")):
        fields |= {f"month_{i}": month, f"salary_{i}": "70000"}
    return fields


def test_a_cam_from_a_page_read_before_another_cam_is_refused_and_kept(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loan_id = _application(client, tenant, _product(client, tenant, EMI))
    settle(platform, "loans")
    browser, csrf = _portal(app, email)
    try:
        read = browser.get(f"/loans/{loan_id}")
        shown = _version(read.text, "cam-form")
        other = platform.get(Loans).record_cam(tenant.brand_id, loan_id, CAM, any_application=True)
        settle(platform, "loans", other.position)

        stale = browser.post(f"/loans/{loan_id}/cam", data=_cam_form(csrf, shown, "35000"))
        assert stale.status_code == 409, stale.text[:300]
        assert "changed since you opened it" in stale.text
        form = _form(stale.text, "cam-form")
        assert ">my &lt;b&gt;own&lt;/b&gt; appraisal</textarea>" in form and 'value="35000"' in form
        assert "the other CX&#39;s appraisal" in stale.text  # the page shows the CAM recorded meanwhile
        cam = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["cam"]
        assert cam["notes"] == CAM["notes"]

        again = browser.post(f"/loans/{loan_id}/cam", data=_cam_form(csrf, _version(stale.text, "cam-form"), "35000"))
        assert again.status_code == 303, again.text[:300]
    finally:
        browser.__exit__(None, None, None)
    settle(platform, "loans")
    assert client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["cam"]["recommended_amount"] == "35000.00"


def test_a_sanction_from_a_page_read_before_a_send_back_and_new_approval_is_refused(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loans = platform.get(Loans)
    loan_id = _application(client, tenant, _product(client, tenant, EMI))
    loans.cx_approve(tenant.brand_id, loan_id, "40000", "salary supports it", any_application=True)
    settle(platform, "loans")
    browser, csrf = _portal(app, email)
    try:
        read = browser.get(f"/loans/{loan_id}")
        shown = _version(read.text, "sanction-form")
        assert _version(read.text, "reject-form") == shown
        loans.send_back(tenant.brand_id, loan_id, "cx", "check the second salary", any_sanction=True)
        again = loans.cx_approve(tenant.brand_id, loan_id, "20000", "second salary is lower", any_application=True)
        settle(platform, "loans", again.position)

        sanction = {"csrf_token": csrf, "expected_version": shown, "sanctioned_amount": "40000",
                    "remarks": "as the CX approved"}  # fmt: skip
        stale = browser.post(f"/loans/{loan_id}/sanction", data=sanction)
        assert stale.status_code == 409, stale.text[:300]
        assert "changed since you opened it" in stale.text
        assert 'value="40000"' in _form(stale.text, "sanction-form")
        reject = {"csrf_token": csrf, "expected_version": shown, "reason_code": "OTHER", "remarks": "income too low"}
        assert browser.post(f"/loans/{loan_id}/reject", data=reject).status_code == 409
        assert browser.post(f"/loans/{loan_id}/sanction", data={**sanction, "expected_version": "x"}).status_code == 422
    finally:
        browser.__exit__(None, None, None)
    loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
    assert (loan["status"], loan["amounts"]["cx_approved"]) == ("cx_approved", "20000.00")
