"""The scheduled close of business catches up after the scheduler was down, unless an admin holds the business date.

A brand whose business date only the close of business has moved follows the calendar: the next scheduled COB after
an outage runs as of its slot's day and closes every missed date in order (each with its run record, each loan's
DPD and penal charges as LENDING.md says for that day), leaving the business date at the slot's day + 1, so a
payment dated today is accepted. Before, it ran as of the business date the last COB had left and closed one date
a night: the brand stayed as many days behind as the scheduler had been down, for ever. A brand whose business date
an admin set is held: its COB still runs as of that date, one day a run, even after the COB has moved it on.

The other runs of the pass that asks for a catching-up COB are dated as of the day it brings the brand to (before,
the business date it left behind: the reminders of a date days past, today's never sent), and those reading loan
positions start only once it has ended; a held brand's are dated its business date and start at once, as before.

On a platform and database of their own with a fixed clock: the business day of a brand that never had a business
date set is the clock's, and a firing pass fires every brand of the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import UUID

import pytest

from adapters.cob_store import CobStore
from adapters.mailer import MailSettings
from domain.identity.application import Identity
from domain.identity.brand_config import CLOSE_OF_BUSINESS_ACTOR
from domain.jobs.application import Jobs
from domain.jobs.job import BatchCounts, JobRun, RunStatus
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from projections.jobs import JobRunQueries, JobRunView
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import PenalCatalogue, disbursed_loan
from tests.support import copy_database_dsn, drop_database, settle
from workers import loan_cob
from workers.borrower_notifications import BORROWER_NOTIFICATIONS
from workers.onboarding_jobs import INACTIVE
from workers.runtime import scheduler_for
from workers.scheduler import Scheduler, SchedulerPort

IST = timedelta(hours=5, minutes=30)
D0 = date(2026, 1, 31)  # the loan's disbursal: 8,037.57 due on 28 Feb, overdue from 1 Mar, 8.04 of penal a day
PENAL_A_DAY = Decimal("8.04")


def _ist(day: date, hour: int, minute: int = 0) -> datetime:
    """An instant given as the brand's wall clock (Asia/Kolkata)."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - IST


@pytest.fixture
def own(platform_template: str, mail_sink: Any) -> Iterator[tuple[Any, FixedClock]]:
    """A platform on a database of its own, its clock stopped at 28 Feb 2026 10:00 in Kolkata; penal charges at
    0.1 % a day (the servicing tests' catalogue)."""
    from workers.platform import Platform

    clock = FixedClock(_ist(date(2026, 2, 28), 10))
    dsn = copy_database_dsn(platform_template, "cd_test_cob_catch_up")
    platform = Platform.open(dsn, clock=clock, mail=MailSettings(port=mail_sink.port))
    platform.start_projection_runners()
    platform.get(Loans)._catalogue = PenalCatalogue()
    try:
        yield platform, clock
    finally:
        platform.close()
        drop_database(dsn)


def _fire(platform: Any, scheduler: Scheduler, clock: FixedClock, tenant: Tenant, now: datetime) -> date | None:
    """A firing pass at `now` (the clock moved there); the brand's close of business of the slot it asked for is
    executed. Returns that run's as-of date (None: no slot was due)."""
    clock.instant = now
    before = {r.id for r in platform.get(JobRunQueries).history(tenant.brand_id, loan_cob.COB.name).items}
    scheduler.fire_due_slots(now)
    settle(platform, Jobs.name)
    fresh = [r for r in platform.get(JobRunQueries).history(tenant.brand_id, loan_cob.COB.name).items
             if r.id not in before]  # fmt: skip
    if not fresh:
        return None
    (run,) = fresh
    scheduler.execute(run.id)
    settle(platform, Jobs.name)
    settle(platform, Loans.name)
    done = platform.get(Jobs).run(tenant.brand_id, run.id)
    assert (done.status, done.trigger) == (RunStatus.SUCCEEDED, "schedule"), done.error
    return done.as_of


