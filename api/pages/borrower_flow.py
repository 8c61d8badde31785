"""The borrower web flow at /apply/{brand}: phone, code, each step's form, the submitted page; server-rendered and
phone-first, resuming at the next unfinished step.

Its own cookie session, separate from staff sessions: `cd_borrower` (HttpOnly, SameSite=Lax, Secure over HTTPS,
scoped to /apply/{brand}) holds the same bearer token the API gives, known to the server only by its hash. Forms
carry a CSRF token: before sign-in a double-submit cookie, after it one derived from the session's token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from adapters.operational import DRAFT_LIFETIME, BorrowerDraft, OperationalStore
from api.pages.borrower_forms import (
    FORMS,
    LABELS,
    TITLES,
    field_of,
    file_fields,
    loan_request_form,
    plain_errors,
    prefill,
    step_input,
    step_months,
    summary_line,
)
from api.pages.borrower_utm import UTM_COOKIE, remember_utm, remembered_utm
from api.routes.documents import UPLOAD
from api.services.borrower_reloans import AcceptedOffer, BorrowerReloans
from api.services.documents import DocumentDesk
from api.services.pay_links import PayLinks
from api.web import PENDING, PublicPage, after_write, error_text, kept_field, local_time, pages, path_id, templates
from domain.callbacks.application import Callbacks
from domain.callbacks.request import CallbackWindow
from domain.customers.customer import DuplicateCustomer
from domain.documents.statement_months import required_months
from domain.loans.application import Loans
from domain.loans.states import SERVICING, LoanStatus
from domain.onboarding.account import SESSION_LIFETIME, BorrowerNotFound, SessionNotFound
from domain.onboarding.application import Onboarding, taken_for_borrower
from domain.onboarding.funnel import FunnelStatus
from domain.onboarding.parties import BorrowerPrincipal, CodeRequest
from domain.onboarding.steps import FORM_STEPS, STEP_INPUTS, BankStatementIn, LoanRequestIn, Step
from domain.providers.errors import ProviderError
from domain.reloans.application import ReloanOffers
from domain.reloans.offer import OfferStatus
from domain.shared.aggregate import acting_as
from domain.shared.errors import Conflict, DomainError, FieldError, InvalidInput, NotFound, Throttled
from domain.shared.values import normalise_phone
from projections.callbacks import CallbackQueries
from projections.covenant_queries import CovenantQueries
from projections.loan_queries import LoanQueries
from projections.product_queries import ProductQueries

COOKIE = "cd_borrower"
CSRF_COOKIE = "cd_borrower_csrf"
#: The phone the code page is about (`GET /apply/{brand}/code`), until sign-in.
PHONE_COOKIE = "cd_borrower_phone"
#: How long the code page remembers it: longer than a code works (5 minutes) and a lock lasts (15).
PHONE_REMEMBERED = timedelta(minutes=30)


@dataclass(frozen=True)
class BorrowerFlowPort:
    """What the borrower web flow uses: the onboarding use cases, the products to choose from, the application, the
    document checklist (the status page counts what is still missing), the borrower's covenants (the status page
    links them when there are any), the borrower's re-loan offers (the status
    page shows them with Accept / No thanks), callback requests (the status page's "call me back" form,
    api/pages/borrower_callbacks.py) and the operational store (a step's input kept across a sign-in)."""

    onboarding: Onboarding
    products: ProductQueries
    loans: LoanQueries
    documents: DocumentDesk
    reloans: BorrowerReloans
    callbacks: Callbacks
    callback_queries: CallbackQueries
    ops: OperationalStore  # what a borrower typed before their session ended (`keep_draft`), until they are back
    covenants: CovenantQueries  # the status page links the borrower's covenants (api/pages/borrower_covenants.py)


class _Onboards(Protocol):
    """A port that holds the onboarding use cases (this flow's, and the documents page's)."""

    @property
    def onboarding(self) -> Onboarding: ...


def _brand(request: Request) -> str:
    return str(request.path_params["brand"]).strip().lower()


def _base(request: Request) -> str:
    return f"/apply/{_brand(request)}"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _session_csrf(token: str) -> str:
    return hashlib.sha256(f"csrf:{token}".encode()).hexdigest()[:40]


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, brand=_brand(request), base=_base(request), **context)
    return HTMLResponse(html, status_code=status)


def _form(request: Request) -> dict[str, str]:
    data = request.state.form
    return {k: v for k, v in data.items() if isinstance(v, str)}


