"""Waiting on a LISTEN connection without waking up to poll, and one such connection for a process's followers."""

from __future__ import annotations

import selectors
import socket
import threading
from contextlib import suppress
from typing import Any

import psycopg
import structlog
from psycopg.sql import SQL, Identifier

from projections.failures import describe_error

log = structlog.get_logger(__name__)


class NotifyWaiter:
    """Sleeps until a LISTEN connection receives a notification, another thread calls `wake()`, or a timeout passes.

    `Connection.notifies(timeout=...)` wakes its thread ten times a second (psycopg checks for signals every 0.1 s
    while it waits), so twenty idle listeners in one process spent ~1 % of a CPU doing nothing. This waits in the
    kernel on the connection's socket and a wake-up socket of its own -- no thread runs until something happens --
    then reads what arrived without waiting. `wake()` lets `stop()` end a long wait at once.
    """

    def __init__(self) -> None:
        self._wakeup, self._waker = socket.socketpair()
        self._wakeup.setblocking(False)
        self._waker.setblocking(False)

    def wake(self) -> None:
        """End the current (or the next) wait at once; from any thread."""
        with suppress(OSError):  # the buffer is full (a wake-up is pending anyway) or the waiter is closed
            self._waker.send(b"\0")

    def wait(self, conn: psycopg.Connection[Any] | None, timeout: float | None) -> list[psycopg.Notify]:
        """The notifications `conn` has received, waiting up to `timeout` seconds (None: until one comes or a wake)
        for the first (none when woken or timed out). Without `conn`, only for a wake or the timeout."""
        arrived = list(conn.notifies(timeout=0)) if conn is not None else []  # read along with an earlier answer
        if arrived:
            return arrived
        with selectors.DefaultSelector() as selector:
            if conn is not None:
                selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wakeup, selectors.EVENT_READ)
            ready = {key.fileobj for key, _ in selector.select(None if timeout is None else max(timeout, 0.0))}
        if self._wakeup in ready:
            with suppress(BlockingIOError):  # a byte a wake(): one read takes every pending one
                self._wakeup.recv(4096)
        return list(conn.notifies(timeout=0)) if conn is not None and conn.fileno() in ready else []

    def close(self) -> None:
        self._wakeup.close()
        self._waker.close()


class Listener(threading.Thread):
    """One LISTEN connection for the followers of a process (its projection runners): wakes the waiters of a channel
    when a notification on it arrives.

    A runner listening on a connection of its own held one server connection for each source application, 18 in a
    process. Here one thread sleeps on one connection (`NotifyWaiter`, no polling) and wakes the subscribers' waiters.

    Nothing is missed: a channel's waiters are woken once the connection LISTENs on it (a subscriber's pass before
    that may have read a head older than a commit that notified nobody), and every waiter is woken after each
    reconnection (notifications sent while the connection was down are gone). A subscriber wakes, reads what is new,
    and sleeps again on its waiter; `subscribe` does not wait for the connection.
    """

    #: Seconds between attempts to connect while the server cannot be reached.
    RETRY_SECONDS = 1.0
    #: The connection's name in the server's pg_stat_activity.
    APPLICATION_NAME = "covenant-desk listener"

    def __init__(self, dsn: str) -> None:
        super().__init__(name="projection-listener", daemon=True)
        self.dsn = dsn
        self._waiters: dict[str, set[NotifyWaiter]] = {}
        self._lock = threading.Lock()  # guards _waiters
        self._control = NotifyWaiter()  # wakes this thread for a new channel, or to stop
        self._stopping = threading.Event()
        self.connected = threading.Event()  # set while the connection LISTENs on every subscribed channel
        self.backend_pid: int | None = None  # the server process of the connection (pg_stat_activity's pid)

    def subscribe(self, channel: str, waiter: NotifyWaiter) -> None:
        """Wake `waiter` for each notification on `channel` (and once the connection listens there)."""
        with self._lock:
            self._waiters.setdefault(channel, set()).add(waiter)
        self._control.wake()

    def unsubscribe(self, channel: str, waiter: NotifyWaiter) -> None:
        with self._lock:
            waiters = self._waiters.get(channel)
            if waiters is not None:
                waiters.discard(waiter)

    def stop(self) -> None:
        self._stopping.set()
        self._control.wake()

    def run(self) -> None:
        waiting = False  # said once that the server cannot be reached, until it can again
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, application_name=self.APPLICATION_NAME) as conn:
                    self.backend_pid = conn.info.backend_pid
                    if waiting:
                        log.info("projection.listener_reconnected")
                        waiting = False
                    self._listen(conn)
            except Exception as exc:  # the followers must not lose their listener: retried below
                self.connected.clear()
                if not isinstance(exc, psycopg.Error):
                    log.exception("projection.listener_failed")
                elif not waiting:
                    log.warning("projection.listener_waiting_for_database", error=describe_error(exc))
                    waiting = True
                self._wake_all()  # the subscribers' passes see the outage themselves (and catch up after it)
                self._stopping.wait(self.RETRY_SECONDS)
        self.connected.clear()
        self._control.close()

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        listening: set[str] = set()
        while not self._stopping.is_set():
            with self._lock:
                channels = [c for c in self._waiters if c not in listening]
            for channel in channels:
                conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
                listening.add(channel)
            if channels:
                self.connected.set()
                self._wake(channels)  # a commit before the LISTEN notified nobody: look again
            self._wake(sorted({notify.channel for notify in self._control.wait(conn, None)}))

    def _wake(self, channels: list[str]) -> None:
        with self._lock:
            waiters = [w for c in channels for w in self._waiters.get(c, ())]
        for waiter in waiters:
            waiter.wake()

    def _wake_all(self) -> None:
        with self._lock:
            channels = list(self._waiters)
        self._wake(channels)
