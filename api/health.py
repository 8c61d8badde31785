"""/health and /metrics' database figures, answered from a thread and a connection of their own.

Request handlers run in the server's thread pool and take connections from the shared pools; in an outage they
block there (up to the pool timeout), and a health check queued behind them would hang with them. The probe has
one thread and one connection (made with a short connect timeout and a statement timeout) that nothing else uses,
runs at most one check at a time (concurrent callers share it), and answers "down" when a check takes longer than
`timeout`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row

from projections.engine import ProjectionEngine
from projections.failures import ProjectionStatus, describe_error

log = structlog.get_logger(__name__)

#: A projection this many events behind its source makes the service "degraded".
LAG_DEGRADED = 1000


@dataclass(frozen=True)
class HealthReport:
    """The database's state and every projection's status, as of `checked_at` (monotonic seconds)."""

    database_up: bool
    projections: list[ProjectionStatus] = field(default_factory=list)
    error: str | None = None
    checked_at: float = 0.0

    @property
    def failing(self) -> list[ProjectionStatus]:
        """Projections with failed or parked events, or stopped."""
        return [s for s in self.projections if not s.healthy]

    @property
    def degraded(self) -> bool:
        return bool(self.failing) or any(s.lag > LAG_DEGRADED for s in self.projections)


class HealthProbe:
    """Checks the database and the projections on its own thread and connection; see the module docstring."""

    def __init__(self, dsn: str, engine: ProjectionEngine, timeout: float = 2.0) -> None:
        self.dsn = dsn
        self.engine = engine
        self.timeout = timeout
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
        self._running: concurrent.futures.Future[HealthReport] | None = None
        self._conn: psycopg.Connection[Any] | None = None

    async def check(self) -> HealthReport:
        """A fresh report, or "down" when the database does not answer within the timeout."""
        running = self._running
        if running is None or running.done():
            running = self._running = self._executor.submit(self._probe)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(running)), self.timeout)
        except TimeoutError:
            return HealthReport(False, error=f"no answer within {self.timeout:g} s", checked_at=time.monotonic())

    def _probe(self) -> HealthReport:
        try:
            conn = self._connection()
            conn.execute("SELECT 1")
            return HealthReport(True, self.engine.status_on(conn), checked_at=time.monotonic())
        except psycopg.Error as exc:
            self._discard()
            return HealthReport(False, error=describe_error(exc), checked_at=time.monotonic())

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._discard()
            timeout_ms = int(self.timeout * 1000)
            self._conn = psycopg.connect(
                self.dsn,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(2, int(self.timeout + 0.999)),
                options=f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
                application_name="covenant-desk health",
            )
        return self._conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error as exc:
                log.debug("health.close_failed", error=describe_error(exc))

    def close(self) -> None:
        """Close the connection and stop the thread (without waiting for a check in flight); idempotent."""
        try:
            self._executor.submit(self._discard)
        except RuntimeError:  # Closed already.
            return
        self._executor.shutdown(wait=False)
