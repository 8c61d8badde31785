"""The benchmark harness's machine probe: it measures, and leaves the process's CPUs as it found them."""

from __future__ import annotations

import math
import os
import threading

from tests.benchmarks.harness import thread_handoff_us


def test_the_handoff_probe_measures_a_round_trip_and_restores_the_cpus() -> None:
    allowed = os.sched_getaffinity(0)
    across = thread_handoff_us(seconds=0.05)
    one = thread_handoff_us(one_cpu=True, seconds=0.05)
    for figure in (across, one):
        assert math.isfinite(figure) and 0 < figure < 1_000_000
    # Pinning the benchmark's own thread and leaving it so would skew every later figure of the run.
    assert os.sched_getaffinity(0) == allowed
    assert not any(t.name == "handoff-probe" for t in threading.enumerate())
