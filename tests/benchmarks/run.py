"""Run the benchmark suite: `python -m tests.benchmarks.run [--quick] [--only append,catchup,search,notices]`.

Prints each benchmark's figures and a PASS/FAIL line per target; exits 1 when
any target is missed. Every benchmark makes (and drops) its own database on the
embedded PostgreSQL, or on DATABASE_URL's server when it is set.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Callable

import structlog

from tests.benchmarks.harness import Verdict, say

#: Benchmark name -> its module under tests.benchmarks, imported only when chosen (`--only` loads no other).
BENCHMARKS: dict[str, str] = {
    "append": "append",
    "catchup": "catchup",
    "search": "search",
    "covenants": "covenant_jobs",
    "notices": "notices",
    "relay": "relay",
    "bre": "bre",
    "onboarding": "onboarding",
    "disbursal": "disbursal",
    "credit": "credit_queues",
    "servicing": "servicing",
    "loan_audit": "loan_audit",
    "cob": "cob",
    "global_search": "global_search",
    "collections": "collections",
    "fieldwork": "fieldwork",
    "engagement": "engagement",
    "reports": "reports",
    "kept_reads": "kept_reads",
}


def _benchmark(name: str) -> Callable[[bool], list[Verdict]]:
    module = importlib.import_module(f"tests.benchmarks.{BENCHMARKS[name]}")
    run: Callable[[bool], list[Verdict]] = module.run
    return run


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and report; the exit status says whether every target was met."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data and shorter runs (a smoke test)")
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    # The library and pool log at INFO per connection; the report is the output here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    say(f"Covenant Desk benchmarks ({'quick' if args.quick else 'full'} run)")
    say()
    verdicts: list[Verdict] = []
    for name in chosen:
        began = time.perf_counter()
        verdicts += _benchmark(name)(args.quick)
        say(f"   ({time.perf_counter() - began:.0f} s; {_machine_load()})")
        say()
    say("== Targets")
    for verdict in verdicts:
        say(verdict.line())
    failed = [v for v in verdicts if not v.passed]
    say()
    say(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} targets met in {time.perf_counter() - started:.0f} s"
        + (" -- FAILED" if failed else "")
    )
    return 1 if failed else 0


def _machine_load() -> str:
    """Load average and CPU pressure: other work on the machine skews every figure."""
    one, five, _ = os.getloadavg()
    text = f"load average {one:.1f} (1 min) {five:.1f} (5 min) on {os.cpu_count()} CPUs"
    try:
        with open("/proc/pressure/cpu") as pressure:
            some = pressure.readline().split()
        text += f", CPU pressure {some[2].split('=')[1]}% (60 s)"
    except (OSError, IndexError):
        return text  # this kernel does not report pressure stall information
    return text


if __name__ == "__main__":
    sys.exit(main())
