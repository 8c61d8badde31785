"""The `borrower-notifications` job's worker process killed (SIGKILL) mid-run, then a second worker: each (loan,
instalment, kind, channel) reaches the SMS provider exactly once (issue #17 item 3, docs/engagement.md "Exactly once").

The worker is a real `covenant-desk serve` process. The SMS simulator kills it at the worst moment: it has just
accepted message KILL_AT and not yet answered, so the worker dies not knowing the provider has it (and with up to
`ENGAGEMENT_SEND_THREADS` other sends in flight). A second worker finds the run orphaned and retries it: the rows the
dead worker left `sending` are sent again with the same provider reference, which the provider answers `duplicate`
and does not send; the keys it had not claimed are claimed and sent once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.jobs.application import Jobs
from tests.conftest import Tenant, make_tenant
from tests.e2e.blackbox import DAY, zone_at
from tests.e2e.kill_support import run_status as _run_status
from tests.e2e.kill_support import until_succeeded as _until_succeeded
from tests.e2e.kill_support import worker as _worker

# Each test on a database of its own (tests/own_database.py): the `serve` workers these tests start lead the scheduler
# over every brand of their database: on the session's they fired earlier tests' brands' schedules and sent their due
# SMS to this test's provider, whose count of accepted messages picks the moment it kills the worker.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import mobile, settle

LOANS = 40
KILL_AT = 13
AS_OF = date(2026, 3, 5)


class KillingSms(SmsSimulator):
    """The SMS simulator; on the KILL_AT-th message it accepts, it SIGKILLs the worker before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.victim: int | None = None
        self.pause = 0.0  # seconds the KILL_AT-th answer is held before the kill (other sends go on meanwhile)
        self.accepted = 0
        self.duplicates: list[str] = []
        self.url = ""

    async def _send(self, request: Request) -> Response:
        answer = await super()._send(request)
        body = json.loads(bytes(answer.body))
        if body.get("duplicate"):
            self.duplicates.append(str(body["message_id"]))
        elif answer.status_code == 202:
            self.accepted += 1
            if self.accepted == KILL_AT and self.victim is not None:
                await asyncio.sleep(self.pause)
                os.kill(self.victim, signal.SIGKILL)
                time.sleep(0.2)  # the worker is gone before it could read this answer
        return answer


@pytest.fixture
def sms() -> Iterator[KillingSms]:
    simulator = KillingSms()
    simulator.url = simulator.start()
    yield simulator
    simulator.stop()


def _load(platform: Any, brand_id: uuid.UUID) -> list[str]:
    """LOANS borrowers, each with a serviced loan whose instalment 1 falls due on AS_OF (straight into the job's read
    models, as the benchmark does); their phones."""
    now = datetime.now(UTC)
    phones = []
    with platform.db.pool.connection() as conn:
        for i in range(LOANS):
            customer_id, loan_id = uuid.uuid4(), uuid.uuid4()
            phone = "+91" + mobile("9")
            phones.append(phone)
            conn.execute("INSERT INTO read.customers (id, brand_id, name, name_key, phone, version, created_at, "
                         "updated_at) VALUES (%s, %s, %s, %s, %s, 1, %s, %s)",
                         (customer_id, brand_id, f"Borrower {i}", f"borrower {i}", phone, now, now))  # fmt: skip
            conn.execute("INSERT INTO read.engagement_loans (loan_id, brand_id, customer_id, loan_number, amount, "
                         "status, disbursed_on) VALUES (%s, %s, %s, %s, 50000, 'active', %s)",
                         (loan_id, brand_id, customer_id, f"KILL-{i:04d}", date(2026, 2, 5)))  # fmt: skip
            conn.execute("INSERT INTO read.engagement_dues (loan_id, no, brand_id, due_date, amount, through) "
                         "VALUES (%s, 1, %s, %s, 4716.25, 4716.25)", (loan_id, brand_id, AS_OF))  # fmt: skip
    return phones


def _brand_due_today(
    client: Any, platform: Any, sms: KillingSms, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> tuple[Tenant, list[str]]:
    """A brand whose LOANS borrowers get an SMS on AS_OF (due today) from the job in pages of `batch_size`, sent to
    `sms`; their phones."""
    tenant = make_tenant(platform)
    off: dict[str, list[str]] = {k: [] for k in ("due_7", "due_3", "due_1", "overdue", "disbursed", "paid")}
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {
        "business_date": AS_OF, "timezone": zone_at(DAY), "notification_channels": {**off, "due_0": ["sms"]}})  # fmt: skip
    settle(platform, "identity", result.position)
    phones = _load(platform, tenant.brand_id)
    configured = client.patch("/api/v1/jobs/borrower-notifications",
                              json={"retry_interval_seconds": 0, "batch_size": batch_size}, headers=tenant.auth)  # fmt: skip
    assert configured.status_code == 200, configured.text
    # The workers send to this simulator; its receipts go nowhere (a closed port): these tests are about the sends.
    monkeypatch.setenv("PROVIDER_SMS_URL", sms.url)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://127.0.0.1:9")
    return tenant, phones


