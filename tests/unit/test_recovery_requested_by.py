"""Who asked for a collection-money request is kept on it (`requested_by`, docs/recoveries.md "A second person
decides"): a request recorded before the field existed takes its event's actor, one that names it keeps it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from domain.loans.loan import Loan
from domain.loans.recovery_events import WaiverRecord


def _requested(waiver: WaiverRecord, actor: str) -> Any:
    return Loan.WaiverRequested(  # type: ignore[attr-defined]
        originator_id=uuid.uuid4(),
        originator_version=9,
        timestamp=datetime(2026, 3, 20, 10, tzinfo=UTC),
        actor=actor,
        brand_id=uuid.uuid4(),
        loan_number="L-1",
        waiver=waiver,
    )


def test_a_request_recorded_before_requested_by_takes_its_events_actor() -> None:
    old = WaiverRecord(waiver_id="w1", amount=Decimal("1.00"), justification="hospital", requested_on=date(2026, 3, 20))
    loan = SimpleNamespace(waivers={})
    _requested(old, "staff:asha").apply(loan)
    assert loan.waivers["w1"].requested_by == "staff:asha"

    named = old.model_copy(update={"waiver_id": "w2", "requested_by": "staff:ravi"})
    _requested(named, "staff:ravi").apply(loan)
    assert loan.waivers["w2"].requested_by == "staff:ravi" and loan.waivers["w1"].requested_by == "staff:asha"
