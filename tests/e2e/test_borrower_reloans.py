"""The borrower sees and answers their re-loan offer (spec "Step 7 Re-Loan"), on the borrower API and the web flow's
status page: only their own offers in their brand, pending first, with what the loan costs as staff's product quote
computes it; accepting starts the application staff's accept would (offered amount, tenure, product), once, however
many taps; declining rejects it; another borrower's or brand's offer is a 404, a decided one a 409."""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from threading import Barrier
from typing import Any
from uuid import UUID

from adapters.simulators.sms import SmsSimulator
from api.services.borrower_reloans import BorrowerReloans
from domain.loans.application import Loans
from domain.onboarding.application import Onboarding
from domain.reloans.application import ReloanOffers, application_id
from domain.shared.aggregate import acting_as
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import PERSONAL, PRODUCT, _pan
from tests.support import mobile, settle
from workers.runtime import scheduler_for

__all__ = ["sms"]  # the fixture, used by name


def _product(client: Any, tenant: Tenant) -> dict[str, Any]:
    made = client.post("/api/v1/loan-products", json=PRODUCT, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _borrower(client: Any, platform: Any, sms: SmsSimulator, tenant: Tenant) -> tuple[dict[str, Any], UUID]:
    """A borrower signed in with the PAN and personal steps done (their Customer 360 record made): the session
    and the record's id."""
    client.patch("/api/v1/brand/config", json={"require_employment_data": False}, headers=tenant.auth)
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    for step, body in (("pan", {"pan": _pan()}), ("personal", PERSONAL)):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth).status_code == 200, step
    customer = platform.get(Onboarding).funnel(tenant.brand_id, UUID(session["borrower_id"])).customer_id
    assert customer is not None
    return session, customer


def _offer(platform: Any, tenant: Tenant, customer: UUID, product: dict[str, Any], previous: str = "50000") -> UUID:
    """An offer as the `reloan-offers` job makes it on a closed loan (10 % more, at most the product's largest)."""
    made = platform.get(ReloanOffers).offer(
        tenant.brand_id, uuid.uuid4(), f"{tenant.slug.upper()}-L-{uuid.uuid4().hex[:6]}", customer,
        UUID(product["id"]), 12, Decimal(previous), "percent", Decimal("10"), Decimal(product["max_amount"]),
    )  # fmt: skip
    assert made is not None
    settle(platform, ReloanOffers.name, made.position)
    return UUID(str(made.id))


