"""Use cases of the documents context: upload a borrower's document (bytes content-addressed), review it, state a
bank statement's months after its upload."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol
from uuid import UUID, uuid4

from domain.documents.content import (
    DEFAULT_MAX_BYTES,
    DocumentKind,
    DocumentStore,
    Uploader,
    checked_content,
    clean_filename,
    content_address,
)
from domain.documents.document import (
    Document,
    DocumentNotFound,
    DocumentStatus,
    ReviewDecision,
    borrower_sees,
    document_id,
)
from domain.documents.document_request import (
    NOTE_MAX,
    REQUESTABLE,
    DocumentRequestNotFound,
    DocumentRequests,
    document_requests_id,
)
from domain.documents.statement_months import statement_period
from domain.shared.aggregate import with_id
from domain.shared.application import CommandResult, ConcurrentModification, ContextApplication
from domain.shared.clock import Clock, business_date
from domain.shared.errors import Conflict, FieldChecks, FieldError, InvalidInput, InvalidValue, NotFound
from domain.shared.values import clean_text


class BorrowerNotFound(NotFound):
    """Raised when a document is uploaded for a borrower the brand does not have."""


class Borrowers(Protocol):
    """Whether a brand has a borrower (answered by the customers context at wiring)."""

    def has_borrower(self, brand_id: UUID, customer_id: UUID) -> bool: ...


class BorrowerNotices(Protocol):
    """Tells a borrower what staff asked of them (answered at wiring by an SMS through the brand's provider, as a
    send-back is told); a message that cannot go out is logged there and never undoes the request."""

    def documents_requested(
        self, brand_id: UUID, customer_id: UUID, kinds: list[DocumentKind], note: str | None
    ) -> None:
        """Tell the borrower which documents were asked for, with the note."""
        ...

    def document_asked_again(self, brand_id: UUID, customer_id: UUID, kind: DocumentKind, reason: str | None) -> None:
        """Tell the borrower the document they sent for a request was rejected (why) and to upload another."""
        ...


class BrandBusinessDates(Protocol):
    """A brand's business date: its configured `business_date`, else today in its timezone (answered by the identity
    context at wiring)."""

    def business_date(self, brand_id: UUID) -> date: ...


@dataclass(frozen=True)
class StoredContent:
    """A document's bytes with what the download needs."""

    document: Document
    data: bytes