def _days_closed(platform: Any, tenant: Tenant, loan_id: UUID) -> list[tuple[date, int, Decimal, str]]:
    """The loan's `DayClosed` events in the order recorded: date, DPD, penal charged, class."""
    return [
        (e.business_date, e.dpd, e.penal_charged, e.asset_class)
        for e in platform.get(Loans).events.get(loan_id)
        if isinstance(e, Loan.DayClosed)
    ]


def _pay(platform: Any, tenant: Tenant, loan_id: UUID, on: date) -> None:
    platform.get(Loans).record_repayment(tenant.brand_id, loan_id, "100.00", "upi", f"UPI-{on.isoformat()}", on)


def test_the_close_of_business_acts_as_the_actor_the_rule_reads() -> None:
    """Every change the COB made before the rule existed carries the executor's actor for the job: the same one."""
    assert CLOSE_OF_BUSINESS_ACTOR == f"job:{loan_cob.COB.name}" and loan_cob.COB.catches_up


def test_after_three_days_down_the_next_scheduled_cob_closes_every_missed_date_in_order(own: Any) -> None:
    platform, clock = own
    tenant = make_tenant(platform)  # no business date set: the calendar's, 28 Feb
    loan = disbursed_loan(platform, tenant, D0)
    identity, store = platform.get(Identity), platform.get(CobStore)
    scheduler = scheduler_for(platform)

    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 2, 28), 12)) is None  # first sight
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 2, 28), 23, 45)) == date(2026, 2, 28)
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 1), 23, 45)) == date(2026, 3, 1)
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 2)  # moved on by the COB: not held
    assert not identity.business_date_held(tenant.brand_id)

    # Down on 2, 3 and 4 March; back at 10:00 on the 5th: the latest missed slot is 4 March's 23:30.
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 5), 10)) == date(2026, 3, 4)

    missed = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]
    records = [store.day(tenant.brand_id, day) for day in missed]
    done = [(r.started_at, r.finished_at) for r in records if r is not None and r.state == "done" and r.finished_at]
    assert len(done) == 3
    for (_, finished), (started, _) in pairwise(done):  # in order: each date closed before the next began
        assert finished is not None and finished <= started
    # LENDING.md: due 28 Feb unpaid, overdue from 1 Mar; DPD = date - due date; 0.1 % of 8,037.57 a day.
    assert _days_closed(platform, tenant, loan) == [
        (date(2026, 3, 1), 1, PENAL_A_DAY, "SMA-0"),
        *[(day, (day - date(2026, 2, 28)).days, PENAL_A_DAY, "SMA-0") for day in missed],
    ]
    shown = platform.get(Loans).get(tenant.brand_id, loan)
    assert shown.status.value == "overdue" and shown.cob_through == date(2026, 3, 4)
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 5)  # the slot's day + 1: today
    assert not identity.business_date_held(tenant.brand_id)
    _pay(platform, tenant, loan, date(2026, 3, 5))  # dated today: accepted (was "after the business date 3 Mar")


def test_a_business_date_an_admin_set_stays_held_after_the_cob_moves_it_on(own: Any) -> None:
    platform, clock = own
    tenant = make_tenant(platform)
    identity, store = platform.get(Identity), platform.get(CobStore)
    result, _ = identity.change_configuration(tenant.brand_id, {"business_date": date(2026, 2, 28)})  # an admin
    settle(platform, Identity.name, result.position)
    loan = disbursed_loan(platform, tenant, D0)
    scheduler = scheduler_for(platform)

    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 2, 28), 12)) is None  # first sight
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 1), 23, 45)) == date(2026, 2, 28)
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 1)  # moved on by the COB, still held
    assert identity.business_date_held(tenant.brand_id)

    # Down on 2, 3 and 4 March: the held brand runs as of its business date, one date a run, as before.
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 5), 10)) == date(2026, 3, 1)
    assert store.last_done(tenant.brand_id) == date(2026, 3, 1) and store.day(tenant.brand_id, date(2026, 3, 2)) is None
    assert _days_closed(platform, tenant, loan) == [(date(2026, 3, 1), 1, PENAL_A_DAY, "SMA-0")]
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 2) and identity.business_date_held(tenant.brand_id)
    with pytest.raises(InvalidInput) as refused:
        _pay(platform, tenant, loan, date(2026, 3, 5))
    assert refused.value.errors[0].field == "paid_on"

    # Cleared, the brand follows the calendar again: its next scheduled COB catches up to the slot's day.
    result, _ = identity.change_configuration(tenant.brand_id, {"business_date": None})
    settle(platform, Identity.name, result.position)
    assert not identity.business_date_held(tenant.brand_id)
    assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 5), 23, 45)) == date(2026, 3, 5)
    assert store.last_done(tenant.brand_id) == date(2026, 3, 5)
    assert [d for d, *_ in _days_closed(platform, tenant, loan)][-4:] == [date(2026, 3, n) for n in (2, 3, 4, 5)]
    assert identity.business_date(tenant.brand_id) == date(2026, 3, 6) and not identity.business_date_held(
        tenant.brand_id
    )


