"""Read model of blocklists: active and removed entries per brand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.blocklist.application import Blocklists, entry_id
from domain.blocklist.entry import BlockKind, BlocklistEntry, mask_blocked_value, normalise_blocked_value
from domain.shared.errors import InvalidValue
from projections.keyset import KeysetCursor, Page
from projections.name_vocabulary import like_escaped
from projections.projection import Projection, Write, handles

#: Entries are ordered by (changed_at, id), newest first.
ENTRIES_CURSOR = KeysetCursor(datetime, UUID, name="blocklist")

E = BlocklistEntry


class BlocklistView(Projection):
    """One row per blocked value."""

    name = "blocklist"
    source = Blocklists.name
    tables = ("read.blocklist",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.blocklist (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            kind text NOT NULL,
            value text NOT NULL,
            masked text NOT NULL,
            reason text NOT NULL,
            active boolean NOT NULL,
            changed_by text NOT NULL,
            added_at timestamptz NOT NULL,
            changed_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS blocklist_brand_idx ON read.blocklist (brand_id, active, changed_at DESC, id)",
    )

    @handles(E.Added)
    def _added(self, position: int, event: E.Added) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.blocklist (id, brand_id, kind, value, masked, reason, active, changed_by, added_at, "
            "changed_at) VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.kind.value, event.value, mask_blocked_value(event.kind, event.value),
             event.reason, event.actor, event.timestamp, event.timestamp),
        )  # fmt: skip

    @handles(E.Removed, E.Readded)
    def _removed_or_readded(self, position: int, event: E.Removed | E.Readded) -> Iterable[Write]:
        yield Write(
            "UPDATE read.blocklist SET active = %s, reason = %s, changed_by = %s, changed_at = %s WHERE id = %s",
            (isinstance(event, E.Readded), event.reason, event.actor, event.timestamp, event.originator_id),
        )


@dataclass(frozen=True)
class BlockedValue:
    """A blocklist entry as the list shows it (Aadhaar and account numbers masked)."""

    id: UUID
    kind: str
    value: str
    reason: str
    active: bool
    changed_by: str
    added_at: datetime
    changed_at: datetime


@dataclass(frozen=True)
class BlocklistHit:
    """A value of a record (a borrower's phone, PAN, pincode) that is on the brand's blocklist."""

    entry_id: UUID
    kind: str
    value: str  # masked where the kind is sensitive
    reason: str


class BlocklistQueries:
    """Brand-scoped blocklist listing, and which of a record's values are blocked."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def entry(self, brand_id: UUID, entry_id: UUID) -> BlockedValue | None:
        """One entry of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT id, kind, masked AS value, reason, active, changed_by, added_at, changed_at FROM read.blocklist "
                "WHERE id = %s AND brand_id = %s",
                (entry_id, brand_id),
            ).fetchone()
        return BlockedValue(**row) if row else None

    def hits(self, brand_id: UUID, candidates: Iterable[tuple[BlockKind, str]]) -> list[BlocklistHit]:
        """The active entries blocking any of `candidates` (kind, value in any spelling), each once, for display
        (a decision - refusing an application - asks `Blocklists.check`, which reads the entry itself)."""
        ids = []
        for kind, value in candidates:
            try:
                ids.append(entry_id(brand_id, kind, normalise_blocked_value(kind, value)))
            except InvalidValue:
                continue  # not even a valid value of its kind: not blocked
        if not ids:
            return []
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id AS entry_id, kind, masked AS value, reason FROM read.blocklist "
                "WHERE id = ANY(%s) AND brand_id = %s AND active ORDER BY kind, masked",
                (list(dict.fromkeys(ids)), brand_id),
            ).fetchall()
        return [BlocklistHit(**row) for row in rows]

    def entries(
        self,
        brand_id: UUID,
        kind: BlockKind | None = None,
        active: bool = True,
        cursor: str | None = None,
        limit: int = 50,
        search: str | None = None,
    ) -> Page:
        """Entries newest first; `value` is masked where the kind is sensitive. `search` finds an entry whose shown
        value contains it (the last four digits of a masked one) or whose value it is, in any spelling of its kind
        (`98765 43210` finds the mobile +919876543210, a whole Aadhaar number its masked entry)."""
        term = (search or "").strip()
        # the filters its cursor is bound to (without a search as before, so an API caller's cursor still reads)
        page_scope: tuple[Any, ...] = (brand_id, kind, active, term) if term else (brand_id, kind, active)
        where = ["brand_id = %(brand)s", "active = %(active)s"]
        params: dict[str, Any] = {"brand": brand_id, "active": active, "limit": limit + 1}
        if kind is not None:
            where.append("kind = %(kind)s")
            params["kind"] = kind.value
        if term:
            exact = []
            for each in BlockKind:
                try:
                    exact.append(entry_id(brand_id, each, normalise_blocked_value(each, term)))
                except InvalidValue:
                    continue  # not a value of this kind
            where.append("(masked ILIKE %(like)s OR id = ANY(%(exact)s))")
            params.update(like="%" + like_escaped(term) + "%", exact=exact)
        if cursor:
            at, last = ENTRIES_CURSOR.decode(cursor, page_scope)
            where.append("(changed_at, id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, kind, masked AS value, reason, active, changed_by, added_at, changed_at FROM read.blocklist "
                f"WHERE {' AND '.join(where)} ORDER BY changed_at DESC, id DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            ENTRIES_CURSOR.encode(rows[-1]["changed_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[BlockedValue(**r) for r in rows], next_cursor=next_cursor)

    def blocked_pincodes(self, brand_id: UUID) -> frozenset[str]:
        """The pincodes on the brand's blocklist (active entries), for the BRE's PINCODE rule."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT value FROM read.blocklist WHERE brand_id = %s AND kind = %s AND active",
                (brand_id, BlockKind.PINCODE.value),
            ).fetchall()
        return frozenset(str(r["value"]) for r in rows)
