"""Verification actions on the Customer 360: upload and review a document, add a bank account, run or retry a
check, verify an account by hand against the borrower's statement or passbook (the manual method). A refusal
answers with the Customer 360 itself (api/pages/customers.py), why said at the form refused and that form filled
again with what was typed (`kept`, api/web.py; never the file)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from api.pages.customers import CustomerPagesPort, VerificationRefused, customer_360_page
from api.routes.documents import UPLOAD
from api.web import Page, act, after_write, error_text, form_text, not_found, pages, path_id, refusal_status
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.documents.document import ReviewDecision
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidValue, NotFound
from domain.verification.application import Verifications
from domain.verification.values import CheckKind

WRITE = (Permission.CUSTOMER, Level.WRITE)


@dataclass(frozen=True)
class VerificationPagesPort:
    """What the Customer 360's verification forms use (and the 360 itself, which answers their refusals)."""

    verifications: Verifications
    documents: Documents
    customer: CustomerPagesPort


async def _refused(
    request: Request,
    port: VerificationPagesPort,
    principal: Principal,
    customer_id: UUID,
    status: int,
    refused: VerificationRefused,
) -> Response:
    """The Customer 360 answering a refused verification form: why, at that form, with what was typed."""
    return await customer_360_page(
        request, port.customer, principal, customer_id, status=status, verification_refused=refused
    )


async def _run(
    request: Request,
    port: VerificationPagesPort,
    principal: Principal,
    source: str,
    work: Callable[[], CommandResult],
    form: str,
    document_id: UUID | None = None,
) -> Response:
    """Run a use case as the staff member and go back to the Customer 360; refused, the 360 says why at `form`
    (409 for a conflict such as a document someone reviewed meanwhile, 422 for bad input)."""
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    try:
        result = await act(principal, work)
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        status = refusal_status(exc)
        refused = VerificationRefused(form, error_text(exc), document_id)
        return await _refused(request, port, principal, customer_id, status, refused)
    return await after_write(request, source, result.position, f"/customers/{customer_id}#customer-kyc")


def _ids(request: Request, *names: str) -> list[UUID] | None:
    found = [path_id(request, name) for name in names]
    return None if any(i is None for i in found) else [i for i in found if i is not None]


async def upload_document(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    try:
        kind = DocumentKind(form_text(request, "kind"))
    except ValueError:
        refused = VerificationRefused("document", "kind: choose what the document is")
        return await _refused(request, port, principal, customer_id, 422, refused)
    file = request.state.form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        refused = VerificationRefused("document", "file: choose a file (PDF, JPEG or PNG)")
        return await _refused(request, port, principal, customer_id, 422, refused)
    data = await file.read(UPLOAD.max_bytes + 1)
    name = file.filename or ""
    # A bank statement's months, as read off its header (blank: not given).
    first, last = form_text(request, "period_from") or None, form_text(request, "period_to") or None
    return await _run(
        request,
        port,
        principal,
        Documents.name,
        lambda: port.documents.upload(
            principal.brand_id, customer_id, kind, name, data, Uploader.STAFF, period_from=first, period_to=last
        ),
        "document",
    )


async def review_document(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    ids = _ids(request, "customer_id", "document_id")
    if ids is None:
        return await not_found(request)
    customer_id, document_id = ids
    try:
        decision = ReviewDecision(form_text(request, "decision"))
    except ValueError:
        refused = VerificationRefused("review", "decision: choose accept or reject", document_id)
        return await _refused(request, port, principal, customer_id, 422, refused)
    reason = form_text(request, "reason") or None

    def review() -> CommandResult:
        if port.documents.document(principal.brand_id, document_id).customer_id != customer_id:
            raise NotFound("not this borrower's document")
        return port.documents.review(principal.brand_id, document_id, decision, reason)

    return await _run(request, port, principal, Documents.name, review, "review", document_id)


async def add_bank_account(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    if customer_id is None:
        return await not_found(request)
    number, ifsc, holder = (form_text(request, n) for n in ("account_number", "ifsc", "holder_name"))
    return await _run(
        request,
        port,
        principal,
        Verifications.name,
        lambda: port.verifications.add_bank_account(principal.brand_id, customer_id, number, ifsc, holder),
        "bank-account",
    )


async def retry_penny_drop(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    ids = _ids(request, "customer_id", "bank_account_id")
    if ids is None:
        return await not_found(request)
    _, account_id = ids
    return await _run(
        request,
        port,
        principal,
        Verifications.name,
        lambda: port.verifications.retry_penny_drop(principal.brand_id, account_id),
        "checks",
    )


async def verify_bank_account_manually(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    """The manual method: staff verified the account against the borrower's statement or passbook they chose."""
    ids = _ids(request, "customer_id", "bank_account_id")
    if ids is None:
        return await not_found(request)
    _, account_id = ids
    raw_document, note = form_text(request, "document_id"), form_text(request, "note")

    def verify() -> CommandResult:
        try:
            document_id = UUID(raw_document)
        except ValueError:
            raise InvalidValue("document_id", "choose the borrower's bank statement or passbook") from None
        return port.verifications.verify_bank_account_manually(principal.brand_id, account_id, document_id, note)

    return await _run(request, port, principal, Verifications.name, verify, "manual-verification")


async def run_check(request: Request, port: VerificationPagesPort, principal: Principal) -> Response:
    customer_id = path_id(request, "customer_id")
    check = request.path_params.get("check")
    if customer_id is None or check not in ("pan", "bureau", "aadhaar", "retry-pan", "retry-bureau", "retry-aadhaar",
                                            "retry-statement"):  # fmt: skip
        return await not_found(request)
    brand_id, app = principal.brand_id, port.verifications
    runs: dict[str, Callable[[], CommandResult]] = {
        "pan": lambda: app.verify_pan(brand_id, customer_id),
        "bureau": lambda: app.pull_bureau(brand_id, customer_id),
        "aadhaar": lambda: app.start_aadhaar(brand_id, customer_id),
    }
    if check.startswith("retry-"):
        kind = CheckKind(check.removeprefix("retry-"))
        return await _run(
            request, port, principal, Verifications.name, lambda: app.retry(brand_id, customer_id, kind), "checks"
        )
    return await _run(request, port, principal, Verifications.name, runs[check], "checks")


PAGES = pages(
    VerificationPagesPort,
    [
        Page(
            "POST",
            "/customers/{customer_id}/documents",
            upload_document,
            WRITE,
            form=True,
            upload_bytes=UPLOAD.max_bytes,
        ),
        Page("POST", "/customers/{customer_id}/documents/{document_id}/review", review_document, WRITE, form=True),
        Page("POST", "/customers/{customer_id}/bank-accounts", add_bank_account, WRITE, form=True),
        Page(
            "POST", "/customers/{customer_id}/bank-accounts/{bank_account_id}/retry", retry_penny_drop, WRITE, form=True
        ),
        Page(
            "POST",
            "/customers/{customer_id}/bank-accounts/{bank_account_id}/manual-verification",
            verify_bank_account_manually,
            WRITE,
            form=True,
        ),
        Page("POST", "/customers/{customer_id}/kyc/{check}", run_check, WRITE, form=True),
    ],
)
