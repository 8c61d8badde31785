from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.identity.application import Identity
from domain.jobs.application import JobDefinition, Jobs
from domain.jobs.job import BatchCounts, JobRun, JobSettings, RunStatus
from projections.jobs import JobRunQueries
from tests.conftest import Tenant, make_tenant, private_database, running_platform
from tests.support import settle
from workers.scheduler import Scheduler, SchedulerPort


class Flaky:
    """A job handler that fails its first `failures` attempts, then processes 3 batches."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        self.calls += 1
        yield BatchCounts(processed=run.settings.batch_size, succeeded=run.settings.batch_size), "1"
        if self.calls <= self.failures:
            raise RuntimeError(f"transient failure {self.calls}")
        for cursor in ("2", "3"):
            yield BatchCounts(processed=1, succeeded=1), cursor


@pytest.fixture(scope="module")
def platform(platform_template: str, mail_sink: Any) -> Iterator[Any]:
    """These tests' database of their own. A firing pass walks every brand of its database and every job: on the
    session's, every earlier test's brands (a brand a test at least) -- a first sight of each was a write each, a pass
    a month later asked a run of each, the slow-firing scheduler slept for each, and the dispatching ones were handed
    their due runs; longer with every test added, and the tests' slots set on brands of other tests."""
    with private_database(platform_template) as dsn, running_platform(dsn, mail_sink.port) as p:
        yield p


@pytest.fixture(autouse=True)
def _forget_test_jobs(platform: Any) -> Iterator[None]:
    """Jobs registered by a test leave the shared platform's catalogue afterwards."""
    before = set(platform.get(Jobs).catalogue)
    yield
    for name in set(platform.get(Jobs).catalogue) - before:
        platform.get(Jobs).unregister(name)


def _hold_business_date(platform: Any, tenant: Any, day: date) -> None:
    """Operate the brand as of `day`, so its runs may be dated then."""
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": day.isoformat()})
    settle(platform, Identity.name, result.position)


def _register(platform: Any, name: str, cron: str | None = None) -> None:
    platform.get(Jobs).register(
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
    scheduler = Scheduler(platform.port(SchedulerPort), {name: handler})
    _hold_business_date(platform, tenant, date(2026, 11, 1))
    result = platform.get(Jobs).request_run(
        tenant.brand_id,
        name,
        trigger="manual",
        requested_by="test",
        as_of=date(2026, 11, 1),
        filters={"company": "acme"},
    )
    settle(platform, Jobs.name, result.position)
    scheduler.execute(result.id)
    run = platform.get(Jobs).run(tenant.brand_id, result.id)
    assert run.status == RunStatus.RETRYING and "transient failure 1" in (run.error or "")
    scheduler.execute(result.id)
    run = platform.get(Jobs).run(tenant.brand_id, result.id)
    assert run.status == RunStatus.SUCCEEDED and run.attempt == 2
    assert run.settings.filters == {"company": "acme"} and run.settings.variables["as_of"] == "2026-11-01"
    settle(platform, Jobs.name)
    view = platform.get(JobRunQueries).run(tenant.brand_id, result.id)
    assert (view.status, view.attempt, view.batches, view.processed) == ("succeeded", 2, 4, 6)
    assert platform.get(JobRunQueries).run(uuid.uuid4(), result.id) is None  # invisible to another brand


def test_run_fails_for_good_after_its_retries(platform: Any, tenant: Any) -> None:
    name = "doomed-" + uuid.uuid4().hex[:6]
    _register(platform, name)
    scheduler = Scheduler(platform.port(SchedulerPort), {name: Flaky(failures=99)})
    _hold_business_date(platform, tenant, date(2026, 11, 1))
    result = platform.get(Jobs).request_run(
        tenant.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)
    )
    for _ in range(4):
        scheduler.execute(result.id)
    run = platform.get(Jobs).run(tenant.brand_id, result.id)
    assert run.status == RunStatus.FAILED and run.attempt == 3


