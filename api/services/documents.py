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
from domain.documents.statement_months import StatementCoverage, statement_coverage
from domain.identity.application import Identity
from projections.documents import DocumentQueries
from projections.keyset import Page
from projections.verification_queries import VerificationQueries


@dataclass(frozen=True)
class StatementMonths:
    """How the borrower's bank statements (not rejected) cover the brand's `bank_statement_months` complete months
    before its business date: months as "YYYY-MM"."""

    months_required: int
    required: list[str]
    covered: list[str]
    missing: list[str]
    period_not_given: int
    complete: bool
    verified_online: bool  # the Account Aggregator stands in for uploaded statements
    summary: str

    @classmethod
    def of(cls, coverage: StatementCoverage, verified_online: bool) -> StatementMonths:
        """The coverage as the API and the pages show it."""
        return cls(
            months_required=len(coverage.required),
            required=[str(m) for m in coverage.required],
            covered=[str(m) for m in coverage.covered],
            missing=[str(m) for m in coverage.missing],
            period_not_given=coverage.period_not_given,
            complete=coverage.complete,
            verified_online=verified_online,
            summary=coverage.summary(),
        )


@dataclass(frozen=True)
class Checklist:
    """The documents a brand requires of a borrower, those accepted, and those still missing, and the months the
    bank statements cover."""

    customer_id: UUID
    required: list[DocumentKind]
    accepted: list[DocumentKind]
    missing: list[DocumentKind]
    bank_statements: StatementMonths


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
        accepted = self.queries.accepted_kinds(brand_id, customer_id)
        return _checklist(
            customer_id, required, accepted, satisfied, self._statements(brand_id, customer_id, satisfied)
        )

    def checklist_detail(self, brand_id: UUID, customer_id: UUID) -> ChecklistDetail:
        """The checklist (as `checklist` answers it) with each required kind's state, from one read of the
        borrower's documents; CustomerNotFound for another brand's borrower."""
        required, satisfied = self._required(brand_id, customer_id)
        uploaded = self.queries.uploaded(brand_id, customer_id)
        accepted = {u.kind for u in uploaded if u.status is DocumentStatus.ACCEPTED}
        statements = self._statements(brand_id, customer_id, satisfied)
        checklist = _checklist(customer_id, required, accepted, satisfied, statements)
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

    def _statements(self, brand_id: UUID, customer_id: UUID, satisfied: list[DocumentKind]) -> StatementMonths:
        """The statements' coverage of the brand's months, as of the brand's business date (its configured
        `business_date`, else today in its timezone: the funnel's step checks the same window)."""
        settings = self.identity.settings(brand_id)
        today = self.identity.business_date(brand_id)
        periods = self.queries.statement_periods(brand_id, customer_id)
        coverage = statement_coverage(periods, today, settings.bank_statement_months)
        return StatementMonths.of(coverage, DocumentKind.BANK_STATEMENT in satisfied)


def _checklist(
    customer_id: UUID,
    required: tuple[DocumentKind, ...],
    accepted: set[DocumentKind],
    satisfied: list[DocumentKind],
    statements: StatementMonths,
) -> Checklist:
    return Checklist(
        customer_id=customer_id,
        required=list(required),
        accepted=[kind for kind in DocumentKind if kind in accepted],
        missing=missing_kinds(required, accepted, satisfied),
        bank_statements=statements,
    )
