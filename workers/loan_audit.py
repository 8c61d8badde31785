"""Auditor replay of loans (issue #15 item 7): the Loan's state as of an instant is what the system said then.

`GET /api/v1/loans/{id}` answers from two things only: the loan's events and the brand's business date. So the loan
"as it stood" at an instant T is the servicing view (domain/loans/servicing_views.py) of the loan replayed from its
events recorded at or before T, on the business date the brand had at T: its configuration replayed to T (the fixed
`business_date` setting then, else T's calendar date in the brand's timezone then). The renderer adds to the
generic replayed members: `business_date`, `schedule` (with `paid`, `unpaid`, `status`), `outstanding`
{principal, interest, penal, fees, total}, `dpd`, `asset_class`, `next_due`, `closed_on` (`status` and `cob_through`
are the Loan's own members).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.audit.replay import AuditReplay, jsonable, snake, state_of
from domain.loans.checkpoint import CheckpointStore, position_of
from domain.loans.due_dates import RepaymentCalendar
from domain.loans.schedule import build_schedule
from domain.loans.servicing_views import ServicingView, servicing_view
from domain.shared.clock import business_date
from domain.shared.snapshot import SnapshotSource


def configuration_id(brand_id: UUID) -> UUID:
    """The id of the brand's configuration aggregate (as `domain.identity.application` derives it)."""
    return uuid5(NAMESPACE_URL, f"https://covenant-desk/config/{brand_id}")


def business_date_at(audit: AuditReplay, brand_id: UUID, instant: datetime) -> date:
    """The brand's business date as the system had it at `instant`: its configuration replayed to then."""
    return brand_calendar_at(audit, brand_id, instant)[0]


def brand_calendar_at(audit: AuditReplay, brand_id: UUID, instant: datetime) -> tuple[date, RepaymentCalendar]:
    """The brand's business date and repayment calendar (Sundays off, holidays) as the system had them at
    `instant`: its configuration replayed to then."""
    _, config, _ = audit.aggregate_as_of("brand_configuration", configuration_id(brand_id), None, instant)
    if config is None:  # a brand created before its configuration existed: the defaults
        return business_date(instant), RepaymentCalendar()
    settings = config.settings
    calendar = RepaymentCalendar(sunday_off=settings.sunday_off, holidays=frozenset(settings.repayment_holidays))
    return settings.business_date or business_date(instant, settings.timezone), calendar


def planned_schedule(loan: Any, today: date, calendar: RepaymentCalendar) -> list[dict[str, Any]] | None:
    """The schedule `GET /loans/{id}` shows a sanctioned loan before servicing opens (projections/
    loan_decision_queries.py: `schedule`): its sanction terms from the disbursal date, or `today` - the expected
    disbursal date - until disbursed, on the brand's repayment calendar; None before the sanction."""
    terms = getattr(loan, "sanction_terms", None)
    if terms is None:
        return None
    built = build_schedule(terms, getattr(loan, "disbursed_on", None) or today, calendar)
    unknown = {"paid": None, "status": None, "penal": None, "unpaid": None}  # what only servicing knows
    return [
        jsonable({"no": i.no, "due_date": i.due_date, "principal": i.principal, "interest": i.interest,
                  "amount": i.amount}) | unknown
        for i in built.instalments
    ]  # fmt: skip


class ViewCache:
    """Servicing views by (loan, version, business date): a loan's events up to a version and a business date fix
    its view, so an auditor's page (state, then the diff's two states) computes each one once. Bounded, LRU."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._views: OrderedDict[tuple[UUID, int, date], ServicingView] = OrderedDict()
        self._lock = threading.Lock()

    def view(self, loan: Any, today: date, checkpoints: CheckpointStore | None = None) -> ServicingView:
        """The loan's servicing view on `today`, computed once per (id, version, date), its position resumed from
        the loan's newest checkpoint at its version or before (domain/loans/checkpoint.py) when one fits."""
        key = (loan.id, loan.version, today)
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        found = servicing_view(loan, today, position_of(loan, checkpoints))
        with self._lock:
            self._views[key] = found
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return found

    def clear(self) -> None:
        """Forget every view (the benchmark measures cold replays)."""
        with self._lock:
            self._views.clear()


VIEWS = ViewCache()


def loan_state(audit: AuditReplay, loan: Any, as_of: datetime) -> dict[str, Any]:
    """The Loan's replayed members and, once servicing had opened, its servicing view as the GET showed it then."""
    state = state_of(loan)
    today, calendar = brand_calendar_at(audit, loan.brand_id, as_of)
    state["business_date"] = today.isoformat()
    if not getattr(loan, "servicing_open", False):
        state["schedule"] = planned_schedule(loan, today, calendar)
        return dict(sorted(state.items()))
    view = VIEWS.view(loan, today, getattr(audit.resolve("loan").application, "checkpoints", None))
    state["schedule"] = [jsonable(item.__dict__ | {"status": str(item.status)}) for item in view.schedule]
    state["outstanding"] = jsonable(view.outstanding.__dict__)
    state["dpd"] = view.dpd
    state["asset_class"] = view.asset_class
    state["next_due"] = jsonable(view.next_due.__dict__) if view.next_due is not None else None
    state["closed_on"] = jsonable(view.closed_on)
    return dict(sorted(state.items()))


#: The renderers the platform gives the auditor replay.
RENDERERS = {"loan": loan_state}


def snapshot_sources(applications: Mapping[str, Any], audited: Iterable[type] = ()) -> dict[str, SnapshotSource]:
    """Where the auditor replay finds snapshots: a Loan's with its checkpoints (adapters/loan_checkpoints.py); an
    audited type of an application that keeps snapshots (`snapshot_keeper`, e.g. borrower records) in its keeper."""
    found: dict[str, SnapshotSource] = {}
    for cls in audited:
        keeper: Any = getattr(applications.get(cls.__module__.split(".")[1]), "snapshot_keeper", None)
        if hasattr(keeper, "snapshot_before"):
            found[snake(cls.__name__)] = keeper
    checkpoints: Any = getattr(applications.get("loans"), "checkpoints", None)
    if hasattr(checkpoints, "snapshot_before"):
        found["loan"] = checkpoints
    return found
