"""A borrower's documents as staff and the borrower see them: the list and the checklist of what is missing,
each within the caller's brand (another brand's borrower is a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.customers.application import Customers
from domain.documents.content import DocumentKind
from domain.documents.requirements import missing_kinds, required_kinds
from domain.identity.application import Identity
from projections.documents import DocumentQueries
from projections.keyset import Page
from projections.verification_queries import VerificationQueries


@dataclass(frozen=True)
class Checklist:
    """The documents a brand requires of a borrower, those accepted, and those still missing."""

    customer_id: UUID
    required: list[DocumentKind]
    accepted: list[DocumentKind]
    missing: list[DocumentKind]


@dataclass(frozen=True)
class DocumentDesk:
    """Reads of a borrower's documents that need the borrower (customers) and the brand's settings (identity)."""

    customers: Customers
    identity: Identity
    queries: DocumentQueries
    verification: VerificationQueries

    def documents(self, brand_id: UUID, customer_id: UUID, cursor: str | None, limit: int) -> Page:
        """The borrower's documents, newest first; CustomerNotFound for another brand's borrower."""
        self.customers.get(brand_id, customer_id)
        return self.queries.of_customer(brand_id, customer_id, cursor, limit)

    def checklist(self, brand_id: UUID, customer_id: UUID) -> Checklist:
        """What the brand requires of the borrower and what is still missing: not yet accepted, and not stood in for
        by a verification (the Aadhaar card by DigiLocker, statements by the Account Aggregator)."""
        self.customers.get(brand_id, customer_id)
        satisfied = [DocumentKind(k) for k in self.verification.satisfied_documents(brand_id, customer_id)]
        settings = self.identity.settings(brand_id)
        required = required_kinds(
            require_selfie=settings.require_selfie_video, require_employment=settings.require_employment_data
        )
        accepted = self.queries.accepted_kinds(brand_id, customer_id)
        return Checklist(
            customer_id=customer_id,
            required=list(required),
            accepted=[kind for kind in DocumentKind if kind in accepted],
            missing=missing_kinds(required, accepted, satisfied),
        )
