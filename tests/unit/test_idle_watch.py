"""The projection runners' idle watch, over a stand-in for the engine's one read: when it looks, whom it wakes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from projections.idle_watch import IdleWatch


class _Heads:
    """The engine's `heads_and_positions`, from dicts a test sets; records when it was asked."""

    def __init__(self, heads: dict[str, int], positions: dict[str, int]) -> None:
        self.heads, self.positions = heads, positions
        self.asked: list[float] = []

    def heads_and_positions(self, sources: Sequence[str], names: Sequence[str]) -> tuple[dict[str, int], ...]:
        self.asked.append(time.monotonic())
        return {s: self.heads[s] for s in sources}, {n: self.positions[n] for n in names}


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(IdleWatch, "FIRST_SECONDS", 0.05)
    monkeypatch.setattr(IdleWatch, "MAX_SECONDS", 0.2)


def _watch(engine: _Heads) -> IdleWatch:
    return IdleWatch(engine)  # type: ignore[arg-type]


def test_an_idle_runner_is_looked_at_after_the_first_wait_then_backing_off_to_the_most(fast: None) -> None:
    engine = _Heads({"customers": 7}, {"customer_directory": 7})
    watch = _watch(engine)
    watch.enter()
    began = time.monotonic()
    watch.idle(1, "customers", ["customer_directory"], 7, lambda: None)
    time.sleep(1.0)
    watch.leave(1)
    gaps = [b - a for a, b in zip([began, *engine.asked], engine.asked, strict=False)]
    # Never sooner than its wait (a sleep), late by at most a loaded machine's scheduling.
    assert 0.05 <= gaps[0] < 0.15 and 0.1 <= gaps[1] < 0.2, gaps
    assert all(0.2 <= gap < 0.35 for gap in gaps[2:]), gaps
    assert 4 <= len(engine.asked) <= 7, gaps


def test_a_look_wakes_only_the_runners_whose_source_moved_or_projection_fell_behind(fast: None) -> None:
    engine = _Heads({"customers": 7, "loans": 3, "jobs": 5}, {"customer_directory": 7, "loans": 3, "job_runs": 5})
    watch = _watch(engine)
    woken: list[str] = []
    wakes = {name: threading.Event() for name in ("customers", "loans", "jobs")}

    def waker(source: str) -> Any:
        def wake() -> None:
            woken.append(source)
            wakes[source].set()

        return wake

    for key, (source, name, head) in enumerate(
        [("customers", "customer_directory", 7), ("loans", "loans", 3), ("jobs", "job_runs", 5)]
    ):
        watch.enter()
        watch.idle(key, source, [name], head, waker(source))
    engine.heads["customers"] = 8  # recorded without a NOTIFY
    engine.positions["job_runs"] = 2  # moved back by another process
    assert wakes["customers"].wait(2) and wakes["jobs"].wait(2)
    time.sleep(0.5)
    for key in range(3):
        watch.leave(key)
    assert sorted(woken) == ["customers", "jobs"]


def test_the_watch_thread_ends_with_the_last_runner(fast: None) -> None:
    engine = _Heads({"customers": 1}, {"customer_directory": 1})
    watch = _watch(engine)
    watch.enter()
    watch.idle(1, "customers", ["customer_directory"], 1, lambda: None)
    time.sleep(0.1)
    assert any(t.name == "projection-idle-watch" for t in threading.enumerate())
    thread = watch._thread
    assert thread is not None
    watch.leave(1)
    thread.join(timeout=2)
    assert not thread.is_alive()
    looks = len(engine.asked)
    time.sleep(0.3)
    assert len(engine.asked) == looks
