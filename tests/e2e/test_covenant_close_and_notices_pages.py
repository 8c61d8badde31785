"""The portal closes a covenant (the API's `POST /api/v1/covenants/{id}/close`: COVENANTS WRITE, a reason) from the
covenant page, and lists the notices sent to borrowers (`GET /api/v1/covenant-notices`) on a paged "Notices sent"
page linked from the covenants list; both within the caller's brand."""

from __future__ import annotations

import re
import uuid
from typing import Any

import api.pages.covenants as covenant_pages
from tests.conftest import make_tenant
from tests.e2e.test_access_matrix import _signed_in
from tests.e2e.test_covenants import _borrower, _covenant, _run


def test_the_covenant_page_closes_a_covenant_with_a_reason(app: Any, client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    covenant = _covenant(client, tenant, _borrower(client, tenant))
    url = f"/covenants/{covenant['id']}"
    ops, csrf = _signed_in(app, platform, tenant.brand_id, "loan_ops")  # COVENANTS WRITE
    reader, reader_csrf = _signed_in(app, platform, tenant.brand_id, "credit_executive")  # COVENANTS READ
    stranger, stranger_csrf = _signed_in(app, platform, other.brand_id, "loan_ops")
    api = f"/api/v1/covenants/{covenant['id']}"
    try:
        page = ops.get(url)
        assert page.status_code == 200 and 'id="close-form"' in page.text
        assert "Closing stops the chase" in page.text and "no record of it is marked overdue" in page.text
        assert 'id="close-form"' not in reader.get(url).text
        assert 'id="covenant-closed"' not in ops.get(f"{url}?closed=1").text  # a typed address says nothing
        refused_reader = reader.post(f"{url}/close", data={"csrf_token": reader_csrf, "reason": "not mine"})
        assert refused_reader.status_code == 403
        theirs = stranger.post(f"{url}/close", data={"csrf_token": stranger_csrf, "reason": "another brand"})
        assert theirs.status_code == 404
        no_csrf = ops.post(f"{url}/close", data={"reason": "no token"})
        assert no_csrf.status_code == 403
        blank = ops.post(f"{url}/close", data={"csrf_token": csrf, "reason": "  "})
        assert blank.status_code == 422 and 'id="covenant-error"' in blank.text, blank.text[:300]
        assert client.get(api, headers=tenant.auth).json()["status"] == "active"  # nothing recorded
        nonce = re.search(r'name="form_nonce" value="([^"]+)"', page.text)
        assert nonce is not None
        form = {"csrf_token": csrf, "form_nonce": nonce.group(1), "reason": "loan prepaid; covenant no longer needed"}
        closed = ops.post(f"{url}/close", data=form)
        assert closed.status_code == 303 and closed.headers["location"].endswith(f"{url}?closed=1"), closed.text[:300]
        assert client.get(api, headers=tenant.auth).json()["status"] == "closed"
        again = ops.post(f"{url}/close", data=form)  # the same form posted twice: the first answer, not a 409
        assert again.status_code == 303 and again.headers["location"] == closed.headers["location"]
        shown = ops.get(closed.headers["location"])
        assert shown.status_code == 200 and 'id="covenant-closed"' in shown.text
        assert "no longer marked overdue or emailed about" in shown.text
        assert 'id="close-form"' not in shown.text
        fresh = ops.post(f"{url}/close", data={"csrf_token": csrf, "reason": "closing it again"})
        assert fresh.status_code == 409 and "only an active covenant can be closed" in fresh.text
    finally:
        for browser in (ops, reader, stranger):
            browser.__exit__(None, None, None)


def test_the_notices_sent_page_lists_the_brands_notices_a_page_at_a_time(
    app: Any, client: Any, platform: Any, mail_sink: Any, monkeypatch: Any
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    recipients = [f"notice-{i}-{uuid.uuid4().hex[:6]}@example.in" for i in range(3)]
    for i, email in enumerate(recipients):
        _covenant(client, tenant, _borrower(client, tenant, email), first_due_date="2024-06-30", title=f"Stock {i}")
    their_email = f"theirs-{uuid.uuid4().hex[:6]}@example.in"
    _covenant(client, other, _borrower(client, other, their_email), first_due_date="2024-06-30", title="Theirs")
    for brand in (tenant, other):
        _run(client, platform, brand, "covenant-evaluation", "2024-06-23")
        assert _run(client, platform, brand, "covenant-notification", "2024-06-23")["status"] == "succeeded"

    # The API pages the same list (newest first, keyset).
    first = client.get("/api/v1/covenant-notices", params={"limit": 2}, headers=tenant.auth).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(
        "/api/v1/covenant-notices", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.auth
    ).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    api_ids = [n["id"] for n in first["items"] + rest["items"]]
    assert sorted(n["recipient"] for n in first["items"] + rest["items"]) == sorted(recipients)
    wrong = client.get(
        "/api/v1/covenant-notices",
        params={"cursor": first["next_cursor"], "customer_id": str(uuid.uuid4())},
        headers=tenant.auth,
    )
    assert wrong.status_code == 422  # a cursor of another filter

    monkeypatch.setattr(covenant_pages, "NOTICES_PAGE_SIZE", 2)
    browser, _ = _signed_in(app, platform, tenant.brand_id, "credit_executive")  # COVENANTS READ
    sales, _ = _signed_in(app, platform, tenant.brand_id, "sales")  # no COVENANTS
    try:
        listed = browser.get("/covenants")
        assert listed.status_code == 200 and 'href="/covenant-notices" id="notices-link"' in listed.text
        seen: list[str] = []
        address: str | None = "/covenant-notices"
        pages = 0
        while address is not None:
            page = browser.get(address)
            assert page.status_code == 200, page.text[:300]
            seen += re.findall(r'data-notice="([^"]+)"', page.text)
            older = re.search(r'href="([^"]+)" id="notices-older"', page.text)
            address = older.group(1).replace("&amp;", "&") if older else None
            pages += 1
        assert pages == 2 and seen == api_ids  # every notice of the brand once, newest first
        text = browser.get("/covenant-notices").text
        assert their_email not in text and "sent" in text
        assert browser.get("/covenant-notices?cursor=bogus").status_code == 422  # says it starts again
        assert sales.get("/covenant-notices").status_code == 403
    finally:
        browser.__exit__(None, None, None)
        sales.__exit__(None, None, None)


def test_the_notices_sent_page_keeps_one_borrowers_notices_across_its_pages(
    app: Any, client: Any, platform: Any, mail_sink: Any, monkeypatch: Any
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    kept = _borrower(client, tenant, f"kept-{uuid.uuid4().hex[:6]}@example.in")
    for ref in ("APP-K1", "APP-K2", "APP-K3"):  # one notice per borrower and application
        _covenant(client, tenant, kept, application_ref=ref, first_due_date="2024-06-30", title=f"Stock {ref}")
    others_email = f"another-{uuid.uuid4().hex[:6]}@example.in"
    _covenant(client, tenant, _borrower(client, tenant, others_email), first_due_date="2024-06-30")
    stranger = _borrower(client, other, f"stranger-{uuid.uuid4().hex[:6]}@example.in")
    _run(client, platform, tenant, "covenant-evaluation", "2024-06-23")
    assert _run(client, platform, tenant, "covenant-notification", "2024-06-23")["status"] == "succeeded"
    api = client.get("/api/v1/covenant-notices", params={"customer_id": kept}, headers=tenant.auth).json()["items"]
    assert len(api) == 3 and {n["customer_id"] for n in api} == {kept}
    everyone = client.get("/api/v1/covenant-notices", headers=tenant.auth).json()["items"]
    assert len(everyone) == 4

    monkeypatch.setattr(covenant_pages, "NOTICES_PAGE_SIZE", 2)
    browser, _ = _signed_in(app, platform, tenant.brand_id, "loan_ops")  # COVENANTS and CUSTOMER
    try:
        # The Customer 360's covenant card links to the borrower's notices.
        card = browser.get(f"/customers/{kept}").text
        link = f'href="/covenant-notices?customer_id={kept}" id="covenant-notices-link"'
        assert link in card
        # Each row of the whole list links its borrower's notices.
        whole = browser.get("/covenant-notices").text
        assert f'href="/covenant-notices?customer_id={kept}"' in whole and 'id="notices-filter"' not in whole
        seen: list[str] = []
        address: str | None = f"/covenant-notices?customer_id={kept}"
        pages = 0
        while address is not None:
            page = browser.get(address)
            assert page.status_code == 200, page.text[:300]
            assert 'id="notices-filter"' in page.text and others_email not in page.text
            seen += re.findall(r'data-notice="([^"]+)"', page.text)
            older = re.search(r'href="([^"]+)" id="notices-older"', page.text)
            address = older.group(1).replace("&amp;", "&") if older else None
            if address:
                assert f"customer_id={kept}" in address  # the next page keeps the filter
            pages += 1
        assert pages == 2 and seen == [n["id"] for n in api]  # the borrower's three, newest first, once each
        # Another brand's borrower (or no id at all) filters nothing: every notice of the brand, and it says so.
        for wrong in (stranger, "not-an-id"):
            refused = browser.get(f"/covenant-notices?customer_id={wrong}")
            assert refused.status_code == 422 and 'id="page-notice"' in refused.text
            assert 'id="notices-filter"' not in refused.text and len(re.findall("data-notice=", refused.text)) == 2
            older = re.search(r'href="([^"]+)" id="notices-older"', refused.text)
            assert older is not None and "customer_id" not in older.group(1)
    finally:
        browser.__exit__(None, None, None)
