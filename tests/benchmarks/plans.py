"""What the repayment-operations benchmarks share: progress lines during long phases, and the EXPLAIN ANALYZE of
the slowest statement a call made (recorded on a wrapping pool, run again with its custom and generic plans)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from psycopg import sql as psycopg_sql

from adapters.postgres import Database
from tests.benchmarks.harness import say

PROGRESS_SECONDS = 15.0


class Ticker:
    """Says `report()` from a background thread while a long phase runs: after `every` seconds, then at doubling
    intervals up to two minutes (a long phase prints a few dozen lines, not hundreds)."""

    def __init__(self, report: Callable[[], str], every: float = PROGRESS_SECONDS) -> None:
        self.report = report
        self.every = every
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bench-progress", daemon=True)

    def _run(self) -> None:
        interval = self.every
        while not self.stopping.wait(interval):
            say(f"     ... {self.report()}")
            interval = min(interval * 2, 120.0)

    def __enter__(self) -> Ticker:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join()


class Recorder:
    """A pool whose connections note each statement (to EXPLAIN the slowest statement of a slow call)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with self.pool.connection() as conn:
            yield RecordingConnection(conn, self.statements)


class RecordingConnection:
    def __init__(self, conn: Any, statements: list[tuple[str, Any]]) -> None:
        self.conn = conn
        self.statements = statements

    def execute(self, sql: str, params: Any = None) -> Any:
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)

    def cursor(self, *args: Any, **kwargs: Any) -> RecordingConnection:
        """A cursor (with its own row factory) whose statements are noted too."""
        return RecordingConnection(self.conn.cursor(*args, **kwargs), self.statements)

    def __enter__(self) -> RecordingConnection:
        self.conn.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:  # transaction() and the rest, unrecorded
        return getattr(self.conn, name)


def _numbered(text: str, params: Any) -> tuple[str, list[Any]]:
    """A psycopg statement (%s or %(name)s placeholders, or their binary %b forms) with $1, $2, ... instead, and its
    values in that order."""
    values: list[Any] = []
    if isinstance(params, dict):
        numbers: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in numbers:
                numbers[match.group(1)] = len(numbers) + 1
                values.append(params[match.group(1)])
            return f"${numbers[match.group(1)]}"

        text = re.sub(r"(?<!%)%\((\w+)\)[sb]", number, text)
    else:
        values = list(params or ())
        counter = iter(range(1, len(values) + 1))
        text = re.sub(r"(?<!%)%[sb]", lambda _: f"${next(counter)}", text)
    return text.replace("%%", "%"), values


def explain(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """EXPLAIN ANALYZE of the slowest of the statements (all run again, in order, in one transaction), with the
    values known (a custom plan) and, when it is slower, as a generic plan: psycopg prepares a statement on its
    fifth run on a connection, and PostgreSQL may then plan it once for any values."""
    if not statements:
        return []
    timed: list[tuple[float, str, Any]] = []
    # In one transaction, in order, so that a SET LOCAL among them holds for the statements after it.
    with db.pool.connection() as conn, conn.transaction():
        for text, params in statements:
            began = time.perf_counter()
            cursor = conn.execute(text, params, prepare=False)
            if cursor.description is not None:  # a SET has no rows
                cursor.fetchall()
            timed.append(((time.perf_counter() - began) * 1000, text, params))
        custom_ms, text, params = max(timed, key=lambda t: t[0])
        custom = [r["QUERY PLAN"] for r in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {text}", params, prepare=False)]
        numbered, values = _numbered(text, params)
        arguments = psycopg_sql.SQL(", ").join(psycopg_sql.Literal(v) for v in values)
        conn.execute(f"PREPARE bench_plan AS {numbered}")
        try:
            conn.execute("SET plan_cache_mode = force_generic_plan")
            execute = psycopg_sql.SQL("EXECUTE bench_plan ({})").format(arguments) if values else "EXECUTE bench_plan"
            conn.execute(execute).fetchall()
            began = time.perf_counter()
            conn.execute(execute).fetchall()
            generic_ms = (time.perf_counter() - began) * 1000
            generic = [
                r["QUERY PLAN"]
                for r in conn.execute(psycopg_sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(execute)).fetchall()
            ]
        finally:
            conn.execute("RESET plan_cache_mode")
            conn.execute("DEALLOCATE bench_plan")
    shown = text if len(text) < 400 else text[:200] + " ... " + text[-190:]
    lines = [
        f"slowest statement: {custom_ms:.1f} ms with a custom plan, {generic_ms:.1f} ms with a generic plan: {shown}",
        "custom plan (values known):",
        *custom,
    ]
    if generic_ms > 2 * custom_ms and generic_ms > 5:
        lines += ["generic plan (a prepared statement's, values unknown when planned):", *generic]
    return lines


def say_plan(lines: list[str], width: int = 180) -> None:
    """A plan without its buffer and planning lines, each line cut to `width` (literal arrays run long)."""
    for line in lines:
        if line.lstrip().startswith(("Buffers:", "Planning:")):
            continue
        say(f"     {line if len(line) <= width else line[: width - 1] + '…'}")