async def _signed_in(request: Request, port: _Onboards) -> tuple[BorrowerPrincipal, str] | None:
    """The borrower of the cookie, when it is a live session of this brand."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = await run_in_threadpool(port.onboarding.authenticate, token)
        brand_id = await run_in_threadpool(port.onboarding.brand, _brand(request))
    except (SessionNotFound, InvalidInput):
        return None
    return (principal, token) if principal.brand_id == brand_id else None


def _csrf_ok(request: Request, expected: str | None) -> bool:
    sent = _form(request).get("csrf_token", "")
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), str(expected).encode())


async def _signed_form(
    request: Request, port: _Onboards, keep: str | None = None
) -> tuple[BorrowerPrincipal, str] | Response:
    """The borrower and session token behind a form post of the signed-in flow; otherwise the answer to give: back
    to the flow's start when no live session of this brand is signed in, "expired" when the form's token is not
    this session's. `keep`: the page the form is on (a step's), where what was typed into it is given back after
    signing in again when the session had ended (`_keep_draft`)."""
    signed = await _signed_in(request, port)
    if signed is None:
        answer = RedirectResponse(_base(request), status_code=303)
        if keep is not None and isinstance(port, BorrowerFlowPort):
            await _keep_draft(request, port, keep, answer)
        return answer
    if not _csrf_ok(request, _session_csrf(signed[1])):
        return _expired(request)
    return signed


#: How long the session cookie outlives its session, so a form posted after the session expired is known to be that
#: borrower's (its input is kept for them) and the phone form says they were signed out.
ENDED_SESSION_KNOWN = timedelta(days=7)
#: The cookie naming what a borrower typed into a step before their session ended (`ops.borrower_drafts`).
DRAFT_COOKIE = "cd_borrower_draft"
#: The most a kept draft holds (the text of a step's form is a few hundred bytes; the body may be a 20 MB upload).
DRAFT_MAX_CHARS = 20_000


async def _keep_draft(request: Request, port: BorrowerFlowPort, target: str, answer: Response) -> None:
    """A step's form posted after its session ended (expired, or signed out on another device): keep what was typed
    - never the CSRF token, a code or another secret (`kept_field`), nor a file - for the borrower that session was
    given to, server-side for an hour under a token in a cookie, so signing in again lands them back on the step
    with their input (`_draft`). Only a form of that session's own page (its CSRF token) is kept, and only for the
    brand's borrower the session was theirs; anything else is dropped as before."""
    token = request.cookies.get(COOKIE)
    if not token or not _csrf_ok(request, _session_csrf(token)):
        return
    fields = {k: v for k, v in _form(request).items() if kept_field(k) and v.strip()}
    if not fields or sum(len(k) + len(v) for k, v in fields.items()) > DRAFT_MAX_CHARS:
        return

    def keep() -> str | None:
        owner = port.onboarding.session_owner(token)
        if owner is None or owner.brand_id != port.onboarding.brand(_brand(request)):
            return None
        now = port.onboarding.clock.now()
        return port.ops.keep_draft(owner.brand_id, owner.borrower_id, target, fields, now)

    kept = await run_in_threadpool(keep)
    if kept is not None:
        _set_cookie(request, answer, DRAFT_COOKIE, kept, "lax", DRAFT_LIFETIME)


async def _draft(request: Request, port: BorrowerFlowPort, principal: BorrowerPrincipal) -> BorrowerDraft | None:
    """The signed-in borrower's kept input (`_keep_draft`), None when there is none. A draft of someone else (another
    borrower signed in on this browser) is forgotten, never shown."""
    token = request.cookies.get(DRAFT_COOKIE)
    if not token:
        return None

    def find() -> BorrowerDraft | None:
        draft = port.ops.draft(token, port.onboarding.clock.now())
        if draft is not None and (draft.brand_id, draft.borrower_id) == (principal.brand_id, principal.borrower_id):
            return draft
        port.ops.drop_draft(token)
        return None

    return await run_in_threadpool(find)


async def _forget_draft(request: Request, port: BorrowerFlowPort, response: Response) -> None:
    """The kept input was given back (or is no one's): drop it and its cookie."""
    token = request.cookies.get(DRAFT_COOKIE)
    if token:
        await run_in_threadpool(port.ops.drop_draft, token)
    response.delete_cookie(DRAFT_COOKIE, path=_base(request))


def refused_input(request: Request, problem: str) -> HTMLResponse:
    """A form or address of the flow holding a character we cannot take (a control or bidi-override character, as
    a phone number copied on Android carries): said on the flow's own page, 422, with the way back into the flow;
    it used to be the staff portal's page, whose link led to the staff sign-in."""
    return _page(request, "apply_message.html", 422, title="Cannot use this input", message=problem)


