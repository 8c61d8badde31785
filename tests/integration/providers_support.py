"""Shared helpers of the provider client tests: a call log in PostgreSQL, a directory over simulators, no waiting."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.postgres import Database
from adapters.providers.call_log import ProviderCallLog
from adapters.providers.directory import ProviderDirectory
from adapters.providers.http import ProviderConfig
from domain.providers.calls import Caller


class RecordingSleep:
    """Stands in for time.sleep in the retries: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def call_log(dsn: str) -> Iterator[ProviderCallLog]:
    """The outbound call log in the test database."""
    db = Database(dsn, min_size=1, max_size=4)
    db.ensure_schemas()
    log = ProviderCallLog(db.pool)
    log.setup()
    yield log
    db.close()


def directory_for(call_log: ProviderCallLog, sleep: RecordingSleep, **urls: str) -> ProviderDirectory:
    """A directory whose services point at the given simulators, with quick timeouts and recorded waits."""
    configs = {
        service: ProviderConfig(service, url, "sim-key", timeout=2.0, max_retries=2, backoff_base=0.05)
        for service, url in urls.items()
    }
    return ProviderDirectory(configs, call_log, sleep=sleep)


def caller() -> Caller:
    """A call made for a new brand and customer (so each test reads only its own log rows)."""
    return Caller(uuid.uuid4(), uuid.uuid4())


def logged(call_log: ProviderCallLog, who: Caller) -> list[dict[str, Any]]:
    """The call log rows of a caller's brand, oldest first."""
    with call_log.pool.connection() as conn:
        rows = conn.execute(
            "SELECT * FROM ops.provider_calls WHERE brand_id = %s ORDER BY at, latency_ms", (who.brand_id,)
        ).fetchall()
    return [dict(row) for row in rows]
