"""Evidence of a contact (a photo, a receipt, a recording): uploaded as a document of the borrower (documents
context, kind `other`, sniffed and size-checked like every upload) and attached to the contact."""

from __future__ import annotations

from dataclasses import dataclass

from api.endpoint import Context, Endpoint, Reply, serve
from api.routes.collection_models import ContactOut, EvidenceFormIn
from api.routes.collections import DESK_WRITE, CollectionsPort, guard
from api.routes.documents import UPLOAD
from domain.collections.application import Collections
from domain.collections.case import CollectionCaseNotFound
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.identity.permissions import Level


@dataclass(frozen=True)
class EvidencePort:
    """The collections desk and the documents context."""

    desk: CollectionsPort
    documents: Documents


def upload_evidence(ctx: Context[EvidencePort]) -> Reply:
    loan_id, contact_id = ctx.path["loan_id"], ctx.path["contact_id"]
    desk = ctx.port.desk
    case = guard(desk, ctx.principal, loan_id, Level.WRITE)
    # The contact must be this loan's: checked before the upload, so a refusal stores no document.
    contact = desk.queries.contact(ctx.brand_id, contact_id, loan_id)
    if case is None or case.customer_id is None or contact is None:
        raise CollectionCaseNotFound(f"contact {contact_id} not found", id=str(contact_id))
    assert ctx.upload is not None  # the wrapper answers 422 without one
    document = ctx.port.documents.upload(
        ctx.brand_id,
        case.customer_id,
        DocumentKind.OTHER,
        ctx.upload.filename,
        ctx.upload.data,
        Uploader.STAFF,
        existing_ok=True,  # the same file again (a retry after a refused attachment): that document, attached
    )
    result = desk.collections.attach_evidence(ctx.brand_id, loan_id, contact_id, document.id)
    return ctx.written(result, Collections.name, lambda: desk.queries.contact(ctx.brand_id, contact_id))


ENDPOINTS = serve(
    EvidencePort,
    "collections",
    [
        Endpoint("POST", "/api/v1/loans/{loan_id}/contacts/{contact_id}/evidence", upload_evidence,
                 "Attach evidence to a contact (multipart: `file`; PDF, JPEG or PNG)", DESK_WRITE, body=EvidenceFormIn,
                 response=ContactOut, status=201, accepts=True, upload=UPLOAD),
    ],
)  # fmt: skip
