"""The `loan-cob` job on PostgreSQL (issue #15): run through the jobs API, missed dates processed in order, penal
charges, DPD, class and state moves, the run record (loans, transitions by kind), the business date advanced; a
rerun changes nothing; a worker killed mid-partition is resumed by another without charging twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapters.cob_store import CobStore, PartitionOutcome
from domain.identity.application import Identity
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers import loan_cob
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

D0 = date(2026, 1, 31)


def _cob(client: Any, platform: Any, tenant: Tenant, as_of: str) -> dict[str, Any]:
    accepted = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": as_of}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    settle(platform, Loans.name)
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _penal(platform: Any, tenant: Tenant, loan_id: UUID) -> Decimal:
    loan = platform.get(Loans).get(tenant.brand_id, loan_id)
    return sum((i.penal_accrued for i in loan.replayed().position.instalments), Decimal("0.00"))


def test_cob_over_missed_dates_moves_states_and_reruns_change_nothing(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    paid, unpaid = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    run = _cob(client, platform, tenant, "2026-01-31")
    assert run["status"] == "succeeded", run
    identity = platform.get(Identity)
    assert identity.business_date(tenant.brand_id) == date(2026, 2, 1)  # advanced

    set_business_date(platform, tenant, date(2026, 2, 28))
    body = {"amount": "8037.57", "mode": "nach", "reference": "NACH-1"}
    assert client.post(f"/api/v1/loans/{paid}/repayments", json=body, headers=tenant.auth).status_code == 201

    set_business_date(platform, tenant, date(2026, 3, 5))
    run = _cob(client, platform, tenant, "2026-03-05")  # 1 Feb .. 5 Mar, each date in order
    assert run["status"] == "succeeded", run
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 6)
    store = platform.get(CobStore)
    days = store.days(tenant.brand_id, limit=100)
    assert [d.business_date for d in days][:2] == [date(2026, 3, 5), date(2026, 3, 4)] and len(days) == 34
    assert all(d.state == "done" and d.loans == 2 for d in days)
    assert store.day(tenant.brand_id, date(2026, 3, 1)).transitions == {"active->overdue": 1}  # type: ignore[union-attr]

    records = client.get("/api/v1/loan-cob/days", params={"limit": 2}, headers=tenant.auth).json()["items"]
    assert [r["business_date"] for r in records] == ["2026-03-05", "2026-03-04"]
    assert records[0]["loans"] == 2 and records[0]["state"] == "done" and records[0]["duration_seconds"] >= 0
    one = client.get(f"/api/v1/loans/{unpaid}", headers=tenant.auth).json()
    assert one["status"] == "overdue" and one["dpd"] == 6 and one["asset_class"] == "SMA-0"
    # 1..5 Mar on 8037.57 unpaid at 0.1 %: 8.04 a day
    assert _penal(platform, tenant, unpaid) == Decimal("40.20")
    assert one["cob_through"] == "2026-03-05"
    other = client.get(f"/api/v1/loans/{paid}", headers=tenant.auth).json()
    assert other["status"] == "active" and other["dpd"] == 0 and other["schedule"][0]["status"] == "paid"

    versions = [client.get(f"/api/v1/loans/{i}", headers=tenant.auth).json()["version"] for i in (paid, unpaid)]
    rerun = _cob(client, platform, tenant, "2026-03-05")  # a date already done (business date 6 Mar): nothing
    assert rerun["status"] == "succeeded"
    assert _penal(platform, tenant, unpaid) == Decimal("40.20")
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 6)
    assert [client.get(f"/api/v1/loans/{i}", headers=tenant.auth).json()["version"] for i in (paid, unpaid)] == versions


def test_a_worker_killed_mid_partition_is_resumed_without_double_charging(platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    ids = [disbursed_loan(platform, tenant) for _ in range(3)]
    loans: Loans = platform.get(Loans)
    store: CobStore = platform.get(CobStore)
    day = date(2026, 3, 3)  # two days overdue for every loan
    assert store.plan(tenant.brand_id, day, datetime.now(UTC), size=2)  # partitions of 2 and 1 loans
    assert not store.plan(tenant.brand_id, day, datetime.now(UTC), size=2)  # once

    def killed(loan_ids: Sequence[UUID]) -> PartitionOutcome:
        loan_cob.close_partition(loans, tenant.brand_id, day, loan_ids[:1])  # the first loan's close is saved...
        raise RuntimeError("worker killed")  # ...and the worker dies before the partition is marked done

    with pytest.raises(RuntimeError):
        store.work(tenant.brand_id, day, "w-1", killed)
    assert store.pending(tenant.brand_id, day) == 2  # the partition is claimable again
    port = loan_cob.CobPort(loans, platform.get(Identity), platform.engine, store)
    outcomes = list(loan_cob.drain(port, tenant.brand_id, day, "w-2"))
    assert sum(o.loans for o in outcomes) == 3
    for loan_id in ids:  # 1 and 2 Mar... and 3 Mar closed: three days of 8.04, once
        assert _penal(platform, tenant, loan_id) == Decimal("24.12")
    # The loan closed before the kill is not closed again, but it was closed on the date: the record counts every
    # close, charge and move of the date once (it used to count that loan as skipped).
    record = store.finish(tenant.brand_id, day, datetime.now(UTC))
    assert record is not None and (record.loans, record.closed) == (3, 3)
    assert record.penal_charged == sum((_penal(platform, tenant, i) for i in ids), Decimal("0.00"))
    assert record.transitions == {"active->overdue": 3}
