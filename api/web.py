"""The staff portal's shell: templates, declared pages (session, permission, CSRF, input checks), navigation,
sign-in and sign-out.

A context's page module declares its pages like its route module declares endpoints:

    PAGES = pages(BlocklistPort, [Page("GET", "/blocklist", blocklist_page, (Permission.BLOCKLIST, Level.READ)), ...])

Each handler takes `(request, port, principal)` and returns a response, usually `render(request, "x.html", ...)`.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote, urlparse, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Match, Route

from api import endpoint, form_once
from api.auth import SESSION_COOKIE, session_principal
from api.form_once import submit_once
from api.ports import Gate, Services
from domain.covenants.schedule import FREQUENCY_WORDS
from domain.covenants.status import UNSENT_WORDS
from domain.documents.content import DOCUMENT_WORDS
from domain.identity.authentication import AccountLocked
from domain.identity.permissions import Permission, Required, required_words
from domain.identity.principal import AuthenticationFailed, Principal
from domain.onboarding.steps import STEP_WORDS
from domain.shared.aggregate import acting_as
from domain.shared.clock import DEFAULT_TIMEZONE
from domain.shared.errors import Conflict, DomainError, InvalidInput, InvalidValue
from domain.shared.rupees import rupees
from domain.shared.values import text_problem
from projections.keyset import InvalidCursor
from projections.keyset import Page as ListPage

P = TypeVar("P")
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
templates.globals.update(form_once.template_globals())

#: What a list page says when its link carries a cursor the list did not make.
STALE_LINK = "That page link was edited or is out of date, so this is the first page of the list."


def display_phone(e164: str | None) -> str:
    """Indian numbers grouped as staff write them (+91 98765 43210); others as stored."""
    if e164 and e164.startswith("+91") and len(e164) == 13:
        return f"+91 {e164[3:8]} {e164[8:]}"
    return e164 or "—"


def local_time(instant: datetime | None, tz: str = DEFAULT_TIMEZONE, fmt: str = "%d %b %Y %H:%M") -> str:
    """An instant in the brand's timezone, e.g. `22 Nov 2026 07:18 IST`."""
    if instant is None:
        return "—"
    local = instant.astimezone(ZoneInfo(tz))
    return f"{local.strftime(fmt)} {local.tzname()}"


