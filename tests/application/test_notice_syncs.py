"""Requesting a notice sync (`SyncRequests`): the notices context's sync run and the jobs context's run that executes
it, one running sync per source, and a sync left behind by a dead worker no longer blocking its source."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest

from api.services.notice_syncs import SyncRequests
from domain.identity.application import Identity
from domain.jobs.application import Jobs, RunBell
from domain.jobs.job import RunStatus
from domain.notices.application import Notices
from domain.notices.source import SyncAlreadyRunning
from domain.notices.sync_run import SyncStatus
from domain.notices.triggering import ORPHAN_GRACE, job_run_id
from domain.shared.clock import FixedClock, business_date
from tests.application.conftest import in_memory
from workers.notice_sync import DEFINITION as SYNC_JOB


@dataclass
class Desk:
    """The three contexts a sync request touches, on in-memory stores, and the request service over them."""

    syncs: SyncRequests
    jobs: Jobs
    notices: Notices
    bell: RunBell
    brand_id: uuid.UUID
    source_id: uuid.UUID

    def recorded(self) -> tuple[int, int]:
        return (self.jobs.recorder.max_notification_id() or 0, self.notices.recorder.max_notification_id() or 0)


@pytest.fixture
def desk(clock: FixedClock) -> Desk:
    identity = in_memory(Identity, clock)
    jobs = in_memory(Jobs, clock, catalogue=[SYNC_JOB], as_of_window=identity.as_of_window)
    notices = in_memory(Notices, clock)
    bell = RunBell()
    brand_id = identity.create_brand("sync-desk", "Sync Desk").id
    source_id = notices.connect_source(
        brand_id, company="SML", base_url="https://softmedia.example/api", token="token-1234", schedule="*/30 * * * *"
    ).id
    return Desk(SyncRequests(jobs, notices, identity, clock, bell), jobs, notices, bell, brand_id, source_id)


def _request(desk: Desk, requested_by: str = "staff:s") -> uuid.UUID:
    return desk.syncs.request(desk.brand_id, desk.source_id, trigger="manual", requested_by=requested_by)


def test_a_sync_request_starts_a_sync_run_and_the_job_run_that_executes_it(desk: Desk, clock: FixedClock) -> None:
    sync_id = _request(desk)
    sync = desk.notices.sync_run(desk.brand_id, sync_id)
    assert (sync.status, sync.source_id, sync.requested_by) == (SyncStatus.RUNNING, desk.source_id, "staff:s")
    run = desk.jobs.run(desk.brand_id, job_run_id(sync_id))
    assert (run.job_name, run.trigger, run.status) == (SYNC_JOB.name, "manual", RunStatus.REQUESTED)
    assert run.settings.variables == {
        "source_id": str(desk.source_id),
        "sync_run_id": str(sync_id),
        "as_of": business_date(clock.now()).isoformat(),
    }
    assert desk.bell.wait(0)  # the scheduler is woken at once


def test_a_second_request_while_the_source_syncs_is_refused_and_records_nothing(desk: Desk) -> None:
    running = _request(desk)
    desk.bell.clear()
    before = desk.recorded()
    with pytest.raises(SyncAlreadyRunning) as refused:
        _request(desk, requested_by="scheduler")
    assert refused.value.details["running_run_id"] == str(running)
    assert desk.recorded() == before and not desk.bell.wait(0)


def test_a_sync_whose_job_run_has_ended_no_longer_blocks_its_source(desk: Desk) -> None:
    first = _request(desk)
    job = desk.jobs.start_attempt(job_run_id(first), "host:1")
    desk.jobs.fail_attempt(job, "worker lost")  # the sync job takes no retries: failed for good
    second = _request(desk)
    assert second != first
    ended = desk.notices.sync_run(desk.brand_id, first)
    assert ended.status == SyncStatus.FAILED and ended.error is not None and "abandoned" in ended.error


def test_a_sync_whose_job_run_never_appeared_blocks_its_source_only_for_the_grace_period(
    desk: Desk, clock: FixedClock
) -> None:
    # A worker that died between starting the sync run and requesting its job run leaves the sync run alone.
    orphan = desk.notices.begin_sync(desk.brand_id, desk.source_id, trigger="manual", requested_by="staff:s").id
    started = desk.notices.sync_run(None, orphan).created_on
    clock.instant = started + ORPHAN_GRACE - timedelta(seconds=1)
    with pytest.raises(SyncAlreadyRunning):
        _request(desk)
    clock.instant = started + ORPHAN_GRACE + timedelta(seconds=1)
    fresh = _request(desk)
    assert fresh != orphan and desk.notices.sync_run(None, orphan).status == SyncStatus.FAILED
