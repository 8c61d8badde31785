"""The server connections a process holds: one event store pool for every application of the platform, and one
LISTEN connection for every projection runner.

A pool for each of the 18 applications and a listening connection for each runner held 79 connections in a process
with its runners and 57 in a CLI command, so a server at PostgreSQL's default `max_connections` of 100 could not give
a `serve` and a CLI command at once ("sorry, too many clients already")."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier

from adapters.postgres import Database, DatabaseUnavailable, availability_of
from domain.customers.application import Customers
from domain.identity.application import Identity
from projections.listening import Listener, NotifyWaiter
from workers.platform import Platform

#: What a platform holds once open, before its runners start: 6 measured (the read pool's and the event store pool's
#: minimum of 2 each, the kept writer, a schema check), one more seen on a loaded CI machine (a pool still opening its
#: minimum grows by one for a caller that waits). The old code held 57.
MOST_OPENED = 10


def stores_of(platform: Platform) -> list[Any]:
    """The event store datastores of `platform`'s applications."""
    return [app.recorder.datastore for app in platform.applications.values()]  # type: ignore[attr-defined]


def _held(dsn: str) -> int:
    """Connections to `dsn`'s database, this probe's own not counted."""
    with psycopg.connect(dsn, autocommit=True) as probe:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.timeout(180)
def test_a_platform_with_its_runners_holds_a_handful_of_connections(private_dsn: str) -> None:
    platform = Platform.open(private_dsn)
    try:
        stores = {id(store) for store in stores_of(platform)}
        assert len(platform.applications) > 10
        assert len(stores) == 1, f"{len(stores)} event store pools for {len(platform.applications)} applications"
        opened = _held(private_dsn)
        #: By construction: the read pool and the one event store pool (kept writers included) at their most, and
        #: the listener: 29, where the old code held 79 caught up (18 measured now).
        most_held = platform.db.pool.max_size + next(iter(stores_of(platform))).pool.max_size + 1
        platform.start_projection_runners()
        brand = platform.get(Identity).create_brand(f"held-{uuid.uuid4().hex[:8]}", "Held Brand").id
        done = [platform.get(Customers).register(brand, name=f"Held {n}", phone=f"9740031{n:03d}") for n in range(3)]
        assert platform.engine.wait_for("customers", done[-1].position, timeout=30)
        running = _held(private_dsn)
    finally:
        platform.close()
    assert 2 <= opened <= MOST_OPENED, f"an open platform holds {opened} connections"
    assert running <= most_held < 40, f"a platform with {len(platform.runners)} runners holds {running} connections"
    deadline = time.monotonic() + 10
    while (left := _held(private_dsn)) and time.monotonic() < deadline:  # the server sees a closed socket soon after
        time.sleep(0.1)
    assert left == 0, f"{left} connections left open after the platform closed"


def _woken_within(waiter: NotifyWaiter, timeout: float) -> float:
    """Seconds until `waiter` is woken (timeout: it was not)."""
    began = time.monotonic()
    waiter.wait(None, timeout)
    return time.monotonic() - began


def _notify(dsn: str, channel: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("NOTIFY {}").format(psycopg.sql.Identifier(channel)))


@pytest.mark.timeout(120)
def test_the_listener_wakes_a_channels_subscribers_and_listens_again_after_losing_its_connection(dsn: str) -> None:
    channel, other = f"listener_test_{uuid.uuid4().hex[:12]}", f"listener_other_{uuid.uuid4().hex[:12]}"
    listener = Listener(dsn)
    listener.start()
    waiter, bystander = NotifyWaiter(), NotifyWaiter()
    try:
        listener.subscribe(channel, waiter)
        listener.subscribe(other, bystander)
        # Woken once the connection listens: a pass before then may have missed a commit that notified nobody.
        assert _woken_within(waiter, 20) < 15
        assert listener.connected.wait(10)
        _woken_within(bystander, 0.5)  # its own first wake-up
        _notify(dsn, channel)
        assert _woken_within(waiter, 20) < 15, "a notification did not wake its channel's subscriber"
        assert _woken_within(bystander, 0.5) >= 0.45, "a notification woke another channel's subscriber"

        first = listener.backend_pid
        assert first is not None
        with psycopg.connect(dsn, autocommit=True) as admin:  # what a server restart or an idle timeout does
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        deadline = time.monotonic() + 30
        while listener.backend_pid == first or not listener.connected.is_set():
            assert time.monotonic() < deadline, "the listener did not listen again"
            time.sleep(0.1)
        time.sleep(0.3)
        _woken_within(waiter, 0.2)  # the wake-ups of the loss and of the new LISTEN (notifications may be lost)
        _notify(dsn, channel)
        assert _woken_within(waiter, 20) < 15, "after its reconnection the listener did not hand notifications on"
        listener.unsubscribe(channel, waiter)
        _notify(dsn, channel)
        assert _woken_within(waiter, 1.0) >= 0.95, "an unsubscribed waiter was woken"
    finally:
        listener.stop()
        listener.join(timeout=5)
        waiter.close()
        bystander.close()
    assert not listener.is_alive()


def test_stopping_the_listener_ends_its_wait_at_once(dsn: str) -> None:
    listener = Listener(dsn)
    listener.start()
    waiter = NotifyWaiter()
    listener.subscribe(f"listener_stop_{uuid.uuid4().hex[:12]}", waiter)
    assert listener.connected.wait(10)
    time.sleep(0.3)
    began = time.monotonic()
    listener.stop()
    listener.join(timeout=5)
    waiter.close()
    assert not listener.is_alive() and time.monotonic() - began < 1.0
    assert not listener.connected.is_set()


@pytest.mark.timeout(60)
def test_a_pool_given_no_connection_says_what_the_server_answered(dsn: str) -> None:
    """A server at its `max_connections` (here a role at its connection limit) refuses each new connection: the pool
    used to say only "no connection within 5.0 s", which reads as a slow server."""
    role = f"limited_{uuid.uuid4().hex[:10]}"
    parts = conninfo_to_dict(dsn)
    limited = make_conninfo(dsn, user=role)
    with psycopg.connect(dsn, autocommit=True) as admin:
        # No connection at all for the role: with a limit of 1 and one held, a loaded machine once saw the probe's
        # connection let in (the server counts a role's backends as they register), and the message said the pool's
        # own were all in use.
        admin.execute(SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 0").format(Identifier(role)))
    db = Database(limited, min_size=1, max_size=2, timeout=1.0)
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            db.pool.getconn()  # the role has no connection to give
        assert "no connection within 1.0 s" in str(refused.value)
        assert f'too many connections for role "{role}"' in str(refused.value)
    finally:
        db.close()
        availability_of(parts.get("host"), parts.get("port")).restored()  # this test's refusal is no outage
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(SQL("DROP ROLE {}").format(Identifier(role)))
    db = Database(dsn, min_size=1, max_size=1, timeout=0.5)  # a server with room: the pool's own are all taken
    try:
        with db.pool.connection(), pytest.raises(DatabaseUnavailable, match="all 1 connections of the pool are in use"):
            db.pool.getconn()
    finally:
        db.close()
        availability_of(parts.get("host"), parts.get("port")).restored()