def _expired(request: Request) -> HTMLResponse:
    return _page(
        request,
        "apply_message.html",
        403,
        title="This form has expired",
        message="Reload the page and try again.",
    )


async def apply_start(request: Request, port: BorrowerFlowPort) -> Response:
    """The phone form, or - signed in - the step to resume at."""
    try:
        await run_in_threadpool(port.onboarding.brand, _brand(request))
    except InvalidInput:
        return _page(request, "apply_message.html", 404, title="Not found", message="There is no such lender here.")
    if await _signed_in(request, port) is not None:
        return RedirectResponse(f"{_base(request)}/next", status_code=303)
    # A session cookie that no longer signs in (the session expired or was signed out on another device): every
    # page and form of the flow sends such a borrower here, which says why instead of a bare phone form.
    ended = bool(request.cookies.get(COOKIE))
    response = _phone_form(request, ended=ended, kept=bool(request.cookies.get(DRAFT_COOKIE)))
    if ended:
        response.delete_cookie(COOKIE, path=_base(request))
    remember_utm(request, response, _base(request), _secure(request))
    return response


def _phone_form(
    request: Request,
    status: int = 200,
    error: str | None = None,
    phone: str = "",
    ended: bool = False,
    kept: bool = False,
) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(request, "apply_phone.html", status, csrf=csrf, error=error, phone=phone, ended=ended, kept=kept)
    _set_cookie(request, response, CSRF_COOKIE, csrf, "strict")
    return response


async def apply_send_code(request: Request, port: BorrowerFlowPort) -> Response:
    """Send the code, then (post/redirect/get) on to the code page, `GET /apply/{brand}/code`: it answered with the
    code page itself, so a reload or the back button asked to post the form again (and sent another code once the
    resend wait was over). A refusal answers with its page (the phone form; the code page with 429 when nothing was
    sent)."""
    if not _csrf_ok(request, request.cookies.get(CSRF_COOKIE)):
        return _expired(request)
    phone = _form(request).get("phone", "")
    try:
        asked = await run_in_threadpool(port.onboarding.request_code, _brand(request), phone)
    except InvalidInput as exc:
        return _phone_form(request, 422, error=exc.errors[0].message, phone=phone)
    except ProviderError:
        return _phone_form(
            request, 503, error="We could not send the SMS just now. Try again in a minute.", phone=phone
        )
    clean = normalise_phone(phone)  # request_code took it: it reads as a phone
    if asked.expires_in == 0:
        # Nothing was sent (asked again within the resend wait, too many codes this hour, or locked after wrong
        # codes): the page says so and when to ask again, where it used to say a new code was on its way.
        wait = _wait_text(asked.resend_after)
        error = f"We did not send a new code. You can ask for another in {wait}."
        held = await _code_form(request, port, clean, 429, error)
        held.headers["Retry-After"] = str(asked.resend_after)
        _remember_phone(request, held, clean)
        return held
    sent = RedirectResponse(f"{_base(request)}/code", status_code=303)
    _remember_phone(request, sent, clean)
    return sent


def _remember_phone(request: Request, response: Response, phone: str) -> None:
    """The phone the code page is about, for `GET /code` (its own number: a cookie of this browser, HttpOnly,
    scoped to the flow, gone at sign-in). Never the code."""
    _set_cookie(request, response, PHONE_COOKIE, phone, "strict", PHONE_REMEMBERED)


async def apply_code(request: Request, port: BorrowerFlowPort) -> Response:
    """The code page (GET: a reload or the back button shows it again and sends nothing): the phone masked, how
    long the code still works, when a new one may be asked for. Without a phone to show, the phone form."""
    if await _signed_in(request, port) is not None:
        return RedirectResponse(f"{_base(request)}/next", status_code=303)
    phone = request.cookies.get(PHONE_COOKIE, "")
    try:
        clean = normalise_phone(phone)
    except InvalidInput:
        return RedirectResponse(_base(request), status_code=303)
    return await _code_form(request, port, clean, sent=True)


def _wait_text(seconds: int) -> str:
    """A wait as the code page says it: "25 seconds", "1 minute", "15 minutes" (rounded up)."""
    if seconds < 60:
        return f"{max(seconds, 1)} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


