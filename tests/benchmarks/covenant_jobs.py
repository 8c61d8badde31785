"""Covenant jobs: the evaluation job over N covenants (covenants/s) and the notification job into SMTP (emails/s).

Run alone with `python -m tests.benchmarks.covenant_jobs [--quick] [--only evaluation|notification]
[--covenants N] [--records M]`.

1. Evaluation (1,000,000 covenants; 20,000 with --quick). One brand's book:
   a borrower per ten covenants (CustomerRecords from data.py) and covenants
   of every type and frequency on their loans, built as aggregates and written
   in saves of 2,000. Every covenant's first reminder date falls on or before
   the as-of date and its second after it, so the run opens exactly one
   evaluation record per covenant (two events: CycleOpened, Opened). Before
   the clock starts, the read models the job reads are caught up (covenant
   worklist, customer directory, identity, job runs). The run is requested and
   executed as the scheduler does it (`Scheduler.execute`, the job's default
   batch size, 1,000) with the job-run views and the covenant read model
   followed by runners, as in the worker process; the clock stops when the
   covenant read model has applied the last event the run wrote (the job's own
   time and the read model's tail after it are printed). Checks: one open
   record per covenant and every covenant moved to its next date in the read
   model, and a rerun for the same date opens none.
   Baseline: the rate at which the same event store took the N
   `Covenant.Created` events while the book was loaded (aggregates built and
   saved in big saves); the ratio shows what reading a covenant and writing its
   cycle costs over writing the covenant in the first place (informative: the
   target, issue #11's, is covenants/s including the read model, i.e. from the
   run's start until the covenant read model is at the head). The job loads each
   batch's aggregates in one query when the recorder has `select_events_many`,
   else one query per covenant (the report says which).

2. Notification (100,000 open records; 5,000 with --quick). Records reminded on
   the as-of date, one or two per application with the same due date (one
   email per application), every borrower with an email. The run goes through
   all its phases with every projection runner following, as in the worker
   process, and mails a local SMTP server (`MailSink`, aiosmtpd) run in a
   process of its own so it does not share our GIL. Each email is recorded as
   handed over before its end-of-data mark and as sent after the server's
   answer (what makes a killed run safe to resume). Checks: the server got
   exactly one email per group, each with its own Message-ID and a "Reminder:"
   subject, and a rerun sends none. Baseline: up to RAW_SAMPLE similar emails
   (the same template, rendered once) sent straight through `SmtpMailer` to
   the same server at the job's parallelism (`MailSettings.connections`
   threads, one SMTP connection each), half before and half after the job; the
   faster half's rate is the baseline (a half the machine slowed would flatter
   the ratio). The CPU an email of this process, PostgreSQL's backends and the
   sink is printed for both, with the share of the time the sink was busy and
   the share in which some task on the machine waited for a CPU (the kernel's
   pressure stall information): the sink, the bottleneck, is busy through the
   raw sends; through the job it waits for a CPU or for work. The full run
   takes about 15 minutes on a 2-CPU machine.

The books are built and loaded in `covenant_jobs_data.py` (with what both runs
share: catching read models up, executing a run as the scheduler does); the
two jobs are measured in `covenant_evaluation.py` and `covenant_notification.py`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable

import structlog

from tests.benchmarks.covenant_evaluation import FULL_COVENANTS, run_evaluation
from tests.benchmarks.covenant_notification import FULL_RECORDS, run_notification
from tests.benchmarks.harness import Verdict, say


def run(quick: bool) -> list[Verdict]:
    """Both covenant job benchmarks."""
    return run_evaluation(quick) + run_notification(quick)


def main(argv: list[str] | None = None) -> int:
    """Run this benchmark alone and report; the exit status says whether every target was met."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.covenant_jobs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smaller data (a smoke test)")
    parser.add_argument("--only", choices=("evaluation", "notification"), help="run one of the two jobs")
    parser.add_argument("--covenants", type=int, help=f"covenants to evaluate (default {FULL_COVENANTS:,})")
    parser.add_argument("--records", type=int, help=f"due records to notify about (default {FULL_RECORDS:,})")
    args = parser.parse_args(argv)
    # The library and pool log at INFO per connection; the report is the output here.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.basicConfig(level=logging.WARNING)
    chosen: list[Callable[[], list[Verdict]]] = []
    if args.only in (None, "evaluation"):
        chosen.append(lambda: run_evaluation(args.quick, args.covenants))
    if args.only in (None, "notification"):
        chosen.append(lambda: run_notification(args.quick, args.records))
    started = time.perf_counter()
    say(f"Covenant job benchmarks ({'quick' if args.quick else 'full'} run)")
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
