"""Browser-facing protections: security headers, API CSRF and media types, notice sources kept off this network."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import Tenant
from tests.e2e.conftest import PASSWORD, login

BLOCK = {"kind": "pincode", "value": "110011", "reason": "fraud ring"}


@pytest.fixture
def session(app: Any, staff: tuple[Tenant, str]) -> Iterator[tuple[TestClient, str]]:
    """A signed-in portal session (cookie only) and its CSRF token, as the portal's pages carry it."""
    _tenant, email = staff
    with TestClient(app, follow_redirects=False) as browser:
        assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
        token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
        assert token is not None
        yield browser, token.group(1)


def _framing_refused(headers: Any) -> bool:
    return "frame-ancestors 'none'" in headers["content-security-policy"] and headers["x-frame-options"] == "DENY"


def test_portal_pages_and_api_answers_carry_the_security_headers(
    client: Any, tenant: Tenant, session: tuple[TestClient, str]
) -> None:
    browser, _token = session
    answers = {
        "login page": client.get("/login"),
        "dashboard": browser.get("/dashboard"),
        "settings": browser.get("/settings"),
        "portal 404": browser.get("/no-such-page"),
        "api list": client.get("/api/v1/customers", headers=tenant.auth),
        "api with the session": browser.get("/api/v1/me"),
        "api problem": client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=tenant.auth),
        "api 401": client.get("/api/v1/customers"),
    }
    for name, answer in answers.items():
        headers = answer.headers
        assert _framing_refused(headers), name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "no-referrer", name
        assert headers["cache-control"] == "no-store", name
    page_policy = answers["dashboard"].headers["content-security-policy"]
    assert "script-src 'self'" in page_policy and "unsafe-inline" not in page_policy
    assert answers["api list"].headers["content-security-policy"].startswith("default-src 'none'")
    stylesheet = client.get("/static/portal.css")  # static files may be cached; still never sniffed or framed
    assert stylesheet.status_code == 200 and "no-store" not in stylesheet.headers.get("cache-control", "")
    assert stylesheet.headers["x-content-type-options"] == "nosniff"


def test_no_template_has_an_inline_style_and_every_page_names_its_icon(client: Any) -> None:
    """The pages' CSP (`style-src 'self'`) blocks inline styles: the message template's preview lost its pre-wrap
    (a long template ran past a phone's width) and the deliveries chart its scroll box, each with a console error.
    Browsers asked for /favicon.ico (a 404 and a console error on every first page) until the bases named an icon."""
    templates = Path(__file__).resolve().parents[2] / "api" / "templates"
    styled = [page.name for page in sorted(templates.glob("*.html")) if re.search(r"\sstyle=|<style", page.read_text())]
    assert styled == []
    for page in ("/login", "/apply/no-such-brand"):
        html = client.get(page).text
        icon = re.search(r'<link rel="icon" href="(/static/[^"]+)"', html)
        assert icon is not None, page
    served = client.get(icon.group(1))
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/svg+xml")


def test_cookie_session_api_writes_need_json_and_the_session_csrf_token(
    client: Any, tenant: Tenant, session: tuple[TestClient, str]
) -> None:
    browser, token = session
    text = json.dumps(BLOCK)
    # What another site's form or fetch could send with the victim's cookie: refused, nothing written.
    forged = browser.post("/api/v1/blocklist", content=text, headers={"Content-Type": "text/plain"})
    assert forged.status_code == 403 and forged.json()["type"].endswith("csrf-token-required")
    assert browser.post(f"/api/v1/staff/{uuid.uuid4()}/disable").status_code == 403  # no body, still a write
    wrong_token = browser.post("/api/v1/blocklist", json=BLOCK, headers={"X-CSRF-Token": token[::-1]})
    assert wrong_token.status_code == 403
    csrf = {"X-CSRF-Token": token}
    as_text = browser.post("/api/v1/blocklist", content=text, headers=csrf | {"Content-Type": "text/plain"})
    assert as_text.status_code == 415 and as_text.headers["content-type"] == "application/problem+json"
    as_form = browser.post("/api/v1/blocklist", data=BLOCK, headers=csrf)
    assert as_form.status_code == 415
    with_key = client.post("/api/v1/blocklist", content=text, headers=tenant.auth | {"Content-Type": "text/plain"})
    assert with_key.status_code == 415  # JSON bodies only, whatever the credentials
    assert client.get("/api/v1/blocklist", headers=tenant.auth).json()["items"] == []
    created = browser.post("/api/v1/blocklist", json=BLOCK, headers=csrf)
    assert created.status_code == 201, created.text
    merge_patch = browser.get("/api/v1/blocklist")  # reads need no token
    assert merge_patch.status_code == 200 and len(merge_patch.json()["items"]) == 1