def test_a_cron_slot_produces_one_run_however_often_it_fires(platform: Any, tenant: Any) -> None:
    name = "cron-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="*/5 * * * *")
    _hold_business_date(platform, tenant, date(2026, 11, 22))
    slot = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
    first = platform.get(Jobs).request_run(
        tenant.brand_id,
        name,
        trigger="schedule",
        requested_by="scheduler",
        as_of=date(2026, 11, 22),
        scheduled_for=slot,
    )
    again = platform.get(Jobs).request_run(
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
    scheduler = Scheduler(platform.port(SchedulerPort), {name: Flaky(failures=0)})
    _hold_business_date(platform, tenant, date(2026, 11, 22))
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    scheduler.fire_due_slots(start)  # first sight: remember the slot, no backfill
    assert platform.ops.last_slot(tenant.brand_id, name) == start
    # Hourly at :00 in Asia/Kolkata is :30 UTC: the 10:30, 11:30 and 12:30 slots were missed.
    scheduler.fire_due_slots(start + timedelta(hours=3, minutes=10))
    scheduler.fire_due_slots(start + timedelta(hours=3, minutes=20))
    settle(platform, Jobs.name)
    runs = platform.get(JobRunQueries).history(tenant.brand_id, name).items
    assert [(r.trigger, r.as_of) for r in runs] == [("schedule", date(2026, 11, 22))]
    assert platform.ops.last_slot(tenant.brand_id, name) == datetime(2026, 11, 22, 12, 30, tzinfo=UTC)


def test_only_one_scheduler_leads(platform: Any) -> None:
    import psycopg

    from workers.scheduler import LEADER_LOCK_KEY

    with psycopg.connect(platform.dsn, autocommit=True) as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0]
        with psycopg.connect(platform.dsn, autocommit=True) as other:
            assert other.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0] is False


class DispatchOnly(Scheduler):
    """The real scheduler without cron firing: earlier tests' brands have schedules; these tests are about dispatch."""

    def fire_due_slots(self, now: datetime, dispatching: bool = False) -> None:
        pass


class SlowFiring(Scheduler):
    """The real scheduler whose cron firing takes a while per brand and job (as a worker starting on many brands'
    missed slots does: a write each); nothing is fired."""

    def _fire_slot(self, brand: Any, name: str, now: datetime) -> None:
        time.sleep(0.2)


