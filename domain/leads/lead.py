"""The lead aggregates: a `Lead` through its funnel, and a `LeadImport` (one uploaded file and its outcome)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound


class LeadStatus(StrEnum):
    """Where a lead is in the funnel: new -> contacted -> applied -> converted, or rejected."""

    NEW = "new"
    CONTACTED = "contacted"
    APPLIED = "applied"
    CONVERTED = "converted"
    REJECTED = "rejected"


FUNNEL = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.APPLIED, LeadStatus.CONVERTED)
TERMINAL = frozenset({LeadStatus.CONVERTED, LeadStatus.REJECTED})


class LeadNotFound(NotFound):
    """Raised when no lead has the id within the brand."""


class LeadImportNotFound(NotFound):
    """Raised when no lead import has the id within the brand."""


class LineResult(BaseModel):
    """What became of one record of an imported file (the import's result table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    outcome: str  # "created" | "duplicate" | "rejected"
    name: str | None = None
    lead_id: UUID | None = None
    match_kind: str | None = None
    score: int | None = None
    matched_kind: str | None = None  # "lead" | "borrower" | "row"
    matched_id: UUID | None = None
    matched_line: int | None = None
    reason: str | None = None


class LeadDetails(BaseModel):
    """What a lead record says about the person and the ad that brought them (no campaign data when organic)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    is_organic: bool
    name: str
    phone: str | None = None
    email: str | None = None
    pan: str | None = None
    external_id: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    adset_name: str | None = None
    ad_name: str | None = None
    form_name: str | None = None
    platform: str | None = None
    city: str | None = None
    submitted_at: datetime | None = None


class Lead(Aggregate):
    """One person an ad (or an organic form) brought in (uuid5 of the brand and their phone or email)."""

    id: UUID

    class Captured(Aggregate.Created):
        """A lead was imported from a file."""

        brand_id: UUID
        import_id: UUID
        line: int
        details: LeadDetails
        match_kind: str | None
        match_score: int | None
        matched_kind: str | None
        matched_id: UUID | None
        borrower_id: UUID | None

    class StatusChanged(Aggregate.Event):
        """The lead moved in the funnel."""

        status: LeadStatus
        note: str | None

    class LinkedToBorrower(Aggregate.Event):
        """The lead signed up: it is this borrower."""

        borrower_id: UUID

    @event(Captured)
    def __init__(
        self,
        brand_id: UUID,
        import_id: UUID,
        line: int,
        details: LeadDetails,
        match_kind: str | None,
        match_score: int | None,
        matched_kind: str | None,
        matched_id: UUID | None,
        borrower_id: UUID | None,
    ) -> None:
        self.brand_id = brand_id
        self.import_id = import_id
        self.details = details
        self.borrower_id = borrower_id
        self.status = LeadStatus.NEW

    def move(self, status: LeadStatus, note: str | None) -> bool:
        """Move the lead along the funnel (forward only) or reject it; the same status again changes nothing."""
        if status == self.status:
            return False
        if self.status in TERMINAL:
            raise Conflict(f"the lead is {self.status.value}: it cannot become {status.value}", status=self.status)
        if status is not LeadStatus.REJECTED and FUNNEL.index(status) < FUNNEL.index(self.status):
            raise Conflict(f"the lead is {self.status.value}: it cannot go back to {status.value}", status=self.status)
        self._status_changed(status=status, note=note)
        return True

    @event(StatusChanged)
    def _status_changed(self, status: LeadStatus, note: str | None) -> None:
        self.status = status

    def link(self, borrower_id: UUID) -> bool:
        """Record that the lead signed up as `borrower_id` (once)."""
        if self.borrower_id == borrower_id:
            return False
        if self.borrower_id is not None:
            raise Conflict("the lead is linked to another borrower already", borrower_id=str(self.borrower_id))
        self._linked(borrower_id=borrower_id)
        return True

    @event(LinkedToBorrower)
    def _linked(self, borrower_id: UUID) -> None:
        self.borrower_id = borrower_id


class LeadImport(Aggregate):
    """One uploaded lead file and what became of each of its records."""

    id: UUID

    class Imported(Aggregate.Created):
        """A file was imported (in one transaction with the leads it created)."""

        brand_id: UUID
        source: str
        filename: str
        rows: int
        created: int
        duplicates: int
        organic: int
        matched: dict[str, int]
        lines: list[LineResult]

    @event(Imported)
    def __init__(
        self,
        brand_id: UUID,
        source: str,
        filename: str,
        rows: int,
        created: int,
        duplicates: int,
        organic: int,
        matched: dict[str, int],
        lines: list[LineResult],
    ) -> None:
        self.brand_id = brand_id
        self.source = source
        self.filename = filename
        self.rows = rows
        self.created = created
        self.duplicates = duplicates
        self.organic = organic
        self.matched = matched
        self.lines = lines
