"""The outbound call log: one row per provider call (what, for whom, how it went, how long), never a payload.

Operational data, not business history: kept in `ops.provider_calls`, written by `ProviderHttp` after each call,
read by `projections.provider_calls.ProviderCallQueries` (the admin list). A failing write is logged and
swallowed: the log must never fail the call it records.

Rows are written by the log's writer thread, which takes every row waiting at once (one `COPY`, one commit: calls
ending together in several threads share a commit). A call outside a batch waits for its row's commit before
`record` returns, so what a request did is in the admin list when it answers. Inside `calls_written_behind()` (a batch
job's page of sends) the sender does not wait: its row is committed a moment later, while it sends the next message,
and the block ends only when every row handed over in it is committed - so a worker killed mid-page loses at most the
rows of the calls that ended in the last few milliseconds (as it loses the calls still in flight), not the page's
(they were kept for the page's end before), and waiting for a commit per call does not slow the senders.
"""

from __future__ import annotations

import atexit
import uuid
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from threading import Condition, Lock, Thread
from typing import Any, Protocol
from uuid import UUID

import structlog

from domain.shared.ddl import unless_present

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
#: How long the writer thread waits for a row before it ends.
IDLE_SECONDS = 30.0
_COPY = f"COPY ops.provider_calls ({_COLUMNS}) FROM STDIN"
#: The logs handed rows in the innermost open `calls_written_behind` block of this context (None: no block is open).
_BEHIND: ContextVar[set[ProviderCallLog] | None] = ContextVar("provider_calls_behind", default=None)
#: Every log with a writer, flushed when the process exits normally.
_LOGS: weakref.WeakSet[ProviderCallLog] = weakref.WeakSet()


@contextmanager
def calls_written_behind() -> Iterator[None]:
    """Calls recorded in this block - in this thread and in threads running copies of its context (a pool of
    senders) - hand their rows to the log's writer without waiting for the commit; the block ends once every one of
    them is committed."""
    logs: set[ProviderCallLog] = set()
    token = _BEHIND.set(logs)
    try:
        yield
    finally:
        _BEHIND.reset(token)
        for call_log in list(logs):
            call_log.flush()


@atexit.register
def _flush_at_exit() -> None:
    for call_log in list(_LOGS):
        call_log.flush(timeout=5.0)


def _row(call: CallRecord) -> tuple[Any, ...]:
    error = call.error[:MAX_ERROR_CHARS] if call.error else None
    return (call.id, call.brand_id, call.customer_id, call.provider, call.vendor, call.kind, call.status, call.outcome,
            call.http_status, call.latency_ms, call.attempts, error, call.at)  # fmt: skip


class ProviderCallLog:
    """The call log in PostgreSQL (`ops.provider_calls`)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        # Rows waiting for the writer thread, and how many were handed over and committed (or given up).
        self._turn = Condition()
        self._waiting: list[CallRecord] = []
        self._queued = 0
        self._written = 0
        self._writer: Thread | None = None

    def setup(self) -> None:
        """Create the table and its indexes (idempotent)."""
        with self.pool.connection() as conn:
            for statement in DDL:
                conn.execute(unless_present(statement))

    def record(self, call: CallRecord) -> None:
        """Hand the row to the writer thread (it commits together every row waiting) and wait for its commit -
        except inside `calls_written_behind()`, which waits for them all at its end; a database failure is logged,
        never raised."""
        behind = _BEHIND.get()
        with self._turn:
            self._waiting.append(call)
            self._queued += 1
            mine = self._queued
            if self._writer is None or not self._writer.is_alive():
                self._writer = Thread(target=self._write_on, name="provider-call-log", daemon=True)
                self._writer.start()
                _LOGS.add(self)
            self._turn.notify_all()
            if behind is not None:
                behind.add(self)
                return
            self._turn.wait_for(lambda: self._written >= mine)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row handed over so far is committed (or given up); False when `timeout` ran out."""
        with self._turn:
            through = self._queued
            return self._turn.wait_for(lambda: self._written >= through, timeout)

    def _write_on(self) -> None:
        """The writer thread: every row waiting in one statement, again and again; asleep while none waits, and gone
        after `IDLE_SECONDS` without a row (the next `record` starts another)."""
        while True:
            with self._turn:
                if not self._turn.wait_for(lambda: bool(self._waiting), IDLE_SECONDS):
                    self._writer = None
                    return
                rows, self._waiting = self._waiting, []
                through = self._queued
            try:
                self.record_many(rows)
            finally:
                with self._turn:
                    self._written = through
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
