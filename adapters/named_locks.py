"""Locks named by strings, shared by every process on one database: a command holds them while it checks a count
over many records (a borrower's open loans, a coupon's uses) and commits, so a second command counting the same
thing waits for the first instead of reading the same count and going past the limit."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from psycopg import errors

#: The first key of the two-key transaction advisory locks taken here (scheduler and relay use 7_316_001/2).
LOCK_CLASS = 7_316_003

#: Thread locks a process queues on before it asks PostgreSQL (waiters then hold no pooled connection); names share
#: them by hash, so a process keeps a fixed number however many borrowers it meets.
STRIPES = 64


class NamedLocks:
    """Transaction advisory locks `(LOCK_CLASS, hashtext(name))`, each behind a striped thread lock of this process.

    A holder keeps a pooled connection for its whole command, and the command needs connections of the same pool
    meanwhile (its reads, the read-model wait): a third of the pool at most is held at once by the outermost holds,
    so holders never take every connection and wait on one another (24 applications at once exhausted the default
    12 into 503s). A hold inside another of the same thread (a re-loan's acceptance starting its application) takes
    no second place, and the stripes are re-entrant, so it never waits on its own thread."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._stripes = [threading.RLock() for _ in range(STRIPES)]
        self._holders = threading.BoundedSemaphore(max(1, int(getattr(pool, "max_size", 12)) // 3))
        self._depth = threading.local()

    @contextmanager
    def holding(self, names: Iterable[str], wait_seconds: float, busy: Callable[[], Exception]) -> Iterator[None]:
        """Hold every lock of `names` until the block ends (taken in one order, so two holders never deadlock);
        `busy()` is raised when they are not all had within `wait_seconds`."""
        ordered = sorted(set(names))
        deadline = time.monotonic() + wait_seconds
        stripes = sorted({zlib.crc32(name.encode()) % STRIPES for name in ordered})
        depth = getattr(self._depth, "value", 0)
        with ExitStack() as held:
            waits: list[Any] = [self._stripes[i] for i in stripes]
            if depth == 0:
                waits.append(self._holders)
            for lock in waits:
                if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise busy()
                held.callback(lock.release)
            self._depth.value = depth + 1
            held.callback(setattr, self._depth, "value", depth)
            with self.pool.connection() as conn, conn.transaction():
                left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                conn.execute(f"SET LOCAL lock_timeout = '{left_ms}ms'")
                try:
                    for name in ordered:
                        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, name))
                except errors.LockNotAvailable:
                    raise busy() from None
                yield
