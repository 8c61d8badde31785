"""Repayment operations (issue #5): the Softmedia notice sync at scale, and the dashboard and feeds at 1M notices.

Run alone with `python -m tests.benchmarks.notices [--quick] [--only sync|queries] [--notices N]
[--borrowers N] [--rows N]`.

1. Sync (100,000 notices matched against 1,000,000 borrowers; 10,000 against
   100,000 with --quick). The matcher reads only the customer directory
   (`read.customers`: name_key, phone, alternate_numbers, loan_numbers), the
   borrowers' name keys (`read.notice_name_keys`, from
   `domain.notices.matching.name_keys`) and their loan numbers and alternate
   phones (`read.notice_borrower_keys`), so the borrowers are loaded straight
   into the three with COPY (`notices_data.py`), as search.py does, and their
   indexes are built from the projections' DDL afterwards. The simulator
   (`adapters.simulators.softmedia`) serves two companies on loopback, its
   dataset generated with SimBorrowers made from the same identities, so about
   70 % of the notices belong to loaded borrowers (by loan number, by phone
   written another way, or by name alone) and the rest to strangers. Both
   sources are connected as the API connects them, every projection runner
   follows (`start_projection_runners`, as in the worker process), and one
   sync per source is requested (`SyncRequests.request`) and executed as the
   scheduler does (`Scheduler.execute(job_run_id(...))`, pages of 500); the
   clock runs until the read models have caught up with the last event.
   Printed: notices/s and total time, pages, matched share and band
   distribution from read.notices, and where the time went (waiting for the
   next page, which the job fetches and parses on a thread of its own while it
   records the last; the matcher's two lookups and its scoring, recording
   pages, the rest), measured by wrapping the client factory, the page
   prefetching, the matcher and `record_page`. Baseline: a raw pull of the same pages through
   `SoftmediaClient.pages` with nothing recorded, half before and half after
   the sync (ratio = sync rate / raw pull rate). Checks: both runs succeeded,
   read.notices holds exactly the well-formed notices the raw pull saw, every
   notice carrying a loaded borrower's loan number is matched to that
   borrower, and a second sync of the unchanged data writes no notice event
   (only the runs' own: started, one per page, finished, and the source's
   start and end), timed too. Target (issue #11): >= 2,000 notices/s end to
   end; the process's CPU per notice is printed too (the job, the projection
   runners and the simulator share it), to tell a slow change from a busy
   machine.

2. Queries (1,000,000 notices in read.notices; 100,000 with --quick). The
   dashboard and feeds read only the read tables, so read.notices is loaded
   directly with COPY (5 companies of unequal size, 85 % overdue and 15 %
   upcoming, days overdue 1..720 skewed to small values with due dates to
   match, amounts 500..5,00,000 rupees with paise, 7 % inactive, matches of
   every band), read.notice_totals is filled with one INSERT ... SELECT ...
   GROUP BY, and the indexes are built from NoticeViews.ddl after the load
   (then VACUUM ANALYZE), so a change to them is what gets measured. Calls go
   through NoticeQueries, the code the API calls: the dashboard for all
   companies, for one company and for staff who see two companies, and the
   overdue feed filtered by company and a due-date window (days-past-due
   buckets 1-30, 31-60, 61-90, 91-180, 181-720) as first pages and pages 2-5
   via the cursor, for one company and for the two-company staff. Printed:
   p50/p95/p99 per kind and per window, and for any kind over target the
   EXPLAIN ANALYZE of its slowest statement: its custom plan (values known)
   and, when slower, its generic plan (psycopg prepares a statement on its
   fifth run on a connection, and PostgreSQL may then keep one plan for any
   values). Baseline: a primary-key lookup of one notice on the same table and
   pool. Checks: dashboard totals and top notices agree with plain SQL, and
   every feed page holds only active overdue notices of the asked companies
   and window, in feed order, full when more exist, and pages of a walk do not
   overlap.

Targets of the queries (issue #11): dashboard and filtered overdue page p95
<= 5 ms each.

A quick run takes one to two minutes; a full run 20 to 40 minutes on a 2-CPU
machine shared with other work: loading a million borrowers and their name
keys 5 to 15, the sync itself one to five, loading a million notices 3 to 8
and the queries 6 to 13 (walking to the pages 2-5 to time takes most of it).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable

import structlog

from tests.benchmarks.harness import Verdict, say
from tests.benchmarks.notices_queries import FULL_ROWS, run_queries
from tests.benchmarks.notices_sync import FULL_BORROWERS, FULL_NOTICES, run_sync


def run(quick: bool) -> list[Verdict]:
    """Both repayment-operations benchmarks."""
    return run_sync(quick) + run_queries(quick)


def main(argv: list[str] | None = None) -> int:
    """Run this benchmark alone and report; the exit status says whether every target was met."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.notices",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller data (a smoke test)")
    parser.add_argument("--only", choices=("sync", "queries"), help="run one of the two benchmarks")
    parser.add_argument("--notices", type=int, help=f"notices the sync pulls (default {FULL_NOTICES:,})")
    parser.add_argument(
        "--borrowers", type=int, help=f"borrowers the sync matches against (default {FULL_BORROWERS:,})"
    )
    parser.add_argument("--rows", type=int, help=f"notices in read.notices for the queries (default {FULL_ROWS:,})")
    args = parser.parse_args(argv)
    # The library and pool log at INFO per connection; the report is the output here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    chosen: list[Callable[[], list[Verdict]]] = []
    if args.only in (None, "sync"):
        chosen.append(lambda: run_sync(args.quick, args.notices, args.borrowers))
    if args.only in (None, "queries"):
        chosen.append(lambda: run_queries(args.quick, args.rows))
    started = time.perf_counter()
    say(f"Repayment operations benchmarks ({'quick' if args.quick else 'full'} run)")
    say()
    verdicts: list[Verdict] = []
    for benchmark in chosen:
        began = time.perf_counter()
        verdicts += benchmark()
        say(f"   ({time.perf_counter() - began:.0f} s)")
        say()
    for verdict in verdicts:
        say(verdict.line())
    failed = [v for v in verdicts if not v.passed]
    say(
        f"{len(verdicts) - len(failed)} of {len(verdicts)} targets met in {time.perf_counter() - started:.0f} s"
        + (" -- FAILED" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