@pytest.mark.timeout(900)  # two fresh `serve` processes, each starting on a loaded machine
def test_a_notifications_worker_killed_mid_run_sends_each_message_once_after_a_restart(
    client: Any, platform: Any, dsn: str, sms: KillingSms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, phones = _brand_due_today(client, platform, sms, monkeypatch, batch_size=4)
    log = tmp_path / "workers.log"
    first, _ = _worker(dsn, 0, log)
    try:
        sms.victim = first.pid
        accepted = client.post("/api/v1/jobs/borrower-notifications/runs", json={}, headers=tenant.auth)
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert first.wait(timeout=300) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = len([m for m in sms.sent_to() if m["to"] in phones])
    assert KILL_AT <= killed_at < LOANS  # some but not all reached the provider
    with platform.db.pool.connection() as conn:
        left = conn.execute("SELECT count(*) AS n FROM ops.messages WHERE brand_id = %s AND status = 'sending'",
                            (tenant.brand_id,)).fetchone()["n"]  # fmt: skip
    assert left >= 1  # at least message KILL_AT: the provider has it, our ledger does not know
    settle(platform, Jobs.name)
    assert _run_status(client, tenant, run_id)["status"] == "running"  # as the dead worker left it

    sms.victim = None
    second, _ = _worker(dsn, 0, log)
    try:
        _until_succeeded(client, tenant, run_id, log, 300)
    finally:
        second.terminate()
        second.wait(timeout=30)

    # The handsets: one message each. The provider saw the in-flight ones again, as duplicates of one reference.
    outbox = [m for m in sms.sent_to() if m["to"] in phones]
    assert sorted(m["to"] for m in outbox) == sorted(phones)
    assert len(sms.duplicates) >= 1
    # The ledger: one row per key, all sent, each naming the provider's one message for it.
    with platform.db.pool.connection() as conn:
        rows = conn.execute("SELECT dedupe_key, status, provider_id, recipient FROM ops.messages WHERE brand_id = %s",
                            (tenant.brand_id,)).fetchall()  # fmt: skip
    assert len(rows) == LOANS and {r["status"] for r in rows} == {"sent"}
    assert len({r["dedupe_key"] for r in rows}) == LOANS
    assert {r["provider_id"] for r in rows} == {m["message_id"] for m in outbox}
    assert sorted(r["recipient"] for r in rows) == sorted(phones)
    run = _run_status(client, tenant, run_id)
    assert run["attempt"] == 2 and "scheduler.run_orphaned" in log.read_text()


@pytest.mark.timeout(600)  # a fresh `serve` process on a loaded machine
def test_a_worker_killed_mid_page_has_logged_every_provider_call_it_made(
    client: Any, platform: Any, dsn: str, sms: KillingSms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One page of all LOANS sends. The provider holds the KILL_AT-th answer a second (the page's other sends end
    # meanwhile), then kills the worker: the calls it made and heard back from are in the provider-call log. Before,
    # a page's rows were kept in memory for its end (`calls_logged_together`) and the kill lost every one.
    tenant, _ = _brand_due_today(client, platform, sms, monkeypatch, batch_size=LOANS)
    log = tmp_path / "workers.log"
    worker, _ = _worker(dsn, 0, log)
    try:
        sms.victim, sms.pause = worker.pid, 1.0
        accepted = client.post("/api/v1/jobs/borrower-notifications/runs", json={}, headers=tenant.auth)
        assert accepted.status_code == 202, accepted.text
        assert worker.wait(timeout=300) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    answered = sms.accepted - 1  # every send the provider took but the one whose answer it held
    with platform.db.pool.connection() as conn:
        logged = conn.execute("SELECT count(*) AS n FROM ops.provider_calls WHERE brand_id = %s AND kind = 'send_sms' "
                              "AND outcome = 'ok'", (tenant.brand_id,)).fetchone()["n"]  # fmt: skip
        recorded = conn.execute("SELECT count(*) AS n FROM ops.messages WHERE brand_id = %s AND status = 'sent'",
                                (tenant.brand_id,)).fetchone()["n"]  # fmt: skip
    assert recorded == 0  # the page's outcomes were never recorded: the worker died inside it
    assert KILL_AT - 1 <= logged <= answered, (logged, answered)
