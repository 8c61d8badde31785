"""A notification job whose worker process is killed (SIGKILL) mid-send finishes after a restart, no email twice.

The worker is a real `covenant-desk serve` process. The SMTP server kills it at the worst moment: the third
email's end-of-data mark has arrived and the worker waits for the server's answer, which never reaches it. The server still accepts
that email, so the worker dies not knowing it was delivered. A second worker process then finds the run
orphaned (its process is gone), retries it, and must neither resend that email nor miss any other.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.covenants.application import Covenants
from domain.jobs.application import Jobs
from tests.conftest import make_tenant
from tests.e2e.kill_support import KillingSmtpServer as KillingServer
from tests.e2e.kill_support import killing_smtp
from tests.e2e.kill_support import run_status as _run_status
from tests.e2e.kill_support import until_succeeded as _until_succeeded
from tests.e2e.kill_support import worker as _worker
from tests.e2e.test_covenants import _borrower, _covenant, _run

# Each test on a database of its own (tests/own_database.py): the `serve` workers these tests start lead the scheduler
# over every brand of their database: on the session's they fired earlier tests' brands' schedules and sent their owed
# emails to this test's SMTP server, whose message count picks the moment it kills the worker.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import settle

BORROWERS = 6
KILL_AT = 3


@pytest.fixture
def smtp() -> Iterator[tuple[KillingServer, int]]:
    """Kills the worker on message KILL_AT, 0.05 s after it arrived: the worker is then waiting for the answer."""
    with killing_smtp(KILL_AT, pause=0.05) as served:
        yield served


@pytest.mark.timeout(900)  # two fresh `serve` processes, each starting on a loaded machine
def test_a_worker_killed_mid_send_is_recovered_by_the_next_worker_without_duplicates(
    client: Any, platform: Any, dsn: str, smtp: tuple[KillingServer, int], tmp_path: Path
) -> None:
    server, smtp_port = smtp
    tenant = make_tenant(platform)
    recipients = [f"kill-{i}-{uuid.uuid4().hex[:6]}@example.in" for i in range(BORROWERS)]
    for i, email in enumerate(recipients):
        _covenant(client, tenant, _borrower(client, tenant, email), first_due_date="2024-06-30", title=f"Covenant {i}")
    _run(client, platform, tenant, "covenant-evaluation", "2024-06-23")
    configured = client.patch(
        "/api/v1/jobs/covenant-notification",
        json={"retry_interval_seconds": 0, "batch_size": 2},
        headers=tenant.auth,
    )
    assert configured.status_code == 200, configured.text

    log = tmp_path / "workers.log"
    first, _ = _worker(dsn, smtp_port, log)
    try:
        server.victim = first.pid
        accepted = client.post(
            "/api/v1/jobs/covenant-notification/runs", json={"as_of": "2024-06-23"}, headers=tenant.auth
        )
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert first.wait(timeout=240) == -signal.SIGKILL  # a fresh worker first catches up every projection
    finally:
        if first.poll() is None:
            first.kill()
    # The killing answer is message KILL_AT; the next page (claimed while one sends) may have handed one more email
    # to the server, which it took before the worker died: some but not all arrived.
    assert KILL_AT <= len(server.messages) < BORROWERS
    settle(platform, Jobs.name)
    assert _run_status(client, tenant, run_id)["status"] == "running"  # as the dead worker left it

    second, _ = _worker(dsn, smtp_port, log)
    try:
        _until_succeeded(client, tenant, run_id, log, 240)
    finally:
        second.terminate()
        second.wait(timeout=30)

    delivered = [m["To"] for m in server.messages]
    assert sorted(delivered) == sorted(recipients), "every borrower gets exactly one reminder"
    assert len({m["Message-ID"] for m in server.messages}) == BORROWERS
    settle(platform, Covenants.name)
    notices = client.get("/api/v1/covenant-notices", params={"limit": 50}, headers=tenant.auth).json()["items"]
    assert {n["status"] for n in notices} == {"sent"} and len(notices) == BORROWERS
    presumed = [n for n in notices if n["error"] and "presumed" in n["error"]]
    # The email the server took as the worker died is recorded as presumed sent, not sent again; so is any other
    # email another sender thread had handed over by then (the server took those too: all six arrived once).
    assert delivered[KILL_AT - 1] in {n["recipient"] for n in presumed}
    run = _run_status(client, tenant, run_id)
    assert run["attempt"] == 2 and "scheduler.run_orphaned" in log.read_text()
