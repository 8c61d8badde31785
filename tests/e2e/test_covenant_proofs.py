"""Proof of compliance on covenant evaluation records end to end on PostgreSQL: documents uploaded to a record,
listed on it, downloaded byte for byte (refused when the stored bytes were altered), cited when complying; another
brand's records and documents are 404s, a closed record takes none, and a refused upload stores no document."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from typing import Any

from adapters.document_store import FolderDocumentStore, document_store_from_env
from api.routes.documents import UPLOAD
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_covenants import _borrower, _covenant, _evaluations, _run
from tests.support import settle

STOCK = {"type": "document", "document": "Monthly stock statement", "title": "Stock statement", "metric": None,
         "operator": None, "threshold": None}  # fmt: skip


def _pdf(label: str) -> bytes:
    """A PDF of bytes no other test uploads (each test's document is its own, also in the shared store)."""
    return b"%PDF-1.7\n%" + f"{label} {uuid.uuid4()}".encode() + b"\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _open_record(client: Any, platform: Any, tenant: Tenant, **overrides: Any) -> tuple[str, str]:
    """A borrower's stock statement covenant with its first cycle's record open: (customer id, record id)."""
    customer = _borrower(client, tenant)
    covenant = _covenant(client, tenant, customer, **(STOCK | overrides))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])
    return customer, str(record["id"])


def _attach(client: Any, tenant: Tenant, record_id: str, name: str, data: bytes, kind: str = "application/pdf") -> Any:
    return client.post(f"/api/v1/covenant-evaluations/{record_id}/proofs", files={"file": (name, data, kind)},
                       headers=tenant.auth)  # fmt: skip


def _documents(client: Any, platform: Any, tenant: Tenant, customer_id: str) -> list[dict[str, Any]]:
    settle(platform, "documents")
    answer = client.get(f"/api/v1/customers/{customer_id}/documents", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _problem(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:400])
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    return dict(answer.json())


