"""Moving a brand's business date against its close of business (LENDING.md: COB processes a date once).

A business date may not be set back, cleared to today, or moved by a timezone change to a date the COB has already
processed: 409 naming `business_date`, nothing saved - such a date could never be closed again, its loans showing
DPD and payoffs of a day whose penal charges they already carry, and the next COB run silently putting the date
back. Forward, or back to a date not yet processed, is allowed. Job runs stay possible as of every date the brand
has operated on (`Identity.as_of_window`), so a done COB date can be rerun (changing nothing) without moving the
business date back."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.identity.application import Identity
from domain.shared.clock import business_date
from tests.conftest import make_tenant
from tests.e2e.test_loan_cob import _cob, _penal
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

D0 = date(2026, 1, 31)


def test_business_date_cannot_go_back_to_a_date_the_cob_processed(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 3, 5))
    assert _cob(client, platform, tenant, "2026-03-05")["status"] == "succeeded"  # 31 Jan .. 5 Mar closed
    identity = platform.get(Identity)
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 6)
    before = client.get("/api/v1/brand/config", headers=tenant.auth).json()
    url = f"/api/v1/loans/{loan}"
    shown = client.get(url, headers=tenant.auth).json()
    assert (shown["dpd"], shown["asset_class"], shown["outstanding"]["penal"]) == (6, "SMA-0", "40.20")

    for back in ("2026-02-15", "2026-03-05"):  # 15 Feb: the loan would show DPD 0 with 40.20 of penal charges
        refused = client.patch("/api/v1/brand/config", json={"business_date": back}, headers=tenant.auth)
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert problem["field"] == "business_date" and problem["cob_closed_through"] == "2026-03-05"
        assert problem["earliest"] == "2026-03-06" and back in problem["detail"]
    after = client.get("/api/v1/brand/config", headers=tenant.auth).json()
    assert after["version"] == before["version"] and after["business_date"] == "2026-03-06"  # nothing saved
    assert client.get(url, headers=tenant.auth).json()["dpd"] == 6

    # The COB run as of a done date changes nothing and leaves the business date where it is.
    assert _cob(client, platform, tenant, "2026-03-01")["status"] == "succeeded"
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 6)
    assert _penal(platform, tenant, loan) == Decimal("40.20")

    # Forward is allowed, and back again to a date not yet processed.
    for day in ("2026-03-10", "2026-03-06"):
        moved = client.patch("/api/v1/brand/config", json={"business_date": day}, headers=tenant.auth)
        assert moved.status_code == 200 and moved.json()["business_date"] == day, moved.text
    assert _cob(client, platform, tenant, "2026-03-06")["status"] == "succeeded"
    assert _penal(platform, tenant, loan) == Decimal("48.24")  # 6 Mar closed once: one more day of 8.04


def test_clearing_a_business_date_ahead_of_today_behind_the_cob_is_refused(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    today = business_date(datetime.now(UTC), "Asia/Kolkata")
    ahead = today + timedelta(days=3)
    set_business_date(platform, tenant, ahead)
    assert _cob(client, platform, tenant, ahead.isoformat())["status"] == "succeeded"  # processed through today+3
    refused = client.patch("/api/v1/brand/config", json={"business_date": None}, headers=tenant.auth)
    assert refused.status_code == 409, refused.text  # today is a processed date
    assert refused.json()["cob_closed_through"] == ahead.isoformat()
    state = client.get("/api/v1/brand/config", headers=tenant.auth).json()
    assert state["settings"]["business_date"] == state["business_date"] == (ahead + timedelta(days=1)).isoformat()

    # A brand that never ran its COB may still be put back to today.
    other = make_tenant(platform)
    set_business_date(platform, other, ahead)
    cleared = client.patch("/api/v1/brand/config", json={"business_date": None}, headers=other.auth)
    assert cleared.status_code == 200 and cleared.json()["business_date"] == today.isoformat(), cleared.text


def test_job_runs_may_be_as_of_any_date_the_brand_operated_on(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)  # created today, operated from 31 Jan on
    set_business_date(platform, tenant, D0)
    disbursed_loan(platform, tenant)
    assert _cob(client, platform, tenant, "2026-01-31")["status"] == "succeeded"
    set_business_date(platform, tenant, date(2026, 2, 10))
    assert _cob(client, platform, tenant, "2026-02-10")["status"] == "succeeded"
    assert platform.get(Identity).as_of_window(tenant.brand_id) == (D0, date(2026, 2, 11))
    for as_of in ("2026-02-10", "2026-02-01"):  # a rerun of done dates: accepted (was 422, "before the first day")
        assert _cob(client, platform, tenant, as_of)["status"] == "succeeded"
    early = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": "2026-01-30"}, headers=tenant.auth)
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "as_of", early.text
