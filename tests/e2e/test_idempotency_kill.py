"""An API request with an Idempotency-Key whose `covenant-desk serve` process is SIGKILLed after its command was
recorded and before its answer was stored: the client's retry with the same key never records the command again
(docs/api.md, "Retries and concurrency").

The moment is chosen with a lock the test holds on the notes' read table: the request has committed its note and
waits for its read model (read-your-writes) when the test kills the process. Before, the reservation the dead
request left was taken over after five minutes and the command run again: a second note.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from adapters.mail_sink import free_port
from domain.customers.application import Customers
from domain.customers.values import Address
from tests.conftest import make_tenant

# A database of its own (tests/own_database.py): the process runs the projections and the scheduler over it.
from tests.own_database import own_app, own_dsn, own_platform  # noqa: F401
from tests.support import ROOT, mobile, settle


@pytest.mark.timeout(600)
def test_a_keyed_request_killed_after_its_command_was_recorded_is_never_run_again(
    client: Any, platform: Any, dsn: str, tmp_path: Path
) -> None:
    tenant = make_tenant(platform)
    customer = platform.get(Customers).register(
        tenant.brand_id, name="Meera Iyer", phone="+91" + mobile("9"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    settle(platform, Customers.name)
    table = platform.get(Customers).recorder.events_table_name
    key, body = "note-" + uuid.uuid4().hex, {"text": "Promised to pay on Friday " + uuid.uuid4().hex[:6]}
    headers = tenant.auth | {"Idempotency-Key": key}
    path = f"/api/v1/customers/{customer.id}/notes"

    port, log = free_port(), tmp_path / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", "--port", str(port)], cwd=ROOT,
        env={**os.environ, "DATABASE_URL": dsn}, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with psycopg.connect(dsn) as holder, psycopg.connect(dsn, autocommit=True) as watcher:
            head = watcher.execute(f"SELECT coalesce(max(notification_id), 0) FROM events.{table}").fetchone()[0]
            holder.execute("LOCK TABLE read.customer_notes IN EXCLUSIVE MODE")  # the note's read model waits
            answers: list[Any] = []

            def send() -> None:
                try:
                    answers.append(httpx.post(f"http://127.0.0.1:{port}{path}", json=body, headers=headers, timeout=60))
                except httpx.HTTPError as exc:
                    answers.append(exc)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            deadline = time.monotonic() + 4  # the request waits 5 s for its read model, then answers 202
            while watcher.execute(f"SELECT max(notification_id) FROM events.{table}").fetchone()[0] <= head:
                assert not answers and time.monotonic() < deadline, answers or "the note was never recorded"
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
            holder.rollback()
            sender.join(timeout=30)
        assert answers and isinstance(answers[0], httpx.HTTPError)  # the client never got the answer
    finally:
        if process.poll() is None:
            process.kill()

    # The client retries with the same key: while the reservation is fresh, in progress; once stale (as five minutes
    # after the death), the command is not run again.
    first = client.post(path, json=body, headers=headers)
    assert first.status_code == 409 and first.json()["type"].endswith("idempotency-in-progress"), first.text
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE ops.idempotency_keys SET created_at = now() - interval '6 minutes' WHERE key = %s", (key,))
    retry = client.post(path, json=body, headers=headers)
    assert retry.status_code == 409 and retry.json()["type"].endswith("idempotency-applied"), retry.text
    settle(platform, Customers.name)
    notes = client.get(path, headers=tenant.auth).json()["items"]
    assert [n["text"] for n in notes] == [body["text"]]  # recorded once

    # A key whose request recorded nothing before it died is still taken over and run (as before).
    other = "note-" + uuid.uuid4().hex
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO ops.idempotency_keys (brand_id, principal, key, request_hash, created_at) "
                     "SELECT brand_id, principal, %s, request_hash, now() - interval '6 minutes' "
                     "FROM ops.idempotency_keys WHERE key = %s", (other, key))  # fmt: skip
    taken = client.post(path, json=body, headers=tenant.auth | {"Idempotency-Key": other})
    assert taken.status_code in (201, 202), taken.text
