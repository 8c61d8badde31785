"""The web flow's side of the consent round trips: the Aadhaar step's "Fetch from DigiLocker" and the statement
step's "Share via Account Aggregator" buttons post here; the borrower goes to the provider's consent page and comes
back to `GET /apply/{brand}/consents/{provider}`, which completes the fetch (`api.services.borrower_consents`) and
goes on to the next step - or says what happened (declined, not matching, provider down) with a retry and the
upload path."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api.pages.borrower_flow import COOKIE, _base, _csrf_ok, _expired, _page, _session_csrf
from api.services.borrower_consents import PROVIDERS, BorrowerConsents, ConsentOut, Provider
from api.web import PublicPage, pages, templates
from domain.onboarding.account import SessionNotFound
from domain.onboarding.parties import BorrowerPrincipal
from domain.shared.errors import DomainError, InvalidInput

_NAMES = {"digilocker": "DigiLocker", "account-aggregator": "the Account Aggregator"}
_STEPS = {"digilocker": "aadhaar", "account-aggregator": "bank_statement"}
_MESSAGES = {
    "pending": "{name} has not told us your answer yet.",
    "denied": "You did not allow {name} to share your details, so nothing was recorded.",
    "not_verified": "The details {name} shared do not match yours, so nothing was recorded.",
    "failed": "{name} could not be reached just now; nothing you gave is lost.",
}


async def _signed_in(request: Request, port: BorrowerConsents) -> tuple[BorrowerPrincipal, str] | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = await run_in_threadpool(port.onboarding.authenticate, token)
        brand_id = await run_in_threadpool(port.onboarding.brand, str(request.path_params["brand"]).lower())
    except (SessionNotFound, InvalidInput):
        return None
    return (principal, token) if principal.brand_id == brand_id else None


def _provider(request: Request) -> Provider | None:
    name = str(request.path_params["provider"])
    return name if name in PROVIDERS else None


def _outcome(request: Request, token: str, provider: Provider, out: ConsentOut, status: int = 200) -> Response:
    name = _NAMES[provider]
    return _page(
        request,
        "apply_consent.html",
        status,
        title="DigiLocker" if provider == "digilocker" else "Account Aggregator",
        outcome=out.status,
        message=_MESSAGES.get(out.status, "").format(name=name),
        reason=out.reason,
        provider=provider,
        step=_STEPS[provider],
        csrf=_session_csrf(token),
    )


async def consent_start(request: Request, port: BorrowerConsents) -> Response:
    """Start the round trip and send the borrower to the provider's consent page."""
    signed = await _signed_in(request, port)
    provider = _provider(request)
    if signed is None or provider is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, token = signed
    if not _csrf_ok(request, _session_csrf(token)):
        return _expired(request)
    return_to = f"{str(request.base_url).rstrip('/')}{_base(request)}/consents/{provider}"
    try:
        out = await run_in_threadpool(port.start, principal.brand_id, principal.borrower_id, provider, return_to)
    except DomainError as exc:
        failed = ConsentOut(provider=provider, status="failed", reason=exc.message)
        return _outcome(request, token, provider, failed, 409)
    if out.status == "pending" and out.redirect_url:
        title = "DigiLocker" if provider == "digilocker" else "Account Aggregator"
        return _page(request, "apply_consent_go.html", title=title, redirect_url=out.redirect_url)
    return _outcome(request, token, provider, out)


async def consent_return(request: Request, port: BorrowerConsents) -> Response:
    """Back from the provider: fetch what was shared; verified goes on to the next step."""
    signed = await _signed_in(request, port)
    provider = _provider(request)
    if signed is None or provider is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, token = signed
    try:
        out = await run_in_threadpool(port.complete, principal.brand_id, principal.borrower_id, provider)
    except DomainError as exc:
        out = ConsentOut(provider=provider, status="failed", reason=exc.message)
    if out.status == "verified":
        return RedirectResponse(f"{_base(request)}/next", status_code=303)
    return _outcome(request, token, provider, out)


async def consent_back_to_app(request: Request, port: BorrowerConsents) -> Response:
    """Where the provider sends a borrower whose consent the API started (an app): nothing to do here but go back
    to the app, which calls `POST /api/v1/borrower/consents/{provider}/complete`."""
    provider = _provider(request)
    name = _NAMES[provider] if provider else "The provider"
    html = templates.get_template("apply_message.html").render(
        request=request, brand="", base="/apply", title="Back to the app",
        message=f"{name[0].upper()}{name[1:]} has your answer. Go back to the app to continue.",
    )  # fmt: skip
    return HTMLResponse(html, status_code=200 if provider else 404)


PAGES = pages(
    BorrowerConsents,
    [
        PublicPage("POST", "/apply/{brand}/consents/{provider}", consent_start),
        PublicPage("GET", "/apply/{brand}/consents/{provider}", consent_return),
        PublicPage("GET", "/apply/consents/{provider}", consent_back_to_app),
    ],
)