def test_a_run_asked_for_starts_while_a_long_pass_fires_missed_slots(platform: Any, tenant: Any) -> None:
    name = "prompt-" + uuid.uuid4().hex[:6]
    _register(platform, name)
    started = threading.Event()

    def handler(run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        started.set()
        yield BatchCounts(processed=1, succeeded=1), None

    _hold_business_date(platform, tenant, date(2026, 11, 1))
    scheduler = SlowFiring(platform.port(SchedulerPort), {name: handler}, workers=2)
    mine = make_tenant(platform)  # its own brand: no other brand's due runs are handed to this scheduler first
    _hold_business_date(platform, mine, date(2026, 11, 1))
    asked = platform.get(Jobs).request_run(mine.brand_id, name, trigger="manual", requested_by="test",
                                           as_of=date(2026, 11, 1))  # fmt: skip
    settle(platform, Jobs.name, asked.position)
    firing = threading.Thread(target=scheduler.tick)
    began = time.monotonic()
    firing.start()
    try:
        # Every brand of the database times every job at 0.2 s: the pass takes far longer than the wait below.
        assert started.wait(timeout=20), "the run waited for the whole firing pass"
        assert firing.is_alive()  # started while the pass was still firing
        assert time.monotonic() - began < 20
    finally:
        scheduler.stop()
        firing.join(timeout=30)
    assert not firing.is_alive()
    settle(platform, Jobs.name)
    assert platform.get(Jobs).run(mine.brand_id, asked.id).status is RunStatus.SUCCEEDED


def _dead_worker() -> str:
    """The worker id (host:pid) of a process of this host that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    assert process.wait(timeout=30) == 0
    return f"{socket.gethostname()}:{process.pid}"


def test_a_dead_workers_run_is_recovered_however_many_runs_live_workers_hold(platform: Any, tenant: Any) -> None:
    """More runs held by live workers than the leader used to look at (100, oldest first) do not hide the run of a
    worker that died after them: it gets a failed attempt at the next tick, theirs are left alone."""
    name = "held-" + uuid.uuid4().hex[:6]
    platform.get(Jobs).register(JobDefinition(name, name.title(), "test job", JobSettings(cron=None, retry_count=0)))
    _hold_business_date(platform, tenant, date(2026, 11, 1))
    jobs = platform.get(Jobs)
    slot = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    alive = f"{socket.gethostname()}:{os.getpid()}"
    dead = _dead_worker()
    held = []
    for i in range(101):
        run_id = jobs.request_run(tenant.brand_id, name, trigger="schedule", requested_by="scheduler",
                                  as_of=date(2026, 11, 1), scheduled_for=slot + timedelta(minutes=i)).id  # fmt: skip
        held.append(jobs.start_attempt(run_id, alive))
    orphan = jobs.request_run(tenant.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)).id
    jobs.start_attempt(orphan, dead)
    settle(platform, Jobs.name)
    try:
        DispatchOnly(platform.port(SchedulerPort), {}).recover_stalled(platform.clock.now())
        run = jobs.run(tenant.brand_id, orphan)
        assert run.status is RunStatus.FAILED and f"worker {dead} is gone" in (run.error or "")
        assert all(jobs.run(tenant.brand_id, r.id).status is RunStatus.RUNNING for r in held)
    finally:  # They would otherwise stay running in the session's database, under this live process.
        for run in held:
            jobs.fail_attempt(run, "test over")


def test_a_dead_workers_run_is_retried_while_a_long_pass_fires_missed_slots(platform: Any) -> None:
    """The run a killed worker left is recovered at the tick's start, due at its failure time (after the tick's
    `now`): the dispatches during the firing pass start it (they used the pass's `now` and never found it due)."""
    name = "orphaned-" + uuid.uuid4().hex[:6]
    _register(platform, name)  # retry_interval_seconds=0: the retry is due when the attempt fails
    started = threading.Event()

    def handler(run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        started.set()
        yield BatchCounts(processed=1, succeeded=1), None

    mine = make_tenant(platform)
    _hold_business_date(platform, mine, date(2026, 11, 1))
    jobs = platform.get(Jobs)
    run_id = jobs.request_run(mine.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)).id
    jobs.start_attempt(run_id, _dead_worker())
    settle(platform, Jobs.name)
    scheduler = SlowFiring(platform.port(SchedulerPort), {name: handler}, workers=2)
    firing = threading.Thread(target=scheduler.tick)
    firing.start()
    try:
        assert started.wait(timeout=20), "the retry waited for the whole firing pass"
        assert firing.is_alive()  # started while the pass was still firing
    finally:
        scheduler.stop()
        firing.join(timeout=30)
    assert not firing.is_alive()
    settle(platform, Jobs.name)
    run = jobs.run(mine.brand_id, run_id)
    assert run.status is RunStatus.SUCCEEDED and run.attempt == 2


class Gate:
    """Job handlers whose runs block until released; they record overlap per lane and who started when."""

    def __init__(self, lanes: dict[str, str]) -> None:
        self.lanes = lanes  # job name -> lane
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running: Counter[tuple[Any, str]] = Counter()
        self.peak: Counter[tuple[Any, str]] = Counter()
        self.brand_running: Counter[Any] = Counter()
        self.brand_peak: Counter[Any] = Counter()
        self.finished: Counter[Any] = Counter()

    def __call__(self, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        lane = (run.brand_id, self.lanes[run.job_name])
        with self.lock:
            self.running[lane] += 1
            self.peak[lane] = max(self.peak[lane], self.running[lane])
            self.brand_running[run.brand_id] += 1
            self.brand_peak[run.brand_id] = max(self.brand_peak[run.brand_id], self.brand_running[run.brand_id])
        try:
            assert self.release.wait(timeout=60), "never released"
            yield BatchCounts(processed=1, succeeded=1), "done"
        finally:
            with self.lock:
                self.running[lane] -= 1
                self.brand_running[run.brand_id] -= 1
                self.finished[run.brand_id] += 1


def _request(platform: Any, brand_id: Any, name: str, day: date) -> Any:
    return platform.get(Jobs).request_run(brand_id, name, trigger="manual", requested_by="test", as_of=day).id


def test_a_brand_with_many_queued_runs_does_not_hold_up_another_brands_run(platform: Any) -> None:
    """Brand A has 40 runs of 5 blocking jobs queued (two jobs share a lane); brand B's run starts and finishes
    while every run of A still blocks, A's jobs run in parallel, and no lane ever runs two runs at once."""
    suffix = uuid.uuid4().hex[:6]
    names = [f"gate{i}-{suffix}" for i in range(5)]
    lanes = {name: name for name in names[:3]} | {name: f"shared-{suffix}" for name in names[3:]}
    for name in names:
        platform.get(Jobs).register(
            JobDefinition(name, name, "blocks", JobSettings(cron=None, retry_count=0), lane=lanes[name])
        )
    quick = f"quick-{suffix}"
    _register(platform, quick)
    a, b = make_tenant(platform), make_tenant(platform)
    day = platform.get(Identity).business_date(a.brand_id)
    gate = Gate(lanes)
    b_done = threading.Event()

    def quick_job(run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        yield BatchCounts(processed=1, succeeded=1), None
        b_done.set()

    a_runs = [_request(platform, a.brand_id, names[i % 5], day) for i in range(40)]
    b_run = _request(platform, b.brand_id, quick, day)
    settle(platform, Jobs.name)

    scheduler = DispatchOnly(
        platform.port(SchedulerPort), {quick: quick_job, **dict.fromkeys(names, gate)}, interval=0.2, workers=4
    )
    scheduler.start()
    try:
        assert b_done.wait(timeout=20), "brand B's run waited behind brand A's queue"
        deadline = time.monotonic() + 10
        while platform.get(Jobs).run(b.brand_id, b_run).status != RunStatus.SUCCEEDED:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # A's jobs run in parallel, on all executors but one (kept free for a brand that asks next).
        while gate.brand_peak[a.brand_id] < 3:
            assert time.monotonic() < deadline, gate.brand_peak
            time.sleep(0.05)
        assert sum(gate.finished.values()) == 0  # B finished while every run of A still blocked
        gate.release.set()
        deadline = time.monotonic() + 60
        while gate.finished[a.brand_id] < len(a_runs):
            assert time.monotonic() < deadline, f"{gate.finished[a.brand_id]} of {len(a_runs)} finished"
            time.sleep(0.05)
        # A run's success is recorded after its job returns (`finished` counts the return): wait for the records
        # before stopping the scheduler, which does not wait for them (a loaded machine caught the last one running).
        while {platform.get(Jobs).run(a.brand_id, run_id).status for run_id in a_runs} != {RunStatus.SUCCEEDED}:
            assert time.monotonic() < deadline, "A's runs finished but not all were recorded as succeeded"
            time.sleep(0.05)
    finally:
        gate.release.set()
        scheduler.stop()
        scheduler.join(timeout=10)
    assert gate.brand_peak[a.brand_id] == 3, "one executor stays free for other brands"
    assert max(gate.peak.values()) == 1, "a lane ran two runs at once"
    assert gate.peak[(a.brand_id, f"shared-{suffix}")] == 1
    statuses = {platform.get(Jobs).run(a.brand_id, run_id).status for run_id in a_runs}
    assert statuses == {RunStatus.SUCCEEDED}


def test_runs_are_handed_out_brand_by_brand_in_turn(platform: Any) -> None:
    """With one executor, brands take turns: A's third run waits until B and C have had theirs."""
    name = "turn-" + uuid.uuid4().hex[:6]
    _register(platform, name)
    brands = [make_tenant(platform) for _ in range(3)]
    day = platform.get(Identity).business_date(brands[0].brand_id)
    order: list[Any] = []

    def record(run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        order.append(run.brand_id)
        yield BatchCounts(processed=1, succeeded=1), None

    for tenant in (brands[0], brands[0], brands[0], brands[1], brands[2]):
        _request(platform, tenant.brand_id, name, day)
    settle(platform, Jobs.name)
    scheduler = DispatchOnly(platform.port(SchedulerPort), {name: record}, interval=0.1, workers=1)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while len(order) < 5:
            assert time.monotonic() < deadline, order
            time.sleep(0.05)
    finally:
        scheduler.stop()
        scheduler.join(timeout=10)
    a = brands[0].brand_id
    assert order.count(a) == 3 and order[-1] == a and set(order[:3]) == {t.brand_id for t in brands}


def test_a_scheduled_run_of_a_brand_held_at_a_past_date_runs_as_of_that_date(platform: Any, tenant: Any) -> None:
    name = "held-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")
    _hold_business_date(platform, tenant, date(2026, 11, 20))
    scheduler = Scheduler(platform.port(SchedulerPort), {})
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    scheduler.fire_due_slots(start)
    scheduler.fire_due_slots(start + timedelta(hours=1))
    settle(platform, Jobs.name)
    (run,) = platform.get(JobRunQueries).history(tenant.brand_id, name).items
    assert (run.trigger, run.as_of) == ("schedule", date(2026, 11, 20))


def test_one_brands_unusable_schedule_does_not_stop_the_others(platform: Any, tenant: Any) -> None:
    """A schedule that cannot fire (stored before such were refused) is skipped; other brands' slots still fire."""
    name = "mixed-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")
    broken = make_tenant(platform)
    legacy = JobSettings.model_validate({**JobSettings(cron=None).model_dump(), "cron": "* * * * * *"})
    config = platform.get(Jobs).find(platform.get(Jobs)._config_id(broken.brand_id, name))
    assert config is None
    from domain.jobs.job import JobConfiguration
    from domain.shared.aggregate import with_id

    platform.get(Jobs).commit(
        with_id(
            JobConfiguration,
            platform.get(Jobs)._config_id(broken.brand_id, name),
            brand_id=broken.brand_id,
            job_name=name,
            settings=legacy,
        )
    )
    for t in (tenant, broken):
        _hold_business_date(platform, t, date(2026, 11, 22))
    scheduler = Scheduler(platform.port(SchedulerPort), {})
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    scheduler.fire_due_slots(start)
    scheduler.fire_due_slots(start + timedelta(hours=1))
    settle(platform, Jobs.name)
    assert len(platform.get(JobRunQueries).history(tenant.brand_id, name).items) == 1
    assert platform.get(JobRunQueries).history(broken.brand_id, name).items == []


def test_a_schedule_changed_between_passes_is_the_one_the_next_pass_fires(platform: Any, tenant: Any) -> None:
    """A pass keeps the settings it read while the jobs context records nothing; a change is an event there."""
    name = "rescheduled-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")  # hourly at :00 in Asia/Kolkata: :30 UTC
    scheduler = Scheduler(platform.port(SchedulerPort), {name: Flaky(failures=0)})
    _hold_business_date(platform, tenant, date(2026, 11, 22))
    start = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    scheduler.fire_due_slots(start)  # first sight
    scheduler.fire_due_slots(start + timedelta(minutes=5))  # nothing due hourly: the settings are kept
    platform.get(Jobs).configure(tenant.brand_id, name, {"cron": "*/15 * * * *"})
    scheduler.fire_due_slots(start + timedelta(minutes=20))  # 09:45 UTC is due every quarter hour, not hourly
    assert platform.ops.last_slot(tenant.brand_id, name) == datetime(2026, 11, 22, 9, 45, tzinfo=UTC)
    settle(platform, Jobs.name)
    runs = platform.get(JobRunQueries).history(tenant.brand_id, name).items
    assert [r.trigger for r in runs] == ["schedule"]


def test_an_idle_firing_pass_reads_a_few_statements_however_many_brands(
    platform: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two reads a brand and job each pass (its settings and its last slot) made an idle worker's scheduler use 3.5 %
    of a CPU with 22 brands; now a pass reads the slots once and keeps the settings while nothing changed."""
    import psycopg

    identity = platform.get(Identity)
    created = [identity.create_brand(f"idle-{uuid.uuid4().hex[:8]}", f"Idle Brand {i}") for i in range(20)]
    settle(platform, Identity.name, max(c.position for c in created))
    name = "idle-pass-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")
    scheduler = Scheduler(platform.port(SchedulerPort), {name: Flaky(failures=0)})
    # Within one minute, so no schedule (once a minute at most) has a slot due after the first pass. A fixed
    # instant before every one the other tests here fire at, so no brand of the session has a slot due at all: the
    # clock's now had the first pass walk each brand's every-minute schedule minute by minute from those tests'
    # 22 Nov 2026 to today (65-130 s on 4 Dec 2026, longer every day).
    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    scheduler.fire_due_slots(start)  # first sight of every brand's schedule: one write each
    scheduler.fire_due_slots(start + timedelta(seconds=10))  # (it may have asked for runs: the settings are read)
    brands = len(platform.port(SchedulerPort).brand_queries.all())
    assert brands >= 21

    statements: list[str] = []
    me = threading.current_thread()
    execute = psycopg.Cursor.execute

    def counted(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is me:
            statements.append(str(query)[:80])
        return execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    scheduler.fire_due_slots(start + timedelta(seconds=20))  # nothing due, nothing recorded since the last pass
    monkeypatch.undo()
    assert len(statements) <= 10, f"{len(statements)} statements for {brands} brands: {Counter(statements)}"


# Catching up after downtime ----------------------------------------------------------------------------------------


def _brand_in(platform: Any, zone: str) -> Any:
    """A fresh brand whose business day (and so its cron schedules) runs in `zone`."""
    slug = "z" + uuid.uuid4().hex[:12]
    created = platform.get(Identity).create_brand(slug, "Zoned Brand", timezone=zone)
    settle(platform, Identity.name, created.position)
    return Tenant(created.id, slug, key="")


def _fired(platform: Any, brand_id: Any, name: str) -> list[datetime]:
    """The slots of the brand's scheduled runs of the job, oldest first."""
    settle(platform, Jobs.name)
    runs = platform.get(JobRunQueries).history(brand_id, name).items
    return sorted(platform.get(Jobs).run(brand_id, run.id).scheduled_for for run in runs)


class CroniterSteps:
    """Counts croniter's own get_next and get_prev calls for one cron expression read in one timezone (the library,
    wrapped, not ours): the steps for one brand's schedule, as every brand of the session has the job."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, expression: str, zone: str) -> None:
        from croniter import croniter

        self.fields, self.zone = expression.split(), zone
        self.steps = 0
        for method in ("get_next", "get_prev"):
            monkeypatch.setattr(croniter, method, self._counted(getattr(croniter, method)))

    def _counted(self, method: Any) -> Any:
        def counted(cron: Any, *args: Any, **kwargs: Any) -> Any:
            if list(cron.expressions) == self.fields and str(cron.tzinfo) == self.zone:
                self.steps += 1
            return method(cron, *args, **kwargs)

        return counted


def test_a_month_down_fires_the_latest_minute_in_a_few_croniter_steps(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An every-minute job down 30 days (across the autumn clock change) fires its latest minute once, as it did
    when the scheduler stepped through all 43,200 missed slots one croniter call each; now it takes a few."""
    name = "minutely-" + uuid.uuid4().hex[:6]
    cron = "*/1 * * * *"  # every minute, spelt apart from the catalogue's every-minute job so only its steps count
    _register(platform, name, cron=cron)
    brand = _brand_in(platform, "America/New_York")
    _hold_business_date(platform, brand, date(2026, 11, 19))
    scheduler = Scheduler(platform.port(SchedulerPort), {})
    start = datetime(2026, 10, 20, 16, 0, 10, tzinfo=UTC)
    scheduler.fire_due_slots(start)  # first sight
    steps = CroniterSteps(monkeypatch, cron, "America/New_York")
    scheduler.fire_due_slots(start + timedelta(days=30, seconds=20))
    latest = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)  # 11:00 EST
    assert platform.ops.last_slot(brand.brand_id, name) == latest
    assert _fired(platform, brand.brand_id, name) == [latest]
    (run,) = platform.get(JobRunQueries).history(brand.brand_id, name).items
    assert run.as_of == date(2026, 11, 19)
    assert steps.steps <= 12, f"{steps.steps} croniter steps to find the slot after 30 days down"


def test_a_slot_the_spring_clock_change_skips_fires_as_croniter_reads_it(platform: Any) -> None:
    """New York skips 02:00-03:00 on 8 March 2026 (07:00 UTC): a daily 02:30 fires at 03:00 EDT that day, an hourly
    :30 has no 02:30 -- whether the scheduler was up through the change or down across it."""
    daily, hourly = "spring-daily-" + uuid.uuid4().hex[:6], "spring-hourly-" + uuid.uuid4().hex[:6]
    _register(platform, daily, cron="30 2 * * *")
    _register(platform, hourly, cron="30 * * * *")
    brand = _brand_in(platform, "America/New_York")
    _hold_business_date(platform, brand, date(2026, 3, 7))
    scheduler = Scheduler(platform.port(SchedulerPort), {})

    def at(hour: int, minute: int, day: int = 8) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=UTC)

    scheduler.fire_due_slots(at(12, 0, day=7))  # first sight, both jobs
    scheduler.fire_due_slots(at(6, 40))  # 01:40 EST: the hourly job has been down since the 7th
    assert _fired(platform, brand.brand_id, hourly) == [at(6, 30)]  # 01:30 EST
    scheduler.fire_due_slots(at(7, 20))  # 03:20 EDT: no 02:30 for the hourly job
    assert platform.ops.last_slot(brand.brand_id, hourly) == at(6, 30)
    assert platform.ops.last_slot(brand.brand_id, daily) == at(7, 0)  # down since the 7th: 02:30 came at 03:00 EDT
    scheduler.fire_due_slots(at(7, 45))
    assert _fired(platform, brand.brand_id, hourly) == [at(6, 30), at(7, 30)]  # 03:30 EDT
    scheduler.fire_due_slots(at(12, 0, day=9))  # down a day: the 9th's 02:30 EDT and 11:30 EDT
    assert _fired(platform, brand.brand_id, daily) == [at(7, 0), at(6, 30, day=9)]
    assert _fired(platform, brand.brand_id, hourly) == [at(6, 30), at(7, 30), at(11, 30, day=9)]


