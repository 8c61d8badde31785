"""Read model of borrowers' documents: one row per document, with its review."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.documents.application import Documents
from domain.documents.content import DocumentKind
from domain.documents.document import Document, DocumentStatus, hidden_from_borrower
from domain.documents.document_request import DocumentRequests
from domain.documents.requirements import Uploaded
from domain.documents.statement_months import StatementPeriod, stated_period
from projections.keyset import KeysetCursor, Page
from projections.projection import Change, Insert, Projection, Write, handles

#: Documents are listed newest first by (uploaded_at, id).
DOCUMENTS_CURSOR = KeysetCursor(datetime, UUID, name="documents.of-customer")

E = Document
R = DocumentRequests


class DocumentsView(Projection):
    """One row per uploaded document."""

    name = "documents"
    source = Documents.name
    tables = ("read.documents", "read.document_requests", "read.document_request_reopenings")
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.documents (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            kind text NOT NULL,
            filename text NOT NULL,
            sha256 text NOT NULL,
            size bigint NOT NULL,
            content_type text NOT NULL,
            uploaded_by text NOT NULL,
            uploader text NOT NULL,
            status text NOT NULL,
            reason text,
            reviewed_by text,
            uploaded_at timestamptz NOT NULL,
            reviewed_at timestamptz
        )""",
        # A bank statement's months ("YYYY-MM"), when its upload gave them (added after the table; null before).
        "ALTER TABLE read.documents ADD COLUMN IF NOT EXISTS period_from text, ADD COLUMN IF NOT EXISTS period_to text",
        "CREATE INDEX IF NOT EXISTS documents_customer_idx ON read.documents (brand_id, customer_id, uploaded_at DESC, id)",
        # Staff's requests for particular documents: one row per request, open until an upload of its kind
        # fulfils it or staff cancel it.
        """CREATE TABLE IF NOT EXISTS read.document_requests (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            kind text NOT NULL,
            note text,
            state text NOT NULL,
            requested_by text NOT NULL,
            requested_at timestamptz NOT NULL,
            document_id uuid,
            fulfilled_at timestamptz,
            cancelled_by text,
            cancelled_at timestamptz,
            cancel_reason text
        )""",
        "CREATE INDEX IF NOT EXISTS document_requests_customer_idx "
        "ON read.document_requests (brand_id, customer_id, requested_at DESC, id)",
        # Every reopening of a request, its history: the rejected upload that had fulfilled it, why, who, when.
        """CREATE TABLE IF NOT EXISTS read.document_request_reopenings (
            request_id uuid NOT NULL,
            document_id uuid NOT NULL,
            brand_id uuid NOT NULL,
            customer_id uuid NOT NULL,
            reason text,
            reopened_by text NOT NULL,
            reopened_at timestamptz NOT NULL,
            PRIMARY KEY (request_id, document_id)
        )""",
        # The spare (another upload of the kind the borrower had sent) that fulfilled the request at once in the
        # rejected one's place; null when the borrower was asked again (added after the table; null before).
        "ALTER TABLE read.document_request_reopenings ADD COLUMN IF NOT EXISTS replaced_by uuid",
    )

    @handles(E.Uploaded)
    def _uploaded(self, position: int, event: E.Uploaded) -> Iterable[Change]:
        yield Insert(
            "read.documents",
            {
                "id": event.originator_id,
                "brand_id": event.brand_id,
                "customer_id": event.customer_id,
                "kind": event.kind.value,
                "filename": event.filename,
                "sha256": event.sha256,
                "size": event.size,
                "content_type": event.content_type.value,
                "uploaded_by": event.uploaded_by.value,
                "uploader": event.actor,
                "status": "pending",
                "uploaded_at": event.timestamp,
                "period_from": event.period_from,
                "period_to": event.period_to,
            },
        )

    @handles(E.Reviewed)
    def _reviewed(self, position: int, event: E.Reviewed) -> Iterable[Change]:
        yield Write(
            "UPDATE read.documents SET status = %s, reason = %s, reviewed_by = %s, reviewed_at = %s WHERE id = %s",
            (event.decision.value, event.reason, event.actor, event.timestamp, event.originator_id),
        )

    @handles(E.PeriodStated)
    def _period_stated(self, position: int, event: E.PeriodStated) -> Iterable[Change]:
        # The statement's months as staff stated them: the checklist's coverage follows.
        yield Write(
            "UPDATE read.documents SET period_from = %s, period_to = %s WHERE id = %s",
            (event.period_from, event.period_to, event.originator_id),
        )

    @handles(R.Requested)
    def _requested(self, position: int, event: R.Requested) -> Iterable[Change]:
        yield Insert(
            "read.document_requests",
            {
                "id": event.request_id,
                "brand_id": event.brand_id,
                "customer_id": event.customer_id,
                "kind": event.kind.value,
                "note": event.note,
                "state": "open",
                "requested_by": event.actor,
                "requested_at": event.at,
            },
        )

    @handles(R.Fulfilled)
    def _fulfilled(self, position: int, event: R.Fulfilled) -> Iterable[Change]:
        yield Write(
            "UPDATE read.document_requests SET state = 'fulfilled', document_id = %s, fulfilled_at = %s WHERE id = %s",
            (event.document_id, event.at, event.request_id),
        )
        if event.in_place_of is not None:
            # A spare took the rejected upload's place at once: its reopening says so (the borrower was not asked).
            yield Write(
                "UPDATE read.document_request_reopenings SET replaced_by = %s WHERE request_id = %s AND document_id = %s",
                (event.document_id, event.request_id, event.in_place_of),
            )

    @handles(R.Reopened)
    def _reopened(self, position: int, event: R.Reopened) -> Iterable[Change]:
        # Open again: the rejected upload no longer fulfils it (it is kept in the reopenings, the request's history).
        yield Write(
            "UPDATE read.document_requests SET state = 'open', document_id = NULL, fulfilled_at = NULL WHERE id = %s",
            (event.request_id,),
        )
        yield Insert(
            "read.document_request_reopenings",
            {
                "request_id": event.request_id,
                "document_id": event.document_id,
                "brand_id": event.brand_id,
                "customer_id": event.customer_id,
                "reason": event.reason,
                "reopened_by": event.actor,
                "reopened_at": event.at,
            },
        )

    @handles(R.Cancelled)
    def _cancelled(self, position: int, event: R.Cancelled) -> Iterable[Change]:
        yield Write(
            "UPDATE read.document_requests SET state = 'cancelled', cancelled_by = %s, cancelled_at = %s, "
            "cancel_reason = %s WHERE id = %s",
            (event.actor, event.at, event.reason, event.request_id),
        )


