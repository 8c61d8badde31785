"""The idle re-check of a process's projection runners: one read for all of them, not two for each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from projections.engine import ProjectionEngine

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Idle:
    """A runner asleep on its LISTEN connection: its source's head when it went idle, the projections it keeps
    there (not a stopped one) and how to wake it."""

    source: str
    names: tuple[str, ...]
    head: int
    wake: Callable[[], None]


class IdleWatch:
    """Looks, for every idle runner of the process at once, for what a NOTIFY does not announce: events recorded
    without one (`insert_events_before_commit(notify=False)`, a notification job's hand-overs; a writer whose NOTIFY
    the runner's connection missed) and a projection moved back by another process (a rebuild, a retry).

    A runner that goes idle registers here and sleeps until its NOTIFY, `stop()` or this watch wakes it. One thread
    reads, in one statement, the head of every idle runner's source and the positions of their projections, and
    wakes the runners whose source moved past the head they went idle at, or one of whose projections is behind it.
    It looks FIRST_SECONDS after a runner went idle, then after twice as long each time nothing had moved, up to
    MAX_SECONDS: an event recorded without a NOTIFY is applied within MAX_SECONDS (plus the batch) of its commit.
    Each runner used to read its source's head and its positions on its own schedule: two statements a runner
    every 10 s while idle, some 40 % of an idle `serve --seed`'s statements.
    """

    FIRST_SECONDS = 1.0
    MAX_SECONDS = 10.0

    def __init__(self, engine: ProjectionEngine) -> None:
        self._engine = engine
        self._changed = threading.Condition()
        self._idle: dict[int, _Idle] = {}  # id(runner) -> where it went idle
        self._members = 0  # runners running: the thread lives while there are any
        self._thread: threading.Thread | None = None
        self._interval = self.FIRST_SECONDS  # the wait after the next look, doubled each time nothing moved
        self._due: float | None = None  # when the next look is (monotonic), None while no runner is idle
        self._fresh = False  # a runner went idle since the current look began: no backing off after it
        self.looks = 0  # reads made (for tests and diagnostics)

    def enter(self) -> None:
        """A runner starts (the thread starts with the first)."""
        with self._changed:
            self._members += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="projection-idle-watch", daemon=True)
                self._thread.start()

    def leave(self, key: int) -> None:
        """A runner ends (the thread ends with the last)."""
        with self._changed:
            self._idle.pop(key, None)
            self._members -= 1
            self._changed.notify_all()

    def idle(self, key: int, source: str, names: Sequence[str], head: int, wake: Callable[[], None]) -> None:
        """The runner `key` found nothing after `head` and sleeps: look within FIRST_SECONDS, then back off."""
        with self._changed:
            self._idle[key] = _Idle(source, tuple(names), head, wake)
            self._interval, self._fresh = self.FIRST_SECONDS, True
            soon = time.monotonic() + self.FIRST_SECONDS
            if self._due is None or soon < self._due:  # else the look already due soon enough covers it
                self._due = soon
                self._changed.notify_all()  # the thread sleeps until the old due: wake it to sleep less

    def busy(self, key: int) -> None:
        """The runner `key` woke (a NOTIFY, a stop, this watch): nothing to look at for it until it is idle again."""
        with self._changed:
            self._idle.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._members > 0 and (self._due is None or self._due > time.monotonic()):
                    self._changed.wait(None if self._due is None else self._due - time.monotonic())
                if self._members == 0:
                    self._thread = None
                    return
                watched, self._fresh = dict(self._idle), False
            woken = self._look(watched)
            with self._changed:
                if woken is None:  # the read failed (an outage): the runners' own connections see it
                    self._due = time.monotonic() + self.MAX_SECONDS
                    continue
                for key in woken:
                    current = self._idle.get(key)
                    if current is watched[key]:  # not gone busy (and idle again) meanwhile
                        del self._idle[key]
                        current.wake()
                if not self._idle:
                    self._due = None
                else:
                    if not woken and not self._fresh:
                        self._interval = min(self._interval * 2, self.MAX_SECONDS)
                    self._due = time.monotonic() + self._interval

    def _look(self, watched: dict[int, _Idle]) -> list[int] | None:
        """The idle runners to wake: their source moved, or one of their projections is behind where they went idle.
        One statement for all of them."""
        if not watched:
            return []
        sources = sorted({idle.source for idle in watched.values()})
        names = sorted({name for idle in watched.values() for name in idle.names})
        try:
            heads, positions = self._engine.heads_and_positions(sources, names)
        except Exception as exc:  # noqa: BLE001 - retried at the next look
            log.warning("projection.idle_check_failed", error=str(exc))
            return None
        finally:
            self.looks += 1
        return [
            key
            for key, idle in watched.items()
            if heads.get(idle.source, 0) != idle.head or any(positions.get(n, -1) < idle.head for n in idle.names)
        ]