def test_a_slot_the_autumn_clock_change_repeats_fires_twice_when_up_once_when_down_across_it(platform: Any) -> None:
    """New York repeats 01:00-02:00 on 1 November 2026 (06:00 UTC turns 02:00 EDT into 01:00 EST): a daily 01:30
    fires at both 01:30s for a scheduler up through the hour, and once, at the second, for one down across it."""
    up, down = "autumn-up-" + uuid.uuid4().hex[:6], "autumn-down-" + uuid.uuid4().hex[:6]
    _register(platform, up, cron="30 1 * * *")
    brand = _brand_in(platform, "America/New_York")
    _hold_business_date(platform, brand, date(2026, 11, 1))
    scheduler = Scheduler(platform.port(SchedulerPort), {})

    def at(hour: int, minute: int, day: int = 1) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=UTC)

    scheduler.fire_due_slots(datetime(2026, 10, 31, 12, 0, tzinfo=UTC))  # first sight
    scheduler.fire_due_slots(at(6, 10))  # 01:10 EST, the hour's second time: 01:30 EDT came and went
    scheduler.fire_due_slots(at(6, 40))  # 01:40 EST
    assert _fired(platform, brand.brand_id, up) == [at(5, 30), at(6, 30)]

    _register(platform, down, cron="30 1 * * *")
    scheduler.fire_due_slots(datetime(2026, 10, 31, 12, 1, tzinfo=UTC))  # first sight of the second job
    scheduler.fire_due_slots(at(6, 40))  # down from the 31st to 01:40 EST
    assert _fired(platform, brand.brand_id, down) == [at(6, 30)]
    scheduler.fire_due_slots(at(12, 0, day=2))
    assert _fired(platform, brand.brand_id, down) == [at(6, 30), at(6, 30, day=2)]


