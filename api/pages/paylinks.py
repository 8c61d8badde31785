"""The loan's payments page (issue #15 item 2): its payment links and UPI Autopay mandates with their state, and the
forms that create and send a link, register a mandate and revoke one (`api.services.paylinks`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.routes.disbursals import public_base
from api.routes.paylinks import WEBHOOK_PATH, PaylinkPort
from api.web import Page, act, error_text, form_text, not_found, pages, path_id, render
from domain.identity.permissions import Level, Permission
from domain.identity.principal import Principal
from domain.shared.errors import DomainError, NotFound

READ = (Permission.LOANS, Level.READ)
WRITE = (Permission.LOAN_OPS, Level.WRITE)


async def _page(request: Request, port: PaylinkPort, principal: Principal, loan_id: UUID,
                error: str | None = None) -> Response:  # fmt: skip
    def load() -> dict[str, Any]:
        loan = port.paylinks.loans.get(principal.brand_id, loan_id)
        mandates = port.paylinks.mandates.of_loan(principal.brand_id, loan_id)
        return {
            "loan": loan,
            "links": port.paylinks.links(principal.brand_id, loan_id),
            "mandates": [(m, port.paylinks.store.debits(m.id)) for m in mandates],
        }

    try:
        data = await run_in_threadpool(load)
    except NotFound:
        return await not_found(request)
    return render(request, "loan_paylinks.html", 422 if error else 200, nav="loans", error=error,
                  can_edit=principal.holds(*WRITE), can_audit=principal.holds(Permission.AUDIT_REPLAY, Level.READ),
                  **data)  # fmt: skip


async def payments_page(request: Request, port: PaylinkPort, principal: Principal) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    return await _page(request, port, principal, loan_id)


async def _write(request: Request, port: PaylinkPort, principal: Principal, work: Any) -> Response:
    loan_id = path_id(request, "loan_id")
    if loan_id is None:
        return await not_found(request)
    callback = public_base(request) + WEBHOOK_PATH
    try:
        await act(principal, lambda: work(loan_id, callback))
    except NotFound:
        return await not_found(request)
    except DomainError as exc:
        return await _page(request, port, principal, loan_id, error_text(exc))
    return RedirectResponse(f"/loans/{loan_id}/payments", status_code=303)


async def create_link(request: Request, port: PaylinkPort, principal: Principal) -> Response:
    amount = form_text(request, "amount") or None
    channel = form_text(request, "channel", "sms")
    return await _write(request, port, principal,
                        lambda loan_id, cb: port.paylinks.create(principal.brand_id, loan_id, amount, channel, cb))  # fmt: skip


async def register_mandate(request: Request, port: PaylinkPort, principal: Principal) -> Response:
    vpa, limit = form_text(request, "vpa"), form_text(request, "max_amount")
    frequency = form_text(request, "frequency", "monthly")
    return await _write(request, port, principal, lambda loan_id, cb: port.paylinks.mandates.register(
        principal.brand_id, loan_id, vpa, limit, frequency, cb))  # fmt: skip


async def revoke_mandate(request: Request, port: PaylinkPort, principal: Principal) -> Response:
    mandate_id = path_id(request, "mandate_id")
    if mandate_id is None:
        return await not_found(request)
    return await _write(request, port, principal, lambda loan_id, cb: port.paylinks.mandates.revoke(
        principal.brand_id, loan_id, mandate_id))  # fmt: skip


PAGES = pages(
    PaylinkPort,
    [
        Page("GET", "/loans/{loan_id}/payments", payments_page, READ),
        Page("POST", "/loans/{loan_id}/payment-links", create_link, WRITE, form=True),
        Page("POST", "/loans/{loan_id}/mandates", register_mandate, WRITE, form=True),
        Page("POST", "/loans/{loan_id}/mandates/{mandate_id}/revoke", revoke_mandate, WRITE, form=True),
    ],
)
