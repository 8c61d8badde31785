"""The garbage collector pause around projection batches: nested, threaded, and restoring what it found."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator

import pytest

from domain.shared import gc_pause
from domain.shared.gc_pause import collector_paused


@pytest.fixture(autouse=True)
def _collector_enabled() -> Iterator[None]:
    # A platform of this process (another test file's, under pytest-xdist) may be in a projection batch: the counts
    # below are about these tests' blocks only, so start when no other block runs.
    deadline = time.monotonic() + 10
    while gc_pause._depth and time.monotonic() < deadline:
        time.sleep(0.01)
    was = gc.isenabled()
    gc.enable()
    yield
    gc.enable() if was else gc.disable()


def test_paused_inside_and_resumed_after_the_outermost_block() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()


def test_resumed_after_an_error() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("batch failed")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_resumed_only_when_the_last_thread_ends_its_batch() -> None:
    inside, release = threading.Event(), threading.Event()

    def batch() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    other = threading.Thread(target=batch)
    other.start()
    assert inside.wait(5)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread's batch still runs
    release.set()
    other.join(5)
    assert gc.isenabled()


def test_a_long_overlap_collects_the_young_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr(gc_pause.gc, "collect", lambda generation=2: collected.append(generation) or 0)
    monkeypatch.setattr(gc_pause, "MAX_PAUSE", 0.0)
    with collector_paused():
        with collector_paused():
            pass
        assert collected == [0]
    assert gc.isenabled()
