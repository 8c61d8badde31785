"""The funnel and its application agree again without staff (docs/onboarding.md, "Keeping the funnel and its
application together"), on the real stores: the onboarding-inactive job's reconciliation records the submission of a
funnel whose application was submitted on the loan and cancels an application left in onboarding under a closed
funnel, logging each - only in the run's brand, whatever its inactivity settings, and a second run changes nothing; it
closes, as the close it finishes, a funnel left in progress over the application a close cancelled.
And the borrower's submit of an application not theirs is a 404 before anything about their own funnel."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from structlog.testing import capture_logs

from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.loan import Channel
from domain.onboarding.application import Onboarding
from domain.shared.aggregate import acting_as
from domain.shared.clock import FixedClock
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_decision import _onboarded
from tests.e2e.test_onboarding_close import REASON, _applied
from tests.support import settle
from workers.onboarding_jobs import ORPHAN_AFTER
from workers.runtime import scheduler_for

__all__ = ["sms"]  # the fixture, used by name


def _ready(client: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[str, dict[str, str], str]:
    """A borrower of the brand at the loan request step (`_onboarded`, the brand's product made by the first): the
    borrower's id, their header, the product's id."""
    session, auth, product = _onboarded(client, tenant, sms)
    if "id" not in product:  # the brand's second borrower: the product exists already (409)
        product = client.get("/api/v1/loan-products", headers=tenant.auth).json()["items"][0]
    return str(session["borrower_id"]), auth, str(product["id"])


def _submitted_on_the_loan(client: Any, tenant: Tenant, sms: SmsSimulator) -> tuple[str, str]:
    """A borrower whose application was submitted on the loan only (staff, or a submit that died between its two
    saves): the funnel still in progress at the submitted step. The borrower's id and the application's."""
    borrower, auth, product = _ready(client, tenant, sms)
    request = {"product_id": product, "amount": "50000", "tenure": 12}
    applied = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert applied.status_code == 201, applied.text
    application = str(applied.json()["id"])
    submitted = client.post(f"/api/v1/loans/{application}/submit", headers=tenant.auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    assert client.get(f"/api/v1/onboarding/{borrower}", headers=tenant.auth).json()["status"] == "in_progress"
    return borrower, application


def _orphan(client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any) -> tuple[str, str]:
    """A borrower whose funnel was closed and who has an application of the borrower channel in onboarding that the
    close could not see (as a loan request racing the close leaves it when it cannot cancel its own, or a close made
    before closes cancelled theirs). The borrower's id and the application's."""
    borrower, _, product = _ready(client, tenant, sms)
    closed = client.post(f"/api/v1/onboarding/{borrower}/close", json={"reason": REASON}, headers=tenant.auth)
    assert closed.status_code == 200, closed.text
    customer = platform.get(Onboarding).funnel(tenant.brand_id, UUID(borrower)).customer_id
    started = platform.get(Loans).create(
        tenant.brand_id, customer, UUID(product), Decimal("50000"), 12, None, channel=Channel.BORROWER
    )
    return borrower, str(started.id)


def _run(client: Any, tenant: Tenant, platform: Any) -> list[Any]:
    """One onboarding-inactive run of the brand, its batches' counts, once the read models the API answers from
    show what it did (the run is executed here, not by a request: a loan's GET right after it read the read model
    before it caught up, and a clean-clone run saw the orphan it had cancelled still `onboarding`)."""
    settle(platform, "onboarding")
    settle(platform, "loans")
    # as of the brand's business date (today in Asia/Kolkata), not the server's: from 18:30 UTC the UTC date is the day
    # before the brand's first business day, and the run is refused
    today = platform.get(Identity).business_date(tenant.brand_id)
    run = client.post("/api/v1/jobs/onboarding-inactive/runs", json={"as_of": today.isoformat()},
                      headers=tenant.auth)  # fmt: skip
    assert run.status_code == 202, run.text
    scheduler = scheduler_for(platform)
    attempt = scheduler.port.jobs.start_attempt(run.json()["run_id"], "test-worker")
    counts = [counts for counts, _ in scheduler.handlers["onboarding-inactive"](attempt)]
    settle(platform, "onboarding")
    settle(platform, "loans")
    return counts


def test_the_job_reconciles_the_brand_s_mismatched_pairs_once_and_leaves_other_brands_alone(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted, pending = _submitted_on_the_loan(client, tenant, sms)
    closed, orphan = _orphan(client, tenant, sms, platform)
    other = make_tenant(platform)  # another brand with both mismatches
    other_submitted, other_pending = _submitted_on_the_loan(client, other, sms)
    other_closed, other_orphan = _orphan(client, other, sms, platform)
    assert client.get(f"/api/v1/loans/{orphan}", headers=tenant.auth).json()["status"] == "onboarding"

    # A moment ago, the orphan could be a loan request in flight (its application started, its step not recorded):
    # it is taken only once older than ORPHAN_AFTER.
    early = _run(client, tenant, platform)
    assert sum(c.succeeded for c in early) == 1  # the submission; not the orphan yet
    assert client.get(f"/api/v1/loans/{orphan}", headers=tenant.auth).json()["status"] == "onboarding"
    onboarding = platform.get(Onboarding)
    monkeypatch.setattr(onboarding, "clock", FixedClock(onboarding.clock.now() + ORPHAN_AFTER + timedelta(minutes=1)))
    with capture_logs() as logs:
        batches = _run(client, tenant, platform)
    assert sum(c.succeeded for c in batches) == 1 and sum(c.failed for c in batches) == 0  # the auto-close is off

    funnel = client.get(f"/api/v1/onboarding/{submitted}", headers=tenant.auth).json()
    assert funnel["status"] == "completed" and funnel["next_step"] is None
    assert client.get(f"/api/v1/loans/{pending}", headers=tenant.auth).json()["status"] == "pending"
    cancelled = client.get(f"/api/v1/loans/{orphan}", headers=tenant.auth).json()
    assert cancelled["status"] == "cancelled"
    assert [(e["actor"], e["reason"]) for e in cancelled["history"] if e["kind"] == "cancelled"] == [
        ("job:onboarding-inactive", f"the onboarding was closed: {REASON}")
    ]
    fixed = [
        (e["event"], e.get("borrower_id"), e.get("application_id")) for e in logs if "onboarding_sync" in e["event"]
    ]
    assert fixed == [("onboarding_sync.orphan_cancelled", closed, orphan)]
    assert client.get(f"/api/v1/onboarding/{closed}", headers=tenant.auth).json()["status"] == "rejected"
    settle(platform, "loans")
    staff_queue = client.get("/api/v1/loans", params={"status": "onboarding"}, headers=tenant.auth).json()["items"]
    assert orphan not in [item["id"] for item in staff_queue]

    # Idempotent: a second run finds nothing to fix and changes nothing.
    before = client.get(f"/api/v1/onboarding/{submitted}", headers=tenant.auth).json()
    assert sum(c.succeeded for c in _run(client, tenant, platform)) == 0
    assert client.get(f"/api/v1/onboarding/{submitted}", headers=tenant.auth).json() == before
    assert client.get(f"/api/v1/loans/{orphan}", headers=tenant.auth).json() == cancelled

    # Brand-scoped: the other brand's pairs are untouched by this brand's runs.
    assert client.get(f"/api/v1/onboarding/{other_submitted}", headers=other.auth).json()["status"] == "in_progress"
    assert client.get(f"/api/v1/loans/{other_pending}", headers=other.auth).json()["status"] == "pending"
    assert client.get(f"/api/v1/loans/{other_orphan}", headers=other.auth).json()["status"] == "onboarding"
    assert client.get(f"/api/v1/onboarding/{other_closed}", headers=other.auth).json()["status"] == "rejected"
    assert sum(c.succeeded for c in _run(client, other, platform)) == 2  # its own run fixes them
    assert client.get(f"/api/v1/onboarding/{other_submitted}", headers=other.auth).json()["status"] == "completed"
    assert client.get(f"/api/v1/loans/{other_orphan}", headers=other.auth).json()["status"] == "cancelled"


def test_submitting_another_borrower_s_application_is_not_found_before_the_funnel_s_own_refusal(
    client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    _, _, someone_elses = _applied(client, tenant, sms)
    session, auth, _ = _onboarded(client, tenant, sms)  # their own loan request not made: their submit would be a 409
    url = f"/api/v1/onboarding/{session['borrower_id']}"
    before = client.get(url, headers=tenant.auth).json()
    refused = client.post(f"/api/v1/borrower/applications/{someone_elses}/submit", headers=auth)
    assert refused.status_code == 404 and refused.headers["content-type"].startswith("application/problem+json")
    assert "step" not in refused.json()["detail"], refused.text  # nothing about their own funnel's steps
    assert client.get(url, headers=tenant.auth).json() == before
    assert client.get(f"/api/v1/loans/{someone_elses}", headers=tenant.auth).json()["status"] == "onboarding"


def test_the_job_finishes_a_close_whose_funnel_save_never_landed_as_that_close_once(
    client: Any, tenant: Tenant, sms: SmsSimulator, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The close cancelled the application and died before saving the funnel; the borrower came back (so the funnel
    is not idle: the inactivity walk would not take it). The job closes it with the close's reason, as the staff
    member who closed it, once the cancel is older than ORPHAN_AFTER (a close in flight saves its funnel a moment
    later); a second run changes nothing."""
    borrower, auth, product = _ready(client, tenant, sms)
    request = {"product_id": product, "amount": "50000", "tenure": 12}
    applied = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert applied.status_code == 201, applied.text
    application = str(applied.json()["id"])
    onboarding = platform.get(Onboarding)
    staff = "staff:00000000-0000-4000-8000-00000000c105"

    def crash(*aggregates: object) -> None:
        raise RuntimeError("the process died before the funnel was saved")

    with monkeypatch.context() as dying, acting_as(staff), pytest.raises(RuntimeError):
        dying.setattr(onboarding, "commit", crash)
        onboarding.close_funnel(tenant.brand_id, UUID(borrower), REASON)
    redone = {"method": "account_aggregator", "consent_id": "AA-78"}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=redone, headers=auth).status_code == 200
    # The close cancelled the application here, not in a request, and the borrower's step answers from the funnel
    # without waiting for any read model: the loan's GET below reads read.loans, which may not show the cancel yet.
    settle(platform, "loans")
    url = f"/api/v1/onboarding/{borrower}"
    assert client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()["status"] == "cancelled"
    assert client.get(url, headers=tenant.auth).json()["status"] == "in_progress"  # open over the cancelled one

    assert sum(c.succeeded for c in _run(client, tenant, platform)) == 0  # maybe a close in flight: not yet
    assert client.get(url, headers=tenant.auth).json()["status"] == "in_progress"
    monkeypatch.setattr(onboarding, "clock", FixedClock(onboarding.clock.now() + ORPHAN_AFTER + timedelta(minutes=1)))
    with capture_logs() as logs:
        batches = _run(client, tenant, platform)

    assert sum(c.succeeded for c in batches) == 1 and sum(c.failed for c in batches) == 0
    funnel = client.get(url, headers=tenant.auth).json()
    # finished by the job, which wrote it; who asked for the close stays the application's cancel's actor
    assert (funnel["status"], funnel["reason"], funnel["closed_by"]) == ("rejected", REASON, "job:onboarding-inactive")
    fixed = [
        (e["event"], e.get("borrower_id"), e.get("application_id")) for e in logs if "onboarding_sync" in e["event"]
    ]
    assert fixed == [("onboarding_sync.close_finished", borrower, application)]
    loan = client.get(f"/api/v1/loans/{application}", headers=tenant.auth).json()
    assert [(e["actor"], e["reason"]) for e in loan["history"] if e["kind"] == "cancelled"] == [
        (staff, f"the onboarding was closed: {REASON}")
    ]
    assert client.get("/api/v1/borrower/me", headers=auth).json()["status"] == "rejected"

    assert sum(c.succeeded for c in _run(client, tenant, platform)) == 0  # idempotent
    assert client.get(url, headers=tenant.auth).json() == funnel
