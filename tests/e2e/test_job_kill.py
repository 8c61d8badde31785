"""A notification job whose worker process is killed (SIGKILL) mid-send finishes after a restart, no email twice.

The worker is a real `covenant-desk serve` process. The SMTP server kills it at the worst moment: the third
email's end-of-data mark has arrived and the worker waits for the server's answer, which never reaches it. The server still accepts
that email, so the worker dies not knowing it was delivered. A second worker process then finds the run
orphaned (its process is gone), retries it, and must neither resend that email nor miss any other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from adapters.mail_sink import free_port
from domain.covenants.application import Covenants
from domain.jobs.application import Jobs
from tests.conftest import make_tenant
from tests.e2e.test_covenants import _borrower, _covenant, _run

# Each test on a database of its own (tests/own_database.py): the `serve` workers these tests start lead the scheduler
# over every brand of their database: on the session's they fired earlier tests' brands' schedules and sent their owed
# emails to this test's SMTP server, whose message count picks the moment it kills the worker.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import ROOT, settle

BORROWERS = 6
KILL_AT = 3


class KillingServer:
    """An SMTP server keeping every accepted message; on message KILL_AT it SIGKILLs the worker first."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.victim: int | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            if len(self.messages) == KILL_AT and self.victim is not None:
                time.sleep(0.05)  # the worker is now waiting for this answer
                os.kill(self.victim, signal.SIGKILL)
                time.sleep(0.2)  # The worker is gone before it could read this answer.
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[KillingServer, int]]:
    handler = KillingServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def _worker(dsn: str, smtp_port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("worker did not start: " + log.read_text()[-3000:])


def _run_status(client: Any, tenant: Any, run_id: str) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def _until_succeeded(client: Any, tenant: Any, run_id: str, log: Path, seconds: float) -> None:
    """Wait for the run to succeed (a fresh worker first catches up every projection); the workers' log if not."""
    deadline = time.monotonic() + seconds
    while (run := _run_status(client, tenant, run_id))["status"] != "succeeded":
        if time.monotonic() >= deadline:
            text = log.read_text()
            mentions = [line for line in text.splitlines() if run_id in line]
            raise AssertionError("\n".join([str(run), *mentions[-10:], text[-3000:]]))
        time.sleep(0.5)


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
