"""The brand-leak content sweep: brand A holds a whole book (tests/e2e/brand_book.py); brand B, with a book of its
own, reads everything it can -- every GET operation of /openapi.json with every staff role (signed-in sessions, so
per-person scoping runs too) and B's borrower, list filters at their defaults and with searches for A's name, phone,
PAN and loan numbers, every report as JSON and CSV, every file and export, and every portal page its staff reach by
following links -- and no answer may hold any of A's markers (its tag, ids, phones, PANs, numbers, unique figures).
B's book shares a few people with A's (a borrower with A's borrower's phone, PAN and external loan number, a notice
naming them, a lead and an onboarding borrower with A's phones): a query that joins on such a value without the brand
shows A's names and ids in B's answers. Only a Super Admin's list of brands may name brand A.

So the sweep cannot pass by seeing nothing, A's own admin runs the same sweep over A's ids and must find A's markers
in a good share of the answers, and B's answers must be mostly 200s."""

from __future__ import annotations

import io
import re
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit

import pytest
from starlette.testclient import TestClient

from domain.identity.application import Identity
from domain.identity.permissions import ROLES
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from projections.report_catalogue import CATALOGUE
from tests.e2e.brand_book import PASSWORD, Book, build_book
from tests.e2e.statements import StatementCount, counting_statements
from tests.e2e.test_servicing_api import PenalCatalogue
from tests.support import settle

#: Path templates no answer of the sweep fills (no id of the kind in a brand's book), each with why.
UNFILLED = {
    "/api/v1/no-due-certificates/{token}": "public; the token is a secret of the certificate's PDF",
    "/api/v1/reloan-offers/{offer_id}": "the book has no re-loan offer",
    "/api/v1/borrower/applications/{loan_id}": "B's borrower has no application",
}
#: What a cross-brand Super Admin may legitimately see of another brand (docs/architecture.md, "Brand isolation"):
#: the list of brands (`GET /api/v1/brands`, "Brands the caller may see"), for its session and its key, and the
#: portal's brand switch that lists them (`/brands`).
CROSS_BRAND = {("super_admin", "/api/v1/brands"), ("super_admin key", "/api/v1/brands"), ("super_admin", "/brands")}
#: POST operations that only read (a preview, a backtest over the brand's applications): asked with an empty body.
READING_POSTS = ("/api/v1/message-templates/{template_id}/preview", "/api/v1/loan-products/{product_id}/backtest")
#: Most pages a role's crawl opens beyond the declared ones it starts from (breadth first, by following links).
PAGES_PER_ROLE = 120


@pytest.fixture(scope="module")
def books(app: Any, platform: Any, provider_simulators: dict[str, Any]) -> Iterator[tuple[Book, Book]]:
    """Brand A's book (tag Zyxqa) and brand B's (tag Jomvu), built through the API and the use cases."""
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = PenalCatalogue()
    built: list[Book] = []
    try:
        with TestClient(app) as client:
            sms = provider_simulators["sms"]
            built.append(build_book(client, platform, sms, "Zyxqa", 87))
            built.append(build_book(client, platform, sms, "Jomvu", 43, twin=built[0]))
        for source in platform.engine.applications:
            settle(platform, source)
        yield built[0], built[1]
    finally:
        loans._catalogue = before
        for book in built:
            if book.simulator is not None:
                book.simulator.stop()


@dataclass
class Sweep:
    """What a sweep asked and found: per answer, the markers it held."""

    answers: int = 0
    ok: int = 0
    bytes: int = 0
    found: list[tuple[str, str, list[str]]] = field(default_factory=list)  # (who, url, markers)
    seen: dict[str, bool] = field(default_factory=dict)  # url -> held a marker
    statuses: dict[tuple[str, str], int] = field(default_factory=dict)  # (who, url) -> status

    def scan(self, who: str, url: str, answer: Any, markers: set[str]) -> None:
        self.answers += 1
        self.ok += answer.status_code == 200
        self.statuses[(who, url)] = answer.status_code
        text = _text(answer)
        self.bytes += len(answer.content)
        asked = unquote(url).lower()
        held = sorted(m for m in markers if m in text and m.lower() not in asked)  # a search echoes its own term
        self.seen[url] = self.seen.get(url, False) or bool(held)
        if held:
            self.found.append((who, url, held))