# The other runs of a catch-up pass ---------------------------------------------------------------------------------

NOTIFY, CLOSE_INACTIVE = BORROWER_NOTIFICATIONS.name, INACTIVE.name


class HeldClose:
    """The brand's real close of business, held back until released; the date-driven jobs (a job reading loan
    positions and one that does not) record, as each run starts, its as-of date, the loan's last closed date and the
    brand's business date."""

    def __init__(self, platform: Any, tenant: Tenant, loan_id: UUID) -> None:
        self.platform, self.tenant, self.loan_id = platform, tenant, loan_id
        self.cob = platform.job_handlers()[loan_cob.COB.name]
        self.released = threading.Event()
        self.released.set()
        self.started: dict[UUID, tuple[date, date | None, date]] = {}

    def handlers(self) -> dict[str, Any]:
        return {loan_cob.COB.name: self.close, NOTIFY: self.record, CLOSE_INACTIVE: self.record}

    def close(self, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        assert self.released.wait(timeout=60), "never released"
        yield from self.cob(run)

    def record(self, run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        loan = self.platform.get(Loans).get(self.tenant.brand_id, self.loan_id)
        today = self.platform.get(Identity).business_date(self.tenant.brand_id)
        self.started[run.id] = (run.as_of, loan.cob_through, today)
        yield BatchCounts(), None


def _latest_run(platform: Any, tenant: Tenant, name: str) -> JobRunView:
    """The brand's run of the job the last pass asked for."""
    return platform.get(JobRunQueries).history(tenant.brand_id, name).items[0]


def _dispatch_until(platform: Any, scheduler: Scheduler, done: Callable[[], bool]) -> None:
    """Hand due runs to the scheduler's executors (each dispatch as the leader's wake makes) until `done`."""
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, "timed out dispatching"
        scheduler.dispatch(platform.clock.now())
        time.sleep(0.05)


def _settled_but(platform: Any, tenant: Tenant, keep: set[UUID]) -> Callable[[], bool]:
    """Every run of the brand has been taken (succeeded, or retrying: the jobs without a handler here) but `keep`."""

    def settled() -> bool:
        runs = [r for name in platform.get(Jobs).catalogue
                for r in platform.get(JobRunQueries).history(tenant.brand_id, name).items]  # fmt: skip
        return all(r.status in ("succeeded", "retrying") for r in runs if r.id not in keep)

    return settled


def test_after_three_days_down_the_passs_other_runs_are_dated_today_and_loan_readers_wait_for_the_cob(
    own: Any,
) -> None:
    """Down 2-4 March: the pass at 10:00 on the 5th asks the COB as of the 4th and the brand's other runs as of the
    5th - the business date the COB brings it to - a job listed before the COB (onboarding-inactive) too. The
    borrower notifications (they read overdue status and dues) start once the COB has closed the 4th; the
    onboarding job, reading no loan, does not wait for it."""
    platform, clock = own
    tenant = make_tenant(platform)  # no business date set: the calendar's
    loan = disbursed_loan(platform, tenant, D0)
    jobs = platform.get(Jobs)
    held = HeldClose(platform, tenant, loan)
    scheduler = Scheduler(platform.port(SchedulerPort), held.handlers(), workers=4)
    try:
        assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 2, 28), 12)) is None  # first sight
        assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 1), 23, 45)) == date(2026, 3, 1)
        assert platform.get(Identity).business_date(tenant.brand_id) == date(2026, 3, 2)

        held.released.clear()
        clock.instant = _ist(date(2026, 3, 5), 10)
        scheduler.fire_due_slots(clock.instant)
        settle(platform, Jobs.name)
        cob, notify, inactive = (_latest_run(platform, tenant, name)
                                 for name in (loan_cob.COB.name, NOTIFY, CLOSE_INACTIVE))  # fmt: skip
        assert (cob.as_of, notify.as_of, inactive.as_of) == (date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 5))

        # Everything else is taken while the COB is held; the runs of the jobs reading loans stay queued.
        waiting = {_latest_run(platform, tenant, name).id for name in (NOTIFY, "mandate-debits", "reloan-offers")}
        _dispatch_until(platform, scheduler, _settled_but(platform, tenant, {cob.id, *waiting}))
        assert inactive.id in held.started and notify.id not in held.started
        for _ in range(5):
            scheduler.dispatch(clock.now())
            time.sleep(0.05)
        assert notify.id not in held.started
        assert {jobs.run(tenant.brand_id, run_id).status for run_id in waiting} == {RunStatus.REQUESTED}

        held.released.set()
        _dispatch_until(platform, scheduler, lambda: notify.id in held.started)
    finally:
        held.released.set()
        scheduler.stop()
    assert jobs.run(tenant.brand_id, cob.id).status is RunStatus.SUCCEEDED
    # It started with the 4th closed and the brand at the 5th; the onboarding job as of the 5th at once.
    assert held.started[notify.id] == (date(2026, 3, 5), date(2026, 3, 4), date(2026, 3, 5))
    assert held.started[inactive.id] == (date(2026, 3, 5), date(2026, 3, 1), date(2026, 3, 2))


