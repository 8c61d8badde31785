"""The outbound call log: one row per provider call (what, for whom, how it went, how long), never a payload.

Operational data, not business history: kept in `ops.provider_calls`, written by `ProviderHttp` after each call,
read by `projections.provider_calls.ProviderCallQueries` (the admin list). A failing write is logged and
swallowed: the log must never fail the call it records.

Each call's row is committed before `record` returns, so a process killed later (mid-batch) loses no row of a call
that had ended. Calls ending at once in several threads (a batch job's pool of senders) share a commit (a group
commit: one thread writes every row waiting, in one `COPY`, while the others wait for it), so a page of sends
costs a few commits rather than one each. (They were kept for the end of the page before, and a process killed
inside the page lost them.)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from threading import Condition, Lock
from typing import Any, Protocol
from uuid import UUID

import structlog

log = structlog.get_logger(__name__)

OK = "ok"
ERROR = "error"
MAX_ERROR_CHARS = 300

DDL: Sequence[str] = (
    """CREATE TABLE IF NOT EXISTS ops.provider_calls (
        id uuid PRIMARY KEY,
        brand_id uuid,
        customer_id uuid,
        provider text NOT NULL,
        vendor text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL CHECK (status IN ('ok', 'error')),
        outcome text NOT NULL,
        http_status int,
        latency_ms int NOT NULL,
        attempts int NOT NULL,
        error text,
        at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS provider_calls_brand_idx ON ops.provider_calls (brand_id, at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS provider_calls_provider_idx "
    "ON ops.provider_calls (brand_id, provider, at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS provider_calls_status_idx ON ops.provider_calls (brand_id, status, at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS provider_calls_customer_idx "
    "ON ops.provider_calls (customer_id, at DESC) WHERE customer_id IS NOT NULL",
)


@dataclass(frozen=True)
class CallRecord:
    """One provider call as logged. `outcome`: ok, rejected (the provider refused the request) or unavailable."""

    provider: str  # the service: sms, pan, bureau, ...
    vendor: str  # the configured provider behind it ("simulator", a vendor's name)
    kind: str  # the request kind: send_sms, verify_pan, pull_report, ...
    brand_id: UUID | None
    customer_id: UUID | None
    outcome: str
    http_status: int | None
    latency_ms: int
    attempts: int
    error: str | None
    at: datetime
    id: UUID = field(default_factory=uuid.uuid4)

    @property
    def status(self) -> str:
        """ok or error."""
        return OK if self.outcome == OK else ERROR


class CallRecorder(Protocol):
    """Where `ProviderHttp` records each call."""

    def record(self, call: CallRecord) -> None: ...


_COLUMNS = (
    "id, brand_id, customer_id, provider, vendor, kind, status, outcome, http_status, latency_ms, attempts, error, at"
)
_COPY = f"COPY ops.provider_calls ({_COLUMNS}) FROM STDIN"


def _row(call: CallRecord) -> tuple[Any, ...]:
    error = call.error[:MAX_ERROR_CHARS] if call.error else None
    return (call.id, call.brand_id, call.customer_id, call.provider, call.vendor, call.kind, call.status, call.outcome,
            call.http_status, call.latency_ms, call.attempts, error, call.at)  # fmt: skip


class ProviderCallLog:
    """The call log in PostgreSQL (`ops.provider_calls`)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        # The group commit: rows waiting for a writer, whether one is writing, how many rows were queued and written.
        self._turn = Condition()
        self._waiting: list[CallRecord] = []
        self._writing = False
        self._queued = 0
        self._written = 0

    def setup(self) -> None:
        """Create the table and its indexes (idempotent)."""
        with self.pool.connection() as conn:
            for statement in DDL:
                conn.execute(statement)

    def record(self, call: CallRecord) -> None:
        """Insert the row, committed when this returns - together with the rows of calls ending meanwhile in other
        threads (one `COPY`); a database failure is logged, never raised."""
        with self._turn:
            self._waiting.append(call)
            self._queued += 1
            mine = self._queued
            while self._written < mine:
                if self._writing:  # another thread is writing: its commit or the next one carries this row
                    self._turn.wait()
                    continue
                rows, self._waiting = self._waiting, []
                through, self._writing = self._queued, True
                self._turn.release()
                try:
                    self.record_many(rows)
                finally:
                    self._turn.acquire()
                    self._writing, self._written = False, through
                    self._turn.notify_all()

    def record_many(self, calls: Sequence[CallRecord]) -> None:
        """Insert the rows in one statement (COPY); a database failure is logged, never raised."""
        if not calls:
            return
        try:
            with self.pool.connection() as conn, conn.cursor() as cursor:
                with cursor.copy(_COPY) as copy:
                    for call in calls:
                        copy.write_row(_row(call))
        except Exception as exc:  # noqa: BLE001 - the log never fails the calls it records
            log.warning("provider_call_log.write_failed", calls=len(calls), error=str(exc)[:200])

    def purge(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` calls made before `before`; returns how many (the housekeeping job's)."""
        with self.pool.connection() as conn:
            cur = conn.execute(
                "DELETE FROM ops.provider_calls WHERE id IN (SELECT id FROM ops.provider_calls WHERE at < %s LIMIT %s)",
                (before, limit),
            )
            return int(cur.rowcount)


class MemoryCallLog:
    """The call log in a list (for tests of code that makes calls without a database)."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self._lock = Lock()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self.calls.append(call)
