"""Queries of the leads read models: the lead list (keyset), one lead, an import's result table, and the
directory a lead import dedupes against (the brand's leads and borrowers, by identifier or name key)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from domain.leads.csv_import import LeadSource
from domain.leads.dedupe import Known
from domain.leads.lead import LeadStatus
from projections.keyset import KeysetCursor, Page

#: Leads are listed newest first by (created_at, id).
LEADS_CURSOR = KeysetCursor(datetime, UUID, name="leads")
PER_KEY = 5  # candidates per name key (blocking)

_LEAD_COLUMNS = (
    "id, source, is_organic, name, phone, email, pan, external_id, campaign_id, campaign_name, adset_name, ad_name, "
    "form_name, platform, city, submitted_at, status, borrower_id, match_kind, match_score, matched_kind, "
    "matched_id, import_id, line, version, created_at, updated_at"
)


class LeadFilter(BaseModel):
    """Which leads a list shows: by funnel status, source (facebook, google), organic or campaign (None: any).
    The API parses its query string into it (api/routes/leads.py) and the lead page builds one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: LeadStatus | None = None
    source: LeadSource | None = None
    organic: bool | None = None


@dataclass(frozen=True)
class LeadRow:
    """A lead as the list shows it (campaign fields are empty for organic leads)."""

    id: UUID
    source: str
    is_organic: bool
    name: str
    phone: str | None
    email: str | None
    pan: str | None
    external_id: str | None
    campaign_id: str | None
    campaign_name: str | None
    adset_name: str | None
    ad_name: str | None
    form_name: str | None
    platform: str | None
    city: str | None
    submitted_at: datetime | None
    status: str
    borrower_id: UUID | None
    match_kind: str | None
    match_score: int | None
    matched_kind: str | None
    matched_id: UUID | None
    import_id: UUID
    line: int
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportRow:
    """An import: its counts and the result of every record."""

    id: UUID
    source: str
    filename: str
    rows: int
    created: int
    duplicates: int
    rejected: int
    organic: int
    matched: dict[str, int]
    lines: list[dict[str, Any]]
    imported_by: str
    imported_at: datetime


@dataclass(frozen=True)
class Signup:
    """A borrower whose record became known at sign-up, waiting to be linked to their lead."""

    borrower_id: UUID
    brand_id: UUID
    phone: str
    customer_id: UUID
    position: int


