"""Python's cyclic garbage collector paused while projection batches and audit replays run (their objects die by
reference counting), for at most about a second at a time."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Seconds the collector may stay paused while batches of several threads overlap; then the youngest objects (all
#: made since it paused) are collected once when a batch ends, so cycles made elsewhere meanwhile do not pile up.
MAX_PAUSE = 1.0

_lock = threading.Lock()
_depth = 0  # batches running now, in any thread
_resume = False  # whether the collector was enabled when the first of them began
_since = 0.0  # when the collector last ran or paused (time.monotonic)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector disabled; it resumes when the last such block ends.

    A rebuild batch of 5,000 events allocates a few hundred thousand containers (notifications, decoded events,
    rows, parameters) and holds a batch's worth at once, so the collector ran about 300 times in a 20,000-event
    rebuild, its two or three full collections walking all of them: 0.1-0.15 s, a quarter of the rebuild's client
    CPU, for no garbage -- none of it is cyclic, reference counting frees it when the batch drops it. Nesting and
    threads are counted: the collector is enabled again when the last block ends, and only if it was enabled when
    the first began.
    """
    global _depth, _resume, _since
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            _since = time.monotonic()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if _resume:
                    gc.enable()
            elif _resume and time.monotonic() - _since > MAX_PAUSE:  # other threads' batches keep it paused
                _since = time.monotonic()
                gc.collect(0)