async def _code_form(
    request: Request,
    port: BorrowerFlowPort,
    phone: str,
    status: int = 200,
    error: str | None = None,
    sent: bool = False,
) -> HTMLResponse:
    """The code page for `phone`: `sent` says the code went out (the page after sending it), else it asks for the
    code sent before; both say how long the code works and when a new one may be asked for (read, nothing sent)."""
    try:
        code = await run_in_threadpool(port.onboarding.code_status, _brand(request), phone)
    except InvalidInput:  # no such brand, or not a phone: nothing to say about a code
        code = CodeRequest(expires_in=0, resend_after=0)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(
        request, "apply_code.html", status, csrf=csrf, phone=phone, masked=masked_phone(phone), error=error,
        sent=sent and code.expires_in > 0, expired=sent and code.expires_in == 0,
        works_for=_wait_text(code.expires_in) if code.expires_in > 0 else None,
        resend_after=code.resend_after, resend_wait=_wait_text(code.resend_after) if code.resend_after else None,
    )  # fmt: skip
    _set_cookie(request, response, CSRF_COOKIE, csrf, "strict")
    return response


def _set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    samesite: Literal["lax", "strict"],
    lifetime: timedelta | None = None,
) -> None:
    """One of the flow's cookies: HttpOnly, scoped to the flow's path, Secure behind HTTPS; `lifetime` None: the
    browser session's."""
    response.set_cookie(
        name,
        value,
        max_age=int(lifetime.total_seconds()) if lifetime is not None else None,
        httponly=True,
        samesite=samesite,
        secure=_secure(request),
        path=_base(request),
    )


def masked_phone(phone: str) -> str:
    """A phone as the code page shows it: its last four digits (`+91 ••••• •3210`)."""
    if phone.startswith("+91") and len(phone) == 13:
        return f"+91 ••••• •{phone[-4:]}"
    return "•" * max(len(phone) - 4, 0) + phone[-4:]


async def apply_verify(request: Request, port: BorrowerFlowPort) -> Response:
    if not _csrf_ok(request, request.cookies.get(CSRF_COOKIE)):
        return _expired(request)
    form = _form(request)
    phone, code = form.get("phone") or request.cookies.get(PHONE_COOKIE, ""), form.get("otp", "")
    try:
        signed = await run_in_threadpool(port.onboarding.sign_in, _brand(request), phone, code, remembered_utm(request))
    except Throttled as exc:
        wait = _wait_text(exc.retry_after)
        locked = await _code_form(request, port, phone, 429, f"Too many wrong codes. Try again in {wait}.")
        locked.headers["Retry-After"] = str(exc.retry_after)
        return locked
    except InvalidInput as exc:
        if any(e.field == "phone" for e in exc.errors):  # not a phone (a forged form): the phone form says why
            return _phone_form(request, 422, error=exc.errors[0].message, phone=phone)
        return await _code_form(request, port, phone, 422, exc.errors[0].message)
    response = RedirectResponse(f"{_base(request)}/next", status_code=303)
    # A week past the session: a form posted after it expired still names whose it was (`_keep_draft`).
    _set_cookie(request, response, COOKIE, signed.token, "lax", SESSION_LIFETIME + ENDED_SESSION_KNOWN)
    response.delete_cookie(CSRF_COOKIE, path=_base(request))
    response.delete_cookie(UTM_COOKIE, path=_base(request))
    response.delete_cookie(PHONE_COOKIE, path=_base(request))
    return response


async def apply_next(request: Request, port: BorrowerFlowPort) -> Response:
    """Where the borrower resumes: their next unfinished step, or the status page."""
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    principal, _token = signed
    draft = await _draft(request, port, principal)
    if draft is not None:  # signed in again after their session ended mid-step: back to that step, input kept
        return RedirectResponse(draft.target, status_code=303)
    state = await run_in_threadpool(port.onboarding.state, principal.brand_id, principal.borrower_id)
    if state.next_step is None or state.next_step not in FORM_STEPS:
        return RedirectResponse(f"{_base(request)}/status", status_code=303)
    return RedirectResponse(f"{_base(request)}/steps/{state.next_step.value}", status_code=303)


def _step(request: Request) -> Step | None:
    try:
        step = Step(str(request.path_params["step"]))
    except ValueError:
        return None
    return step if step in FORM_STEPS else None


