"""The no-due certificate of a loan whose closing payment bounced, through the API, the staff portal and the
borrower's pages on PostgreSQL (LENDING.md, "Payments": the completed loan's certificate is generated once and can
be downloaded and shared). The reversal that re-opens the loan withdraws its certificate: the staff download and
the borrower's share link answer 410 problem+json naming the withdrawn certificate (never its PDF), the portal's
download a 410 page, the pay page offers none and says why; once the loan is paid off again the new closure is
issued a certificate of its own (date, amount repaid, code) that every link serves. The read model the borrower's
"paid" message is sent from says the same after a rebuild from the events as live."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pypdf import PdfReader

from api.services.no_due_links import NoDueLinks
from api.services.pay_links import PayLinks
from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_collections import signed_in
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import document_amounts_as_digits, settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

D0 = date(2026, 1, 31)
CLOSED = date(2026, 2, 10)
BOUNCED = date(2026, 2, 12)
CLOSED_AGAIN = date(2026, 3, 5)


def _pay(client: Any, tenant: Tenant, loan_id: UUID, amount: str, reference: str, mode: str = "neft") -> Any:
    body = {"amount": amount, "mode": mode, "reference": reference}
    return client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)


def _payoff(client: Any, tenant: Tenant, loan_id: UUID) -> str:
    return str(client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"])


def _pdf_text(pdf: bytes) -> str:
    return document_amounts_as_digits("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages))


def _engagement_row(platform: Any, loan_id: UUID) -> dict[str, Any]:
    with platform.db.pool.connection() as conn:
        row = conn.execute(
            "SELECT status, closed_on, repaid, ndc_code, reopened FROM read.engagement_loans WHERE loan_id = %s",
            (loan_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def test_a_bounced_closing_payment_withdraws_the_certificate_and_the_next_closure_is_issued_a_new_one(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loans: Loans = platform.get(Loans)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    now = datetime.now(UTC)
    shared = f"/api/v1/no-due-certificates/{NoDueLinks().token(tenant.brand_id, loan_id, now)}"
    pay_page = f"/pay/{PayLinks().token(tenant.brand_id, loan_id, now)}"

    # Paid off by cheque on 10 Feb: completed, its certificate issued with the closing payment.
    set_business_date(platform, tenant, CLOSED)
    first_payoff = _payoff(client, tenant, loan_id)
    cheque = _pay(client, tenant, loan_id, first_payoff, "CHQ-1", "cheque")
    assert cheque.status_code == 201 and cheque.json()["status"] == "completed", cheque.text
    first = client.get(f"{url}/no-due-certificate", headers=tenant.auth)
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/pdf")
    first_code = first.headers["x-verification-code"]
    assert client.get(shared).content == first.content
    assert 'id="certificate"' in client.get(pay_page).text

    # The cheque bounces on 12 Feb: the loan owes again and has no certificate.
    set_business_date(platform, tenant, BOUNCED)
    bounced = client.post(f"{url}/repayments/{cheque.json()['id']}/reverse", json={"reason": "cheque bounced"},
                          headers=tenant.auth)  # fmt: skip
    assert bounced.status_code == 200 and bounced.json()["status"] == "active", bounced.text
    assert loans.get(tenant.brand_id, loan_id).no_due is None
    staff_answer, borrower_answer = client.get(f"{url}/no-due-certificate", headers=tenant.auth), client.get(shared)
    for answer in (staff_answer, borrower_answer):
        assert answer.status_code == 410, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["type"].endswith("/gone") and problem["title"] == "Gone" and problem["status"] == 410
        assert (problem["verification_code"], problem["closed_on"], problem["withdrawn_on"]) == (
            first_code,
            str(CLOSED),
            str(BOUNCED),
        )
        assert f"{first_code} of the " in problem["detail"] and f"was withdrawn on {BOUNCED}" in problem["detail"]
    staff_problem = staff_answer.json()
    assert staff_problem["payment_id"] == cheque.json()["id"] and staff_problem["current_status"] == "active"
    assert "cheque bounced" in staff_problem["detail"]
    # The borrower's link (no login) says which certificate and when, not the staff's reason nor the payment's id.
    assert "payment_id" not in borrower_answer.json() and "cheque bounced" not in borrower_answer.text
    assert "a new certificate is issued once it is paid off" in borrower_answer.json()["detail"]
    page = client.get(pay_page)
    assert page.status_code == 200 and 'id="certificate"' not in page.text and 'id="pay-form"' in page.text
    assert 'id="certificate-withdrawn"' in page.text and first_code in page.text
    history = client.get(url, headers=tenant.auth).json()["history"]
    reversal = next(e for e in history if e["kind"] == "repayment_reversed")
    assert reversal["details"]["no_due_withdrawn"] == first_code
    settle(platform, Loans.name)
    row = _engagement_row(platform, loan_id)
    assert (row["status"], row["closed_on"], row["ndc_code"], row["reopened"]) == ("active", None, None, 1)
    settle(platform, "identity")  # the staff member, to sign in
    browser, _ = signed_in(app, email)
    try:
        portal = browser.get(f"/loans/{loan_id}/no-due-certificate.pdf")
        assert portal.status_code == 410 and portal.headers["content-type"].startswith("text/html"), portal.text[:300]
        assert "withdrawn" in portal.text and first_code in portal.text
        card = browser.get(f"/loans/{loan_id}").text
        assert 'id="ndc-withdrawn"' in card and 'id="ndc-download"' not in card and first_code in card
    finally:
        browser.close()

    # Overdue on 5 Mar, the new payoff paid: completed again, a new certificate for the new closure.
    set_business_date(platform, tenant, CLOSED_AGAIN)
    second_payoff = _payoff(client, tenant, loan_id)
    assert Decimal(second_payoff) > Decimal(first_payoff)
    closing = _pay(client, tenant, loan_id, second_payoff, "UTR-2")
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    recorded = loans.get(tenant.brand_id, loan_id).no_due
    assert recorded is not None  # issued with the closing payment, as the first one was
    second = client.get(f"{url}/no-due-certificate", headers=tenant.auth)
    assert second.status_code == 200, second.text
    assert second.headers["x-verification-code"] == recorded.verification_code != first_code
    assert second.headers["x-content-sha256"] == recorded.sha256 == hashlib.sha256(second.content).hexdigest()
    assert (recorded.closed_on, recorded.repaid) == (CLOSED_AGAIN, Decimal(second_payoff))
    text = _pdf_text(second.content)
    assert second_payoff in text and recorded.verification_code in text and first_code not in text
    assert first_payoff not in text  # the bounced cheque is not what was repaid
    assert client.get(shared).content == second.content  # the borrower's link: the loan's certificate now
    again = client.get(pay_page).text
    assert 'id="certificate"' in again and 'id="certificate-withdrawn"' not in again
    assert client.get(f"{url}/no-due-certificate", headers=tenant.auth).content == second.content  # generated once
    assert loans.get(tenant.brand_id, loan_id).no_due == recorded

    # The borrower-notification read model, live and rebuilt from the events: the new closure and its code.
    settle(platform, Loans.name)
    live = _engagement_row(platform, loan_id)
    assert (live["status"], live["closed_on"], live["ndc_code"], live["reopened"]) == (
        "completed",
        CLOSED_AGAIN,
        recorded.verification_code,
        1,
    )
    platform.engine.rebuild("engagement_dues")
    assert _engagement_row(platform, loan_id) == live
