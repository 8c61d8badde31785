"""The web flow's "Your covenants" page at /apply/{brand}/covenants: the signed-in borrower's own covenants and
their evaluation records still waiting (Open or Overdue: what, the due date, the status in the spec's words), and on
each record a form to upload proof of compliance (`POST /apply/{brand}/covenants/{evaluation_id}/proof`).

The upload goes through the use case staff's proof upload uses (`api.services.covenant_proofs.CovenantProofs.attach`):
the file becomes a document of the borrower (kind `other`; sniffed, `DOCUMENT_MAX_BYTES`, a file named as another
type refused - the checks of the borrower's documents page) and is attached to the record, recorded with the
borrower as actor (`borrower:<id>`) and `uploaded_by` borrower, so staff see it on the covenant page to review. The
record stays Open (the spec's Open: "expected to be submitted by the borrower OR is to be reviewed by the lender");
only staff mark it Complied - the borrower has no such form or address. A complied or waived record refuses the
upload (409, saying it is closed). A covenant staff closed is no longer chased (docs/architecture.md "Closing stops
the chase"): its Open and Overdue records are listed as no longer required (closed by the lender on the day), without
an upload form and not counted as due from the borrower, and an upload to one is refused (409) with nothing written.
Another borrower's record, another brand's or an unknown id is the flow's
"Not found" page (404) and nothing is written. Same cookie session and CSRF token as the other flow pages
(`api.pages.borrower_flow`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.borrower_flow import _base, _brand, _csrf_ok, _expired, _page, _session_csrf, _signed_in, refused_input
from api.routes.documents import UPLOAD
from api.services.covenant_proofs import CovenantProofs
from api.web import PENDING, PublicPage, after_write, as_id, pages
from domain.covenants.application import Covenants
from domain.documents.content import Uploader
from domain.onboarding.account import BorrowerNotFound
from domain.onboarding.application import Onboarding
from domain.onboarding.parties import BorrowerPrincipal
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound
from projections.covenant_queries import BorrowerCovenant, CovenantQueries, EvaluationRow


@dataclass(frozen=True)
class BorrowerCovenantPort:
    """What the borrower's covenants page uses: onboarding (the session and the borrower's Customer 360 record), the
    covenant read model and the proof use case staff use too."""

    onboarding: Onboarding
    queries: CovenantQueries
    proofs: CovenantProofs


#: A record's status as the page says it, in the spec's words ("Open: The document/proof of compliance is expected
#: to be submitted by the borrower OR is to be reviewed by the lender"; "Overdue: ... not received and approved by
#: the due date"); an Open record with proof staff have not rejected is the lender's to review. A record of a closed
#: covenant keeps its status for staff to decide, but is no longer asked of the borrower (`closed`; the page adds by
#: whom and when).
STATUS_TEXT = {
    "open": "Open: the document or proof of compliance is expected to be submitted by you",
    "open_received": "Open: your proof of compliance is received and is to be reviewed by the lender",
    "overdue": "Overdue: the document or proof of compliance was not received and approved by the due date",
    "closed": "No longer required",
}

NOT_FOUND = "There is no such covenant record."


def record_state(record: EvaluationRow, chased: bool = True) -> str:
    """Which of `STATUS_TEXT` a record is (`chased`: its covenant is not closed)."""
    if not chased:
        return "closed"
    if record.status.value == "open" and record.proof_received:
        return "open_received"
    return record.status.value


async def _customer(port: BorrowerCovenantPort, principal: BorrowerPrincipal) -> UUID | None:
    """The borrower's Customer 360 record (made at the personal step; None before it, and for a record found by the
    PAN alone: `Onboarding.own_record`)."""
    customer_id: UUID | None = await run_in_threadpool(
        port.onboarding.own_record, principal.brand_id, principal.borrower_id
    )
    return customer_id


async def _covenants_page(
    request: Request,
    port: BorrowerCovenantPort,
    principal: BorrowerPrincipal,
    token: str,
    status: int = 200,
    error: str | None = None,
    refused_at: UUID | None = None,
) -> Response:
    try:
        customer_id = await _customer(port, principal)
    except BorrowerNotFound:
        return RedirectResponse(_base(request), status_code=303)
    covenants: list[BorrowerCovenant] = []
    if customer_id is not None:
        covenants = await run_in_threadpool(port.queries.of_borrower, principal.brand_id, customer_id)
    return _page(
        request,
        "apply_covenants.html",
        status,
        covenants=covenants,
        has_record=customer_id is not None,
        states={r.id: record_state(r, c.chased) for c in covenants for r in c.records},
        closed_on=await _closed_on(port, principal, covenants),
        status_text=STATUS_TEXT,
        error=error,
        refused_at=refused_at,
        saved=_saved(request, covenants) if status == 200 else None,
        limit_mb=max(1, UPLOAD.max_bytes // (1024 * 1024)),
        csrf=_session_csrf(token),
    )


async def _closed_on(
    port: BorrowerCovenantPort, principal: BorrowerPrincipal, covenants: list[BorrowerCovenant]
) -> dict[UUID, str]:
    """The day staff closed each closed covenant, in the brand's timezone (left out when not known: closed before
    the read model kept it)."""
    closed = {c.covenant.id: c.covenant.closed_at for c in covenants if not c.chased and c.covenant.closed_at}
    if not closed:
        return {}
    rules = await run_in_threadpool(port.onboarding.brands.rules, principal.brand_id)
    zone = ZoneInfo(rules.timezone)
    return {i: at.astimezone(zone).strftime("%d %b %Y") for i, at in closed.items()}


def _saved(request: Request, covenants: list[BorrowerCovenant]) -> str | None:
    """What the page says after an upload (`?submitted=<record id>`; `saved=pending` when the list is behind)."""
    if request.query_params.get("saved") == "pending":
        return PENDING
    submitted = as_id(request.query_params.get("submitted", ""))
    titles = {r.id: c.covenant.title for c in covenants for r in c.records}
    if submitted is None or submitted not in titles:
        return None
    return f"Received: your proof for “{titles[submitted]}”. The lender will review it and tell you if anything else is needed."


async def covenants_page(request: Request, port: BorrowerCovenantPort) -> Response:
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    return await _covenants_page(request, port, *signed)


async def covenant_proof(request: Request, port: BorrowerCovenantPort) -> Response:
    """Attach the chosen file as the borrower's proof of compliance to one of their Open or Overdue records;
    refused (no file, not a PDF/JPEG/PNG, too large, named as another type, the same file again) the page again
    with why at the record (422; 409 for a closed record), nothing attached."""
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, token = signed
    if not _csrf_ok(request, _session_csrf(token)):
        return _expired(request)
    not_found = _page(request, "apply_message.html", 404, title="Not found", message=NOT_FOUND)
    evaluation_id = as_id(str(request.path_params["evaluation_id"]))
    if evaluation_id is None:
        return not_found
    try:
        customer_id = await _customer(port, principal)
    except BorrowerNotFound:
        return RedirectResponse(_base(request), status_code=303)
    if customer_id is None:  # no record yet, so no covenant of theirs
        return not_found
    upload = request.state.form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = "Choose a file to upload (a photo or a PDF)."
        return await _covenants_page(request, port, principal, token, 422, error, evaluation_id)
    filename, data = upload.filename, await upload.read()

    def attach() -> Any:
        with acting_as(principal.actor):
            return port.proofs.attach(
                principal.brand_id, evaluation_id, filename, data, Uploader.BORROWER, customer_id=customer_id
            )

    try:
        result = await run_in_threadpool(attach)
    except NotFound:
        return not_found
    except Conflict as exc:
        closed = exc.details.get("status")  # a complied or waived record (else: this file is attached already)
        error = f"This record is already {closed} (closed): it takes no more proof." if closed else exc.message
        if exc.details.get("covenant_status"):  # the lender closed the covenant: the record is no longer asked for
            error = f"{_brand(request)} closed this covenant: the record is no longer required, so it takes no proof."
        return await _covenants_page(request, port, principal, token, 409, error, evaluation_id)
    except InvalidInput as exc:
        error = "; ".join(e.message for e in exc.errors)
        return await _covenants_page(request, port, principal, token, 422, error, evaluation_id)
    except DomainError as exc:
        return await _covenants_page(request, port, principal, token, 422, exc.message, evaluation_id)
    target = f"{_base(request)}/covenants?submitted={evaluation_id}"
    return await after_write(request, Covenants.name, result.position, target)


PAGES = pages(
    BorrowerCovenantPort,
    [
        PublicPage("GET", "/apply/{brand}/covenants", covenants_page),
        PublicPage(
            "POST", "/apply/{brand}/covenants/{evaluation_id}/proof", covenant_proof, upload_bytes=UPLOAD.max_bytes
        ),
    ],
    refused_input,
)
