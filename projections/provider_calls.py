"""The outbound call log's queries (`ops.provider_calls`, written by `adapters.providers.call_log`): brand-scoped,
newest first, keyset pages over its (brand_id, [provider | status,] at, id) indexes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from projections.keyset import KeysetCursor, Page

CALLS_CURSOR = KeysetCursor(datetime, UUID, name="provider-calls")
STATUSES = ("ok", "error")


@dataclass(frozen=True)
class ProviderCall:
    """One call to a provider, as logged."""

    id: UUID
    provider: str
    vendor: str
    kind: str
    customer_id: UUID | None
    status: str
    outcome: str
    http_status: int | None
    latency_ms: int
    attempts: int
    error: str | None
    at: datetime


class ProviderCallQueries:
    """Reads of the outbound call log."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def calls(
        self,
        brand_id: UUID,
        provider: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
        customer_id: UUID | None = None,
    ) -> Page:
        """The brand's calls newest first, of one provider (service) and/or status (ok, error), or one customer."""
        page_scope = (brand_id, provider, status, customer_id)  # the filters its cursor is bound to
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if provider:
            where.append("provider = %(provider)s")
            params["provider"] = provider
        if status:
            where.append("status = %(status)s")
            params["status"] = status
        if customer_id is not None:
            where.append("customer_id = %(customer)s")
            params["customer"] = customer_id
        if cursor:
            at, last = CALLS_CURSOR.decode(cursor, page_scope)
            where.append("(at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, provider, vendor, kind, customer_id, status, outcome, http_status, latency_ms, attempts, "
                f"error, at FROM ops.provider_calls WHERE {' AND '.join(where)} "
                "ORDER BY at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = CALLS_CURSOR.encode(rows[-1]["at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        return Page(items=[ProviderCall(**row) for row in rows], next_cursor=next_cursor)