class LeadQueries:
    """Brand-scoped reads of leads and imports."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def lead(self, brand_id: UUID, lead_id: UUID) -> LeadRow | None:
        """One lead of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_LEAD_COLUMNS} FROM read.leads WHERE id = %s AND brand_id = %s", (lead_id, brand_id)
            ).fetchone()
        return LeadRow(**row) if row else None

    def matched_names(self, brand_id: UUID, leads: Iterable[UUID], borrowers: Iterable[UUID]) -> dict[UUID, str]:
        """The names of the leads and borrowers an import's lines matched, by id (an id not found is left out)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, name FROM read.leads WHERE brand_id = %s AND id = ANY(%s) "
                "UNION ALL SELECT id, name FROM read.customers WHERE brand_id = %s AND id = ANY(%s)",
                (brand_id, list(leads), brand_id, list(borrowers)),
            ).fetchall()
        return {r["id"]: r["name"] for r in rows}

    def borrower_id(self, brand_id: UUID, *, phone: str | None = None, number: str | None = None) -> UUID | None:
        """The brand's borrower whose primary phone (E.164) is `phone`, or whose formatted id is `number`
        (DEMO-C-000123); None when the brand has none (index probes: `(brand_id, phone)`, `(brand_id, number)`)."""
        column, value = ("phone", phone) if phone is not None else ("number", number)
        if value is None:
            return None
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT id FROM read.customers WHERE brand_id = %s AND {column} = %s ORDER BY id LIMIT 1",
                (brand_id, value),
            ).fetchone()
        return row["id"] if row else None

    def leads(
        self, brand_id: UUID, filters: LeadFilter | None = None, cursor: str | None = None, limit: int = 50
    ) -> Page:
        """Leads newest first, as `filters` chooses."""
        chosen = filters or LeadFilter()
        # the filters its cursor is bound to (`filters` may be the API's query model, which also holds the paging)
        page_scope = (brand_id, chosen.status, chosen.source, chosen.organic)
        where = ["brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if chosen.status is not None:
            where.append("status = %(status)s")
            params["status"] = chosen.status.value
        if chosen.source is not None:
            where.append("source = %(source)s")
            params["source"] = chosen.source.value
        if chosen.organic is not None:
            where.append("is_organic = %(organic)s")
            params["organic"] = chosen.organic
        if cursor:
            at, last = LEADS_CURSOR.decode(cursor, page_scope)
            where.append("(created_at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_LEAD_COLUMNS} FROM read.leads WHERE {' AND '.join(where)} "
                "ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            LEADS_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[LeadRow(**r) for r in rows], next_cursor=next_cursor)

    def lead_import(self, brand_id: UUID, import_id: UUID) -> ImportRow | None:
        """One import of the brand with its result table."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id, source, filename, rows, created, duplicates, rejected, organic, matched, lines, "
                "imported_by, imported_at FROM read.lead_imports WHERE id = %s AND brand_id = %s",
                (import_id, brand_id),
            ).fetchone()
        return ImportRow(**row) if row else None

    def pending_signups(self, limit: int = 100) -> list[Signup]:
        """The oldest sign-ups waiting for the linker."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT borrower_id, brand_id, phone, customer_id, position FROM read.lead_signup_queue "
                "ORDER BY position LIMIT %s",
                (limit,),
            ).fetchall()
        return [Signup(**r) for r in rows]

    def signup_done(self, signup: Signup) -> None:
        """Take a handled sign-up off the queue (unless it changed meanwhile)."""
        with self.pool.connection() as conn:
            conn.execute(
                "DELETE FROM read.lead_signup_queue WHERE borrower_id = %s AND position = %s",
                (signup.borrower_id, signup.position),
            )

    def known(
        self, brand_id: UUID, phones: Sequence[str], emails: Sequence[str], pans: Sequence[str], keys: Sequence[str]
    ) -> list[Known]:
        """The brand's leads and borrowers with any of the identifiers, and the first few filed under each name
        key (index probes only: `read.lead_name_keys`, and `read.notice_name_keys` for borrowers)."""
        with self.pool.connection() as conn:
            rows = conn.execute(KNOWN, known_params(brand_id, phones, emails, pans, keys)).fetchall()
        return [Known(**r) for r in rows]


#: The lead import's directory lookup (`LeadQueries.known`), index probes only. A borrower's email is probed
#: through `customers_brand_email_idx` (brand_id, lower(email)), a lead's through `leads_email_lower_idx`, lowered by
#: PostgreSQL as the indexes are: the dedupe compares emails ignoring case, so a candidate whose stored email differs
#: only in case must be fetched too (an exact `email = ANY(...)` missed it, and on read.customers, which has no index
#: on the bare `email`, read every borrower of the brand once per import).
KNOWN = (
    "SELECT 'lead' AS kind, id, name, phone, email, pan FROM read.leads WHERE brand_id = %(b)s AND "
    "(phone = ANY(%(ph)s) OR lower(email) = ANY(ARRAY(SELECT lower(e) FROM unnest(%(em)s::text[]) AS e)) "
    "OR pan = ANY(%(pan)s)) "
    "UNION SELECT 'lead', l.id, l.name, l.phone, l.email, l.pan FROM unnest(%(k)s::text[]) AS q(k) "
    "CROSS JOIN LATERAL (SELECT lead_id FROM read.lead_name_keys WHERE brand_id = %(b)s "
    'AND key = q.k COLLATE "C" ORDER BY lead_id LIMIT %(n)s) AS h JOIN read.leads l ON l.id = h.lead_id '
    "UNION SELECT 'borrower', id, name, phone, email, pan FROM read.customers WHERE brand_id = %(b)s AND "
    "(phone = ANY(%(ph)s) OR pan = ANY(%(pan)s)) "
    "UNION SELECT 'borrower', id, name, phone, email, pan FROM read.customers WHERE brand_id = %(b)s "
    "AND email IS NOT NULL AND lower(email) = ANY(ARRAY(SELECT lower(e) FROM unnest(%(em)s::text[]) AS e)) "
    "UNION SELECT 'borrower', c.id, c.name, c.phone, c.email, c.pan FROM unnest(%(k)s::text[]) AS q(k) "
    "CROSS JOIN LATERAL (SELECT customer_id FROM read.notice_name_keys WHERE brand_id = %(b)s "
    'AND key = q.k COLLATE "C" ORDER BY words, customer_id LIMIT %(n)s) AS h '
    "JOIN read.customers c ON c.id = h.customer_id"
)


def known_params(
    brand_id: UUID, phones: Sequence[str], emails: Sequence[str], pans: Sequence[str], keys: Sequence[str]
) -> dict[str, Any]:
    """The parameters of `KNOWN` for these identifiers and name keys."""
    return {
        "b": brand_id,
        "ph": list(phones),
        "em": list(emails),
        "pan": list(pans),
        "k": list(keys),
        "n": PER_KEY,
    }
