from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.jobs.job import (
    MAX_QUEUED_MANUAL_RUNS,
    BatchCounts,
    IncoherentCounts,
    JobRun,
    JobSettings,
    RunQueueFull,
    RunStatus,
    check_as_of,
    check_cron,
)
from domain.jobs.queue import ManualRunQueue, queue_id
from domain.shared.aggregate import with_id
from domain.shared.errors import Conflict, InvalidInput, InvalidValue

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _run(retries: int = 1) -> JobRun:
    settings = JobSettings(cron=None, retry_count=retries, retry_interval_seconds=60)
    return with_id(
        JobRun,
        uuid.uuid4(),
        brand_id=uuid.uuid4(),
        job_name="x",
        trigger="manual",
        requested_by="t",
        as_of=date(2026, 11, 22),
        settings=settings,
        scheduled_for=None,
    )


def test_failed_attempt_retries_after_interval_then_fails_for_good() -> None:
    run = _run(retries=1)
    run.start_attempt("w", NOW)
    run.fail_attempt("boom", NOW)
    assert run.status == RunStatus.RETRYING and run.retry_at == NOW + timedelta(seconds=60)
    with pytest.raises(Conflict):
        run.start_attempt("w", NOW + timedelta(seconds=59))
    run.start_attempt("w", NOW + timedelta(seconds=60))
    run.fail_attempt("boom again", NOW)
    assert run.status == RunStatus.FAILED and run.error == "boom again"


def test_batches_accumulate_and_success_is_final() -> None:
    run = _run()
    run.start_attempt("w", NOW)
    run.complete_batch(BatchCounts(processed=10, succeeded=9, failed=1), "a")
    run.complete_batch(BatchCounts(processed=5, succeeded=5), "b")
    run.succeed()
    assert (run.totals.processed, run.totals.failed, run.cursor, run.batches) == (15, 1, "b", 2)
    with pytest.raises(Conflict):
        run.start_attempt("w", NOW)
    with pytest.raises(Conflict):
        run.complete_batch(BatchCounts(), None)


def test_a_batch_counting_more_outcomes_than_items_processed_is_refused_and_nothing_recorded() -> None:
    run = _run()
    run.start_attempt("w", NOW)
    for counts in (
        BatchCounts(processed=16, succeeded=20),  # cycles opened counted against covenants read
        BatchCounts(processed=3, succeeded=2, failed=1, skipped=1),
        BatchCounts(processed=1, skipped=-1),
    ):
        with pytest.raises(IncoherentCounts):
            run.complete_batch(counts, "x")
    run.complete_batch(BatchCounts(processed=3, succeeded=1, failed=1, skipped=1), "a")
    assert (run.totals.processed, run.totals.succeeded, run.batches, run.cursor) == (3, 1, 1, "a")


def test_cron_is_read_in_the_brand_timezone() -> None:
    settings = JobSettings(cron="30 2 * * *")
    # 02:30 in Kolkata is 21:00 UTC the day before.
    assert settings.next_fire_after(NOW, "Asia/Kolkata") == datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    assert JobSettings(cron="30 2 * * *", enabled=False).next_fire_after(NOW, "Asia/Kolkata") is None


def test_settings_are_validated() -> None:
    with pytest.raises(InvalidInput):
        JobSettings(cron="every day").checked()
    with pytest.raises(InvalidInput):
        JobSettings(cron=None, batch_size=0).checked()