def day(value: date | str | None) -> str:
    """A date (or an ISO date string, as history details keep them) as staff read it, e.g. `28 Nov 2026`: the
    portal's house date format (`| day`), beside `| local` for instants."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d %b %Y")
        except ValueError:
            return value
    return value.strftime("%d %b %Y") if value else "—"


#: An amount as a loan event's reason text writes it (plain digits, the API's spelling: `40000.00`).
_AMOUNT = r"(-?\d+\.\d{2})"
#: The reasons the loans context writes around an amount (domain/loans): only these amounts are money. A remark
#: after them is the person's own text and its figures are left as typed.
_MONEY_REASONS = tuple(
    re.compile(pattern)
    for pattern in (
        rf"^(approved ){_AMOUNT}( by the CX: )",
        rf"^(sanctioned ){_AMOUNT}(: )",
        rf"^(disbursed ){_AMOUNT}( \()",
        rf"^(repayment ){_AMOUNT}( \()",
        rf"^(penal charges of ){_AMOUNT}( waived: )",
        rf"^(written off \(){_AMOUNT}(\): )",
        rf"^(settlement of ){_AMOUNT}( paid in full; ){_AMOUNT}( waived)$",
    )
)
_ISO_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b(?!T)")


def event_reason(text: str | None) -> str:
    """A loan event's `reason` as staff read it: the amounts the loans context wrote into it as money (`approved
    ₹40,000.00 by the CX: ...`) and its ISO dates in the house format (`paid on 05 Dec 2026`). The event keeps its
    text (a fact); only the page formats it."""
    if not text:
        return ""
    for pattern in _MONEY_REASONS:
        found = pattern.match(text)
        if found is not None:
            parts = [rupees(p) if i % 2 == 1 else p for i, p in enumerate(found.groups())]
            text = "".join(parts) + text[found.end() :]
            break
    return _ISO_DATE.sub(lambda m: day(m.group(1)), text)


#: The code families whose words differ from their codes (`| words("step")`): each vocabulary lives beside its
#: domain's states, and a page names the family of what it shows. A loan's status on a pill or in a column is its
#: status name as the spec's lifecycle table and staff write it (`CX approved`, `SM approved`, `approved`): the
#: `loan` family adds no words of its own (STATUS_WORDS' `sanctioned` / `signed` are for sentences, a refusal or a
#: reason, where the name alone would not say what happened).
WORD_FAMILIES: Mapping[str, Mapping[str, str]] = {
    "loan": {},
    "step": {str(code): words for code, words in STEP_WORDS.items()},
    "frequency": {str(code): words for code, words in FREQUENCY_WORDS.items()},
    "document": {str(code): words for code, words in DOCUMENT_WORDS.items()},
    "unsent": {str(code): words for code, words in UNSENT_WORDS.items()},
}
#: Words a code spells that staff write in capitals (`pan_check` -> `PAN check`).
_CAPITAL_WORDS = {"pan": "PAN", "cx": "CX", "sm": "SM", "upi": "UPI", "emi": "EMI", "kyc": "KYC", "aadhaar": "Aadhaar"}


def code_words(code: object, family: str = "", capital: bool = False) -> str:
    """A status or another code as staff read it (`| words`): its family's words (WORD_FAMILIES: `form16_itr` ->
    `Form 16 or ITR`), else the code's own words (`not_reachable` -> `not reachable`, `pan` -> `PAN`); `capital` starts
    it with a capital letter (a list's first column, a menu). Nothing (None, an empty code) is empty text. Only for text: form values, classes and
    data attributes keep the code."""
    if code is None or code == "":
        return ""
    text = str(code)
    words = WORD_FAMILIES[family].get(text) if family else None
    if words is None:
        words = " ".join(_CAPITAL_WORDS.get(part, part) for part in text.replace("_", " ").split(" "))
    return words[:1].upper() + words[1:] if capital else words


templates.filters["phone"] = display_phone
templates.filters["event_reason"] = event_reason
templates.filters["day"] = day
templates.filters["words"] = code_words
templates.filters["local"] = local_time
# Every amount a page shows reads `₹12,34,567.50` (`| inr(paise=False)`: a whole offered or requested amount as
# `₹55,000`).
templates.filters["inr"] = rupees


@dataclass(frozen=True)
class NavItem:
    """An entry of the portal's top bar, shown to staff holding `permission` (None: everyone signed in; a tuple:
    any one of them, as "Approvals", which leads to whichever queue its holder may use)."""

    label: str
    path: str
    key: str  # what a page passes as `nav=` to mark it current
    permission: Permission | tuple[Permission, ...] | None
    order: int  # position in the bar, left to right

    def shown_to(self, principal: Principal) -> bool:
        """Whether the entry is in `principal`'s bar (each permission at READ, as the pages it leads to need)."""
        if self.permission is None:
            return True
        held = self.permission if isinstance(self.permission, tuple) else (self.permission,)
        return any(principal.holds(p) for p in held)


PageHandler = Callable[[Request, P, Principal], Awaitable[Response]]
PublicHandler = Callable[[Request, P], Awaitable[Response]]


@dataclass(frozen=True)
class Page(Generic[P]):
    """One portal page or form target: it needs a session, `permission` (None: any signed-in staff member) and, for
    a form (`form=True`), the session's CSRF token; every value of its address and form is checked like API input."""

    method: str
    path: str
    handler: PageHandler[P]
    permission: Required | None  # a permission at a level, or any one of several (a tuple) at that level
    form: bool = False
    port: type[P] | None = None
    upload_bytes: int | None = None  # a form with a file (multipart) of at most this many bytes
    cross_brand: bool = False  # only a cross-brand principal (Super Admin) may open it, as `Endpoint.cross_brand`

    @property
    def name(self) -> str:
        return self.handler.__name__

    def route(self) -> Route:
        return Route(self.path, self._serve, methods=[self.method], name=f"page_{self.name}")

    async def _serve(self, request: Request) -> Response:
        services: Services = request.app.state.services
        gate = services.port(Gate)
        token = request.cookies.get(SESSION_COOKIE)
        signed_in = await run_in_threadpool(_signed_in, gate, request, token) if token else None
        if signed_in is None:
            return RedirectResponse(f"/login?next={quote(_return_to(request), safe='/')}", status_code=303)
        principal, request.state.csrf, request.state.timezone = signed_in
        request.state.principal = principal
        if self.permission is not None and not principal.meets(self.permission):
            message = f"You need {required_words(self.permission)} ({self.permission[1].value}) for this page."
            return render(request, "error.html", 403, title="Forbidden", message=message)
        if self.cross_brand and not principal.cross_brand:
            message = "Only a Super Admin, who acts across brands, may use this page."
            return render(request, "error.html", 403, title="Forbidden", message=message)
        data = None
        if self.form:
            data = await request.form()
            if not hmac.compare_digest(str(data.get("csrf_token", "")), request.state.csrf or "-"):
                message = "The form's security token did not match. Reload the page and try again."
                return render(request, "error.html", 403, title="Form expired", message=message)
            request.state.form = data
        problem = input_problem(request, data)
        if problem is not None:
            return render(request, "error.html", 422, title="Cannot use this input", message=problem)
        port = services.port(self.port) if self.port is not None else cast(P, services)
        if data is None:
            return await self.handler(request, port, principal)
        acting = principal
        return await submit_once(
            request, gate.ops, acting.brand_id, acting.actor, data, lambda: self.handler(request, port, acting),
            lambda: error_page(request, 409, "Still being submitted", STILL_SUBMITTING),
        )  # fmt: skip


#: What a repeat of a form whose first post is still running says (`form_once`).
STILL_SUBMITTING = (
    "This form was just submitted and is still being processed (a provider may be slow). Nothing more was done: "
    "open the page again in a moment to see the result before submitting it again."
)


@dataclass(frozen=True)
class PublicPage(Generic[P]):
    """A page anyone may open (sign-in, accepting an invite); its address and form are checked like any input."""

    method: str
    path: str
    handler: PublicHandler[P]
    port: type[P] | None = None
    upload_bytes: int | None = None  # a form with a file (multipart) of at most this many bytes
    #: How the page says its address or form cannot be used (`input_problem`), in the look of the people who open
    #: it (the borrower flow's own page); None: the portal's error page.
    refused: Callable[[Request, str], Response] | None = None

    @property
    def name(self) -> str:
        return self.handler.__name__

    def route(self) -> Route:
        return Route(self.path, self._serve, methods=[self.method], name=f"page_{self.name}")

    async def _serve(self, request: Request) -> Response:
        services: Services = request.app.state.services
        data = await request.form() if self.method == "POST" else None
        if data is not None:
            request.state.form = data
        problem = input_problem(request, data)
        if problem is not None:
            if self.refused is not None:
                return self.refused(request, problem)
            return render(request, "error.html", 422, title="Cannot use this input", message=problem)
        port = services.port(self.port) if self.port is not None else cast(P, services)
        return await self.handler(request, port)


def pages(
    port: type[P],
    declared: Sequence[Page[P] | PublicPage[P]],
    refused: Callable[[Request, str], Response] | None = None,
) -> list[Page[P] | PublicPage[P]]:
    """The pages of one page module, each served with `port` (the public ones saying unusable input by `refused`,
    when given)."""
    return [
        replace(p, port=port, refused=refused) if isinstance(p, PublicPage) and refused else replace(p, port=port)
        for p in declared
    ]


def keyset_page(request: Request, load: Callable[[str | None], ListPage]) -> ListPage:
    """One page of a list for a portal page: from the link's `cursor`, or (saying so on the page, status 422) the
    first page when the cursor was not made by this list. Call it from the worker thread that loads the page."""
    cursor = request.query_params.get("cursor") or None
    if cursor is None:
        return load(None)
    try:
        return load(cursor)
    except InvalidCursor:
        request.state.notice = STALE_LINK
        return load(None)


def input_problem(request: Request, form: FormData | None = None) -> str | None:
    """What makes a page's address or form unusable (a NUL, a control or bidi-override character in a parameter,
    a path segment or a form field), said for the person who sent it; None when nothing does."""
    sources: list[tuple[str, list[tuple[str, Any]], bool]] = [
        ("The address", request.query_params.multi_items(), False),
        ("The address", list(request.path_params.items()), False),
        ("The form", form.multi_items() if form is not None else [], True),
    ]
    for where, items, multiline in sources:
        for name, value in items:
            if not isinstance(value, str):
                continue  # an uploaded file
            problem = text_problem(name, multiline=False) or text_problem(value, multiline=multiline)
            if problem is not None:
                shown = name.encode("unicode_escape", "backslashreplace").decode("ascii")[:40]
                return f"{where} has a value that cannot be used: “{shown}” {problem}. Remove it and try again."
    return None


#: Form fields a re-rendered form never gets back as typed: the CSRF token (the page writes the session's own) and
#: secrets (a password and its repeat, a one-time code, an API token).
NEVER_KEPT = frozenset({"csrf_token", form_once.FIELD, "password", "confirm", "otp"})
_SECRET_PARTS = ("password", "secret", "token", "otp")


class TypedForm:
    """What staff typed into a refused form, for the page re-rendered with the refusal to fill that form again:
    `typed.remarks` is the field as posted ("" when absent), `typed.getlist("ids")` every value of a multi-valued
    field (ticked boxes), `typed` is false when the page was not re-rendered for that form. Never holds the CSRF
    token or a secret (NEVER_KEPT); the template's autoescape escapes what it echoes."""

    def __init__(self, fields: dict[str, list[str]] | None = None) -> None:
        self._fields = fields or {}

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __bool__(self) -> bool:
        return bool(self._fields)

    def get(self, name: str, default: str = "") -> str:
        """The field's (first) value as typed, `default` when it was not posted."""
        values = self._fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        """Every value posted for the field (each ticked box of a group)."""
        return list(self._fields.get(name, ()))


def kept_field(name: str) -> bool:
    """Whether a posted field may be given back as typed: never the CSRF token or a secret (NEVER_KEPT)."""
    lowered = name.lower()
    return lowered not in NEVER_KEPT and not any(part in lowered for part in _SECRET_PARTS)


def typed_forms(request: Request, status: int) -> Callable[[str], TypedForm]:
    """`kept(action)` for a page's templates: the fields of the form posted to `action` (its path; a query string is
    ignored) when this page answers that post with a refusal (status 4xx/5xx), so staff do not type it all again;
    an empty TypedForm for every other form of the page, and on any page that is not a refused post."""
    form: FormData | None = getattr(request.state, "form", None)
    if request.method != "POST" or status < 400 or form is None:
        return lambda action: TypedForm()
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and kept_field(name):  # an uploaded file is never sent back
            fields.setdefault(name, []).append(value)
    posted = request.url.path

    def kept(action: str) -> TypedForm:
        return TypedForm(fields) if urlsplit(action).path == posted else TypedForm()

    return kept


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template with the signed-in staff member, the navigation they may use, the CSRF token and the
    brand's timezone (422 when the page fell back to a list's first page); a refused form post re-rendering its page
    gives the templates `kept(action)`, what was typed into that form (typed_forms)."""
    if status == 200 and getattr(request.state, "notice", None):
        status = 422
    context.setdefault("kept", typed_forms(request, status))
    if request.query_params.get("saved") == "pending":
        request.state.info = PENDING
    tz = getattr(request.state, "timezone", DEFAULT_TIMEZONE)
    principal: Principal | None = context.get("principal") or getattr(request.state, "principal", None)
    context.setdefault("principal", principal)
    nav: Sequence[NavItem] = getattr(request.app.state, "nav", ())
    shown = [item for item in nav if principal is not None and item.shown_to(principal)]
    html = templates.get_template(name).render(request=request, tz=tz, nav_items=shown, **context)
    return HTMLResponse(html, status_code=status)


async def act(principal: Principal, work: Callable[[], T]) -> T:
    """Run a use case in a worker thread as the signed-in staff member (its events record them as the actor)."""

    def run() -> T:
        with acting_as(principal.actor):
            return work()

    return await run_in_threadpool(run)


#: What a page says when the change it just made is not in its read model yet (the write itself succeeded).
PENDING = "Saved. It can take a few seconds to show here; reload the page if it is missing."


async def after_write(
    request: Request, source: str, position: int, target: str, also: tuple[tuple[str, int], ...] = ()
) -> Response:
    """A redirect to `target` once the read models of `source` show a write at `position` (and those of each
    `(source, position)` in `also`, a write of another context the page shows); when they are still behind after
    the bound, `target` says so (`?saved=pending`) rather than showing stale data as if it were all."""
    services: Services = request.app.state.services
    # The API's bound (read when called, so one setting governs both the API's 202 and the portal's `saved=pending`).
    bound = endpoint.READ_YOUR_WRITES_SECONDS
    settled = True
    for waited, at in ((source, position), *also):
        if at > 0:
            settled = await run_in_threadpool(services.engine.wait_for, waited, at, bound) and settled
    if not settled:  # (before a `#fragment`, which must stay last)
        path, mark, fragment = target.partition("#")
        target = path + ("&" if "?" in path else "?") + "saved=pending" + mark + fragment
    return RedirectResponse(target, status_code=303)


