"""The web flow's "Call me back" form on the status page (`POST /apply/{brand}/callback`): a time window, a note and,
when the borrower has an application, whether it is about it - recorded through the same use case as the borrower
API (one open request at a time: a second is refused with the status page saying so, 409). Same cookie session and
CSRF token as the other flow pages (`api.pages.borrower_flow`)."""

from __future__ import annotations

from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.pages.borrower_flow import (
    BorrowerFlowPort,
    _base,
    _csrf_ok,
    _expired,
    _form,
    _session_csrf,
    _signed_in,
    refused_input,
    status_page,
)
from api.web import PublicPage, after_write, error_text, pages
from domain.callbacks.application import Callbacks
from domain.callbacks.request import CallbackAlreadyOpen, CallbackSource, CallbackWindow
from domain.shared.aggregate import acting_as
from domain.shared.application import CommandResult
from domain.shared.errors import DomainError, InvalidInput, InvalidValue


async def apply_callback(request: Request, port: BorrowerFlowPort) -> Response:
    """Ask to be called back; refused (a bad note, not their application, one already open) the status page again
    with why, and nothing recorded."""
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, token = signed
    if not _csrf_ok(request, _session_csrf(token)):
        return _expired(request)
    form = _form(request)

    def ask() -> CommandResult:
        try:
            window = CallbackWindow(form.get("window") or CallbackWindow.ANYTIME.value)
        except ValueError:
            raise InvalidValue("window", "choose when we should call") from None
        raw_loan = (form.get("loan_id") or "").strip()
        try:
            loan_id = UUID(raw_loan) if raw_loan else None
        except ValueError:
            raise InvalidValue("loan_id", "not one of your applications or loans") from None
        with acting_as(principal.actor):
            return port.callbacks.request(
                principal.brand_id, principal.borrower_id, window=window, note=form.get("note"), loan_id=loan_id,
                source=CallbackSource.WEB,
            )  # fmt: skip

    try:
        result = await run_in_threadpool(ask)
    except CallbackAlreadyOpen:
        message = "You already asked us to call you back; we will call you soon."
        return await status_page(request, port, principal, token, 409, message)
    except InvalidInput as exc:
        return await status_page(request, port, principal, token, 422, error_text(exc))
    except DomainError as exc:
        return await status_page(request, port, principal, token, 409, exc.message)
    return await after_write(request, Callbacks.name, result.position, f"{_base(request)}/status#callback")


PAGES = pages(BorrowerFlowPort, [PublicPage("POST", "/apply/{brand}/callback", apply_callback)], refused_input)