@pytest.mark.parametrize(
    ("filters", "variables", "field"),
    [
        ({"company": "SML\u0000"}, {}, "filters.company"),  # PostgreSQL's jsonb refuses \u0000
        ({}, {"note": "a\ud800b"}, "variables.note"),  # an unpaired surrogate: not text
        ({}, {"note": "\u202eevil"}, "variables.note"),  # a bidi override
        ({"com\u0000pany": "SML"}, {}, "filters"),  # a name is named by its map, not echoed
    ],
)
def test_a_filter_or_variable_holding_text_no_input_may_hold_is_refused_naming_it(
    filters: dict[str, str], variables: dict[str, str], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        JobSettings(cron=None, filters=filters, variables=variables).checked()
    assert [e.field for e in refused.value.errors] == [field]


@pytest.mark.parametrize("cron", ["* * * * * *", "*/1 * * * * *", "0 0 * * * 2026", "0 9 * *", "   "])
def test_a_schedule_finer_than_a_minute_or_not_five_fields_is_refused(cron: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        JobSettings(cron=cron).checked()
    assert refused.value.field == "cron" and "5" in refused.value.message


def test_a_schedule_that_never_fires_is_refused() -> None:
    with pytest.raises(InvalidValue, match="never fires"):
        check_cron("cron", "0 0 31 2 *")


@pytest.mark.parametrize("cron", ["* * * * *", "*/5 9-17 * * MON-FRI", "0 0 29 2 *", "@hourly", "@daily"])
def test_minute_schedules_and_shorthands_are_accepted(cron: str) -> None:
    assert JobSettings(cron=cron).checked().cron == cron


def test_as_of_lies_between_the_first_business_day_and_the_business_date() -> None:
    first, today = date(2026, 1, 10), date(2026, 11, 22)
    check_as_of(today, first, today, dry_run=False)
    check_as_of(first, first, today, dry_run=False)
    with pytest.raises(InvalidValue) as future:
        check_as_of(date(2771, 3, 29), first, today, dry_run=False)
    assert future.value.field == "as_of" and "dry run" in future.value.message
    with pytest.raises(InvalidValue) as past:
        check_as_of(date(2026, 1, 9), first, today, dry_run=False)
    assert past.value.field == "as_of" and "first business day" in past.value.message


def test_only_a_dry_run_may_look_past_the_business_date_and_never_before_the_brand() -> None:
    first, today = date(2026, 1, 10), date(2026, 11, 22)
    check_as_of(date(2771, 3, 29), first, today, dry_run=True)
    with pytest.raises(InvalidValue):
        check_as_of(date(1, 1, 1), first, today, dry_run=True)


def _stepped(settings: JobSettings, after: datetime, until: datetime, tz: str) -> datetime | None:
    """The last slot stepping `next_fire_after` from `after` reaches by `until` (how catch-up found it before)."""
    due, slot = None, settings.next_fire_after(after, tz)
    while slot is not None and slot <= until:
        due, slot = slot, settings.next_fire_after(slot, tz)
    return due


#: Clock changes where croniter reads skipped and repeated local times unevenly: New York and London (an hour),
#: Lord Howe (half an hour), each spring and autumn of 2026.
CLOCK_CHANGES = [
    ("America/New_York", datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ("Europe/London", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize(("tz", "change"), CLOCK_CHANGES)
@pytest.mark.parametrize(
    "cron", ["*/7 * * * *", "30 * * * *", "0 * * * *", "30 1 * * *", "30 2 * * *", "*/20 1-3 * * *", "30 1 1 11 *"]
)
def test_the_latest_missed_slot_is_the_one_stepping_slot_by_slot_reached_across_a_clock_change(
    tz: str, change: datetime, cron: str
) -> None:
    """Downtime from before, around or after a clock change to a moment up to a day later: the slot to fire is the
    one stepping `next_fire_after` reaches, in croniter's reading of skipped and repeated local times (a daily
    01:30 fires at both 01:30s of a repeated hour, a yearly one at the first only; a skipped 02:30 fires at 03:00
    daily, never hourly), whether the downtime starts at a fired slot or at first sight."""
    settings = JobSettings(cron=cron)
    spans = [timedelta(seconds=43), timedelta(minutes=47), timedelta(hours=3, seconds=43), timedelta(hours=26)]
    for minutes in range(-200, 100, 17):
        start = change + timedelta(minutes=minutes, seconds=17)
        for after in {start, settings.next_fire_after(start, tz)}:
            assert after is not None
            for until in [after + span for span in spans] + [(after + span).replace(second=0) for span in spans]:
                assert settings.latest_fire_between(after, until, tz) == _stepped(settings, after, until, tz), until


def test_a_month_of_missed_slots_takes_a_few_croniter_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """30 days of an every-minute schedule missed, across a clock change: stepping took 43,200 croniter calls, one
    per slot; the latest slot now takes a handful (croniter's own calls counted)."""
    from croniter import croniter

    calls = 0

    def counting(method: Any) -> Any:
        def counted(cron: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return method(cron, *args, **kwargs)

        return counted

    for name in ("get_next", "get_prev"):
        monkeypatch.setattr(croniter, name, counting(getattr(croniter, name)))
    after = datetime(2026, 10, 20, 16, 0, 10, tzinfo=UTC)
    until = after + timedelta(days=30, seconds=20)
    latest = JobSettings(cron="0-59 * * * *").latest_fire_between(after, until, "America/New_York")
    assert latest == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    assert calls <= 12
    assert JobSettings(cron="0-59 * * * *").latest_fire_between(after, after + timedelta(seconds=30), "UTC") is None
    assert JobSettings(cron="0-59 * * * *", enabled=False).latest_fire_between(after, until, "UTC") is None


def test_a_schedule_is_kept_as_it_is_read_without_the_spaces_around_it() -> None:
    """`"@daily "` passed the check (it strips) but was stored as typed, and croniter then refused it on every pass:
    the job never fired (a close of business frozen). The settings keep it stripped."""
    from domain.jobs.job import JobSettings

    assert JobSettings(cron="@daily ").checked().cron == "@daily"
    assert JobSettings(cron="  30 2 * * *  ").checked().cron == "30 2 * * *"
    assert JobSettings(cron="30 2 * * *").checked().cron == "30 2 * * *"


# The queue of a brand's manual runs of a job ----------------------------------------------------------------------


def test_a_manual_run_queue_admits_while_fewer_than_the_bound_wait_and_counts_retrying_runs_as_waiting() -> None:
    brand = uuid.uuid4()
    queue = ManualRunQueue.open(brand, "x")
    assert queue.id == queue_id(brand, "x") != queue_id(brand, "y") != queue_id(uuid.uuid4(), "x")
    runs = [uuid.uuid4() for _ in range(MAX_QUEUED_MANUAL_RUNS)]
    for run_id in runs:
        queue.admit(run_id, dict.fromkeys(queue.runs, RunStatus.REQUESTED))
    with pytest.raises(RunQueueFull) as full:
        queue.admit(uuid.uuid4(), dict.fromkeys(runs, RunStatus.REQUESTED))
    assert full.value.details == {"queued": MAX_QUEUED_MANUAL_RUNS, "limit": MAX_QUEUED_MANUAL_RUNS}

    statuses = {**dict.fromkeys(runs, RunStatus.REQUESTED), runs[0]: RunStatus.RUNNING}
    queue.admit(newest := uuid.uuid4(), statuses)  # a started run makes room, and stays (it may wait again)
    assert queue.runs == [*runs, newest]
    statuses |= {runs[0]: RunStatus.RETRYING, newest: RunStatus.REQUESTED}
    assert queue.waiting(statuses) == MAX_QUEUED_MANUAL_RUNS + 1
    with pytest.raises(RunQueueFull):
        queue.admit(uuid.uuid4(), statuses)


def test_ended_runs_and_runs_not_found_leave_the_manual_run_queue_at_the_next_admission() -> None:
    earlier = [uuid.uuid4() for _ in range(4)]
    queue = ManualRunQueue.open(uuid.uuid4(), "x", earlier)
    statuses = {earlier[0]: RunStatus.SUCCEEDED, earlier[1]: RunStatus.FAILED, earlier[2]: RunStatus.RUNNING}
    queue.admit(newest := uuid.uuid4(), statuses)
    assert queue.runs == [earlier[2], newest]
    admitted = queue.collect_events()[-1]
    assert isinstance(admitted, ManualRunQueue.RunAdmitted)
    assert (admitted.run_id, admitted.ended) == (newest, [earlier[0], earlier[1], earlier[3]])