async def caught_up(request: Request, source: str) -> None:
    """Wait (the API's bound at most) for the read models of `source` to show every write made so far: a page
    refusing a stale form then shows the record as the write that made it stale left it."""
    services: Services = request.app.state.services
    engine = services.engine
    await run_in_threadpool(lambda: engine.wait_for(source, engine.head(source), endpoint.READ_YOUR_WRITES_SECONDS))


def refusal_status(exc: DomainError) -> int:
    """The status of a page refusing a form: 409 for a conflict (already decided, saved by someone else meanwhile),
    422 for any other refusal (the page shows `error_text`)."""
    return 409 if isinstance(exc, Conflict) else 422


def changed_since(what: str, now: str) -> str:
    """The refusal of an edit form posted with the version it was opened at after someone else saved the record
    (409): in words, with the record's value as it is now (`now`); the form keeps what was typed and carries the
    current version, so saving again puts the typed values in place of that value."""
    return (
        f"Someone else changed {what} since you opened it, so nothing was saved. It is now: {now}. "
        "What you typed is kept in the form: save again to put it in place of the current value."
    )


def error_text(exc: DomainError) -> str:
    """A domain error as one line a person can act on (each invalid field named)."""
    if isinstance(exc, InvalidInput):
        return "; ".join(f"{e.field.replace('_', ' ')}: {e.message}" for e in exc.errors)
    return exc.message


