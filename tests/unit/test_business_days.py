"""Every Loan event filed by day carries its business date (projections/business_days.py): a new event without one
would be filed on the brand's local day of its instant - the wall clock's, for a brand operated as of another date -
and on another day by a rebuild made after a timezone change reached the brand directory late."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from domain.loans.loan import AssignedBy, Loan
from domain.loans.servicing_events import StatusMoved
from domain.loans.states import LoanStatus
from domain.shared.aggregate import Aggregate
from projections.business_days import DATE_FIELDS, UNDATED, business_day
from projections.loans import LoanViews
from projections.projection import Write

#: Events whose business date is inside a record they carry (a payment, a request, an ending).
NESTED = {"RepaymentRecorded": "payment", "RecoveryRecorded": "payment", "CollectionRequested": "request",
          "WaiverRequested": "waiver", "SettlementProposed": "settlement", "Settled": "ending",
          "WrittenOff": "ending", "WriteOffProposed": "write_off"}  # fmt: skip

DAY = date(2026, 3, 14)


def _loan_events() -> dict[str, type]:
    return {name: cls for name, cls in vars(Loan).items()
            if isinstance(cls, type) and issubclass(cls, Aggregate.Event) and name != "Event"}  # fmt: skip


def test_every_loan_event_names_the_field_of_its_business_date() -> None:
    events = _loan_events()
    assert len(events) > 35
    for name, cls in events.items():
        if issubclass(cls, UNDATED):
            continue
        if name in NESTED:
            assert NESTED[name] in cls.model_fields, name
            continue
        field = next((DATE_FIELDS[c] for c in cls.__mro__ if c in DATE_FIELDS), None)
        assert field is not None, f"{name} carries no business date for the read models that file it by day"
        assert field in cls.model_fields, (name, field)
        # optional, except where the event always had it: events stored before the field existed still load
        if field not in ("submitted_on", "disbursed_on", "reversed_on", "business_date", "decided_on", "waived_on"):
            assert not cls.model_fields[field].is_required(), (name, field)


def _timeline_day(event: object) -> object:
    (timeline,) = [c for c in LoanViews().project(1, event) if isinstance(c, Write) and "loan_events" in c.sql]
    assert isinstance(timeline.params, tuple)
    return timeline.params[8]  # COALESCE(<the event's day>, read.brand_local_day(brand_id, at))


def test_the_timeline_files_an_action_on_the_day_it_carries_else_on_the_local_day() -> None:
    at = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # recorded months after the brand's business date
    base = {"originator_id": uuid.uuid4(), "originator_version": 3, "timestamp": at}
    assigned = Loan.Assigned(**base, staff_id=uuid.uuid4(), by=AssignedBy.MANAGER, reason="r", assigned_on=DAY)
    moved = StatusMoved(**base, status=LoanStatus.OVERDUE, reason="COB", dpd=3, asset_class="SMA-0",
                        status_moved_on=DAY)  # fmt: skip
    escalated = Loan.Escalated(**base, reason="waiting", escalated_on=DAY)
    signed = Loan.Signed(**base, status=LoanStatus.APPROVED, reason="signed", esign_request_id="es-1",
                         provider_reference="p-1", signed_at=at, signed_on=DAY)  # fmt: skip
    for event in (assigned, moved, escalated, signed):
        assert business_day(event) == DAY
        assert _timeline_day(event) == DAY, type(event).__name__
    # stored before the field existed: no day of its own, the brand's local day of its instant stands in
    old = Loan.Assigned(**base, staff_id=uuid.uuid4(), by=AssignedBy.AUTO, reason="r")
    assert business_day(old) is None and _timeline_day(old) is None
