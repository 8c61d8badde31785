"""Read model of re-loan offers (`read.reloan_offers`, one row per offer) and its queries: the list by status
(keyset, newest first), one offer, and the closed loans of a brand still without an offer (for the offer job)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.reloans.application import ReloanOffers
from domain.reloans.offer import ReloanOffer
from domain.shared.ddl import unless_present
from projections.keyset import KeysetCursor, Page
from projections.projection import Projection, Write, handles

#: Offers are ordered by (created_at, id), newest first.
OFFERS_CURSOR = KeysetCursor(datetime, UUID, name="reloans.offers")

R = ReloanOffer


class ReloanOfferView(Projection):
    """One row per re-loan offer."""

    name = "reloan_offers"
    source = ReloanOffers.name
    tables = ("read.reloan_offers",)
    ddl = (
        """CREATE TABLE IF NOT EXISTS read.reloan_offers (
            id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            loan_id uuid NOT NULL,
            loan_number text NOT NULL,
            customer_id uuid NOT NULL,
            product_id uuid NOT NULL,
            tenure int NOT NULL,
            previous_amount numeric(16, 2) NOT NULL,
            amount numeric(16, 2) NOT NULL,
            hike text NOT NULL,
            status text NOT NULL,
            application_id uuid,
            reason text,
            changed_by text NOT NULL,
            created_at timestamptz NOT NULL,
            changed_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS reloan_offers_brand_idx ON read.reloan_offers (brand_id, created_at DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS reloan_offers_status_idx "
        "ON read.reloan_offers (brand_id, status, created_at DESC, id DESC)",
        "CREATE UNIQUE INDEX IF NOT EXISTS reloan_offers_loan_idx ON read.reloan_offers (loan_id)",
        # A borrower's own offers (the borrower API and web flow): a handful per borrower.
        "CREATE INDEX IF NOT EXISTS reloan_offers_customer_idx ON read.reloan_offers (brand_id, customer_id)",
    )

    @handles(R.Offered)
    def _offered(self, position: int, event: R.Offered) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.reloan_offers (id, brand_id, loan_id, loan_number, customer_id, product_id, tenure, "
            "previous_amount, amount, hike, status, changed_by, created_at, changed_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (event.originator_id, event.brand_id, event.loan_id, event.loan_number, event.customer_id,
             event.product_id, event.tenure, event.previous_amount, event.amount, event.hike, event.actor,
             event.timestamp, event.timestamp),
        )  # fmt: skip

    @handles(R.Approved)
    def _approved(self, position: int, event: R.Approved) -> Iterable[Write]:
        yield Write(
            "UPDATE read.reloan_offers SET status = 'approved', application_id = %s, changed_by = %s, changed_at = %s "
            "WHERE id = %s",
            (event.application_id, event.actor, event.timestamp, event.originator_id),
        )

    @handles(R.Rejected, R.Cancelled)
    def _closed(self, position: int, event: R.Rejected | R.Cancelled) -> Iterable[Write]:
        status = "rejected" if isinstance(event, R.Rejected) else "cancelled"
        yield Write(
            "UPDATE read.reloan_offers SET status = %s, reason = %s, changed_by = %s, changed_at = %s WHERE id = %s",
            (status, event.reason, event.actor, event.timestamp, event.originator_id),
        )


@dataclass(frozen=True)
class OfferRow:
    """A re-loan offer as lists show it."""

    id: UUID
    loan_id: UUID
    loan_number: str
    customer_id: UUID
    borrower_name: str | None
    product_id: UUID
    tenure: int
    previous_amount: Decimal
    amount: Decimal
    hike: str
    status: str
    application_id: UUID | None
    reason: str | None
    changed_by: str
    created_at: datetime
    changed_at: datetime


@dataclass(frozen=True)
class BorrowerOfferRow(OfferRow):
    """A re-loan offer as its borrower sees it: with the product's name and, once accepted, the application it
    started as the loans read model shows it (None until that read model has it)."""

    product_name: str | None
    product_kind: str | None  # emi (tenure in months) or payday (in days)
    application_number: str | None
    application_status: str | None


_SELECT = (
    "SELECT o.id, o.loan_id, o.loan_number, o.customer_id, c.name AS borrower_name, o.product_id, o.tenure, "
    "o.previous_amount, o.amount, o.hike, o.status, o.application_id, o.reason, o.changed_by, o.created_at, "
    "o.changed_at FROM read.reloan_offers o LEFT JOIN read.customers c ON c.id = o.customer_id"
)

_BORROWER_SELECT = (
    "SELECT o.id, o.loan_id, o.loan_number, o.customer_id, c.name AS borrower_name, o.product_id, o.tenure, "
    "o.previous_amount, o.amount, o.hike, o.status, o.application_id, o.reason, o.changed_by, o.created_at, "
    "o.changed_at, p.name AS product_name, p.kind AS product_kind, l.loan_number AS application_number, l.status AS application_status "
    "FROM read.reloan_offers o LEFT JOIN read.customers c ON c.id = o.customer_id "
    "LEFT JOIN read.loan_products p ON p.id = o.product_id LEFT JOIN read.loans l ON l.id = o.application_id"
)


#: The closed loans the `reloan-offers` job looked at and made no offer for (ineligible, or re-loans not automated
#: then), and when: the job's own bookkeeping, not the offers' read model (a rebuild keeps it).
CHECKS_DDL = """CREATE TABLE IF NOT EXISTS ops.reloan_checks (
    loan_id uuid PRIMARY KEY,
    brand_id uuid NOT NULL,
    checked_at timestamptz NOT NULL
)"""

#: How long a closed loan the job made no offer for waits before it is looked at again (its product may be offered
#: again, the brand's policy may change).
RECHECK_AFTER = timedelta(days=1)