def as_id(raw: str | None) -> UUID | None:
    """A query parameter's or a form field's text as a record id, or None when it is empty or not one."""
    try:
        return UUID(raw) if raw else None
    except ValueError:
        return None


def path_id(request: Request, name: str) -> UUID | None:
    """The path parameter `name` as a record id, or None when it is not one (the page answers 404)."""
    return as_id(str(request.path_params[name]))


def form_text(request: Request, name: str, default: str = "") -> str:
    """A form field of a page declared with `form=True`, as text ("" or `default` when absent)."""
    form: FormData = request.state.form
    value = form.get(name, default)
    return value if isinstance(value, str) else default


def form_instant(request: Request, name: str) -> datetime | None:
    """A form's date and time picker (`<input type="datetime-local">`) as an instant: the picker's local time is the
    brand's timezone (an offset written with it is kept); None when left empty; InvalidValue naming the field when it
    is no date and time. The use case checks the rest (to come, how far ahead)."""
    raw = form_text(request, name).strip()
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(name, "use the date and time picker") from None
    if at.tzinfo is None:  # the picker's local time, in the brand's timezone
        at = at.replace(tzinfo=ZoneInfo(getattr(request.state, "timezone", DEFAULT_TIMEZONE)))
    return at


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The portal's error page."""
    return render(request, "error.html", status, title=title, message=message)


