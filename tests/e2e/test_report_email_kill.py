"""The `report-email` job's worker (a real `covenant-desk serve`) SIGKILLed after the SMTP server took the report's
email and before the run recorded it: the second worker's retry sends it again - at least once, as docs/reports.md
says - as the same message (one `Message-ID` for the run), so a mail client that drops repeats shows it once.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.jobs.application import Jobs
from tests.conftest import make_tenant
from tests.e2e.kill_support import KillingSmtpServer as KillingServer
from tests.e2e.kill_support import killing_smtp
from tests.e2e.kill_support import run_status as _run_status
from tests.e2e.kill_support import until_succeeded as _until_succeeded
from tests.e2e.kill_support import worker as _worker

# A database of its own (tests/own_database.py): the workers lead the scheduler over every brand of their database.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import settle


@pytest.fixture
def smtp() -> Iterator[tuple[KillingServer, int]]:
    """Kills the worker on the first message, before answering it."""
    with killing_smtp(1) as served:
        yield served


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