def test_a_firing_close_of_business_slot_asks_identity_once_for_the_business_date_and_whether_it_is_held(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slot of a job that closes business dates needs whether an admin holds the brand's business date, and for
    a held brand that date: one read of the brand's configuration carries both (it asked `business_date_held`, then
    `business_date`)."""
    name = "closing-" + uuid.uuid4().hex[:6]
    platform.get(Jobs).register(
        JobDefinition(name, name.title(), "closes dates", JobSettings(cron="0 * * * *", retry_count=0), catches_up=True)
    )
    brand = _brand_in(platform, "Asia/Kolkata")
    port = platform.port(SchedulerPort)
    scheduler = Scheduler(port, {})
    now = platform.clock.now()
    _hold_business_date(platform, brand, port.identity.business_date(brand.brand_id))
    platform.ops.set_last_slot(brand.brand_id, name, now - timedelta(hours=2))
    asked: list[str] = []
    for method in ("business_date", "business_date_held", "configuration_state"):  # what a scheduler may ask
        original = getattr(port.identity, method)

        def counted(brand_id: Any, _method: str = method, _original: Any = original) -> Any:
            if brand_id == brand.brand_id:
                asked.append(_method)
            return _original(brand_id)

        monkeypatch.setattr(port.identity, method, counted)
    scheduler._start_pass()
    scheduler._fire_slot(port.brand_queries.brand(brand.brand_id), name, now)
    monkeypatch.undo()
    settle(platform, Jobs.name)
    (run,) = platform.get(JobRunQueries).history(brand.brand_id, name).items
    assert (run.trigger, run.as_of) == ("schedule", port.identity.business_date(brand.brand_id))
    assert len(asked) == 1, asked


# What an idle pass reads -------------------------------------------------------------------------------------------


def test_due_slots_replay_a_brands_configuration_once_while_identity_records_nothing(
    platform: Any, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each due slot read the brand's configuration (a replay of the brand and its configuration); now it is kept
    while the identity application's head stays, and read again once anything is recorded there."""
    name = "kept-config-" + uuid.uuid4().hex[:6]
    _register(platform, name, cron="0 * * * *")
    _hold_business_date(platform, tenant, date(2026, 11, 22))
    identity = platform.get(Identity)
    asked: list[Any] = []
    original = identity.configuration_state

    def counted(brand_id: Any) -> Any:
        asked.append(brand_id)
        return original(brand_id)

    monkeypatch.setattr(identity, "configuration_state", counted)
    scheduler = Scheduler(platform.port(SchedulerPort), {})
    start = datetime(2026, 11, 22, 3, 30, tzinfo=UTC)  # 09:00 in Asia/Kolkata
    scheduler.fire_due_slots(start)  # first sight
    for hours in (1, 2, 3):  # a slot due each pass, nothing recorded in identity
        scheduler.fire_due_slots(start + timedelta(hours=hours))
    assert asked.count(tenant.brand_id) == 1
    _hold_business_date(platform, tenant, date(2026, 11, 21))  # an event of identity: the next slot reads it
    scheduler.fire_due_slots(start + timedelta(hours=4))
    assert asked.count(tenant.brand_id) == 2
    settle(platform, Jobs.name)
    runs = platform.get(JobRunQueries).history(tenant.brand_id, name).items
    assert sorted(run.as_of for run in runs) == [date(2026, 11, 21)] + [date(2026, 11, 22)] * 3


