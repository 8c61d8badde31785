"""A borrower's documents as staff and the borrower see them: the list and the checklist of what is missing,
each within the caller's brand (another brand's borrower is a 404)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.customers.application import Customers
from domain.documents.content import DocumentKind
from domain.documents.document import DocumentStatus
from domain.documents.requirements import (
    TO_UPLOAD,
    KindStatus,
    kind_statuses,
    missing_kinds,
    required_kinds,
)
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
class ChecklistDetail:
    """The checklist with where each required kind stands (received and waiting for review, rejected, ...) and the
    other kinds the borrower uploaded (supporting documents)."""

    checklist: Checklist
    kinds: list[KindStatus]
    others: list[DocumentKind]

    @property
    def to_upload(self) -> list[DocumentKind]:
        """The required kinds the borrower still has to upload (nothing uploaded, or every copy rejected)."""
        return [s.kind for s in self.kinds if s.state in TO_UPLOAD]


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
        required, satisfied = self._required(brand_id, customer_id)
        return _checklist(customer_id, required, self.queries.accepted_kinds(brand_id, customer_id), satisfied)

    def checklist_detail(self, brand_id: UUID, customer_id: UUID) -> ChecklistDetail:
        """The checklist (as `checklist` answers it) with each required kind's state, from one read of the
        borrower's documents; CustomerNotFound for another brand's borrower."""
        required, satisfied = self._required(brand_id, customer_id)
        uploaded = self.queries.uploaded(brand_id, customer_id)
        accepted = {u.kind for u in uploaded if u.status is DocumentStatus.ACCEPTED}
        checklist = _checklist(customer_id, required, accepted, satisfied)
        kinds = kind_statuses(required, uploaded, satisfied)
        kinds_uploaded = {u.kind for u in uploaded}
        others = [kind for kind in DocumentKind if kind in kinds_uploaded and kind not in required]
        return ChecklistDetail(checklist, kinds, others)

    def _required(self, brand_id: UUID, customer_id: UUID) -> tuple[tuple[DocumentKind, ...], list[DocumentKind]]:
        self.customers.get(brand_id, customer_id)
        satisfied = [DocumentKind(k) for k in self.verification.satisfied_documents(brand_id, customer_id)]
        settings = self.identity.settings(brand_id)
        required = required_kinds(
            require_selfie=settings.require_selfie_video, require_employment=settings.require_employment_data
        )
        return required, satisfied


def _checklist(
    customer_id: UUID, required: tuple[DocumentKind, ...], accepted: set[DocumentKind], satisfied: list[DocumentKind]
) -> Checklist:
    return Checklist(
        customer_id=customer_id,
        required=list(required),
        accepted=[kind for kind in DocumentKind if kind in accepted],
        missing=missing_kinds(required, accepted, satisfied),
    )
