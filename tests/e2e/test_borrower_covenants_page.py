"""The web flow's "Your covenants" page over HTTP with the flow's cookie: a borrower sees their own covenants'
Open and Overdue records (what, when, the status in the spec's words), uploads proof of compliance through the
documents' checks, and staff find it on the record (`uploaded_by` borrower, the borrower the actor, "submitted by
the borrower" on the covenant page) to review; the borrower has no way to mark it complied. Refusals write nothing:
another borrower's or another brand's record (404), a complied record (409), an oversize or disguised file (422),
no session, a forged CSRF token. A covenant staff closed is no longer chased: its records are listed as no longer
required, not counted, and take no proof from the borrower."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg
from starlette.testclient import TestClient

from adapters.simulators.sms import SmsSimulator
from api.routes.documents import UPLOAD
from domain.covenants.application import Covenants
from domain.documents.application import Documents
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.onboarding.application import Onboarding
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_documents_page import _borrower, _csrf
from tests.e2e.test_covenants import _covenant, _evaluations, _run
from tests.support import settle

__all__ = ["sms"]  # the fixture, used by name

STOCK = {"type": "document", "document": "Monthly stock statement", "title": "Stock statement", "metric": None,
         "operator": None, "threshold": None}  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PASSWORD = "covenant-page-pass-2026"


def _pdf(label: str) -> bytes:
    """A PDF of bytes no other test uploads."""
    return b"%PDF-1.7\n%" + f"{label} {uuid.uuid4()}".encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _customer(platform: Any, tenant: Tenant, web: Any) -> str:
    """The signed-in borrower's Customer 360 record (made at the personal step)."""
    signed = platform.get(Onboarding).authenticate(web.cookies.get("cd_borrower"))
    customer_id = platform.get(Onboarding).funnel(tenant.brand_id, signed.borrower_id).customer_id
    assert customer_id is not None
    return str(customer_id)


def _record(client: Any, tenant: Tenant, covenant_id: str) -> dict[str, Any]:
    (record,) = _evaluations(client, tenant, covenant_id)
    return record


def _prove(web: Any, slug: str, csrf: str, record_id: str, name: str, data: bytes) -> Any:
    return web.post(
        f"/apply/{slug}/covenants/{record_id}/proof",
        data={"csrf_token": csrf},
        files={"file": (name, data, "application/octet-stream")},
    )


