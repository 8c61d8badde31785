"""Checkpoints of a loan's replayed position (issue #15 item 9): what `replay.replay` gave after the loan's first
`facts` servicing facts, stored every CHECKPOINT_EVERY events, so that a view of a loan with a long history replays
only the facts after it instead of every day since the disbursal.

A checkpoint is a cache, never a source: it is a pure function of the loan's facts up to a version (facts are only
ever appended), and `resume` uses it only when replaying from it gives exactly what the whole replay gives -
otherwise it answers None and the caller replays everything:

- no fact after it reverses a payment it covers, and every fact after it is a payment or a reversal (a kind of
  fact it does not know sends the caller to the whole replay);
- every payment after it that stands is dated on or after its open day (payments are applied in date order, those of
  one day in the order recorded: the ones it covers come first, as they do in the whole replay);
- it is closed no further than the whole replay closes (the last standing payment's eve, or `closed_through`).

Closing days in two steps gives what one step gives (`overdue.advance_to`: a quiet stretch passed over is standard
either way), so the position resumed from a checkpoint is the position replayed from the disbursal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from domain.loans.position import AssetClass, InstalmentPosition, LoanPosition
from domain.loans.replay import Fact, PaymentMade, PaymentReversed, replay
from domain.shared.snapshot import Snapshot

#: A checkpoint is kept when a save takes the loan's version across a multiple of this.
CHECKPOINT_EVERY = 100


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The position replayed from the loan's first `facts` facts, as of the loan's `version`; with the Loan's own
    snapshot at that version (`domain/shared/snapshot.py`; None when it has none) and when its last event was
    recorded, so the auditor's as-of replay starts there too."""

    version: int
    facts: int
    position: LoanPosition
    snapshot: bytes | None = None
    recorded_at: datetime | None = None
    #: The stamp of the code that took `snapshot` (domain/loans/snapshot_stamp.py): applied only under the same one.
    stamp: str | None = None


class CheckpointStore(Protocol):
    """Where checkpoints are kept (adapters/loan_checkpoints.py)."""

    def latest(self, loan_id: UUID, version: int, opening: LoanPosition) -> Checkpoint | None:
        """The newest checkpoint of the loan taken at `version` or before."""

    def keep(self, loan_id: UUID, checkpoint: Checkpoint) -> None:
        """Store a checkpoint (once per loan and version)."""


class LoanSnapshots(Protocol):
    """Where the Loans' snapshots are read to load the current loan from (adapters/loan_checkpoints.py)."""

    def newest(self, loan_ids: Sequence[UUID], stamp: str, upto: int | None = None) -> dict[UUID, Snapshot]:
        """Per loan that has one, its newest snapshot stamped `stamp` (taken at `upto` or before), decoded, with its
        stored events after it (up to `upto`) in `events` when they were read in the same round trip."""


def resume(
    opening: LoanPosition, checkpoint: Checkpoint, facts: Sequence[Fact], closed_through: date | None
) -> LoanPosition | None:
    """The position `replay(opening, facts, closed_through=...)` gives, replayed from `checkpoint` on; None when the
    checkpoint cannot give exactly that (see the module)."""
    if checkpoint.facts > len(facts):
        return None
    head, tail = facts[: checkpoint.facts], facts[checkpoint.facts :]
    if any(not isinstance(f, PaymentMade | PaymentReversed) for f in tail):
        return None
    start = checkpoint.position
    covered = {f.payment_id for f in head if isinstance(f, PaymentMade)}
    reversed_ids = {f.payment_id for f in tail if isinstance(f, PaymentReversed)}
    if covered & reversed_ids:
        return None
    standing = [f for f in tail if isinstance(f, PaymentMade) and f.payment_id not in reversed_ids]
    if any(p.paid_on < start.open_day for p in standing):
        return None
    head_reversed = {f.payment_id for f in head if isinstance(f, PaymentReversed)}
    reach = [p.paid_on - timedelta(days=1) for p in standing]
    reach += [
        f.paid_on - timedelta(days=1) for f in head if isinstance(f, PaymentMade) and f.payment_id not in head_reversed
    ]
    if closed_through is not None:
        reach.append(closed_through)
    if (
        start.closed_through > max(reach, default=opening.closed_through)
        and start.closed_through > opening.closed_through
    ):
        return None
    return replay(start, tail, closed_through=closed_through).position


def position_of(loan: Any, store: CheckpointStore | None) -> LoanPosition:
    """`loan.replayed().position`, resumed from the loan's newest stored checkpoint when one fits."""
    if store is not None:
        opening = loan.opening_position()
        found = store.latest(loan.id, loan.version, opening)
        if found is not None:
            resumed = resume(opening, found, loan.servicing_facts, loan.cob_through)
            if resumed is not None:
                return resumed
    whole: LoanPosition = loan.replayed().position
    return whole


def encode(position: LoanPosition) -> dict[str, Any]:
    """What a checkpoint stores of a position: what the facts changed (the schedule comes from the loan)."""
    return {
        "closed_through": position.closed_through.isoformat(),
        "asset_class": str(position.asset_class),
        "closed_on": position.closed_on.isoformat() if position.closed_on else None,
        "instalments": [
            [str(i.interest_due), str(i.penal_accrued), str(i.principal_paid), str(i.interest_paid), str(i.penal_paid)]
            for i in position.instalments
        ],
    }


def decode(opening: LoanPosition, data: dict[str, Any]) -> LoanPosition:
    """The position `encode` stored, on the loan's opening position."""
    instalments = tuple(
        InstalmentPosition(
            no=i.no,
            due_date=i.due_date,
            principal_due=i.principal_due,
            interest_due=Decimal(figures[0]),
            penal_accrued=Decimal(figures[1]),
            principal_paid=Decimal(figures[2]),
            interest_paid=Decimal(figures[3]),
            penal_paid=Decimal(figures[4]),
        )
        for i, figures in zip(opening.instalments, data["instalments"], strict=True)
    )
    return LoanPosition(
        schedule=opening.schedule,
        penal=opening.penal,
        instalments=instalments,
        closed_through=date.fromisoformat(data["closed_through"]),
        asset_class=AssetClass(data["asset_class"]),
        closed_on=date.fromisoformat(data["closed_on"]) if data["closed_on"] else None,
        pricing=opening.pricing,
    )