class Documents(ContextApplication):
    """Upload borrowers' documents into the content-addressed store, review them, read them back."""

    name = "documents"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        clock: Clock | None = None,
        *,
        store: DocumentStore,
        borrowers: Borrowers,
        max_bytes: int = DEFAULT_MAX_BYTES,
        business_dates: BrandBusinessDates | None = None,
        notices: BorrowerNotices | None = None,
    ) -> None:
        super().__init__(env, clock)
        self.store = store
        self.borrowers = borrowers
        self.max_bytes = max_bytes
        #: Whose day says "this month" for a statement's months: the brand's business date, as its checklist and
        #: the funnel's statement step read it (None: today in the default business timezone).
        self.business_dates = business_dates
        #: Who tells the borrower of a document request (None: nobody is told; tests of the domain alone).
        self.notices = notices

    def _today(self, brand_id: UUID) -> date:
        """The brand's business date (its configured one, else today in its timezone)."""
        if self.business_dates is not None:
            return self.business_dates.business_date(brand_id)
        return business_date(self.clock.now())

    def upload(
        self,
        brand_id: UUID,
        customer_id: UUID,
        kind: DocumentKind,
        filename: str,
        data: bytes,
        uploaded_by: Uploader = Uploader.STAFF,
        *,
        period_from: str | None = None,
        period_to: str | None = None,
        existing_ok: bool = False,
    ) -> CommandResult:
        """Store a borrower's file (PDF, JPEG or PNG, sniffed from its bytes) and record it; the same bytes are
        stored once, and the same file uploaded again as the same kind is a conflict naming the document (with
        `existing_ok`, that document's id, unchanged: the same file cited again, as proof of another covenant). A
        bank statement may say the months it covers ("YYYY-MM" to "YYYY-MM"; 422 naming `period_from`/`period_to`
        when they are not months, backwards, in the future or over five years back); without them its months are
        unknown."""
        if not self.borrowers.has_borrower(brand_id, customer_id):
            raise BorrowerNotFound(f"borrower {customer_id} not found", id=str(customer_id))
        today = self._today(brand_id)
        checks = FieldChecks()
        name = checks.check(lambda: clean_filename(filename))
        content_type = checks.check(lambda: checked_content(name or "", data, self.max_bytes))
        period = checks.check(lambda: statement_period(kind, period_from, period_to, today))
        checks.raise_if_any()
        assert name is not None and content_type is not None
        sha256 = content_address(data)
        doc_id = document_id(brand_id, customer_id, kind, sha256)
        existing = self.find(doc_id)
        if isinstance(existing, Document):
            return _already_uploaded(existing, existing_ok)
        # Bytes first: a document event never points at bytes that are not stored. Bytes stored by a command that
        # then fails are harmless - the next upload of the same bytes finds them there.
        self.store.put(sha256, data, content_type.value)
        document = with_id(
            Document,
            doc_id,
            brand_id=brand_id,
            customer_id=customer_id,
            kind=kind,
            filename=name,
            sha256=sha256,
            size=len(data),
            content_type=content_type,
            uploaded_by=uploaded_by,
            period_from=str(period.first) if period else None,
            period_to=str(period.last) if period else None,
        )
        # The upload fulfils the borrower's open request for its kind, in the same save: a request is done exactly
        # when a document of its kind arrived after it. With none open, it is kept as a spare by each request of its
        # kind fulfilled by a document not accepted, which it fulfils should staff reject that one (an accepted one
        # is final). A rejected one counts too: a rejection committed since the requests were read - then this save
        # conflicts with it (409) rather than leave the copy unseen and the request open. Which are accepted the
        # requests know (acceptances are recorded there), without loading a document.
        found = self.find(document_requests_id(brand_id, customer_id))
        requests = found if isinstance(found, DocumentRequests) else None
        if requests is not None and not requests.fulfil(kind, doc_id, self.clock.now()) and requests.fulfilled(kind):
            self._catch_up_acceptances(requests)
            for standing in requests.spare_wanted(kind):
                requests.keep_spare(standing.id, doc_id, self.clock.now())
        try:
            return self.commit(document, requests if requests is not None and requests.pending_events else None)
        except ConcurrentModification:
            # The same file recorded by another request since we looked (a double tap): answered as an upload of it
            # made a moment later is - that document with `existing_ok`, else the conflict naming it.
            recorded = self.find(doc_id)
            if isinstance(recorded, Document):
                return _already_uploaded(recorded, existing_ok)
            raise

    def request_documents(
        self, brand_id: UUID, customer_id: UUID, kinds: list[str], note: str | None = None
    ) -> CommandResult:
        """Staff ask the borrower for documents of `kinds` (one request each, with the same optional note), and the
        borrower is told by SMS. 404 for another brand's borrower; 422 naming `kinds[i]` for a kind that is not one
        (or given twice) and `note` for a bad note; 409 naming the kind while a request for it is open. Nothing is
        recorded unless every kind is asked for."""
        if not self.borrowers.has_borrower(brand_id, customer_id):
            raise BorrowerNotFound(f"borrower {customer_id} not found", id=str(customer_id))
        checks = FieldChecks()
        chosen: list[DocumentKind] = []
        if not kinds:
            checks.errors.append(FieldError("kinds", "choose at least one kind of document to ask for"))
        for i, raw in enumerate(kinds):
            kind = next((k for k in REQUESTABLE if k.value == (raw or "").strip()), None)
            if kind is None:
                checks.errors.append(FieldError(f"kinds[{i}]", f"'{raw}' is not a kind of document a borrower uploads"))
            elif kind in chosen:
                checks.errors.append(FieldError(f"kinds[{i}]", f"{kind.value} is asked for twice"))
            else:
                chosen.append(kind)
        text = checks.check(lambda: clean_text(note, "note", multiline=True)) if note and note.strip() else None
        if text is not None and len(text) > NOTE_MAX:
            checks.errors.append(FieldError("note", f"keep the note within {NOTE_MAX} characters"))
        checks.raise_if_any()
        requests_id = document_requests_id(brand_id, customer_id)
        found = self.find(requests_id)
        requests = found if isinstance(found, DocumentRequests) else None
        if requests is None:
            requests = with_id(
                DocumentRequests, requests_id, brand_id=brand_id, customer_id=customer_id, records_acceptances=True
            )
        now = self.clock.now()
        for kind in chosen:
            requests.request(uuid4(), kind, text, now)
        result = self.commit(requests)
        if self.notices is not None:
            self.notices.documents_requested(brand_id, customer_id, chosen, text)
        return result

    def cancel_document_request(
        self, brand_id: UUID, customer_id: UUID, request_id: UUID, reason: str | None = None
    ) -> CommandResult:
        """Withdraw an open request (404 for another brand's borrower or an unknown request; 409 once fulfilled or
        cancelled)."""
        requests = self.document_requests(brand_id, customer_id)
        if request_id not in requests.requests:
            raise DocumentRequestNotFound(f"document request {request_id} not found", id=str(request_id))
        why = clean_text(reason, "reason", multiline=True) if reason and reason.strip() else None
        requests.cancel(request_id, why[:500] if why else None, self.clock.now())
        return self.commit(requests)

    def document_requests(self, brand_id: UUID, customer_id: UUID) -> DocumentRequests:
        """The borrower's document requests (DocumentRequestNotFound when none was ever made, or another brand's)."""
        return self.load(
            DocumentRequests, document_requests_id(brand_id, customer_id), brand_id, DocumentRequestNotFound
        )

    def _catch_up_acceptances(self, requests: DocumentRequests) -> None:
        """Requests started before acceptances were recorded with them: look once (one read) at the documents
        fulfilling them and their spares, and record those accepted and that acceptances are recorded from now on,
        in the caller's save (nothing when they record acceptances already)."""
        if requests.records_acceptances:
            return
        found = self.find_many(requests.unsure_acceptances())
        accepted = {i for i, d in found.items() if isinstance(d, Document) and d.status is DocumentStatus.ACCEPTED}
        requests.catch_up_acceptances(accepted, self.clock.now())

    def review(self, brand_id: UUID, doc_id: UUID, decision: ReviewDecision, reason: str | None) -> CommandResult:
        """Accept or reject a pending document (a reason is required to reject). Rejecting the document that
        fulfilled a request opens the request again (`DocumentRequests.Reopened`, in the rejection's own save, so
        neither is recorded without the other), and the borrower is told by SMS as a request tells them - unless the
        request kept a spare (an upload of its kind since it was fulfilled, not rejected): then the newest fulfils
        it again in the same save and the borrower is not asked again. Rejecting a spare drops it from the request
        (`SpareRejected`, in the same save, so that two rejections at once conflict rather than leave a request
        fulfilled by a rejected document). Accepting the document that fulfils a request, or a spare, records it
        with the request (`FulfilmentAccepted`, `SpareAccepted`, in the same save), so uploads need not load
        documents to know it."""
        document = self.document(brand_id, doc_id)
        document.review(decision, reason)
        requests, reopened = None, None
        found = self.find(document_requests_id(brand_id, document.customer_id))
        if isinstance(found, DocumentRequests):
            requests = found
            if decision is ReviewDecision.REJECTED:
                reopened = found.reopen(doc_id, document.reason, self.clock.now())
            else:
                found.note_accepted(doc_id, self.clock.now())
        result = self.commit(document, requests if requests is not None and requests.pending_events else None)
        if reopened is not None and self.notices is not None:
            self.notices.document_asked_again(brand_id, document.customer_id, reopened.kind, document.reason)
        return result

    def state_period(
        self,
        brand_id: UUID,
        doc_id: UUID,
        period_from: str | None,
        period_to: str | None,
        *,
        expected_version: int | None = None,
        first_only: bool = False,
    ) -> CommandResult:
        """Staff state (or correct) the months a bank statement covers after its upload, checked as an upload's
        are (`statement_period`: 422 naming `period_from`/`period_to`; both are required here, and only a bank
        statement has a period). A rejected statement is a Conflict, as is a stale `expected_version` (If-Match),
        and, `first_only` (the Customer 360 page's form, offered while it said none), other months stated since;
        the months it already says change nothing (`changed` False)."""
        document = self.document(brand_id, doc_id)  # another brand's document: 404 before any field is judged
        if document.kind is not DocumentKind.BANK_STATEMENT:
            raise InvalidValue("period_from", "only a bank statement covers a period")
        today = self._today(brand_id)
        period = statement_period(document.kind, period_from, period_to, today)
        if period is None:
            raise InvalidInput(
                [
                    FieldError("period_from", "give the first month the statement covers"),
                    FieldError("period_to", "give the last month the statement covers"),
                ]
            )
        self.check_version(document, expected_version)
        if not document.state_period(period, first_only=first_only):
            return CommandResult(id=document.id, position=0, changed=False)
        return self.commit(document)

    def document(self, brand_id: UUID, doc_id: UUID) -> Document:
        """A document of the brand (another brand's is DocumentNotFound)."""
        return self.load(Document, doc_id, brand_id, DocumentNotFound)

    def content(self, brand_id: UUID, doc_id: UUID) -> StoredContent:
        """A document of the brand with its bytes."""
        return self._with_bytes(self.document(brand_id, doc_id))

    def verified_content(self, brand_id: UUID, doc_id: UUID) -> StoredContent:
        """`content`, its bytes checked against the SHA-256 recorded at upload (409 when they differ: the stored
        file was altered or replaced)."""
        return _verified(self.content(brand_id, doc_id))

    def borrower_content(self, brand_id: UUID, doc_id: UUID, customer_id: UUID) -> StoredContent:
        """`verified_content` of a document as its borrower sees it: only one of their own (`customer_id`, their
        Customer 360 record) that `borrower_sees` (not staff's internal evidence). Another borrower's, staff's
        internal one, another brand's or an unknown id is the same DocumentNotFound, so it says nothing of what
        exists."""
        document = self.document(brand_id, doc_id)
        if document.customer_id != customer_id or not borrower_sees(document.uploaded_by, document.kind):
            raise DocumentNotFound(f"Document {doc_id} not found", id=str(doc_id))
        return _verified(self._with_bytes(document))

    def _with_bytes(self, document: Document) -> StoredContent:
        try:
            data = self.store.get(document.sha256)
        except KeyError:
            raise DocumentNotFound(f"the bytes of document {document.id} are missing", id=str(document.id)) from None
        return StoredContent(document, data)


def _verified(stored: StoredContent) -> StoredContent:
    """The stored document when its bytes still match the SHA-256 recorded at upload; a Conflict (409) when not."""
    if content_address(stored.data) != stored.document.sha256:
        raise Conflict("the stored document does not match its recorded SHA-256", sha256=stored.document.sha256)
    return stored


def _already_uploaded(document: Document, existing_ok: bool) -> CommandResult:
    """The answer to an upload of a file already recorded as that kind: the document, unchanged (`existing_ok`), or
    a Conflict naming it (`existing_id`)."""
    if existing_ok:
        return CommandResult(id=document.id, position=0, changed=False)
    raise Conflict(
        f"this file was already uploaded as {document.kind.value} ({document.status.value})",
        existing_id=str(document.id),
    )
