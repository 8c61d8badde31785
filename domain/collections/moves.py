"""Stages and allocation, recorded in batches: the daily sweep after the close of business (cases opened, moved
between stages, refreshed, closed; newly due and overdue loans allocated) and managers' reallocations. A batch is
one event naming many loans, so allocating a hundred thousand newly overdue loans is a few dozen events, not a
hundred thousand (docs/collections.md)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.collections.case import Stage
from domain.shared.aggregate import Aggregate

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/collections/day")

#: Loans per batch event.
BATCH = 2000


class MoveKind(StrEnum):
    """Why loans moved."""

    SWEEP = "sweep"  # the close of business: stage, figures and (automatic) allocation
    REALLOCATION = "reallocation"  # a manager moved loans to an executive


class Move(BaseModel):
    """One loan's move: its stage, who it is assigned to and who had it, its figures on the business date (DPD,
    the unpaid amount, the next due date), and - when it left collections - why (`closed`: a `Closure` of
    domain/collections/stages.py - cured, completed, not_due, settled, recovered; the stage and assignee it left
    from are kept for the team's figures)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loan_id: UUID
    stage: Stage
    staff_id: UUID | None
    previous: UUID | None
    dpd: int = 0
    amount: Decimal = Decimal("0.00")
    due_on: date | None = None
    closed: str | None = None


class CaseMoves(Aggregate):
    """A batch of moves (uuid4; never changed once recorded)."""

    id: UUID

    class Recorded(Aggregate.Created):
        """Loans moved (stage, allocation or figures) on a business date."""

        brand_id: UUID
        kind: MoveKind
        business_date: date
        moves: tuple[Move, ...]
        reason: str

    @event(Recorded)
    def __init__(
        self, brand_id: UUID, kind: MoveKind, business_date: date, moves: tuple[Move, ...], reason: str
    ) -> None:
        self.brand_id = brand_id
        self.kind = kind
        self.business_date = business_date
        self.moves = moves
        self.reason = reason


def day_id(brand_id: UUID, day: date) -> UUID:
    """The id of a brand's collections day record."""
    return uuid5(_NAMESPACE, f"{brand_id}:{day.isoformat()}")


class CollectionDay(Aggregate):
    """The record that a business date's sweep is done (uuid5 of brand and date): a rerun of the date does nothing."""

    id: UUID

    class Swept(Aggregate.Created):
        """The sweep of a business date finished, with its counts (opened, moved, closed, allocated, judged)."""

        brand_id: UUID
        business_date: date
        counts: dict[str, int]

    @event(Swept)
    def __init__(self, brand_id: UUID, business_date: date, counts: dict[str, int]) -> None:
        self.brand_id = brand_id
        self.business_date = business_date
        self.counts = counts