def test_kept_configurations_follow_the_clock_into_the_next_business_date(platform: Any, tenant: Any) -> None:
    """A brand following the calendar changes business date at midnight with no event: a kept configuration's
    business date is worked out at each ask."""
    from domain.shared.clock import FixedClock
    from workers.brand_configurations import BrandConfigurations

    identity = platform.get(Identity)
    kept = BrandConfigurations(identity)
    kept.refresh()
    before = kept.state(tenant.brand_id)
    assert not before.business_date_held
    original_clock = identity.clock
    try:
        identity.clock = FixedClock(original_clock.now() + timedelta(days=1))
        kept.refresh()
        after = kept.state(tenant.brand_id)
    finally:
        identity.clock = original_clock
    assert kept.replays == 1
    assert after.business_date == before.business_date + timedelta(days=1)
    assert after.settings == before.settings


class _CountingCatalogue(dict[str, JobDefinition]):
    """A catalogue that counts the walks over it."""

    walks = 0

    def values(self) -> Any:
        self.walks += 1
        return super().values()

    def items(self) -> Any:
        self.walks += 1
        return super().items()

    def __iter__(self) -> Any:
        self.walks += 1
        return super().__iter__()


class _HandsToNoOne(DispatchOnly):
    """Dispatch without executors: the runs handed over wait in the queue, none is executed."""

    def _start_executors(self) -> None:
        pass


