"""The cross-brand write probe: brand A holds a whole book (tests/e2e/brand_book.py); brand B's staff, every role
signed in to the portal, send every state-changing operation of /openapi.json and every portal form the app declares
(its router's `Page`s, so a new route is probed the day it lands) with A's ids -- in the path, and in the id fields of
the body (a payout file of A's loans, a message to A's borrower, A's staff as an assignee). Portal forms are sent as
A's own pages hold them (every POST form of A's pages, its fields as the page fills them), and once with just the CSRF
token. No answer may be a success, a redirect to a success, a server error or hold any of A's markers, and A's records
must not move: no event is recorded while B probes. Then A's admin opens every GET page and GET operation over A's
book: no GET records an event.

So the probe cannot pass by never reaching a handler, A's own admin sends the same forms and must see most of them
reach their handler (a success or a refused input, not a 404)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.permissions import ROLES, Level, Permission, grants_meet, role_grants
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.brand_book import JPEG, PASSWORD, Book, build_book
from tests.e2e.test_servicing_api import PenalCatalogue
from tests.support import settle

#: Path parameters that are not record ids: what they are filled with.
NAMED = {"name": "loan-cob", "version": "1", "check": "pan", "action": "approve", "provider": "account_aggregator"}
#: Values a field of that name takes (so the handler gets past its input checks to the record).
PLAUSIBLE = {
    "mode": "upi", "rule": "CREDIT_SCORE", "result": "pass", "reason_code": "LOW_SALARY", "month": "2026-02",
    "period": "2026-02", "vpa": "probe@upi", "extension": "2199", "account_number": "50100012345678",
    "ifsc": "HDFC0001234", "code": "PROBE50", "loan_number": "SML0000000001", "reason": "probe reason",
    "remarks": "probe remarks", "justification": "probe justification", "outcome": "promised_to_pay",
    "latitude": "13.08", "longitude": "80.27", "reference": "UTRPROBE1", "utr": "UTRPROBE1", "email": "p@probe.in",
    "name": "Probe Name", "phone": "9811122233", "text": "probe note", "title": "probe title", "amount": "100.00",
}  # fmt: skip
#: Answers a cross-brand write may get: not found, forbidden, and (for a form or body the handler refuses before it
#: looks the record up) a refused input; 405 for a path another method serves.
REFUSED = {403, 404, 405, 409, 422}


#: What signing B's staff in records (their own records, not A's).
SIGN_INS = {"domain.identity.staff:StaffUser.LoggedIn"}


@dataclass
class Probe:
    """What the probe asked and what went wrong."""

    asked: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_url: dict[tuple[str, str], int] = field(default_factory=dict)
    wrong: list[tuple[str, str, str, int, str]] = field(default_factory=list)

    def check(self, who: str, method: str, url: str, answer: Any, markers: set[str]) -> None:
        self.asked += 1
        status = answer.status_code
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.by_url[(who, method + " " + url)] = status
        text = answer.content.decode("utf-8", errors="replace")
        sent = url + str(answer.request.read()[:20000])  # a refusal may name what it was asked
        leaked = sorted(m for m in markers if m in text and m not in sent)
        location = answer.headers.get("location", "")
        if status >= 500:
            self.wrong.append((who, method, url, status, text[:200]))
        elif status in (200, 201, 202, 204) or (status in (301, 302, 303, 307) and "/login" not in location):
            self.wrong.append((who, method, url, status, f"accepted: {location or text[:200]}"))
        elif status not in REFUSED and status not in (301, 302, 303, 307):
            self.wrong.append((who, method, url, status, text[:200]))
        elif leaked:
            self.wrong.append((who, method, url, status, f"holds A's {leaked[:5]}"))


def _ids(book: Book) -> dict[str, list[str]]:
    """Each path parameter's values from A's book (a few loans: pending, sanctioned, in a file, serviced, late)."""
    ids = book.ids
    loans = [ids[f"loan:{n}"] for n in ("pending", "sanctioned", "filed", "paid", "late")]
    return {
        "loan_id": loans, "customer_id": [ids["customer_id"]], "document_id": [ids["document_id"]],
        "bank_account_id": [ids["bank_account_id"]], "product_id": [ids["product_id"]],
        "coupon_id": [ids["coupon_id"]], "borrower_id": [ids["borrower_id"]], "file_id": [ids["file_id"]],
        "run_id": [ids["run_id"]], "covenant_id": [ids["covenant_id"]], "evaluation_id": [ids["evaluation_id"]],
        "source_id": [ids["source_id"]], "notice_id": [ids["notice_id"]], "visit_id": [ids["visit_id"]],
        "template_id": [ids["template_id"]], "message_id": [ids["message_id"]], "reminder_id": [ids["reminder_id"]],
        "import_id": [ids["import_id"]], "lead_id": [ids["lead_id"]], "repayment_id": [ids["repayment_id"]],
        "callback_id": [ids["callback_id"]], "call_id": [ids["call_id"]], "staff_id": [ids["staff_id"]],
        "request_id": [ids["request_id"]], "key_id": [ids["api_key"]], "entry_id": [ids["blocklist"]],
        "sha256": [ids["sha256"]], "contact_id": [ids["contact_id"]], "leave_id": [ids["leave_id"]],
        "mandate_id": [str(uuid.uuid4())], "offer_id": [str(uuid.uuid4())], "payment_id": [str(uuid.uuid4())],
        "aggregate_id": [ids["loan:late"]], "aggregate_type": ["Loan"], "slug": ["collections-overdue"],
        "phone": [book.main_phone], "token": ["no-such-token"],
    }  # fmt: skip


def _fill(path: str, values: dict[str, list[str]]) -> list[str]:
    """The path with each filling of its parameters from `values` (loans: each of the book's stages)."""
    names = re.findall(r"{(\w+)}", path)
    fillings: list[dict[str, str]] = [{}]
    for name in names:
        choices = [NAMED[name]] if name in NAMED else values[name]
        fillings = [f | {name: v} for f in fillings for v in choices]
    return [re.sub(r"{(\w+)}", lambda m, f=f: f[m.group(1)], path) for f in fillings]  # type: ignore[misc]


#: Body fields naming a record: filled with A's id of that kind (the rest from their schema).
_BODY_IDS = {
    "loan_id": "loan:late", "customer_id": "customer_id", "borrower_id": "customer_id", "staff_id": "staff_id",
    "agent_id": "staff:collection_executive", "assignee_id": "staff:collection_executive", "document_id": "document_id",
    "template_id": "template_id", "product_id": "product_id", "bank_account_id": "bank_account_id",
    "lead_id": "lead_id", "covenant_id": "covenant_id", "to_staff_id": "staff:collection_executive",
}  # fmt: skip


def _value(name: str, schema: dict[str, Any], components: dict[str, Any], ids: dict[str, str], depth: int = 0) -> Any:
    """A plausible value of `schema` for a field called `name` (A's id when it names a record)."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _value(name, options[0], components, ids, depth) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "array":
        item = _value(name.removesuffix("s"), schema.get("items", {}), components, ids, depth + 1)
        if name == "loan_ids":
            return [ids["loan:filed"], ids["loan:sanctioned"]]
        return [item] if item is not None else []
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return {}
        props = schema.get("properties", {})
        return {
            k: _value(k, v, components, ids, depth + 1) for k, v in props.items() if k in schema.get("required", [])
        }
    fmt = schema.get("format", "")
    if name in _BODY_IDS or fmt == "uuid":
        return ids[_BODY_IDS[name]] if name in _BODY_IDS else ids["loan:late"]
    if fmt == "date":
        return "2026-03-20"
    if fmt == "date-time":
        return "2026-12-20T10:00:00+05:30"
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if name in PLAUSIBLE:
        return PLAUSIBLE[name]
    return "100.00" if "amount" in name else f"probe {name}"


def _body(op: dict[str, Any], components: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Keyword arguments of a request holding a plausible body for `op`."""
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return {"json": _value("body", content["application/json"]["schema"], components, ids)}
    if "multipart/form-data" in content:
        schema = content["multipart/form-data"]["schema"]
        data, files = {}, {}
        for k, v in schema.get("properties", {}).items():
            if v.get("format") == "binary" or v.get("contentMediaType"):
                files[k] = ("door.jpg", JPEG, "image/jpeg")
            elif k in schema.get("required", []):
                data[k] = str(_value(k, v, components, ids))
        return {"data": data, "files": files or {"file": ("door.jpg", JPEG, "image/jpeg")}}
    return {}


def _allowed(role: str, op: dict[str, Any]) -> bool:
    needed = op.get("x-permission")
    if needed is None:
        return True
    granted = role_grants([role]).get(Permission(needed["permission"]))
    return granted is not None and granted.covers(Level(needed["level"]))


@dataclass(frozen=True)
class Form:
    """A POST form as one of A's pages holds it: its action and its fields (csrf_token left out)."""

    action: str
    fields: tuple[tuple[str, str], ...]
    upload: bool


def _forms(base: str, html: str) -> list[Form]:
    found = []
    for attributes, body in re.findall(r"<form([^>]*)>(.*?)</form>", html, flags=re.S):
        method = re.search(r'method="(\w+)"', attributes)
        if method is None or method.group(1).lower() != "post":
            continue
        action = re.search(r'action="([^"]*)"', attributes)
        target = urlsplit(urljoin(base, (action.group(1) if action else base).replace("&amp;", "&"))).path
        fields: dict[str, str] = {}
        for tag in re.findall(r"<(?:input|textarea|select)\b[^>]*>", body):
            name = re.search(r'name="([^"]+)"', tag)
            if name is None or name.group(1) == "csrf_token" or name.group(1) in fields:
                continue
            value = re.search(r'value="([^"]*)"', tag)
            fields[name.group(1)] = value.group(1) if value and value.group(1) else _guess(name.group(1), tag)
        for name, options in re.findall(r'<select\b[^>]*name="([^"]+)"[^>]*>(.*?)</select>', body, flags=re.S):
            chosen = re.findall(r'<option[^>]*value="([^"]+)"', options)
            if chosen:
                fields[name] = chosen[0]
        found.append(Form(target, tuple(fields.items()), 'type="file"' in body))
        for other in re.findall(r'formaction="([^"]+)"', body):  # a button posting the form elsewhere
            found.append(Form(urlsplit(urljoin(base, other)).path, tuple(fields.items()), 'type="file"' in body))
    return found


def _guess(name: str, tag: str) -> str:
    """A value for an empty field, from its type and name."""
    kind = re.search(r'type="(\w+)"', tag)
    kind_name = kind.group(1) if kind else "text"
    if kind_name == "date":
        return "2026-03-20"
    if kind_name == "number" or "amount" in name:
        return "100"
    if kind_name == "datetime-local":
        return "2026-12-20T10:00"
    return PLAUSIBLE.get(name, f"probe {name}")


def _session(app: Any, email: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    client.__enter__()
    signed = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/dashboard"})
    assert signed.status_code == 303, signed.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/dashboard").text)
    assert token is not None
    client.headers["X-CSRF-Token"] = token.group(1)
    return client, token.group(1)


def _head(platform: Any) -> dict[str, int]:
    """Each event store's last notification id."""
    return {name: app.recorder.max_notification_id() or 0 for name, app in platform.engine.applications.items()}


def _recorded_since(platform: Any, head: dict[str, int]) -> list[tuple[str, str, str]]:
    """The events recorded since `head`: (store, originator, topic)."""
    found = []
    for name, app in platform.engine.applications.items():
        start = head.get(name, 0) + 1
        for n in app.recorder.select_notifications(start=start, limit=1000):
            found.append((name, str(n.originator_id), n.topic))
    return found


def _declared_pages() -> list[Any]:
    from api.web import Page
    from workers.contexts import CONTEXTS
    from workers.platform import compose_web

    return [p for p in compose_web(CONTEXTS).pages if isinstance(p, Page)]


@pytest.fixture(scope="module")
def book(app: Any, platform: Any, provider_simulators: dict[str, Any]) -> Iterator[Book]:
    """Brand A's book (tag Qivrel), with the ids of a contact and a leave it holds."""
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = PenalCatalogue()
    built: Book | None = None
    try:
        with TestClient(app) as client:
            built = build_book(client, platform, provider_simulators["sms"], "Qivrel", 61)
            auth = built.tenant.auth
            late = built.ids["loan:late"]
            contact = client.post(f"/api/v1/loans/{late}/contacts", json={"outcome": "switched_off"}, headers=auth)
            assert contact.status_code == 201, contact.text
            built.ids["contact_id"] = contact.json()["contact_id"]
            staff = client.get(f"/api/v1/staff/{built.ids['staff_id']}", headers=auth).json()
            built.ids["leave_id"] = staff["leaves"][0]["id"]
        for source in platform.engine.applications:
            settle(platform, source)
        yield built
    finally:
        loans._catalogue = before
        if built is not None and built.simulator is not None:
            built.simulator.stop()


def test_brand_b_changes_nothing_of_brand_a_by_any_form_or_operation(app: Any, platform: Any, book: Book) -> None:
    started = time.monotonic()
    values = _ids(book)
    markers = book.markers() - {"Qivrel".lower()}
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    operations = [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if path.startswith("/api/") and method != "get" and op.get("security") != [] and not op.get("x-borrower")
        and not op.get("x-cross-brand")
    ]  # fmt: skip
    # A's forms, as A's admin's pages hold them (every declared GET page over A's book).
    # A's forms, as A's admin's pages hold them (every declared GET page over A's book); no GET, of a page or of the
    # API, records anything.
    admin, _ = _session(app, book.staff_emails["admin"])
    forms: dict[tuple[str, tuple[str, ...]], Form] = {}
    head = _head(platform)
    gets = 0
    try:
        for page in _declared_pages():
            if page.method != "GET" or page.cross_brand:
                continue
            for url in _fill(page.path, values):
                answer = admin.get(url)
                gets += 1
                if "html" in answer.headers.get("content-type", ""):
                    for form in _forms(url, answer.text):
                        forms.setdefault((form.action, tuple(sorted(k for k, _ in form.fields))), form)
        for path, ops in doc["paths"].items():
            if "get" in ops and path.startswith("/api/") and not ops["get"].get("x-borrower"):
                for url in _fill(path, values):
                    assert admin.get(url).status_code < 500, url
                    gets += 1
    finally:
        admin.__exit__(None, None, None)
    recorded = [e for e in _recorded_since(platform, head) if e[2] not in SIGN_INS]
    assert recorded == [], recorded[:10]
    a_ids = {v for k, v in book.ids.items() if k != "brand_id" and "token" not in k}
    # Only what names one of A's records: the rest (a new customer of B's own, B's job run) is B's to do.
    operations = [
        (method, path, op) for method, path, op in operations
        if set(re.findall(r"{(\w+)}", path)) - set(NAMED) or a_ids & set(re.findall(r"[0-9a-f-]{36}", str(_body(op, components, book.ids))))
    ]  # fmt: skip
    forms = {k: f for k, f in forms.items() if any(i in f.action or i in str(f.fields) for i in a_ids)}
    posts = [
        p for p in _declared_pages()
        if p.method == "POST" and not p.cross_brand and set(re.findall(r"{(\w+)}", p.path)) - set(NAMED)
    ]  # fmt: skip
    assert len(forms) >= 50 and len(operations) >= 100, (len(forms), len(operations))

    b = make_tenant(platform)
    emails = {}
    for role in ROLES:
        if role == "super_admin":
            continue  # acts across brands by design (docs/architecture.md, "Brand isolation")
        email = f"{role.replace('_', '-')}.{uuid.uuid4().hex[:6]}@brand-b.in"
        platform.get(Identity).create_staff(b.brand_id, email, f"B {role}", [role], PASSWORD, granter=OPERATOR)
        emails[role] = email
    settle(platform, "identity")

    probe = Probe()
    head = _head(platform)
    for role, email in emails.items():
        grants = role_grants([role])
        client, csrf = _session(app, email)
        try:
            for method, path, op in operations:
                if not _allowed(role, op):
                    continue  # the gate refuses it before any id is read (tests/e2e/test_access_matrix.py)
                for url in _fill(path, values):
                    probe.check(
                        role, method, url, client.request(method, url, **_body(op, components, book.ids)), markers
                    )
            for page in posts:
                if page.permission is not None and not grants_meet(grants, page.permission):
                    continue
                for url in _fill(page.path, values):
                    probe.check(role, "POST", url, client.post(url, data={"csrf_token": csrf}), markers)
            for form in forms.values():
                data = dict(form.fields) | {"csrf_token": csrf}
                extra = {"files": {"file": ("door.jpg", JPEG, "image/jpeg")}} if form.upload else {}
                probe.check(role, "POST", form.action, client.post(form.action, data=data, **extra), markers)
        finally:
            client.__exit__(None, None, None)
        recorded = [e for e in _recorded_since(platform, head) if e[2] not in SIGN_INS]
        assert recorded == [], (role, recorded[:10])
    # Not vacuous: A's own admin, sending the same, reaches the handlers (an answer other than 404 to most).
    control = Probe()
    admin, csrf = _session(app, book.staff_emails["admin"])
    try:
        for method, path, op in operations:
            for url in _fill(path, values):
                answer = admin.request(method, url, **_body(op, components, book.ids))
                control.by_url[("A", f"{method} {url}")] = answer.status_code
        for form in forms.values():
            extra = {"files": {"file": ("door.jpg", JPEG, "image/jpeg")}} if form.upload else {}
            answer = admin.post(form.action, data=dict(form.fields) | {"csrf_token": csrf}, **extra)
            control.by_url[("A", f"POST {form.action}")] = answer.status_code
    finally:
        admin.__exit__(None, None, None)
    reached = [u for (_, u), s in control.by_url.items() if s != 404]
    assert len(reached) > 0.85 * len(control.by_url), (len(reached), len(control.by_url))
    # ... where B's admin, sending the same, was told 404 or refused the A id its body named (422).
    assert all(probe.by_url[("admin", u)] in (404, 405, 422) for u in reached), "B reached A's records"
    elapsed = time.monotonic() - started
    print(f"\ncross-brand writes: {probe.asked} requests ({len(operations)} operations, {len(posts)} form targets, "
          f"{len(forms)} of A's forms) by {len(emails)} roles, {gets} GETs by A's admin, {elapsed:.1f} s: "
          f"{probe.statuses}")  # fmt: skip
    assert probe.wrong == [], probe.wrong[:30]
