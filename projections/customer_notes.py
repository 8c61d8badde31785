"""Read model of the notes staff write on borrowers' records (CustomerRecord.NoteAdded): one row per note, and its
brand-scoped queries -- a borrower's notes, or those about one loan, newest first in keyset pages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.customers.application import Customers
from domain.customers.customer import CustomerRecord
from projections.keyset import KeysetCursor, Page
from projections.projection import Change, Insert, Projection, handles

#: Notes are listed newest first by their position in the customers' event log (unique, in the order written).
NOTES_CURSOR = KeysetCursor(int, name="customer-notes")

C = CustomerRecord


@dataclass(frozen=True)
class NoteRow:
    """A note on a borrower's record; `author` is the actor that wrote it (``staff:<id>``, ``apikey:<id>``)."""

    id: UUID
    customer_id: UUID
    text: str
    author: str
    loan_id: UUID | None
    callback_at: datetime | None
    at: datetime


class CustomerNotesView(Projection):
    """read.customer_notes: one row per note, indexed for a borrower's list and a loan's, newest first."""

    name = "customer_notes"
    source = Customers.name
    tables = ("read.customer_notes",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.customer_notes (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            position bigint NOT NULL,
            text text NOT NULL,
            author text NOT NULL,
            loan_id uuid,
            callback_at timestamptz,
            at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS customer_notes_customer_idx ON read.customer_notes "
        "(brand_id, customer_id, position DESC)",
        "CREATE INDEX IF NOT EXISTS customer_notes_loan_idx ON read.customer_notes (brand_id, loan_id, position DESC) "
        "WHERE loan_id IS NOT NULL",
    )

    @handles(C.NoteAdded)
    def _note_added(self, position: int, event: C.NoteAdded) -> Iterable[Change]:
        yield Insert(
            "read.customer_notes",
            {
                "id": event.note_id,
                "brand_id": event.brand_id,
                "customer_id": event.originator_id,
                "position": position,
                "text": event.text,
                "author": event.actor,
                "loan_id": event.loan_id,
                "callback_at": event.callback_at,
                "at": event.timestamp,
            },
        )


_COLUMNS = "id, customer_id, position, text, author, loan_id, callback_at, at"


class CustomerNoteQueries:
    """Typed queries over read.customer_notes; every query is scoped to one brand."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def notes(
        self,
        brand_id: UUID,
        customer_id: UUID | None = None,
        loan_id: UUID | None = None,
        cursor: str | None = None,
        limit: int = 25,
    ) -> Page:
        """The notes on a borrower's record and/or about one loan (at least one of the two), newest first."""
        page_scope = (brand_id, customer_id, loan_id)  # the filters its cursor is bound to
        if customer_id is None and loan_id is None:
            raise TypeError("notes of a borrower or of a loan")
        where = "brand_id = %(brand)s"
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if customer_id is not None:
            where += " AND customer_id = %(customer)s"
            params["customer"] = customer_id
        if loan_id is not None:
            where += " AND loan_id = %(loan)s"
            params["loan"] = loan_id
        if cursor:
            (params["after"],) = NOTES_CURSOR.decode(cursor, page_scope)
            where += " AND position < %(after)s"
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM read.customer_notes WHERE {where} ORDER BY position DESC LIMIT %(limit)s",
                params,
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = NOTES_CURSOR.encode(rows[-1]["position"], scope=page_scope) if more and rows else None
        return Page(items=[_note(r) for r in rows], next_cursor=next_cursor)

    def note(self, brand_id: UUID, note_id: UUID) -> NoteRow | None:
        """One note of the brand, or None."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM read.customer_notes WHERE id = %s AND brand_id = %s", (note_id, brand_id)
            ).fetchone()
        return None if row is None else _note(row)

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool:
        """Whether the brand's customer directory holds the borrower (a list of another brand's notes is a 404)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT FROM read.customers WHERE id = %s AND brand_id = %s) AS found",
                (customer_id, brand_id),
            ).fetchone()
        return bool(row["found"])


def _note(row: dict[str, Any]) -> NoteRow:
    return NoteRow(**{k: v for k, v in row.items() if k != "position"})
