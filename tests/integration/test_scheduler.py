from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.jobs.application import JobDefinition
from domain.jobs.job import BatchCounts, JobRun, JobSettings, RunStatus
from workers.scheduler import Scheduler


class Flaky:
    """A job handler that fails its first `failures` attempts, then processes 3 batches."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, platform: Any, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        self.calls += 1
        yield BatchCounts(processed=run.settings.batch_size, succeeded=run.settings.batch_size), "1"
        if self.calls <= self.failures:
            raise RuntimeError(f"transient failure {self.calls}")
        for cursor in ("2", "3"):
            yield BatchCounts(processed=1, succeeded=1), cursor


@pytest.fixture(autouse=True)
def _forget_test_jobs(platform: Any) -> Iterator[None]:
    """Jobs registered by a test leave the shared platform's catalogue afterwards."""
    before = set(platform.jobs.catalogue)
    yield
    for name in set(platform.jobs.catalogue) - before:
        del platform.jobs.catalogue[name]


def _register(platform: Any, name: str, cron: str | None = None) -> None:
    platform.jobs.register(
        JobDefinition(
            name,
            name.title(),
            "test job",
            JobSettings(cron=cron, batch_size=2, retry_count=2, retry_interval_seconds=0),
            frozenset({"company"}),
        )
    )


def test_manual_run_retries_then_succeeds_with_history(platform: Any, tenant: Any) -> None:
    name = "flaky-" + uuid.uuid4().hex[:6]
    _register(platform, name)
    handler = Flaky(failures=1)
    scheduler = Scheduler(platform, {name: handler})
    result = platform.jobs.request_run(
        tenant.brand_id,
        name,
        trigger="manual",
        requested_by="test",
        as_of=date(2026, 11, 1),
        filters={"company": "acme"},
    )
    platform.engine.wait_for("jobs", result.position)
    scheduler.execute(result.id)
    run = platform.jobs.run(tenant.brand_id, result.id)
    assert run.status == RunStatus.RETRYING and "transient failure 1" in (run.error or "")
    scheduler.execute(result.id)
    run = platform.jobs.run(tenant.brand_id, result.id)
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 2
    assert run.settings.filters == {"company": "acme"} and run.settings.variables["as_of"] == "2026-11-01"
    platform.engine.wait_for("jobs", platform.engine.head("jobs"))
    view = platform.job_queries.run(tenant.brand_id, result.id)
    assert (view.status, view.attempt, view.batches, view.processed) == ("succeeded", 2, 4, 6)
    assert platform.job_queries.run(uuid.uuid4(), result.id) is None  # invisible to another brand


def test_run_fails_for_good_after_its_retries(platform: Any, tenant: Any) -> None:
    name = "doomed-" + uuid.uuid4().hex[:6]
    _register(platform, name)
    scheduler = Scheduler(platform, {name: Flaky(failures=99)})
    result = platform.jobs.request_run(
        tenant.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)
    )
    for _ in range(4):
        scheduler.execute(result.id)
    run = platform.jobs.run(tenant.brand_id, result.id)
    assert run.status == RunStatus.FAILED and run.attempt == 3


def test_a_cron_slot_produces_one_run_however_often_it_fires(platform: Any, tenant: Any) -> None:
    name = "cron-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="*/5 * * * *")
    slot = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
    first = platform.jobs.request_run(
        tenant.brand_id,
        name,
        trigger="schedule",
        requested_by="scheduler",
        as_of=date(2026, 11, 22),
        scheduled_for=slot,
    )
    again = platform.jobs.request_run(
        tenant.brand_id,
        name,
        trigger="schedule",
        requested_by="scheduler",
        as_of=date(2026, 11, 22),
        scheduled_for=slot,
    )
    assert first.id == again.id and again.changed is False


def test_scheduler_fires_the_latest_missed_slot_once(platform: Any, tenant: Any) -> None:
    name = "tick-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")
    scheduler = Scheduler(platform, {name: Flaky(failures=0)})
    platform.engine.wait_for("identity", platform.engine.head("identity"))
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    scheduler.fire_due_slots(start)  # first sight: remember the slot, no backfill
    assert platform.ops.last_slot(tenant.brand_id, name) == start
    # Hourly at :00 in Asia/Kolkata is :30 UTC: the 10:30, 11:30 and 12:30 slots were missed.
    scheduler.fire_due_slots(start + timedelta(hours=3, minutes=10))
    scheduler.fire_due_slots(start + timedelta(hours=3, minutes=20))
    platform.engine.wait_for("jobs", platform.engine.head("jobs"))
    runs = platform.job_queries.history(tenant.brand_id, name).items
    assert [(r.trigger, r.as_of) for r in runs] == [("schedule", date(2026, 11, 22))]
    assert platform.ops.last_slot(tenant.brand_id, name) == datetime(2026, 11, 22, 12, 30, tzinfo=UTC)


def test_only_one_scheduler_leads(platform: Any) -> None:
    import psycopg

    from workers.scheduler import LEADER_LOCK_KEY

    with psycopg.connect(platform.dsn, autocommit=True) as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0]
        with psycopg.connect(platform.dsn, autocommit=True) as other:
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0] is False