async def _step_page(
    request: Request,
    port: BorrowerFlowPort,
    principal: BorrowerPrincipal,
    token: str,
    step: Step,
    values: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    restored: bool = False,
) -> Response:
    state = await run_in_threadpool(port.onboarding.state, principal.brand_id, principal.borrower_id)
    if values is None:
        values = prefill(
            step, await run_in_threadpool(port.onboarding.details, principal.brand_id, principal.borrower_id, step)
        )
    by_field: dict[str, str] = {}
    for error in errors or []:
        by_field.setdefault(field_of(step, error.field, values), error.message)
    required = [s.step for s in state.steps if s.required and s.step in FORM_STEPS]
    groups = FORMS[step]
    if step is Step.LOAN_REQUEST:
        page = await run_in_threadpool(port.products.products, principal.brand_id, True, None, None, 50)
        groups = loan_request_form(page.items)
    consent = None
    months_needed = None  # the statement step says which months its statements must cover
    if step is Step.AADHAAR:
        consent = {"provider": "digilocker", "label": "Fetch from DigiLocker"}
    elif step is Step.BANK_STATEMENT:
        rules = await run_in_threadpool(port.onboarding.brands.rules, principal.brand_id)
        if rules.account_aggregation:  # hidden when the brand does not take AA consent
            consent = {"provider": "account-aggregator", "label": "Share via Account Aggregator"}
        needed = required_months(rules.today(port.onboarding.clock.now()), rules.bank_statement_months)
        months_needed = {"count": len(needed), "first": needed[0].label(), "last": needed[-1].label()}
    return _page(
        request,
        "apply_step.html",
        422 if errors else 200,
        consent=consent,
        months_needed=months_needed,
        step=step,
        title=TITLES[step],
        groups=groups,
        multipart=bool(file_fields(step)),
        values=values,
        errors=by_field,
        summary=[summary_line(step, e, values) for e in errors or []],
        number=required.index(step) + 1 if step in required else None,
        total=len(required),
        optional=step not in required,
        next_step=state.next_step,
        sent_back=next((s.sent_back for s in state.steps if s.step is step), None),
        csrf=_session_csrf(token),
        restored=restored,
    )


async def apply_step_form(request: Request, port: BorrowerFlowPort) -> Response:
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    step = _step(request)
    if step is None:
        return _page(request, "apply_message.html", 404, title="Not found", message="There is no such step.")
    draft = await _draft(request, port, signed[0])
    if draft is None or draft.target != f"{_base(request)}/steps/{step.value}":
        return await _step_page(request, port, *signed, step)
    # What they typed before their session ended, given back once (to check and save: nothing is recorded for them).
    page = await _step_page(request, port, *signed, step, values=draft.fields, restored=True)
    await _forget_draft(request, port, page)
    return page


async def apply_step_save(request: Request, port: BorrowerFlowPort) -> Response:
    named = _step(request)
    signed = await _signed_form(request, port, f"{_base(request)}/steps/{named.value}" if named else None)
    if isinstance(signed, Response):
        return signed
    principal, token = signed
    step = _step(request)
    if step is None:
        return _page(request, "apply_message.html", 404, title="Not found", message="There is no such step.")
    form = _form(request)
    # The statement's months go with its file (the upload's period); any other error of an upload shows at the file.
    period = {"period_from": form.get("period_from"), "period_to": form.get("period_to")} if step_months(step) else {}
    for field in file_fields(step):
        upload = request.state.form.get(field.name)
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        data = await upload.read()
        try:
            form[f"{field.name}_document_id"] = await run_in_threadpool(
                _uploaded, port, principal, field.document, upload.filename, data, period
            )
        except InvalidInput as exc:
            errors = [FieldError(e.field if e.field in period else field.name, e.message) for e in exc.errors]
            return await _step_page(request, port, principal, token, step, form, errors)
        except DomainError as exc:
            return await _step_page(request, port, principal, token, step, form, [FieldError(field.name, exc.message)])
    try:
        given = STEP_INPUTS[step].model_validate(step_input(step, form))
    except ValidationError as exc:
        # Said in the borrower's words at each input, where pydantic's ("Input should be less than or equal to 31")
        # used to show; the tenure by the chosen product's range.
        tenure = await run_in_threadpool(_tenure_range, port, principal, form) if step is Step.LOAN_REQUEST else None
        return await _step_page(request, port, principal, token, step, form, plain_errors(step, exc, form, tenure))
    if isinstance(given, BankStatementIn) and given.method == "upload":
        # The step counts every statement the borrower sent (earlier attempts, the documents page), so a month
        # missing from one file is made good by uploading that month's statement, not one file covering them all.
        earlier = await run_in_threadpool(_earlier_statements, port, principal)
        ids = list(dict.fromkeys([*given.document_ids, *earlier]))[:MAX_STATEMENTS]
        given = given.model_copy(update={"document_ids": ids})

    def record() -> None:
        with acting_as(principal.actor):
            if isinstance(given, LoanRequestIn):  # the loan request is an application in the loans context
                port.onboarding.apply(principal.brand_id, principal.borrower_id, given)
            else:
                port.onboarding.record_step(principal.brand_id, principal.borrower_id, step, given)

    try:
        await run_in_threadpool(record)
    except InvalidInput as exc:
        return await _step_page(request, port, principal, token, step, form, exc.errors)
    except DuplicateCustomer as exc:  # never another record's id (or the value) to a borrower, as the API answers
        said = taken_for_borrower(exc)
        return await _step_page(request, port, principal, token, step, form, [FieldError("step", said.message)])
    except DomainError as exc:
        return await _step_page(request, port, principal, token, step, form, [FieldError("step", exc.message)])
    return RedirectResponse(f"{_base(request)}/next", status_code=303)


