"""What collection money adds to a serviced loan's views (issue #16): the ledger's waiver, settlement-waiver,
write-off and recovery postings, and the view of a loan that ended settled or written off (nothing outstanding,
no DPD; the schedule as it stood on the last day closed)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain.loans.money import ZERO
from domain.loans.recovery_events import EndKind
from domain.loans.replay import Replayed
from domain.loans.servicing_views import Outstanding, ScheduleItem, ServicingView

#: (on, kind, description, principal, interest, penal, fees, payment_id), as `servicing_views.ledger` builds them.
Line = tuple[date, str, str, Decimal, Decimal, Decimal, Decimal, str | None]


def recovery_lines(loan: Any, replayed: Replayed) -> list[Line]:
    """The ledger lines of approved waivers (what each forgave in the replay), the settlement waiver or write-off
    (the balance left that day) and the recoveries after a write-off (no balance moves)."""
    lines: list[Line] = []
    forgiven = dict(replayed.waivers)
    for waiver in getattr(loan, "waivers", {}).values():
        amount = forgiven.get(waiver.waiver_id)
        if amount and waiver.decided_on is not None:
            what = f"penal charges waived: {waiver.justification}"
            lines.append((waiver.decided_on, "waiver", what, ZERO, ZERO, -amount, ZERO, None))
    ending = getattr(loan, "ending", None)
    if ending is not None:
        if ending.kind is EndKind.SETTLED:
            kind, what = "settlement_waiver", "balance waived under the settlement paid in full"
        else:
            kind, what = "write_off", "balance written off"
        lines.append((ending.on, kind, what, -ending.principal, -ending.interest, -ending.penal, ZERO, None))
    for recovery in getattr(loan, "recoveries", {}).values():
        what = f"recovery after write-off {recovery.amount} ({recovery.mode} {recovery.reference})"
        lines.append((recovery.paid_on, "recovery", what, ZERO, ZERO, ZERO, ZERO, recovery.payment_id))
    return lines


def ended_view(loan: Any, through: date, as_of: date) -> ServicingView:
    """A settled or written-off loan on `as_of`: the schedule as it stood when it ended, nothing outstanding."""
    position = loan.replayed(through=through).position
    items = tuple(
        ScheduleItem(
            no=i.no,
            due_date=i.due_date,
            principal=i.principal_due,
            interest=i.interest_due,
            amount=i.principal_due + i.interest_due,
            penal=i.penal_accrued,
            paid=i.paid,
            unpaid=i.unpaid,
            status=i.status(min(as_of, through)),
        )
        for i in position.instalments
    )
    return ServicingView(
        as_of=as_of,
        schedule=items,
        outstanding=Outstanding(ZERO, ZERO, ZERO, ZERO, ZERO),
        dpd=0,
        asset_class=str(position.asset_class),
        next_due=None,
        cob_through=loan.cob_through,
        closed_on=None,
    )