@dataclass(frozen=True)
class DocumentRow:
    """A document as staff and the borrower see it (the bytes are downloaded separately)."""

    id: UUID
    customer_id: UUID
    kind: str
    filename: str
    sha256: str
    size: int
    content_type: str
    uploaded_by: str
    uploader: str
    status: str
    reason: str | None
    reviewed_by: str | None
    uploaded_at: datetime
    reviewed_at: datetime | None
    period_from: str | None = None
    period_to: str | None = None


@dataclass(frozen=True)
class ReopeningRow:
    """A request opened again: staff rejected the upload that had fulfilled it; `replaced_by` the other upload of
    its kind the borrower had sent meanwhile, which fulfilled it at once (None: the borrower was asked again)."""

    document_id: UUID
    reason: str | None
    reopened_by: str
    reopened_at: datetime
    replaced_by: UUID | None = None


@dataclass(frozen=True)
class DocumentRequestRow:
    """A request staff made for a document of one kind, and where it stands (open, fulfilled, cancelled); a request
    reopened keeps every reopening, oldest first (`reopenings`), the last one saying when and why it was last."""

    id: UUID
    customer_id: UUID
    kind: str
    note: str | None
    state: str
    requested_by: str
    requested_at: datetime
    document_id: UUID | None
    fulfilled_at: datetime | None
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    reopenings: tuple[ReopeningRow, ...] = ()

    @property
    def reopened_at(self) -> datetime | None:
        """When it was last opened again (None: never)."""
        return self.reopenings[-1].reopened_at if self.reopenings else None

    @property
    def reopen_reason(self) -> str | None:
        """Why it was last opened again (the rejection's reason)."""
        return self.reopenings[-1].reason if self.reopenings else None


_COLUMNS = (
    "id, customer_id, kind, filename, sha256, size, content_type, uploaded_by, uploader, status, reason, "
    "reviewed_by, uploaded_at, reviewed_at, period_from, period_to"
)


def of_customer_statement(
    brand_id: UUID,
    customer_id: UUID,
    limit: int,
    *,
    after: tuple[datetime, UUID] | None = None,
    as_borrower: bool = False,
) -> tuple[str, dict[str, Any]]:
    """`DocumentQueries.of_customer`'s SELECT of up to `limit` rows after the keyset position `after` (uploaded_at,
    id), newest first; `as_borrower` leaves out what the borrower does not see. Apart so its plan can be checked."""
    where = "brand_id = %(brand)s AND customer_id = %(customer)s"
    params: dict[str, Any] = {"brand": brand_id, "customer": customer_id, "limit": limit}
    if as_borrower:
        # The pairs the domain rule refuses (`hidden_from_borrower`), not the rule restated here: a filter on the rows
        # the walk of documents_customer_idx finds.
        hidden = hidden_from_borrower()
        where += (
            " AND (uploaded_by, kind) NOT IN "
            "(SELECT by, kind FROM unnest(%(hidden_by)s::text[], %(hidden_kind)s::text[]) AS h(by, kind))"
        )
        params.update(hidden_by=[by.value for by, _ in hidden], hidden_kind=[kind.value for _, kind in hidden])
    if after is not None:
        where += " AND (uploaded_at, id) < (%(c_at)s, %(c_id)s)"
        params.update(c_at=after[0], c_id=after[1])
    sql = f"SELECT {_COLUMNS} FROM read.documents WHERE {where} ORDER BY uploaded_at DESC, id DESC LIMIT %(limit)s"
    return sql, params


