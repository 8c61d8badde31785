"""Pure rules of triggering a notice sync: what a manual run of the sync job may name, and when a running sync was
left behind by a worker that died."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.jobs.job import RunStatus
from domain.notices.triggering import ORPHAN_GRACE, job_run_id, manual_sync_source, sync_abandoned
from domain.shared.errors import InvalidInput

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_a_manual_sync_names_one_source_or_every_source() -> None:
    source_id = uuid.uuid4()
    assert manual_sync_source({"source_id": str(source_id)}) == source_id
    assert manual_sync_source({}) is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"as_of": date(2026, 11, 30)}, "as_of"),
        ({"filters": {"company": "SML"}}, "filters"),
        ({"batch_size": 10}, "batch_size"),
        ({"dry_run": True}, "dry_run"),
    ],
)
def test_a_manual_sync_takes_nothing_but_a_source(given: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        manual_sync_source({}, **given)  # type: ignore[arg-type]
    assert refused.value.errors[0].field == field and "only variables.source_id" in refused.value.errors[0].message


def test_a_manual_sync_refuses_other_variables_and_a_source_id_that_is_not_one() -> None:
    with pytest.raises(InvalidInput) as unknown:
        manual_sync_source({"source_id": str(uuid.uuid4()), "mode": "overdue"})
    assert unknown.value.errors[0].field == "variables" and "['mode']" in unknown.value.errors[0].message
    with pytest.raises(InvalidInput) as bad:
        manual_sync_source({"source_id": "SML"})
    assert bad.value.errors[0].field == "variables.source_id"


@pytest.mark.parametrize(
    ("status", "abandoned"),
    [
        (RunStatus.REQUESTED, False),
        (RunStatus.RUNNING, False),
        (RunStatus.RETRYING, False),
        (RunStatus.SUCCEEDED, True),
        (RunStatus.FAILED, True),
    ],
)
def test_a_running_sync_is_left_behind_once_its_job_run_has_ended(status: RunStatus, abandoned: bool) -> None:
    assert sync_abandoned(status, NOW - timedelta(days=1), NOW) is abandoned


def test_a_sync_without_a_job_run_is_left_behind_only_after_the_grace_period() -> None:
    assert not sync_abandoned(None, NOW - ORPHAN_GRACE, NOW)
    assert sync_abandoned(None, NOW - ORPHAN_GRACE - timedelta(seconds=1), NOW)


def test_each_sync_run_has_its_own_stable_job_run() -> None:
    sync_id = uuid.uuid4()
    assert job_run_id(sync_id) == job_run_id(uuid.UUID(str(sync_id))) != job_run_id(uuid.uuid4())
