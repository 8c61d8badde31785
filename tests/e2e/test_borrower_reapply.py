"""Starting again after a rejection, through the real server (docs/onboarding.md, "Starting again"): a borrower whose
application the BRE rejected is refused a new one before the brand's rejection cooldown is over (409 saying from
which day), and from that day - the brand's business date moved there - starts again on the web status page and
applies and submits through the API, the BRE's COOLDOWN passing; a staff rejection counts from the brand's business
date. A funnel the inactivity job closed follows the same cooldown from its close, its application in onboarding
cancelled with it (off the staff queues) and a new one made after the restart. And redoing the loan request before submitting leaves one application in onboarding."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.simulators.sms import SmsSimulator
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from domain.shared.clock import business_date
from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_borrower_decision import _onboarded
from tests.e2e.test_onboarding_api import PRODUCT, _pan
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name

#: A product the borrower of `_onboarded` (born 1994) fails: the BRE rejects the application at submission.
STRICT = {**PRODUCT, "code": "SENIOR", "name": "Senior loan", "bre_rules": [{"rule": "AGE", "min": "60", "max": "70"}]}


def _today() -> date:
    """The brand's today (its timezone), as the product dates what the borrower does: the server's UTC date is the
    day before from 18:30 UTC."""
    return business_date(datetime.now(UTC))


def _business_date(client: Any, tenant: Tenant, day: date) -> None:
    changed = client.patch("/api/v1/brand/config", json={"business_date": day.isoformat()}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text


def _status_page(client: Any, tenant: Tenant, token: str) -> str:
    client.cookies.set("cd_borrower", token, path=f"/apply/{tenant.slug}")
    try:
        page = client.get(f"/apply/{tenant.slug}/status")
    finally:
        client.cookies.clear()
    assert page.status_code == 200, page.text[:300]
    return str(page.text)


def _post_page(client: Any, tenant: Tenant, token: str, path: str, form: dict[str, str]) -> Any:
    client.cookies.set("cd_borrower", token, path=f"/apply/{tenant.slug}")
    try:
        return client.post(f"/apply/{tenant.slug}{path}", data=form, follow_redirects=False)
    finally:
        client.cookies.clear()


def test_a_rejected_borrower_is_refused_before_the_cooldown_and_applies_and_submits_again_after_it(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    session, auth, product = _onboarded(client, tenant, sms)
    strict = client.post("/api/v1/loan-products", json=STRICT, headers=tenant.auth)
    assert strict.status_code == 201, strict.text
    day = _today()
    _business_date(client, tenant, day)
    first = client.post(
        "/api/v1/borrower/applications",
        json={"product_id": strict.json()["id"], "amount": "50000", "tenure": 12},
        headers=auth,
    ).json()
    rejected = client.post(f"/api/v1/borrower/applications/{first['id']}/submit", headers=auth)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    again_on = (day + timedelta(days=15)).isoformat()  # the brand's rejection_cooldown_days: 15 by default

    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["may_apply_from"], me["can_apply_again"]) == ("completed", again_on, False)
    assert me["application"]["id"] == first["id"] and me["application"]["status"] == "rejected"
    page = _status_page(client, tenant, session["token"])
    assert f'data-from="{again_on}"' in page and "You may apply again from" in page
    assert 'id="reapply-form"' not in page

    request = {"product_id": product["id"], "amount": "40000", "tenure": 12}
    for moved_to in (day, day + timedelta(days=14)):  # the rejection day, and the cooldown's last day
        _business_date(client, tenant, moved_to)
        refused = client.post("/api/v1/borrower/applications", json=request, headers=auth)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["may_apply_from"] == again_on and again_on in refused.json()["detail"]
        assert client.post("/api/v1/borrower/reapply", headers=auth).status_code == 409
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    early = _post_page(client, tenant, session["token"], "/reapply", {"csrf_token": csrf.group(1)})
    assert early.status_code == 409 and "You may apply again from" in early.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["status"] == "completed"  # nothing changed

    _business_date(client, tenant, day + timedelta(days=15))
    page = _status_page(client, tenant, session["token"])
    assert 'data-open="true"' in page and 'id="reapply-form"' in page
    forged = _post_page(client, tenant, session["token"], "/reapply", {"csrf_token": "forged"})
    assert forged.status_code == 403
    assert client.get("/api/v1/borrower/me", headers=auth).json()["status"] == "completed"
    started = _post_page(client, tenant, session["token"], "/reapply", {"csrf_token": csrf.group(1)})
    assert started.status_code == 303 and started.headers["location"].endswith("/next"), started.text[:300]
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"], me["application"], me["may_apply_from"]) == (
        "in_progress", "loan_request", None, None,
    )  # fmt: skip
    done = {s["step"] for s in me["steps"] if s["done"]}
    assert {"mobile", "pan", "personal", "aadhaar", "bank_account", "bank_statement"} <= done
    assert not {"loan_request", "submitted"} & done

    second = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first["id"] and second.json()["loan_number"] != first["loan_number"]
    submitted = client.post(f"/api/v1/borrower/applications/{second.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    cooldown = next(r for r in submitted.json()["results"] if r["rule"] == "COOLDOWN")
    assert cooldown["outcome"] == "pass" and f"rejected on {day.isoformat()}" in cooldown["reason"]
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "completed" and me["application"]["id"] == second.json()["id"]
    assert me["may_apply_from"] is None  # an application is open: no new one until it is decided
    while_open = client.post("/api/v1/borrower/reapply", headers=auth)
    assert while_open.status_code == 409 and "being reviewed" in while_open.json()["detail"]
    old = client.get(f"/api/v1/loans/{first['id']}", headers=tenant.auth).json()
    assert old["status"] == "rejected"


def test_a_staff_rejection_counts_the_cooldown_from_the_brand_s_business_date(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    _, auth, product = _onboarded(client, tenant, sms)
    later = _today() + timedelta(days=3)  # the brand runs as of another day than the server's
    _business_date(client, tenant, later)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    first = client.post("/api/v1/borrower/applications", json=request, headers=auth).json()
    submitted = client.post(f"/api/v1/borrower/applications/{first['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    reject = {"reason_code": "LOW_SALARY", "remarks": "salary credits below the minimum"}
    rejected = client.post(f"/api/v1/loans/{first['id']}/reject", json=reject, headers=tenant.auth)
    assert rejected.status_code == 200, rejected.text
    settle(platform, "loans")  # read.loans.rejected_on: what the COOLDOWN and the re-apply rule read

    again_on = later + timedelta(days=15)  # not the server's day + 15
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["may_apply_from"], me["can_apply_again"]) == ("completed", again_on.isoformat(), False)
    _business_date(client, tenant, again_on - timedelta(days=1))
    assert client.post("/api/v1/borrower/reapply", headers=auth).status_code == 409
    _business_date(client, tenant, again_on)
    second = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert second.status_code == 201, second.text
    submitted = client.post(f"/api/v1/borrower/applications/{second.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    cooldown = next(r for r in submitted.json()["results"] if r["rule"] == "COOLDOWN")
    assert cooldown["outcome"] == "pass" and f"rejected on {later.isoformat()}" in cooldown["reason"]


def test_a_funnel_closed_by_the_inactivity_job_may_start_again_from_its_close_plus_the_cooldown(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    from workers.runtime import scheduler_for

    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    later = _today() + timedelta(days=3)
    config = {"auto_reject_inactive_users": True, "inactive_user_days": 1, "business_date": later.isoformat()}
    assert client.patch("/api/v1/brand/config", json=config, headers=tenant.auth).status_code == 200
    settle(platform, "onboarding")
    run = client.post("/api/v1/jobs/onboarding-inactive/runs", json={"as_of": later.isoformat()}, headers=tenant.auth)
    assert run.status_code == 202, run.text
    scheduler_for(platform).execute(run.json()["run_id"])
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    again_on = (later + timedelta(days=15)).isoformat()  # the close's business date + the cooldown
    assert (me["status"], me["may_apply_from"], me["can_apply_again"]) == ("rejected", again_on, False)
    refused = client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    assert refused.status_code == 409 and refused.json()["may_apply_from"] == again_on

    _business_date(client, tenant, later + timedelta(days=15))
    client.patch("/api/v1/brand/config", json={"auto_reject_inactive_users": False}, headers=tenant.auth)
    recorded = client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth)
    assert recorded.status_code == 200, recorded.text
    assert (recorded.json()["status"], recorded.json()["next_step"]) == ("in_progress", "personal")
    settle(platform, "onboarding")
    rows = client.get("/api/v1/onboarding", params={"state": "in_progress"}, headers=tenant.auth).json()["items"]
    assert [(r["id"], r["step"], r["reason"]) for r in rows] == [(session["borrower_id"], "personal", None)]


def test_the_inactivity_job_cancels_the_closed_onboarding_s_application_and_the_restart_makes_a_new_one(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    from workers.runtime import scheduler_for

    _, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    first = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert first.status_code == 201, first.text
    later = _today() + timedelta(days=3)
    config = {"auto_reject_inactive_users": True, "inactive_user_days": 1, "business_date": later.isoformat()}
    assert client.patch("/api/v1/brand/config", json=config, headers=tenant.auth).status_code == 200
    settle(platform, "onboarding")
    for _ in range(2):  # a second run finds nothing more to do
        run = client.post("/api/v1/jobs/onboarding-inactive/runs", json={"as_of": later.isoformat()},
                          headers=tenant.auth)  # fmt: skip
        assert run.status_code == 202, run.text
        scheduler_for(platform).execute(run.json()["run_id"])
    settle(platform, "loans")

    loan = client.get(f"/api/v1/loans/{first.json()['id']}", headers=tenant.auth).json()
    assert loan["status"] == "cancelled"
    cancels = [e for e in loan["history"] if e["kind"] == "cancelled"]
    assert [(e["actor"], e["reason"]) for e in cancels] == [
        ("job:onboarding-inactive", "the onboarding was closed: inactive for 1 day: closed automatically")
    ]
    queue = client.get("/api/v1/loans", params={"status": "onboarding"}, headers=tenant.auth).json()["items"]
    assert first.json()["id"] not in [q["id"] for q in queue]  # off the staff queue with the onboarding
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["may_apply_from"]) == ("rejected", (later + timedelta(days=15)).isoformat())

    config = {"auto_reject_inactive_users": False, "business_date": (later + timedelta(days=15)).isoformat()}
    assert client.patch("/api/v1/brand/config", json=config, headers=tenant.auth).status_code == 200
    started = client.post("/api/v1/borrower/reapply", headers=auth)
    assert started.status_code == 200, started.text
    assert (started.json()["status"], started.json()["next_step"]) == ("in_progress", "loan_request")
    second = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"] and second.json()["status"] == "onboarding"
    submitted = client.post(f"/api/v1/borrower/applications/{second.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    old = client.get(f"/api/v1/loans/{first.json()['id']}", headers=tenant.auth).json()
    assert old["status"] == "cancelled"


def test_redoing_the_loan_request_leaves_one_application_in_onboarding(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    _, auth, product = _onboarded(client, tenant, sms)
    first = client.post(
        "/api/v1/borrower/applications",
        json={"product_id": product["id"], "amount": "50000", "tenure": 12},
        headers=auth,
    )
    assert first.status_code == 201, first.text
    redone = client.post(
        "/api/v1/borrower/applications",
        json={"product_id": product["id"], "amount": "80000", "tenure": 18},
        headers=auth,
    )
    assert redone.status_code == 201, redone.text
    assert (redone.json()["id"], redone.json()["loan_number"]) == (first.json()["id"], first.json()["loan_number"])
    assert (redone.json()["amount"], redone.json()["tenure"]) == ("80000.00", 18)
    queue = client.get("/api/v1/loans", params={"status": "onboarding"}, headers=tenant.auth).json()["items"]
    assert [(q["id"], q["amount"]) for q in queue] == [(first.json()["id"], "80000.00")]
    staff = client.get(f"/api/v1/loans/{first.json()['id']}", headers=tenant.auth).json()
    assert staff["status"] == "onboarding" and staff["tenure"] == 18
    submitted = client.post(f"/api/v1/borrower/applications/{first.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    assert client.get("/api/v1/loans", params={"status": "onboarding"}, headers=tenant.auth).json()["items"] == []


def test_submitting_again_from_the_web_flow_after_it_went_through_shows_the_status_page_not_not_submitted(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    session, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "40000", "tenure": 12}
    application = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert application.status_code == 201, application.text
    page = _status_page(client, tenant, session["token"])
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None and 'action="/apply/' in page
    first = _post_page(client, tenant, session["token"], "/submit", {"csrf_token": csrf.group(1)})
    assert first.status_code == 303 and first.headers["location"].endswith("/status"), first.text[:300]
    url = f"/api/v1/loans/{application.json()['id']}"
    deadline = time.monotonic() + 15  # the staff read model follows the submission
    while (loan := client.get(url, headers=tenant.auth).json())["submitted_on"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loan["submitted_on"] is not None and loan["status"] != "onboarding", loan
    # A second tap, or the back button's resubmission, of a submit that went through: the phone lands on the
    # status page saying it is submitted (it said "Not submitted" with "Start again", a 409)
    again = _post_page(client, tenant, session["token"], "/submit", {"csrf_token": csrf.group(1)})
    assert again.status_code == 303 and again.headers["location"].endswith("/status"), again.text[:300]
    assert client.get(url, headers=tenant.auth).json() == loan  # unchanged
    assert "Application submitted" in _status_page(client, tenant, session["token"])
    # the API keeps its 409 for a client that submits twice
    twice = client.post(f"/api/v1/borrower/applications/{application.json()['id']}/submit", headers=auth)
    assert twice.status_code == 409 and twice.headers["content-type"].startswith("application/problem+json")


def _disbursed(client: Any, platform: Any, tenant: Tenant, loan_id: UUID) -> None:
    """The borrower's submitted application taken to disbursal by staff (each step's own tests cover it)."""
    loans = platform.get(Loans)
    now = datetime.now(UTC)
    loans.cx_approve(tenant.brand_id, loan_id, "45000", "salary supports it")
    loans.sanction(tenant.brand_id, loan_id, "45000", "within FOIR")
    loans.issue_agreement(tenant.brand_id, loan_id, "ab" * 32, "a.pdf", "es-r", "https://esign/r", now + timedelta(2))
    loans.sign(tenant.brand_id, loan_id, "prov-r", now)
    loans.ready_for_disbursal(tenant.brand_id, loan_id, "acct-r")
    loans.initiate_disbursal(tenant.brand_id, loan_id, "IMPS", f"gw-{loan_id}")
    settle(platform, Loans.name, loans.confirm_disbursal(tenant.brand_id, loan_id, f"gw-{loan_id}", _today()).position)


def _being_repaid(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> tuple[dict[str, Any], dict[str, str], dict[str, Any], UUID]:
    """A borrower onboarded through the API whose first application (50,000 for 12 months) was submitted and taken to
    disbursal: the session, its header, the product and the loan."""
    session, auth, product = _onboarded(client, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    loan_id = UUID(client.post("/api/v1/borrower/applications", json=request, headers=auth).json()["id"])
    assert client.post(f"/api/v1/borrower/applications/{loan_id}/submit", headers=auth).json()["status"] == "pending"
    _disbursed(client, platform, tenant, loan_id)
    return session, auth, product, loan_id


def _repaid_in_full(client: Any, tenant: Tenant, loan_id: UUID) -> None:
    """Staff record a payment of the loan's payoff, which closes it."""
    payoff = client.get(f"/api/v1/loans/{loan_id}/payoff", headers=tenant.auth).json()["total"]
    paid = client.post(
        f"/api/v1/loans/{loan_id}/repayments",
        json={"amount": payoff, "mode": "neft", "reference": f"UTR-{loan_id.hex[:8]}"},
        headers=tenant.auth,
    )
    assert paid.status_code == 201 and paid.json()["closes_loan"], paid.text