def _tenure_range(port: BorrowerFlowPort, principal: BorrowerPrincipal, form: dict[str, str]) -> str | None:
    """The tenure the product chosen on the loan request form takes ("from 3 to 12 months"), None when none is."""
    chosen = form.get("product_id", "")
    page = port.products.products(principal.brand_id, True, None, None, 50)
    product = next((p for p in page.items if str(p.id) == chosen), None)
    if product is None:
        return None
    return f"from {product.min_tenure} to {product.max_tenure} {product.tenure_unit}"


def _uploaded(
    port: BorrowerFlowPort,
    principal: BorrowerPrincipal,
    kind: str,
    filename: str,
    data: bytes,
    period: dict[str, str | None],
) -> str:
    """Store a file the borrower chose as their document (a statement with the months the form gives); the same
    file again is the document already stored."""
    with acting_as(principal.actor):
        try:
            result = port.onboarding.upload_document(
                principal.brand_id, principal.borrower_id, kind, filename, data, **period
            )
        except Conflict as exc:
            existing = exc.details.get("existing_id")
            if existing is None:
                raise
            return str(existing)
    return str(result.id)


#: The most statements a step lists (the step's own limit).
MAX_STATEMENTS = 12


def _earlier_statements(port: BorrowerFlowPort, principal: BorrowerPrincipal) -> list[UUID]:
    """The borrower's bank statements already sent and not rejected, newest first."""
    customer_id = port.onboarding.own_record(principal.brand_id, principal.borrower_id)
    if customer_id is None:  # no record of theirs yet (none, or one found by the PAN alone)
        return []
    return port.documents.queries.statement_ids(principal.brand_id, customer_id)


async def apply_status(request: Request, port: BorrowerFlowPort) -> Response:
    signed = await _signed_in(request, port)
    if signed is None:
        return RedirectResponse(_base(request), status_code=303)
    return await status_page(request, port, *signed)


async def status_page(
    request: Request,
    port: BorrowerFlowPort,
    principal: BorrowerPrincipal,
    token: str,
    status: int = 200,
    callback_error: str | None = None,
) -> Response:
    """The status page (with the callback form's refusal, when it has one)."""
    try:
        view = await run_in_threadpool(port.onboarding.borrower_view, principal.brand_id, principal.borrower_id)
    except BorrowerNotFound:
        return RedirectResponse(_base(request), status_code=303)
    state, application_id, own = view.state, view.application_id, view.own_record
    application = None
    pay_link = None
    tenure_unit = None  # "12 months" or "30 days": what the application's product counts
    if application_id is not None:
        application = await run_in_threadpool(port.loans.loan, principal.brand_id, application_id)
        if application is not None:
            product = await run_in_threadpool(
                port.products.version, principal.brand_id, application.product_id, application.product_version
            )
            tenure_unit = product.tenure_unit if product is not None else None
        if application is not None and str(application.status) in PAYABLE_OR_CLOSED:
            # The loan's own payment page (what due, paid, receipts, the certificate or letter), as reminders link it.
            pay_link = PayLinks.configured().url("", principal.brand_id, application.id, datetime.now(UTC))
    documents_missing = None  # documents belong to the record the personal step makes
    covenants = None  # so do covenants: how many records wait for the borrower's proof, when they have any
    if own is not None:  # not a record found by the PAN alone: that shows its borrower nothing of what it holds
        detail = await run_in_threadpool(port.documents.checklist_detail, principal.brand_id, own)
        documents_missing = len(detail.to_upload)
        theirs = await run_in_threadpool(port.covenants.of_borrower, principal.brand_id, own)
        covenants = sum(c.awaiting_proof for c in theirs) if theirs else None
    offers = await run_in_threadpool(port.reloans.offers, principal.brand_id, principal.borrower_id)
    callbacks = await run_in_threadpool(port.callback_queries.of_borrower, principal.brand_id, principal.borrower_id, 1)
    open_callback = next((c for c in callbacks if c.status == "open"), None)
    callback_due = None  # a follow-up: staff call again when the borrower asked, in the brand's time
    asked_on = None  # the day they asked, in the brand's time (in UTC a request at 01:00 IST read the day before)
    if open_callback is not None:
        rules = await run_in_threadpool(port.onboarding.brands.rules, principal.brand_id)
        asked_on = open_callback.requested_at.astimezone(ZoneInfo(rules.timezone)).strftime("%d %b %Y")
        if open_callback.due_at is not None:
            callback_due = local_time(open_callback.due_at, rules.timezone)
    return _page(
        request,
        "apply_status.html",
        status,
        open_callback=open_callback,
        callback_due=callback_due,
        callback_asked_on=asked_on,
        callback_error=callback_error,
        callback_saved=PENDING if request.query_params.get("saved") == "pending" else None,
        windows=CALLBACK_WINDOWS,
        funnel=state,
        done=state.status is FunnelStatus.COMPLETED,
        application=application,
        tenure_unit=tenure_unit,
        can_submit=state.next_step is Step.SUBMITTED and application is not None,
        csrf=_session_csrf(token),
        form_steps=FORM_STEPS,
        labels=LABELS,
        documents_missing=documents_missing,
        covenants_awaiting=covenants,
        pay_link=pay_link,
        reloan_offers=offers,
    )