def test_a_held_brands_other_runs_of_the_pass_are_dated_its_business_date_and_do_not_wait(own: Any) -> None:
    """Held at 28 Feb (the COB moved it to 1 Mar), down 2-4 March: the pass at 10:00 on the 5th asks the COB and the
    other runs as of 1 March, its business date, and the notifications start while the COB is still held back."""
    platform, clock = own
    tenant = make_tenant(platform)
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"business_date": date(2026, 2, 28)})
    settle(platform, Identity.name, result.position)
    loan = disbursed_loan(platform, tenant, D0)
    held = HeldClose(platform, tenant, loan)
    scheduler = Scheduler(platform.port(SchedulerPort), held.handlers(), workers=4)
    try:
        assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 2, 28), 12)) is None  # first sight
        assert _fire(platform, scheduler, clock, tenant, _ist(date(2026, 3, 1), 23, 45)) == date(2026, 2, 28)

        held.released.clear()
        clock.instant = _ist(date(2026, 3, 5), 10)
        scheduler.fire_due_slots(clock.instant)
        settle(platform, Jobs.name)
        cob, notify, inactive = (_latest_run(platform, tenant, name)
                                 for name in (loan_cob.COB.name, NOTIFY, CLOSE_INACTIVE))  # fmt: skip
        assert (cob.as_of, notify.as_of, inactive.as_of) == (date(2026, 3, 1),) * 3
        _dispatch_until(platform, scheduler, lambda: notify.id in held.started and inactive.id in held.started)
        assert platform.get(Jobs).run(tenant.brand_id, cob.id).status is RunStatus.RUNNING
    finally:
        held.released.set()
        scheduler.stop()
    # As of 1 March, the loan not yet closed for it (28 Feb's close recorded nothing: quiet until its due date).
    assert held.started[notify.id] == (date(2026, 3, 1), None, date(2026, 3, 1))
