"""A borrower downloads their own documents: through the borrower API (`GET /api/v1/borrower/documents/{id}/file`,
their bearer token) and from the web flow's documents page (its link, the flow's cookie). The bytes are the upload's,
with the staff download's headers and the uploaded name as RFC 6266's `filename*`; a rejected upload still opens.
Another borrower's document, another brand's, or an unknown id is the same 404; no token is a 401.

What the borrower sees of their record follows `domain.documents.document.borrower_sees`: their own uploads, what a
provider fetched and what staff uploaded for them of a KYC kind; staff's uploads of kind `other` (collection evidence,
recovery documents, covenant proofs) are internal: never listed, and the same 404 as an unknown id by every path."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from typing import Any

import pytest

from adapters.document_store import FolderDocumentStore, document_store_from_env
from adapters.simulators.sms import SmsSimulator
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from projections.documents import DocumentQueries
from projections.keyset import InvalidCursor
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_documents_page import _borrower, _csrf, _upload
from tests.support import settle

__all__ = ["sms"]  # the fixture, used by name

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _unique(data: bytes) -> bytes:
    """Bytes no other test stores (the store is content-addressed; a borrower may not send the same file twice)."""
    return data + uuid.uuid4().bytes


def _api_upload(client: Any, auth: dict[str, str], kind: str, name: str, data: bytes) -> dict[str, Any]:
    sent = client.post("/api/v1/borrower/documents", data={"kind": kind}, files={"file": (name, data)}, headers=auth)
    assert sent.status_code == 201, sent.text
    return dict(sent.json())


def _file(document_id: str) -> str:
    return f"/api/v1/borrower/documents/{document_id}/file"


def _not_found(answer: Any, document_id: str) -> dict[str, Any]:
    """The 404's body with the asked id taken out, to compare one refusal with another."""
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    return dict(json.loads(answer.text.replace(document_id, "<id>")))