class DocumentQueries:
    """Brand-scoped reads of documents."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def document(self, brand_id: UUID, document_id: UUID) -> DocumentRow | None:
        """One document of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM read.documents WHERE id = %s AND brand_id = %s", (document_id, brand_id)
            ).fetchone()
        return DocumentRow(**row) if row else None

    def of_customer(
        self,
        brand_id: UUID,
        customer_id: UUID,
        cursor: str | None = None,
        limit: int = 50,
        *,
        as_borrower: bool = False,
    ) -> Page:
        """A borrower's documents, newest first: all of them (staff's view), or `as_borrower` only those the borrower
        sees (`borrower_sees`: staff's internal evidence left out)."""
        # The filters its cursor is bound to (staff's as before the borrower's view, so their cursors still hold).
        page_scope: tuple[Any, ...] = (brand_id, customer_id, *(("as_borrower",) if as_borrower else ()))
        after: tuple[datetime, UUID] | None = None
        if cursor:
            at, last = DOCUMENTS_CURSOR.decode(cursor, page_scope)
            after = (at, last)
        sql, params = of_customer_statement(brand_id, customer_id, limit + 1, after=after, as_borrower=as_borrower)
        with self.pool.connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            DOCUMENTS_CURSOR.encode(rows[-1]["uploaded_at"], rows[-1]["id"], scope=page_scope)
            if more and rows
            else None
        )
        return Page(items=[DocumentRow(**r) for r in rows], next_cursor=next_cursor)

    def accepted_kinds(self, brand_id: UUID, customer_id: UUID) -> set[DocumentKind]:
        """The kinds of which the borrower has an accepted document."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT DISTINCT kind FROM read.documents WHERE brand_id = %s AND customer_id = %s "
                "AND status = 'accepted'",
                (brand_id, customer_id),
            ).fetchall()
        return {DocumentKind(r["kind"]) for r in rows}

    def uploaded(self, brand_id: UUID, customer_id: UUID) -> list[Uploaded]:
        """The newest document of each kind and review status the borrower has, newest first: what the checklist's
        states need (a few rows per borrower, however many files they uploaded)."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT kind, status, reason FROM (SELECT DISTINCT ON (kind, status) kind, status, reason, uploaded_at, "
                "id FROM read.documents WHERE brand_id = %s AND customer_id = %s "
                "ORDER BY kind, status, uploaded_at DESC, id DESC) latest ORDER BY uploaded_at DESC, id DESC",
                (brand_id, customer_id),
            ).fetchall()
        return [Uploaded(DocumentKind(r["kind"]), DocumentStatus(r["status"]), r["reason"]) for r in rows]

    def statement_ids(self, brand_id: UUID, customer_id: UUID) -> list[UUID]:
        """The borrower's bank statements not rejected, newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM read.documents WHERE brand_id = %s AND customer_id = %s "
                "AND kind = 'bank_statement' AND status <> 'rejected' ORDER BY uploaded_at DESC, id DESC",
                (brand_id, customer_id),
            ).fetchall()
        return [r["id"] for r in rows]

    def statement_periods(self, brand_id: UUID, customer_id: UUID) -> list[StatementPeriod | None]:
        """The months each of the borrower's bank statements covers (None: not given), rejected ones left out: what
        the checklist's statement coverage counts."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT period_from, period_to FROM read.documents WHERE brand_id = %s AND customer_id = %s "
                "AND kind = 'bank_statement' AND status <> 'rejected' ORDER BY uploaded_at, id",
                (brand_id, customer_id),
            ).fetchall()
        return [stated_period(r["period_from"], r["period_to"]) for r in rows]

    def requests(self, brand_id: UUID, customer_id: UUID, *, open_only: bool = False) -> list[DocumentRequestRow]:
        """The borrower's document requests: open ones first, then the rest; newest first within each (a borrower
        has a few, never pages of them)."""
        where = "brand_id = %s AND customer_id = %s" + (" AND state = 'open'" if open_only else "")
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, customer_id, kind, note, state, requested_by, requested_at, document_id, fulfilled_at, "
                "cancelled_by, cancelled_at, cancel_reason FROM read.document_requests "
                f"WHERE {where} ORDER BY state <> 'open', requested_at DESC, id DESC LIMIT 200",
                (brand_id, customer_id),
            ).fetchall()
            history: dict[UUID, list[ReopeningRow]] = {}
            if rows:
                for h in conn.execute(
                    "SELECT request_id, document_id, reason, reopened_by, reopened_at, replaced_by "
                    "FROM read.document_request_reopenings WHERE brand_id = %s AND request_id = ANY(%s) "
                    "ORDER BY reopened_at, document_id",
                    (brand_id, [r["id"] for r in rows]),
                ).fetchall():
                    history.setdefault(h.pop("request_id"), []).append(ReopeningRow(**h))
        return [DocumentRequestRow(**r, reopenings=tuple(history.get(r["id"], ()))) for r in rows]