def test_dispatch_works_out_the_closing_and_waiting_jobs_once_not_on_every_tick(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = platform.get(Jobs)
    jobs.kinds()
    counting = _CountingCatalogue(jobs.catalogue)
    monkeypatch.setattr(jobs, "catalogue", counting)
    scheduler = _HandsToNoOne(platform.port(SchedulerPort), {})
    now = platform.clock.now()
    for _ in range(3):
        scheduler.dispatch(now)
    assert counting.walks == 0
    name = "closes-" + uuid.uuid4().hex[:6]
    jobs.register(JobDefinition(name, name.title(), "closes dates", JobSettings(cron=None), catches_up=True))
    assert name in jobs.kinds().closing and jobs.kinds().firing_order[0] in jobs.kinds().closing
    jobs.unregister(name)
    assert name not in jobs.kinds().closing and name not in jobs.kinds().firing_order


def test_a_run_left_by_an_earlier_process_with_this_pid_is_recovered_at_once(platform: Any, tenant: Any) -> None:
    """A container restarted keeps its hostname and runs `serve` as pid 1 again: the worker id was "host:pid", so
    the new leader took the runs the old process left for its own, alive, and they waited STALLED_AFTER (a close of
    business shown running, holding back the jobs that wait for it). A process's id now carries a token of its own."""
    from workers.scheduler import WORKER

    name = "reused-" + uuid.uuid4().hex[:6]
    platform.get(Jobs).register(JobDefinition(name, name.title(), "test job", JobSettings(cron=None, retry_count=0)))
    _hold_business_date(platform, tenant, date(2026, 11, 1))
    jobs = platform.get(Jobs)
    earlier = f"{socket.gethostname()}:{os.getpid()}:tdeadbeef"  # this pid, an earlier process's token
    assert earlier != WORKER
    orphan = jobs.request_run(tenant.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)).id
    jobs.start_attempt(orphan, earlier)
    mine = jobs.request_run(tenant.brand_id, name, trigger="manual", requested_by="test", as_of=date(2026, 11, 1)).id
    held = jobs.start_attempt(mine, WORKER)
    settle(platform, Jobs.name)
    try:
        DispatchOnly(platform.port(SchedulerPort), {}).recover_stalled(platform.clock.now())
        run = jobs.run(tenant.brand_id, orphan)
        assert run.status is RunStatus.FAILED and f"worker {earlier} is gone" in (run.error or "")
        assert jobs.run(tenant.brand_id, mine).status is RunStatus.RUNNING
    finally:
        jobs.fail_attempt(held, "test over")
