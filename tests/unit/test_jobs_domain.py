from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.jobs.job import BatchCounts, JobRun, JobSettings, RunStatus, check_as_of, check_cron
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
