"""Jobs use cases: per-brand configuration and its validation, run requests within the brand's as-of window (dry
runs, scheduled slots, the manual queue's bound), and a run's attempts, batches, retries and outcome."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest

from domain.jobs.application import JobDefinition, Jobs
from domain.jobs.job import (
    MAX_QUEUED_MANUAL_RUNS,
    QUEUE_RETRY_AFTER,
    BatchCounts,
    JobConfiguration,
    JobNotFound,
    JobRun,
    JobRunNotFound,
    JobSettings,
    RunQueueFull,
    RunStatus,
)
from domain.shared.clock import FixedClock
from domain.shared.errors import Conflict, InvalidInput
from tests.application.conftest import in_memory

BRAND = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER = uuid.UUID("00000000-0000-4000-8000-0000000000c2")
FIRST_DAY = date(2026, 1, 5)
TODAY = date(2026, 11, 30)

NIGHTLY = JobDefinition(
    name="nightly",
    title="Nightly",
    description="A scheduled job with a company filter that can do a dry run.",
    defaults=JobSettings(cron="30 2 * * *", batch_size=200, retry_count=1, retry_interval_seconds=60),
    filter_keys=frozenset({"company"}),
    dry_run=True,
)
PULL = JobDefinition(
    name="pull",
    title="Pull",
    description="Runs are requested by each source's own schedule.",
    defaults=JobSettings(cron=None, retry_count=0),
    variable_keys=frozenset({"as_of", "source_id"}),
    scheduled=False,
)
CLOSING = JobDefinition(
    name="closing",
    title="Closing",
    description="Closes business dates and moves the business date on, as the loan COB does.",
    defaults=JobSettings(cron="30 23 * * *", retry_count=0),
    catches_up=True,
)


def _window(brand_id: uuid.UUID) -> tuple[date, date]:
    return FIRST_DAY, TODAY


@pytest.fixture
def jobs(clock: FixedClock) -> Jobs:
    return in_memory(Jobs, clock, catalogue=[NIGHTLY, PULL, CLOSING], as_of_window=_window)


def _recorded(app: Jobs) -> int:
    return app.recorder.max_notification_id() or 0


def _events(app: Jobs, aggregate_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(aggregate_id)]


def _request(jobs: Jobs, name: str = "nightly", **kwargs: object) -> uuid.UUID:
    kwargs.setdefault("as_of", TODAY)
    return jobs.request_run(BRAND, name, trigger="manual", requested_by="staff:t", **kwargs).id  # type: ignore[arg-type]


# Configuration -----------------------------------------------------------------------------------------------


def test_a_job_runs_with_its_defaults_until_the_brand_changes_them(jobs: Jobs) -> None:
    assert jobs.settings(BRAND, "nightly") == NIGHTLY.defaults
    result = jobs.configure(BRAND, "nightly", {"cron": "0 4 * * *", "batch_size": 50})
    assert result.changed and _events(jobs, result.id) == ["Configured"]
    changed = jobs.settings(BRAND, "nightly")
    assert (changed.cron, changed.batch_size, changed.retry_count) == ("0 4 * * *", 50, NIGHTLY.defaults.retry_count)
    assert jobs.settings(OTHER, "nightly") == NIGHTLY.defaults


def test_a_second_change_is_recorded_as_a_reconfiguration_and_keeps_the_rest(jobs: Jobs) -> None:
    first = jobs.configure(BRAND, "nightly", {"batch_size": 50})
    again = jobs.configure(BRAND, "nightly", {"enabled": False, "filters": {"company": "SML"}})
    assert again.id == first.id and _events(jobs, first.id) == ["Configured", "Reconfigured"]
    settings = jobs.settings(BRAND, "nightly")
    assert (settings.batch_size, settings.enabled, settings.filters) == (50, False, {"company": "SML"})


def test_every_jobs_settings_and_version_at_once_are_each_jobs_own(jobs: Jobs) -> None:
    jobs.configure(BRAND, "nightly", {"batch_size": 50})
    jobs.configure(BRAND, "nightly", {"enabled": False})
    jobs.configure(OTHER, "pull", {"retry_count": 3})
    every = jobs.every_settings_and_version(BRAND)
    assert set(every) == set(jobs.catalogue)
    for name in jobs.catalogue:
        assert every[name] == jobs.settings_and_version(BRAND, name), name
    assert every["nightly"][1] == 2 and every["pull"] == (PULL.defaults, 0)  # the other brand's change is its own


def test_configuring_what_is_already_set_records_nothing(jobs: Jobs) -> None:
    jobs.configure(BRAND, "nightly", {"batch_size": 50})
    before = _recorded(jobs)
    same = jobs.configure(BRAND, "nightly", {"batch_size": 50})
    assert (same.changed, same.position) == (False, 0) and _recorded(jobs) == before


@pytest.mark.parametrize("cron", ["* * * * * *", "*/5 * * *", "0 0 30 2 *", "every night", "@reboot"])
def test_a_schedule_finer_than_a_minute_unreadable_or_never_firing_is_refused_and_records_nothing(
    jobs: Jobs, cron: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        jobs.configure(BRAND, "nightly", {"cron": cron})
    assert refused.value.errors[0].field == "cron"
    assert _recorded(jobs) == 0


@pytest.mark.parametrize("cron", ["*/15 * * * *", "0 9 * * 1-5", "@daily", "@hourly"])
def test_minute_schedules_and_shorthands_are_accepted(jobs: Jobs, cron: str) -> None:
    jobs.configure(BRAND, "nightly", {"cron": cron})
    assert jobs.settings(BRAND, "nightly").cron == cron


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 100_001}, "batch_size"),
        ({"retry_count": 21}, "retry_count"),
        ({"retry_interval_seconds": -1}, "retry_interval_seconds"),
        ({"filters": {"region": "north"}}, "filters"),
        ({"variables": {"mood": "calm"}}, "variables"),
    ],
)
def test_settings_out_of_range_or_unknown_keys_are_refused_and_record_nothing(
    jobs: Jobs, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        jobs.configure(BRAND, "nightly", changes)
    assert refused.value.errors[0].field == field
    assert _recorded(jobs) == 0


def test_a_job_whose_runs_are_requested_elsewhere_takes_no_schedule_but_other_settings(jobs: Jobs) -> None:
    with pytest.raises(InvalidInput) as refused:
        jobs.configure(BRAND, "pull", {"cron": "*/30 * * * *"})
    assert refused.value.errors[0].field == "cron" and _recorded(jobs) == 0
    jobs.configure(BRAND, "pull", {"batch_size": 100})
    assert jobs.settings(BRAND, "pull").batch_size == 100


def test_an_unregistered_job_is_not_found(jobs: Jobs) -> None:
    for attempt in (
        lambda: jobs.settings(BRAND, "nope"),
        lambda: jobs.configure(BRAND, "nope", {"batch_size": 10}),
        lambda: _request(jobs, "nope"),
    ):
        with pytest.raises(JobNotFound):
            attempt()
    assert _recorded(jobs) == 0


# Run requests --------------------------------------------------------------------------------------------------


def test_a_run_may_be_dated_from_the_brands_first_business_day_to_its_business_date(jobs: Jobs) -> None:
    for day in (FIRST_DAY, date(2026, 6, 1), TODAY):
        run = jobs.run(BRAND, _request(jobs, as_of=day))
        assert (run.as_of, run.status, run.settings.variables["as_of"]) == (day, RunStatus.REQUESTED, day.isoformat())


@pytest.mark.parametrize("day", [FIRST_DAY - timedelta(days=1), TODAY + timedelta(days=1), date(2199, 3, 29)])
def test_a_run_dated_outside_the_brands_window_is_refused_and_records_nothing(jobs: Jobs, day: date) -> None:
    with pytest.raises(InvalidInput) as refused:
        _request(jobs, as_of=day)
    assert refused.value.errors[0].field == "as_of"
    assert _recorded(jobs) == 0


def test_a_dry_run_may_look_past_the_business_date_but_not_before_the_brand(jobs: Jobs) -> None:
    ahead = jobs.run(BRAND, _request(jobs, as_of=date(2199, 3, 29), dry_run=True))
    assert ahead.dry_run and ahead.as_of == date(2199, 3, 29)
    with pytest.raises(InvalidInput):
        _request(jobs, as_of=FIRST_DAY - timedelta(days=1), dry_run=True)


def test_a_scheduled_run_catching_up_may_be_dated_its_slots_day_after_the_business_date(
    jobs: Jobs, clock: FixedClock
) -> None:
    """The scheduled close of business of a brand following the calendar, its business date left behind by a
    scheduler outage: dated the slot's day (the run closes each missed date). Only such a run: not a manual one,
    nor a job that does not close business dates, nor one not catching up."""
    slot, day = clock.now(), TODAY + timedelta(days=3)

    def request(name: str, slot: datetime | None, catching_up: bool) -> uuid.UUID:
        return jobs.request_run(
            BRAND, name, trigger="schedule", requested_by="scheduler", as_of=day, scheduled_for=slot,
            catching_up=catching_up,
        ).id  # fmt: skip

    run = jobs.run(BRAND, request("closing", slot, catching_up=True))
    assert (run.as_of, run.trigger) == (day, "schedule")
    before = _recorded(jobs)
    for name, at, catching_up in [
        ("closing", None, True),  # not a scheduled run
        ("nightly", slot, True),  # a job that does not close business dates
        ("closing", slot + timedelta(days=1), False),  # a brand held at its business date
    ]:
        with pytest.raises(InvalidInput) as problem:
            request(name, at, catching_up)
        assert problem.value.errors[0].field == "as_of"
    assert _recorded(jobs) == before


def test_a_scheduled_run_after_a_catching_up_close_may_be_dated_the_day_that_close_brings_the_brand_to(
    jobs: Jobs, clock: FixedClock
) -> None:
    """While the close of business of a brand catches up (dated 3 days past its business date), the brand's other
    scheduled runs may be dated up to the day after it - the business date it will have - and no later; only
    scheduled runs, and only after a run of a job that closes business dates of the same brand."""
    slot, closing_day = clock.now(), TODAY + timedelta(days=3)
    closing = jobs.request_run(BRAND, "closing", trigger="schedule", requested_by="scheduler", as_of=closing_day,
                               scheduled_for=slot, catching_up=True).id  # fmt: skip

    def request(as_of: date, after: uuid.UUID, at: datetime | None = slot, brand: uuid.UUID = BRAND) -> uuid.UUID:
        return jobs.request_run(brand, "nightly", trigger="schedule" if at else "manual", requested_by="scheduler",
                                as_of=as_of, scheduled_for=at, closing_run=after).id  # fmt: skip

    run = jobs.run(BRAND, request(closing_day + timedelta(days=1), closing))
    assert run.as_of == closing_day + timedelta(days=1)
    plain = jobs.request_run(BRAND, "nightly", trigger="manual", requested_by="test", as_of=TODAY).id
    before = _recorded(jobs)
    for as_of, after, at, brand in [
        (closing_day + timedelta(days=2), closing, slot + timedelta(hours=1), BRAND),  # after the day it brings
        (closing_day, closing, None, BRAND),  # not a scheduled run
        (TODAY + timedelta(days=1), plain, slot + timedelta(hours=2), BRAND),  # after a run closing no date
        (closing_day, closing, slot + timedelta(hours=3), OTHER),  # after another brand's close
    ]:
        with pytest.raises(InvalidInput) as problem:
            request(as_of, after, at, brand)
        assert problem.value.errors[0].field == "as_of"
    assert _recorded(jobs) == before


def test_a_dry_run_of_a_job_that_cannot_do_one_is_refused_and_records_nothing(jobs: Jobs) -> None:
    with pytest.raises(InvalidInput) as refused:
        _request(jobs, "pull", dry_run=True)
    assert refused.value.errors[0].field == "dry_run" and _recorded(jobs) == 0


def test_a_run_takes_the_brands_settings_with_the_requests_overrides(jobs: Jobs) -> None:
    jobs.configure(BRAND, "nightly", {"batch_size": 50, "filters": {"company": "SML"}})
    run = jobs.run(BRAND, _request(jobs, filters={"company": "KFL"}, batch_size=7))
    assert (run.settings.batch_size, run.settings.filters, run.settings.cron) == (7, {"company": "KFL"}, "30 2 * * *")
    plain = jobs.run(BRAND, _request(jobs))
    assert (plain.settings.batch_size, plain.settings.filters) == (50, {"company": "SML"})


def test_a_run_with_an_unknown_filter_or_variable_is_refused(jobs: Jobs) -> None:
    with pytest.raises(InvalidInput) as refused:
        _request(jobs, variables={"source_id": "x"})
    assert refused.value.errors[0].field == "variables" and _recorded(jobs) == 0


def test_a_scheduled_slot_makes_one_run_however_often_it_is_requested(jobs: Jobs, clock: FixedClock) -> None:
    slot = clock.now().replace(hour=2, minute=30)
    first = jobs.request_run(
        BRAND, "nightly", trigger="schedule", requested_by="scheduler", as_of=TODAY, scheduled_for=slot
    )
    again = jobs.request_run(
        BRAND, "nightly", trigger="schedule", requested_by="scheduler", as_of=TODAY, scheduled_for=slot
    )
    assert again.id == first.id and not again.changed and _events(jobs, first.id) == ["Requested"]
    other = jobs.request_run(
        BRAND,
        "nightly",
        trigger="schedule",
        requested_by="scheduler",
        as_of=TODAY,
        scheduled_for=slot + timedelta(days=1),
    )
    assert other.id != first.id
    brand_b = jobs.request_run(
        OTHER, "nightly", trigger="schedule", requested_by="scheduler", as_of=TODAY, scheduled_for=slot
    )
    assert brand_b.id not in (first.id, other.id)


def test_a_manual_run_is_refused_at_the_queue_bound_and_records_nothing(jobs: Jobs) -> None:
    admitted = [
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
        for _ in range(MAX_QUEUED_MANUAL_RUNS)
    ]
    run = jobs.run(BRAND, admitted[0].id)
    assert (run.trigger, run.requested_by) == ("manual", "staff:t")
    before = _recorded(jobs)
    with pytest.raises(RunQueueFull) as refused:
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    assert refused.value.retry_after == QUEUE_RETRY_AFTER
    assert refused.value.details == {"queued": MAX_QUEUED_MANUAL_RUNS, "limit": MAX_QUEUED_MANUAL_RUNS}
    assert _recorded(jobs) == before
    # Each brand and job has its own queue.
    assert jobs.request_manual_run(OTHER, "nightly", requested_by="staff:t", as_of=TODAY).changed
    assert jobs.request_manual_run(BRAND, "closing", requested_by="staff:t", as_of=TODAY).changed


def test_the_queue_bound_counts_the_runs_waiting_now_as_the_runs_have_them(jobs: Jobs) -> None:
    admitted = [
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY).id
        for _ in range(MAX_QUEUED_MANUAL_RUNS)
    ]
    started = jobs.start_attempt(admitted[0], "w1")  # running: no longer waiting, room for one
    jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    jobs.fail_attempt(started, "boom")  # retrying: waiting again
    with pytest.raises(RunQueueFull) as refused:
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    assert refused.value.details["queued"] == MAX_QUEUED_MANUAL_RUNS + 1
    for run_id in admitted[1:3]:
        jobs.succeed(jobs.start_attempt(run_id, "w1"))
    jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    with pytest.raises(RunQueueFull):
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)


def test_a_refused_manual_run_is_refused_before_its_request_is_checked_and_an_invalid_one_is_not_queued(
    jobs: Jobs,
) -> None:
    for _ in range(MAX_QUEUED_MANUAL_RUNS - 1):
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    with pytest.raises(InvalidInput):  # after the business date: refused, and takes no place in the queue
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY + timedelta(days=1))
    jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY)
    with pytest.raises(RunQueueFull):
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY + timedelta(days=1))


def test_manual_runs_recorded_before_the_queue_was_kept_count_once_the_event_store_confirms_them(jobs: Jobs) -> None:
    # Runs asked for by hand before queues were kept: found through a read model's list, each checked in the store.
    earlier = [
        jobs.request_run(BRAND, "nightly", trigger="manual", requested_by="staff:t", as_of=TODAY).id for _ in range(3)
    ]
    jobs.succeed(jobs.start_attempt(earlier[0], "w1"))  # ended: the list is stale about it
    scheduled = jobs.request_run(
        BRAND,
        "nightly",
        trigger="schedule",
        requested_by="scheduler",
        as_of=TODAY,
        scheduled_for=datetime(2026, 11, 30, 2, 30),
    ).id
    other_brand = jobs.request_run(OTHER, "nightly", trigger="manual", requested_by="staff:t", as_of=TODAY).id
    listed = [*earlier, scheduled, other_brand, uuid.uuid4()]
    for _ in range(MAX_QUEUED_MANUAL_RUNS - 2):  # the two earlier runs still waiting take their places
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY, listed_waiting=lambda: listed)
    with pytest.raises(RunQueueFull) as refused:
        jobs.request_manual_run(BRAND, "nightly", requested_by="staff:t", as_of=TODAY, listed_waiting=lambda: listed)
    assert refused.value.details["queued"] == MAX_QUEUED_MANUAL_RUNS


def test_a_manual_run_of_an_unregistered_job_is_not_found_before_the_bound_is_counted(jobs: Jobs) -> None:
    with pytest.raises(JobNotFound):
        jobs.request_manual_run(BRAND, "nope", requested_by="staff:t", as_of=TODAY)


# Attempts, batches, retries, outcome --------------------------------------------------------------------------------


def test_a_run_retries_after_its_interval_then_succeeds_with_every_batch_counted(jobs: Jobs, clock: FixedClock) -> None:
    run_id = _request(jobs)
    run = jobs.start_attempt(run_id, "host:1")
    jobs.complete_batch(run, BatchCounts(processed=200, succeeded=198, failed=2), "page-2")
    jobs.fail_attempt(run, "connection reset")
    failed = jobs.run(BRAND, run_id)
    assert (failed.status, failed.error, failed.cursor) == (RunStatus.RETRYING, "connection reset", "page-2")
    assert failed.retry_at == clock.now() + timedelta(seconds=60)

    before = _recorded(jobs)
    with pytest.raises(Conflict):
        jobs.start_attempt(run_id, "host:2")  # its retry time has not come
    assert _recorded(jobs) == before

    clock.instant += timedelta(seconds=60)
    run = jobs.start_attempt(run_id, "host:2")
    assert (run.attempt, run.worker, run.cursor) == (2, "host:2", "page-2")  # the retry resumes where it stopped
    jobs.complete_batch(run, BatchCounts(processed=50, succeeded=49, skipped=1), None)
    jobs.succeed(run)
    done = jobs.run(BRAND, run_id)
    assert (done.status, done.error, done.batches) == (RunStatus.SUCCEEDED, None, 2)
    assert done.totals == BatchCounts(processed=250, succeeded=247, failed=2, skipped=1)
    assert _events(jobs, run_id) == [
        "Requested",
        "AttemptStarted",
        "BatchCompleted",
        "AttemptFailed",
        "AttemptStarted",
        "BatchCompleted",
        "Succeeded",
    ]


def test_a_run_fails_for_good_once_its_retries_are_used_and_never_starts_again(jobs: Jobs) -> None:
    run_id = _request(jobs, "pull")  # retry_count 0
    jobs.fail_attempt(jobs.start_attempt(run_id, "host:1"), "source unreachable")
    failed = jobs.run(BRAND, run_id)
    assert (failed.status, failed.error, failed.attempt) == (RunStatus.FAILED, "source unreachable", 1)
    with pytest.raises(Conflict):
        jobs.start_attempt(run_id, "host:2")


def test_a_run_being_executed_cannot_be_taken_by_a_second_worker(jobs: Jobs) -> None:
    run_id = _request(jobs)
    jobs.start_attempt(run_id, "host:1")
    with pytest.raises(Conflict):
        jobs.start_attempt(run_id, "host:2")
    assert jobs.run(BRAND, run_id).worker == "host:1"


def test_batches_and_outcomes_are_recorded_only_while_an_attempt_runs(jobs: Jobs) -> None:
    run = jobs.run(BRAND, _request(jobs))
    for record in (
        lambda: jobs.complete_batch(run, BatchCounts(processed=1), None),
        lambda: jobs.succeed(run),
        lambda: jobs.fail_attempt(run, "x"),
    ):
        with pytest.raises(Conflict):
            record()
    assert _events(jobs, run.id) == ["Requested"]


def test_a_run_is_visible_only_within_its_brand(jobs: Jobs) -> None:
    run_id = _request(jobs)
    assert isinstance(jobs.run(None, run_id), JobRun)
    with pytest.raises(JobRunNotFound):
        jobs.run(OTHER, run_id)


def test_configuration_and_runs_are_separate_records(jobs: Jobs) -> None:
    config = jobs.configure(BRAND, "nightly", {"batch_size": 9})
    run_id = _request(jobs)
    assert isinstance(jobs.find(config.id), JobConfiguration) and isinstance(jobs.find(run_id), JobRun)
    assert jobs.run(BRAND, run_id).settings.batch_size == 9
