"""The hand-over projectors of the callback router: an application assigned queues its loan; a collections batch
queues the loans handed to another executive and the cases closed while an executive held them (with no new holder:
the router reads it by the routing rule), not a case left unassigned, kept by its executive or closed with nobody."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from domain.collections.case import Stage
from domain.collections.moves import CaseMoves, Move, MoveKind
from projections.callback_routing import CallbackCaseHandovers
from projections.projection import Write

A, B = uuid.uuid4(), uuid.uuid4()  # the executive who had the loans, the one they go to


def test_loans_handed_to_another_executive_and_cases_closed_from_an_executive_are_queued() -> None:
    moved, kept, closed, nobody, closed_unheld = (uuid.uuid4() for _ in range(5))
    event = CaseMoves.Recorded(
        originator_id=uuid.uuid4(), originator_version=1, timestamp=datetime.now(UTC), originator_topic="x",
        brand_id=uuid.uuid4(), kind=MoveKind.SWEEP, business_date=date(2026, 12, 1), reason="sweep",
        moves=(
            Move(loan_id=moved, stage=Stage.COLLECTIONS, staff_id=B, previous=A),
            Move(loan_id=kept, stage=Stage.COLLECTIONS, staff_id=A, previous=A),
            Move(loan_id=closed, stage=Stage.COLLECTIONS, staff_id=A, previous=A, closed="cured"),
            Move(loan_id=nobody, stage=Stage.COLLECTIONS, staff_id=None, previous=A),
            Move(loan_id=closed_unheld, stage=Stage.PRE, staff_id=None, previous=None, closed="not_due"),
        ),
    )  # fmt: skip
    [write] = list(CallbackCaseHandovers().project(7, event))
    assert isinstance(write, Write) and isinstance(write.params, tuple)
    # A closing is queued with its executive as `previous` and no new holder (read when it is routed), and why.
    assert write.params[0] == 7 and write.params[3:] == ([moved, closed], [B, None], [A, A], [None, "cured"])

    nothing = event.model_copy(update={"moves": (event.moves[1], *event.moves[3:])})
    assert list(CallbackCaseHandovers().project(8, nothing)) == []
