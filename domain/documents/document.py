"""A document a borrower or staff member uploaded for a borrower, and its review."""

from __future__ import annotations

from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import event

from domain.documents.content import ContentType, DocumentKind, Uploader
from domain.documents.statement_months import StatementPeriod, stated_period
from domain.shared.aggregate import Aggregate
from domain.shared.errors import Conflict, InvalidValue, NotFound
from domain.shared.values import MIN_REASON, clean_text

_NAMESPACE = uuid5(NAMESPACE_URL, "https://covenant-desk/documents")


class DocumentNotFound(NotFound):
    """Raised when no document has the id within the caller's brand."""


class DocumentStatus(StrEnum):
    """Where a document's review stands."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ReviewDecision(StrEnum):
    """A reviewer's decision."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


def document_id(brand_id: UUID, customer_id: UUID, kind: DocumentKind, sha256: str) -> UUID:
    """The id of a borrower's document of a kind with these bytes: the same file uploaded twice is one document."""
    return uuid5(_NAMESPACE, f"{brand_id}:{customer_id}:{kind.value}:{sha256}")


def borrower_sees(uploaded_by: Uploader | str, kind: DocumentKind | str) -> bool:
    """Whether a borrower sees one of their documents (lists it, opens its metadata, downloads it): what they uploaded
    or a provider fetched for them, and what staff uploaded for them of a KYC kind (a PAN card or a bank statement
    sent on their behalf is theirs). Staff's uploads of kind `other` are internal evidence - collection field
    visits, recovery documents, covenant proofs - never shown to the borrower. The one statement of the rule: the
    borrower's list query leaves out `hidden_from_borrower()`, and the single-document reads ask this."""
    return Uploader(uploaded_by) is not Uploader.STAFF or DocumentKind(kind) is not DocumentKind.OTHER


def linked_borrower_sees(
    uploaded_by: Uploader | str, kind: DocumentKind | str, uploader: str, actor: str, own_record: bool
) -> bool:
    """`borrower_sees`, for a borrower whose funnel is linked to the record: of their own record everything it
    allows; of a record found by the PAN alone (`own_record` false: anyone can type a PAN) only what this borrower
    (`actor`, `borrower:<id>`) uploaded themselves."""
    return borrower_sees(uploaded_by, kind) and (own_record or uploader == actor)


def hidden_from_borrower() -> tuple[tuple[Uploader, DocumentKind], ...]:
    """Every (uploaded_by, kind) pair `borrower_sees` refuses, derived from it: what a query over the read model
    leaves out of a borrower's view."""
    return tuple((by, kind) for by in Uploader for kind in DocumentKind if not borrower_sees(by, kind))


def review_reason(decision: ReviewDecision, reason: str | None) -> str | None:
    """The reason of a review: required (3 visible characters) to reject, optional to accept."""
    if decision is ReviewDecision.REJECTED or (reason and reason.strip()):
        missing = "say why the document is rejected (at least 3 characters)"
        text = clean_text(reason, "reason", multiline=True, min_visible=MIN_REASON, missing=missing)
        return " ".join(text.split())[:500]
    return None


class Document(Aggregate):
    """One uploaded file of a borrower: its bytes are in the document store under `sha256`."""

    id: UUID

    class Uploaded(Aggregate.Created):
        """A file was uploaded; its bytes are stored under `sha256` (content type sniffed from the bytes). A bank
        statement may say the months it covers (`period_from`..`period_to`, "YYYY-MM", inclusive); absent (null)
        on other documents, on statements uploaded without them, and on events from before periods were asked."""

        brand_id: UUID
        customer_id: UUID
        kind: DocumentKind
        filename: str
        sha256: str
        size: int
        content_type: ContentType
        uploaded_by: Uploader
        period_from: str | None = None
        period_to: str | None = None

    class Reviewed(Aggregate.Event):
        """A staff member accepted or rejected the document."""

        decision: ReviewDecision
        reason: str | None = None

    class PeriodStated(Aggregate.Event):
        """Staff stated (or corrected) the months a bank statement covers after its upload (`period_from`..
        `period_to`, "YYYY-MM", inclusive); `previous_from`/`previous_to` are what the document said before (null:
        not given). Who stated it is the event's actor."""

        period_from: str
        period_to: str
        previous_from: str | None = None
        previous_to: str | None = None

    @event(Uploaded)
    def __init__(
        self,
        brand_id: UUID,
        customer_id: UUID,
        kind: DocumentKind,
        filename: str,
        sha256: str,
        size: int,
        content_type: ContentType,
        uploaded_by: Uploader,
        period_from: str | None = None,
        period_to: str | None = None,
    ) -> None:
        self.brand_id = brand_id
        self.customer_id = customer_id
        self.kind = kind
        self.filename = filename
        self.sha256 = sha256
        self.size = size
        self.content_type = content_type
        self.uploaded_by = uploaded_by
        self.period_from = period_from
        self.period_to = period_to
        self.status = DocumentStatus.PENDING
        self.reason: str | None = None

    @property
    def period(self) -> StatementPeriod | None:
        """The months the statement covers, when the upload said them."""
        return stated_period(self.period_from, self.period_to)

    def review(self, decision: ReviewDecision, reason: str | None) -> None:
        """Accept or reject a pending document (a reason is required to reject)."""
        why = review_reason(decision, reason)
        if self.status is not DocumentStatus.PENDING:
            raise Conflict(f"the document was already {self.status.value}", id=str(self.id), status=self.status.value)
        self._reviewed(decision=decision, reason=why)

    def state_period(self, period: StatementPeriod, *, first_only: bool = False) -> bool:
        """Say the months a bank statement covers (False, nothing recorded, when it already says them); only a bank
        statement has a period (InvalidValue naming `period_from`), and a rejected one is not corrected (Conflict).
        `first_only` (a form offered while it said none): other months stated since are a Conflict naming them, not
        replaced."""
        if self.kind is not DocumentKind.BANK_STATEMENT:
            raise InvalidValue("period_from", "only a bank statement covers a period")
        if self.status is DocumentStatus.REJECTED:
            raise Conflict("the statement was rejected; upload the right one instead", id=str(self.id))
        if self.period == period:
            return False
        if first_only and self.period_from is not None:
            raise Conflict(
                f"its months were stated meanwhile ({self.period_from}..{self.period_to}); correct them through the "
                "API if they are wrong",
                period_from=self.period_from,
                period_to=self.period_to,
            )
        self._period_stated(
            period_from=str(period.first),
            period_to=str(period.last),
            previous_from=self.period_from,
            previous_to=self.period_to,
        )
        return True

    @event(PeriodStated)
    def _period_stated(
        self, period_from: str, period_to: str, previous_from: str | None, previous_to: str | None
    ) -> None:
        self.period_from = period_from
        self.period_to = period_to

    @event(Reviewed)
    def _reviewed(self, decision: ReviewDecision, reason: str | None) -> None:
        self.status = DocumentStatus(decision.value)
        self.reason = reason
