"""The portal's input edge in headless Chromium: forged page links and unusable characters get a page that says
what is wrong (422), never a server error or a reset connection, and change nothing."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import quote

from domain.identity.application import Identity
from projections.blocklist import BlocklistQueries
from tests.e2e.conftest import login

LIST_PAGES = ["/customers", "/staff", "/settings", "/jobs", "/covenants", "/audit", "/overdue", "/upcoming", "/sync"]
FORGED = [
    "garbage",
    "WyJhIiwiYiJd",
    "W3siYSI6MX0sMV0",
    base64.urlsafe_b64encode(json.dumps(["\ud800", str(uuid.uuid4())]).encode()).decode().rstrip("="),
]


def test_a_list_page_with_a_forged_cursor_shows_its_first_page_and_says_so(
    server: str, browser: Any, staff: tuple[Any, str]
) -> None:
    page = browser.new_page()
    login(page, server, staff[1])
    for path in LIST_PAGES:
        for cursor in FORGED:
            response = page.goto(f"{server}{path}?cursor={quote(cursor)}")
            assert response is not None and response.status == 422, (path, cursor)
            assert "first page" in page.locator("#page-notice").inner_text(), (path, cursor)
            assert page.locator("nav[aria-label=Main]").count() == 1 and "Cannot use" not in page.title()
        plain = page.goto(f"{server}{path}")
        assert plain is not None and plain.status == 200 and page.locator("#page-notice").count() == 0, path


def test_a_nul_in_a_page_address_or_a_form_is_a_friendly_422_that_changes_nothing(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any
) -> None:
    tenant, email = staff
    page = browser.new_page()
    login(page, server, email)
    for address in (
        "/customers?q=%00",
        "/staff?q=a%00",
        "/audit?actor=%00",
        "/audit?aggregate_type=%00",
        "/overdue?company=%00",
        "/repayments?company=%00",
        "/covenants?status=%1B",
    ):
        response = page.goto(f"{server}{address}")
        assert response is not None and response.status == 422, address
        assert "cannot be used" in page.locator("main").inner_text(), address

    page.goto(f"{server}/blocklist")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    before = platform.get(BlocklistQueries).entries(tenant.brand_id).items
    refused = page.request.post(
        f"{server}/blocklist",
        form={"csrf_token": token, "kind": "pincode", "value": "110011", "reason": "r\u0000r"},
        max_redirects=0,
    )
    assert refused.status == 422 and "cannot be used" in refused.text()
    salary = page.request.post(f"{server}/settings", form={"csrf_token": token, "min_salary": "1e28"}, max_redirects=0)
    assert salary.status == 422 and "min salary" in salary.text()
    deep = page.request.post(
        f"{server}/settings", form={"csrf_token": token, "covenant_lead_days": "[" * 5000 + "]" * 5000}, max_redirects=0
    )
    assert deep.status == 422 and "covenant_lead_days" in deep.text()
    assert platform.get(BlocklistQueries).entries(tenant.brand_id).items == before
    assert str(platform.get(Identity).settings(tenant.brand_id).min_salary) == "15000.00"
