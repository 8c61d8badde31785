"""Named locks on PostgreSQL (adapters/named_locks.py): a second holder of a name waits for the first and gets in
once it lets go; one that waits too long is refused; names are taken in one order, so holders of overlapping sets
never deadlock; another process's holder (another connection pool) is waited for too; a hold inside another of
the same thread never waits on it; outermost holds keep part of the pool free."""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator

import pytest

from adapters.named_locks import STRIPES, NamedLocks
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


def test_a_hold_inside_another_of_the_same_thread_never_waits_on_it(database: Database) -> None:
    locks = NamedLocks(database.pool)  # a pool of 4: one outermost hold at a time
    outer = "reloan-offer:1"
    inner = next(f"loan-book:{i}" for i in range(10_000) if zlib.crc32(f"loan-book:{i}".encode()) % STRIPES
                 == zlib.crc32(outer.encode()) % STRIPES)  # fmt: skip
    with locks.holding([outer], 1, Busy), locks.holding([inner], 0.5, Busy):  # same stripe, and no second place
        pass


def test_outermost_holds_keep_part_of_the_pool_free(database: Database) -> None:
    locks = NamedLocks(database.pool)  # a pool of 4: one outermost hold at a time
    inside = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locks.holding(["borrower-1"], 5, Busy):
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(5)
    with pytest.raises(Busy), locks.holding(["borrower-2"], 0.1, Busy):  # another name, but no place left
        pass
    release.set()
    thread.join()
