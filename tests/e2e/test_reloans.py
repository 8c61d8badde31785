"""Re-loans on PostgreSQL (issue #15 item 5): the `reloan-offers` job offers each closed loan's borrower a re-loan
raised by the brand's hike, once, only when the brand automates re-loans; the list by status; accepting starts an
application for the offered amount on the same product; a second accept is 409 and records nothing; another
brand's offer is a 404; the portal list."""

from __future__ import annotations

import re
import threading
from typing import Any

import psycopg

from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.reloans.application import ReloanOffers
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_loan360 import _admin_browser, _close
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]


def _job(client: Any, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = client.post("/api/v1/jobs/reloan-offers/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, ReloanOffers.name)
    settle(platform, "jobs")  # the run history: the scheduler itself waits for it no more than 2 s
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _offers(client: Any, tenant: Tenant, status: str | None = None) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    answer = client.get("/api/v1/reloan-offers", params=params, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_closed_loan_gets_one_offer_with_the_hike_and_accepting_starts_an_application(
    client: Any, app: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    still_open = disbursed_loan(platform, tenant)
    _close(client, platform, tenant, loan_id)

    # re-loans not automated: the job offers nothing
    assert _job(client, platform, tenant)["status"] == "succeeded"
    assert _offers(client, tenant) == []

    result, _ = platform.get(Identity).change_configuration(
        tenant.brand_id, {"automated_reloan": True, "reloan_hike": {"kind": "percent", "value": "10"}}
    )
    settle(platform, "identity", result.position)
    assert _job(client, platform, tenant)["status"] == "succeeded"
    assert _job(client, platform, tenant)["status"] == "succeeded"  # a rerun makes no second offer
    offers = _offers(client, tenant, "pending")
    assert len(offers) == 1 and _offers(client, tenant, "approved") == []
    offer = offers[0]
    assert offer["loan_id"] == str(loan_id) and offer["loan_id"] != str(still_open)
    assert (offer["previous_amount"], offer["amount"], offer["hike"]) == ("85000.00", "93500.00", "percent 10")

    url = f"/api/v1/reloan-offers/{offer['id']}"
    other = make_tenant(platform)
    assert client.get(url, headers=other.auth).status_code == 404
    assert client.post(f"{url}/accept", headers=other.auth).status_code == 404

    accepted = client.post(f"{url}/accept", headers=tenant.auth)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "approved" and body["application_id"]
    application = client.get(f"/api/v1/loans/{body['application_id']}", headers=tenant.auth).json()
    closed = platform.get(Loans).get(tenant.brand_id, loan_id)
    assert application["status"] == "onboarding" and application["amount"] == "93500.00"
    assert application["customer_id"] == str(closed.customer_id) and application["tenure"] == closed.tenure
    loans_before = len(client.get("/api/v1/loans", params={"limit": 200}, headers=tenant.auth).json()["items"])
    again = client.post(f"{url}/accept", headers=tenant.auth)
    assert again.status_code == 409, again.text
    assert client.post(f"{url}/cancel", json={"reason": "too late"}, headers=tenant.auth).status_code == 409
    assert len(client.get("/api/v1/loans", params={"limit": 200}, headers=tenant.auth).json()["items"]) == loans_before
    assert client.get("/api/v1/reloan-offers", params={"status": "won"}, headers=tenant.auth).status_code == 422

    browser = _admin_browser(client, app, tenant)
    try:
        page = browser.get("/reloan-offers?status=approved").text
        assert f'data-offer="{offer["id"]}"' in page and f'href="/loans/{body["application_id"]}"' in page
        assert re.search(r"₹93,500\.00", page)
        assert "No pending re-loan offers." in browser.get("/reloan-offers").text
    finally:
        browser.__exit__(None, None, None)


def test_an_offer_raised_past_the_products_largest_amount_stops_there_and_can_be_accepted(
    client: Any, platform: Any
) -> None:
    """A hike that would offer more than the product lends today is offered at the product's largest amount (an
    offer above it could never be accepted: the application would be a 422), and accepting it starts that loan."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    _close(client, platform, tenant, loan_id)
    result, _ = platform.get(Identity).change_configuration(
        tenant.brand_id, {"automated_reloan": True, "reloan_hike": {"kind": "fixed", "value": "500000"}}
    )
    settle(platform, "identity", result.position)
    assert _job(client, platform, tenant)["status"] == "succeeded"
    [offer] = _offers(client, tenant, "pending")
    largest = platform.get(Loans).catalogue.current(tenant.brand_id, platform.get(Loans).get(tenant.brand_id, loan_id)
                                                    .product_id).max_amount  # fmt: skip
    assert (offer["previous_amount"], offer["amount"]) == ("85000.00", f"{largest:.2f}"), offer
    accepted = client.post(f"/api/v1/reloan-offers/{offer['id']}/accept", headers=tenant.auth)
    assert accepted.status_code == 200 and accepted.json()["status"] == "approved", accepted.text
    application = client.get(f"/api/v1/loans/{accepted.json()['application_id']}", headers=tenant.auth).json()
    assert application["amount"] == f"{largest:.2f}"


def test_an_accepts_answer_waits_for_the_loans_read_model_so_its_application_reads_at_once(
    client: Any, platform: Any, dsn: str
) -> None:
    """Read-your-writes across contexts: the accept's answer names the application it started, so it comes once the
    loans read model has it too - a client reading `GET /loans/{application_id}` at once finds it. It waited for
    the offers' read model only: with the loans projection a moment behind, that read was a 404."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    _close(client, platform, tenant, loan_id)
    result, _ = platform.get(Identity).change_configuration(
        tenant.brand_id, {"automated_reloan": True, "reloan_hike": {"kind": "percent", "value": "10"}}
    )
    settle(platform, "identity", result.position)
    assert _job(client, platform, tenant)["status"] == "succeeded"
    [offer] = _offers(client, tenant, "pending")
    settle(platform, Loans.name)

    # The loans projection is held a moment (as a loaded machine holds it): reads go on, its writes wait.
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE read.loans IN EXCLUSIVE MODE")
        release = threading.Timer(1.0, holder.rollback)
        release.start()
        try:
            accepted = client.post(f"/api/v1/reloan-offers/{offer['id']}/accept", headers=tenant.auth)
            assert accepted.status_code == 200 and accepted.json()["status"] == "approved", accepted.text
            application = client.get(f"/api/v1/loans/{accepted.json()['application_id']}", headers=tenant.auth)
        finally:
            release.join()
    assert application.status_code == 200, application.text  # a 404 when the answer did not wait for it
    assert application.json()["amount"] == "93500.00" and application.json()["status"] == "onboarding"


def test_closed_loans_that_earn_no_offer_do_not_hold_back_the_next_closures(
    client: Any, platform: Any, monkeypatch: Any
) -> None:
    """The job takes one batch a run, the oldest closed loans without an offer first. An ineligible loan never gets
    an offer, so once a batch's worth of them had piled up every run took the same ones and no closure got an offer
    again. Now a loan the job made no offer for waits a day before it is looked at again, behind the next ones."""
    from api.services.reloans import ReloanDesk

    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    result, _ = platform.get(Identity).change_configuration(
        tenant.brand_id, {"automated_reloan": True, "reloan_hike": {"kind": "percent", "value": "10"}}
    )
    settle(platform, "identity", result.position)
    assert client.patch("/api/v1/jobs/reloan-offers", json={"batch_size": 1}, headers=tenant.auth).status_code == 200
    ineligible = disbursed_loan(platform, tenant)
    _close(client, platform, tenant, ineligible)  # closed first: the oldest without an offer
    eligible = disbursed_loan(platform, tenant)
    _close(client, platform, tenant, eligible)
    why = ReloanDesk.ineligible  # the first one's borrower was NPA once (the close of business says so)
    monkeypatch.setattr(
        ReloanDesk,
        "ineligible",
        lambda desk, b, loan: "the loan was NPA" if loan.id == ineligible else why(desk, b, loan),
    )

    assert _job(client, platform, tenant)["status"] == "succeeded"
    assert _offers(client, tenant) == []  # the batch of one: the ineligible loan
    assert _job(client, platform, tenant)["status"] == "succeeded"
    assert [o["loan_id"] for o in _offers(client, tenant, "pending")] == [str(eligible)]
