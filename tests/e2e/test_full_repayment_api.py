"""A full repayment a collection executive collected (spec, Collection Executive: "Record full repayment - mark a
loan as fully repaid, triggering closure and NOC generation") through the API and the portal on PostgreSQL: applied
at once when it is what the loan owes, the loan completed with its no-due certificate issued; a part-payment 422, an
executive the loan is not allocated to 404, a written-off loan 409 - nothing recorded on any refusal."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.states import LoanStatus
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_collections import executive, give_case, signed_in
from tests.e2e.test_recoveries_api import _key, _overdue_loan
from tests.e2e.test_servicing_api import catalogue

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)


def _owed(client: Any, tenant: Tenant, loan_id: UUID) -> str:
    return str(client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"])


def test_an_allocated_executive_records_a_full_repayment_and_the_loan_closes_with_its_no_due(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    (asha, asha_email), (_, ravi_email) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, loan_id, asha)
    url = f"/api/v1/loans/{loan_id}"
    owed = _owed(client, tenant, loan_id)
    body = {"amount": owed, "mode": "cash", "reference": "FULL-RCPT-1"}
    loans = platform.get(Loans)
    version = loans.get(tenant.brand_id, loan_id).version
    ravi, ravi_headers = signed_in(app, ravi_email)
    asha_client, asha_headers = signed_in(app, asha_email)
    try:
        # Another executive's loan: a 404 as for another brand's; who lacks COLLECTIONS WRITE: 403.
        assert ravi.post(f"{url}/full-repayment", json=body, headers=ravi_headers).status_code == 404
        for role in ("loan_ops", "sales"):
            assert (
                client.post(f"{url}/full-repayment", json=body, headers=_key(platform, tenant, role)).status_code == 403
            )
        # A part-payment is a collection request: 422 naming the amount and the figure owed that day.
        part = asha_client.post(f"{url}/full-repayment", json=body | {"amount": "3000.00"}, headers=asha_headers)
        assert part.status_code == 422, part.text
        (error,) = part.json()["errors"]
        assert error["field"] == "amount" and f"its payoff that day is {owed}" in error["message"], error
        assert "collection request, which needs approval" in error["message"]
        assert loans.get(tenant.brand_id, loan_id).version == version  # nothing recorded
        assert client.get(f"{url}/repayments", headers=tenant.auth).json()["items"] == []

        made = asha_client.post(f"{url}/full-repayment", json=body, headers=asha_headers)
        assert made.status_code == 201, made.text
        payment = made.json()
        assert payment["status"] == "completed" and payment["closes_loan"] and payment["kind"] == "repayment"
        assert payment["amount"] == owed and payment["reference"] == "FULL-RCPT-1" and payment["mode"] == "cash"
        assert made.headers["location"] == f"{url}/repayments/{payment['id']}"
        # The no-due certificate was issued at closure (before anyone downloads it), as an Ops repayment does.
        closed = loans.get(tenant.brand_id, loan_id)
        assert closed.status is LoanStatus.COMPLETED and closed.no_due is not None
        certificate = client.get(f"{url}/no-due-certificate", headers=tenant.auth)
        assert certificate.status_code == 200 and certificate.headers["content-type"].startswith("application/pdf")
        assert hashlib.sha256(certificate.content).hexdigest() == closed.no_due.sha256
        # The read model caught up before the answer; the repayment is listed and its actor is the executive.
        loan = client.get(url, headers=tenant.auth).json()
        assert loan["status"] == "completed" and Decimal(loan["outstanding"]["total"]) == 0
        assert [p["id"] for p in client.get(f"{url}/repayments", headers=tenant.auth).json()["items"]] == [
            payment["id"]
        ]
        recorded = [e for e in loan["history"] if e["kind"] == "repayment_recorded"]
        assert [e["actor"] for e in recorded] == [f"staff:{asha}"]
        again = asha_client.post(f"{url}/full-repayment", json=body | {"reference": "FULL-2"}, headers=asha_headers)
        assert again.status_code == 409, again.text  # completed: it owes nothing
    finally:
        ravi.close()
        asha_client.close()


def test_a_written_off_loan_and_a_used_reference_are_409(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    manager = _key(platform, tenant, "collection_manager")  # a manager works any loan of the brand
    loan_id = _overdue_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    owed = _owed(client, tenant, loan_id)
    asked = client.post(
        f"{url}/collection-requests", json={"amount": "10.00", "mode": "cash", "reference": "USED"}, headers=manager
    )
    assert asked.status_code == 201, asked.text
    used = client.post(f"{url}/full-repayment", json={"amount": owed, "mode": "cash", "reference": "USED"},
                       headers=manager)  # fmt: skip
    assert used.status_code == 409, used.text
    written = client.post(f"{url}/write-off", json={"reason": "absconded"}, headers=tenant.auth)
    assert written.status_code == 200, written.text
    version = platform.get(Loans).get(tenant.brand_id, loan_id).version
    refused = client.post(f"{url}/full-repayment", json={"amount": written.json()["total"], "mode": "cash",
                                                         "reference": "REC-1"}, headers=manager)  # fmt: skip
    assert refused.status_code == 409 and "collection request" in refused.text, refused.text
    assert platform.get(Loans).get(tenant.brand_id, loan_id).version == version


def test_the_portal_form_records_a_full_repayment(app: Any, client: Any, platform: Any) -> None:
    """The executive's money page shows what the loan owes today and the form; a wrong amount comes back on the page
    with the message and what was typed, nothing recorded; the amount owed closes the loan with its certificate."""
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    asha, email = executive(platform, tenant, "Asha")
    give_case(platform, tenant, loan_id, asha)
    owed = _owed(client, tenant, loan_id)
    browser, headers = signed_in(app, email)
    csrf = headers["X-CSRF-Token"]
    loans = platform.get(Loans)
    try:
        for page in (f"/loans/{loan_id}/recoveries", f"/loans/{loan_id}"):  # the money page and the loan page
            shown = browser.get(page)
            assert shown.status_code == 200 and "Record full repayment (closes the loan)" in shown.text, page
            owed_today = re.search(r'id="owed-today">([^<]+)<', shown.text)
            assert owed_today is not None and Decimal(re.sub(r"[^\d.]", "", owed_today.group(1))) == Decimal(owed)
        version = loans.get(tenant.brand_id, loan_id).version
        typed = {"csrf_token": csrf, "amount": "2500.00", "mode": "upi", "reference": "UPI-TYPED-7"}
        refused = browser.post(f"/loans/{loan_id}/full-repayment", data=typed)
        assert refused.status_code == 422, refused.text[:300]
        assert "collection request, which needs approval" in refused.text
        form = refused.text[refused.text.index('id="full-repayment-form"') :]
        form = form[: form.index("</form>")]
        assert 'value="UPI-TYPED-7"' in form and 'value="2500.00"' in form and "<option selected>upi" in form
        assert loans.get(tenant.brand_id, loan_id).version == version
        sent = browser.post(f"/loans/{loan_id}/full-repayment", data=typed | {"amount": owed})
        assert sent.status_code == 303 and sent.headers["location"] == f"/loans/{loan_id}/recoveries", sent.text
        closed = loans.get(tenant.brand_id, loan_id)
        assert closed.status is LoanStatus.COMPLETED and closed.no_due is not None
        assert [p.reference for p in closed.payments.values()] == ["UPI-TYPED-7"]
        after = browser.get(f"/loans/{loan_id}/recoveries").text
        assert 'id="loan-status">completed' in after and "Record full repayment" not in after
    finally:
        browser.close()
