"""Documents through the API: multipart upload, sniffed type, content-addressed download, review, checklist,
oversize and disguised uploads, brand isolation."""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

import psycopg

from adapters.document_store import FolderDocumentStore, document_store_from_env
from api.routes.documents import UPLOAD
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.support import mobile

__all__ = ["sms"]  # the SMS simulator fixture, used by name (a borrower signs in with its code)

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _customer(client: Any, tenant: Tenant) -> str:
    phone = mobile("9")
    made = client.post("/api/v1/customers", json={"name": "Asha Kulkarni", "phone": phone}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.documents_events").fetchone()[0])


def _upload(client: Any, tenant: Tenant, customer: str, name: str, data: bytes, kind: str = "pan_card") -> Any:
    return client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": kind},
        files={"file": (name, data, "application/octet-stream")},
        headers=tenant.auth,
    )


def test_upload_download_and_review_a_document(client: Any, tenant: Tenant) -> None:
    customer = _customer(client, tenant)
    uploaded = _upload(client, tenant, customer, "pan.pdf", PDF)
    assert uploaded.status_code == 201, uploaded.text
    doc = uploaded.json()
    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest() and doc["size"] == len(PDF)
    assert doc["content_type"] == "application/pdf" and doc["status"] == "pending"
    assert doc["uploaded_by"] == "staff" and doc["uploader"].startswith("apikey:")
    assert uploaded.headers["location"] == f"/api/v1/documents/{doc['id']}"

    content = client.get(f"/api/v1/documents/{doc['id']}/content", headers=tenant.auth)
    assert content.status_code == 200 and content.content == PDF
    assert content.headers["content-type"] == "application/pdf"
    assert content.headers["content-disposition"].startswith("attachment;")
    assert content.headers["x-content-type-options"] == "nosniff"

    listed = client.get(f"/api/v1/customers/{customer}/documents", headers=tenant.auth).json()
    assert [d["id"] for d in listed["items"]] == [doc["id"]]

    checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
    assert "pan_card" in checklist["missing"]  # uploaded, not yet accepted

    no_reason = client.post(f"/api/v1/documents/{doc['id']}/review", json={"decision": "rejected"}, headers=tenant.auth)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    accepted = client.post(f"/api/v1/documents/{doc['id']}/review", json={"decision": "accepted"}, headers=tenant.auth)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    checklist = client.get(f"/api/v1/customers/{customer}/document-checklist", headers=tenant.auth).json()
    assert "pan_card" in checklist["accepted"] and "pan_card" not in checklist["missing"]
    again = client.post(
        f"/api/v1/documents/{doc['id']}/review",
        json={"decision": "rejected", "reason": "changed my mind"},
        headers=tenant.auth,
    )
    assert again.status_code == 409