async def not_found(request: Request) -> Response:
    """The portal's 404 page (also for another brand's records)."""
    return error_page(request, 404, "Not found", "There is nothing here, or it belongs to another brand.")


#: The brand a cross-brand staff member (a Super Admin) acts within on the portal, chosen on `/brands`.
ACTING_BRAND_COOKIE = "cd_acting_brand"


def acting_within(gate: Gate, request: Request, principal: Principal) -> Principal:
    """The principal within the brand the acting-brand cookie names, when it may act there (a cross-brand principal,
    an existing brand); anyone else, or a cookie naming no brand, stays in their own brand (the cookie is a
    preference: `Principal.within` is what allows it)."""
    raw = request.cookies.get(ACTING_BRAND_COOKIE)
    if not raw or not principal.cross_brand:
        return principal
    try:
        brand_id = UUID(raw.strip())
        gate.identity.brand(brand_id)
    except (ValueError, DomainError):
        return principal
    acting = principal.within(brand_id)
    if acting is not principal:
        request.state.acting_brand = gate.identity.brand(brand_id).name
    return acting


def _signed_in(gate: Gate, request: Request, token: str) -> tuple[Principal, str, str] | None:
    """The page's caller: the principal of the session `token` within the brand they act in, the session's CSRF token
    and that brand's timezone (None: no live session of an enabled staff user). One read of the session, in one
    thread-pool call (a page read its session twice, in four calls)."""
    found = session_principal(gate, token)
    if found is None:
        return None
    principal, session = found
    acting = acting_within(gate, request, principal)
    return acting, session.csrf_token, gate.identity.timezone(acting.brand_id)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _return_to(request: Request) -> str:
    """Where signing in sends staff back to when their session is gone: the page asked for, with its query (a report's
    filters); for a form posted after the session expired, the nearest page at or above the form's action
    (`/loans/{id}/repayments` -> `/loans/{id}`), since the action answers POST only and was a 405 after sign-in."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    path = request.url.path.rstrip("/")
    while path:
        if _is_page(request, path):
            return path
        path = path.rsplit("/", 1)[0]
    return "/dashboard"


def _is_page(request: Request, path: str) -> bool:
    """Whether a portal page answers GET at `path`."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.name.startswith("page_") and route.matches(scope)[0] is Match.FULL:
            return True
    return False


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/dashboard"
    return target