def test_a_borrower_who_repaid_applies_for_the_next_loan_on_a_brand_without_re_loan_offers(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """Spec "Step 7 Re-Loan": after repaying, a borrower can apply for another loan. The brand leaves
    `automated_reloan` off (the default), so no offer ever comes: the borrower was refused a new application (409
    "your next loan is a re-loan offer") and left with no way to apply. Now the status page says the loan is repaid
    and offers a new application at once, KYC on file, asking only for their bank data again (spec "Faster
    Processing"); a written-off borrower is still refused, saying why."""
    _business_date(client, tenant, _today())
    session, auth, product, loan_id = _being_repaid(client, platform, tenant, sms)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    assert client.post("/api/v1/borrower/reapply", headers=auth).status_code == 409  # being repaid
    _repaid_in_full(client, tenant, loan_id)
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]["automated_reloan"] is False

    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["application"]["status"], me["can_apply_again"]) == ("completed", True), me
    page = _status_page(client, tenant, session["token"])
    assert "Your loan is repaid: you may apply for a new one." in page and 'id="reapply-form"' in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    started = _post_page(client, tenant, session["token"], "/reapply", {"csrf_token": csrf.group(1)})
    assert started.status_code == 303 and started.headers["location"].endswith("/next"), started.text[:300]
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"]) == ("in_progress", "bank_statement")  # updated bank data first
    done = {s["step"] for s in me["steps"] if s["done"]}
    assert {"mobile", "pan", "personal", "aadhaar", "bank_account"} <= done  # the KYC is on file
    assert not {"bank_statement", "loan_request", "submitted"} & done
    statement = {"method": "account_aggregator", "consent_id": "AA-RELOAN"}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=statement, headers=auth).status_code == 200
    second = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert second.status_code == 201 and second.json()["id"] != str(loan_id), second.text
    submitted = client.post(f"/api/v1/borrower/applications/{second.json()['id']}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    assert client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["status"] == "completed"

    # A borrower whose loan was written off is told so, and nothing changes.
    other_session, other_auth, _ = _onboarded(client, tenant, sms)
    other = client.post("/api/v1/borrower/applications", json=request, headers=other_auth).json()
    other_id = UUID(other["id"])
    client.post(f"/api/v1/borrower/applications/{other_id}/submit", headers=other_auth)
    _disbursed(client, platform, tenant, other_id)
    written = client.post(f"/api/v1/loans/{other_id}/write-off", json={"reason": "unreachable"}, headers=tenant.auth)
    assert written.status_code in (200, 201), written.text
    refused = client.post("/api/v1/borrower/reapply", headers=other_auth)
    assert refused.status_code == 409 and "your last loan was written off" in refused.json()["detail"], refused.text
    assert client.get("/api/v1/borrower/me", headers=other_auth).json()["status"] == "completed"
    assert 'id="reapply-form"' not in _status_page(client, tenant, other_session["token"])


def _repaid_with_an_offer(client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[Any, Any, UUID]:
    """A borrower who repaid their loan, on a brand asking again for income and bank data older than 30 days
    (`reloan_refresh_days`), 31 days on with the offer made on the closed loan: the session, its header, the offer."""
    set_days = client.patch("/api/v1/brand/config", json={"reloan_refresh_days": 30}, headers=tenant.auth)
    assert set_days.status_code == 200, set_days.text
    # the brand's today, as the statement's day is read (its timezone): by the server's UTC date, a run between 18:30
    # and 24:00 UTC gave the statement on the next IST day, only 30 days before the offer
    today = _today()
    _business_date(client, tenant, today)
    session, auth, product, loan_id = _being_repaid(client, platform, tenant, sms)
    _repaid_in_full(client, tenant, loan_id)
    # 31 days on, the statement given at onboarding is older than the brand's 30: the offer made on closure asks
    _business_date(client, tenant, today + timedelta(days=31))
    closed = platform.get(Loans).get(tenant.brand_id, loan_id)
    made = platform.get(ReloanOffers).offer(
        tenant.brand_id, loan_id, closed.loan_number, closed.customer_id, UUID(product["id"]), 12,
        Decimal("45000"), "percent", Decimal("10"), Decimal(product["max_amount"]),
    )  # fmt: skip
    assert made is not None
    settle(platform, ReloanOffers.name, made.position)
    return session, auth, UUID(str(made.id))


def test_a_re_loan_offer_asks_for_income_and_bank_data_older_than_the_brand_s_days_before_its_submission(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """Issue #15: "accepting starts an application that reuses KYC and asks only for updated income and bank data".
    A brand that sets `reloan_refresh_days` (here 30) has a borrower whose bank statement on file is older than that
    give it again before the offer's application goes to the BRE: accepting (the borrower API) opens the bank
    statement step, the application waits in onboarding, and the funnel's submit sends it to the CX's queue. The
    KYC stays on file. Unset (the default) the application is submitted at once, as before (test_borrower_reloans)."""
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]["reloan_refresh_days"] is None
    for bad in (-1, 4000, "soon"):
        refused = client.patch("/api/v1/brand/config", json={"reloan_refresh_days": bad}, headers=tenant.auth)
        assert refused.status_code == 422 and "reloan_refresh_days" in refused.text, refused.text
    session, auth, offer_id = _repaid_with_an_offer(client, platform, tenant, sms)
    listed = client.get("/api/v1/borrower/reloan-offers", headers=auth).json()["items"]
    assert [(o["id"], o["status"], o["asks_for_updates"]) for o in listed] == [(str(offer_id), "pending", True)]
    accepted = client.post(f"/api/v1/borrower/reloan-offers/{offer_id}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.text
    offer = accepted.json()
    application = offer["application_id"]
    assert (offer["status"], offer["application_status"]) == ("approved", "onboarding") and application, offer
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert (me["status"], me["next_step"]) == ("in_progress", "bank_statement"), me
    assert me["application"]["id"] == application and me["application"]["status"] == "onboarding", me["application"]
    done = {s["step"] for s in me["steps"] if s["done"]}
    assert {"mobile", "pan", "personal", "aadhaar", "bank_account", "loan_request"} <= done  # KYC and the offer's
    assert not {"bank_statement", "submitted"} & done
    staff_view = client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()
    assert (staff_view["status"], staff_view["amount"]) == ("onboarding", "49500.00"), staff_view  # not yet reviewed
    page = _status_page(client, tenant, session["token"])
    assert "give us your latest income and bank statement, then submit it." in page, page
    # not submitted before the statement: the funnel refuses, naming the step
    early = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert early.status_code == 409 and "bank_statement" in early.text, early.text

    statement = {"method": "account_aggregator", "consent_id": "AA-OFFER"}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=statement, headers=auth).status_code == 200
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "submitted"
    submitted = client.post(f"/api/v1/borrower/applications/{application}/submit", headers=auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "pending"
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["status"] == "completed" and me["application"]["id"] == application, me


def test_accepting_a_re_loan_offer_in_the_browser_lands_on_the_bank_statement_step(
    server: str, browser: Any, client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    """The web flow in Chromium: the status page's Accept on an offer whose brand asks again for bank data older than
    its days lands on the bank statement step; back on the status page, the accepted offer's application says what
    is left to do, and the Continue button leads to that step."""
    session, _, offer_id = _repaid_with_an_offer(client, platform, tenant, sms)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_cookies([{"name": "cd_borrower", "value": session["token"], "url": f"{server}/apply/{tenant.slug}"}])
    page = context.new_page()
    page.goto(f"{server}/apply/{tenant.slug}/status")
    offered = page.locator("#reloan-offers").inner_text()
    assert "when you accept, give us your latest income and bank statement" in offered, offered
    page.locator(f'form[action$="/reloan-offers/{offer_id}/accept"] button').click()
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/bank_statement")
    page.screenshot(path=str(ARTIFACTS / "reloan_offer_bank_statement.png"), full_page=True)
    assert page.locator("#step-form").count() == 1
    page.goto(f"{server}/apply/{tenant.slug}/status")
    said = page.locator(f"#reloan-application-{offer_id}").inner_text()
    assert "give us your latest income and bank statement, then submit it." in said, said
    page.click("#continue")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/bank_statement")
    context.close()
