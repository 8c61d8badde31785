"""Document endpoints: upload a borrower's document (multipart), list them, download one, review one, state a bank
statement's months after its upload, and the checklist of what the borrower still has to provide."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.request_input import VISIBLE_NOTE_OR_BLANK, VISIBLE_OR_BLANK
from api.services.documents import DocumentDesk
from api.uploads import Upload
from domain.documents.application import Documents
from domain.documents.content import ContentType, DocumentKind, Uploader, max_document_bytes
from domain.documents.document import Document, DocumentNotFound, DocumentStatus, ReviewDecision
from domain.documents.document_request import NOTE_MAX, RequestState
from domain.identity.permissions import Level, Permission
from projections.documents import DocumentQueries, DocumentRequestRow, DocumentRow

READ = (Permission.CUSTOMER, Level.READ)
WRITE = (Permission.CUSTOMER, Level.WRITE)

#: The largest file accepted (`DOCUMENT_MAX_BYTES`, default 10 MiB); the application refuses larger ones too.
UPLOAD = Upload(max_bytes=max_document_bytes(os.environ))


@dataclass(frozen=True)
class DocumentsPort:
    """What the document endpoints use: the use cases, the read model and the borrower-scoped reads."""

    documents: Documents
    queries: DocumentQueries
    desk: DocumentDesk


class StatementPeriodIn(BaseModel):
    """The months a bank statement covers, optional on every upload form (staff and borrower): both or neither."""

    model_config = ConfigDict(extra="forbid")

    period_from: str | None = Field(
        None, max_length=20, description='A bank statement\'s first month, "YYYY-MM" (with `period_to`; optional)'
    )
    period_to: str | None = Field(
        None,
        max_length=20,
        description='A bank statement\'s last month, "YYYY-MM", inclusive: this month at the latest, not before '
        "`period_from`, which is at most five years back",
    )


class DocumentFormIn(StatementPeriodIn):
    """The text fields of an upload (the file is the multipart part `file`); a bank statement may say the months it
    covers."""

    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind


class DocumentListQuery(BaseModel):
    """Paging of a borrower's documents."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(50, ge=1, le=200)


class ReviewIn(BaseModel):
    """A review: accept, or reject with a reason."""

    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    reason: str | None = Field(None, max_length=500, json_schema_extra=VISIBLE_OR_BLANK)


class StatedPeriodIn(BaseModel):
    """The months a bank statement covers, stated (or corrected) by staff after its upload: both required."""

    model_config = ConfigDict(extra="forbid")

    period_from: str = Field(max_length=20, description='The statement\'s first month, "YYYY-MM"')
    period_to: str = Field(
        max_length=20,
        description='The statement\'s last month, "YYYY-MM", inclusive: this month at the latest, not before '
        "`period_from`, which is at most five years back",
    )


class DocumentOut(BaseModel):
    """A document (its bytes at `/api/v1/documents/{id}/content`)."""

    id: UUID
    customer_id: UUID
    kind: DocumentKind
    filename: str
    sha256: str = Field(description="SHA-256 of the bytes (hex): their address in the document store")
    size: int
    content_type: ContentType = Field(description="Sniffed from the bytes, not taken from the upload")
    uploaded_by: Uploader
    uploader: str = Field(description="The actor who uploaded it (staff:<id>, apikey:<id>, borrower:<id>)")
    status: DocumentStatus
    reason: str | None
    reviewed_by: str | None
    uploaded_at: InstantOut
    reviewed_at: InstantOut | None
    period_from: str | None = Field(None, description='A bank statement\'s first month ("YYYY-MM"), when given')
    period_to: str | None = Field(None, description='A bank statement\'s last month ("YYYY-MM"), when given')


class DocumentPageOut(BaseModel):
    """A borrower's documents, newest first."""

    items: list[DocumentOut]
    next_cursor: str | None


