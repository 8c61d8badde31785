"""A command whose read model has not caught up answers 202 Accepted with the resource's Location, never a 404."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
import structlog
from starlette.testclient import TestClient

from api import endpoint
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.support import copy_database_dsn, drop_database


@pytest.fixture
def still_platform(mail_sink: Any, platform_template: str) -> Iterator[Any]:
    """A platform on a database of its own whose projections do not run until the test starts them."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    dsn = copy_database_dsn(platform_template)
    platform = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
    yield platform
    platform.close()
    drop_database(dsn)


def test_a_write_whose_read_model_lags_is_accepted_with_its_location_then_readable(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.web_app import build_app

    p = still_platform
    brand = p.get(Identity).create_brand("still", "Still Brand")  # keys are checked on the aggregate, not a view
    auth = {
        "Authorization": "Bearer " + p.get(Identity).issue_api_key(brand.id, "admin", "key", granter=OPERATOR).secret
    }
    monkeypatch.setattr(endpoint, "READ_YOUR_WRITES_SECONDS", 0.2)
    with TestClient(build_app(lambda: p, close_platform=False)) as client:
        added = client.post(
            "/api/v1/blocklist",
            json={"kind": "pincode", "value": "110011", "reason": "flood zone"},
            headers=auth,
        )
        assert added.status_code == 202, added.text
        location = added.headers["location"]
        assert added.json() == {
            "id": location.rsplit("/", 1)[1],
            "status": "accepted",
            "location": location,
            "position": added.json()["position"],
        }
        assert client.get("/api/v1/blocklist", headers=auth).json()["items"] == []  # not projected yet
        p.start_projection_runners()
        deadline = time.monotonic() + 10
        while not (items := client.get("/api/v1/blocklist", headers=auth).json()["items"]):
            assert time.monotonic() < deadline, "the read model never caught up"
            time.sleep(0.05)
        assert [i["id"] for i in items] == [added.json()["id"]]
        again = client.post(
            "/api/v1/blocklist",
            json={"kind": "pincode", "value": "110012", "reason": "flood zone"},
            headers=auth,
        )
        assert again.status_code == 201 and again.json()["value"] == "110012"


def test_a_registration_whose_directory_lags_is_accepted_with_the_borrowers_location(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.web_app import build_app

    p = still_platform
    brand = p.get(Identity).create_brand("still-c", "Still Customers")
    auth = {
        "Authorization": "Bearer " + p.get(Identity).issue_api_key(brand.id, "admin", "key", granter=OPERATOR).secret
    }
    monkeypatch.setattr(endpoint, "READ_YOUR_WRITES_SECONDS", 0.2)
    with TestClient(build_app(lambda: p, close_platform=False)) as client:
        registered = client.post(
            "/api/v1/customers", json={"name": "Asha Kulkarni", "phone": "98765 43210"}, headers=auth
        )
        assert registered.status_code == 202, registered.text
        location = registered.headers["location"]
        assert location == f"/api/v1/customers/{registered.json()['id']}" == registered.json()["location"]
        assert "etag" not in registered.headers  # no version to promise before the read model has one
        assert client.get(location, headers=auth).status_code == 404  # not projected yet: a read may say so
        p.start_projection_runners()
        deadline = time.monotonic() + 10
        while (shown := client.get(location, headers=auth)).status_code != 200:
            assert time.monotonic() < deadline, "the read model never caught up"
            time.sleep(0.05)
        assert shown.json()["name"] == "Asha Kulkarni" and shown.headers["etag"] == '"1"'
        linked = client.post(f"{location}/loan-numbers", json={"loan_number": "sm-1"}, headers=auth)
        assert linked.status_code == 201 and linked.json()["loan_numbers"] == ["SM-1"]


def test_a_borrower_registered_in_the_portal_while_the_directory_lags_is_shown_as_saved(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.web_app import build_app

    monkeypatch.setattr(endpoint, "READ_YOUR_WRITES_SECONDS", 0.2)  # the portal waits the API's bound too
    p = still_platform
    brand = p.get(Identity).create_brand("still-p", "Still Portal")
    p.get(Identity).create_staff(brand.id, "ops@still.in", "Priya Ops", ["admin"], "portal-pass-2026", granter=OPERATOR)
    with TestClient(build_app(lambda: p, close_platform=False), follow_redirects=False) as client:
        signed_in = client.post("/login", data={"email": "ops@still.in", "password": "portal-pass-2026"})
        assert signed_in.status_code == 303
        form = client.get("/customers/new")
        token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        saved = client.post(
            "/customers/new", data={"csrf_token": token, "name": "Asha Kulkarni", "phone": "98765 43210"}
        )
        assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=pending")
        pending = client.get(saved.headers["location"])
        assert pending.status_code == 202 and "Borrower registered" in pending.text  # not a 404
        p.start_projection_runners()
        deadline = time.monotonic() + 10
        while (shown := client.get(saved.headers["location"])).status_code != 200:
            assert time.monotonic() < deadline, "the read model never caught up"
            time.sleep(0.05)
        assert "Asha Kulkarni" in shown.text and 'id="timeline"' in shown.text


def test_a_job_reading_a_lagging_read_model_is_told_and_says_so_in_the_log(still_platform: Any) -> None:
    p = still_platform
    p.get(Identity).create_brand("still-j", "Still Jobs")
    with structlog.testing.capture_logs() as logs:
        assert p.engine.caught_up("identity", 0.2, "a test job") is False
    (warning,) = [entry for entry in logs if entry["event"] == "projection.read_model_lagging"]
    assert warning["log_level"] == "warning" and warning["source"] == "identity"
    assert warning["purpose"] == "a test job" and warning["head"] == p.engine.head("identity") > 0
    p.start_projection_runners()
    with structlog.testing.capture_logs() as logs:
        assert p.engine.caught_up("identity", 30, "a test job") is True
    assert not [entry for entry in logs if entry["event"] == "projection.read_model_lagging"]


def _counting_reads(
    engine: Any, monkeypatch: pytest.MonkeyPatch, after_first: Callable[[], None] | None = None
) -> list[int]:
    """Count the engine pool's connections taken from now on (a wait's reads of the tracking, in these tests);
    `after_first` runs once the first of them is given back."""
    original = engine.pool.connection
    reads: list[int] = []

    @contextmanager
    def connection(*args: Any, **kwargs: Any) -> Iterator[Any]:
        reads.append(1)
        with original(*args, **kwargs) as conn:
            yield conn
        if after_first is not None and len(reads) == 1:
            after_first()

    monkeypatch.setattr(engine.pool, "connection", connection)
    return reads


def test_a_batch_landing_between_a_waits_read_and_its_sleep_still_wakes_it(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lost wake-up: wait_for reads the tracking (behind), then an in-process batch catches up and notifies before
    # the wait has begun to listen. The wait must read again at once, not sleep a whole poll.
    p = still_platform
    engine = p.engine
    p.get(Identity).create_brand("still-w", "Still Wakes")
    head = engine.head("identity")
    identity = [name for name, projection in engine.projections.items() if projection.source == "identity"]
    original = engine.pool.connection

    def batches_land() -> None:  # right after the wait's first read: the runner's batches land (and notify) here
        for name in identity:
            with original() as other:  # one batch covers the few events since the platform opened
                engine.process_batch(other, engine.projection(name), limit=10_000)

    reads = _counting_reads(engine, monkeypatch, after_first=batches_land)
    monkeypatch.setattr(engine, "POLL_SECONDS", 60.0)  # a wait that missed the notice would sleep to the deadline
    began = time.monotonic()
    assert engine.wait_for("identity", head, timeout=20)
    assert time.monotonic() - began < 10
    assert len(reads) == 2  # the read that found it behind, and one more straight after the batches


def test_a_wait_reads_the_tracking_again_once_every_projection_it_waits_for_is_there_not_after_each_batch(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A source's runner moves its projections one after another; each batch wakes the waits of the process. A wait
    # reads the tracking again when the batches have moved every projection it found behind, not once a batch.
    p = still_platform
    engine = p.engine
    p.get(Identity).create_brand("still-r", "Still Reads")
    head = engine.head("identity")
    identity = [engine.projection(n) for n, pr in engine.projections.items() if pr.source == "identity"]
    assert len(identity) >= 3
    conns = [engine.pool.getconn() for _ in identity]  # taken before the count begins
    reads = _counting_reads(engine, monkeypatch)
    monkeypatch.setattr(engine, "POLL_SECONDS", 60.0)  # only the in-process batches can end the wait early
    landed: list[int] = []

    def runner() -> None:
        time.sleep(0.3)  # the wait has read (all behind) and sleeps
        for conn, projection in zip(conns, identity, strict=True):
            landed.append(engine.process_batch(conn, projection, limit=10_000))
            time.sleep(0.05)  # each batch wakes the wait on its own

    thread = threading.Thread(target=runner)
    thread.start()
    try:
        assert engine.wait_for("identity", head, timeout=20)
    finally:
        thread.join()
        for conn in conns:
            engine.pool.putconn(conn)
    assert len(landed) == len(identity) and all(landed)
    assert len(reads) == 2  # the read that found every projection behind, and one after the last batch


def test_a_position_committed_before_the_read_does_not_end_the_wait_nor_keep_it_reading(
    still_platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's batches moved every projection to the head; then a rebuild elsewhere set one back to 0. The
    # wait must trust the tracking, not what this process last committed, and poll for the other process's progress
    # (not read in a busy loop).
    p = still_platform
    engine = p.engine
    p.get(Identity).create_brand("still-b", "Still Rebuilt")
    head = engine.head("identity")
    identity = [n for n, pr in engine.projections.items() if pr.source == "identity"]
    with engine.pool.connection() as conn:
        for name in identity:
            engine.process_batch(conn, engine.projection(name), limit=10_000)
        conn.execute("UPDATE ops.projection_tracking SET position = 0 WHERE projection = %s", (identity[0],))
    reads = _counting_reads(engine, monkeypatch)
    monkeypatch.setattr(engine, "POLL_SECONDS", 0.1)
    began = time.monotonic()
    assert engine.wait_for("identity", head, timeout=0.5) is False
    assert time.monotonic() - began >= 0.5
    assert 4 <= len(reads) <= 8  # a read a poll, about 0.5 / 0.1 + 1

    def elsewhere() -> None:  # the other process's rebuild reaches the head again
        time.sleep(0.2)
        with psycopg.connect(p.dsn, autocommit=True) as other:
            other.execute("UPDATE ops.projection_tracking SET position = %s WHERE projection = %s", (head, identity[0]))

    thread = threading.Thread(target=elsewhere)
    thread.start()
    try:
        assert engine.wait_for("identity", head, timeout=20)
    finally:
        thread.join()
