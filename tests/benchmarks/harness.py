"""What every benchmark shares: a fresh database, timed worker threads, percentiles and the target verdicts."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support import drop_database, fresh_database_dsn


@dataclass(frozen=True)
class Verdict:
    """One target: the measured value against its threshold."""

    benchmark: str
    name: str
    value: float
    threshold: float
    higher_is_better: bool
    unit: str = ""

    @property
    def passed(self) -> bool:
        return self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold

    def line(self) -> str:
        """`PASS  name  value (target >= threshold)`."""
        sign = ">=" if self.higher_is_better else "<="
        status = "PASS" if self.passed else "FAIL"
        return f"{status}  {self.benchmark}: {self.name} = {self.value:,.2f}{self.unit} (target {sign} {self.threshold:,.2f}{self.unit})"


def say(text: str = "") -> None:
    """Print one line of the report at once (worker threads never print)."""
    print(text, flush=True)


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new empty database for one benchmark, dropped afterwards."""
    dsn = fresh_database_dsn(prefix)
    try:
        yield dsn
    finally:
        drop_database(dsn)


@dataclass(frozen=True)
class Rate:
    """Operations done in a measured wall-clock interval."""

    operations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.operations + other.operations, self.seconds + other.seconds)


def run_threads(threads: int, seconds: float, step: Callable[[int], int]) -> Rate:
    """Call `step(worker)` in a loop on `threads` threads for `seconds`; `step` returns operations done."""
    counts = [0] * threads
    errors: list[BaseException] = []
    start_line = threading.Barrier(threads + 1)
    stop_at = 0.0

    def work(worker: int) -> None:
        start_line.wait()
        done = 0
        try:
            while time.perf_counter() < stop_at:
                done += step(worker)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller after join.
            errors.append(exc)
        counts[worker] = done

    pool = [threading.Thread(target=work, args=(i,), name=f"bench-writer-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    started = time.perf_counter()
    stop_at = started + seconds
    start_line.wait()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Rate(sum(counts), elapsed)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]
