"""A real `covenant-desk serve --no-workers` process SIGKILLed in the middle of a payout file's export or return: the
file and its loans' events are kept together or not at all, so no loan is left in a downloadable file the gateway
could still pay, nor freed by its events while its file holds it (docs/loans.md, "Disbursal").

The moment is chosen with a PostgreSQL lock the test holds: the API process blocks on it inside the request (on
the loans' event table for an export, on the file's row for a return); the test sees it waiting
(`pg_stat_activity`, by the process's `application_name`), kills it, and releases the lock. Whatever the dead
request had not committed is gone; what it had committed stays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.kill_support import serve
from tests.e2e.test_disbursal import sanctioned_loan, wiring
from tests.support import account_number, settle

__all__ = ["wiring"]  # the fixture (the tests' catalogue, provider simulators for the penny drop)


@pytest.fixture
def api(dsn: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """An API process (no workers) on the session's database, its URL and the `application_name` of its
    connections."""
    name = f"payout-kill-{uuid.uuid4().hex[:8]}"
    process, url = serve(dsn, tmp_path / "api.log", {"PGAPPNAME": name}, workers=False, what="API")
    yield process, url, name
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def _queued(client: Any, platform: Any, tenant: Tenant) -> UUID:
    """A loan awaiting disbursal to its borrower's bank account, verified by the penny-drop simulator (the API process
    reads it: the tests' patched lookup is this process's only)."""
    loans: Loans = platform.get(Loans)
    loan_id, _, _ = sanctioned_loan(platform, tenant)
    customer_id = loans.get(tenant.brand_id, loan_id).customer_id
    account = client.post(f"/api/v1/customers/{customer_id}/bank-accounts", headers=tenant.auth,
                          json={"account_number": account_number("50100"), "ifsc": "HDFC0001234",
                                "holder_name": "Meera Iyer"})  # fmt: skip
    assert account.status_code == 201 and account.json()["status"] == "verified", account.text
    loans.sign(tenant.brand_id, loan_id, "prov-1", datetime.now(UTC))
    settle(platform, Loans.name, loans.ready_for_disbursal(tenant.brand_id, loan_id, account.json()["id"]).position)
    return loan_id


def _killed_while_blocked(api: tuple[subprocess.Popen[bytes], str, str], holder: psycopg.Connection[Any],
                          method: str, path: str, tenant: Tenant, body: dict[str, Any]) -> None:  # fmt: skip
    """Send the request to the API process, wait until it blocks on the lock `holder` holds, SIGKILL the process,
    then release the lock."""
    process, url, name = api
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(httpx.request(method, f"{url}{path}", json=body, headers=tenant.auth, timeout=60))
        except httpx.HTTPError as exc:
            answers.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    deadline = time.monotonic() + 8  # the request's lock wait times out after 10 s
    with psycopg.connect(holder.info.dsn, autocommit=True) as watcher:
        while not watcher.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                                  "AND wait_event_type = 'Lock'", (name,)).fetchone():  # fmt: skip
            assert not answers, f"the request finished without waiting on the lock: {answers}"
            assert time.monotonic() < deadline, "the API process never waited on the lock"
            time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    holder.rollback()
    sender.join(timeout=30)
    assert answers and isinstance(answers[0], httpx.HTTPError)  # the caller never got an answer


def _disbursement(client: Any, tenant: Tenant, loan_id: UUID) -> dict[str, Any]:
    answer = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["disbursement"] or {})


@pytest.mark.timeout(300)
def test_an_export_killed_before_its_loans_are_marked_leaves_no_file_and_the_loans_can_be_filed(
    client: Any, platform: Any, dsn: str, api: Any
) -> None:
    tenant = make_tenant(platform)
    loan_ids = [_queued(client, platform, tenant) for _ in range(2)]
    table = platform.get(Loans).recorder.events_table_name
    with psycopg.connect(dsn) as holder:
        holder.execute(f"LOCK TABLE events.{table} IN EXCLUSIVE MODE")  # as an append does: reads go on, appends wait
        _killed_while_blocked(api, holder, "POST", "/api/v1/payout-files", tenant,
                              {"loan_ids": [str(i) for i in loan_ids]})  # fmt: skip

    # No file whose loans are not marked in it: none listed, and the loans are still free for a file or a payout.
    files = client.get("/api/v1/payout-files", headers=tenant.auth)
    assert files.status_code == 200 and files.json()["items"] == [], files.text
    assert {_disbursement(client, tenant, i).get("state") for i in loan_ids} == {"queued"}
    again = client.post("/api/v1/payout-files", json={"loan_ids": [str(i) for i in loan_ids]}, headers=tenant.auth)
    assert again.status_code == 201, again.text
    settle(platform, Loans.name)
    assert {_disbursement(client, tenant, i).get("exported_file_id") for i in loan_ids} == {again.json()["id"]}


@pytest.mark.timeout(300)
def test_a_return_killed_between_its_loans_and_its_file_can_be_pressed_again_and_frees_the_loans(
    client: Any, platform: Any, dsn: str, api: Any
) -> None:
    tenant = make_tenant(platform)
    loan_ids = [_queued(client, platform, tenant) for _ in range(2)]
    made = client.post("/api/v1/payout-files", json={"loan_ids": [str(i) for i in loan_ids]}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    file_id = made.json()["id"]
    settle(platform, Loans.name)
    with psycopg.connect(dsn) as holder:
        holder.execute("SELECT 1 FROM ops.payout_files WHERE id = %s FOR UPDATE", (file_id,))
        _killed_while_blocked(api, holder, "POST", f"/api/v1/payout-files/{file_id}/return", tenant,
                              {"reason": "account closed"})  # fmt: skip

    # The file and its loans agree, and "Returned" pressed again finishes the return.
    settle(platform, Loans.name)
    state = client.get(f"/api/v1/payout-files/{file_id}", headers=tenant.auth).json()["state"]
    shown = sorted({str(_disbursement(client, tenant, i).get("state")) for i in loan_ids})
    assert (state, shown) in [("exported", ["exported"]), ("returned", ["queued"])], (state, shown)
    returned = client.post(f"/api/v1/payout-files/{file_id}/return", json={"reason": "account closed"},
                           headers=tenant.auth)  # fmt: skip
    assert returned.status_code == 200 and returned.json()["state"] == "returned", returned.text
    settle(platform, Loans.name)
    again = client.post("/api/v1/payout-files", json={"loan_ids": [str(i) for i in loan_ids]}, headers=tenant.auth)
    assert again.status_code == 201, again.text
