"""The covenant evaluation job over N covenants, with the covenant read model's catch-up: see
tests/benchmarks/covenant_jobs.py."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from adapters.mail_sink import free_port
from adapters.mailer import MailSettings
from domain.covenants.application import Covenants
from domain.identity.application import Identity
from domain.jobs.application import Jobs
from projections.covenant_queries import CovenantQueries
from projections.runner import ProjectionRunner
from tests.benchmarks.covenant_jobs_data import (
    AS_OF,
    SAVE_SIZE,
    analyze,
    catch_up_projections,
    execute,
    load_evaluation_book,
    projections,
    stop,
)
from tests.benchmarks.harness import CpuSplit, Rate, Verdict, fresh_database, say
from workers.platform import Platform

FULL_COVENANTS, QUICK_COVENANTS = 1_000_000, 20_000

#: Issue #11: covenants evaluated per second including the read model (from the run's start until the covenant read
#: model, following the run as the worker's runner does, has applied every event it wrote). The ratio to the
#: bulk-save baseline is printed for information, without a target.
TARGET_COVENANTS_PER_SECOND = 8_000


def _scalar(platform: Platform, sql: str, *params: Any) -> Any:
    with platform.db.pool.connection() as conn:
        row = conn.execute(sql, params).fetchone()
    return next(iter(row.values())) if row else None


def _follow(platform: Platform, sources: set[str]) -> list[ProjectionRunner]:
    """Start a runner for the projections of each source (as the worker process does)."""
    runners = []
    for source in sorted(sources):
        runner = ProjectionRunner(platform.engine, sorted(projections(platform, {source})), platform.dsn)
        runner.start()
        runners.append(runner)
    return runners


def _caught_up(platform: Platform, projection: str, head: int, timeout: float = 900.0) -> None:
    """Wait until `projection` has committed every notification up to `head` (its runner is following); raise if
    it has not within `timeout` seconds (a stopped runner or projection, said with its position and error)."""
    deadline = time.monotonic() + timeout
    while True:
        with platform.db.pool.connection() as conn:
            row = conn.execute(
                "SELECT position, error FROM ops.projection_tracking WHERE projection = %s", (projection,)
            ).fetchone()
        if row and row["position"] >= head:
            return
        if time.monotonic() > deadline:
            where = f"at {row['position']:,} ({row['error'] or 'no error recorded'})" if row else "not started"
            raise AssertionError(f"the {projection} read model did not reach {head:,} within {timeout:.0f} s: {where}")
        time.sleep(0.01)


def _feed_scan(platform: Platform, brand_id: UUID, batch: int) -> Rate:
    """Page through the due covenants as the job does, reading ids only."""
    began = time.perf_counter()
    after, seen = None, 0
    while ids := platform.get(CovenantQueries).due_covenants(brand_id, AS_OF, {}, after, batch):
        seen += len(ids)
        after = ids[-1]
    return Rate(seen, time.perf_counter() - began)


def run_evaluation(quick: bool, covenants: int | None = None) -> list[Verdict]:
    """Load N covenants all due on AS_OF, time the evaluation job, check it and its rerun."""
    total = covenants or (QUICK_COVENANTS if quick else FULL_COVENANTS)
    say(f"== Covenant evaluation job ({total:,} covenants, each due for one cycle on {AS_OF:%d %b %Y})")
    with fresh_database("cd_bench_coveval") as dsn:
        platform = Platform.open(dsn, mail=MailSettings(port=free_port()))
        runners: list[ProjectionRunner] = []
        try:
            bulk = callable(getattr(platform.get(Covenants).recorder, "select_events_many", None))
            brand_id = platform.get(Identity).create_brand("bench-eval", "Bench Evaluation Finance").id
            book = load_evaluation_book(platform, brand_id, total)
            say(
                f"   loaded {book.borrowers:,} borrowers and {book.covenants:,} covenants in {book.seconds:.1f} s "
                f"(covenants alone {book.covenant_saves.per_second:,.0f}/s in saves of {SAVE_SIZE:,})"
            )
            # What the job reads (the covenant worklist) and what its runs touch; the activity log and
            # timelines are left behind, as nothing here reads them.
            began = time.perf_counter()
            needed = {"covenants", "customer_directory"} | projections(platform, {"identity", "jobs"})
            covered = catch_up_projections(platform, needed)
            analyze(platform)
            say(
                f"   caught up what the job reads (covenants, customer_directory, identity and job-run views): "
                f"{covered:,} notifications in {time.perf_counter() - began:.1f} s"
            )

            batch = platform.get(Jobs).settings(brand_id, "covenant-evaluation").batch_size
            feed = _feed_scan(platform, brand_id, batch)
            runners = _follow(platform, {"jobs"})
            # The covenant read model follows the run as in the worker process (a runner of its own, LISTEN/NOTIFY):
            # the clock stops when it has applied the last event the run wrote.
            covenant_runner = ProjectionRunner(platform.engine, ["covenants"], platform.dsn)
            covenant_runner.start()
            runners.append(covenant_runner)
            began, split = time.perf_counter(), CpuSplit().start()
            run, seconds = execute(platform, brand_id, "covenant-evaluation")
            job = Rate(run.totals.processed, seconds)
            ended = time.perf_counter()
            head = platform.engine.head("covenants")
            at_end = _scalar(platform, "SELECT position FROM ops.projection_tracking WHERE projection = 'covenants'")
            _caught_up(platform, "covenants", head)
            tail = time.perf_counter() - ended
            with_read_model = Rate(total, time.perf_counter() - began)
            split.stop()
            lagging = catch_up_projections(platform, {"covenants"})  # none: the runner covered the head
            records = _scalar(
                platform,
                "SELECT count(*) FROM read.covenant_evaluations WHERE brand_id = %s AND status = 'open' AND cycle = 1",
                brand_id,
            )
            moved_on = _scalar(
                platform,
                "SELECT count(*) FROM read.covenants WHERE brand_id = %s AND cycles = 1 "
                "AND (next_evaluation_date > %s OR (next_evaluation_date IS NULL AND frequency = 'one_time'))",
                brand_id,
                AS_OF,
            )
            rerun, rerun_seconds = execute(platform, brand_id, "covenant-evaluation")
        finally:
            stop(runners)
            platform.close()

    baseline = book.covenant_saves.per_second
    say(
        f"   feed alone (due_covenants pages of {batch}, ids)        {feed.per_second:9,.0f} covenants/s"
        f"  ({feed.operations:,} in {feed.seconds:.1f} s)"
    )
    say(
        f"   bulk save of Covenant.Created (baseline)       {baseline:9,.0f} covenants/s"
        f"  ({book.covenant_saves.operations:,} in {book.covenant_saves.seconds:.1f} s)"
    )
    say(
        f"   evaluation job (batches of {batch})              {job.per_second:9,.0f} covenants/s"
        f"  ({job.operations:,} in {job.seconds:.1f} s, {run.batches:,} batches)   ratio to baseline "
        f"{job.per_second / baseline:.2f} (informative)"
    )
    say(
        f"   aggregates loaded {'in one query per batch (select_events_many)' if bulk else 'one query each'}; "
        f"the covenant read model's runner followed the run and applied its last event {tail:.2f} s after it ended "
        f"(head {head:,}, the read model {head - at_end:,} notifications behind at the run's end:"
        f" {(head - at_end) / max(tail, 1e-9):,.0f}/s after it; {lagging:,} left for a catch-up after it)"
    )
    say(
        f"   evaluation including the read model (run start to read model at head) {with_read_model.per_second:9,.0f} "
        f"covenants/s  ({total:,} in {with_read_model.seconds:.1f} s)"
    )
    say(f"   CPU meanwhile: {split.line()} ({split.process / total * 1e6:,.0f} us a covenant in this process)")
    if total != FULL_COVENANTS:
        say(
            f"   at this rate {FULL_COVENANTS:,} covenants would take {FULL_COVENANTS / job.per_second / 60:.1f} min "
            f"(with the read model {FULL_COVENANTS / with_read_model.per_second / 60:.1f} min)"
        )
    say(
        f"   checked: {records:,} open cycle-1 records, {moved_on:,} covenants moved to their next date; "
        f"a rerun for the same date opened {rerun.totals.succeeded} in {rerun_seconds:.1f} s"
    )
    if run.totals.succeeded != total or records != total or moved_on != total:
        raise AssertionError(
            f"evaluation opened {run.totals.succeeded:,} (read model: {records:,} records, {moved_on:,} covenants "
            f"moved on) for {total:,} covenants"
        )
    if rerun.totals.succeeded != 0:
        raise AssertionError(f"a rerun for the same date opened {rerun.totals.succeeded:,} records")
    return [
        Verdict(
            "covenant-jobs",
            "evaluation covenants/s including the read model",
            with_read_model.per_second,
            TARGET_COVENANTS_PER_SECOND,
            True,
            "/s",
        ),
    ]
