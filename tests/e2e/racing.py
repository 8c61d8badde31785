"""Racing requests (the concurrency probes, tests/e2e/test_concurrency_*.py): the same or different requests fired at
once from several threads, each with its own keep-alive client, lined up on a barrier."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant


@dataclass(frozen=True)
class Call:
    """One request of a race."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    content: bytes | None = None  # a raw body (a signed webhook's) instead of `body`


class Racer:
    """Clients that send requests at once: one thread and one keep-alive connection each, lined up on a barrier."""

    def __init__(self, server: str, lanes: int = 4) -> None:
        self.clients = [httpx.Client(base_url=server, timeout=60) for _ in range(lanes)]
        for client in self.clients:  # each connection up before the first start (kept alive between races)
            assert client.get("/health").status_code == 200

    def close(self) -> None:
        for client in self.clients:
            client.close()

    def __call__(self, tenant: Tenant, calls: Sequence[Call]) -> list[httpx.Response]:
        """Send `calls` at once and return the answers in their order; every refusal is checked to be problem+json
        and never a 5xx."""
        assert len(calls) <= len(self.clients)
        barrier = threading.Barrier(len(calls))
        answers: list[httpx.Response | BaseException | None] = [None] * len(calls)

        def send(i: int) -> None:
            call = calls[i]
            try:
                barrier.wait(timeout=30)
                headers = call.headers or tenant.auth
                answers[i] = (
                    self.clients[i].request(call.method, call.path, content=call.content, headers=headers)
                    if call.content is not None
                    else self.clients[i].request(call.method, call.path, json=call.body, headers=headers)
                )
            except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
                barrier.abort()
                answers[i] = exc

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out: list[httpx.Response] = []
        for answer in answers:
            assert isinstance(answer, httpx.Response), f"a racing request failed: {answer!r}"
            assert answer.status_code < 500, f"{answer.request.method} {answer.request.url}: {answer.text}"
            if answer.status_code >= 400:
                assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
            out.append(answer)
        return out


@pytest.fixture(name="race")
def race_fixture(server: str) -> Iterator[Racer]:
    """A Racer of four lanes to the session's server (import `race_fixture` into a test module to use `race`)."""
    racer = Racer(server)
    yield racer
    racer.close()