REFUSED_URLS = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
    "http://2852039166/latest/meta-data/",  # the same address written as one number
    "http://[::ffff:a9fe:a9fe]/",  # ... and as an IPv4-mapped IPv6 address
    "http://[fd00:ec2::254]/",  # a unique-local IPv6 metadata address
    "http://localhost:8100/api",  # a name that resolves to loopback
    "http://[::1]:8100/",
    "http://0.0.0.0:8100/",
    "http://10.0.0.8/api",
    "http://192.168.1.10:8080/",
    "http://100.64.0.1/",  # carrier-grade NAT
]


def test_notice_source_urls_into_this_network_are_refused_with_422_naming_base_url(client: Any, tenant: Tenant) -> None:
    source = {"company": "SML", "token": "a-source-token", "schedule": "0 3 * * *"}
    for url in REFUSED_URLS:
        refused = client.post("/api/v1/notice-sources", json=source | {"base_url": url}, headers=tenant.auth)
        assert refused.status_code == 422, (url, refused.text)
        assert [e["field"] for e in refused.json()["errors"]] == ["base_url"], url
    assert client.get("/api/v1/notice-sources", headers=tenant.auth).json()["items"] == []
    # The tests' simulators' host is on the operator's allow-list (NOTICE_SOURCE_ALLOWED_HOSTS=127.0.0.1).
    allowed = client.post(
        "/api/v1/notice-sources", json=source | {"base_url": "http://127.0.0.1:8100/api"}, headers=tenant.auth
    )
    assert allowed.status_code == 201, allowed.text
    source_id = allowed.json()["id"]
    for url in ("http://169.254.169.254/", "http://localhost:8100/api"):
        moved = client.patch(f"/api/v1/notice-sources/{source_id}", json={"base_url": url}, headers=tenant.auth)
        assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "base_url"
        assert "NOTICE_SOURCE_ALLOWED_HOSTS" in moved.json()["errors"][0]["message"]
    kept = client.get(f"/api/v1/notice-sources/{source_id}", headers=tenant.auth).json()
    assert kept["base_url"] == "http://127.0.0.1:8100/api"


@contextmanager
def _hostile_site(html: str) -> Iterator[str]:
    """Another origin (a second loopback port) serving `html`."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_port}/"
    finally:
        site.shutdown()
        site.server_close()


def test_another_site_cannot_frame_the_portal_and_the_policy_keeps_it_working(
    server: str, browser: Any, staff: tuple[Tenant, str]
) -> None:
    _tenant, email = staff
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    login(page, server, email)
    for path in ("/dashboard", "/customers", "/settings", "/staff", "/jobs"):
        page.goto(f"{server}{path}")
    # The stylesheet loads under the policy (the top bar is styled), and nothing on the pages is refused by it.
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
    assert violations == []

    with _hostile_site(f'<h1>Win a prize</h1><iframe id="victim" src="{server}/dashboard"></iframe>') as hostile:
        page.goto(hostile)
        page.wait_for_timeout(500)
    assert len(page.frames) == 2
    # The portal never renders inside another origin's page (the frame holds Chromium's error page instead).
    assert page.frame_locator("#victim").locator("header.topbar").count() == 0
    context.close()