def test_a_borrower_downloads_their_own_document_byte_for_byte_with_the_staff_headers(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    data = _unique(PDF)
    doc = _api_upload(client, auth, "bank_statement", "Statement März ₹; 2026.pdf", data)

    served = client.get(_file(doc["id"]), headers=auth)
    assert served.status_code == 200, served.text
    assert served.content == data and hashlib.sha256(served.content).hexdigest() == doc["sha256"]
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["cache-control"] == "no-store"
    assert served.headers["etag"] == f'"{doc["sha256"]}"'
    disposition = served.headers["content-disposition"]
    assert disposition.startswith(f"attachment; filename=\"bank_statement-{doc['id']}.pdf\"; filename*=UTF-8''")
    assert doc["filename"] == "Statement März ₹; 2026.pdf"
    assert disposition.endswith("filename*=UTF-8''Statement%20M%C3%A4rz%20%E2%82%B9%3B%202026.pdf")
    assert disposition.isascii() and disposition.count(";") == 2  # the name cannot add or end a parameter

    # The staff download serves the same bytes under the same type (its name stays ours alone).
    staff = client.get(f"/api/v1/documents/{doc['id']}/content", headers=tenant.auth)
    assert staff.content == served.content and staff.headers["content-type"] == served.headers["content-type"]
    assert staff.headers["content-disposition"] == f'attachment; filename="bank_statement-{doc["id"]}.pdf"'


def test_a_name_without_the_type_s_extension_is_saved_with_it(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    doc = _api_upload(client, auth, "pan_card", "pan scan", _unique(PNG))
    served = client.get(_file(doc["id"]), headers=auth)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["content-disposition"].endswith("filename*=UTF-8''pan%20scan.png")


def test_a_rejected_upload_still_opens_for_the_borrower_who_sent_it(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    data = _unique(PNG)
    doc = _api_upload(client, auth, "pan_card", "blurred.png", data)
    review = {"decision": "rejected", "reason": "The photo is blurred"}
    rejected = client.post(f"/api/v1/documents/{doc['id']}/review", json=review, headers=tenant.auth)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    served = client.get(_file(doc["id"]), headers=auth)
    assert served.status_code == 200 and served.content == data


def test_another_borrower_s_another_brand_s_or_an_unknown_document_is_the_same_404(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    owner_web, owner = _borrower(app, client, sms, tenant)
    neighbour_web, neighbour = _borrower(app, client, sms, tenant)
    other = make_tenant(platform)
    stranger_web, stranger = _borrower(app, client, sms, other)
    for web in (owner_web, neighbour_web, stranger_web):
        web.__exit__(None, None, None)
    doc = _api_upload(client, owner, "pan_card", "pan.png", _unique(PNG))
    theirs = _api_upload(client, stranger, "pan_card", "pan.png", _unique(PNG))
    unknown = str(uuid.uuid4())

    same_brand = _not_found(client.get(_file(doc["id"]), headers=neighbour), doc["id"])
    other_brand = _not_found(client.get(_file(doc["id"]), headers=stranger), doc["id"])
    from_other_brand = _not_found(client.get(_file(theirs["id"]), headers=owner), theirs["id"])
    no_such = _not_found(client.get(_file(unknown), headers=owner), unknown)
    assert same_brand == other_brand == from_other_brand == no_such
    assert client.get(_file(doc["id"]), headers=owner).status_code == 200  # the owner's own still opens

    # A borrower before the personal step has no record, so no documents.
    fresh_web, fresh = _borrower(app, client, sms, tenant, personal=False)
    fresh_web.__exit__(None, None, None)
    assert _not_found(client.get(_file(doc["id"]), headers=fresh), doc["id"]) == no_such


def test_no_borrower_token_is_a_401_and_a_staff_key_opens_no_borrower_download(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    doc = _api_upload(client, auth, "pan_card", "pan.png", _unique(PNG))
    anonymous = client.get(_file(doc["id"]))
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    assert client.get(_file(doc["id"]), headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get(_file(doc["id"]), headers=tenant.auth).status_code == 401


def test_bytes_altered_in_the_store_are_refused_not_served(
    app: Any, client: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    data = _unique(PDF)
    doc = _api_upload(client, auth, "bank_statement", "statement.pdf", data)
    store = document_store_from_env(os.environ)
    assert isinstance(store, FolderDocumentStore)
    path = store._path(doc["sha256"])
    try:
        path.write_bytes(data + b"altered")
        refused = client.get(_file(doc["id"]), headers=auth)
        assert refused.status_code == 409 and "does not match its recorded SHA-256" in refused.json()["detail"]
    finally:
        path.write_bytes(data)
    assert client.get(_file(doc["id"]), headers=auth).content == data


def test_the_documents_page_links_each_file_to_its_download_by_the_flow_s_cookie(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    neighbour, _ = _borrower(app, client, sms, tenant)
    slug = tenant.slug
    data = _unique(PNG)
    try:
        assert _upload(web, slug, _csrf(web, slug), "pan_card", "my-pan.png", data).status_code == 303
        doc = client.get("/api/v1/borrower/documents", headers=auth).json()["items"][0]
        page = web.get(f"/apply/{slug}/documents")
        link = re.search(rf'<a href="([^"]+)" data-file="{doc["id"]}" download>my-pan.png</a>', page.text)
        assert link is not None, page.text
        assert link.group(1) == f"/apply/{slug}/documents/{doc['id']}/file"

        served = web.get(link.group(1))
        assert served.status_code == 200 and served.content == data
        assert served.headers["content-type"] == "image/png"
        assert served.headers["content-disposition"] == (
            f"attachment; filename=\"pan_card-{doc['id']}.png\"; filename*=UTF-8''my-pan.png"
        )
        assert served.headers["x-content-type-options"] == "nosniff" and served.headers["cache-control"] == "no-store"

        # Another borrower's session, an unknown id and a malformed one: the flow's "Not found", naming nothing.
        for who, url in (
            (neighbour, link.group(1)),
            (web, f"/apply/{slug}/documents/{uuid.uuid4()}/file"),
            (web, f"/apply/{slug}/documents/not-an-id/file"),
        ):
            refused = who.get(url)
            assert refused.status_code == 404 and "There is no such document." in refused.text, url
            assert data not in refused.content
        # No session, or this session sent to another brand's flow: back to the flow's start, nothing served.
        other = make_tenant(platform)
        web.cookies.set("cd_borrower", web.cookies.get("cd_borrower"), path=f"/apply/{other.slug}")
        elsewhere = web.get(f"/apply/{other.slug}/documents/{doc['id']}/file")
        assert elsewhere.status_code == 303 and elsewhere.headers["location"] == f"/apply/{other.slug}"
        web.cookies.clear()
        signed_out = web.get(link.group(1))
        assert signed_out.status_code == 303 and signed_out.headers["location"] == f"/apply/{slug}"
    finally:
        web.__exit__(None, None, None)
        neighbour.__exit__(None, None, None)


def _staff_upload(client: Any, tenant: Tenant, customer: str, kind: str, name: str, data: bytes) -> dict[str, Any]:
    """A staff member's upload to the borrower's record (`POST /api/v1/customers/{id}/documents`: Uploader.STAFF)."""
    sent = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": kind},
        files={"file": (name, data)},
        headers=tenant.auth,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["uploaded_by"] == "staff"
    return dict(sent.json())


def test_staff_internal_evidence_is_hidden_from_the_borrower_and_a_kyc_document_staff_uploaded_is_theirs(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    web, auth = _borrower(app, client, sms, tenant)
    slug = tenant.slug
    try:
        own = _api_upload(client, auth, "selfie", "me.png", _unique(PNG))
        customer = own["customer_id"]
        evidence_data, pan_data = _unique(PNG), _unique(PNG)
        evidence = _staff_upload(client, tenant, customer, "other", "field-visit-photo.png", evidence_data)
        pan = _staff_upload(client, tenant, customer, "pan_card", "pan-by-staff.png", pan_data)
        settle(platform, Documents.name)
        unknown = str(uuid.uuid4())

        # The borrower's list: their own and the PAN card staff sent for them; not the field visit's photo.
        listed = client.get("/api/v1/borrower/documents", headers=auth).json()
        assert [d["id"] for d in listed["items"]] == [pan["id"], own["id"]]

        # By id, the evidence is the same 404 as an unknown id: its metadata and its file.
        meta = f"/api/v1/borrower/documents/{evidence['id']}"
        no_meta = f"/api/v1/borrower/documents/{unknown}"
        assert _not_found(client.get(meta, headers=auth), evidence["id"]) == _not_found(
            client.get(no_meta, headers=auth), unknown
        )
        hidden_file = client.get(_file(evidence["id"]), headers=auth)
        assert evidence_data not in hidden_file.content
        assert _not_found(hidden_file, evidence["id"]) == _not_found(client.get(_file(unknown), headers=auth), unknown)
        # The PAN card staff uploaded is the borrower's: its metadata and its bytes.
        shown = client.get(f"/api/v1/borrower/documents/{pan['id']}", headers=auth)
        assert (
            shown.status_code == 200 and shown.json()["kind"] == "pan_card" and shown.json()["uploaded_by"] == "staff"
        )
        served = client.get(_file(pan["id"]), headers=auth)
        assert served.status_code == 200 and served.content == pan_data

        # The web flow's documents page: the PAN card linked, the evidence neither named nor opened by its link.
        page = web.get(f"/apply/{slug}/documents")
        assert page.status_code == 200 and "pan-by-staff.png" in page.text and "me.png" in page.text
        assert "field-visit-photo.png" not in page.text and evidence["id"] not in page.text
        refused = web.get(f"/apply/{slug}/documents/{evidence['id']}/file")
        assert refused.status_code == 404 and "There is no such document." in refused.text
        assert evidence_data not in refused.content
        opened = web.get(f"/apply/{slug}/documents/{pan['id']}/file")
        assert opened.status_code == 200 and opened.content == pan_data

        # Staff see and open both, as before.
        staff_list = client.get(f"/api/v1/customers/{customer}/documents", headers=tenant.auth).json()
        assert {evidence["id"], pan["id"], own["id"]} <= {d["id"] for d in staff_list["items"]}
        for doc, data in ((evidence, evidence_data), (pan, pan_data)):
            content = client.get(f"/api/v1/documents/{doc['id']}/content", headers=tenant.auth)
            assert content.status_code == 200 and content.content == data
            assert client.get(f"/api/v1/documents/{doc['id']}", headers=tenant.auth).status_code == 200

        # The checklist's figures are staff's, as before: the borrower's `required` and `missing` are the checklist's.
        checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
        assert listed["required"] == checklist["required"] and listed["missing"] == checklist["missing"]
    finally:
        web.__exit__(None, None, None)


def test_the_borrower_s_list_pages_by_its_cursor_past_staff_internal_evidence(
    app: Any, client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    """The borrower's view of the list (`of_customer(as_borrower=True)`) pages by keyset like staff's: every document
    they see once, in order, none of staff's `other` uploads between them; each view's cursor is its own."""
    web, auth = _borrower(app, client, sms, tenant)
    web.__exit__(None, None, None)
    own = _api_upload(client, auth, "selfie", "me.png", _unique(PNG))
    brand, customer = tenant.brand_id, uuid.UUID(own["customer_id"])
    documents = platform.get(Documents)
    seen, internal = [own["id"]], []
    for n in range(6):  # staff's uploads, alternating a KYC kind and internal evidence
        kind = DocumentKind.BANK_STATEMENT if n % 2 else DocumentKind.OTHER
        result = documents.upload(brand, customer, kind, f"file-{n}.pdf", _unique(PDF), Uploader.STAFF)
        (seen if kind is not DocumentKind.OTHER else internal).append(str(result.id))
    provider = documents.upload(brand, customer, DocumentKind.OTHER, "fetched.pdf", _unique(PDF), Uploader.PROVIDER)
    seen.append(str(provider.id))  # `other` fetched by a provider is the borrower's
    settle(platform, Documents.name)
    queries = platform.get(DocumentQueries)

    def walk(as_borrower: bool) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            page = queries.of_customer(brand, customer, cursor, 2, as_borrower=as_borrower)
            assert len(page.items) <= 2
            ids += [str(d.id) for d in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    everything = walk(False)
    assert sorted(everything) == sorted(seen + internal)
    assert walk(True) == [i for i in everything if i not in internal]  # the same order, the evidence left out
    assert sorted(walk(True)) == sorted(seen)
    listed = client.get("/api/v1/borrower/documents", headers=auth).json()["items"]  # the API reads one page of 200
    assert [d["id"] for d in listed] == walk(True)
    staff_cursor = queries.of_customer(brand, customer, None, 2).next_cursor
    assert staff_cursor is not None
    with pytest.raises(InvalidCursor):  # a cursor is bound to the view it was made in
        queries.of_customer(brand, customer, staff_cursor, 2, as_borrower=True)