def _text(answer: Any) -> str:
    """The answer as text: spreadsheet cells and PDF text extracted (both are compressed on the wire)."""
    kind = answer.headers.get("content-type", "")
    if "spreadsheetml" in kind:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(answer.content), read_only=True)
        return "\n".join(str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row)
    if "pdf" in kind:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        raw = answer.content.decode("latin-1")
        try:  # a generated PDF (agreement, certificate) compresses its text; an uploaded one may not parse at all
            return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(answer.content)).pages) + raw
        except (PdfReadError, ValueError):
            return raw
    return str(answer.content.decode("utf-8", errors="replace"))


def _session(app: Any, email: str) -> TestClient:
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    client.__enter__()
    signed = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/dashboard"})
    assert signed.status_code == 303, signed.text
    return client


def _operations(client: Any) -> list[tuple[str, dict[str, Any]]]:
    doc = client.get("/openapi.json").json()
    return [(path, ops["get"]) for path, ops in doc["paths"].items() if "get" in ops]


def _path_values(book: Book) -> dict[str, list[str]]:
    """Each path parameter filled with the book's own ids (several values where one path is worth a few)."""
    ids = book.ids
    return {
        "staff_id": [ids["staff_id"]], "customer_id": [ids["customer_id"]], "document_id": [ids["document_id"]],
        "bank_account_id": [ids["bank_account_id"]], "product_id": [ids["product_id"]], "version": ["1"],
        "coupon_id": [ids["coupon_id"]], "loan_id": [ids["loan:late"], ids["loan:closed"], ids["loan:main"]],
        "borrower_id": [ids["borrower_id"]], "file_id": [ids["file_id"]], "name": ["loan-cob"],
        "run_id": [ids["run_id"]], "covenant_id": [ids["covenant_id"]], "evaluation_id": [ids["evaluation_id"]],
        "source_id": [ids["source_id"]], "notice_id": [ids["notice_id"]], "visit_id": [ids["visit_id"]],
        "sha256": [ids["sha256"]], "template_id": [ids["template_id"]], "message_id": [ids["message_id"]],
        "reminder_id": [ids["reminder_id"]], "import_id": [ids["import_id"]], "lead_id": [ids["lead_id"]],
        "repayment_id": [ids["repayment_id"]], "callback_id": [ids["callback_id"]], "slug": sorted(CATALOGUE),
        "call_id": [ids["call_id"]],
    }  # fmt: skip


#: Path templates whose parameter means another id than its name's usual one.
_OVERRIDES = {
    "/api/v1/loans/{loan_id}/credit-calls/{call_id}": {"loan_id": "loan:main"},  # the application the call was about
    "/api/v1/sync-runs/{run_id}": {"run_id": "sync_run_id"},
    "/api/v1/staff-notifications/{notice_id}/receipts": {"notice_id": "notice_id:staff"},
    "/staff-notifications/{notice_id}": {"notice_id": "notice_id:staff"},
    # a repayment's receipt: the loan that holds the book's repayment; the settlement letter: the settled loan
    "/api/v1/loans/{loan_id}/repayments/{repayment_id}/receipt": {"loan_id": "loan:paid"},
    "/loans/{loan_id}/repayments/{repayment_id}/receipt.pdf": {"loan_id": "loan:paid"},
    "/api/v1/loans/{loan_id}/settlement-letter": {"loan_id": "loan:later"},
    "/loans/{loan_id}/settlement-letter.pdf": {"loan_id": "loan:later"},
    # a record's proof document: the one attached to the book's record (the book's KYC document is not one)
    "/api/v1/covenant-evaluations/{evaluation_id}/proofs/{document_id}": {"document_id": "proof_document_id"},
    "/covenant-evaluations/{evaluation_id}/proofs/{document_id}": {"document_id": "proof_document_id"},
}
_AUDITED = {"Loan": "loan:late", "CustomerRecord": "customer_id", "StaffUser": "staff_id"}