def _events(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        documents = conn.execute("SELECT count(*) FROM events.documents_events").fetchone()
        covenants = conn.execute("SELECT count(*) FROM events.covenants_events").fetchone()
    assert documents is not None and covenants is not None
    return int(documents[0]), int(covenants[0])


def _staff(app: Any, platform: Any, tenant: Tenant) -> TestClient:
    email = f"cov-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, email, "Kavya Ops", ["admin"], PASSWORD, granter=OPERATOR)
    settle(platform, "identity")
    staff = TestClient(app, follow_redirects=False)
    staff.__enter__()
    assert staff.post("/login", data={"email": email, "password": PASSWORD}).status_code in (302, 303)
    return staff


def test_a_borrower_sees_their_covenant_uploads_proof_and_staff_see_it_submitted_by_the_borrower(
    app: Any, client: Any, platform: Any, sms: SmsSimulator
) -> None:
    tenant = make_tenant(platform)
    slug = tenant.slug
    web, _ = _borrower(app, client, sms, tenant)
    other, _ = _borrower(app, client, sms, tenant)
    staff = None
    try:
        # Before any covenant, the status page does not link an empty covenants page; the page says there are none.
        assert 'id="covenants-link"' not in web.get(f"/apply/{slug}/status").text
        assert 'id="covenants-none"' in web.get(f"/apply/{slug}/covenants").text

        mine = _covenant(client, tenant, _customer(platform, tenant, web), **STOCK)
        theirs = _covenant(client, tenant, _customer(platform, tenant, other), **(STOCK | {"title": "Insurance copy"}))
        _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
        record, their_record = _record(client, tenant, mine["id"]), _record(client, tenant, theirs["id"])

        status = web.get(f"/apply/{slug}/status")
        assert f'href="/apply/{slug}/covenants" id="covenants-link"' in status.text
        assert 'data-awaiting="1"' in status.text
        page = web.get(f"/apply/{slug}/covenants")
        assert page.status_code == 200, page.text
        assert "Stock statement" in page.text and "Monthly stock statement" in page.text
        assert f'data-record="{record["id"]}" data-status="open" data-state="open"' in page.text
        assert "31 Jan 2024" in page.text and "expected to be submitted by you" in page.text
        assert their_record["id"] not in page.text and "Insurance copy" not in page.text  # not theirs
        assert "comply" not in page.text.lower()  # no way for the borrower to decide a record

        data = _pdf("borrower stock")
        sent = _prove(web, slug, _csrf(web, slug), record["id"], "stock-jan.pdf", data)
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"/apply/{slug}/covenants?submitted={record['id']}"
        after = web.get(sent.headers["location"])
        assert 'id="covenants-saved"' in after.text and "Received: your proof for" in after.text
        assert 'data-state="open_received"' in after.text and "to be reviewed by the lender" in after.text
        assert "stock-jan.pdf" in after.text
        assert 'data-awaiting="0"' in web.get(f"/apply/{slug}/status").text

        # Attached as a staff proof is: the record stays Open, the borrower its uploader and actor.
        seen = client.get(f"/api/v1/covenant-evaluations/{record['id']}", headers=tenant.auth).json()
        assert (seen["status"], seen["proof_received"]) == ("open", True)
        (proof,) = seen["proofs"]
        assert (proof["filename"], proof["uploaded_by"], proof["approved"]) == ("stock-jan.pdf", "borrower", False)
        signed = platform.get(Onboarding).authenticate(web.cookies.get("cd_borrower"))
        assert proof["attached_by"] == f"borrower:{signed.borrower_id}"
        document = platform.get(Documents).document(tenant.brand_id, UUID(proof["document_id"]))
        assert (document.kind.value, document.uploaded_by.value) == ("other", "borrower")
        settle(platform, "documents")  # the borrower's own upload: on their documents page too
        assert f'data-file="{proof["document_id"]}"' in web.get(f"/apply/{slug}/documents").text

        # There is no address by which the borrower marks it complied.
        csrf = _csrf(web, slug)
        for action in ("comply", "waive"):
            refused = web.post(f"/apply/{slug}/covenants/{record['id']}/{action}", data={"csrf_token": csrf})
            assert refused.status_code in (404, 405), action
        assert (
            client.get(f"/api/v1/covenant-evaluations/{record['id']}", headers=tenant.auth).json()["status"] == "open"
        )

        staff = _staff(app, platform, tenant)
        covenant_page = staff.get(f"/covenants/{mine['id']}").text
        proofs = covenant_page[covenant_page.index(f'id="proofs-{record["id"]}"') :].split("</ul>")[0]
        assert "stock-jan.pdf" in proofs and "submitted by the borrower" in proofs
        assert f'id="comply-form-{record["id"]}"' in covenant_page  # staff review it
    finally:
        web.__exit__(None, None, None)
        other.__exit__(None, None, None)
        if staff is not None:
            staff.__exit__(None, None, None)


def test_refused_proof_uploads_write_nothing(app: Any, client: Any, platform: Any, sms: SmsSimulator, dsn: str) -> None:
    tenant, elsewhere = make_tenant(platform), make_tenant(platform)
    slug = tenant.slug
    web, _ = _borrower(app, client, sms, tenant)
    other, _ = _borrower(app, client, sms, tenant)
    foreign, _ = _borrower(app, client, sms, elsewhere)
    try:
        mine = _covenant(client, tenant, _customer(platform, tenant, web), **STOCK)
        decided = _covenant(client, tenant, _customer(platform, tenant, web), **(STOCK | {"title": "Audited accounts"}))
        theirs = _covenant(client, tenant, _customer(platform, tenant, other), **STOCK)
        foreign_covenant = _covenant(client, elsewhere, _customer(platform, elsewhere, foreign), **STOCK)
        _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
        _run(client, platform, elsewhere, "covenant-evaluation", "2024-01-24")
        record = _record(client, tenant, mine["id"])["id"]
        complied = _record(client, tenant, decided["id"])["id"]
        their_record = _record(client, tenant, theirs["id"])["id"]
        foreign_record = _record(client, elsewhere, foreign_covenant["id"])["id"]
        url = f"/api/v1/covenant-evaluations/{complied}/comply"
        assert client.post(url, json={"evidence": "Accounts seen"}, headers=tenant.auth).status_code == 200
        settle(platform, "covenants")
        csrf = _csrf(web, slug)
        page = web.get(f"/apply/{slug}/covenants").text
        assert complied not in page  # a closed record is not listed for proof

        before = _events(dsn)
        # Another borrower's record, another brand's record, an unknown or malformed id: "Not found", nothing written.
        for target in (their_record, foreign_record, str(uuid.uuid4()), "not-an-id"):
            refused = _prove(web, slug, csrf, target, "stock.pdf", _pdf("planted"))
            assert refused.status_code == 404 and "There is no such covenant record." in refused.text, target
        # The foreign brand's borrower, at their own brand, naming this brand's record: the same.
        planted = _prove(foreign, elsewhere.slug, _csrf(foreign, elsewhere.slug), record, "stock.pdf", _pdf("x"))
        assert planted.status_code == 404
        # This borrower's session at the other brand's flow opens nothing there.
        foreign_url = f"/apply/{elsewhere.slug}"
        web.cookies.set("cd_borrower", web.cookies.get("cd_borrower", path=f"/apply/{slug}"), path=foreign_url)
        crossed = web.post(f"{foreign_url}/covenants/{foreign_record}/proof", data={"csrf_token": csrf},
                           files={"file": ("s.pdf", _pdf("cross"), "application/pdf")})  # fmt: skip
        assert crossed.status_code == 303 and crossed.headers["location"] == foreign_url
        assert web.get(f"{foreign_url}/covenants").headers["location"] == foreign_url
        # A complied record: closed, said so.
        closed = _prove(web, slug, csrf, complied, "late.pdf", _pdf("late"))
        assert closed.status_code == 409 and "already complied (closed)" in closed.text
        assert 'id="covenants-error"' in closed.text
        # Files the documents page refuses: too large, disguised, not a document type, none at all.
        big = _prove(web, slug, csrf, record, "big.pdf", _pdf("big") + b"\x00" * UPLOAD.max_bytes)
        assert big.status_code == 422 and f"the limit is {UPLOAD.max_bytes}" in big.text
        assert f'id="record-error-{record}"' in big.text
        disguised = _prove(web, slug, csrf, record, "stock.pdf", PNG)
        assert disguised.status_code == 422 and "named .pdf" in disguised.text and "PNG" in disguised.text
        gif = _prove(web, slug, csrf, record, "stock.gif", b"GIF89a" + b"\x00" * 64)
        assert gif.status_code == 422 and "only PDF, JPEG and PNG" in gif.text
        none = web.post(f"/apply/{slug}/covenants/{record}/proof", data={"csrf_token": csrf})
        assert none.status_code == 422 and "Choose a file" in none.text
        # A forged token, and no session at all.
        forged = _prove(web, slug, "forged", record, "stock.pdf", _pdf("forged"))
        assert forged.status_code == 403 and "expired" in forged.text
        with TestClient(app, follow_redirects=False) as anonymous:
            nobody = anonymous.post(f"/apply/{slug}/covenants/{record}/proof", data={"csrf_token": csrf},
                                    files={"file": ("s.pdf", _pdf("anon"), "application/pdf")})  # fmt: skip
            assert nobody.status_code == 303 and nobody.headers["location"] == f"/apply/{slug}"
            assert anonymous.get(f"/apply/{slug}/covenants").headers["location"] == f"/apply/{slug}"
        assert _events(dsn) == before
        for target, auth in ((record, tenant.auth), (their_record, tenant.auth), (foreign_record, elsewhere.auth)):
            assert client.get(f"/api/v1/covenant-evaluations/{target}", headers=auth).json()["proofs"] == []
    finally:
        web.__exit__(None, None, None)
        other.__exit__(None, None, None)
        foreign.__exit__(None, None, None)


def test_a_closed_covenants_records_are_no_longer_asked_of_the_borrower(
    app: Any, client: Any, platform: Any, sms: SmsSimulator, dsn: str
) -> None:
    """Closing stops the chase on the borrower's side too: a closed covenant's Open and Overdue records keep their
    status (staff may still decide them), but the page lists them as no longer required - closed by the lender on
    the day - without an upload form, the status page does not count them as due, and an upload is refused (409)
    with nothing written. The covenant still chased keeps its form and its count."""
    tenant = make_tenant(platform)
    slug = tenant.slug
    web, _ = _borrower(app, client, sms, tenant)
    try:
        customer = _customer(platform, tenant, web)
        kept = _covenant(client, tenant, customer, **STOCK)
        closed_open = _covenant(client, tenant, customer, **(STOCK | {"title": "Insurance copy"}))
        closed_overdue = _covenant(client, tenant, customer, **(STOCK | {"title": "Audited accounts"}))
        _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
        kept_record = _record(client, tenant, kept["id"])["id"]
        open_record = _record(client, tenant, closed_open["id"])["id"]
        overdue_record = _record(client, tenant, closed_overdue["id"])["id"]
        # One record is Overdue before its covenant is closed, the other still Open.
        assert platform.get(Covenants).mark_overdue([UUID(overdue_record)], date(2024, 2, 6)) == 1
        settle(platform, "covenants")
        assert 'data-awaiting="3"' in web.get(f"/apply/{slug}/status").text

        for covenant in (closed_open, closed_overdue):
            closed = client.post(f"/api/v1/covenants/{covenant['id']}/close", json={"reason": "loan prepaid in full"},
                                 headers=tenant.auth)  # fmt: skip
            assert closed.status_code == 200, closed.text
        settle(platform, "covenants")

        assert 'data-awaiting="1"' in web.get(f"/apply/{slug}/status").text  # only the covenant still chased
        page = web.get(f"/apply/{slug}/covenants").text
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT closed_at FROM read.covenants WHERE id = %s", (closed_open["id"],)).fetchone()
        assert row is not None and row[0] is not None
        zone = ZoneInfo(platform.get(Onboarding).brands.rules(tenant.brand_id).timezone)
        closed_on = row[0].astimezone(zone).strftime("%d %b %Y")
        for record, status in ((open_record, "open"), (overdue_record, "overdue")):
            assert f'data-record="{record}" data-status="{status}" data-state="closed"' in page  # status kept
            listed = page[page.index(f'id="record-{record}"') :].split("</div>")[0]
            assert f"No longer required: closed by {slug} on" in listed and closed_on in listed
            assert "expected to be submitted by you" not in listed and "was not received" not in listed
            assert f'id="proof-form-{record}"' not in page
        assert f'data-record="{kept_record}" data-status="open" data-state="open"' in page
        assert f'id="proof-form-{kept_record}"' in page

        # An upload to a closed covenant's record is refused at the record, nothing written.
        before = _events(dsn)
        for record in (open_record, overdue_record):
            refused = _prove(web, slug, _csrf(web, slug), record, "late.pdf", _pdf("late"))
            assert refused.status_code == 409, refused.text
            assert f'id="record-error-{record}"' in refused.text
            assert f"{slug} closed this covenant: the record is no longer required" in refused.text
        assert _events(dsn) == before
        for record, status in ((open_record, "open"), (overdue_record, "overdue")):
            seen = client.get(f"/api/v1/covenant-evaluations/{record}", headers=tenant.auth).json()
            assert (seen["status"], seen["proofs"]) == (status, [])

        # Staff may still attach proof and decide the record; the borrower's other covenant takes proof as before.
        by_staff = client.post(f"/api/v1/covenant-evaluations/{open_record}/proofs",
                               files={"file": ("accounts.pdf", _pdf("staff"), "application/pdf")},
                               headers=tenant.auth)  # fmt: skip
        assert by_staff.status_code in (200, 201), by_staff.text
        sent = _prove(web, slug, _csrf(web, slug), kept_record, "stock.pdf", _pdf("kept"))
        assert sent.status_code == 303, sent.text
    finally:
        web.__exit__(None, None, None)
