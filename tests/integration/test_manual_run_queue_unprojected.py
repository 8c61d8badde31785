"""The bound on a brand's queued manual runs of a job holds whatever the run-history read model shows: with its
projector stopped (as the engine stops one on an event it cannot apply) or held back behind a lock, the waiting runs
are counted from the event store, so a person asking again and again never queues more than the bound
(docs/architecture.md, "Manual runs are bounded")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.services.jobs import ManualRuns, RunOrder
from domain.identity.application import Identity
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.jobs.application import Jobs
from domain.jobs.job import MAX_QUEUED_MANUAL_RUNS, JobRun, RunQueueFull
from projections.jobs import JobRunQueries
from tests.support import copy_database_dsn, drop_database, settle

JOB = "housekeeping"


@pytest.fixture
def unprojected(mail_sink: Any, platform_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A platform on a database of its own whose read models stay where they are until a test starts its runners."""
    from adapters.mailer import MailSettings
    from workers.platform import Platform

    # A manual run waits this long for the run history to show it (read-your-writes for its Location), not 5 s a run.
    monkeypatch.setattr(ManualRuns, "SETTLE_SECONDS", 0.2, raising=False)
    dsn = copy_database_dsn(platform_template, "cd_test_queue")
    platform = Platform.open(dsn, mail=MailSettings(port=mail_sink.port))
    yield platform
    platform.close()
    drop_database(dsn)


def _brand(platform: Any) -> tuple[uuid.UUID, Principal]:
    slug = "q" + uuid.uuid4().hex[:12]
    brand_id = platform.get(Identity).create_brand(slug, f"Brand {slug}").id
    caller = Principal("apikey", uuid.uuid4(), brand_id, "test key", ("admin",), {Permission.JOBS: Level.ALL})
    return brand_id, caller


def _ask(platform: Any, brand_id: uuid.UUID, caller: Principal, times: int) -> tuple[list[uuid.UUID], list[int]]:
    """`times` manual runs of the job asked for one after another: the ids of those queued and the `queued` count of
    each refusal."""
    runs = platform.port(ManualRuns)
    queued: list[uuid.UUID] = []
    refused: list[int] = []
    for _ in range(times):
        try:
            queued.extend(runs.start(brand_id, JOB, RunOrder(), caller=caller, companies=()).run_ids)
        except RunQueueFull as full:
            refused.append(int(full.details["queued"]))
    return queued, refused


def _requested_in_store(platform: Any, brand_id: uuid.UUID) -> list[uuid.UUID]:
    """The manual runs of the job the event store holds for the brand (the write side, not the read model)."""
    jobs = platform.get(Jobs)
    topic = f"{JobRun.Requested.__module__}:{JobRun.Requested.__qualname__}"
    found = []
    for notification in jobs.recorder.select_notifications(None, 10_000, topics=[topic]):
        event = jobs.mapper.to_domain_event(notification)
        if event.brand_id == brand_id and event.job_name == JOB and event.trigger == "manual":
            found.append(event.originator_id)
    return found


def _stop_run_history(platform: Any) -> None:
    """Stop the run-history projection as the engine stops one that cannot apply an event (`wait_for` then no longer
    waits for it: it will not move until an operator acts)."""
    with psycopg.connect(platform.dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE ops.projection_tracking SET error = 'held by the test', error_at = now() WHERE projection = %s",
            ("job_runs",),
        )


def test_the_bound_holds_while_the_run_history_projection_is_stopped(unprojected: Any) -> None:
    brand_id, caller = _brand(unprojected)
    _stop_run_history(unprojected)

    queued, refused = _ask(unprojected, brand_id, caller, 2 * MAX_QUEUED_MANUAL_RUNS)

    assert len(queued) == MAX_QUEUED_MANUAL_RUNS
    assert refused == [MAX_QUEUED_MANUAL_RUNS] * MAX_QUEUED_MANUAL_RUNS
    assert sorted(_requested_in_store(unprojected, brand_id)) == sorted(queued)  # the refusals recorded nothing
    # The read model shows none of them: the count did not come from it.
    assert unprojected.get(JobRunQueries).history(brand_id, JOB).items == []


def test_a_started_run_makes_room_and_a_retrying_one_waits_again_while_the_run_history_is_stopped(
    unprojected: Any,
) -> None:
    brand_id, caller = _brand(unprojected)
    _stop_run_history(unprojected)
    jobs = unprojected.get(Jobs)
    queued, _ = _ask(unprojected, brand_id, caller, MAX_QUEUED_MANUAL_RUNS)

    started = jobs.start_attempt(queued[0], "worker:test")  # as the scheduler claims a run: no longer waiting
    more, refused = _ask(unprojected, brand_id, caller, 2)
    assert (len(more), refused) == (1, [MAX_QUEUED_MANUAL_RUNS])

    jobs.fail_attempt(started, "boom")  # retrying: waiting again, so one over the bound until a run starts
    assert _ask(unprojected, brand_id, caller, 1) == ([], [MAX_QUEUED_MANUAL_RUNS + 1])

    for run_id in [queued[1], queued[2]]:  # two start and end: room for one (six were waiting)
        jobs.succeed(jobs.start_attempt(run_id, "worker:test"))
    more, refused = _ask(unprojected, brand_id, caller, 2)
    assert (len(more), refused) == (1, [MAX_QUEUED_MANUAL_RUNS])


def test_the_bound_holds_while_the_run_history_lags_and_it_shows_the_same_runs_once_caught_up(
    unprojected: Any,
) -> None:
    brand_id, caller = _brand(unprojected)
    unprojected.start_projection_runners()
    settle(unprojected, "identity")
    with psycopg.connect(unprojected.dsn) as holder:
        # The projector's writes wait behind this lock (reads of the table do not): the run history lags.
        holder.execute("LOCK TABLE read.job_runs IN SHARE MODE")
        queued, refused = _ask(unprojected, brand_id, caller, 2 * MAX_QUEUED_MANUAL_RUNS)
        assert unprojected.get(JobRunQueries).history(brand_id, JOB).items == []  # still behind
        holder.rollback()

    assert len(queued) == MAX_QUEUED_MANUAL_RUNS
    assert refused == [MAX_QUEUED_MANUAL_RUNS] * MAX_QUEUED_MANUAL_RUNS
    settle(unprojected, Jobs.name)
    shown = unprojected.get(JobRunQueries).history(brand_id, JOB).items
    assert sorted(run.id for run in shown) == sorted(queued)
    assert {run.status.value for run in shown} == {"requested"}
