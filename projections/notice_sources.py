"""Queries over notice sources and their sync runs: each source with its health, and the runs, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.notices.health import SourceHealth, SyncHistory, source_health
from domain.notices.sync_run import SyncStatus
from projections.keyset import KeysetCursor, Page
from projections.notice_queries import Scope

#: Sync runs by (started_at, id), newest first.
SYNC_RUNS_CURSOR = KeysetCursor(datetime, UUID, name="notice-sources.sync-runs")


@dataclass(frozen=True)
class SourceHealthView:
    """How a source's syncs have gone."""

    state: SourceHealth
    last_run_id: UUID | None
    last_status: SyncStatus | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    consecutive_failures: int


@dataclass(frozen=True)
class NoticeSourceView:
    """A company's notice source (its token shown by its last four characters) with its health."""

    id: UUID
    brand_id: UUID
    company: str
    base_url: str
    schedule: str
    enabled: bool
    token: str
    running_run_id: UUID | None
    health: SourceHealthView
    created_at: datetime
    #: The settings' version (ETag, If-Match; a sync does not move it): None for sources projected before the read
    #: model kept it, until their next change or a rebuild of the projection.
    version: int | None = None

    @classmethod
    def of(cls, row: dict[str, Any], now: datetime) -> NoticeSourceView:
        history = SyncHistory(
            schedule=row["schedule"],
            created_at=row["created_at"],
            last_success_at=row["last_success_at"],
            last_failure_at=row["last_failure_at"],
            last_status=row["last_status"],
            consecutive_failures=row["consecutive_failures"],
        )
        return cls(
            id=row["id"],
            brand_id=row["brand_id"],
            company=row["company"],
            base_url=row["base_url"],
            schedule=row["schedule"],
            enabled=row["enabled"],
            token=row["token_hint"],
            running_run_id=row["running_run_id"],
            health=SourceHealthView(
                state=source_health(history, now),
                last_run_id=row["last_run_id"],
                last_status=SyncStatus(row["last_status"]) if row["last_status"] else None,
                last_success_at=row["last_success_at"],
                last_failure_at=row["last_failure_at"],
                last_error=row["last_error"],
                consecutive_failures=row["consecutive_failures"],
            ),
            created_at=row["created_at"],
            version=row.get("version"),
        )


@dataclass(frozen=True)
class SyncRunView:
    """A sync run: who asked, its status, pages and counts, retries and error."""

    id: UUID
    brand_id: UUID
    source_id: UUID
    company: str
    trigger: str
    requested_by: str
    status: SyncStatus
    pages: int
    fetched: int
    created: int
    updated: int
    unchanged: int
    reactivated: int
    malformed: int
    matched: int
    inactivated: int
    retries: int
    error: str | None
    malformed_examples: list[str]
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> SyncRunView:
        return cls(
            **{**row, "status": SyncStatus(row["status"]), "malformed_examples": list(row["malformed_examples"])}
        )


@dataclass(frozen=True)
class SyncRunPage(Page):
    """A keyset page of sync runs, newest first."""

    items: list[SyncRunView]


class NoticeSourceQueries:
    """Sources with their health and their sync runs; every query is scoped to a brand and its visible companies."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def sources(self, scope: Scope, now: datetime) -> list[NoticeSourceView]:
        """Sources with their health, by company."""
        where: list[str] = ["brand_id = %s"]
        params: list[Any] = [scope.brand_id]
        companies = scope.company_filter(None)
        if companies is not None:
            where.append("company = ANY(%s)")
            params.append(companies)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT * FROM read.notice_sources WHERE {' AND '.join(where)} ORDER BY company", params
            ).fetchall()
        return [NoticeSourceView.of(r, now) for r in rows]

    def source(self, scope: Scope, source_id: UUID, now: datetime) -> NoticeSourceView | None:
        """One source with its health."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM read.notice_sources WHERE brand_id = %s AND id = %s", (scope.brand_id, source_id)
            ).fetchone()
        if row is None or (scope.companies and row["company"] not in scope.companies):
            return None
        return NoticeSourceView.of(row, now)

    def sync_run(self, scope: Scope, run_id: UUID) -> SyncRunView | None:
        """One sync run."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT * FROM read.sync_runs WHERE brand_id = %s AND id = %s", (scope.brand_id, run_id)
            ).fetchone()
        if row is None or (scope.companies and row["company"] not in scope.companies):
            return None
        return SyncRunView.of(row)

    def sync_runs(
        self, scope: Scope, source_id: UUID | None = None, cursor: str | None = None, limit: int = 50
    ) -> SyncRunPage:
        """Sync runs newest first (optionally of one source); keyset pages."""
        page_scope = (scope.brand_id, source_id, scope.company_filter(None))  # the filters its cursor is bound to
        where: list[str] = ["brand_id = %s"]
        params: list[Any] = [scope.brand_id]
        if source_id is not None:
            where.append("source_id = %s")
            params.append(source_id)
        companies = scope.company_filter(None)
        if companies is not None:
            where.append("company = ANY(%s)")
            params.append(companies)
        if cursor:
            started, last_id = SYNC_RUNS_CURSOR.decode(cursor, page_scope)
            where.append("(started_at, id) < (%s::timestamptz, %s::uuid)")
            params += [started, last_id]
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT * FROM read.sync_runs WHERE {' AND '.join(where)} ORDER BY started_at DESC, id DESC LIMIT %s",
                (*params, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            SYNC_RUNS_CURSOR.encode(rows[-1]["started_at"], rows[-1]["id"], scope=page_scope) if more else None
        )
        return SyncRunPage(items=[SyncRunView.of(r) for r in rows], next_cursor=next_cursor)