class ReloanOfferQueries:
    """Brand-scoped re-loan offer queries (and the offer job's note of the loans it looked at)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._checks_ready = False

    def _checks(self) -> None:
        if not self._checks_ready:
            with self.pool.connection() as conn:
                conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
                conn.execute(unless_present(CHECKS_DDL))
            self._checks_ready = True

    def offers(self, brand_id: UUID, status: str | None = None, cursor: str | None = None, limit: int = 50) -> Page:
        """The brand's offers newest first, of one status or all."""
        page_scope = (brand_id, status)  # the filters its cursor is bound to
        where = ["o.brand_id = %(brand)s"]
        params: dict[str, Any] = {"brand": brand_id, "limit": limit + 1}
        if status:
            where.append("o.status = %(status)s")
            params["status"] = status
        if cursor:
            at, last = OFFERS_CURSOR.decode(cursor, page_scope)
            where.append("(o.created_at, o.id) < (%(c_at)s, %(c_id)s)")
            params.update(c_at=at, c_id=last)
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY o.created_at DESC, o.id DESC LIMIT %(limit)s", params
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = (
            OFFERS_CURSOR.encode(rows[-1]["created_at"], rows[-1]["id"], scope=page_scope) if more and rows else None
        )
        return Page(items=[OfferRow(**r) for r in rows], next_cursor=next_cursor)

    def offer(self, brand_id: UUID, offer_id: UUID) -> OfferRow | None:
        """One offer of the brand."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_SELECT} WHERE o.id = %s AND o.brand_id = %s", (offer_id, brand_id)).fetchone()
        return OfferRow(**row) if row else None

    def of_customer(self, brand_id: UUID, customer_id: UUID, limit: int = 50) -> list[BorrowerOfferRow]:
        """The borrower's offers in the brand, pending first, then newest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_BORROWER_SELECT} WHERE o.brand_id = %s AND o.customer_id = %s "
                "ORDER BY (o.status = 'pending') DESC, o.created_at DESC, o.id DESC LIMIT %s",
                (brand_id, customer_id, limit),
            ).fetchall()
        return [BorrowerOfferRow(**r) for r in rows]

    def of_customer_one(self, brand_id: UUID, customer_id: UUID, offer_id: UUID) -> BorrowerOfferRow | None:
        """One offer of the borrower (None when it is another borrower's or brand's)."""
        with self.pool.connection() as conn:
            row = conn.execute(
                f"{_BORROWER_SELECT} WHERE o.id = %s AND o.brand_id = %s AND o.customer_id = %s",
                (offer_id, brand_id, customer_id),
            ).fetchone()
        return BorrowerOfferRow(**row) if row else None

    def pending_since(
        self, brand_id: UUID, since: datetime, after: tuple[datetime, UUID] | None = None, limit: int = 200
    ) -> list[OfferRow]:
        """The brand's offers still pending that were made at or after `since`, oldest first (keyset on
        (created_at, id)): the ones whose borrower is told of them."""
        where, params = "o.brand_id = %s AND o.status = 'pending' AND o.created_at >= %s", [brand_id, since]
        if after is not None:
            where += " AND (o.created_at, o.id) > (%s, %s)"
            params += [after[0], after[1]]
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {where} ORDER BY o.created_at, o.id LIMIT %s", (*params, limit)
            ).fetchall()
        return [OfferRow(**r) for r in rows]

    def pending_before(
        self, brand_id: UUID, before: datetime, after: tuple[datetime, UUID] | None = None, limit: int = 200
    ) -> list[OfferRow]:
        """The brand's offers still pending that were made before `before`, oldest first (keyset on (created_at, id),
        read from `reloan_offers_status_idx`): the ones the offer job cancels as expired."""
        where, params = "o.brand_id = %s AND o.status = 'pending' AND o.created_at < %s", [brand_id, before]
        if after is not None:
            where += " AND (o.created_at, o.id) > (%s, %s)"
            params += [after[0], after[1]]
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {where} ORDER BY o.created_at, o.id LIMIT %s", (*params, limit)
            ).fetchall()
        return [OfferRow(**r) for r in rows]

    def closed_without_offer(self, brand_id: UUID, now: datetime, limit: int = 500) -> list[UUID]:
        """The brand's completed loans that have no offer yet: those never looked at first (oldest first), then
        those the job made no offer for over RECHECK_AFTER ago (`note_checked`). Before, the oldest ineligible
        loans came first in every run for good: once a batch's worth had piled up, no closure got an offer again."""
        self._checks()
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT l.id FROM read.loans l LEFT JOIN ops.reloan_checks c ON c.loan_id = l.id "
                "WHERE l.brand_id = %s AND l.status = 'completed' AND (c.checked_at IS NULL OR c.checked_at < %s) "
                "AND NOT EXISTS (SELECT FROM read.reloan_offers o WHERE o.loan_id = l.id) "
                "ORDER BY c.checked_at NULLS FIRST, l.updated_at, l.id LIMIT %s",
                (brand_id, now - RECHECK_AFTER, limit),
            ).fetchall()
        return [r["id"] for r in rows]

    def note_checked(self, brand_id: UUID, loan_ids: Iterable[UUID], at: datetime) -> None:
        """Note the closed loans the job looked at and made no offer for: looked at again after RECHECK_AFTER."""
        ids = list(loan_ids)
        if not ids:
            return
        self._checks()
        with self.pool.connection() as conn:
            conn.execute(
                "INSERT INTO ops.reloan_checks (loan_id, brand_id, checked_at) SELECT id, %s, %s FROM unnest(%s::uuid[]) "
                "AS id ON CONFLICT (loan_id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
                (brand_id, at, ids),
            )
