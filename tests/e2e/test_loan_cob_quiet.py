"""The COB's quiet-loan path (adapters/cob_store.py, `Loan.cob_quiet_until`) gives exactly what the per-loan path gives.

Two brands get the same generated loans (disbursal dates, payments on time, late, partial, ahead, never, reversed)
and the same business dates, day by day over two and a half months. One brand's COB plans only the loans whose watch
does not hold (`selective=True`, what the job runs); the other's closes every serviced loan every date (the per-loan
path). Every loan's recorded close-of-business events (date, penal charged, DPD, class, state), its servicing view at
the end, and every date's run record (closed, penal charged, transitions) must be the same - and the selective path
must have passed over loans (else it proves nothing)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from adapters.cob_store import CobStore
from domain.identity.application import Identity
from domain.loans.application import Loans
from domain.loans.servicing_views import servicing_view
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers import loan_cob

__all__ = ["catalogue"]  # the fixture (autouse) of the servicing tests: penal charges at 0.1 % a day

D0 = date(2026, 1, 31)
EMI = Decimal("8037.57")
PROFILES = ("on_time", "late", "partial", "ahead", "never", "reversed", "on_time", "late")


def _actions(rng: random.Random, schedules: list[list[date]]) -> dict[date, list[tuple[int, str, Any]]]:
    """Per business date, (loan index, action, amount) to apply: each loan's profile over its first two dues."""
    actions: dict[date, list[tuple[int, str, Any]]] = {}
    for n, profile in enumerate(PROFILES):
        for k, due in enumerate(schedules[n][:2]):
            if profile == "on_time":
                actions.setdefault(due, []).append((n, "pay", EMI))
            elif profile == "late":
                actions.setdefault(due + timedelta(days=rng.randint(2, 6)), []).append((n, "pay", EMI))
            elif profile == "partial":
                actions.setdefault(due - timedelta(days=1), []).append((n, "pay", Decimal("3000.00")))
            elif profile == "ahead" and k == 0:
                actions.setdefault(due - timedelta(days=10), []).append((n, "pay", EMI * 2))
            elif profile == "reversed" and k == 0:
                actions.setdefault(due, []).append((n, "pay", EMI))
                actions.setdefault(due + timedelta(days=4), []).append((n, "reverse", None))
    return actions


def _cob_events(platform: Any, tenant: Tenant, loan_id: UUID) -> list[tuple[Any, ...]]:
    events = platform.get(Loans).events.get(loan_id)
    return [
        (type(e).__name__, getattr(e, "business_date", None), getattr(e, "penal_charged", None),
         getattr(e, "dpd", None), getattr(e, "asset_class", None), str(getattr(e, "status", "")))
        for e in events
        if type(e).__name__ in ("DayClosed", "StatusMoved")
    ]  # fmt: skip


def test_the_quiet_path_gives_the_same_states_dpd_classes_and_charges_as_the_per_loan_path(platform: Any) -> None:
    loans: Loans = platform.get(Loans)
    store: CobStore = platform.get(CobStore)
    port = loan_cob.CobPort(loans, platform.get(Identity), platform.engine, store)
    rng = random.Random(15)
    disbursals = [D0 + timedelta(days=rng.choice((0, 0, 3, 9))) for _ in PROFILES]
    selective, every = make_tenant(platform), make_tenant(platform)
    books: dict[UUID, list[UUID]] = {}
    for tenant in (selective, every):
        set_business_date(platform, tenant, D0)
        books[tenant.brand_id] = []
        for on in disbursals:
            set_business_date(platform, tenant, on)
            books[tenant.brand_id].append(disbursed_loan(platform, tenant, on))
    schedules = [[i.due_date for i in loans.get(selective.brand_id, loan_id).servicing_schedule.instalments]  # type: ignore[union-attr]
                 for loan_id in books[selective.brand_id]]  # fmt: skip
    actions = _actions(rng, schedules)
    paid: dict[tuple[UUID, int], str] = {}
    last = D0 + timedelta(days=72)
    quiet = 0
    day = D0
    while day <= last:
        for tenant in (selective, every):
            set_business_date(platform, tenant, day)
            for n, action, amount in actions.get(day, []):
                loan_id = books[tenant.brand_id][n]
                if action == "pay":
                    _, record = loans.record_repayment(tenant.brand_id, loan_id, amount, "upi", f"R-{n}-{day}")
                    paid[(tenant.brand_id, n)] = record.payment_id
                else:
                    loans.reverse_repayment(tenant.brand_id, loan_id, paid[(tenant.brand_id, n)], "cheque bounced")
            settle(platform, Loans.name)
            assert store.plan(tenant.brand_id, day, datetime.now(UTC), 3, selective=tenant is selective)
            list(loan_cob.drain(port, tenant.brand_id, day, "w"))
            store.finish(tenant.brand_id, day, datetime.now(UTC))
        one, other = store.day(selective.brand_id, day), store.day(every.brand_id, day)
        assert one is not None and other is not None
        assert (one.loans, one.closed, one.penal_charged, one.transitions) == (
            other.loans, other.closed, other.penal_charged, other.transitions), day  # fmt: skip
        assert other.quiet == 0
        quiet += one.quiet
        day += timedelta(days=1)

    assert quiet > len(PROFILES) * 20  # most loans were passed over on most dates
    for mine, theirs in zip(books[selective.brand_id], books[every.brand_id], strict=True):
        assert _cob_events(platform, selective, mine) == _cob_events(platform, every, theirs)
        a, b = loans.get(selective.brand_id, mine), loans.get(every.brand_id, theirs)
        assert a.status == b.status and a.cob_through == b.cob_through
        view_a, view_b = servicing_view(a, last + timedelta(days=1)), servicing_view(b, last + timedelta(days=1))
        assert (view_a.schedule, view_a.outstanding, view_a.dpd, view_a.asset_class) == (
            view_b.schedule, view_b.outstanding, view_b.dpd, view_b.asset_class)  # fmt: skip
    statuses = {str(loans.get(selective.brand_id, i).status) for i in books[selective.brand_id]}
    assert {"overdue", "active"} <= statuses  # the book ends mixed: the comparison covered both kinds
