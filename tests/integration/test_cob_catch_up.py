"""The scheduled close of business catches up after the scheduler was down, unless an admin holds the business date.

A brand whose business date only the close of business has moved follows the calendar: the next scheduled COB after
an outage runs as of its slot's day and closes every missed date in order (each with its run record, each loan's
DPD and penal charges as LENDING.md says for that day), leaving the business date at the slot's day + 1, so a
payment dated today is accepted. Before, it ran as of the business date the last COB had left and closed one date
a night: the brand stayed as many days behind as the scheduler had been down, for ever. A brand whose business date
an admin set is held: its COB still runs as of that date, one day a run, even after the COB has moved it on.

On a platform and database of their own with a fixed clock: the business day of a brand that never had a business
date set is the clock's, and a firing pass fires every brand of the database."""

from __future__ import annotations

from collections.abc import Iterator
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
from domain.jobs.job import RunStatus
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.shared.clock import FixedClock
from domain.shared.errors import InvalidInput
from projections.jobs import JobRunQueries
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import PenalCatalogue, disbursed_loan
from tests.support import copy_database_dsn, drop_database, settle
from workers import loan_cob
from workers.runtime import scheduler_for
from workers.scheduler import Scheduler

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
