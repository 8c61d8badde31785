"""Waiting on a LISTEN connection without waking up to poll."""

from __future__ import annotations

import selectors
import socket
from contextlib import suppress
from typing import Any

import psycopg


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

    def wait(self, conn: psycopg.Connection[Any], timeout: float | None) -> list[psycopg.Notify]:
        """The notifications `conn` has received, waiting up to `timeout` seconds (None: until one comes or a wake)
        for the first (none when woken or timed out)."""
        arrived = list(conn.notifies(timeout=0))  # already read along with an earlier answer, or waiting unread
        if arrived:
            return arrived
        with selectors.DefaultSelector() as selector:
            selector.register(conn.fileno(), selectors.EVENT_READ)
            selector.register(self._wakeup, selectors.EVENT_READ)
            ready = {key.fileobj for key, _ in selector.select(None if timeout is None else max(timeout, 0.0))}
        if self._wakeup in ready:
            with suppress(BlockingIOError):  # a byte a wake(): one read takes every pending one
                self._wakeup.recv(4096)
        return list(conn.notifies(timeout=0)) if conn.fileno() in ready else []

    def close(self) -> None:
        self._wakeup.close()
        self._waker.close()
