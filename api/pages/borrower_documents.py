"""The web flow's "Your documents" page at /apply/{brand}/documents: the brand's checklist (each required kind
received, accepted, rejected or missing), what the borrower uploaded with its review, and a form to upload any
required or supporting document - stored through the same use case as the borrower API and the step uploads
(sniffed, size-limited, the borrower's own record only).

Documents belong to the borrower's Customer 360 record, made at the personal step: before it the page says so and
links on to the flow. Same cookie session and CSRF token as the other flow pages (`api.pages.borrower_flow`).

Each listed file links to /apply/{brand}/documents/{id}/file: its bytes through the same cookie session, as the
borrower API's download (`GET /api/v1/borrower/documents/{id}/file`) serves them; another borrower's, staff's
internal evidence on their record (a staff upload of kind `other`: `domain.documents.document.borrower_sees`; never
listed here either), another brand's or an unknown id is the flow's "Not found" page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.borrower_flow import _base, _csrf_ok, _expired, _page, _session_csrf, _signed_in, refused_input
from api.routes.borrower_documents import BorrowerDocumentPort, own_document_content, own_document_file
from api.routes.documents import UPLOAD
from api.web import PENDING, PublicPage, after_write, pages
from domain.documents.application import Documents
from domain.documents.content import DocumentKind
from domain.documents.document import DocumentNotFound
from domain.documents.requirements import SUPPORTING, KindState, uploadable_kinds
from domain.onboarding.account import BorrowerNotFound
from domain.onboarding.parties import BorrowerPrincipal
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict, DomainError, InvalidInput

#: How the borrower's pages name each kind of document.
KIND_LABELS: dict[DocumentKind, str] = {
    DocumentKind.PAN_CARD: "PAN card",
    DocumentKind.AADHAAR_FRONT: "Aadhaar card (front)",
    DocumentKind.AADHAAR_BACK: "Aadhaar card (back)",
    DocumentKind.AADHAAR_PHOTO: "Aadhaar photo (from DigiLocker)",
    DocumentKind.SELFIE: "Selfie",
    DocumentKind.BANK_STATEMENT: "Bank statement",
    DocumentKind.PASSBOOK: "Bank passbook",
    DocumentKind.SALARY_SLIP: "Salary slip",
    DocumentKind.FORM16_ITR: "Form 16 or ITR",
    DocumentKind.EMPLOYER_CERTIFICATE: "Employer certificate",
    DocumentKind.VOTER_ID: "Voter ID",
    DocumentKind.DRIVING_LICENSE: "Driving licence",
    DocumentKind.PASSPORT: "Passport",
    DocumentKind.UTILITY_BILL: "Utility bill (electricity, water, gas, wifi or postpaid)",
    DocumentKind.RENT_AGREEMENT: "Rent agreement",
    DocumentKind.COLLEGE_ID: "College ID",
    DocumentKind.MARRIAGE_CERTIFICATE: "Marriage certificate",
    DocumentKind.OTHER: "Other document",
}

#: How the checklist says where a required kind stands.
STATE_TEXT: dict[KindState, str] = {
    KindState.ACCEPTED: "Accepted",
    KindState.VERIFIED: "Verified online",
    KindState.RECEIVED: "Received, being checked",
    KindState.REJECTED: "Not accepted: upload it again",
    KindState.MISSING: "Missing",
}

#: The month inputs of a bank statement's upload and how the page names them.
PERIOD_FIELDS = {"period_from": "First month on the statement", "period_to": "Last month on the statement"}

#: How the uploaded list says where one document's review stands.
REVIEW_TEXT = {"pending": "Received, being checked", "accepted": "Accepted", "rejected": "Not accepted"}


def upload_choices(
    offered: list[DocumentKind], to_upload: list[DocumentKind], requested: list[DocumentKind] | None = None
) -> list[tuple[str, list[DocumentKind]]]:
    """The upload form's select as titled groups, in the order offered: what staff asked for (open requests), still
    needed, already received (another copy), supporting documents; empty groups left out."""
    asked = [k for k in dict.fromkeys(requested or [])]
    offered = [k for k in offered if k not in asked]
    needed = [k for k in offered if k in to_upload]
    supporting = [k for k in offered if k in SUPPORTING and k not in needed]
    received = [k for k in offered if k not in needed and k not in supporting]
    groups = [("We asked you for", asked), ("Still needed", needed), ("Already received (send another copy)", received)]
    groups.append(("Supporting documents (when we ask for one)", supporting))
    return [(title, kinds) for title, kinds in groups if kinds]


async def _documents_page(
    request: Request,
    port: BorrowerDocumentPort,
    principal: BorrowerPrincipal,
    token: str,
    status: int = 200,
    errors: list[str] | None = None,
    chosen: str = "",
    period: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    def load() -> tuple[Any, ...]:
        linked, own = port.onboarding.record_seen(principal.brand_id, principal.borrower_id)
        if linked is None or not own:  # no record yet, or one found by the PAN alone: nothing of what it holds
            return None, [], [], linked is not None
        customer_id = linked
        detail = port.desk.checklist_detail(principal.brand_id, customer_id)
        documents = port.queries.of_customer(principal.brand_id, customer_id, None, 50, as_borrower=True).items
        requested = port.queries.requests(principal.brand_id, customer_id, open_only=True)
        return detail, documents, requested, False

    try:
        detail, documents, requested, held_elsewhere = await run_in_threadpool(load)
    except BorrowerNotFound:
        return RedirectResponse(_base(request), status_code=303)
    context: dict[str, Any] = {}
    if detail is not None:
        to_upload = detail.to_upload
        context = {
            "to_upload": to_upload,
            "choices": upload_choices(
                uploadable_kinds(detail.kinds), to_upload, [DocumentKind(r.kind) for r in requested]
            ),
            "requested": requested,
            "documents": documents,
            "saved": _saved(request) if status == 200 else None,
            "statements": detail.checklist.bank_statements,
        }
    return _page(
        request,
        "apply_documents.html",
        status,
        detail=detail,
        held_elsewhere=held_elsewhere,
        errors=errors or [],
        chosen=chosen,
        period=period or {},
        period_fields=PERIOD_FIELDS,
        field_errors=field_errors or {},
        labels={kind.value: label for kind, label in KIND_LABELS.items()},
        states={state.value: text for state, text in STATE_TEXT.items()},
        reviews=REVIEW_TEXT,
        limit_mb=max(1, UPLOAD.max_bytes // (1024 * 1024)),
        csrf=_session_csrf(token),
        **context,
    )


def _saved(request: Request) -> str | None:
    """What the page says after an upload (the redirect names the kind; `saved=pending` when the list is behind)."""
    if request.query_params.get("saved") == "pending":
        return PENDING
    try:
        kind = DocumentKind(request.query_params.get("uploaded", ""))
    except ValueError:
        return None
    return f"Received: {KIND_LABELS[kind]}. We will check it and tell you if we need anything else."


async def documents_page(request: Request, port: BorrowerDocumentPort) -> Response:
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    return await _documents_page(request, port, *signed)


async def documents_upload(request: Request, port: BorrowerDocumentPort) -> Response:
    """Store the chosen file as the borrower's document of the chosen kind; refused (kind not offered, no file,
    not a PDF/JPEG/PNG, too large, named as another type) the page again with why, 422, nothing stored."""
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, token = signed
    if not _csrf_ok(request, _session_csrf(token)):
        return _expired(request)
    form = request.state.form
    chosen = form.get("kind") if isinstance(form.get("kind"), str) else ""
    upload = form.get("file")
    # A bank statement's months (the form's month inputs; blank on other documents).
    period = {name: form.get(name) if isinstance(form.get(name), str) else "" for name in PERIOD_FIELDS}

    def offered() -> list[DocumentKind] | None:
        customer_id = port.onboarding.own_record(principal.brand_id, principal.borrower_id)
        if customer_id is None:  # no record of theirs yet (none, or one found by the PAN alone)
            return None
        requested = port.queries.requests(principal.brand_id, customer_id, open_only=True)
        kinds = uploadable_kinds(port.desk.checklist_detail(principal.brand_id, customer_id).kinds)
        return [*(DocumentKind(r.kind) for r in requested), *kinds]  # a requested kind is offered whatever it is

    kinds = await run_in_threadpool(offered)
    if kinds is None:  # no record yet: the page says to finish the personal step first (409)
        return await _documents_page(request, port, principal, token, 409)
    refusal = None
    if chosen not in {k.value for k in kinds}:
        refusal = "Choose which document this is from the list."
    elif not isinstance(upload, UploadFile) or not upload.filename:
        refusal = "Choose a file to upload (a photo or a PDF)."
    if refusal is not None:
        return await _documents_page(request, port, principal, token, 422, [refusal], chosen, period)
    assert isinstance(upload, UploadFile) and upload.filename is not None
    data = await upload.read()
    kind = DocumentKind(chosen)

    def store() -> Any:
        with acting_as(principal.actor):
            return port.onboarding.upload_document(
                principal.brand_id, principal.borrower_id, kind.value, upload.filename or "", data, **period
            )

    try:
        result = await run_in_threadpool(store)
    except InvalidInput as exc:
        messages = [
            f"{PERIOD_FIELDS[e.field]}: {e.message}" if e.field in PERIOD_FIELDS else e.message for e in exc.errors
        ]
        inline = {e.field: e.message for e in exc.errors if e.field in PERIOD_FIELDS}
        return await _documents_page(request, port, principal, token, 422, messages, chosen, period, inline)
    except Conflict as exc:
        message = exc.message
        if exc.details.get("existing_id"):
            message = f"You already uploaded this file as your {KIND_LABELS[kind]}; nothing new was stored."
        return await _documents_page(request, port, principal, token, 409, [message], chosen, period)
    except DomainError as exc:
        return await _documents_page(request, port, principal, token, 422, [exc.message], chosen, period)
    return await after_write(request, Documents.name, result.position, f"{_base(request)}/documents?uploaded={kind}")


async def document_file(request: Request, port: BorrowerDocumentPort) -> Response:
    """One of the signed-in borrower's documents, downloaded (the API's download, by the flow's cookie); not
    theirs, not of this brand or no such id: "Not found", naming nothing; bytes that no longer match their SHA-256:
    409, never served."""
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    principal = signed[0]
    not_found = _page(request, "apply_message.html", 404, title="Not found", message="There is no such document.")
    try:
        document_id = UUID(request.path_params["document_id"])
    except ValueError:
        return not_found
    try:
        stored = await run_in_threadpool(own_document_content, port, principal, document_id)
    except BorrowerNotFound:
        return RedirectResponse(_base(request), status_code=303)
    except DocumentNotFound:
        return not_found
    except Conflict:
        message = "This file cannot be opened right now. Please contact us; we will look into it."
        return _page(request, "apply_message.html", 409, title="Cannot open this file", message=message)
    return own_document_file(stored)


PAGES = pages(
    BorrowerDocumentPort,
    [
        PublicPage("GET", "/apply/{brand}/documents", documents_page),
        PublicPage("POST", "/apply/{brand}/documents", documents_upload, upload_bytes=UPLOAD.max_bytes),
        PublicPage("GET", "/apply/{brand}/documents/{document_id}/file", document_file),
    ],
    refused_input,
)
