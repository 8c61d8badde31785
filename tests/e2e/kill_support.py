"""Support of the kill tests (tests/e2e/test_*_kill.py): a real `covenant-desk serve` process started and waited for,
a job run's status read and waited for, and an SMTP server that SIGKILLs the worker sending to it at a chosen message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from adapters.mail_sink import free_port
from tests.support import ROOT


def serve(dsn: str, log: Path, env: dict[str, str] | None = None, workers: bool = True,
          what: str = "worker") -> tuple[subprocess.Popen[bytes], str]:  # fmt: skip
    """A `covenant-desk serve` process on `dsn` (the API and, unless `workers` is False, the workers) with `env` added
    to this process's environment, its output appended to `log`: the process and its URL, once its /health answers
    (killed, and the log's tail raised, if it exits or has not answered in 120 s)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "serve", *([] if workers else ["--no-workers"]), "--port", str(port)],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": dsn, **(env or {})}, stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
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
    raise AssertionError(f"the {what} did not start: " + log.read_text()[-3000:])


def worker(dsn: str, smtp_port: int, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A `serve` process (API and workers) on `dsn` mailing to the SMTP server on loopback port `smtp_port`."""
    return serve(dsn, log, {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port)})


def run_status(client: Any, tenant: Any, run_id: str) -> dict[str, Any]:
    """A job run as the API answers it."""
    return dict(client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json())


def until_succeeded(client: Any, tenant: Any, run_id: str, log: Path, seconds: float) -> None:
    """Wait for the run to succeed (a fresh worker first catches up every projection); the workers' log if not."""
    deadline = time.monotonic() + seconds
    while (run := run_status(client, tenant, run_id))["status"] != "succeeded":
        if time.monotonic() >= deadline:
            text = log.read_text()
            mentions = [line for line in text.splitlines() if run_id in line]
            raise AssertionError("\n".join([str(run), *mentions[-10:], text[-3000:]]))
        time.sleep(0.5)


class KillingSmtpServer:
    """An SMTP server keeping every accepted message; on message `kill_at` (counted from its first), once `victim`
    is set, it SIGKILLs the victim before answering - `pause` seconds after the message arrived, so the sender is
    waiting for that answer - and the victim dies not knowing the message was taken."""

    def __init__(self, kill_at: int, pause: float = 0.0) -> None:
        self.kill_at = kill_at
        self.pause = pause
        self.messages: list[Any] = []
        self.victim: int | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            if len(self.messages) == self.kill_at and self.victim is not None:
                time.sleep(self.pause)
                os.kill(self.victim, signal.SIGKILL)
                self.victim = None
                time.sleep(0.2)  # the worker is gone before it could read this answer
        return "250 Message accepted for delivery"


@contextmanager
def killing_smtp(kill_at: int, pause: float = 0.0) -> Iterator[tuple[KillingSmtpServer, int]]:
    """A KillingSmtpServer on a free loopback port while in the block: the server and its port."""
    handler = KillingSmtpServer(kill_at, pause)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