def _urls(path: str, op: dict[str, Any], book: Book, values: dict[str, list[str]]) -> list[str]:
    """Every URL the sweep asks of one operation: each filling of its path, with its list filters at their defaults,
    with a search for each of A's terms when it has `q`, and a wide date window when it has `from`."""
    if path in UNFILLED:
        return []
    names = re.findall(r"{(\w+)}", path)
    fillings: list[dict[str, str]] = [{}]
    if "aggregate_type" in names:
        fillings = [{"aggregate_type": kind, "aggregate_id": book.ids[key]} for kind, key in _AUDITED.items()]
    else:
        for name in names:
            override = _OVERRIDES.get(path, {}).get(name)
            choices = [book.ids[override]] if override else values[name]
            fillings = [f | {name: v} for f in fillings for v in choices]
    query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    variants: list[dict[str, str]] = [{}]
    if "from" in query and "to" in query:  # a report's window holds its default one: asked once, the wide window
        variants = [{"from": "2020-01-01", "to": "2030-12-31"}] + ([] if "{slug}" in path else [{}])
    return [
        re.sub(r"{(\w+)}", lambda m, f=f: f[m.group(1)], path) + (("?" + urlencode(v)) if v else "")  # type: ignore[misc]
        for f in fillings
        for v in variants
    ]


def _searches(path: str, op: dict[str, Any], other: Book) -> list[str]:
    """The searches for the other brand's terms an operation with `q` (or the search page) is asked."""
    query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    return [f"{path}?{urlencode({'q': term})}" for term in other.search_terms] if "q" in query else []


def _api_sweep(
    client: Any, who: str, book: Book, other: Book, sweep: Sweep, borrower: bool = False, posts: bool = False
) -> None:
    """Every GET operation (the borrower's, or the staff's) and, with `posts` (a key: no CSRF token), the reading
    POSTs, each URL of `_urls` and `_searches`, scanned for the other brand's markers."""
    values = _path_values(book)
    markers = other.markers() - book.shared
    for path, op in _operations(client):
        if bool(op.get("x-borrower")) != borrower or (who, path) in CROSS_BRAND:
            continue
        for url in _urls(path, op, book, values) + _searches(path, op, other):
            sweep.scan(who, url, client.get(url), markers)
    if posts:
        for path in READING_POSTS:
            for url in _urls(path, {}, book, values):
                sweep.scan(who, url, client.post(url, json={}), markers)


def _pages(book: Book) -> list[str]:
    """Every GET page the portal declares, its path filled with the book's ids: the crawl starts from these and the
    home page, so a page no link reaches yet is still swept."""
    values = _path_values(book)
    return ["/"] + [url for template in _page_templates() for url in _urls(template, {}, book, values)]


def _links(base: str, html: str) -> list[str]:
    found = []
    for href in re.findall(r'href="([^"#]+)', html):
        href = href.replace("&amp;", "&")
        parts = urlsplit(urljoin(base, href))
        if parts.netloc not in ("", "testserver") or parts.path.startswith(("/static", "/logout", "/api/")):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _crawl(
    client: Any,
    who: str,
    start: list[str],
    other: Book,
    sweep: Sweep,
    limit: int = PAGES_PER_ROLE,
    shared: frozenset[str] = frozenset(),
) -> set[str]:
    """Breadth first over the portal's HTML links from `start` (GET only, same origin, at most `limit` pages beyond
    `start`, one page per path and query-parameter names), each page scanned; every search form found (GET, with a
    `q` field) is also submitted with each of the other brand's search terms; `shared` are values both brands hold."""
    markers = other.markers() - shared
    queue, visited = deque(start), set(start)
    shapes = {_shape(u) for u in start}
    searched: set[str] = set()
    budget = limit
    while queue:
        url = queue.popleft()
        answer = client.get(url)
        if (who, urlsplit(url).path) not in CROSS_BRAND:
            sweep.scan(who, url, answer, markers)
        found: list[str] = []
        if answer.status_code in (301, 302, 303, 307):
            found = [answer.headers["location"]]
        elif "html" in answer.headers.get("content-type", ""):
            found = _links(url, answer.text)
            for action in _search_forms(url, answer.text) - searched:
                searched.add(action)
                for term in other.search_terms:
                    asked = f"{action}?{urlencode({'q': term})}"
                    sweep.scan(who, asked, client.get(asked), markers)
        for link in found:
            # one page per path and query names: lists' cursors and sort orders would otherwise walk forever
            if budget > 0 and link not in visited and _shape(link) not in shapes and not link.startswith("/login"):
                budget -= 1
                visited.add(link)
                shapes.add(_shape(link))
                queue.append(link)
    return visited