#: How the status page's callback form names each time window.
CALLBACK_WINDOWS = {
    CallbackWindow.ANYTIME.value: "Any time",
    CallbackWindow.MORNING.value: "Morning (9 am to 12 noon)",
    CallbackWindow.AFTERNOON.value: "Afternoon (12 noon to 5 pm)",
    CallbackWindow.EVENING.value: "Evening (5 pm to 8 pm)",
}

#: The loan statuses whose status page links the loan's payment page: serviced, or closed after servicing.
PAYABLE_OR_CLOSED = frozenset(s.value for s in (*SERVICING, LoanStatus.COMPLETED, LoanStatus.SETTLED))


async def apply_submit(request: Request, port: BorrowerFlowPort) -> Response:
    """Submit the borrower's application through the BRE; the status page shows the outcome."""
    signed = await _signed_form(request, port)
    if isinstance(signed, Response):
        return signed
    principal, _ = signed

    def submit() -> None:
        application_id = port.onboarding.application_id(principal.brand_id, principal.borrower_id)
        if application_id is None:
            raise ValueError("no application yet")
        with acting_as(principal.actor):
            port.onboarding.submit_application(principal.brand_id, principal.borrower_id, application_id)

    def submitted() -> bool:
        """The funnel went through the submitted step (this tap lost to another, or the back button resent it)."""
        return port.onboarding.funnel(principal.brand_id, principal.borrower_id).status is FunnelStatus.COMPLETED

    try:
        await run_in_threadpool(submit)
    except (DomainError, ValueError) as exc:
        # A second tap, or the back button's resubmission, of a submit that went through is answered as the first
        # (the status page says it is submitted), not with "Not submitted" and a "Start again" link.
        if isinstance(exc, Conflict) and await run_in_threadpool(submitted):
            return RedirectResponse(f"{_base(request)}/status", status_code=303)
        message = exc.message if isinstance(exc, DomainError) else "there is no application to submit yet"
        return _page(request, "apply_message.html", 409, title="Not submitted", message=message)
    return RedirectResponse(f"{_base(request)}/status", status_code=303)


async def apply_reapply(request: Request, port: BorrowerFlowPort) -> Response:
    """Start a new application after the last one was rejected or cancelled, or the onboarding closed, from the day
    the brand's rejection cooldown is over (`Onboarding.reapply`); on to the next step. Before that day, or while an
    application is open, a page saying so (409) and nothing changes."""
    signed = await _signed_form(request, port)
    if isinstance(signed, Response):
        return signed
    principal, _ = signed

    def reapply() -> None:
        with acting_as(principal.actor):
            port.onboarding.reapply(principal.brand_id, principal.borrower_id)

    try:
        await run_in_threadpool(reapply)
    except Conflict as exc:
        day = exc.details.get("may_apply_from")
        message = f"You may apply again from {_day(str(day))}." if day else exc.message
        return _page(request, "apply_message.html", 409, title="You cannot apply again yet", message=message)
    return RedirectResponse(f"{_base(request)}/next", status_code=303)