class StatementMonthsOut(BaseModel):
    """How the borrower's bank statements (rejected ones left out) cover the brand's `bank_statement_months`: the
    complete months before today, ending last month."""

    months_required: int = Field(description="The brand's `bank_statement_months`")
    required: list[str] = Field(description='The months required, oldest first ("YYYY-MM")')
    covered: list[str] = Field(description="Every month some statement covers (inside the required months or not)")
    missing: list[str] = Field(description="The required months no statement covers")
    period_not_given: int = Field(description="Statements uploaded without their months (check them by eye)")
    complete: bool = Field(description="Every required month is covered")
    verified_online: bool = Field(description="Account Aggregator data stands in for uploaded statements")
    summary: str = Field(description='In words: "2026-08..2026-10 (3 of 3 months)", or the gap')


class ChecklistOut(BaseModel):
    """What the brand requires of the borrower, what is accepted and what is still missing, and the months the bank
    statements cover."""

    customer_id: UUID
    required: list[DocumentKind]
    accepted: list[DocumentKind]
    missing: list[DocumentKind]
    bank_statements: StatementMonthsOut


class DocumentRequestIn(BaseModel):
    """Ask the borrower for documents: one request per kind (any kind a borrower uploads, `aadhaar_photo` aside),
    with one optional note saying what exactly (it goes out in the SMS too)."""

    model_config = ConfigDict(extra="forbid")

    kinds: list[str] = Field(max_length=20, description="The kinds of document asked for (`DocumentKind` values)")
    note: str | None = Field(None, max_length=NOTE_MAX, description="What exactly is needed (optional)")