def _search_forms(base: str, html: str) -> set[str]:
    """The actions of the page's GET forms that have a `q` field."""
    actions = set()
    for attributes, body in re.findall(r"<form([^>]*)>(.*?)</form>", html, flags=re.S):
        method = re.search(r'method="(\w+)"', attributes)
        action = re.search(r'action="([^"]*)"', attributes)
        if (method is None or method.group(1).lower() == "get") and re.search(r'name="q"', body):
            actions.add(urlsplit(urljoin(base, action.group(1) if action else base)).path)
    return actions


def _shape(url: str) -> str:
    return urlsplit(url).path + "?" + ",".join(sorted(k for k, _ in parse_qsl(urlsplit(url).query)))


def test_brand_b_never_sees_brand_a_in_any_answer_page_file_or_search(
    app: Any, platform: Any, books: tuple[Book, Book]
) -> None:
    a, b = books
    with TestClient(app) as client:
        paths = {path for path, _ in _operations(client)}
    assert set(UNFILLED) <= paths and len(UNFILLED) <= 3  # the skipped paths exist, and the list does not grow
    started = time.monotonic()
    sweep = Sweep()
    pages: dict[str, set[str]] = {}
    for role in ROLES:
        client = _session(app, b.staff_emails[role])
        try:
            _api_sweep(client, role, b, a, sweep)
            pages[role] = _crawl(client, role, _pages(b), a, sweep, shared=frozenset(b.shared))
        finally:
            client.__exit__(None, None, None)
    # API keys, whose principal is the brand rather than a person (an admin's and a Super Admin's).
    for role in ("admin", "super_admin"):
        issued = platform.get(Identity).issue_api_key(b.tenant.brand_id, role, "sweep key", granter=OPERATOR)
        settle(platform, "identity", issued.position)
        with TestClient(
            app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {issued.secret}"}
        ) as client:
            _api_sweep(client, f"{role} key", b, a, sweep, posts=True)
    # B's borrower: the borrower API with its token, the web flow with its cookie.
    with TestClient(
        app, raise_server_exceptions=False, headers={"Authorization": f"Bearer {b.ids['borrower_token']}"}
    ) as client:
        _api_sweep(client, "borrower", b, a, sweep, borrower=True)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        client.cookies.set("cd_borrower", b.ids["borrower_token"], path=f"/apply/{b.tenant.slug}")
        pages["borrower"] = _crawl(
            client, "borrower", [f"/apply/{b.tenant.slug}/next"], a, sweep, limit=30, shared=frozenset(b.shared)
        )
    elapsed = time.monotonic() - started
    crawled = sum(len(p) for p in pages.values())
    print(
        f"\nleak sweep: {sweep.answers} answers ({sweep.ok} 200s) to {len(ROLES)} staff roles, 2 API keys and a "
        f"borrower, {crawled} portal pages among them, {sweep.bytes / 1e6:.1f} MB scanned in {elapsed:.1f} s"
    )
    assert sweep.found == [], sweep.found[:20]
    assert [(who, url, s) for (who, url), s in sweep.statuses.items() if s >= 500] == []
    # Not vacuous: B's admin reads B's own objects at nearly every URL (the path ids are B's), and follows links to
    # pages no declared path names (B's loans, customers, lists' filters).
    admin = [s for (who, _), s in sweep.statuses.items() if who == "admin"]
    assert sum(s == 200 for s in admin) > 0.9 * len(admin), (sum(s == 200 for s in admin), len(admin))
    assert len(pages["admin"] - set(_pages(b))) >= 50, len(pages["admin"])
    assert sweep.ok > sweep.answers / 2, (sweep.ok, sweep.answers)
    assert sweep.statuses[("borrower", "/api/v1/borrower/me")] == 200 and len(pages["borrower"]) >= 2


def _page_templates() -> list[str]:
    from api.web import Page
    from workers.contexts import CONTEXTS
    from workers.platform import compose_web

    return sorted({p.path for p in compose_web(CONTEXTS).pages if isinstance(p, Page) and p.method == "GET"})


def _matches(template: str, url: str) -> bool:
    return re.fullmatch(re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)), urlsplit(url).path) is not None


