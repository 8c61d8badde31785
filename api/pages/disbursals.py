"""The Ops disbursal queue page (LOAN_OPS): loans awaiting disbursal with their payout state, multi-select to
export a payout file or initiate (and retry) payouts; the payout files with their downloads."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from adapters.payout_files import XLSX_MEDIA_TYPE
from api.pages.actors import actor_names
from api.routes.disbursals import WEBHOOK_PATH, DisbursalPort, public_base
from api.services.disbursals import age_words
from api.web import (
    Page,
    act,
    after_write,
    error_text,
    keyset_page,
    not_found,
    pages,
    path_id,
    render,
)
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.loans.application import Loans
from domain.loans.payout_lines import PAYOUT_MODES
from domain.shared.errors import DomainError, InvalidInput, NotFound
from domain.shared.values import whole_number

READ = (Permission.LOAN_OPS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)


async def _queue(
    request: Request, port: DisbursalPort, principal: Principal, error: str | None = None, info: str | None = None
) -> Response:
    brand = principal.brand_id
    queue = await run_in_threadpool(keyset_page, request, lambda cursor: port.queries.queue(brand, cursor, 100))
    files = await run_in_threadpool(port.disbursals.store.files, brand, 20)
    actors = await run_in_threadpool(actor_names, port.identity, brand, {f.created_by for f in files})
    unsettled = await run_in_threadpool(port.disbursals.unsettled, brand)
    return render(
        request,
        "disbursals.html",
        422 if error else 200,
        nav="disbursals",
        queue=queue,
        files=files,
        actors=actors,
        modes=PAYOUT_MODES,
        can_edit=principal.holds(*WRITE),
        unsettled=unsettled,
        age_words=age_words,
        error=error,
        info=info if info is not None or request.method != "GET" else _done(request, files),
    )


def _done(request: Request, files: Sequence[Any]) -> str | None:
    """What the action that redirected here did, from its query (post/redirect/get: a reload of the page repeats
    nothing); only counts, a payout mode and a file of the list are read from it, never text to show as is."""
    params = request.query_params
    exported = params.get("exported")
    if exported:
        made = next((f for f in files if str(f.id) == exported), None)
        return (
            None
            if made is None
            else f"Payout file of {made.row_count} loans, total Rs {made.total}: download it below."
        )
    initiated, refused, mode = params.get("initiated", ""), params.get("refused", ""), params.get("mode", "")
    started, declined = whole_number(initiated, max_digits=9), whole_number(refused, max_digits=9)
    if started is not None and mode in PAYOUT_MODES:
        said = f"Payout initiated for {started} loan(s) by {mode}; each is disbursed when the gateway confirms it."
        if declined:
            said += f" {declined} selected loan(s) were refused: select them again to see why."
        return said
    return {"returned": "The file's loans may be paid again.", "confirmed": "The file's loans are disbursed."}.get(
        params.get("file", "")
    )


async def disbursal_queue_page(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    return await _queue(request, port, principal)


def _selected(request: Request) -> list[UUID]:
    chosen = []
    for raw in request.state.form.getlist("loan_id"):
        try:
            chosen.append(UUID(str(raw)))
        except ValueError:
            continue
    return chosen


async def disbursal_export(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    chosen = _selected(request)
    if not chosen:
        return await _queue(request, port, principal, error="select the loans to put in the payout file")
    try:
        record, position = await act(principal, lambda: port.disbursals.export(principal.brand_id, principal.actor,
                                                                                chosen))  # fmt: skip
    except InvalidInput as exc:  # each refused loan said by its number, not by the API's `loan_ids[i]`
        return await _queue(request, port, principal, error="; ".join(e.message for e in exc.errors))
    except DomainError as exc:
        return await _queue(request, port, principal, error=error_text(exc))
    return await after_write(request, Loans.name, position, f"/disbursals?exported={record.id}")


def _loan_number(port: DisbursalPort, brand_id: UUID, loan_id: UUID) -> str:
    """The loan number staff know a ticked loan by (for a refusal), or what it is when it is none of the brand's."""
    try:
        return port.disbursals.loans.get(brand_id, loan_id).loan_number
    except NotFound:
        return "a loan that is not this brand's"


async def disbursal_initiate(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    chosen = _selected(request)
    mode = str(request.state.form.get("mode", ""))
    if not chosen:
        return await _queue(request, port, principal, error="select the loans to pay")
    callback = public_base(request) + WEBHOOK_PATH
    problems, done, last = [], 0, 0
    for loan_id in chosen:
        try:
            result = await act(
                principal, partial(port.disbursals.disburse, principal.brand_id, loan_id, mode, callback)
            )
        except DomainError as exc:
            number = await run_in_threadpool(_loan_number, port, principal.brand_id, loan_id)
            problems.append(f"{number}: {error_text(exc)}")
            continue
        done, last = done + 1, max(last, result.position)
    if not done:  # nothing initiated: the refusal at the queue, the ticked loans and the mode kept
        return await _queue(request, port, principal, error="; ".join(problems))
    # Post/redirect/get: a reload of the page shows the queue again, it does not initiate the payouts again.
    query = urlencode({"initiated": done, "mode": mode, **({"refused": len(problems)} if problems else {})})
    return await after_write(request, Loans.name, last, f"/disbursals?{query}")


async def payout_file_settle(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    file_id = path_id(request, "file_id")
    if file_id is None:
        return await not_found(request)
    returned = request.url.path.endswith("/return")
    reason = str(request.state.form.get("reason", ""))  # its rule is the service's, the API's too
    try:
        if returned:
            await act(principal, partial(port.disbursals.return_file, principal.brand_id, file_id, reason))
        else:
            await act(principal, partial(port.disbursals.confirm_file, principal.brand_id, file_id))
    except DomainError as exc:
        return await _queue(request, port, principal, error=error_text(exc))
    head = await run_in_threadpool(request.app.state.services.engine.head, Loans.name)
    return await after_write(request, Loans.name, head, "/disbursals?file=" + ("returned" if returned else "confirmed"))


async def _download(request: Request, port: DisbursalPort, principal: Principal, which: str) -> Response:
    file_id = path_id(request, "file_id")
    data = (
        await run_in_threadpool(port.disbursals.store.content, principal.brand_id, file_id, which) if file_id else None
    )
    if file_id is None or data is None:
        return await not_found(request)
    disposition = f'attachment; filename="{which}-{str(file_id)[:8]}.xlsx"'
    return Response(data, 200, {"Content-Disposition": disposition}, media_type=XLSX_MEDIA_TYPE)


async def payout_file_download(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    return await _download(request, port, principal, "payout")


async def beneficiary_file_download(request: Request, port: DisbursalPort, principal: Principal) -> Response:
    return await _download(request, port, principal, "beneficiaries")


PAGES = pages(
    DisbursalPort,
    [
        Page("GET", "/disbursals", disbursal_queue_page, READ),
        Page("POST", "/disbursals/export", disbursal_export, WRITE, form=True),
        Page("POST", "/disbursals/initiate", disbursal_initiate, WRITE, form=True),
        Page("POST", "/disbursals/files/{file_id}/return", payout_file_settle, WRITE, form=True),
        Page("POST", "/disbursals/files/{file_id}/confirm", payout_file_settle, WRITE, form=True),
        Page("GET", "/disbursals/files/{file_id}/payout.xlsx", payout_file_download, READ),
        Page("GET", "/disbursals/files/{file_id}/beneficiaries.xlsx", beneficiary_file_download, READ),
    ],
)
