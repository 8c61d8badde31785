"""The web flow's "Your documents" page over HTTP with the flow's cookie: before the personal step it says to finish
it; then the brand's checklist (PAN card missing), an upload (received), refusals shown on the page with 422 and
nothing stored, the status page's count, and staff's checklist endpoint and the Customer 360 card agreeing. A
borrower sees only their own documents, and a session of one brand opens nothing at another's."""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
from starlette.testclient import TestClient

from adapters.simulators.sms import SmsSimulator
from api.routes.documents import UPLOAD
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import PERSONAL, _pan
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
PASSWORD = "docs-page-pass-2026"


def _borrower(app: Any, client: Any, sms: SmsSimulator, tenant: Tenant, personal: bool = True) -> tuple[Any, dict]:
    """A web-flow client signed in as a new borrower (the flow's cookie), past the personal step when asked."""
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    if personal:
        assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
        assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    web = TestClient(app, follow_redirects=False)
    web.__enter__()
    web.cookies.set("cd_borrower", session["token"], path=f"/apply/{tenant.slug}")
    return web, auth


def _csrf(web: Any, slug: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', web.get(f"/apply/{slug}/status").text)
    assert found is not None
    return found.group(1)


def _upload(web: Any, slug: str, csrf: str, kind: str, name: str, data: bytes) -> Any:
    return web.post(
        f"/apply/{slug}/documents",
        data={"csrf_token": csrf, "kind": kind},
        files={"file": (name, data, "application/octet-stream")},
    )


def _states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-kind="(\w+)" data-state="(\w+)"', html))


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.documents_events").fetchone()[0])


def test_the_documents_page_before_the_personal_step_says_to_finish_it(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, _auth = _borrower(app, client, sms, tenant, personal=False)
    try:
        page = web.get(f"/apply/{tenant.slug}/documents")
        assert page.status_code == 200 and 'id="documents-no-record"' in page.text
        assert f'href="/apply/{tenant.slug}/next" id="documents-continue"' in page.text
        assert 'id="documents-form"' not in page.text
        refused = _upload(web, tenant.slug, _csrf(web, tenant.slug), "pan_card", "pan.png", PNG)
        assert refused.status_code == 409 and 'id="documents-no-record"' in refused.text
        status = web.get(f"/apply/{tenant.slug}/status")
        assert 'id="documents-link"' in status.text and "data-missing" not in status.text
    finally:
        web.__exit__(None, None, None)


def test_a_borrower_uploads_a_pan_card_sees_it_received_and_staff_see_the_same_checklist(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, dsn: str
) -> None:
    settings = {"require_employment_data": True, "require_selfie_video": False}
    assert client.patch("/api/v1/brand/config", json=settings, headers=tenant.auth).status_code == 200
    web, auth = _borrower(app, client, sms, tenant)
    slug = tenant.slug
    try:
        page = web.get(f"/apply/{slug}/documents")
        assert page.status_code == 200, page.text
        assert _states(page.text) == {
            "pan_card": "missing", "aadhaar_front": "missing", "aadhaar_back": "missing",
            "bank_statement": "missing", "salary_slip": "missing",
        }  # fmt: skip
        assert 'data-missing="5"' in page.text and 'id="documents-none"' in page.text
        options = re.findall(r'<option value="(\w+)"', page.text)
        assert options[:5] == ["pan_card", "aadhaar_front", "aadhaar_back", "bank_statement", "salary_slip"]
        assert {"voter_id", "utility_bill", "rent_agreement", "form16_itr"} <= set(options[5:])
        assert "aadhaar_photo" not in options and "selfie" not in options
        csrf = _csrf(web, slug)

        uploaded = _upload(web, slug, csrf, "pan_card", "my-pan.png", PNG)
        assert uploaded.status_code == 303, uploaded.text
        assert uploaded.headers["location"] == f"/apply/{slug}/documents?uploaded=pan_card"
        after = web.get(uploaded.headers["location"])
        assert _states(after.text)["pan_card"] == "received" and 'data-missing="4"' in after.text
        assert 'id="documents-saved"' in after.text and "Received: PAN card" in after.text
        assert "my-pan.png" in after.text and 'data-status="pending"' in after.text

        # Refusals: shown on the page with 422, nothing stored.
        before = _events(dsn)
        wrong = _upload(web, slug, csrf, "aadhaar_back", "back.png", GIF)
        assert wrong.status_code == 422 and 'id="documents-error"' in wrong.text and "GIF" in wrong.text
        assert 'value="aadhaar_back" selected' in wrong.text  # the choice kept
        big = _upload(web, slug, csrf, "aadhaar_back", "back.png", PNG + b"\x00" * UPLOAD.max_bytes)
        assert big.status_code == 422 and f"the limit is {UPLOAD.max_bytes}" in big.text
        for kind in ("aadhaar_photo", "nonsense", ""):
            unknown = _upload(web, slug, csrf, kind, "x.png", PNG + b"unknown")
            assert unknown.status_code == 422 and "from the list" in unknown.text, kind
        missing_file = web.post(f"/apply/{slug}/documents", data={"csrf_token": csrf, "kind": "voter_id"})
        assert missing_file.status_code == 422 and "Choose a file" in missing_file.text
        again = _upload(web, slug, csrf, "pan_card", "same.png", PNG)
        assert again.status_code == 409 and "already uploaded" in again.text
        forged = _upload(web, slug, "forged", "voter_id", "v.png", PNG + b"forged")
        assert forged.status_code == 403
        assert _events(dsn) == before
        listed = client.get("/api/v1/borrower/documents", headers=auth).json()
        assert [d["kind"] for d in listed["items"]] == ["pan_card"]

        supporting = _upload(web, slug, csrf, "utility_bill", "bill.png", PNG + b"bill")
        assert supporting.status_code == 303
        status = web.get(f"/apply/{slug}/status")
        assert 'data-missing="4"' in status.text and "Documents still missing: <strong>4</strong>" in status.text
        assert f'href="/apply/{slug}/documents" id="documents-link"' in status.text
    finally:
        web.__exit__(None, None, None)

    customer = client.get("/api/v1/borrower/documents", headers=auth).json()["items"][0]["customer_id"]
    checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
    assert "pan_card" in checklist["missing"] and checklist["accepted"] == []  # received, not yet accepted
    email = f"docs-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Nina Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    with TestClient(app, follow_redirects=False) as staff:
        assert staff.post("/login", data={"email": email, "password": PASSWORD}).status_code in (302, 303)
        card = staff.get(f"/customers/{customer}").text
    section = card[card.index('id="customer-document-checklist"') :]
    rows = re.findall(r'data-kind="(\w+)" data-state="(\w+)" data-missing="(\w+)"', section)
    assert [kind for kind, _, _ in rows] == checklist["required"]
    assert [kind for kind, _, missing in rows if missing == "true"] == checklist["missing"]
    assert dict((k, s) for k, s, _ in rows)["pan_card"] == "received"
    assert "utility bill" in section.split("</section>")[0]  # a supporting document they sent


def test_a_borrower_sees_only_their_own_documents_and_only_at_their_brand(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    first, _ = _borrower(app, client, sms, tenant)
    second, _ = _borrower(app, client, sms, tenant)
    other = make_tenant(platform)
    try:
        assert (
            _upload(first, tenant.slug, _csrf(first, tenant.slug), "pan_card", "first-pan.png", PNG).status_code == 303
        )
        theirs = second.get(f"/apply/{tenant.slug}/documents")
        assert theirs.status_code == 200 and "first-pan.png" not in theirs.text
        assert _states(theirs.text)["pan_card"] == "missing" and 'id="documents-none"' in theirs.text
        # The first borrower's session, sent to another brand's flow: no page there.
        token = first.cookies.get("cd_borrower")
        first.cookies.set("cd_borrower", token, path=f"/apply/{other.slug}")
        elsewhere = first.get(f"/apply/{other.slug}/documents")
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == f"/apply/{other.slug}"
    finally:
        first.__exit__(None, None, None)
        second.__exit__(None, None, None)
