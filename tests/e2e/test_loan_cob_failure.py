"""A close of business (`loan-cob`) whose attempt fails in one worker thread reports the work every thread committed.

A partition's close raises once (a transient fault: the database went away) while the other thread has a partition
of its own in flight. The failed attempt's run (`GET /api/v1/jobs/runs/{id}`: batches, processed, succeeded) counts
exactly the partitions marked done in `ops.loan_cob_partitions` - the other thread's among them - with the error;
the date's run record shows the same work while the date is unfinished. The retry closes the rest: every loan closed
for the date once (one `DayClosed`, its penal charges once), the run's totals each loan once, the record the whole
date. Before, the run counted nothing a thread committed after another thread's failure reached the run: the failed
attempt said fewer loans than were closed (and charged), and no later attempt ever counted them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from adapters.cob_store import CobStore, PartitionOutcome
from domain.jobs.application import Jobs
from domain.loans.application import Loans
from domain.loans.loan import Loan
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers import loan_cob
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

LOANS = 6
DAY = date(2026, 3, 3)  # each loan's first instalment (28 Feb) unpaid: overdue, three days of 8.04 of penal charges
WAIT = 20.0  # seconds a thread waits for the other's step before going on regardless


def _committed(store: CobStore, brand_id: UUID) -> tuple[int, int, int]:
    """The partitions of DAY marked done, their loans and their closes."""
    with store.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, coalesce(sum(loans), 0) AS loans, coalesce(sum(closed), 0) AS closed "
            "FROM ops.loan_cob_partitions "
            "WHERE brand_id = %s AND business_date = %s AND state = 'done'",
            (brand_id, DAY),
        ).fetchone()
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return int(values[0]), int(values[1]), int(values[2])


def _closes(platform: Any, loan_id: UUID) -> list[Decimal]:
    """The penal charged by each `DayClosed` of DAY the loan has."""
    return [
        e.penal_charged
        for e in platform.get(Loans).events.get(loan_id)
        if isinstance(e, Loan.DayClosed) and e.business_date == DAY
    ]


def test_a_failed_attempt_reports_every_threads_committed_partitions_and_the_retry_the_rest(
    client: Any, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    ids = [disbursed_loan(platform, tenant) for _ in range(LOANS)]
    set_business_date(platform, tenant, DAY)
    configured = client.patch("/api/v1/jobs/loan-cob", json={"retry_interval_seconds": 0}, headers=tenant.auth)
    assert configured.status_code == 200, configured.text

    poisoned = min(ids)  # the first partition's loan (partitions are cut in id order, one loan each)
    real_close = loan_cob.close_partition
    other_in_flight, failing, failed = threading.Event(), threading.Event(), []

    def flaky(loans: Loans, brand_id: UUID, day: date, loan_ids: Sequence[UUID]) -> PartitionOutcome:
        if poisoned in loan_ids and not failed:
            other_in_flight.wait(WAIT)  # the other thread holds a partition of its own...
            failed.append(day)
            failing.set()
            raise RuntimeError("database went away")
        other_in_flight.set()
        failing.wait(WAIT)  # ...and commits it after this thread's failure
        return real_close(loans, brand_id, day, loan_ids)

    monkeypatch.setattr(loan_cob, "close_partition", flaky)
    body = {"as_of": DAY.isoformat(), "batch_size": 1, "variables": {"workers": "2"}}
    accepted = client.post("/api/v1/jobs/loan-cob/runs", json=body, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler = scheduler_for(platform)

    scheduler.execute(run_id)  # one thread's close fails: the attempt fails
    settle(platform, Jobs.name)
    settle(platform, Loans.name)
    assert failed and other_in_flight.is_set()
    run = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()
    assert run["status"] == "retrying" and run["error"] == "RuntimeError: database went away", run
    store: CobStore = platform.get(CobStore)
    partitions, loans, closed = _committed(store, tenant.brand_id)
    assert partitions >= 1  # the other thread's partition in flight at the failure, at least, was committed
    # The run reports exactly what was committed, by every thread: no more, no less.
    assert (run["batches"], run["processed"], run["succeeded"], run["skipped"]) == (partitions, loans, closed, 0), run
    assert sum(len(_closes(platform, i)) for i in ids) == closed  # each close counted was saved, and the reverse
    record = store.day(tenant.brand_id, DAY)
    assert record is not None and record.state == "running"  # the date is not finished...
    assert (record.loans, record.closed) == (loans, closed)  # ...and its record shows the work done so far
    assert record.penal_charged == Decimal("24.12") * closed

    scheduler.execute(run_id)  # the retry closes the partitions not done
    settle(platform, Jobs.name)
    settle(platform, Loans.name)
    run = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()
    assert run["status"] == "succeeded", run
    assert (run["batches"], run["processed"], run["succeeded"], run["skipped"]) == (LOANS, LOANS, LOANS, 0), run
    for loan_id in ids:  # 1, 2 and 3 Mar charged once, by one close of 3 Mar
        assert _closes(platform, loan_id) == [Decimal("24.12")]
    record = store.day(tenant.brand_id, DAY)
    assert record is not None and record.state == "done"
    assert (record.loans, record.closed, record.penal_charged) == (LOANS, LOANS, Decimal("24.12") * LOANS)
    assert record.transitions == {"active->overdue": LOANS}