class CancelRequestIn(BaseModel):
    """Withdraw an open request, optionally saying why."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None,
        max_length=500,
        description="Optional; given, it needs a visible character",
        json_schema_extra=VISIBLE_NOTE_OR_BLANK,
    )


class ReopeningOut(BaseModel):
    """One time a request was opened again: staff rejected the upload that had fulfilled it."""

    document_id: UUID = Field(description="The rejected upload that had fulfilled the request")
    reason: str | None = Field(description="Why it was rejected (the review's reason; the borrower sees it too)")
    reopened_by: str = Field(description="The actor who rejected it (staff:<id>, apikey:<id>)")
    reopened_at: InstantOut
    replaced_by: UUID | None = Field(
        None,
        description="The other upload of the kind, sent while the request stood fulfilled and not rejected, that "
        "fulfilled it at once in the rejected one's place (the borrower was not asked again); null: asked again",
    )


class DocumentRequestOut(BaseModel):
    """One request for a document of one kind: `open` until a document of its kind is uploaded after it
    (`fulfilled`, with that `document_id`) or staff cancel it; `open` again (reopened) when staff reject the upload
    that fulfilled it, until the next upload of its kind - or, when the borrower had sent another of the kind since it
    was fulfilled (not rejected), `fulfilled` at once by the newest of those (its reopening's `replaced_by`)."""

    id: UUID
    customer_id: UUID
    kind: DocumentKind
    note: str | None
    state: RequestState
    requested_by: str = Field(description="The actor who asked (staff:<id>, apikey:<id>)")
    requested_at: InstantOut
    document_id: UUID | None = Field(description="The upload that fulfilled the request")
    fulfilled_at: InstantOut | None = Field(
        description="When it was fulfilled: the upload's instant, or the rejection's when another upload the "
        "borrower had sent took the rejected one's place"
    )
    cancelled_by: str | None
    cancelled_at: InstantOut | None
    cancel_reason: str | None
    reopened_at: InstantOut | None = Field(
        None, description="When the request was last opened again (its fulfilling upload rejected); null: never"
    )
    reopen_reason: str | None = Field(None, description="Why it was last opened again (the rejection's reason)")
    reopenings: list[ReopeningOut] = Field(
        default_factory=list, description="Every time the request was opened again, oldest first"
    )


class DocumentRequestListOut(BaseModel):
    """A borrower's document requests: open ones first, newest first within each state."""

    items: list[DocumentRequestOut]


def _document(ctx: Context[DocumentsPort], document_id: UUID) -> DocumentRow | None:
    return ctx.port.queries.document(ctx.brand_id, document_id)


def upload_document(ctx: Context[DocumentsPort]) -> Reply:
    form: DocumentFormIn = ctx.body
    assert ctx.upload is not None  # the wrapper answers 422 without one
    result = ctx.port.documents.upload(
        ctx.brand_id,
        ctx.path["customer_id"],
        form.kind,
        ctx.upload.filename,
        ctx.upload.data,
        Uploader.STAFF,
        period_from=form.period_from,
        period_to=form.period_to,
    )
    location = f"/api/v1/documents/{result.id}"
    return ctx.written(result, Documents.name, lambda: _document(ctx, result.id), location)


def list_documents(ctx: Context[DocumentsPort]) -> Reply:
    q: DocumentListQuery = ctx.query
    return json_response(ctx.port.desk.documents(ctx.brand_id, ctx.path["customer_id"], q.cursor, q.limit))


def document_checklist(ctx: Context[DocumentsPort]) -> Reply:
    return json_response(ctx.port.desk.checklist(ctx.brand_id, ctx.path["customer_id"]))


def get_document(ctx: Context[DocumentsPort]) -> Reply:
    found = _document(ctx, ctx.path["document_id"])
    if found is None:
        raise DocumentNotFound(f"document {ctx.path['document_id']} not found", id=str(ctx.path["document_id"]))
    return json_response(found)


#: The extension a download is named with, and the ones an uploaded name may already end in, per content type.
_EXTENSIONS = {ContentType.PDF: ("pdf",), ContentType.JPEG: ("jpg", "jpeg", "jfif"), ContentType.PNG: ("png",)}


def stored_document(
    data: bytes, document: Document, name: str, headers: dict[str, str], *, saved_as: str | None = None
) -> Response:
    """A stored document's bytes as an attachment named `<name>-<id>.<extension>`: our name, since the uploaded one
    may hold anything a header should not; never sniffed as another type. `saved_as` (the uploaded name, for its
    uploader) goes beside it as RFC 6266's `filename*`, percent-encoded UTF-8 so no byte of it reaches the header
    as itself, with the type's extension added when it lacks one; browsers prefer it to the plain `filename`."""
    extensions = _EXTENSIONS[document.content_type]
    disposition = f'attachment; filename="{name}-{document.id}.{extensions[0]}"'
    if saved_as:
        if saved_as.rpartition(".")[2].lower() not in extensions or "." not in saved_as:
            saved_as = f"{saved_as}.{extensions[0]}"
        disposition += f"; filename*=UTF-8''{quote(saved_as, safe='')}"
    return Response(
        data,
        media_type=document.content_type.value,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff", **headers},
    )


def document_content(ctx: Context[DocumentsPort]) -> Response:
    # Bytes that no longer match the SHA-256 recorded at upload (the stored file altered or replaced) are a 409,
    # never served under the recorded hash's ETag.
    stored = ctx.port.documents.verified_content(ctx.brand_id, ctx.path["document_id"])
    document = stored.document
    return stored_document(stored.data, document, document.kind.value, {"ETag": f'"{document.sha256}"'})


def review_document(ctx: Context[DocumentsPort]) -> Reply:
    body: ReviewIn = ctx.body
    result = ctx.port.documents.review(ctx.brand_id, ctx.path["document_id"], body.decision, body.reason)
    return ctx.written(result, Documents.name, lambda: _document(ctx, result.id))


def state_statement_period(ctx: Context[DocumentsPort]) -> Reply:
    body: StatedPeriodIn = ctx.body
    result = ctx.port.documents.state_period(
        ctx.brand_id,
        ctx.path["document_id"],
        body.period_from,
        body.period_to,
        expected_version=ctx.expected_version(),
    )
    return ctx.written(result, Documents.name, lambda: _document(ctx, result.id))


def _requests(ctx: Context[DocumentsPort]) -> DocumentRequestListOut:
    customer_id = ctx.path["customer_id"]
    ctx.port.desk.customers.get(ctx.brand_id, customer_id)  # another brand's borrower: 404
    return DocumentRequestListOut.model_validate({"items": ctx.port.queries.requests(ctx.brand_id, customer_id)},
                                                 from_attributes=True)  # fmt: skip


def request_documents(ctx: Context[DocumentsPort]) -> Reply:
    body: DocumentRequestIn = ctx.body
    result = ctx.port.documents.request_documents(ctx.brand_id, ctx.path["customer_id"], body.kinds, body.note)
    location = f"/api/v1/customers/{ctx.path['customer_id']}/document-requests"
    return ctx.written(result, Documents.name, lambda: _requests(ctx), location)


def list_document_requests(ctx: Context[DocumentsPort]) -> Reply:
    return json_response(_requests(ctx))


def _request(ctx: Context[DocumentsPort], request_id: UUID) -> DocumentRequestRow | None:
    rows = ctx.port.queries.requests(ctx.brand_id, ctx.path["customer_id"])
    return next((r for r in rows if r.id == request_id), None)


def cancel_document_request(ctx: Context[DocumentsPort]) -> Reply:
    body: CancelRequestIn = ctx.body
    request_id = ctx.path["request_id"]
    result = ctx.port.documents.cancel_document_request(ctx.brand_id, ctx.path["customer_id"], request_id, body.reason)
    return ctx.written(result, Documents.name, lambda: _request(ctx, request_id))


MEDIA = tuple(content_type.value for content_type in ContentType)

ENDPOINTS = serve(
    DocumentsPort,
    "documents",
    [
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/documents",
            upload_document,
            "Upload a borrower's document (multipart: `file`, `kind`; a bank statement's months `period_from`, "
            "`period_to`); PDF, JPEG or PNG, sniffed from the bytes",
            WRITE,
            body=DocumentFormIn,
            response=DocumentOut,
            status=201,
            accepts=True,
            upload=UPLOAD,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/documents",
            list_documents,
            "A borrower's documents, newest first",
            READ,
            query=DocumentListQuery,
            response=DocumentPageOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/document-checklist",
            document_checklist,
            "The documents the brand requires of the borrower and which are still missing",
            READ,
            response=ChecklistOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/document-requests",
            request_documents,
            "Ask the borrower for documents of one or more kinds (with an optional note); they are told by SMS and "
            "see the requests first on their documents page. A request is fulfilled by the next upload of its kind",
            WRITE,
            body=DocumentRequestIn,
            response=DocumentRequestListOut,
            status=201,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/customers/{customer_id}/document-requests",
            list_document_requests,
            "The borrower's document requests (open, fulfilled, cancelled), open ones first",
            READ,
            response=DocumentRequestListOut,
        ),
        Endpoint(
            "POST",
            "/api/v1/customers/{customer_id}/document-requests/{request_id}/cancel",
            cancel_document_request,
            "Withdraw an open document request",
            WRITE,
            body=CancelRequestIn,
            response=DocumentRequestOut,
            accepts=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/documents/{document_id}",
            get_document,
            "A document and its review",
            READ,
            response=DocumentOut,
        ),
        Endpoint(
            "GET",
            "/api/v1/documents/{document_id}/content",
            document_content,
            "The document's bytes (as an attachment, with the sniffed content type)",
            READ,
            response=DocumentOut,
            media=MEDIA,
        ),
        Endpoint(
            "POST",
            "/api/v1/documents/{document_id}/review",
            review_document,
            "Accept a pending document, or reject it with a reason (rejecting the upload that fulfilled a document "
            "request opens the request again and tells the borrower by SMS)",
            WRITE,
            body=ReviewIn,
            response=DocumentOut,
            accepts=True,
        ),
        Endpoint(
            "POST",
            "/api/v1/documents/{document_id}/period",
            state_statement_period,
            "State (or correct) the months a bank statement covers after its upload",
            WRITE,
            body=StatedPeriodIn,
            response=DocumentOut,
            if_match=True,
            accepts=True,
        ),
    ],
)
