"""Notes on a borrower's record over HTTP on PostgreSQL: written by API key and by the portal's form on the Customer
360, listed newest first in keyset pages (all, or those about one loan), shown on the 360 and the loan page, in the
record's timeline and audit history; refused naming the field, 404 for another brand, 403 without CUSTOMER_NOTES."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_servicing_api import PRODUCT, catalogue
from tests.support import mobile, settle

__all__ = ["catalogue"]  # the servicing tests' product catalogue (loans are created here)


def _borrower(client: Any, tenant: Tenant, name: str = "Nirmala Rao") -> str:
    made = client.post("/api/v1/customers", json={"name": name, "phone": mobile("97")}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _loan(platform: Any, tenant: Tenant, customer_id: str) -> str:
    result = platform.get(Loans).create(tenant.brand_id, uuid.UUID(customer_id), PRODUCT, "100000", 12)
    settle(platform, Loans.name, result.position)
    return str(result.id)


def _note(client: Any, tenant: Tenant, customer_id: str, **body: Any) -> Any:
    return client.post(f"/api/v1/customers/{customer_id}/notes", json=body, headers=tenant.auth)


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return sorted({e["field"] for e in answer.json()["errors"]})


def test_notes_are_written_and_listed_newest_first_in_keyset_pages(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant)
    loan = _loan(platform, tenant, customer)
    callback = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    first = _note(client, tenant, customer, text="Called: salary credited late this month.")
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/api/v1/customers/{customer}/notes"
    note = first.json()
    assert note["text"] == "Called: salary credited late this month." and note["customer_id"] == customer
    assert note["author"].startswith("apikey:") and note["loan_id"] is None and note["callback_at"] is None
    about_loan = _note(
        client, tenant, customer, text="  Asked for a callback after 6 pm\r\nabout the EMI  ", loan_id=loan,
        callback_at=callback.isoformat(),
    ).json()  # fmt: skip
    assert about_loan["text"] == "Asked for a callback after 6 pm\nabout the EMI"
    assert about_loan["loan_id"] == loan and datetime.fromisoformat(about_loan["callback_at"]) == callback
    for i in range(3):
        assert _note(client, tenant, customer, text=f"Follow-up {i}").status_code == 201

    url = f"/api/v1/customers/{customer}/notes"
    texts, cursor, pages = [], None, 0
    while True:
        page = client.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=tenant.auth)
        assert page.status_code == 200, page.text
        texts += [n["text"] for n in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert texts == ["Follow-up 2", "Follow-up 1", "Follow-up 0", about_loan["text"], note["text"]]
    about = client.get(url, params={"loan_id": loan}, headers=tenant.auth).json()
    assert [n["id"] for n in about["items"]] == [about_loan["id"]] and about["next_cursor"] is None
    assert client.get(url, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=tenant.auth).status_code == 422

    # The record's history shows each note: the 360's timeline and the auditor's event history.
    profile = client.get(f"/api/v1/customers/{customer}", headers=tenant.auth).json()
    kinds = [e["kind"] for e in profile["timeline"]]
    assert kinds.count("note_added") == 5 and profile["version"] == 6
    assert profile["timeline"][0]["summary"] == "Note: Follow-up 2"
    history = client.get(f"/api/v1/audit/customer_record/{customer}/history", headers=tenant.auth).json()
    added = [e for e in history["events"] if e["event"] == "NoteAdded"]
    assert len(added) == 5 and any(e["data"]["loan_id"] == loan for e in added), added[0]
    # A note moves the record's version: an If-Match from before it is stale, the current one is not.
    stale = client.patch(
        f"/api/v1/customers/{customer}", json={"email": "n@rao.in"}, headers=tenant.auth | {"If-Match": '"5"'}
    )
    assert stale.status_code == 409
    fresh = client.patch(
        f"/api/v1/customers/{customer}", json={"email": "n@rao.in"}, headers=tenant.auth | {"If-Match": '"6"'}
    )
    assert fresh.status_code == 200, fresh.text


def test_bad_text_a_loan_not_the_borrowers_or_a_past_callback_is_refused_naming_the_field(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    customer, other = _borrower(client, tenant), _borrower(client, tenant, "Other Borrower")
    others_loan = _loan(platform, tenant, other)
    for text in ("", "   ", "\u200b", "bell \u0007", "x" * 2001):
        assert _fields(_note(client, tenant, customer, text=text)) == ["text"], text
    assert _fields(_note(client, tenant, customer, loan_id=others_loan)) == ["text"]  # text is required
    assert _fields(_note(client, tenant, customer, text="ok", loan_id=others_loan)) == ["loan_id"]
    assert _fields(_note(client, tenant, customer, text="ok", loan_id=str(uuid.uuid4()))) == ["loan_id"]
    assert _fields(_note(client, tenant, customer, text="ok", callback_at="2020-01-01T10:00:00+05:30")) == [
        "callback_at"
    ]
    assert _fields(_note(client, tenant, customer, text="ok", callback_at="2030-01-01T10:00:00")) == ["callback_at"]
    assert _fields(_note(client, tenant, customer, text="ok", author="someone else")) == ["author"]
    settle(platform, Customers.name)
    assert client.get(f"/api/v1/customers/{customer}/notes", headers=tenant.auth).json()["items"] == []


def test_another_brand_gets_404_and_a_role_without_customer_notes_403(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    customer = _borrower(client, tenant)
    loan = _loan(platform, tenant, customer)
    assert _note(client, tenant, customer, text="Brand A's note", loan_id=loan).status_code == 201
    url = f"/api/v1/customers/{customer}/notes"
    assert client.post(url, json={"text": "stolen"}, headers=other.auth).status_code == 404
    assert client.get(url, headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/customers/{uuid.uuid4()}/notes", headers=tenant.auth).status_code == 404
    # A loan of brand A named in brand B, on B's own borrower: not B's borrower's loan.
    b_customer = _borrower(client, other)
    assert _fields(_note(client, other, b_customer, text="x", loan_id=loan)) == ["loan_id"]

    sales = _key(platform, tenant, "sales")  # CUSTOMER READ, no CUSTOMER_NOTES
    refused = client.post(url, json={"text": "hi"}, headers=sales)
    assert refused.status_code == 403 and refused.json()["permission"] == "CUSTOMER_NOTES"
    assert client.get(url, headers=sales).status_code == 200  # reading notes is CUSTOMER READ
    collector = _key(platform, tenant, "collection_executive")  # CUSTOMER READ + CUSTOMER_NOTES WRITE
    written = client.post(url, json={"text": "Collector: promised to pay Friday"}, headers=collector)
    assert written.status_code == 201, written.text
    b_listed = client.get(f"/api/v1/customers/{b_customer}/notes", headers=other.auth).json()
    assert b_listed == {"items": [], "next_cursor": None}


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _signed_in(app: Any, platform: Any, tenant: Tenant, role: str) -> tuple[TestClient, str]:
    email = f"{role}-{uuid.uuid4().hex[:6]}@lender.in"
    platform.get(Identity).create_staff(
        tenant.brand_id, email, f"Noter {role.title()}", [role], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity")
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
    assert token is not None
    return browser, token.group(1)


def test_the_portal_form_adds_a_note_shown_on_the_360_and_the_loan_page(app: Any, client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant, "Portal Borrower")
    loan = _loan(platform, tenant, customer)
    assert _note(client, tenant, customer, text="Written by the API").status_code == 201
    browser, csrf = _signed_in(app, platform, tenant, "collection_executive")
    try:
        page = browser.get(f"/customers/{customer}").text
        assert 'id="customer-notes"' in page and 'id="note-form"' in page and "Written by the API" in page
        callback = (
            (datetime.now(UTC) + timedelta(hours=3)).astimezone(ZoneInfo("Asia/Kolkata")).strftime("%Y-%m-%dT%H:%M")
        )
        sent = browser.post(
            f"/customers/{customer}/notes",
            data={"csrf_token": csrf, "text": "Asked for a callback <after> 6 pm", "loan_id": loan,
                  "callback_at": callback},
        )  # fmt: skip
        assert sent.status_code == 303 and sent.headers["location"].startswith(f"/customers/{customer}#customer-notes")
        page = browser.get(f"/customers/{customer}").text
        section = page[page.index('id="customer-notes"') :]
        section = section[: section.index("</section>")]
        assert section.index("Asked for a callback &lt;after&gt; 6 pm") < section.index("Written by the API")
        assert "Noter Collection_Executive" in section and 'class="pill callback"' in section
        refused = browser.post(f"/customers/{customer}/notes", data={"csrf_token": csrf, "text": "  "})
        assert refused.status_code == 422 and "text" in refused.text
        forged = browser.post(f"/customers/{customer}/notes", data={"csrf_token": "forged", "text": "x"})
        assert forged.status_code == 403
        elsewhere = _borrower(client, make_tenant(platform))
        assert browser.post(f"/customers/{elsewhere}/notes", data={"csrf_token": csrf, "text": "x"}).status_code == 404
    finally:
        browser.__exit__(None, None, None)
    listed = client.get(f"/api/v1/customers/{customer}/notes", headers=tenant.auth).json()["items"]
    assert [n["text"] for n in listed] == ["Asked for a callback <after> 6 pm", "Written by the API"]
    assert listed[0]["loan_id"] == loan and listed[0]["author"].startswith("staff:")

    admin, _ = _signed_in(app, platform, tenant, "admin")
    try:
        loan_page = admin.get(f"/loans/{loan}").text
        notes = loan_page[loan_page.index('id="loan-notes"') :]
        notes = notes[: notes.index("</section>")]
        assert "Asked for a callback &lt;after&gt; 6 pm" in notes and "Written by the API" not in notes
    finally:
        admin.__exit__(None, None, None)

    sales, sales_csrf = _signed_in(app, platform, tenant, "sales")
    try:
        page = sales.get(f"/customers/{customer}").text
        assert 'id="customer-notes"' in page and 'id="note-form"' not in page  # reads notes, may not write one
        assert (
            sales.post(f"/customers/{customer}/notes", data={"csrf_token": sales_csrf, "text": "x"}).status_code == 403
        )
    finally:
        sales.__exit__(None, None, None)
