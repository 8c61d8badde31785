"""The `mandate-debits` job's worker (a real `covenant-desk serve`) SIGKILLed while it presents a UPI Autopay debit:
the debit is noted (`ops.mandate_debits`, before the gateway is called), and either the gateway never took it or it
took it and the answer was lost. A second worker retries the run: the debit is presented again under the same
reference - taken once by the gateway - and its capture records the repayment once (docs/loans.md, "The
`mandate-debits` job").

Before, the noted debit without the gateway's order counted as in flight for ever: when the gateway never took it, no
run presented that instalment again, and the borrower's instalment was never collected by the mandate.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from adapters.providers.directory import ProviderDirectory
from adapters.simulators.base import WebhookDelivery
from adapters.simulators.gateway import GatewaySimulator
from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.jobs.application import Jobs
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.e2e.blackbox import poll
from tests.e2e.conftest import served
from tests.e2e.kill_support import run_status as _run_status
from tests.e2e.kill_support import until_succeeded as _until_succeeded
from tests.e2e.kill_support import worker as _worker
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date

# A database of its own (tests/own_database.py): the workers lead the scheduler over every brand of their database.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import settle

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests

DUE = date(2026, 2, 28)  # instalment 1 of the servicing tests' loan: 8037.57


class KillingGateway(GatewaySimulator):
    """The gateway simulator; the first debit it is asked for SIGKILLs the worker: before the gateway takes it
    (`took` False), or after (`took` True: the debit is taken and its capture held back until `release`)."""

    def __init__(self) -> None:
        super().__init__(webhook_secret=PROVIDER_WEBHOOK_SECRET)
        self.victim: int | None = None
        self.took = False
        self.debits_asked: list[str] = []
        self.held: list[tuple[str, str, dict[str, Any]]] | None = None

    async def _debit(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.debits_asked.append(str(body.get("reference")))
        if self.victim is None:
            return await super()._debit(request)
        answer = Response(status_code=503)
        if self.took:
            self.held = []
            answer = await super()._debit(request)
        os.kill(self.victim, signal.SIGKILL)
        self.victim = None
        time.sleep(0.2)  # the worker is gone: nobody reads the answer
        return answer

    def send_webhook_later(self, url: str, event_type: str, data: dict[str, Any], *, event_id: str | None = None,
                           delay: float = 0.0) -> Future[WebhookDelivery]:  # fmt: skip
        if self.held is not None and event_type.startswith("payment."):
            self.held.append((url, event_type, data))
            return Future()
        return super().send_webhook_later(url, event_type, data, event_id=event_id, delay=delay)

    def release(self) -> None:
        """Send the webhooks held back."""
        held, self.held = self.held or [], None
        for url, event_type, data in held:
            self.send_webhook_later(url, event_type, data)


@pytest.fixture
def gateway(platform: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[KillingGateway]:
    simulator = KillingGateway()
    url = simulator.start()
    platform.get(ProviderDirectory).configure_url("gateway", url)
    monkeypatch.setenv("PROVIDER_GATEWAY_URL", url)  # the workers' gateway
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    yield simulator
    simulator.stop()


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    """This test's app over HTTP (the gateway's webhooks reach it here)."""
    with served(app) as url:
        yield url


@pytest.mark.timeout(900)  # two fresh `serve` processes, each starting on a loaded machine
@pytest.mark.parametrize("took", [False, True], ids=["before-the-gateway-took-it", "after-the-gateway-took-it"])
def test_a_debit_noted_by_a_killed_worker_is_presented_again_by_the_retry_and_paid_once(
    platform: Any, dsn: str, server: str, gateway: KillingGateway, tmp_path: Path, took: bool
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, date(2026, 1, 31))
    loan_id = disbursed_loan(platform, tenant)
    made = httpx.post(f"{server}/api/v1/loans/{loan_id}/mandates", json={"vpa": "meera@okbank",
                      "max_amount": "10000.00"}, headers=tenant.auth)  # fmt: skip
    assert made.status_code == 201, made.text
    mandates = f"{server}/api/v1/loans/{loan_id}/mandates"
    gateway.approve_mandate(made.json()["approval_url"].rstrip("/").split("/")[-2]).result(timeout=30)
    poll(lambda: httpx.get(mandates, headers=tenant.auth).json()["items"], lambda m: m[0]["state"] == "active")
    set_business_date(platform, tenant, DUE)
    configured = httpx.patch(f"{server}/api/v1/jobs/mandate-debits", json={"retry_interval_seconds": 0},
                             headers=tenant.auth)  # fmt: skip
    assert configured.status_code == 200, configured.text

    log = tmp_path / "workers.log"
    first, _ = _worker(dsn, 0, log)
    try:
        gateway.victim, gateway.took = first.pid, took
        accepted = httpx.post(f"{server}/api/v1/jobs/mandate-debits/runs", json={"as_of": DUE.isoformat()},
                              headers=tenant.auth)  # fmt: skip
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        assert first.wait(timeout=300) == -signal.SIGKILL, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    noted = httpx.get(mandates, headers=tenant.auth).json()["items"][0]["debits"]
    assert [(d["state"], d["order_id"]) for d in noted] == [("presented", None)]  # noted; its order never was
    settle(platform, Jobs.name)
    assert _run_status(httpx.Client(base_url=server), tenant, run_id)["status"] == "running"

    second, _ = _worker(dsn, 0, log)
    try:
        _until_succeeded(httpx.Client(base_url=server), tenant, run_id, log, 300)
    finally:
        second.terminate()
        second.wait(timeout=30)

    # Presented again under the same reference, which the gateway takes once (a second time it answers
    # `duplicate_reference`: the debit is kept, and its capture, held back till now, finds it). One repayment.
    assert gateway.debits_asked == [noted[0]["reference"]] * 2
    gateway.release()
    debits = poll(lambda: httpx.get(mandates, headers=tenant.auth).json()["items"][0]["debits"],
                  lambda d: d[0]["state"] == "paid")  # fmt: skip
    assert len(debits) == 1 and debits[0]["state"] == "paid"
    repayments = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
    assert [(r["mode"], r["id"]) for r in repayments] == [("upi_autopay", debits[0]["repayment_id"])]
