"""`covenant-desk serve` stopped by a signal ends its embedded PostgreSQL when it is the server's last user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _free_port
from tests.support import ROOT


class Serve:
    """A real `covenant-desk serve` process on a data directory of the test's own."""

    def __init__(self, var: Path) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
        env.update(COVENANT_DESK_VAR=str(var), LOG_LEVEL="WARNING")
        self.log = (var.parent / f"serve-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            assert self.process.poll() is None, Path(self.log.name).read_text()
            assert time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.2)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=60)
        finally:
            self.log.close()


def _postmaster(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for every purpose but its exit status; psutil-free check through /proc.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[1].startswith("Z"))


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory for both tests: the second starts on what the first stopped (it must be reusable)."""
    return tmp_path_factory.mktemp("serve") / "var"


def test_sigterm_ends_the_embedded_postgres_when_its_last_user_goes(var: Path) -> None:
    pgdata = var / "pgdata"
    first, second = Serve(var), Serve(var)  # Both start on the directory: one server, two users.
    first.wait_healthy()
    second.wait_healthy()
    postmaster = _postmaster(pgdata)
    # A user that died without cleaning up (SIGKILL) must not keep the server alive for ever.
    dead = subprocess.Popen(["true"])
    dead.wait()
    users = pgdata / ".handle_pids.json"
    users.write_text(json.dumps([*json.loads(users.read_text()), dead.pid]))

    assert first.stop(signal.SIGTERM) == 0
    assert _running(postmaster) and second.healthy(), "the server stopped while another process still used it"

    assert second.stop(signal.SIGTERM) == 0
    assert _wait_gone(postmaster), "the embedded PostgreSQL outlived its last user"
    assert not (pgdata / "postmaster.pid").exists()


def test_sigint_ends_the_embedded_postgres_on_a_reused_data_directory(var: Path) -> None:
    pgdata = var / "pgdata"
    serve = Serve(var)  # After the SIGTERM test, on the directory it left: it must be free to start on.
    serve.wait_healthy()
    postmaster = _postmaster(pgdata)
    assert serve.stop(signal.SIGINT) == 0
    assert _wait_gone(postmaster), "the embedded PostgreSQL outlived Ctrl-C"
    assert not (pgdata / "postmaster.pid").exists()
