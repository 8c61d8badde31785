"""A re-loan application sent back to the borrower, through the real server: accepting a re-loan offer starts an
application that no step of the borrower's funnel made (their KYC is on file; by default it goes to credit review at
once), so a CX's send back found no funnel of that application to reopen (logged `loans.funnel_not_reopened`) and
the application waited in onboarding for a borrower whose `me` and status page offered nothing to do. Now the send
back opens their finished funnel for that application, as a brand asking again for bank data does on accepting: they
see what staff asked for, redo the step, and submit the same application again, which returns to the CX's queue."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.simulators.sms import SmsSimulator
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.shared.clock import business_date
from tests.conftest import Tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_reapply import _being_repaid, _business_date, _repaid_in_full, _status_page
from tests.support import settle

__all__ = ["sms"]  # the fixture, used by name

KYC_STEPS = {"mobile", "pan", "personal", "aadhaar", "bank_account", "bank_statement"}


def _accepted_reloan(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> tuple[dict[str, Any], dict[str, str], UUID, dict[str, Any]]:
    """A borrower who repaid their loan and accepted the offer made on it, on a brand that does not ask again for
    bank data (`reloan_refresh_days` unset, the default): the application went to the CX's queue at once. The
    session, its header, the repaid loan and the accepted offer's answer."""
    _business_date(client, tenant, business_date(datetime.now(UTC)))
    session, auth, product, loan_id = _being_repaid(client, platform, tenant, sms)
    _repaid_in_full(client, tenant, loan_id)
    closed = platform.get(Loans).get(tenant.brand_id, loan_id)
    made = platform.get(ReloanOffers).offer(
        tenant.brand_id, loan_id, closed.loan_number, closed.customer_id, UUID(product["id"]), 12,
        Decimal("45000"), "percent", Decimal("10"), Decimal(product["max_amount"]),
    )  # fmt: skip
    assert made is not None
    settle(platform, ReloanOffers.name, made.position)
    accepted = client.post(f"/api/v1/borrower/reloan-offers/{made.id}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.text
    offer = accepted.json()
    assert (offer["status"], offer["application_status"]) == ("approved", "pending"), offer  # submitted at once
    return session, auth, loan_id, offer


def _applications(client: Any, tenant: Tenant, customer_id: str) -> list[str]:
    listed = client.get("/api/v1/loans", params={"limit": 200}, headers=tenant.auth).json()["items"]
    return sorted(str(i["id"]) for i in listed if str(i.get("customer_id")) == customer_id)


def test_a_re_loan_sent_back_to_the_borrower_reopens_their_funnel_and_they_submit_the_same_application_again(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    session, auth, repaid, offer = _accepted_reloan(client, platform, tenant, sms)
    application = offer["application_id"]
    url = f"/api/v1/loans/{application}"
    customer = client.get(url, headers=tenant.auth).json()["customer_id"]
    before = _applications(client, tenant, customer)
    assert application in before

    why = "upload your last three payslips"
    back = client.post(f"{url}/send-back", json={"to": "borrower", "reason": why}, headers=tenant.auth)
    assert back.status_code == 200, back.text
    assert client.get(url, headers=tenant.auth).json()["status"] == "onboarding"

    # The borrower sees what staff asked for, on the application the offer started (not the repaid loan).
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"]) == ("in_progress", "submitted"), me
    submitted_step = next(s for s in me["steps"] if s["step"] == "submitted")
    assert submitted_step["done"] is False and submitted_step["sent_back"] == why
    assert me["application"] == {
        "id": application, "loan_number": offer["application_number"], "status": "onboarding", "reason": why,
    }  # fmt: skip
    done = {s["step"] for s in me["steps"] if s["done"]}
    assert KYC_STEPS | {"loan_request"} <= done  # the KYC on file, the offer's application its loan request
    page = _status_page(client, tenant, session["token"])
    assert 'id="submit-form"' in page and offer["application_number"] in page, page
    said = re.search(rf'id="reloan-application-{offer["id"]}">(.*?)</p>', page, re.S)
    assert said is not None and why in said.group(1), page

    # The offer's terms stay the offer's: the borrower submits that application again, not a new one.
    resubmitted = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "pending", resubmitted.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "completed" and me["application"]["id"] == application, me
    staff = client.get(url, headers=tenant.auth).json()
    assert staff["status"] == "pending", staff  # back on the CX's queue
    settle(platform, Loans.name)
    assert _applications(client, tenant, customer) == before  # no other application started
    assert client.get(f"/api/v1/loans/{repaid}", headers=tenant.auth).json()["status"] == "completed"


def test_a_re_loan_sent_back_at_a_named_step_asks_the_borrower_for_that_step_before_the_submission(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    _, auth, _, offer = _accepted_reloan(client, platform, tenant, sms)
    application = offer["application_id"]
    url = f"/api/v1/loans/{application}"
    why = "the statement is of another account"
    back = client.post(f"{url}/send-back", json={"to": "borrower", "reason": why, "step": "bank_statement"},
                       headers=tenant.auth)  # fmt: skip
    assert back.status_code == 200, back.text

    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"]) == ("in_progress", "bank_statement"), me
    redo = next(s for s in me["steps"] if s["step"] == "bank_statement")
    assert redo["done"] is False and redo["sent_back"] == why
    assert me["application"]["id"] == application and me["application"]["reason"] == why
    early = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert early.status_code == 409 and "bank_statement" in early.text, early.text

    statement = {"method": "account_aggregator", "consent_id": "AA-SENT-BACK"}
    again = client.put("/api/v1/borrower/steps/bank_statement", json=statement, headers=auth)
    assert again.status_code == 200, again.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "submitted"
    resubmitted = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "pending", resubmitted.text
    assert client.get(url, headers=tenant.auth).json()["status"] == "pending"


def test_a_re_loan_sent_back_at_its_loan_request_asks_for_the_submission_the_offer_s_terms_kept(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """The loan request of an accepted offer is the offer's (the borrower cannot redo it: "its amount and tenure are
    the offer's"), so a send back naming it reopens the submitted step, with the reason, rather than a step the
    borrower could never finish."""
    _, auth, _, offer = _accepted_reloan(client, platform, tenant, sms)
    application = offer["application_id"]
    url = f"/api/v1/loans/{application}"
    why = "we can lend you less: please confirm"
    back = client.post(f"{url}/send-back", json={"to": "borrower", "reason": why, "step": "loan_request"},
                       headers=tenant.auth)  # fmt: skip
    assert back.status_code == 200, back.text
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"]) == ("in_progress", "submitted"), me
    assert next(s for s in me["steps"] if s["step"] == "submitted")["sent_back"] == why
    assert next(s for s in me["steps"] if s["step"] == "loan_request")["done"] is True
    resubmitted = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert resubmitted.status_code == 200 and resubmitted.json()["status"] == "pending", resubmitted.text
    staff = client.get(url, headers=tenant.auth).json()
    assert (staff["status"], staff["amount"]) == ("pending", "49500.00"), staff  # the offer's 45,000 + 10 %
