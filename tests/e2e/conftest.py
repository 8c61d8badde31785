"""Fixtures of the portal browser tests: a real uvicorn server, Debian's Chromium, a staff login."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "portal-pass-2026"
#: How long the tests' server keeps an idle keep-alive connection (`served`): longer than any pause of a test's client.
KEEP_ALIVE_SECONDS = 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(app: Any, stop_seconds: float = 5.0) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port while in the block: its URL (then `stop_seconds` at most for
    the server to stop).

    Idle keep-alive connections are kept for `KEEP_ALIVE_SECONDS`, not uvicorn's 5 s: a test's client pools its
    connections and may pause longer than 5 s between requests (a COB run executed in the test's own process, a busy
    machine), and a connection the server closed just as the client sent on it answered "Connection reset by peer"
    (a clean-clone CI run failed the lending edges walk so)."""
    port = _free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, timeout_keep_alive=KEEP_ALIVE_SECONDS
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=stop_seconds)


@pytest.fixture(scope="session")
def server(app: Any) -> Iterator[str]:
    """The session's ASGI app served by uvicorn on a free loopback port (started once, like the platform)."""
    with served(app) as url:
        yield url


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Any]:
    """Debian's Chromium, launched once per session (a launch costs seconds; each test gets fresh contexts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture
def browser(_chromium: Any) -> Iterator[Any]:
    """The session's Chromium; the pages and contexts a test opens are closed after it, so no test sees another's
    cookies or pages and no page left open keeps polling the server."""
    yield _chromium
    for context in list(_chromium.contexts):
        context.close()


@pytest.fixture
def staff(platform: Any) -> tuple[Any, str]:
    tenant = make_tenant(platform)
    email = f"ops-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Priya Ops", ["admin"], PASSWORD, granter=OPERATOR)
    return tenant, email


def login(page: Any, server: str, email: str) -> None:
    page.goto(f"{server}/customers")
    assert "/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/customers")
