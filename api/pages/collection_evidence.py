"""A collection case's evidence in the portal: a file the borrower shared (a payment proof, a screenshot) attached
to one of the case's logged contacts, and opened from the case's contact list - the same rules as
`POST /api/v1/loans/{id}/contacts/{contact_id}/evidence` (api/routes/collection_evidence.py)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.pages.collections import panel_page
from api.problems import HttpProblem
from api.routes.collection_evidence import EvidencePort
from api.routes.collections import DESK_READ, DESK_WRITE, guard
from api.routes.documents import UPLOAD, stored_document
from api.web import Page, act, after_write, error_page, error_text, not_found, pages, path_id
from domain.collections.application import Collections
from domain.documents.content import DocumentKind, Uploader
from domain.identity.permissions import Level
from domain.identity.principal import Principal
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, NotFound


async def attach_evidence(request: Request, port: EvidencePort, principal: Principal) -> Response:
    """Store the file as the borrower's document (kind `other`, sniffed and size-checked like every upload) and
    attach it to the contact; refused, the case says why and nothing is stored."""
    loan_id, contact_id = path_id(request, "loan_id"), path_id(request, "contact_id")
    if loan_id is None or contact_id is None:
        return await not_found(request)
    desk = port.desk
    try:
        case = await run_in_threadpool(guard, desk, principal, loan_id, Level.WRITE)
    except NotFound:
        return await not_found(request)
    except HttpProblem as exc:
        return error_page(request, 403, "Not allowed", exc.detail)
    # The contact must be this loan's: checked before the upload, so a refusal stores no document.
    contact = await run_in_threadpool(desk.queries.contact, principal.brand_id, contact_id, loan_id)
    if case is None or case.customer_id is None or contact is None:
        return await not_found(request)
    customer_id = case.customer_id
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return await panel_page(request, desk, principal, loan_id, "file: choose the evidence (PDF, JPEG or PNG)")
    filename, data = file.filename, await file.read()

    def work() -> CommandResult:
        document = port.documents.upload(
            principal.brand_id,
            customer_id,
            DocumentKind.OTHER,
            filename,
            data,
            Uploader.STAFF,
            existing_ok=True,  # the same file again (a retry after a refused attachment): that document, attached
        )
        return desk.collections.attach_evidence(principal.brand_id, loan_id, contact_id, document.id)

    try:
        result = await act(principal, work)
    except DomainError as exc:
        return await panel_page(request, desk, principal, loan_id, error_text(exc))
    return await after_write(request, Collections.name, result.position, f"/collections/loans/{loan_id}#contacts")


async def evidence_file(request: Request, port: EvidencePort, principal: Principal) -> Response:
    """A file attached to one of the case's contacts, for whoever may read the case (another loan's document, or
    one attached to no contact of this loan, is a 404)."""
    loan_id, document_id = path_id(request, "loan_id"), path_id(request, "document_id")
    if loan_id is None or document_id is None:
        return await not_found(request)
    desk, brand_id = port.desk, principal.brand_id
    try:
        await run_in_threadpool(guard, desk, principal, loan_id, Level.READ)
    except (NotFound, HttpProblem):
        return await not_found(request)
    contacts = await run_in_threadpool(desk.queries.contacts, brand_id, loan_id)
    if not any(document_id in contact.evidence for contact in contacts):
        return await not_found(request)
    try:
        stored = await run_in_threadpool(port.documents.verified_content, brand_id, document_id)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:  # the stored bytes no longer match their recorded SHA-256: said, never served
        return error_page(request, 409, "Evidence unavailable", error_text(exc))
    document = stored.document
    return stored_document(stored.data, document, "evidence", {"X-Document-SHA256": document.sha256})


PAGES = pages(
    EvidencePort,
    [
        Page(
            "POST",
            "/collections/loans/{loan_id}/contacts/{contact_id}/evidence",
            attach_evidence,
            DESK_WRITE,
            form=True,
            upload_bytes=UPLOAD.max_bytes,
        ),
        Page("GET", "/collections/loans/{loan_id}/evidence/{document_id}", evidence_file, DESK_READ),
    ],
)