def test_disguised_and_oversize_uploads_are_refused_and_nothing_is_recorded(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    customer = _customer(client, tenant)
    before = _events(dsn)
    png_as_pdf = _upload(client, tenant, customer, "statement.pdf", PNG)
    assert png_as_pdf.status_code == 422 and png_as_pdf.headers["content-type"] == "application/problem+json"
    assert png_as_pdf.json()["errors"][0]["field"] == "file" and "PNG" in png_as_pdf.json()["detail"]
    exe_as_jpg = _upload(client, tenant, customer, "selfie.jpg", b"MZ\x90\x00" + b"\x00" * 100)
    assert exe_as_jpg.status_code == 422 and "executable" in exe_as_jpg.json()["detail"]

    oversize = _upload(client, tenant, customer, "big.pdf", PDF + b"\x00" * UPLOAD.max_bytes)
    assert oversize.status_code == 413 and oversize.headers["content-type"] == "application/problem+json"
    assert f"the file is over {UPLOAD.max_bytes} bytes" in oversize.json()["detail"]
    as_json = client.post(f"/api/v1/customers/{customer}/documents", json={"kind": "pan_card"}, headers=tenant.auth)
    assert as_json.status_code == 415
    no_file = client.post(
        f"/api/v1/customers/{customer}/documents",
        data={"kind": "pan_card"},
        files={"other": ("x", b"1")},
        headers=tenant.auth,
    )
    assert no_file.status_code == 422
    bad_kind = _upload(client, tenant, customer, "pan.pdf", PDF, kind="love_letter")
    assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["field"] == "kind"
    assert _events(dsn) == before


def test_another_brands_borrower_and_document_are_not_found(client: Any, tenant: Tenant, platform: Any) -> None:
    customer = _customer(client, tenant)
    doc = _upload(client, tenant, customer, "front.png", PNG, kind="aadhaar_front").json()
    other = make_tenant(platform)
    assert _upload(client, other, customer, "pan.pdf", PDF).status_code == 404
    assert client.get(f"/api/v1/customers/{customer}/documents", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/documents/{doc['id']}", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/documents/{doc['id']}/content", headers=other.auth).status_code == 404
    review = client.post(f"/api/v1/documents/{doc['id']}/review", json={"decision": "accepted"}, headers=other.auth)
    assert review.status_code == 404


def test_an_upload_with_an_idempotency_key_runs_once(client: Any, tenant: Tenant) -> None:
    customer = _customer(client, tenant)
    headers = {**tenant.auth, "Idempotency-Key": f"upload-{uuid.uuid4()}"}
    url = f"/api/v1/customers/{customer}/documents"
    first = client.post(url, data={"kind": "salary_slip"}, files={"file": ("slip.pdf", PDF)}, headers=headers)
    again = client.post(url, data={"kind": "salary_slip"}, files={"file": ("slip.pdf", PDF)}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = client.post(url, data={"kind": "salary_slip"}, files={"file": ("slip.pdf", PDF + b" ")}, headers=headers)
    assert other.status_code == 422  # the same key with another file


BOUNDARY = "edgeb0undary"


def _raw_form(kind_name: bytes, filename: bytes, data: bytes = PDF) -> bytes:
    """A multipart body written byte by byte: part names and filenames may hold bytes that are not UTF-8."""
    start = f"--{BOUNDARY}\r\n".encode()
    return (
        start + b'Content-Disposition: form-data; name="' + kind_name + b'"\r\n\r\npan_card\r\n'
        + start + b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        + b"Content-Type: application/pdf\r\n\r\n" + data + b"\r\n"
        + f"--{BOUNDARY}--\r\n".encode()
    )  # fmt: skip


def test_part_names_and_filenames_that_are_not_utf8_are_422_on_every_upload_and_record_nothing(
    client: Any, tenant: Tenant, dsn: str, sms: Any
) -> None:
    """The schema fuzzer's reproducer: a latin-1 byte in a part's name and in its filename was a 500."""
    customer = _customer(client, tenant)
    borrower = bearer(sign_in(client, sms, tenant.slug, mobile("9")))
    form = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    uploads = [(f"/api/v1/customers/{customer}/documents", tenant.auth), ("/api/v1/borrower/documents", borrower)]
    before = _events(dsn)
    for url, auth in uploads:
        both = client.post(url, content=_raw_form(b"ki\xe9nd", b"p\xe1n.pdf"), headers=auth | form)
        assert both.status_code == 422, (url, both.status_code, both.text)
        assert both.headers["content-type"] == "application/problem+json"
        assert {e["field"] for e in both.json()["errors"]} == {"form", "filename"}, both.text
        filename = client.post(url, content=_raw_form(b"kind", b"\xff\xfe.pdf"), headers=auth | form)
        assert filename.status_code == 422 and [e["field"] for e in filename.json()["errors"]] == ["filename"]
        # UTF-8 beyond latin-1 in a name is text like any other: never a server error.
        named = client.post(url, content=_raw_form("kind₹".encode(), b"pan.pdf"), headers=auth | form)
        assert 400 <= named.status_code < 500 and named.headers["content-type"] == "application/problem+json"
    assert _events(dsn) == before

    staff_url, staff_auth = uploads[0]
    rupee = client.post(staff_url, content=_raw_form(b"kind", "पैन ₹.pdf".encode()), headers=staff_auth | form)
    assert rupee.status_code == 201, rupee.text
    assert _events(dsn) == before + 1


def test_a_document_whose_stored_bytes_were_altered_is_refused_not_served(client: Any, tenant: Tenant) -> None:
    customer = _customer(client, tenant)
    data = PDF.replace(b"%%EOF", f"%{uuid.uuid4()}\n%%EOF".encode())  # bytes no other test stores
    doc = _upload(client, tenant, customer, "pan.pdf", data).json()
    store = document_store_from_env(os.environ)
    assert isinstance(store, FolderDocumentStore)
    path, url = store._path(doc["sha256"]), f"/api/v1/documents/{doc['id']}/content"
    try:
        path.write_bytes(data.replace(b"%%EOF", b"%altered\n%%EOF"))
        refused = client.get(url, headers=tenant.auth)
        assert refused.status_code == 409 and "does not match its recorded SHA-256" in refused.json()["detail"]
    finally:
        path.write_bytes(data)
    served = client.get(url, headers=tenant.auth)
    assert served.status_code == 200 and served.content == data and served.headers["etag"] == f'"{doc["sha256"]}"'
