"""Bank statements carry the months they cover, and the bank statement step checks them against the brand's
`bank_statement_months`: uploads with a period (staff API, borrower API, the web flow's step and documents page),
refusals naming the field with nothing written, the step refused naming the missing months, the brand's setting
moving the requirement, statements without months accepted but flagged, staff's checklist and Customer 360 showing
the coverage, and another brand's statements counting for nothing."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from starlette.testclient import TestClient

from adapters.simulators.sms import SmsSimulator
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.shared.clock import business_date
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_onboarding_api import PERSONAL, _pan
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PASSWORD = "statement-months-2026"


def _months_back(count: int) -> list[str]:
    """The `count` months before this one, oldest first, walking back from the 1st of this month."""
    day = business_date(datetime.now(UTC)).replace(day=1)
    months = []
    for _ in range(count):
        day = (day - timedelta(days=1)).replace(day=1)
        months.append(day.strftime("%Y-%m"))
    return months[::-1]


def _this_month() -> str:
    """The brand's month now (read per test: a module constant went stale when a run crossed a month's end)."""
    return business_date(datetime.now(UTC)).strftime("%Y-%m")


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.documents_events").fetchone()[0])


def _pdf(tag: str) -> bytes:
    return PDF + tag.encode() + uuid.uuid4().hex.encode()


def _staff_upload(client: Any, tenant: Tenant, customer: str, data: bytes, **fields: str) -> Any:
    return client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "bank_statement", **fields},
        files={"file": ("statement.pdf", data, "application/pdf")},
        headers=tenant.auth,
    )


def _borrower_upload(client: Any, auth: dict[str, str], data: bytes, **fields: str) -> Any:
    return client.post(
        "/api/v1/borrower/documents",
        data={"kind": "bank_statement", **fields},
        files={"file": ("statement.pdf", data, "application/pdf")},
        headers=auth,
    )


def _customer(client: Any, tenant: Tenant) -> str:
    made = client.post("/api/v1/customers", json={"name": "Meera Iyer", "phone": mobile("9")}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _at_statement_step(client: Any, sms: SmsSimulator, tenant: Tenant, months: int = 3) -> dict[str, str]:
    """A borrower of the brand with every step before the bank statement done; the brand asks `months` months."""
    config = {"require_employment_data": False, "require_selfie_video": False, "bank_statement_months": months}
    assert client.patch("/api/v1/brand/config", json=config, headers=tenant.auth).status_code == 200
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    for step, body in (
        ("pan", {"pan": _pan()}),
        ("personal", PERSONAL),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-5"}),
        ("bank_account", {"account_number": "50100012345671", "ifsc": "HDFC0001234", "holder_name": "Asha Verma"}),
    ):
        assert client.put(f"/api/v1/borrower/steps/{step}", json=body, headers=auth).status_code == 200, step
    return auth


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [e["field"] for e in answer.json()["errors"]]


def test_a_staff_upload_records_a_statements_months_and_refuses_bad_ones_naming_the_field(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    customer = _customer(client, tenant)
    first, _, last = _months_back(3)
    stored = _staff_upload(client, tenant, customer, _pdf("staff"), period_from=first, period_to=last)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["period_from"], stored.json()["period_to"]) == (first, last)
    assert client.get(f"/api/v1/documents/{stored.json()['id']}", headers=tenant.auth).json()["period_to"] == last

    before = _events(dsn)
    # next month of the brand's business date (IST), not of the server's: from 18:30 UTC on a month's last day the
    # server's next month is already the brand's this month
    next_month = (business_date(datetime.now(UTC)).replace(day=28) + timedelta(days=10)).strftime("%Y-%m")
    assert _fields(_staff_upload(client, tenant, customer, _pdf("a"), period_from=last, period_to=first)) == [
        "period_to"
    ]  # backwards
    assert _fields(_staff_upload(client, tenant, customer, _pdf("b"), period_from=first, period_to=next_month)) == [
        "period_to"
    ]  # the future
    assert _fields(_staff_upload(client, tenant, customer, _pdf("c"), period_from="2001-01", period_to=last)) == [
        "period_from"
    ]  # absurdly old
    assert _fields(_staff_upload(client, tenant, customer, _pdf("d"), period_from="Aug 2026", period_to=last)) == [
        "period_from"
    ]
    assert _fields(_staff_upload(client, tenant, customer, _pdf("e"), period_from=first)) == ["period_to"]
    pan = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "pan_card", "period_from": first, "period_to": last},
        files={"file": ("pan.pdf", _pdf("pan"), "application/pdf")},
        headers=tenant.auth,
    )
    assert _fields(pan) == ["period_from"]
    assert _events(dsn) == before  # nothing written by any refusal

    unknown = _staff_upload(client, tenant, customer, _pdf("old caller"))  # as every caller did before
    assert unknown.status_code == 201 and unknown.json()["period_from"] is None


def test_the_checklist_shows_the_months_covered_the_gap_and_statements_without_months(
    client: Any, platform: Any, tenant: Tenant
) -> None:
    customer = _customer(client, tenant)
    required = _months_back(3)
    url = f"/api/v1/customers/{customer}/document-checklist"
    empty = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert empty["required"] == required and empty["missing"] == required and empty["covered"] == []
    assert empty["months_required"] == 3 and empty["complete"] is False

    answer = _staff_upload(client, tenant, customer, _pdf("1"), period_from=required[1], period_to=_this_month())
    assert answer.status_code == 201, answer.text
    settle(platform, "documents")
    gap = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert gap["covered"] == [*required[1:], _this_month()] and gap["missing"] == [required[0]]
    assert gap["summary"] == f"{required[1]}..{_this_month()} (2 of 3 months); missing {required[0]}"

    _staff_upload(client, tenant, customer, _pdf("2"))
    rejected = _staff_upload(client, tenant, customer, _pdf("3"), period_from=required[0], period_to=required[0])
    review = {"decision": "rejected", "reason": "another account"}
    client.post(f"/api/v1/documents/{rejected.json()['id']}/review", json=review, headers=tenant.auth)
    settle(platform, "documents")
    flagged = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert flagged["missing"] == [required[0]] and flagged["period_not_given"] == 1  # the rejected one not counted

    _staff_upload(client, tenant, customer, _pdf("4"), period_from=required[0], period_to=required[0])
    settle(platform, "documents")
    whole = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert whole["complete"] is True and whole["missing"] == []
    assert whole["summary"].startswith(f"{required[0]}..{_this_month()} (3 of 3 months)")

    assert (
        client.patch("/api/v1/brand/config", json={"bank_statement_months": 6}, headers=tenant.auth).status_code == 200
    )
    six = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert six["months_required"] == 6 and six["missing"] == _months_back(6)[:3]

    other = make_tenant(platform)
    assert client.get(url, headers=other.auth).status_code == 404


def test_the_statement_step_names_the_missing_months_records_nothing_and_follows_the_brands_setting(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    auth = _at_statement_step(client, sms, tenant, months=3)
    required = _months_back(3)
    later = _borrower_upload(client, auth, _pdf("later"), period_from=required[1], period_to=required[2])
    assert later.status_code == 201, later.text
    assert later.json()["period_from"] == required[1] and later.json()["uploaded_by"] == "borrower"
    version = client.get("/api/v1/borrower/me", headers=auth).json()
    refused = client.put(
        "/api/v1/borrower/steps/bank_statement", json={"method": "upload", "document_ids": [later.json()["id"]]},
        headers=auth,
    )  # fmt: skip
    assert _fields(refused) == ["document_ids"]
    message = refused.json()["errors"][0]["message"]
    assert f"statements cover {required[1]}..{required[2]}" in message
    assert f"{required[0]} is missing" in message and "needs 3 months" in message
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["next_step"] == "bank_statement" and me == version  # nothing recorded

    earlier = _borrower_upload(client, auth, _pdf("earlier"), period_from=required[0], period_to=required[0])
    ids = [later.json()["id"], earlier.json()["id"]]
    done = client.put(
        "/api/v1/borrower/steps/bank_statement", json={"method": "upload", "document_ids": ids}, headers=auth
    )
    assert done.status_code == 200, done.text
    assert client.get("/api/v1/borrower/me", headers=auth).json()["next_step"] == "loan_request"

    # The brand now asks six months: the same statements are three short.
    assert (
        client.patch("/api/v1/brand/config", json={"bank_statement_months": 6}, headers=tenant.auth).status_code == 200
    )
    again = client.put(
        "/api/v1/borrower/steps/bank_statement", json={"method": "upload", "document_ids": ids}, headers=auth
    )
    six = _months_back(6)
    assert _fields(again) == ["document_ids"]
    assert f"{six[0]}..{six[2]} are missing" in again.json()["errors"][0]["message"]

    # A statement without its months: accepted (it may cover the gap), flagged for staff.
    unknown = _borrower_upload(client, auth, _pdf("unknown"))
    assert unknown.status_code == 201 and unknown.json()["period_from"] is None
    body = {"method": "upload", "document_ids": [*ids, unknown.json()["id"]]}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth).status_code == 200
    settle(platform, "documents")
    listed = client.get("/api/v1/borrower/documents", headers=auth).json()
    assert listed["bank_statements"]["period_not_given"] == 1
    assert listed["bank_statements"]["missing"] == six[:3]

    # The Account Aggregator is not asked for months.
    assert (
        client.patch("/api/v1/brand/config", json={"account_aggregation": True}, headers=tenant.auth).status_code == 200
    )
    aa = {"method": "account_aggregator", "consent_id": "AA-9"}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=aa, headers=auth).status_code == 200


def test_another_brands_statement_counts_for_nothing(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    other = make_tenant(platform)
    theirs = _staff_upload(
        client, other, _customer(client, other), _pdf("theirs"), period_from=_months_back(3)[0], period_to=_this_month()
    )
    assert theirs.status_code == 201
    auth = _at_statement_step(client, sms, tenant)
    body = {"method": "upload", "document_ids": [theirs.json()["id"]]}
    assert _fields(client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth)) == ["document_ids[0]"]
    assert client.get(f"/api/v1/documents/{theirs.json()['id']}", headers=tenant.auth).status_code == 404


def test_the_statement_step_counts_only_statements_not_another_kind_nor_a_rejected_one(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    # A document of another kind, or a statement staff rejected, listed among the statements: a 422 naming it, not
    # a statement "without its months" given the benefit of the doubt (which let the month check be bypassed).
    auth = _at_statement_step(client, sms, tenant, months=3)
    required = _months_back(3)
    later = _borrower_upload(client, auth, _pdf("later"), period_from=required[1], period_to=required[2])
    pan = client.post(
        "/api/v1/borrower/documents",
        data={"kind": "pan_card"},
        files={"file": ("pan.pdf", _pdf("pan"), "application/pdf")},
        headers=auth,
    )
    assert later.status_code == 201 and pan.status_code == 201, pan.text
    version = client.get("/api/v1/borrower/me", headers=auth).json()
    body = {"method": "upload", "document_ids": [later.json()["id"], pan.json()["id"]]}
    refused = client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth)
    assert _fields(refused) == ["document_ids[1]"]
    assert "not a bank statement" in refused.json()["errors"][0]["message"]
    assert client.get("/api/v1/borrower/me", headers=auth).json() == version  # nothing recorded

    wrong = _borrower_upload(client, auth, _pdf("wrong account"), period_from=required[0], period_to=required[0])
    review = {"decision": "rejected", "reason": "another person's account"}
    rejected = client.post(f"/api/v1/documents/{wrong.json()['id']}/review", json=review, headers=tenant.auth)
    assert rejected.status_code == 200, rejected.text
    body = {"method": "upload", "document_ids": [later.json()["id"], wrong.json()["id"]]}
    refused = client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth)
    assert _fields(refused) == ["document_ids[1]"] and "rejected" in refused.json()["errors"][0]["message"]
    assert client.get("/api/v1/borrower/me", headers=auth).json() == version

    earlier = _borrower_upload(client, auth, _pdf("earlier"), period_from=required[0], period_to=required[0])
    body = {"method": "upload", "document_ids": [later.json()["id"], earlier.json()["id"]]}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth).status_code == 200


def _web(app: Any, tenant: Tenant, auth: dict[str, str]) -> Any:
    web = TestClient(app, follow_redirects=False)
    web.__enter__()
    web.cookies.set("cd_borrower", auth["Authorization"].removeprefix("Bearer "), path=f"/apply/{tenant.slug}")
    return web


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_web_flow_asks_the_statements_months_and_shows_errors_at_the_fields(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator, dsn: str
) -> None:
    auth = _at_statement_step(client, sms, tenant, months=3)
    required = _months_back(3)
    web = _web(app, tenant, auth)
    step = f"/apply/{tenant.slug}/steps/bank_statement"
    try:
        form = web.get(step)
        assert form.status_code == 200 and 'type="month"' in form.text and 'id="period_from"' in form.text
        assert 'id="statement-months" data-months="3"' in form.text
        csrf = _csrf(form.text)

        def post(data: bytes, **months: str) -> Any:
            files = {"statement": ("statement.pdf", data, "application/pdf")}
            return web.post(step, data={"csrf_token": csrf, **months}, files=files)

        before = _events(dsn)
        backwards = post(_pdf("web backwards"), period_from=required[2], period_to=required[0])
        assert backwards.status_code == 422 and 'id="error-period_to"' in backwards.text
        assert f'value="{required[2]}"' in backwards.text  # what was typed is kept
        assert _events(dsn) == before

        short = post(_pdf("web short"), period_from=required[1], period_to=required[2])
        assert short.status_code == 422 and 'id="error-statement"' in short.text
        assert f"{required[0]} is missing" in short.text
        settle(platform, "documents")

        # The month's own statement: with the one sent before, the months are covered.
        whole = post(_pdf("web first month"), period_from=required[0], period_to=required[0])
        assert whole.status_code == 303, whole.text
        me = client.get("/api/v1/borrower/me", headers=auth).json()
        assert me["next_step"] == "loan_request"

        documents = f"/apply/{tenant.slug}/documents"
        page = web.get(documents)
        assert 'id="documents-period"' in page.text and 'id="documents-statement-months" data-missing="0"' in page.text
        assert f'data-period="{required[0]}..{required[0]}"' in page.text
        bad = web.post(
            documents,
            data={"csrf_token": csrf, "kind": "bank_statement", "period_from": "2026-13", "period_to": required[2]},
            files={"file": ("s.pdf", _pdf("docs bad"), "application/pdf")},
        )
        assert bad.status_code == 422 and 'id="error-period_from"' in bad.text and 'id="documents-error"' in bad.text
        good = web.post(
            documents,
            data={"csrf_token": csrf, "kind": "bank_statement", "period_from": required[2], "period_to": _this_month()},
            files={"file": ("s.pdf", _pdf("docs good"), "application/pdf")},
        )
        assert good.status_code == 303, good.text
        settle(platform, "documents")
        assert f'data-period="{required[2]}..{_this_month()}"' in web.get(documents).text
    finally:
        web.__exit__(None, None, None)

    customer = client.get("/api/v1/borrower/documents", headers=auth).json()["items"][0]["customer_id"]
    email = f"stmt-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Nina Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    with TestClient(app, follow_redirects=False) as staff:
        assert staff.post("/login", data={"email": email, "password": PASSWORD}).status_code in (302, 303)
        card = staff.get(f"/customers/{customer}").text
    line = re.search(r'id="document-checklist-statement-months"[^>]*data-complete="(\w+)"[^>]*>([^<]+)<', card)
    assert line is not None, card
    assert line.group(1) == "true"
    assert line.group(2) == f"Bank statements: {required[0]}..{_this_month()} (3 of 3 months)"


def test_a_brand_held_on_a_past_business_date_asks_the_statement_months_before_that_day(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    # The brand runs as of 15 Mar 2024 (its configured business date, as its jobs and the BRE do): its checklists,
    # the uploads' months, the funnel's statement step and its page counted from the real date instead.
    held = client.patch("/api/v1/brand/config", json={"business_date": "2024-03-15"}, headers=tenant.auth)
    assert held.status_code == 200, held.text
    required = ["2023-12", "2024-01", "2024-02"]
    customer = _customer(client, tenant)
    url = f"/api/v1/customers/{customer}/document-checklist"
    assert client.get(url, headers=tenant.auth).json()["bank_statements"]["required"] == required

    # The held month is this month: a statement into it is fine, one into the month after is in the future.
    assert _fields(
        _staff_upload(client, tenant, customer, _pdf("april"), period_from="2024-02", period_to="2024-04")
    ) == ["period_to"]
    assert (
        _staff_upload(client, tenant, customer, _pdf("q1"), period_from="2024-01", period_to="2024-03").status_code
        == 201
    )
    settle(platform, "documents")
    gap = client.get(url, headers=tenant.auth).json()["bank_statements"]
    assert (gap["covered"], gap["missing"]) == (["2024-01", "2024-02", "2024-03"], ["2023-12"])

    # The borrower's step and page ask the same months.
    auth = _at_statement_step(client, sms, tenant, months=3)
    later = _borrower_upload(client, auth, _pdf("later"), period_from="2024-01", period_to="2024-02")
    assert later.status_code == 201, later.text
    body = {"method": "upload", "document_ids": [later.json()["id"]]}
    refused = client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth)
    assert _fields(refused) == ["document_ids"]
    assert refused.json()["errors"][0]["message"].endswith("needs 3 months (2023-12..2024-02): 2023-12 is missing")
    web = _web(app, tenant, auth)
    try:
        form = web.get(f"/apply/{tenant.slug}/steps/bank_statement")
        assert form.status_code == 200
        assert "<strong>Dec 2023</strong> to <strong>Feb 2024</strong>" in form.text
    finally:
        web.__exit__(None, None, None)
    earlier = _borrower_upload(client, auth, _pdf("earlier"), period_from="2023-12", period_to="2023-12")
    body = {"method": "upload", "document_ids": [later.json()["id"], earlier.json()["id"]]}
    assert client.put("/api/v1/borrower/steps/bank_statement", json=body, headers=auth).status_code == 200
    settle(platform, "documents")
    listed = client.get("/api/v1/borrower/documents", headers=auth).json()["bank_statements"]
    assert (listed["required"], listed["missing"], listed["complete"]) == (required, [], True)
