"""Named locks on PostgreSQL (adapters/named_locks.py): a second holder of a name waits for the first and gets in
once it lets go; one that waits too long is refused; names are taken in one order, so holders of overlapping sets
never deadlock; another process's holder (another connection pool) is waited for too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adapters.named_locks import NamedLocks
from adapters.postgres import Database
from tests.support import drop_database, fresh_database_dsn


class Busy(Exception):
    """The test's refusal."""


@pytest.fixture
def database() -> Iterator[Database]:
    dsn = fresh_database_dsn("cd_test_locks")
    db = Database(dsn, min_size=1, max_size=4)
    try:
        yield db
    finally:
        db.close()
        drop_database(dsn)


def test_a_second_holder_waits_for_the_first_and_one_waiting_too_long_is_refused(database: Database) -> None:
    mine, theirs = NamedLocks(database.pool), NamedLocks(database.pool)  # two processes' worth of locks
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with mine.holding(["borrower-1", "coupon-A"], 5, Busy):
            inside.set()
            time.sleep(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(5)
    with pytest.raises(Busy):
        with theirs.holding(["coupon-A"], 0.05, Busy):
            pass
    with theirs.holding(["coupon-A", "borrower-2"], 5, Busy):  # overlapping names, another order
        order.append("second in")
    thread.join()
    assert order == ["first out", "second in"]
    with mine.holding(["borrower-1"], 0.05, Busy):  # let go, also after a refusal
        pass
