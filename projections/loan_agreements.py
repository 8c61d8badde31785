"""Read model of loan agreements and their e-sign links (`read.loan_agreements`, one row per sanctioned loan): what
`GET /api/v1/loans/{id}` shows as `esign` and `agreement`, and the agreement worker's to-do lists (`work`: `issue`
a sanctioned loan's agreement, `queue` a signed loan once its bank account is verified; live links past expiry).
Each loan's brand is kept from its `Loan.Created` in a table of the projection's own (`read.loan_agreement_brands`,
projections/loan_brands.py), so a sanctioned loan's row never depends on where another read model is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from domain.loans.loan import Loan
from projections.loan_brands import brand_of, loan_brand_row, loan_brands_ddl
from projections.projection import Change, Projection, Write, handles

L = Loan

#: Each loan's brand, from its `Loan.Created` (the later loan events carry none).
BRANDS = "read.loan_agreement_brands"

#: The worker's to-do markers.
ISSUE = "issue"
QUEUE = "queue"


class LoanAgreementsView(Projection):
    """One row per sanctioned loan: the agreement's hash and the latest e-sign link's state."""

    name = "loan_agreements"
    source = Loans.name
    tables = (BRANDS, "read.loan_agreements")
    ddl = (
        loan_brands_ddl(BRANDS, "read.loan_agreements"),  # (before read.loan_agreements: see loan_brands_ddl)
        """CREATE TABLE IF NOT EXISTS read.loan_agreements (
            loan_id uuid PRIMARY KEY,
            brand_id uuid NOT NULL,
            open boolean NOT NULL DEFAULT true,
            work text,
            esign_state text,
            link text,
            expires_at timestamptz,
            request_id text,
            document_sha256 text,
            document_ref text,
            sanctioned_at timestamptz NOT NULL,
            issued_at timestamptz,
            signed_at timestamptz,
            provider_reference text,
            links_sent int NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS loan_agreements_work_idx ON read.loan_agreements (work, updated_at) "
        "WHERE work IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS loan_agreements_live_idx ON read.loan_agreements (expires_at) "
        "WHERE esign_state = 'sent' AND open",
        "CREATE INDEX IF NOT EXISTS loan_agreements_brand_live_idx ON read.loan_agreements (brand_id, expires_at) "
        "WHERE esign_state = 'sent' AND open",
    )

    @handles(L.Created)
    def _created(self, position: int, event: Any) -> Iterable[Change]:
        yield loan_brand_row(BRANDS, event.originator_id, event.brand_id)

    @handles(L.Sanctioned)
    def _sanctioned(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "INSERT INTO read.loan_agreements (loan_id, brand_id, work, sanctioned_at, updated_at) "
            f"VALUES (%s, {brand_of(BRANDS)}, %s, %s, %s) "
            "ON CONFLICT (loan_id) DO UPDATE SET open = true, work = EXCLUDED.work, "
            "esign_state = NULL, link = NULL, expires_at = NULL, request_id = NULL, document_sha256 = NULL, "
            "document_ref = NULL, sanctioned_at = EXCLUDED.sanctioned_at, issued_at = NULL, signed_at = NULL, "
            "provider_reference = NULL, links_sent = 0, updated_at = EXCLUDED.updated_at",
            (event.originator_id, event.originator_id, ISSUE, event.timestamp, event.timestamp),
        )

    @handles(L.AgreementIssued)
    def _issued(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_agreements SET work = NULL, esign_state = 'sent', link = %s, expires_at = %s, "
            "request_id = %s, document_sha256 = %s, document_ref = %s, issued_at = COALESCE(issued_at, %s), "
            "links_sent = links_sent + 1, updated_at = %s WHERE loan_id = %s",
            (event.link, event.expires_at, event.esign_request_id, event.document_sha256, event.document_ref,
             event.timestamp, event.timestamp, event.originator_id),
        )  # fmt: skip

    @handles(L.EsignExpired)
    def _expired(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_agreements SET esign_state = 'expired', updated_at = %s WHERE loan_id = %s",
            (event.timestamp, event.originator_id),
        )

    @handles(L.Signed)
    def _signed(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_agreements SET esign_state = 'signed', work = %s, signed_at = %s, "
            "provider_reference = %s, updated_at = %s WHERE loan_id = %s",
            (QUEUE, event.signed_at, event.provider_reference, event.timestamp, event.originator_id),
        )

    @handles(L.DisbursalQueued)
    def _queued(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_agreements SET work = NULL, updated_at = %s WHERE loan_id = %s",
            (event.timestamp, event.originator_id),
        )

    @handles(L.Cancelled, L.Rejected, L.Reactivated)
    def _closed(self, position: int, event: Any) -> Iterable[Write]:
        yield Write(
            "UPDATE read.loan_agreements SET open = false, work = NULL, updated_at = %s WHERE loan_id = %s",
            (event.timestamp, event.originator_id),
        )


