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
    """Transaction advisory locks `(LOCK_CLASS, hashtext(name))`, each behind a striped thread lock of this process."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._stripes = [threading.Lock() for _ in range(STRIPES)]

    @contextmanager
    def holding(self, names: Iterable[str], wait_seconds: float, busy: Callable[[], Exception]) -> Iterator[None]:
        """Hold every lock of `names` until the block ends (taken in one order, so two holders never deadlock);
        `busy()` is raised when they are not all had within `wait_seconds`."""
        ordered = sorted(set(names))
        deadline = time.monotonic() + wait_seconds
        stripes = sorted({zlib.crc32(name.encode()) % STRIPES for name in ordered})
        with ExitStack() as held:
            for index in stripes:
                stripe = self._stripes[index]
                if not stripe.acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise busy()
                held.callback(stripe.release)
            with self.pool.connection() as conn, conn.transaction():
                left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                conn.execute(f"SET LOCAL lock_timeout = '{left_ms}ms'")
                try:
                    for name in ordered:
                        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, name))
                except errors.LockNotAvailable:
                    raise busy() from None
                yield
