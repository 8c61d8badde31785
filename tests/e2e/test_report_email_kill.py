"""The `report-email` job's worker (a real `covenant-desk serve`) SIGKILLed after the SMTP server took the report's
email and before the run recorded it: the second worker's retry sends it again - at least once, as docs/reports.md
says - as the same message (one `Message-ID` for the run), so a mail client that drops repeats shows it once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from adapters.mail_sink import free_port
from domain.jobs.application import Jobs
from tests.conftest import make_tenant
from tests.e2e.test_job_kill import _run_status, _until_succeeded, _worker

# A database of its own (tests/own_database.py): the workers lead the scheduler over every brand of their database.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import settle


class KillingServer:
    """An SMTP server keeping every message; the first one it takes SIGKILLs the worker before it is answered."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.victim: int | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            if self.victim is not None:
                os.kill(self.victim, signal.SIGKILL)
                self.victim = None
                time.sleep(0.2)  # the worker is gone before it reads this answer
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[KillingServer, int]]:
    handler = KillingServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.mark.timeout(900)  # two fresh `serve` processes, each starting on a loaded machine
def test_a_report_email_taken_as_its_worker_died_is_sent_again_as_the_same_message(
    client: Any, platform: Any, dsn: str, smtp: tuple[KillingServer, int], tmp_path: Path
) -> None:
    server, smtp_port = smtp
    tenant = make_tenant(platform)
    configured = client.patch("/api/v1/jobs/report-email", json={"retry_interval_seconds": 0}, headers=tenant.auth)
    assert configured.status_code == 200, configured.text
    recipient = f"reports-{uuid.uuid4().hex[:6]}@lender.in"
    log = tmp_path / "workers.log"
    first, _ = _worker(dsn, smtp_port, log)
    try:
        server.victim = first.pid
        body = {"to": recipient, "from": "2026-01-01", "to_date": "2026-01-31"}
        accepted = client.post("/api/v1/reports/master-report/email", json=body, headers=tenant.auth)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert first.wait(timeout=240) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    assert len(server.messages) == 1
    settle(platform, Jobs.name)
    assert _run_status(client, tenant, run_id)["status"] == "running"  # as the dead worker left it

    second, _ = _worker(dsn, smtp_port, log)
    try:
        _until_succeeded(client, tenant, run_id, log, 240)
    finally:
        second.terminate()
        second.wait(timeout=30)

    # Sent again by the retry (at least once), as the same message.
    assert [m["To"] for m in server.messages] == [recipient, recipient]
    assert len({m["Message-ID"] for m in server.messages}) == 1
    assert (
        server.messages[0].get_body(("plain",)).get_content() == server.messages[1].get_body(("plain",)).get_content()
    )
    assert _run_status(client, tenant, run_id)["attempt"] == 2