def test_a_proof_is_listed_on_its_record_and_downloads_byte_for_byte(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    data = _pdf("december stock")
    attached = _attach(client, tenant, record_id, "stock-dec-2023.pdf", data)
    assert attached.status_code == 201, attached.text
    record = attached.json()
    assert (record["id"], record["status"], record["proof_received"]) == (record_id, "open", True)
    assert record["evidence"] is None  # the free-text evidence is the reviewer's, untouched by an upload
    (proof,) = record["proofs"]
    assert proof["filename"] == "stock-dec-2023.pdf" and proof["sha256"] == hashlib.sha256(data).hexdigest()
    assert (proof["size"], proof["content_type"], proof["uploaded_by"]) == (len(data), "application/pdf", "staff")
    assert proof["attached_by"].startswith("apikey:") and proof["approved"] is False

    # The record and its covenant's history list it; the document is the borrower's, kind `other`.
    assert client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["proofs"] == [proof]
    (listed,) = [r for r in client.get(f"/api/v1/covenants/{record['covenant_id']}", headers=tenant.auth)
                 .json()["evaluations"] if r["id"] == record_id]  # fmt: skip
    assert listed["proofs"] == [proof] and listed["proof_received"] is True
    (document,) = _documents(client, platform, tenant, customer)
    assert (document["id"], document["kind"], document["sha256"]) == (proof["document_id"], "other", proof["sha256"])

    download = client.get(f"/api/v1/covenant-evaluations/{record_id}/proofs/{proof['document_id']}",
                          headers=tenant.auth)  # fmt: skip
    assert download.status_code == 200 and download.content == data
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-document-sha256"] == proof["sha256"]
    assert download.headers["content-disposition"] == f'attachment; filename="proof-{proof["document_id"]}.pdf"'

    # A second file joins the first; the same file again is refused and changes nothing.
    png = b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes
    assert _attach(client, tenant, record_id, "annex.png", png, "image/png").status_code == 201
    _problem(_attach(client, tenant, record_id, "again.pdf", data), 409)
    proofs = client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["proofs"]
    assert [(p["filename"], p["content_type"]) for p in proofs] == [
        ("stock-dec-2023.pdf", "application/pdf"), ("annex.png", "image/png"),
    ]  # fmt: skip


def test_proof_bytes_altered_in_the_store_are_refused_not_served(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    _, record_id = _open_record(client, platform, tenant)
    data = _pdf("tampered")
    (proof,) = _attach(client, tenant, record_id, "stock.pdf", data).json()["proofs"]
    store = document_store_from_env(os.environ)
    assert isinstance(store, FolderDocumentStore)
    path = store._path(proof["sha256"])
    url = f"/api/v1/covenant-evaluations/{record_id}/proofs/{proof['document_id']}"
    try:
        path.write_bytes(data.replace(b"%%EOF", b"%altered\n%%EOF"))
        refused = _problem(client.get(url, headers=tenant.auth), 409)
        assert "does not match its recorded SHA-256" in refused["detail"]
    finally:
        path.write_bytes(data)
    assert client.get(url, headers=tenant.auth).content == data


def test_another_brands_record_or_document_is_not_found_and_stores_nothing(client: Any, platform: Any) -> None:
    mine, theirs = make_tenant(platform), make_tenant(platform)
    customer, record_id = _open_record(client, platform, mine)
    other_customer, other_record = _open_record(client, platform, theirs)
    (proof,) = _attach(client, mine, record_id, "stock.pdf", _pdf("mine")).json()["proofs"]
    (their_proof,) = _attach(client, theirs, other_record, "stock.pdf", _pdf("theirs")).json()["proofs"]

    _problem(_attach(client, theirs, record_id, "planted.pdf", _pdf("planted")), 404)
    _problem(client.get(f"/api/v1/covenant-evaluations/{record_id}/proofs/{proof['document_id']}",
                        headers=theirs.auth), 404)  # fmt: skip
    # My record with their document, and my record with my borrower's document that is not attached to it.
    _problem(client.get(f"/api/v1/covenant-evaluations/{record_id}/proofs/{their_proof['document_id']}",
                        headers=mine.auth), 404)  # fmt: skip
    kyc = client.post(f"/api/v1/customers/{customer}/documents", data={"kind": "pan_card"},
                      files={"file": ("pan.pdf", _pdf("pan"), "application/pdf")}, headers=mine.auth)  # fmt: skip
    assert kyc.status_code == 201, kyc.text
    _problem(client.get(f"/api/v1/covenant-evaluations/{record_id}/proofs/{kyc.json()['id']}",
                        headers=mine.auth), 404)  # fmt: skip
    # Citing another brand's document when complying: not attached here, 422 naming the field.
    cited = client.post(f"/api/v1/covenant-evaluations/{record_id}/comply",
                        json={"evidence": "stock statement", "proof_document_ids": [their_proof["document_id"]]},
                        headers=mine.auth)  # fmt: skip
    assert [e["field"] for e in _problem(cited, 422)["errors"]] == ["proof_document_ids"]

    assert [d["id"] for d in _documents(client, platform, mine, customer)] == [kyc.json()["id"], proof["document_id"]]
    assert [d["id"] for d in _documents(client, platform, theirs, other_customer)] == [their_proof["document_id"]]
    mine_now = client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=mine.auth).json()
    assert mine_now["status"] == "open" and [p["document_id"] for p in mine_now["proofs"]] == [proof["document_id"]]


def test_a_closed_record_takes_no_proof_and_a_refused_upload_stores_no_document(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    complied = client.post(f"/api/v1/covenant-evaluations/{record_id}/comply", json={"evidence": "DMS-7"},
                           headers=tenant.auth)  # fmt: skip
    assert complied.status_code == 200 and complied.json()["proofs"] == [] and not complied.json()["proof_received"]
    refused = _problem(_attach(client, tenant, record_id, "late.pdf", _pdf("late")), 409)
    assert "already complied" in refused["detail"]
    assert _documents(client, platform, tenant, customer) == []


def test_bad_files_are_refused_naming_the_file_and_store_nothing(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    for name, data, why in (
        ("payload.exe", b"MZ\x90\x00" + uuid.uuid4().bytes, "Windows executable"),
        ("stock.pdf", b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes, "named .pdf"),
        ("stock.pdf", b"", "empty"),
    ):
        errors = _problem(_attach(client, tenant, record_id, name, data), 422)["errors"]
        assert [e["field"] for e in errors] == ["file"] and why in errors[0]["message"], errors
    misnamed = client.post(f"/api/v1/covenant-evaluations/{record_id}/proofs",
                           files={"document": ("stock.pdf", _pdf("misnamed"), "application/pdf")},
                           headers=tenant.auth)  # fmt: skip
    assert [e["field"] for e in _problem(misnamed, 422)["errors"]] == ["file"]
    oversize = _attach(client, tenant, record_id, "huge.pdf", b"%PDF-1.7\n" + b"0" * UPLOAD.max_bytes)
    assert _problem(oversize, 413)["limit"] == UPLOAD.max_bytes
    assert _documents(client, platform, tenant, customer) == []
    assert client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["proofs"] == []


def test_proofs_attached_at_the_same_moment_are_all_kept_and_leave_no_stray_document(
    client: Any, platform: Any
) -> None:
    # Two files attached to one record at once (a reviewer's second tab, a client sending a cycle's statements in
    # parallel): each is attached. A 409 for the loser had left its upload behind as a document of the borrower
    # attached to nothing.
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    files = [(f"statement-{n}.pdf", _pdf(f"parallel {n}")) for n in range(4)]
    answers: list[int] = []
    start = threading.Barrier(len(files))

    def attach(name: str, data: bytes) -> None:
        start.wait()
        answers.append(_attach(client, tenant, record_id, name, data).status_code)

    threads = [threading.Thread(target=attach, args=file) for file in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [201] * len(files)
    settle(platform, "covenants")
    proofs = client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["proofs"]
    assert sorted(p["filename"] for p in proofs) == sorted(name for name, _ in files)
    documents = _documents(client, platform, tenant, customer)
    assert sorted(d["id"] for d in documents) == sorted(p["document_id"] for p in proofs)


def test_two_reviewers_complying_at_the_same_moment_get_one_200_and_one_409(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    _, record_id = _open_record(client, platform, tenant)
    proof = _attach(client, tenant, record_id, "stock.pdf", _pdf("race")).json()["proofs"][0]["document_id"]
    url = f"/api/v1/covenant-evaluations/{record_id}/comply"
    answers: list[Any] = []
    start = threading.Barrier(2)

    def comply(evidence: str) -> None:
        start.wait()
        answers.append(
            client.post(url, json={"evidence": evidence, "proof_document_ids": [proof]}, headers=tenant.auth)
        )

    threads = [threading.Thread(target=comply, args=(f"seen by reviewer {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 409]
    (won,) = [a for a in answers if a.status_code == 200]
    (lost,) = [a for a in answers if a.status_code == 409]
    assert lost.headers["content-type"].startswith("application/problem+json")
    record = client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()
    assert (record["status"], record["evidence"]) == ("complied", won.json()["evidence"])
    assert [p["approved"] for p in record["proofs"]] == [True]


def test_complying_cites_attached_proofs_and_evidence_text_still_works(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    _, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    first = _attach(client, tenant, record_id, "stock.pdf", _pdf("first")).json()["proofs"][0]["document_id"]
    second = _attach(client, tenant, record_id, "annex.pdf", _pdf("second")).json()["proofs"][1]["document_id"]
    stranger = str(uuid.uuid4())
    bad = client.post(f"{url}/comply", json={"evidence": "December statement", "proof_document_ids": [stranger]},
                      headers=tenant.auth)  # fmt: skip
    assert [e["field"] for e in _problem(bad, 422)["errors"]] == ["proof_document_ids"]
    not_ids = client.post(f"{url}/comply", json={"evidence": "December statement", "proof_document_ids": ["x"]},
                          headers=tenant.auth)  # fmt: skip
    assert _problem(not_ids, 422)["errors"][0]["field"].startswith("proof_document_ids")
    assert client.get(url, headers=tenant.auth).json()["status"] == "open"

    complied = client.post(f"{url}/comply", json={"evidence": "December statement", "proof_document_ids": [first]},
                           headers=tenant.auth)  # fmt: skip
    assert complied.status_code == 200, complied.text
    body = complied.json()
    assert (body["status"], body["evidence"]) == ("complied", "December statement")
    assert {p["document_id"]: p["approved"] for p in body["proofs"]} == {first: True, second: False}


def test_the_same_file_proves_two_covenants_as_one_document_of_the_borrower(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer, stock_record = _open_record(client, platform, tenant)
    audit = _covenant(client, tenant, customer, **(STOCK | {"title": "Audited accounts", "application_ref": "APP-2"}))
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (audit_record,) = _evaluations(client, tenant, audit["id"])
    data = _pdf("audited accounts")
    (first,) = _attach(client, tenant, stock_record, "accounts.pdf", data).json()["proofs"]
    (second,) = _attach(client, tenant, audit_record["id"], "fy23-accounts.pdf", data).json()["proofs"]
    assert first["document_id"] == second["document_id"] and second["filename"] == "fy23-accounts.pdf"
    assert [d["id"] for d in _documents(client, platform, tenant, customer)] == [first["document_id"]]
    for record_id in (stock_record, audit_record["id"]):
        download = client.get(f"/api/v1/covenant-evaluations/{record_id}/proofs/{first['document_id']}",
                              headers=tenant.auth)  # fmt: skip
        assert download.content == data


def test_the_same_file_attached_to_several_records_at_once_is_one_document_attached_to_each(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant)
    covenants = [_covenant(client, tenant, customer, **(STOCK | {"application_ref": f"APP-{n}"})) for n in range(4)]
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    records = [_evaluations(client, tenant, c["id"])[0]["id"] for c in covenants]
    data = _pdf("audited accounts, sent everywhere at once")
    answers: list[Any] = []
    start = threading.Barrier(len(records))

    def attach(record_id: str) -> None:
        start.wait()
        answers.append(_attach(client, tenant, record_id, "accounts.pdf", data))

    threads = [threading.Thread(target=attach, args=(record_id,)) for record_id in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * len(records), [a.text[:200] for a in answers]
    (document,) = _documents(client, platform, tenant, customer)
    assert {a.json()["proofs"][0]["document_id"] for a in answers} == {document["id"]}


def test_proofs_are_uploaded_listed_downloaded_and_approved_in_the_portal(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    from tests.e2e.conftest import ARTIFACTS, login

    tenant, email = staff
    _, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    covenant_id = client.get(url, headers=tenant.auth).json()["covenant_id"]
    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/covenants/{covenant_id}")
    upload = "#evaluations tbody tr >> form.proof-upload"
    data = _pdf("portal")
    page.locator(f"{upload} input[type=file]").set_input_files(
        {"name": "stock-jan.pdf", "mimeType": "application/pdf", "buffer": data}
    )
    page.locator(f"{upload} button:has-text('Attach proof')").click()
    page.wait_for_selector(f"#proofs-{record_id}")
    row = page.locator("#evaluations tbody tr").first
    assert "stock-jan.pdf" in row.inner_text() and "proof received" in row.inner_text()
    href = page.locator(f"#proofs-{record_id} a").first.get_attribute("href")
    assert href is not None and page.request.get(f"{server}{href}").body() == data

    # A file that is not a PDF, JPEG or PNG is refused on the page, naming the file; nothing is attached.
    page.locator(f"{upload} input[type=file]").set_input_files(
        {"name": "stock.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00not a pdf"}
    )
    page.locator(f"{upload} button:has-text('Attach proof')").click()
    assert "file:" in page.locator(".alert").inner_text()
    # A form post without the session's CSRF token is refused.
    forged = page.request.post(f"{server}/covenant-evaluations/{record_id}/proofs",
                               multipart={"file": {"name": "x.pdf", "mimeType": "application/pdf",
                                                   "buffer": _pdf("forged")}})  # fmt: skip
    assert forged.status == 403
    assert len(client.get(url, headers=tenant.auth).json()["proofs"]) == 1

    # The reviewer ticks the proof as approved and complies.
    page.goto(f"{server}/covenants/{covenant_id}")
    row = page.locator("#evaluations tbody tr").first
    row.locator("input[name=proof_document_ids]").check()
    row.locator("form[action$='/comply'] input[name=text]").fill("January stock statement")
    row.locator("button:has-text('Comply')").click()
    page.wait_for_selector("#evaluations .pill.complied")
    row = page.locator("#evaluations tbody tr").first
    assert "complied" in row.inner_text() and "approved" in row.inner_text()
    assert row.locator("form.proof-upload").count() == 0  # a closed record takes no more proof
    (proof,) = client.get(url, headers=tenant.auth).json()["proofs"]
    assert proof["approved"] is True and proof["attached_by"].startswith("staff:")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "covenant-proofs.png"), full_page=True)


def _worklist_ids(client: Any, tenant: Tenant, **params: Any) -> list[str]:
    answer = client.get("/api/v1/covenants", params={"limit": 200, **params}, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def _covenant_of(client: Any, tenant: Tenant, record_id: str) -> str:
    return str(client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["covenant_id"])


def test_the_worklist_filters_covenants_whose_current_record_has_proof_waiting_for_review(
    client: Any, app: Any, platform: Any
) -> None:
    from tests.e2e.test_loan360 import _admin_browser

    tenant, other = make_tenant(platform), make_tenant(platform)
    records = [_open_record(client, platform, tenant)[1] for _ in range(3)]
    proved, also_proved, waiting = (_covenant_of(client, tenant, r) for r in records)
    _, theirs_record = _open_record(client, platform, other)
    for brand, record in ((tenant, records[0]), (tenant, records[1]), (other, theirs_record)):
        assert _attach(client, brand, record, "stock.pdf", _pdf("worklist")).status_code == 201
    settle(platform, "covenants")
    theirs = _covenant_of(client, other, theirs_record)

    assert sorted(_worklist_ids(client, tenant, proof_received="true")) == sorted([proved, also_proved])
    assert _worklist_ids(client, tenant, proof_received="false") == [waiting]
    assert sorted(_worklist_ids(client, tenant, status="open", proof_received="true")) == sorted([proved, also_proved])
    assert _worklist_ids(client, tenant, status="complied", proof_received="true") == []
    assert _worklist_ids(client, other, proof_received="true") == [theirs]  # each brand sees only its own
    assert _worklist_ids(client, other, proof_received="false") == []
    listed = client.get("/api/v1/covenants", params={"proof_received": "true"}, headers=tenant.auth).json()["items"]
    assert {item["current_proof_received"] for item in listed} == {True}

    # Keyset pages of the filtered list: one covenant a page, each once, then no cursor.
    first = client.get("/api/v1/covenants", params={"proof_received": "true", "limit": 1}, headers=tenant.auth).json()
    assert first["next_cursor"], first
    second = client.get("/api/v1/covenants", params={"proof_received": "true", "limit": 1,
                                                     "cursor": first["next_cursor"]}, headers=tenant.auth).json()  # fmt: skip
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {proved, also_proved}
    assert second["next_cursor"] is None

    bad = _problem(client.get("/api/v1/covenants", params={"proof_received": "maybe"}, headers=tenant.auth), 422)
    assert "proof_received" in str(bad)

    # Complied, the record keeps its proof but waits for no review: out of the open view, in the complied one.
    record = records[0]
    assert client.post(f"/api/v1/covenant-evaluations/{record}/comply", json={"evidence": "stock statement seen"},
                       headers=tenant.auth).status_code == 200  # fmt: skip
    settle(platform, "covenants")
    assert _worklist_ids(client, tenant, status="open", proof_received="true") == [also_proved]
    assert _worklist_ids(client, tenant, status="complied", proof_received="true") == [proved]

    # A row projected before the column existed is filled from the proofs already projected.
    from projections.covenants import CURRENT_PROOF_BACKFILL

    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE read.covenants SET current_proof_received = false WHERE brand_id = %s", (tenant.brand_id,))
        conn.execute(CURRENT_PROOF_BACKFILL)
    assert sorted(_worklist_ids(client, tenant, proof_received="true")) == sorted([proved, also_proved])

    browser = _admin_browser(client, app, tenant)
    try:
        listing = browser.get("/covenants")
        assert listing.status_code == 200
        assert 'href="/covenants?status=open&proof_received=true" id="awaiting-review"' in listing.text
        page = browser.get("/covenants?status=open&proof_received=true").text
        assert f'href="/covenants/{also_proved}"' in page and "proof received" in page
        assert f'href="/covenants/{waiting}"' not in page and f'href="/covenants/{theirs}"' not in page
        assert f'href="/covenants/{proved}"' not in page  # complied: reviewed already
        assert '<option value="true" selected>received</option>' in page
        not_received = browser.get("/covenants?proof_received=false").text
        assert f'href="/covenants/{waiting}"' in not_received and f'href="/covenants/{also_proved}"' not in not_received
    finally:
        browser.__exit__(None, None, None)

    # The next cycle's record has no proof yet: the covenant leaves the "received" list.
    _run(client, platform, tenant, "covenant-evaluation", "2024-02-22")
    assert proved not in _worklist_ids(client, tenant, proof_received="true")
    assert proved in _worklist_ids(client, tenant, proof_received="false")


def test_a_covenant_whose_proofs_staff_all_rejected_has_no_proof_received_until_a_sound_one_comes(
    client: Any, platform: Any
) -> None:
    # Staff reject a proof's document on the borrower's documents after it was attached: the covenant had stayed in
    # the reviewers' "proof received" list (and out of "not received") with nothing left to review.
    tenant = make_tenant(platform)
    (_, rejected_record), (_, mixed_record) = (_open_record(client, platform, tenant) for _ in range(2))
    rejected_covenant, mixed_covenant = (_covenant_of(client, tenant, r) for r in (rejected_record, mixed_record))
    blurred = _attach(client, tenant, rejected_record, "stock.pdf", _pdf("blurred")).json()["proofs"][0]
    _attach(client, tenant, mixed_record, "stock.pdf", _pdf("clear"))
    cut_off = _attach(client, tenant, mixed_record, "annex.pdf", _pdf("cut off")).json()["proofs"][1]
    settle(platform, "covenants")
    assert sorted(_worklist_ids(client, tenant, proof_received="true")) == sorted([rejected_covenant, mixed_covenant])

    for proof in (blurred, cut_off):
        review = client.post(f"/api/v1/documents/{proof['document_id']}/review",
                             json={"decision": "rejected", "reason": "unreadable scan"}, headers=tenant.auth)  # fmt: skip
        assert review.status_code == 200, review.text
    settle(platform, "documents")

    def shown() -> tuple[list[str], list[str], bool, bool]:
        record = client.get(f"/api/v1/covenant-evaluations/{rejected_record}", headers=tenant.auth).json()
        (item,) = [c for c in client.get("/api/v1/covenants", headers=tenant.auth).json()["items"]
                   if c["id"] == rejected_covenant]  # fmt: skip
        return (_worklist_ids(client, tenant, proof_received="true"),
                _worklist_ids(client, tenant, proof_received="false"),
                record["proof_received"], item["current_proof_received"])  # fmt: skip

    # Only rejected proofs: no proof received; one sound proof beside a rejected one still is.
    assert shown() == ([mixed_covenant], [rejected_covenant], False, False)
    mixed = client.get(f"/api/v1/covenant-evaluations/{mixed_record}", headers=tenant.auth).json()
    assert mixed["proof_received"] is True and [p["document_status"] for p in mixed["proofs"]] == [
        "pending", "rejected",
    ]  # fmt: skip

    # Replays: rebuilding either read model gives the same answer, and so does the first run of the rejections' one
    # over a mark left by the code before it (the mark put back as that code had kept it).
    with platform.db.pool.connection() as conn:
        conn.execute("UPDATE read.covenants SET current_proof_received = true WHERE id = %s", (rejected_covenant,))
    assert rejected_covenant in _worklist_ids(client, tenant, proof_received="true")
    platform.engine.rebuild("covenant_proof_reviews")
    assert shown() == ([mixed_covenant], [rejected_covenant], False, False)
    platform.engine.rebuild("covenants")
    assert shown() == ([mixed_covenant], [rejected_covenant], False, False)
    from projections.covenants import CURRENT_PROOF_BACKFILL

    with platform.db.pool.connection() as conn:
        conn.execute(CURRENT_PROOF_BACKFILL)  # (run on every start) marks no record whose proofs are all rejected
    assert shown() == ([mixed_covenant], [rejected_covenant], False, False)

    # A sound proof attached to the record brings it back to the reviewers.
    attached = _attach(client, tenant, rejected_record, "stock-rescan.pdf", _pdf("rescan"))
    assert attached.status_code == 201 and attached.json()["proof_received"] is True, attached.text
    settle(platform, "covenants")
    received, not_received, record_received, item_received = shown()
    assert sorted(received) == sorted([rejected_covenant, mixed_covenant]) and not_received == []
    assert record_received and item_received


def test_a_file_staff_rejected_as_the_borrowers_document_is_refused_as_proof(client: Any, platform: Any) -> None:
    # The same bytes already held as the borrower's `other` document are attached by that document's id; when staff
    # had rejected it, attaching it had left a proof that reads "rejected" on the borrower's documents.
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    data, accepted_data = _pdf("blurred stock"), _pdf("clear stock")
    held = []
    for payload, decision in ((data, {"decision": "rejected", "reason": "unreadable scan"}),
                              (accepted_data, {"decision": "accepted"})):  # fmt: skip
        upload = client.post(f"/api/v1/customers/{customer}/documents", data={"kind": "other"},
                             files={"file": ("stock.pdf", payload, "application/pdf")}, headers=tenant.auth)  # fmt: skip
        assert upload.status_code == 201, upload.text
        review = client.post(f"/api/v1/documents/{upload.json()['id']}/review", json=decision, headers=tenant.auth)
        assert review.status_code == 200, review.text
        held.append(upload.json()["id"])

    errors = _problem(_attach(client, tenant, record_id, "stock-again.pdf", data), 422)["errors"]
    assert [e["field"] for e in errors] == ["file"] and "unreadable scan" in errors[0]["message"], errors
    assert client.get(f"/api/v1/covenant-evaluations/{record_id}", headers=tenant.auth).json()["proofs"] == []
    # An accepted one is still cited as it is, by its id; the rejected one stays as it was.
    (proof,) = _attach(client, tenant, record_id, "stock-clear.pdf", accepted_data).json()["proofs"]
    assert proof["document_id"] == held[1]
    statuses = {d["id"]: d["status"] for d in _documents(client, platform, tenant, customer)}
    assert statuses == {held[0]: "rejected", held[1]: "accepted"}


def test_a_proof_rejected_after_it_was_attached_is_refused_when_complying(client: Any, platform: Any) -> None:
    # Staff reject a proof's document on the borrower's documents after it was attached: complying citing it had
    # recorded it approved while the document read "rejected". Now a 422 names it (its index), nothing recorded.
    tenant = make_tenant(platform)
    customer, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    clear = _attach(client, tenant, record_id, "stock.pdf", _pdf("clear")).json()["proofs"][0]["document_id"]
    blurred = _attach(client, tenant, record_id, "annex.pdf", _pdf("blurred")).json()["proofs"][1]["document_id"]
    review = client.post(f"/api/v1/documents/{blurred}/review",
                         json={"decision": "rejected", "reason": "half the page is cut off"}, headers=tenant.auth)  # fmt: skip
    assert review.status_code == 200, review.text

    refused = client.post(f"{url}/comply", json={"evidence": "December statement",
                                                 "proof_document_ids": [clear, blurred, blurred]},
                          headers=tenant.auth)  # fmt: skip
    errors = _problem(refused, 422)["errors"]
    assert [e["field"] for e in errors] == ["proof_document_ids[1]"], errors
    assert "annex.pdf" in errors[0]["message"] and "half the page is cut off" in errors[0]["message"]
    record = client.get(url, headers=tenant.auth).json()
    assert record["status"] == "open" and [p["approved"] for p in record["proofs"]] == [False, False]

    # A record someone already decided is still the 409 it was (the state before the proofs).
    complied = client.post(f"{url}/comply", json={"evidence": "December statement", "proof_document_ids": [clear]},
                           headers=tenant.auth)  # fmt: skip
    assert complied.status_code == 200, complied.text
    assert {p["document_id"]: p["approved"] for p in complied.json()["proofs"]} == {clear: True, blurred: False}
    again = client.post(f"{url}/comply", json={"evidence": "again", "proof_document_ids": [blurred]},
                        headers=tenant.auth)  # fmt: skip
    _problem(again, 409)
    statuses = {d["id"]: d["status"] for d in _documents(client, platform, tenant, customer)}
    assert statuses[blurred] == "rejected"


def test_a_proof_rejected_since_it_was_attached_is_marked_on_the_record_and_never_ticked(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    # Staff learnt that a proof's document had been rejected only when complying was refused. Now the record says
    # so (page and API), and the comply form leaves it unticked, even when refilled after a refusal.
    from tests.e2e.conftest import login

    tenant, email = staff
    _, record_id = _open_record(client, platform, tenant)
    url = f"/api/v1/covenant-evaluations/{record_id}"
    clear = _attach(client, tenant, record_id, "stock.pdf", _pdf("clear")).json()["proofs"][0]["document_id"]
    blurred = _attach(client, tenant, record_id, "annex.pdf", _pdf("blurred")).json()["proofs"][1]["document_id"]
    review = client.post(f"/api/v1/documents/{blurred}/review",
                         json={"decision": "rejected", "reason": "half the page is cut off"}, headers=tenant.auth)  # fmt: skip
    assert review.status_code == 200, review.text
    settle(platform, "documents")
    proofs = {p["document_id"]: p for p in client.get(url, headers=tenant.auth).json()["proofs"]}
    assert (proofs[blurred]["document_status"], proofs[blurred]["document_reason"]) == (
        "rejected", "half the page is cut off",
    )  # fmt: skip
    assert (proofs[clear]["document_status"], proofs[clear]["document_reason"]) == ("pending", None)
    covenant_id = client.get(url, headers=tenant.auth).json()["covenant_id"]

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/covenants/{covenant_id}")
    marks = page.locator(f"#proofs-{record_id} .proof-rejected")
    assert marks.count() == 1 and marks.first.get_attribute("data-document") == blurred
    assert marks.first.inner_text() == "rejected: half the page is cut off"
    assert "annex.pdf" in page.locator(f"#proofs-{record_id} li", has=page.locator(".proof-rejected")).inner_text()
    form = page.locator(f"#comply-form-{record_id}")
    boxes = {b.get_attribute("value"): b for b in form.locator("input[name=proof_document_ids]").all()}
    assert not boxes[clear].is_checked() and not boxes[blurred].is_checked()
    assert "rejected: half the page is cut off" in form.locator("label", has_text="annex.pdf").inner_text()
    assert "rejected" not in form.locator("label", has_text="stock.pdf").inner_text()

    # Ticking it anyway is refused as before; the form comes back with the clear one ticked, the rejected one not.
    boxes[clear].check()
    boxes[blurred].check()
    form.locator("input[name=text]").fill("December statement")
    form.locator("button:has-text('Comply')").click()
    page.wait_for_selector(f"#review-error-{record_id}")
    assert "half the page is cut off" in page.locator(f"#review-error-{record_id}").inner_text()
    form = page.locator(f"#comply-form-{record_id}")
    boxes = {b.get_attribute("value"): b for b in form.locator("input[name=proof_document_ids]").all()}
    assert boxes[clear].is_checked() and not boxes[blurred].is_checked()
    form.locator("button:has-text('Comply')").click()
    page.wait_for_selector("#evaluations .pill.complied")
    record = client.get(url, headers=tenant.auth).json()
    assert record["status"] == "complied"
    assert {p["document_id"]: p["approved"] for p in record["proofs"]} == {clear: True, blurred: False}
    page.close()
