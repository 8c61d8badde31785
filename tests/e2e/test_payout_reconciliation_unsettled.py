"""Payout requests the `payout-reconciliation` job cannot settle are shown to staff (API through uvicorn, the gateway
simulator over HTTP, the portal on the ASGI app, PostgreSQL): while the gateway answers errors, the job's run fails
(retries used up) with how many requests are left open past INITIATION_WINDOW, the oldest's age and their loan
numbers as its error, on the run record and the jobs page, and the disbursal queue says the same above the queue.
Once the gateway answers, the next run settles them, succeeds, and the queue's notice is gone. Before, such a run
succeeded (its failures only counted and logged) and nothing on the queue said a request was stuck."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from adapters.payout_store import PayoutStore
from api.services.disbursals import INITIATION_WINDOW
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_disbursal import _loan, queued_loan, wiring
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["wiring"]

JOB = "payout-reconciliation"


def _run(server: str, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = httpx.post(f"{server}/api/v1/jobs/{JOB}/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    return dict(httpx.get(f"{server}/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _notice(page: str) -> str | None:
    found = re.search(r'id="unsettled-payouts">(.*?)</p>', page, re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split()) if found else None


def test_payouts_the_gateway_cannot_be_asked_about_fail_the_run_and_show_on_the_queue(
    app: Any, platform: Any, server: str, provider_simulators: Any
) -> None:
    gateway = provider_simulators["gateway"]
    store: PayoutStore = platform.get(PayoutStore)
    admin = make_tenant(platform)
    email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(admin.brand_id, email, "Asha Admin", ["admin"], PASSWORD,
                                               granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    configured = httpx.patch(f"{server}/api/v1/jobs/{JOB}", json={"retry_count": 0}, headers=admin.auth)
    assert configured.status_code == 200, configured.text

    now = datetime.now(UTC)
    oldest, younger, fresh = (queued_loan(platform, admin, f"acct-{n}")[0] for n in range(3))
    numbers = {loan_id: _loan(server, admin, loan_id)["loan_number"] for loan_id in (oldest, younger, fresh)}
    # Asked and died: 2 h 10 min (and a half) ago, and just past the window; a third within the window.
    store.begin_initiation(admin.brand_id, oldest, 1, numbers[oldest], now - timedelta(hours=2, minutes=10, seconds=30))
    store.begin_initiation(admin.brand_id, younger, 1, numbers[younger], now - INITIATION_WINDOW - timedelta(minutes=1))
    store.begin_initiation(admin.brand_id, fresh, 1, numbers[fresh], now)
    browser, _ = _portal(app, email)
    try:
        gateway.fail_next(1000, 503, path="/v1/payouts")  # the gateway answers every look-up with an error
        run = _run(server, platform, admin)
        assert run["status"] == "failed", run
        assert (run["processed"], run["succeeded"], run["failed"]) == (2, 0, 2), run
        expected = (
            f"2 payout request(s) unanswered past 15 minutes, the oldest for 2 h 10 min "
            f"({numbers[oldest]}, {numbers[younger]}) still open"
        )
        assert run["error"].startswith(f"PayoutsUnsettled: {expected}"), run["error"]
        jobs_page = browser.get("/jobs")
        assert jobs_page.status_code == 200
        assert expected in html.unescape(jobs_page.text)

        notice = _notice(browser.get("/disbursals").text)
        assert notice is not None
        assert notice.startswith("2 payout request(s) sent to the gateway have had no answer for over 15 minutes")
        assert "(2 h 10 min ago)" in notice, notice
        assert f": {numbers[oldest]}, {numbers[younger]}." in notice, notice
        assert numbers[fresh] not in notice
    finally:
        gateway.reset_faults()
    try:
        # The gateway answers again: no payout was made under either key, both settled, the run succeeds.
        again = _run(server, platform, admin)
        assert again["status"] == "succeeded", again
        assert (again["processed"], again["succeeded"], again["failed"]) == (2, 2, 0), again
        page = browser.get("/disbursals")
        assert page.status_code == 200 and _notice(page.text) is None
    finally:
        browser.__exit__(None, None, None)
