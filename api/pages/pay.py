"""The borrower's payment page (what a due or overdue reminder's `{{payment_link}}` opens): no login, the signed link
is the key (`api.services.pay_links`). It shows the brand, the loan number, what is due now and the payoff on the
business date, and a button for each that starts a gateway order (`Paylinks.checkout`) and sends the borrower on to
the gateway's payment page (a page that goes on itself: the CSP keeps forms on our origin); the gateway's webhook records the payment as for any payment link. A completed loan's
page links its no-due certificate, a settled loan's its settlement letter, and every page lists the loan's latest
payments with their receipts - opened by the same signed link (`/pay/{token}/receipts/{id}`, a payment of this loan
only). The borrower sets up UPI Autopay there too (`POST /pay/{token}/autopay`, their UPI id:
`Mandates.register_for_borrower`, as staff register one, with the borrower as actor) and the page shows the
mandate's state (pending until the gateway's webhook activates it). A changed, forged or expired link is a 404 that names nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.problems import RETRY_AFTER_SECONDS
from api.routes.disbursals import public_base
from api.routes.paylinks import WEBHOOK_PATH, PaylinkPort
from api.services.loan_documents import LoanDocument, LoanDocuments
from api.services.mandates import MandateLive
from api.services.no_due_links import NoDueLinks
from api.services.pay_links import PayLinks
from api.web import PublicPage, error_text, pages, templates
from domain.providers.errors import ProviderUnavailable
from domain.shared.errors import DomainError, InvalidInput, NotFound

GATEWAY_DOWN = (
    "The payment service is not answering just now. Nothing was charged or set up: please try again in a few minutes."
)
AUTOPAY_LIVE = "UPI Autopay is already set up on this loan: a second one cannot be added while it is pending or active."


def _page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template("pay.html").render(request=request, **context)
    return HTMLResponse(
        html, status_code=status, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


def _gone(request: Request) -> HTMLResponse:
    return _page(request, 404, brand="Payment", page=None, error="This payment link is not valid or has expired. "
                 "Use the link in your latest reminder, or contact your lender.")  # fmt: skip


def _opened(request: Request) -> tuple[Any, Any] | None:
    return PayLinks.configured().opened(str(request.path_params["token"])[:200], datetime.now(UTC))


async def _show(request: Request, port: PaylinkPort, status: int = 200, error: str | None = None,
                **extra: Any) -> Response:  # fmt: skip
    opened = _opened(request)
    if opened is None:
        return _gone(request)
    brand_id, loan_id = opened
    try:
        page = await run_in_threadpool(port.paylinks.pay_page, brand_id, loan_id)
    except NotFound:
        return _gone(request)
    certificate = None
    if page.certificate:
        certificate = NoDueLinks.configured().url(public_base(request), brand_id, loan_id, datetime.now(UTC))
    token = str(request.path_params["token"])
    return _page(request, status, brand=page.brand, page=page, error=error, certificate=certificate, token=token,
                 **extra)  # fmt: skip


def _retry_later(page: Response) -> Response:
    """The gateway did not answer (after the adapter's bounded retries): a 503 the borrower can retry, not a refusal."""
    page.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return page


async def pay_page(request: Request, port: PaylinkPort) -> Response:
    return await _show(request, port)


async def pay(request: Request, port: PaylinkPort) -> Response:
    opened = _opened(request)
    if opened is None:
        return _gone(request)
    brand_id, loan_id = opened
    chosen = str(request.state.form.get("amount", ""))
    full = chosen == "payoff"
    # "Pay another amount": what the borrower typed (a part-payment), else the button's due / payoff.
    other = str(request.state.form.get("other_amount", "")).strip().replace(",", "") if chosen == "other" else None
    callback = public_base(request) + WEBHOOK_PATH
    try:
        link = await run_in_threadpool(port.paylinks.checkout, brand_id, loan_id, full, callback, other)
    except NotFound:
        return _gone(request)
    except ProviderUnavailable:
        return _retry_later(await _show(request, port, 503, GATEWAY_DOWN))
    except InvalidInput as exc:  # another amount that is not money, nothing, or above what the loan takes
        return await _show(request, port, 422, error_text(exc), other_amount=other)
    except DomainError as exc:
        return await _show(request, port, 409, error_text(exc))
    brand = await run_in_threadpool(lambda: port.paylinks.identity.brand(brand_id).name)
    # The CSP's form-action 'self' stops a form's POST from redirecting to another site: the page goes on itself.
    html = templates.get_template("pay_go.html").render(
        request=request, brand=brand, amount=link.amount, redirect_url=link.payment_url
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def autopay(request: Request, port: PaylinkPort) -> Response:
    """Set up UPI Autopay with the borrower's UPI id, then back to the page (PRG), which shows the mandate pending.
    A bad UPI id is a 422 and a loan with a live mandate a 409, each said on the page, nothing registered."""
    opened = _opened(request)
    if opened is None:
        return _gone(request)
    vpa = str(request.state.form.get("vpa", ""))[:200]
    callback = public_base(request) + WEBHOOK_PATH
    try:
        await run_in_threadpool(port.paylinks.mandates.register_for_borrower, *opened, vpa, callback)
    except NotFound:
        return _gone(request)
    except InvalidInput as exc:
        words = "; ".join(f"Your UPI id {e.message}" if e.field == "vpa" else f"{e.field}: {e.message}"
                          for e in exc.errors)  # fmt: skip
        return await _show(request, port, 422, autopay_error=words, typed_vpa=vpa)
    except MandateLive:
        return await _show(request, port, 409, autopay_error=AUTOPAY_LIVE)
    except ProviderUnavailable:
        return _retry_later(await _show(request, port, 503, autopay_error=GATEWAY_DOWN, typed_vpa=vpa))
    except DomainError as exc:
        words = f"UPI Autopay could not be set up: {error_text(exc)}"
        return await _show(request, port, 409, autopay_error=words, typed_vpa=vpa)
    return RedirectResponse(f"/pay/{request.path_params['token']}#autopay", status_code=303)


def _documents(port: PaylinkPort) -> LoanDocuments:
    return LoanDocuments(port.paylinks.loans, port.paylinks.customers, port.paylinks.identity)


def _pdf(document: LoanDocument) -> Response:
    headers = {"Content-Disposition": f'inline; filename="{document.filename}"', "X-Content-SHA256": document.sha256,
               "Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}  # fmt: skip
    return Response(document.pdf, 200, headers, media_type="application/pdf")


async def receipt(request: Request, port: PaylinkPort) -> Response:
    """A payment's receipt through the loan's signed link: a payment of another loan is a 404 like a forged link."""
    opened = _opened(request)
    if opened is None:
        return _gone(request)
    brand_id, loan_id = opened
    payment_id = str(request.path_params["payment_id"])[:100]
    try:
        document = await run_in_threadpool(_documents(port).receipt, brand_id, loan_id, payment_id)
    except NotFound:
        return _gone(request)
    return _pdf(document)


async def settlement_letter(request: Request, port: PaylinkPort) -> Response:
    """A settled loan's letter through its signed link (404 for any other loan, as for a forged link)."""
    opened = _opened(request)
    if opened is None:
        return _gone(request)
    try:
        document = await run_in_threadpool(_documents(port).settlement_letter, *opened)
    except DomainError:  # not found, or not settled
        return _gone(request)
    return _pdf(document)


PAGES = pages(
    PaylinkPort,
    [
        PublicPage("GET", "/pay/{token}", pay_page),
        PublicPage("POST", "/pay/{token}", pay),
        PublicPage("POST", "/pay/{token}/autopay", autopay),
        PublicPage("GET", "/pay/{token}/receipts/{payment_id}", receipt),
        PublicPage("GET", "/pay/{token}/settlement-letter", settlement_letter),
    ],
)