def test_brand_a_sees_its_own_book_where_the_sweep_looks(app: Any, books: tuple[Book, Book]) -> None:
    a, _ = books
    sweep = Sweep()
    client = _session(app, a.staff_emails["admin"])
    try:
        _api_sweep(client, "admin", a, a, sweep)
        crawled = _crawl(client, "admin", _pages(a), a, sweep, limit=400)
    finally:
        client.__exit__(None, None, None)
    answered = [url for (_, url), status in sweep.statuses.items() if status == 200]
    held = [url for url in answered if sweep.seen[url]]
    print(f"\nown sweep: {len(answered)} answers of 200, {len(held)} with A's markers, {len(crawled)} pages")
    # A's markers are in most of what A's admin reads (what is not: role lists, settings, empty dialer and re-loan
    # lists, reports on what the book lacks, paths naming the very id -- the scan ignores what the URL says).
    assert len(held) > 0.7 * len(answered), (len(held), len(answered))
    for path in ("/api/v1/customers", "/api/v1/loans", "/api/v1/search?q=Brandaleak", "/api/v1/collections/worklist",
                 "/api/v1/notices/overdue", "/api/v1/leads", "/api/v1/messages", "/api/v1/covenants", "/customers",
                 "/loans", "/collections", "/overdue", "/dashboard",
                 f"/api/v1/loans/{a.ids['loan:paid']}/repayments/{a.ids['repayment_id']}/receipt",
                 f"/api/v1/loans/{a.ids['loan:later']}/settlement-letter",
                 f"/api/v1/customers/{a.ids['customer_id']}/notes", "/api/v1/callback-requests",
                 "/callback-requests"):  # fmt: skip
        assert sweep.seen.get(path), path


def test_no_list_runs_more_statements_for_a_longer_page_and_the_jobs_list_reads_their_settings_at_once(
    app: Any, books: tuple[Book, Book]
) -> None:
    """A profiler's question of every list, asked of brand A's book: a list that read a record per row (an N+1) runs
    more statements for 100 rows than for one. And the jobs list read each job's settings on its own (17 statements
    for the 14 jobs: now 4)."""
    a, _ = books
    values = _path_values(a)
    counted = StatementCount(app)
    grown, lists = [], []
    with counting_statements(), TestClient(counted) as client:
        for path, op in _operations(client):
            if "limit" not in {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}:
                continue
            urls = _urls(path, op, a, values)
            for url in [next((u for u in urls if "?" not in u), urls[0])] if urls else []:  # its filters' defaults
                join = "&" if "?" in url else "?"
                one, first = counted.fewest(client, f"{url}{join}limit=1", a.tenant.auth)
                many, page = counted.fewest(client, f"{url}{join}limit=100", a.tenant.auth)
                assert first.status_code == page.status_code == 200, (url, first.text, page.text)
                rows = len(page.json().get("items", []))
                if rows > 1:
                    lists.append(url)
                    if many > one:
                        grown.append(
                            f"{url}: {one} statements for 1 row, {many} for {rows}:\n  " + "\n  ".join(counted.last)
                        )
        jobs, answer = counted.fewest(client, "/api/v1/jobs", a.tenant.auth)
    assert not grown, "\n".join(grown)
    assert len(lists) >= 15, lists  # the book fills most lists with more than one row
    assert jobs < len(answer.json()["items"]), counted.last


def test_a_portal_page_reads_its_session_once(app: Any, books: tuple[Book, Book]) -> None:
    """Every portal page read its session twice (once for the principal, once for the CSRF token), in four thread-pool
    calls before its handler ran."""
    a, _ = books
    counted = StatementCount(app)
    with counting_statements(), TestClient(counted, follow_redirects=False) as browser:
        signed = browser.post("/login", data={"email": a.staff_emails["admin"], "password": PASSWORD, "next": "/"})
        assert signed.status_code == 303, signed.text
        for page in ("/dashboard", "/loans", f"/customers/{a.ids['customer_id']}", "/reports"):
            answer = browser.get(page)
            assert answer.status_code == 200, (page, answer.status_code)
            sessions = [s for s in counted.last if "FROM ops.sessions" in s]
            assert len(sessions) == 1, (page, sessions)
