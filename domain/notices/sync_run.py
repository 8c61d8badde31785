"""A sync run (the spec's SoftmediaSyncRun): one pull of a source's notices, page by page, with its counts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

from domain.notices.notice import NoticeMode
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, NotFound


class SyncRunNotFound(NotFound):
    """Raised when no sync run has the id within the brand."""


class SyncStatus(StrEnum):
    """Where a run is: running, then succeeded, failed (nothing pulled) or partial (pulled, then stopped)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PARTIAL = "partial"


class PageCounts(BaseModel):
    """What one page (or a whole run) did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reactivated: int = 0
    malformed: int = 0
    matched: int = 0

    def __add__(self, other: PageCounts) -> PageCounts:
        return PageCounts(**{k: getattr(self, k) + getattr(other, k) for k in type(self).model_fields})


class SyncRun(Aggregate):
    """One pull of a source: who or what triggered it, each page's counts, and how it ended."""

    class Started(Aggregate.Created):
        """A sync was triggered (by the schedule or by a person)."""

        brand_id: UUID
        source_id: UUID
        company: str
        trigger: str
        requested_by: str
        modes: list[NoticeMode]

    class PagePulled(Aggregate.Event):
        """A page was fetched and its notices recorded."""

        mode: NoticeMode
        page: int
        total_pages: int
        counts: PageCounts
        errors: list[str]

    class Finished(Aggregate.Event):
        """The run ended."""

        status: SyncStatus
        inactivated: int
        error: str | None
        retries: int
        duration_ms: int

    @event(Started)
    def __init__(
        self, brand_id: UUID, source_id: UUID, company: str, trigger: str, requested_by: str, modes: list[NoticeMode]
    ) -> None:
        self.brand_id = brand_id
        self.source_id = source_id
        self.company = company
        self.trigger = trigger
        self.requested_by = requested_by
        self.modes = list(modes)
        self.status = SyncStatus.RUNNING
        self.pages = 0
        self.counts = PageCounts()
        self.inactivated = 0
        self.error: str | None = None

    @property
    def started_at(self) -> datetime:
        return self.created_on

    def record_page(self, mode: NoticeMode, page: int, total_pages: int, counts: PageCounts, errors: list[str]) -> None:
        """Add a page's counts to a running run."""
        self._require_running()
        self._page_pulled(mode=mode, page=page, total_pages=total_pages, counts=counts, errors=errors[:20])

    @event(PagePulled)
    def _page_pulled(
        self, mode: NoticeMode, page: int, total_pages: int, counts: PageCounts, errors: list[str]
    ) -> None:
        self.pages += 1
        self.counts = self.counts + counts

    def finish(self, *, error: str | None, inactivated: int, retries: int, now: datetime) -> SyncStatus:
        """End the run: succeeded without an error; with one, partial when pages were pulled, else failed."""
        self._require_running()
        if error is None:
            status = SyncStatus.SUCCEEDED
        elif self.pages:
            status = SyncStatus.PARTIAL
        else:
            status = SyncStatus.FAILED
        duration = max(int((now - self.created_on).total_seconds() * 1000), 0)
        self._finished(
            status=status,
            inactivated=inactivated,
            error=None if error is None else error[:2000],
            retries=retries,
            duration_ms=duration,
        )
        return status

    @event(Finished)
    def _finished(
        self, status: SyncStatus, inactivated: int, error: str | None, retries: int, duration_ms: int
    ) -> None:
        self.status = status
        self.inactivated = inactivated
        self.error = error

    def _require_running(self) -> None:
        if self.status != SyncStatus.RUNNING:
            raise Conflict(f"sync run {self.id} is {self.status.value}")
