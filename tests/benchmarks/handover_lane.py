"""The hand-over lane alone: SENDERS threads each handing over ROUNDS one-event records through
`EventRecorder.insert_events_before_commit`, as a notification job's sender threads do (with a pause between
hand-overs standing in for the mail server's answer), against the same threads saving the same records through the
project's group-commit recorder (`save`, no outside step) in the same run.

A diagnostic, not part of `make bench` (no target): it prints hand-overs/s, the process's CPU and context switches a
hand-over, and the mean group. Run with `python -m tests.benchmarks.handover_lane [--senders N] [--rounds N]`.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
import uuid
from collections.abc import Callable

from domain.covenants.application import Covenants
from domain.shared.index import UniqueValue
from tests.benchmarks.harness import fresh_database, say
from workers.platform import Platform

#: Seconds between one sender's hand-overs: about what it waits for the mail server's answer and the next envelope.
PAUSE = 0.004


def _timed(senders: int, rounds: int, work: Callable[[int, int], None]) -> tuple[float, resource.struct_rusage]:
    """Run `work(sender, round)` on `senders` threads; wall seconds and this process's rusage before."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()

    def sender(n: int) -> None:
        for r in range(rounds):
            work(n, r)
            time.sleep(PAUSE)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, before


def _line(label: str, count: int, seconds: float, before: resource.struct_rusage, extra: str = "") -> None:
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / count * 1e6
    switches = (after.ru_nvcsw - before.ru_nvcsw + after.ru_nivcsw - before.ru_nivcsw) / count
    say(
        f"   {label:<34} {count / seconds:7,.0f}/s   CPU {cpu:4,.0f} us and {switches:4.1f} context switches each{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    say(f"== Hand-over lane ({args.senders} sender threads x {args.rounds}, {PAUSE * 1000:.0f} ms between each one's)")
    with fresh_database("cd_bench_lane") as dsn:
        platform = Platform.open(dsn)
        try:
            app = platform.get(Covenants)
            recorder = app.recorder
            brand = uuid.uuid4()
            groups: list[int] = []
            hand_over_group = recorder._hand_over

            def counted(group: list) -> None:  # type: ignore[type-arg]
                groups.append(len(group))
                hand_over_group(group)

            recorder._hand_over = counted  # type: ignore[method-assign]

            def saved(n: int, r: int) -> None:
                app.save(UniqueValue.claim(brand, "save", f"{n}-{r}", uuid.uuid4()))

            def handed_over(n: int, r: int) -> None:
                claim = UniqueValue.claim(brand, "lane", f"{n}-{r}", uuid.uuid4())
                stored = [app.mapper.to_stored_event(e) for e in claim.collect_events()]
                recorder.insert_events_before_commit(stored, lambda: None, notify=False)

            count = args.senders * args.rounds
            seconds, before = _timed(args.senders, args.rounds, saved)
            _line("saves (group commit, baseline)", count, seconds, before)
            seconds, before = _timed(args.senders, args.rounds, handed_over)
            _line("hand-overs", count, seconds, before, f", {count / len(groups):.1f} a group")
        finally:
            platform.close()


if __name__ == "__main__":
    main()
