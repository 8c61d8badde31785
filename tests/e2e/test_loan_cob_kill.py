"""The close of business (`loan-cob`) in a real `covenant-desk serve` worker SIGKILLed mid-date, after some loans'
closes were saved and before their partitions were marked done; a second worker finishes the run: every loan is
closed for the date exactly once (one `DayClosed`, its penal charges once) and the date's record counts every close,
charge and state move (docs/operations.md; workers/loan_cob.py).

The moment is chosen with a PostgreSQL lock the test holds on `ops.loan_cob_watch`: a COB worker thread writes its
partition's watch rows in the partition's transaction, after the partition's loans' events are committed, so each
thread blocks there with its closes saved; the test sees the worker waiting (`pg_stat_activity`, by its
`application_name`), kills it and releases the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.cob_store import CobStore
from domain.jobs.application import Jobs
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.kill_support import run_status as _run_status
from tests.e2e.kill_support import serve
from tests.e2e.kill_support import until_succeeded as _until_succeeded
from tests.e2e.test_servicing_api import D0, approved_loan, catalogue, set_business_date

# A database of its own (tests/own_database.py): the workers lead the scheduler over every brand of their database.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

LOANS = 120
BATCH = 10
DAY = date(2026, 3, 3)  # each loan's first instalment (28 Feb) unpaid: overdue, three days of penal charges


def _worker(dsn: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    """A `serve` process (API and workers) whose connections are named `name`."""
    return serve(dsn, log, {"PGAPPNAME": name})[0]


def _closes(dsn: str, table: str, brand_loans: list[uuid.UUID]) -> dict[str, int]:
    """How many `DayClosed` of DAY each loan has in the event store."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT originator_id, count(*) FROM events.{table} WHERE originator_id = ANY(%s) "
            "AND topic LIKE '%%DayClosed' AND convert_from(state, 'UTF8')::jsonb ->> 'business_date' = %s "
            "GROUP BY originator_id",
            (brand_loans, DAY.isoformat()),
        ).fetchall()
    return {str(loan_id): n for loan_id, n in rows}


@pytest.mark.timeout(900)  # two fresh `serve` processes, each starting on a loaded machine
def test_a_cob_worker_killed_mid_date_closes_each_loan_once_and_the_record_counts_them_all(
    client: Any, platform: Any, dsn: str, tmp_path: Path
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loans: Loans = platform.get(Loans)
    ids = []
    for _ in range(LOANS):
        loan_id = approved_loan(platform, tenant)
        loans.initiate_disbursal(tenant.brand_id, loan_id, "IMPS", f"gw-{loan_id}")
        loans.confirm_disbursal(tenant.brand_id, loan_id, f"gw-{loan_id}", D0)
        ids.append(loan_id)
    settle(platform, Loans.name)
    set_business_date(platform, tenant, DAY)
    configured = client.patch("/api/v1/jobs/loan-cob", json={"retry_interval_seconds": 0, "batch_size": BATCH},
                              headers=tenant.auth)  # fmt: skip
    assert configured.status_code == 200, configured.text

    log = tmp_path / "workers.log"
    name = f"cob-kill-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE ops.loan_cob_watch IN EXCLUSIVE MODE")
        first = _worker(dsn, name, log)
        try:
            accepted = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": DAY.isoformat()}, headers=tenant.auth)
            assert accepted.status_code == 202, accepted.text
            run_id = accepted.json()["run_id"]
            deadline = time.monotonic() + 240  # a fresh worker first catches up every projection
            with psycopg.connect(dsn, autocommit=True) as watcher:
                while not watcher.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s AND "
                                          "wait_event_type = 'Lock' AND query LIKE '%%loan_cob_watch%%'",
                                          (name,)).fetchone():  # fmt: skip
                    assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.05)
            time.sleep(0.5)  # the other COB thread reaches the lock too, its closes saved
            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=30) == -signal.SIGKILL
        finally:
            if first.poll() is None:
                first.kill()
        holder.rollback()

    store: CobStore = platform.get(CobStore)
    table = loans.recorder.events_table_name
    saved = _closes(dsn, table, ids)
    assert 1 <= len(saved) < LOANS and store.pending(tenant.brand_id, DAY) >= 1  # closes saved, partitions not done
    settle(platform, Jobs.name)
    assert _run_status(client, tenant, run_id)["status"] == "running"  # as the dead worker left it

    second = _worker(dsn, name, log)
    try:
        _until_succeeded(client, tenant, run_id, log, 300)
    finally:
        second.terminate()
        second.wait(timeout=30)

    # Every loan closed for the date exactly once, charged once: three days of 8.04.
    assert _closes(dsn, table, ids) == {str(i): 1 for i in ids}
    settle(platform, Loans.name)
    for loan_id in ids:
        loan = loans.get(tenant.brand_id, loan_id)
        penal = sum((i.penal_accrued for i in loan.replayed().position.instalments), Decimal("0.00"))
        assert (str(loan.status), loan.cob_through, penal) == ("overdue", DAY, Decimal("24.12"))
    # The date's record counts them all, the closes the dead worker saved included.
    record = store.day(tenant.brand_id, DAY)
    assert record is not None and record.state == "done"
    assert (record.loans, record.closed) == (LOANS, LOANS)
    assert record.penal_charged == Decimal("24.12") * LOANS
    assert record.transitions == {"active->overdue": LOANS}
    run = _run_status(client, tenant, run_id)
    assert run["attempt"] == 2 and "scheduler.run_orphaned" in log.read_text()
