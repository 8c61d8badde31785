"""What every benchmark shares: a fresh database, timed worker threads, percentiles and the target verdicts."""

from __future__ import annotations

import math
import os
import re
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


def timings_ms(run: Callable[[], object], times: int) -> list[float]:
    """How long each of `times` calls of `run` took, in milliseconds."""
    timings = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of `values` (fraction in 0..1)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


def thread_handoff_us(one_cpu: bool = False, seconds: float = 0.2) -> float:
    """Mean microseconds for one thread to wake another through a lock and be woken back (a round trip of two
    hand-offs), the two threads free to run on any CPU or, with `one_cpu`, both held on one.

    What a group commit's writers pay between groups: on an idle virtual CPU a wake-up waits for the host to run
    the halted vCPU (~100 us a hand-off across CPUs here against ~8 us on one), so the figure says how much of the
    append ratio is the machine's."""
    ping, pong, stop = threading.Lock(), threading.Lock(), threading.Event()
    ping.acquire()
    pong.acquire()
    allowed = os.sched_getaffinity(0)
    pin = {min(allowed)} if one_cpu else allowed
    rounds: list[float] = []

    def answer() -> None:
        os.sched_setaffinity(0, pin)  # on Linux, pid 0 is the calling thread alone
        while True:
            ping.acquire()
            pong.release()
            if stop.is_set():
                return

    other = threading.Thread(target=answer, name="handoff-probe", daemon=True)
    os.sched_setaffinity(0, pin)
    try:
        other.start()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(rounds) < 50:
            began = time.perf_counter()
            ping.release()
            pong.acquire()
            rounds.append(time.perf_counter() - began)
        stop.set()
        ping.release()
        other.join()
    finally:
        os.sched_setaffinity(0, allowed)
    return sum(rounds) / len(rounds) * 1e6


_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(stat_path: str) -> tuple[str, int]:
    """A /proc stat file's command name and its user + system CPU in clock ticks."""
    with open(stat_path) as stat:
        text = stat.read()
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return name, int(fields[11]) + int(fields[12])


def cpu_of(pids: list[int]) -> float:
    """User and system CPU seconds the processes used so far (clock ticks of /proc/PID/stat); one gone counts 0."""
    total = 0
    for pid in pids:
        try:
            total += _ticks(f"/proc/{pid}/stat")[1]
        except OSError:
            continue
    return total / _TICK


def cpu_stalled() -> float:
    """Seconds so far in which some task on the machine was ready to run and waited for a CPU (the kernel's pressure
    stall information, /proc/pressure/cpu `some` total); 0 where the kernel does not report it."""
    try:
        with open("/proc/pressure/cpu") as pressure:
            some = pressure.readline()
    except OSError:
        return 0.0
    return int(some.rsplit("total=", 1)[1]) / 1e6


def _thread_ticks() -> dict[int, int]:
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            ticks[int(tid)] = _ticks(f"/proc/self/task/{tid}/stat")[1]
        except OSError:
            continue
    return ticks


def _postgres_ticks() -> int:
    """Every PostgreSQL server process's CPU on this machine (the embedded server's and any other's)."""
    total = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                name, ticks = _ticks(f"/proc/{pid}/stat")
            except OSError:
                continue
            if name == "postgres":
                total += ticks
    return total


class CpuSplit:
    """Where a measured stretch's CPU went: this process's threads, grouped by their names (a pool's threads
    together), and PostgreSQL's server processes. Read from /proc, so it sees C code holding no GIL too (py-spy's
    GIL view does not). Threads that ended before `stop` are counted together as "ended threads"."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self._threads: dict[int, int] = {}
        self._process = 0.0
        self._postgres = 0
        self.threads: dict[str, float] = {}
        self.postgres = 0.0
        self.process = 0.0

    def _name(self) -> None:
        for thread in threading.enumerate():
            if thread.native_id is not None:
                name = re.sub(r"^Thread-\d+ \((.*)\)$", r"\1", thread.name)  # an unnamed thread: its target
                self.names[thread.native_id] = re.sub(r"[_-]?\d+$", "", name)

    def start(self) -> CpuSplit:
        self._name()
        self._threads, self._process, self._postgres = _thread_ticks(), time.process_time(), _postgres_ticks()
        return self

    def stop(self) -> CpuSplit:
        self._name()
        now = _thread_ticks()
        self.process = time.process_time() - self._process
        self.postgres = (_postgres_ticks() - self._postgres) / _TICK
        split: dict[str, float] = {}
        for tid, ticks in now.items():
            seconds = (ticks - self._threads.get(tid, 0)) / _TICK
            if seconds > 0:
                name = self.names.get(tid, f"thread {tid}")
                split[name] = split.get(name, 0.0) + seconds
        ended = self.process - sum(split.values())
        if ended > 0.05:
            split["ended threads"] = ended
        self.threads = dict(sorted(split.items(), key=lambda item: -item[1]))
        return self

    def line(self, top: int = 6) -> str:
        """`process 3.4 s (job 2.1, notices runner 0.9, ...), PostgreSQL 1.5 s`."""
        parts = [f"{name} {seconds:.1f}" for name, seconds in list(self.threads.items())[:top]]
        rest = sum(list(self.threads.values())[top:])
        if rest >= 0.05:
            parts.append(f"others {rest:.1f}")
        return f"this process {self.process:.1f} s ({', '.join(parts)}), PostgreSQL {self.postgres:.1f} s"