def _day(iso: str) -> str:
    """A date as the flow shows it (30 Nov 2026)."""
    return date.fromisoformat(iso).strftime("%d %b %Y")


#: The answers a borrower gives a re-loan offer on the status page.
_OFFER_ACTIONS = frozenset({"accept", "decline"})
#: The offer's status once the borrower's answer is recorded.
_ANSWERED = {"accept": OfferStatus.APPROVED.value, "decline": OfferStatus.REJECTED.value}


async def apply_reloan_offer(request: Request, port: BorrowerFlowPort) -> Response:
    """Accept or decline (No thanks) the borrower's own re-loan offer, as the borrower API does; back to the status
    page once the offers' read model shows it (accepted: with the new application's status)."""
    signed = await _signed_form(request, port)
    if isinstance(signed, Response):
        return signed
    principal, _ = signed
    found = path_id(request, "offer_id")
    action = str(request.path_params["action"])
    if found is None or action not in _OFFER_ACTIONS:
        return _page(request, "apply_message.html", 404, title="Not found", message="There is no such offer.")
    offer_id = found
    reason = _form(request).get("reason") or None

    def answer() -> AcceptedOffer:
        with acting_as(principal.actor):
            if action == "accept":
                return port.reloans.accept(principal.brand_id, principal.borrower_id, offer_id)
            return AcceptedOffer(port.reloans.decline(principal.brand_id, principal.borrower_id, offer_id, reason))

    try:
        result = await run_in_threadpool(answer)
    except NotFound:
        return _page(request, "apply_message.html", 404, title="Not found", message="There is no such offer.")
    except Conflict as exc:
        # The same answer already recorded (a second tap, the back button resending the form) lands on the status
        # page like the first, as a repeated submit does; another answer, or an offer closed otherwise, is a 409.
        status = await run_in_threadpool(lambda: port.reloans.desk.offers.get(principal.brand_id, offer_id).status)
        if str(status) == _ANSWERED[action]:
            return RedirectResponse(f"{_base(request)}/status#reloan-offers", status_code=303)
        return _page(request, "apply_message.html", 409, title="This offer is no longer open", message=exc.message)
    except DomainError as exc:  # the product no longer lends this loan (422 naming the field)
        return _page(request, "apply_message.html", 422, title="We could not start this loan",
                     message=error_text(exc))  # fmt: skip
    target = f"{_base(request)}/status#reloan-offers"  # it shows the application's status: its submission too
    if result.next_step in FORM_STEPS:  # the brand asks for their income and bank statement again first
        target = f"{_base(request)}/steps/{result.next_step.value}"
    return await after_write(
        request, ReloanOffers.name, result.result.position, target, also=((Loans.name, result.loans_position),)
    )


async def apply_sign_out(request: Request, port: BorrowerFlowPort) -> Response:
    signed = await _signed_in(request, port)
    if signed is not None:
        if not _csrf_ok(request, _session_csrf(signed[1])):
            return _expired(request)
        await run_in_threadpool(port.onboarding.sign_out, signed[1])
    response = RedirectResponse(_base(request), status_code=303)
    response.delete_cookie(COOKIE, path=_base(request))
    return response


PAGES = pages(
    BorrowerFlowPort,
    [
        PublicPage("GET", "/apply/{brand}", apply_start),
        PublicPage("POST", "/apply/{brand}/otp", apply_send_code),
        PublicPage("GET", "/apply/{brand}/code", apply_code),
        PublicPage("POST", "/apply/{brand}/session", apply_verify),
        PublicPage("GET", "/apply/{brand}/next", apply_next),
        PublicPage("GET", "/apply/{brand}/steps/{step}", apply_step_form),
        PublicPage("POST", "/apply/{brand}/steps/{step}", apply_step_save, upload_bytes=UPLOAD.max_bytes),
        PublicPage("GET", "/apply/{brand}/status", apply_status),
        PublicPage("POST", "/apply/{brand}/submit", apply_submit),
        PublicPage("POST", "/apply/{brand}/reapply", apply_reapply),
        PublicPage("POST", "/apply/{brand}/reloan-offers/{offer_id}/{action}", apply_reloan_offer),
        PublicPage("POST", "/apply/{brand}/sign-out", apply_sign_out),
    ],
    refused_input,
)

__all__ = ["PAGES", "UUID", "BorrowerFlowPort", "refused_input"]