def _mine(client: Any, auth: dict[str, str]) -> list[dict[str, Any]]:
    answer = client.get("/api/v1/borrower/reloan-offers", headers=auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_borrower_lists_only_their_own_offers_and_accepting_starts_the_application(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    product = _product(client, tenant)
    session, customer = _borrower(client, platform, sms, tenant)
    auth = bearer(session)
    stranger, stranger_customer = _borrower(client, platform, sms, tenant)
    assert _mine(client, auth) == []

    declined = _offer(platform, tenant, customer, product, "40000")
    offered = _offer(platform, tenant, customer, product)
    theirs = _offer(platform, tenant, stranger_customer, product)
    other = make_tenant(platform)
    elsewhere = _offer(platform, other, uuid.uuid4(), _product(client, other))

    # declining one first: the pending one is listed before it
    no_thanks = client.post(f"/api/v1/borrower/reloan-offers/{declined}/decline", json={}, headers=auth)
    assert no_thanks.status_code == 200, no_thanks.text
    assert no_thanks.json()["status"] == "rejected" and no_thanks.json()["reason"] == "declined by the borrower"
    listed = _mine(client, auth)
    assert [o["id"] for o in listed] == [str(offered), str(declined)]  # theirs and another brand's are not here
    offer = listed[0]
    assert (offer["status"], offer["amount"], offer["tenure"], offer["previous_amount"]) == (
        "pending", "55000.00", 12, "50000.00"
    )  # fmt: skip
    assert offer["product_name"] == "Personal loan" and offer["product_id"] == product["id"]
    assert offer["asks_for_updates"] is False  # the brand leaves reloan_refresh_days unset: submitted at once
    # what it costs: the product's quote, as staff see it for the same amount and tenure
    staff_quote = client.get(f"/api/v1/loan-products/{product['id']}/quote", params={"amount": "55000", "tenure": 12},
                             headers=tenant.auth).json()  # fmt: skip
    assert offer["quote"] is not None and offer["quote"]["emi"] == staff_quote["emi"]
    assert offer["quote"] == staff_quote
    assert listed[1]["quote"] is None  # decided: nothing to price

    # another borrower's offer and another brand's: 404, and nothing changes
    for url in (f"/api/v1/borrower/reloan-offers/{theirs}", f"/api/v1/borrower/reloan-offers/{elsewhere}"):
        assert client.post(f"{url}/accept", headers=auth).status_code == 404
        assert client.post(f"{url}/decline", json={}, headers=auth).status_code == 404
    assert client.get(f"/api/v1/reloan-offers/{theirs}", headers=tenant.auth).json()["status"] == "pending"
    assert client.get(f"/api/v1/reloan-offers/{elsewhere}", headers=other.auth).json()["status"] == "pending"
    assert client.post(f"/api/v1/borrower/reloan-offers/{offered}/accept", headers=tenant.auth).status_code == 401

    accepted = client.post(f"/api/v1/borrower/reloan-offers/{offered}/accept", headers=auth)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "approved" and body["application_id"]
    # the answer waits for the application's submission too (the loans read model), not the offer's write alone
    assert body["application_status"] == "pending" and body["application_number"]
    application = client.get(f"/api/v1/borrower/applications/{body['application_id']}", headers=auth)
    assert application.status_code == 200, application.text
    assert (application.json()["amount"], application.json()["tenure"], application.json()["product_id"]) == (
        "55000.00", 12, product["id"]
    )  # fmt: skip
    staff_view = client.get(f"/api/v1/loans/{body['application_id']}", headers=tenant.auth).json()
    assert staff_view["customer_id"] == str(customer) and staff_view["status"] == "pending"  # submitted at once
    assert staff_view["channel"] == "borrower"
    # who acted is on the offer: the borrower, not staff
    staff_offer = client.get(f"/api/v1/reloan-offers/{offered}", headers=tenant.auth).json()
    assert staff_offer["changed_by"] == f"borrower:{session['borrower_id']}"
    # the other borrower cannot read the application it started
    assert client.get(f"/api/v1/borrower/applications/{body['application_id']}",
                      headers=bearer(stranger)).status_code == 404  # fmt: skip

    # decided: 409, and no second application
    loans_before = client.get("/api/v1/loans", params={"limit": 200}, headers=tenant.auth).json()["items"]
    for again in (
        client.post(f"/api/v1/borrower/reloan-offers/{offered}/accept", headers=auth),
        client.post(
            f"/api/v1/borrower/reloan-offers/{offered}/decline", json={"reason": "changed my mind"}, headers=auth
        ),
        client.post(f"/api/v1/borrower/reloan-offers/{declined}/accept", headers=auth),
    ):
        assert again.status_code == 409, again.text
    assert client.get("/api/v1/loans", params={"limit": 200}, headers=tenant.auth).json()["items"] == loans_before
    after = _mine(client, auth)[0]
    assert after["status"] == "approved" and after["application_id"] == body["application_id"]
    assert after["application_status"] == "pending" and after["application_number"] == staff_view["loan_number"]

    # bad input names the field; nothing is written
    assert client.post(f"/api/v1/borrower/reloan-offers/{theirs}/decline", json={"reason": 5},
                       headers=bearer(stranger)).status_code == 422  # fmt: skip
    short = client.post(f"/api/v1/borrower/reloan-offers/{theirs}/decline", json={"reason": "no"},
                        headers=bearer(stranger))  # fmt: skip
    assert short.status_code == 422 and "reason" in short.text, short.text
    assert client.post("/api/v1/borrower/reloan-offers/not-an-id/accept", headers=auth).status_code in (404, 422)
    assert client.get(f"/api/v1/reloan-offers/{theirs}", headers=tenant.auth).json()["status"] == "pending"
    kept = client.post(f"/api/v1/borrower/reloan-offers/{theirs}/decline", json={"reason": "  I have enough  "},
                       headers=bearer(stranger))  # fmt: skip
    assert kept.status_code == 200 and kept.json()["reason"] == "I have enough", kept.text


def test_taps_at_the_same_moment_start_one_application(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    product = _product(client, tenant)
    session, customer = _borrower(client, platform, sms, tenant)
    offer_id = _offer(platform, tenant, customer, product)
    borrower_id = UUID(session["borrower_id"])
    reloans = platform.port(BorrowerReloans)
    together = Barrier(4)

    def tap() -> str:
        together.wait()
        with acting_as(f"borrower:{borrower_id}"):
            try:
                reloans.accept(tenant.brand_id, borrower_id, offer_id)
            except Conflict:
                return "409"
        return "200"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: tap(), range(4)))
    assert outcomes == ["200", "409", "409", "409"], outcomes
    # Accepted here, not through a request (which would wait for both): the application is read from read.loans
    # and the offer's `application_id` from the offers' read model, each behind its own runner.
    settle(platform, "loans")
    settle(platform, ReloanOffers.name)
    with platform.db.pool.connection() as conn:
        started = conn.execute(
            "SELECT id FROM read.loans WHERE brand_id = %s AND customer_id = %s", (tenant.brand_id, customer)
        ).fetchall()
    [offer] = _mine(client, bearer(session))
    assert [str(r["id"]) for r in started] == [offer["application_id"]]


def test_the_status_page_shows_a_pending_offer_with_accept_and_no_thanks_forms(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any
) -> None:
    product = _product(client, tenant)
    session, customer = _borrower(client, platform, sms, tenant)
    stranger, stranger_customer = _borrower(client, platform, sms, tenant)
    first = _offer(platform, tenant, customer, product)
    second = _offer(platform, tenant, customer, product, "30000")
    theirs = _offer(platform, tenant, stranger_customer, product)
    base = f"/apply/{tenant.slug}"

    def as_borrower(token: str, method: str, path: str, **kwargs: Any) -> Any:
        client.cookies.set("cd_borrower", token, path=base)
        try:
            return client.request(method, path, follow_redirects=False, **kwargs)
        finally:
            client.cookies.clear()

    page = as_borrower(session["token"], "GET", f"{base}/status")
    assert page.status_code == 200, page.text[:300]
    section = re.search(r'<section id="reloan-offers".*?</section>', page.text, re.S)
    assert section is not None, page.text[:800]
    offers = section.group(0)
    assert f'data-offer="{first}"' in offers and f'data-offer="{second}"' in offers and str(theirs) not in offers
    assert "₹55,000" in offers and "12 months" in offers and "Personal loan" in offers
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', offers)
    assert csrf is not None and f'action="{base}/reloan-offers/{first}/accept"' in offers
    assert f'action="{base}/reloan-offers/{first}/decline"' in offers
    token = csrf.group(1)

    # without the form's token, or on another borrower's offer: refused, nothing written
    assert as_borrower(session["token"], "POST", f"{base}/reloan-offers/{first}/accept",
                       data={"csrf_token": "forged"}).status_code == 403  # fmt: skip
    assert as_borrower(session["token"], "POST", f"{base}/reloan-offers/{theirs}/accept",
                       data={"csrf_token": token}).status_code == 404  # fmt: skip
    assert as_borrower(session["token"], "POST", f"{base}/reloan-offers/{first}/accept").status_code == 403
    assert client.get(f"/api/v1/reloan-offers/{first}", headers=tenant.auth).json()["status"] == "pending"
    assert client.get(f"/api/v1/reloan-offers/{theirs}", headers=tenant.auth).json()["status"] == "pending"

    declined = as_borrower(session["token"], "POST", f"{base}/reloan-offers/{second}/decline",
                           data={"csrf_token": token})  # fmt: skip
    assert declined.status_code == 303 and declined.headers["location"].startswith(f"{base}/status")
    accepted = as_borrower(session["token"], "POST", f"{base}/reloan-offers/{first}/accept", data={"csrf_token": token})
    assert accepted.status_code == 303 and accepted.headers["location"].startswith(f"{base}/status")
    application = client.get(f"/api/v1/reloan-offers/{first}", headers=tenant.auth).json()
    assert application["status"] == "approved", application
    settle(platform, "loans")
    number = client.get(f"/api/v1/loans/{application['application_id']}", headers=tenant.auth).json()["loan_number"]

    shown = as_borrower(session["token"], "GET", f"{base}/status").text
    section = re.search(r'<section id="reloan-offers".*?</section>', shown, re.S)
    assert section is not None
    offers = section.group(0)
    assert f'id="reloan-application-{first}"' in offers and number in offers and "reviewing" in offers
    assert "declined" in offers and "/accept" not in offers  # nothing left to answer
    # The same answer again (a second tap, the back button resending the form) lands on the status page like the
    # first, starting nothing more; another answer to a decided offer is refused.
    again = as_borrower(session["token"], "POST", f"{base}/reloan-offers/{first}/accept", data={"csrf_token": token})
    assert again.status_code == 303 and again.headers["location"].startswith(f"{base}/status"), again.text[:300]
    declined_again = as_borrower(session["token"], "POST", f"{base}/reloan-offers/{second}/decline",
                                 data={"csrf_token": token})  # fmt: skip
    assert declined_again.status_code == 303 and declined_again.headers["location"].startswith(f"{base}/status")
    other_answer = as_borrower(session["token"], "POST", f"{base}/reloan-offers/{first}/decline",
                               data={"csrf_token": token})  # fmt: skip
    assert other_answer.status_code == 409 and "approved" in other_answer.text
    assert client.get(f"/api/v1/reloan-offers/{first}", headers=tenant.auth).json() == application
    assert client.get(f"/api/v1/reloan-offers/{second}", headers=tenant.auth).json()["status"] == "rejected"
    # the other borrower's status page shows their own offer only
    theirs_page = as_borrower(stranger["token"], "GET", f"{base}/status").text
    assert f'data-offer="{theirs}"' in theirs_page and str(first) not in theirs_page


def _run_offer_job(client: Any, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = client.post("/api/v1/jobs/reloan-offers/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, ReloanOffers.name)
    settle(platform, "jobs")  # the run history: the scheduler itself waits for it no more than 2 s
    run = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()
    assert run["status"] == "succeeded", run
    return dict(run)


def _offer_days(client: Any, platform: Any, tenant: Tenant, days: int | None) -> None:
    changed = client.patch("/api/v1/brand/config", json={"reloan_offer_days": days}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text
    settle(platform, "identity")


def test_the_offer_job_cancels_offers_left_pending_past_the_brands_offer_days_as_expired(
    client: Any, platform: Any, sms: SmsSimulator
) -> None:
    """On a fixed clock: an offer older than the brand's `reloan_offer_days` is cancelled ("expired", the job the
    actor) and the borrower sees it so; a newer one stays pending; a rerun changes nothing; another brand's setting
    applies to its own offers; unset, offers never expire."""
    tenant, other = make_tenant(platform), make_tenant(platform)
    products = {t.brand_id: _product(client, t) for t in (tenant, other)}
    session, customer = _borrower(client, platform, sms, tenant)
    _, their_customer = _borrower(client, platform, sms, other)
    old = _offer(platform, tenant, customer, products[tenant.brand_id])
    theirs = _offer(platform, other, their_customer, products[other.brand_id])
    new = _offer(platform, tenant, customer, products[tenant.brand_id], "30000")
    # unset by default (offers made before the setting existed are not cancelled by surprise): the brand opts in
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]["reloan_offer_days"] is None
    _offer_days(client, platform, tenant, 30)
    _offer_days(client, platform, other, 60)
    for bad in (0, 366, "soon"):
        refused = client.patch("/api/v1/brand/config", json={"reloan_offer_days": bad}, headers=tenant.auth)
        assert refused.status_code == 422 and "reloan_offer_days" in refused.text, refused.text

    def created(t: Tenant, offer: UUID) -> datetime:
        answer = client.get(f"/api/v1/reloan-offers/{offer}", headers=t.auth).json()
        return datetime.fromisoformat(answer["created_at"].replace("Z", "+00:00"))

    def status(t: Tenant, offer: UUID) -> str:
        return str(client.get(f"/api/v1/reloan-offers/{offer}", headers=t.auth).json()["status"])

    offers = platform.get(ReloanOffers)
    real_clock = offers.clock
    try:
        # 30 days after the newer offer was made, to the microsecond: the older one is past 30 days, it is not.
        offers.clock = FixedClock(created(tenant, new) + timedelta(days=30) - timedelta(microseconds=1))
        assert _run_offer_job(client, platform, tenant)["processed"] == 1
        assert (status(tenant, old), status(tenant, new)) == ("cancelled", "pending")
        expired = client.get(f"/api/v1/reloan-offers/{old}", headers=tenant.auth).json()
        assert expired["reason"] == "expired" and expired["changed_by"] == "job:reloan-offers", expired
        events = len(list(offers.repository.event_store.get(old)))
        _run_offer_job(client, platform, tenant)  # a rerun changes nothing
        assert len(list(offers.repository.event_store.get(old))) == events and status(tenant, new) == "pending"

        # The other brand's 60 days: its offer, as old as the cancelled one, is still pending, until day 60.
        _run_offer_job(client, platform, other)
        assert status(other, theirs) == "pending"
        offers.clock = FixedClock(created(other, theirs) + timedelta(days=61))
        _offer_days(client, platform, tenant, None)  # unset: this brand's offers never expire
        _run_offer_job(client, platform, tenant)
        assert status(tenant, new) == "pending"
        _run_offer_job(client, platform, other)
        assert status(other, theirs) == "cancelled"
    finally:
        offers.clock = real_clock

    # The borrower sees the expired offer as cancelled, on the API and on the status page.
    mine = {item["id"]: item for item in _mine(client, bearer(session))}
    assert (mine[str(old)]["status"], mine[str(old)]["reason"]) == ("cancelled", "expired")
    assert mine[str(new)]["status"] == "pending"
    base = f"/apply/{tenant.slug}"
    client.cookies.set("cd_borrower", session["token"], path=base)
    try:
        page = client.get(f"{base}/status", follow_redirects=False).text
    finally:
        client.cookies.clear()
    shown = re.search(rf'<div class="offer" data-offer="{old}" data-status="cancelled">.*?</div>', page, re.S)
    assert shown is not None and "expired" in shown.group(0), page[:800]


def test_an_offer_past_the_brands_offer_days_cannot_be_accepted_before_the_job_cancels_it(
    client: Any, platform: Any, sms: SmsSimulator
) -> None:
    """The job cancels expired offers every few minutes; between its runs an offer past `reloan_offer_days` is already
    expired: accepting it is a 409 and starts nothing (the borrower's tap and staff's accept alike)."""
    tenant = make_tenant(platform)
    product = _product(client, tenant)
    session, customer = _borrower(client, platform, sms, tenant)
    offer = _offer(platform, tenant, customer, product)
    _offer_days(client, platform, tenant, 30)
    offers = platform.get(ReloanOffers)
    made = offers.get(tenant.brand_id, offer).created_on
    real_clock = offers.clock
    try:
        offers.clock = FixedClock(made + timedelta(days=31))
        # the borrower is told it expired, not offered an Accept that would be refused
        (listed,) = _mine(client, bearer(session))
        assert listed["status"] == "pending" and listed["expired"] is True and listed["quote"] is None, listed
        base = f"/apply/{tenant.slug}"
        client.cookies.set("cd_borrower", session["token"], path=base)
        try:
            page = client.get(f"{base}/status", follow_redirects=False)
        finally:
            client.cookies.clear()
        section = re.search(r'<section id="reloan-offers".*?</section>', page.text, re.S)
        assert section is not None and "expired" in section.group(0), page.text[:800]
        assert f"reloan-offers/{offer}/accept" not in section.group(0)
        for url, auth in ((f"/api/v1/borrower/reloan-offers/{offer}/accept", bearer(session)),
                          (f"/api/v1/reloan-offers/{offer}/accept", tenant.auth)):  # fmt: skip
            late = client.post(url, headers=auth)
            assert late.status_code == 409 and "expired" in late.json()["detail"], late.text
            assert late.headers["content-type"].startswith("application/problem+json")
    finally:
        offers.clock = real_clock
    assert platform.get(Loans).find(application_id(offer)) is None  # no application started
    assert offers.get(tenant.brand_id, offer).status.value == "pending"  # the job cancels it as expired
    # within the days it is accepted as before
    assert _mine(client, bearer(session))[0]["expired"] is False
    accepted = client.post(f"/api/v1/borrower/reloan-offers/{offer}/accept", headers=bearer(session))
    assert accepted.status_code == 200 and accepted.json()["status"] == "approved", accepted.text