@dataclass(frozen=True)
class EsignRow:
    """A loan's agreement and its latest e-sign link."""

    loan_id: UUID
    state: str | None  # sent, signed, expired; None before the agreement is issued
    link: str | None
    expires_at: datetime | None
    request_id: str | None
    document_sha256: str | None
    issued_at: datetime | None
    signed_at: datetime | None
    links_sent: int


@dataclass(frozen=True)
class AgreementWork:
    """A loan the agreement worker has something to do for."""

    brand_id: UUID
    loan_id: UUID
    #: Its row's last change (the work list's keyset with the loan id); None where the list does not page.
    updated_at: datetime | None = field(default=None, compare=False)


_ROW = (
    "SELECT loan_id, esign_state AS state, link, expires_at, request_id, document_sha256, issued_at, signed_at, "
    "links_sent FROM read.loan_agreements"
)


class AgreementQueries:
    """Loan agreements and e-sign links: one loan's (brand-scoped), and the worker's to-do lists."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def esign(self, brand_id: UUID, loan_id: UUID) -> EsignRow | None:
        """The loan's agreement and e-sign link, None before sanction."""
        with self.pool.connection() as conn:
            row = conn.execute(f"{_ROW} WHERE loan_id = %s AND brand_id = %s", (loan_id, brand_id)).fetchone()
        return EsignRow(**row) if row else None

    def work(self, kind: str, limit: int = 100, after: AgreementWork | None = None) -> list[AgreementWork]:
        """Loans waiting for `issue` (sanctioned, no agreement) or `queue` (signed), oldest change first; `after`:
        the page after that item (keyset on the last change and the loan id), so a worker walks the whole list."""
        page = "" if after is None else " AND (updated_at, loan_id) > (%(at)s, %(loan)s)"
        with self.pool.connection() as conn:
            rows = conn.execute(
                f"SELECT brand_id, loan_id, updated_at FROM read.loan_agreements WHERE work = %(kind)s{page} "
                "ORDER BY updated_at, loan_id LIMIT %(limit)s",
                {"kind": kind, "limit": limit, "at": after and after.updated_at, "loan": after and after.loan_id},
            ).fetchall()
        return [AgreementWork(**row) for row in rows]

    def expired_links(self, now: datetime, limit: int = 100, brand_id: UUID | None = None) -> list[AgreementWork]:
        """Live links whose expiry has passed (of one brand, or every brand), the earliest first."""
        brand_filter = "" if brand_id is None else " AND brand_id = %(brand)s"
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT brand_id, loan_id FROM read.loan_agreements WHERE esign_state = 'sent' AND open "
                f"AND expires_at <= %(now)s{brand_filter} ORDER BY expires_at LIMIT %(limit)s",
                {"now": now, "limit": limit, "brand": brand_id},
            ).fetchall()
        return [AgreementWork(**row) for row in rows]
