"""Borrower endpoints of documents: upload one (multipart, stored as the borrower's own), list them with what
the brand still needs, and download one of their own."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.endpoint import Context, Endpoint, InstantOut, Reply, json_response, serve
from api.routes.documents import MEDIA, UPLOAD, DocumentOut, StatementMonthsOut, StatementPeriodIn, stored_document
from api.services.documents import DocumentDesk
from domain.documents.application import Documents, StoredContent
from domain.documents.content import DocumentKind
from domain.documents.document import DocumentNotFound, linked_borrower_sees
from domain.onboarding.application import Onboarding
from domain.onboarding.parties import BorrowerPrincipal
from projections.documents import DocumentQueries, DocumentRow


@dataclass(frozen=True)
class BorrowerDocumentPort:
    """What the borrower's document endpoints use: onboarding (the borrower's record), the documents read model,
    the checklist and the documents context (a download's bytes)."""

    onboarding: Onboarding
    queries: DocumentQueries
    desk: DocumentDesk
    documents: Documents


class BorrowerDocumentIn(StatementPeriodIn):
    """The text fields of an upload (the file is the multipart part `file`); a bank statement may say the months it
    covers."""

    model_config = ConfigDict(extra="forbid")

    kind: DocumentKind


class RequestedDocumentOut(BaseModel):
    """A document staff asked the borrower for and is still waiting for: upload one of this kind
    (`POST /api/v1/borrower/documents`) and the request is done. Asked again when the one sent was rejected."""

    id: UUID
    kind: DocumentKind
    note: str | None
    requested_at: InstantOut
    reopened_at: InstantOut | None = Field(
        None, description="When it was asked again because the document sent for it was rejected (null: never)"
    )
    reopen_reason: str | None = Field(None, description="Why the document sent for it was rejected")


class BorrowerDocumentsOut(BaseModel):
    """The borrower's documents (newest first; those they see: not staff's internal evidence), the kinds the brand
    still needs and the months the statements cover (none before the personal step)."""

    items: list[DocumentOut]
    required: list[DocumentKind]
    missing: list[DocumentKind]
    bank_statements: StatementMonthsOut | None = None
    requested: list[RequestedDocumentOut] = Field(
        default_factory=list,
        description="what staff asked the borrower for and still wait for (as `GET /borrower/me`'s "
        "`requested_documents`): upload one of the kind and the request is done",
    )


def upload_borrower_document(ctx: Context[BorrowerDocumentPort]) -> Reply:
    form: BorrowerDocumentIn = ctx.body
    assert ctx.borrower is not None and ctx.upload is not None  # the wrapper answers 422 without a file
    result = ctx.port.onboarding.upload_document(
        ctx.brand_id,
        ctx.borrower.borrower_id,
        form.kind.value,
        ctx.upload.filename,
        ctx.upload.data,
        period_from=form.period_from,
        period_to=form.period_to,
    )
    return ctx.written(
        result,
        Documents.name,
        lambda: ctx.port.queries.document(ctx.brand_id, result.id),
        f"/api/v1/borrower/documents/{result.id}",
    )


def borrower_document(ctx: Context[BorrowerDocumentPort]) -> Reply:
    """One of the borrower's own documents (the upload's Location); another borrower's or brand's, or staff's internal
    evidence on their record (`borrower_sees`), is a 404."""
    assert ctx.borrower is not None
    document_id = ctx.path["document_id"]
    customer_id, own = ctx.port.onboarding.record_seen(ctx.brand_id, ctx.borrower.borrower_id)
    row = ctx.port.queries.document(ctx.brand_id, document_id) if customer_id is not None else None
    if row is None or row.customer_id != customer_id or not shown_to(ctx.borrower, own, row):
        raise DocumentNotFound(f"Document {document_id} not found", id=str(document_id))
    return json_response(DocumentOut.model_validate(row, from_attributes=True))


def own_document_content(port: BorrowerDocumentPort, borrower: BorrowerPrincipal, document_id: UUID) -> StoredContent:
    """The bytes of one of the borrower's own documents (any the documents list shows them, rejected ones too),
    checked against the SHA-256 recorded at upload (409 when they differ). Another borrower's, staff's internal
    evidence on their record, another brand's or an unknown id is the same DocumentNotFound: a 404 that says nothing
    of what exists."""
    customer_id, own = port.onboarding.record_seen(borrower.brand_id, borrower.borrower_id)
    if customer_id is None:  # no record yet, so no documents
        raise DocumentNotFound(f"Document {document_id} not found", id=str(document_id))
    if not own:  # a record found by the PAN alone: only what they uploaded themselves
        row = port.queries.document(borrower.brand_id, document_id)
        if row is None or not shown_to(borrower, own, row):
            raise DocumentNotFound(f"Document {document_id} not found", id=str(document_id))
    return port.documents.borrower_content(borrower.brand_id, document_id, customer_id)


def shown_to(borrower: BorrowerPrincipal, own: bool, row: DocumentRow) -> bool:
    """Whether the borrower sees a document of the record their funnel is linked to (`linked_borrower_sees`)."""
    return linked_borrower_sees(row.uploaded_by, row.kind, row.uploader, borrower.actor, own)


def own_document_file(stored: StoredContent) -> Response:
    """The download of the borrower's own document: as staff's (`/api/v1/documents/{id}/content`: the stored type,
    an attachment, nosniff, the SHA-256 as ETag, never cached), saved under the name they uploaded it with."""
    document = stored.document
    return stored_document(
        stored.data, document, document.kind.value, {"ETag": f'"{document.sha256}"'}, saved_as=document.filename
    )


def borrower_document_file(ctx: Context[BorrowerDocumentPort]) -> Response:
    assert ctx.borrower is not None
    return own_document_file(own_document_content(ctx.port, ctx.borrower, ctx.path["document_id"]))


def borrower_documents(ctx: Context[BorrowerDocumentPort]) -> Reply:
    assert ctx.borrower is not None
    customer_id, own = ctx.port.onboarding.record_seen(ctx.brand_id, ctx.borrower.borrower_id)
    if customer_id is None:
        return json_response(BorrowerDocumentsOut(items=[], required=[], missing=[]))
    page = ctx.port.queries.of_customer(ctx.brand_id, customer_id, None, 200, as_borrower=True)
    if not own:  # a record found by the PAN alone: their own uploads, nothing of what the record holds
        items = [
            DocumentOut.model_validate(d, from_attributes=True) for d in page.items if shown_to(ctx.borrower, own, d)
        ]
        return json_response(BorrowerDocumentsOut(items=items, required=[], missing=[]))
    checklist = ctx.port.desk.checklist(ctx.brand_id, customer_id)
    requested = ctx.port.queries.requests(ctx.brand_id, customer_id, open_only=True)
    return json_response(
        BorrowerDocumentsOut(
            items=[DocumentOut.model_validate(d, from_attributes=True) for d in page.items],
            required=checklist.required,
            missing=checklist.missing,
            bank_statements=StatementMonthsOut.model_validate(checklist.bank_statements, from_attributes=True),
            requested=[RequestedDocumentOut.model_validate(r, from_attributes=True) for r in requested],
        )
    )


ENDPOINTS = serve(
    BorrowerDocumentPort,
    "borrower",
    [
        Endpoint(
            "POST",
            "/api/v1/borrower/documents",
            upload_borrower_document,
            "Upload a document (multipart: `file`, `kind`; a bank statement's months `period_from`, `period_to`); "
            "PDF, JPEG or PNG sniffed from the bytes; 409 before the personal step (documents belong to the "
            "borrower's record)",
            None,
            body=BorrowerDocumentIn,
            response=DocumentOut,
            status=201,
            accepts=True,
            upload=UPLOAD,
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/documents/{document_id}",
            borrower_document,
            "One of the borrower's own documents (what the upload's Location names); another borrower's, or staff's "
            "internal evidence (a staff upload of kind `other`), is a 404",
            None,
            response=DocumentOut,
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/documents/{document_id}/file",
            borrower_document_file,
            "The bytes of one of the borrower's own documents (any the list shows, rejected ones too): the stored "
            "content type, as an attachment saved under the uploaded name; another borrower's, staff's internal "
            "evidence (a staff upload of kind `other`), another brand's or an unknown id is the same 404",
            None,
            response=DocumentOut,
            media=MEDIA,
            borrower=True,
        ),
        Endpoint(
            "GET",
            "/api/v1/borrower/documents",
            borrower_documents,
            "The borrower's documents, and the kinds the brand still needs: what they uploaded, what a provider fetched "
            "for them and what staff uploaded for them of any kind but `other` (staff's `other` uploads are internal "
            "evidence: not listed, a 404 by id)",
            None,
            response=BorrowerDocumentsOut,
            borrower=True,
        ),
    ],
)
