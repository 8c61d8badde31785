"""When an API key was last used (`OperationalStore.touch_api_key`, every request with a key): its first use makes the
row, a use within the minute writes nothing, a later one moves it on. "Writes nothing" is what keeps a read request
cheap: an upsert whose WHERE kept the row still locked it, so each request took a transaction id and waited for a
WAL flush at commit. Here another transaction holds the row's lock, and a use within the minute does not wait for it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from adapters.operational import OperationalStore
from adapters.postgres import Database
from tests.support import drop_database, fresh_database_dsn

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


@pytest.fixture
def store() -> Iterator[tuple[OperationalStore, str]]:
    dsn = fresh_database_dsn("cd_test_key_usage")
    db = Database(dsn, min_size=1, max_size=2)
    try:
        db.ensure_schemas()
        ops = OperationalStore(db.pool)
        ops.setup()
        yield ops, dsn
    finally:
        db.close()
        drop_database(dsn)


def _last_used(dsn: str, key: uuid.UUID) -> datetime | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT last_used_at FROM ops.api_key_usage WHERE key_id = %s", (key,)).fetchone()
    return row[0] if row else None


def test_first_use_makes_the_row_a_use_within_the_minute_keeps_it_a_later_one_moves_it(
    store: tuple[OperationalStore, str],
) -> None:
    ops, dsn = store
    key, other = uuid.uuid4(), uuid.uuid4()
    assert _last_used(dsn, key) is None
    ops.touch_api_key(key, T0)
    assert _last_used(dsn, key) == T0
    ops.touch_api_key(key, T0 + timedelta(seconds=59))
    assert _last_used(dsn, key) == T0  # within the minute: kept
    ops.touch_api_key(key, T0 + timedelta(seconds=61))
    assert _last_used(dsn, key) == T0 + timedelta(seconds=61)
    ops.touch_api_key(other, T0)  # another key: its own row
    assert _last_used(dsn, other) == T0 and _last_used(dsn, key) == T0 + timedelta(seconds=61)


def test_a_use_within_the_minute_neither_locks_nor_waits_for_the_row(store: tuple[OperationalStore, str]) -> None:
    ops, dsn = store
    key = uuid.uuid4()
    ops.touch_api_key(key, T0)
    done = threading.Event()
    with psycopg.connect(dsn) as holder:  # another transaction holds the row (as a write of it would)
        holder.execute("SELECT FROM ops.api_key_usage WHERE key_id = %s FOR UPDATE", (key,))
        touching = threading.Thread(target=lambda: (ops.touch_api_key(key, T0 + timedelta(seconds=30)), done.set()))
        touching.start()
        finished = done.wait(5)
        holder.rollback()  # lets a waiting touch through, so the thread ends either way
        touching.join(10)
    assert finished, "a use within the minute waited for the row's lock: it locks (and so writes) the row"
    assert _last_used(dsn, key) == T0