async def login_form(request: Request, gate: Gate) -> Response:
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")), error=None, email="")


def _cross_site(request: Request) -> bool:
    """Whether a browser sent the form from another site. `Sec-Fetch-Site` says so where the browser sends it (every
    current one): anything but `same-origin` or `none` (typed, a bookmark) is another site's, a sibling subdomain's
    (`same-site`) included. Else its `Origin` (else `Referer`) naming another host than the one asked (`Host`, or
    behind a proxy `X-Forwarded-Host`). `null` says nothing: our pages' `Referrer-Policy: no-referrer` makes a browser
    send it for our own form. A client sending none of these (a script) is not a browser's cross-site form."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() not in ("same-origin", "none")
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return False
    asked = {request.headers.get(h, "").split(",")[0].strip().lower() for h in ("host", "x-forwarded-host")}
    return urlparse(sent).netloc.lower() not in asked - {""}


async def login(request: Request, gate: Gate) -> Response:
    data: FormData = request.state.form
    email = str(data.get("email", "")).strip()
    password = str(data.get("password", ""))
    target = _safe_next(str(data.get("next", "")))
    if _cross_site(request):
        # Login CSRF: another site's hidden form signing the victim in to the attacker's account, so what they then
        # type (a borrower's details, a note) lands in it. The sign-in form has no session to bind a token to yet.
        message = "This sign-in came from another site. Open the sign-in page here and sign in again."
        return render(request, "login.html", 403, next="/dashboard", error=message, email="")
    ip = request.client.host if request.client else None
    try:
        principal = await run_in_threadpool(
            gate.identity.authenticate_staff, email, password, ip, request.headers.get("user-agent")
        )
    except AccountLocked as exc:
        # Unknown and known emails are throttled alike, so this answer says nothing about the account.
        retry_after = int(str(exc.details.get("retry_after", 60)))
        minutes = max(1, round(retry_after / 60))
        message = f"Too many failed sign-ins. Try again in about {minutes} minute{'s' if minutes > 1 else ''}."
        locked = render(request, "login.html", 429, next=target, error=message, email=email)
        locked.headers["Retry-After"] = str(retry_after)
        return locked
    except AuthenticationFailed:
        return render(request, "login.html", 401, next=target, error="Invalid email or password.", email=email)
    token, _session = await run_in_threadpool(
        gate.ops.create_session,
        principal.id,
        principal.brand_id,
        gate.clock.now(),
        ip,
        request.headers.get("user-agent"),
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=8 * 3600, httponly=True, samesite="lax", secure=_secure(request), path="/"
    )
    return response


async def logout(request: Request, gate: Gate, principal: Principal) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await run_in_threadpool(gate.ops.end_session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def home(request: Request, gate: Gate) -> Response:
    return RedirectResponse("/dashboard", status_code=303)


SHELL_PAGES: list[Page[Gate] | PublicPage[Gate]] = pages(
    Gate,
    [
        PublicPage("GET", "/", home),
        PublicPage("GET", "/login", login_form),
        PublicPage("POST", "/login", login),
        Page("POST", "/logout", logout, None, form=True),
    ],
)
