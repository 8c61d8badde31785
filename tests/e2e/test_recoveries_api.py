"""Collection money through the API on PostgreSQL (issue #16 items 5-7): a partial collection applied only after
approval (never when rejected; approve twice 409; duplicate reference 409), who may create and approve, a manual
receipt confirmed by Ops, a penal waiver, a settlement ending `settled` and a write-off ending `written_off` with
the ledger at zero and recoveries after it, the completed-loans tabs, brand isolation (404) and the auditor's
as-of replay across the new events."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from pypdf import PdfReader

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import document_amounts_as_digits, settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

LATE = date(2026, 3, 20)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _overdue_loan(platform: Any, tenant: Tenant) -> UUID:
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    return loan_id


def _sum_ledger(client: Any, tenant: Tenant, loan_id: UUID) -> dict[str, Decimal]:
    items = client.get(f"/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    return {b: sum((Decimal(p[b]) for p in items), Decimal(0)) for b in ("principal", "interest", "penal", "fees")}


def test_partial_collection_only_after_approval(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    executive, ops = _key(platform, tenant, "collection_executive"), _key(platform, tenant, "loan_ops")
    manager, sales = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "sales")
    url = f"/api/v1/loans/{loan_id}"
    body = {"amount": "3000.00", "mode": "cash", "reference": "RCPT-1", "collected_on": "2026-03-19"}
    assert client.post(f"{url}/collection-requests", json=body, headers=ops).status_code == 403
    made = client.post(f"{url}/collection-requests", json=body, headers=manager)
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["status"] == "pending_approval" and request["kind"] == "collection" and "id" in request
    assert client.post(f"{url}/collection-requests", json=body, headers=manager).status_code == 409  # duplicate
    assert client.get(f"{url}/repayments", headers=tenant.auth).json()["items"] == []  # nothing counts yet
    queue = client.get("/api/v1/collection-requests", headers=ops).json()["items"]
    assert [r["id"] for r in queue] == [request["id"]]
    approve = f"/api/v1/collection-requests/{request['id']}/approve"
    assert client.post(approve, headers=executive).status_code == 403  # executives do not approve
    assert client.post(approve, headers=sales).status_code == 403
    approved = client.post(approve, headers=manager)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["payment_id"]
    assert client.post(approve, headers=ops).status_code == 409  # approve twice
    (payment,) = client.get(f"{url}/repayments", headers=tenant.auth).json()["items"]
    assert payment["amount"] == "3000.00" and payment["reference"] == "RCPT-1"
    assert Decimal(payment["allocation"][0]["penal"]) > 0  # penal charges first
    assert client.get("/api/v1/collection-requests", headers=ops).json()["items"] == []

    # a rejected one never counts; a reason is needed
    second = client.post(f"{url}/collection-requests", json=body | {"reference": "RCPT-2"}, headers=manager).json()
    reject = f"/api/v1/collection-requests/{second['id']}/reject"
    assert client.post(reject, json={"reason": ""}, headers=ops).status_code == 422
    rejected = client.post(reject, json={"reason": "never reached the branch"}, headers=ops)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert client.post(f"/api/v1/collection-requests/{second['id']}/approve", headers=ops).status_code == 409
    assert len(client.get(f"{url}/repayments", headers=tenant.auth).json()["items"]) == 1
    # above the payoff: 422, nothing recorded
    huge = body | {"reference": "RCPT-3", "amount": "999999.00"}
    assert client.post(f"{url}/collection-requests", json=huge, headers=manager).status_code == 422
    kinds = [r["status"] for r in client.get(f"{url}/recovery-requests", headers=manager).json()["items"]]
    assert sorted(kinds) == ["approved", "rejected"]

    # another brand: 404 everywhere
    other = make_tenant(platform)
    assert client.post(approve, headers=other.auth).status_code == 404
    assert (
        client.post(f"{url}/collection-requests", json=body | {"reference": "X"}, headers=other.auth).status_code == 404
    )
    assert client.post(f"{url}/write-off", json={"reason": "probe"}, headers=other.auth).status_code == 404
    assert client.get("/api/v1/collection-requests?status=approved", headers=other.auth).json()["items"] == []


def test_receipt_waiver_and_settlement(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    ops = _key(platform, tenant, "loan_ops")  # executives ask only on their own loans: the manager asks here
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{loan_id}"

    receipt = client.post(
        f"{url}/receipts",
        headers=manager,
        files={"file": ("receipt.png", PNG, "image/png")},
        data={"amount": "50.00", "mode": "cash", "reference": "MR-1"},
    )
    assert receipt.status_code == 201, receipt.text
    rid = receipt.json()["id"]
    assert receipt.json()["kind"] == "receipt" and receipt.json()["document_id"]
    assert client.post(f"/api/v1/collection-requests/{rid}/approve", headers=manager).status_code == 404  # a receipt
    assert client.post(f"/api/v1/receipts/{rid}/confirm", headers=manager).status_code == 403  # Ops confirms
    assert client.post(f"/api/v1/receipts/{rid}/confirm", headers=ops).status_code == 200
    assert [p["amount"] for p in client.get(f"{url}/repayments", headers=tenant.auth).json()["items"]] == ["50.00"]

    loan = client.get(url, headers=tenant.auth).json()
    penal = Decimal(loan["outstanding"]["penal"])
    assert penal > 0
    too_much = {"amount": str(penal + Decimal("0.01")), "justification": "goodwill"}
    assert client.post(f"{url}/waivers", json=too_much, headers=manager).status_code == 422
    waiver = client.post(
        f"{url}/waivers", json={"amount": str(penal), "justification": "hospital stay"}, headers=manager
    )
    assert waiver.status_code == 201, waiver.text
    assert client.post(f"/api/v1/waivers/{waiver.json()['id']}/approve", headers=ops).status_code == 403
    other = make_tenant(platform)  # another brand's admin: 404, nothing decided
    assert client.post(f"/api/v1/waivers/{waiver.json()['id']}/approve", headers=other.auth).status_code == 404
    assert (
        client.post(f"/api/v1/receipts/{rid}/reject", json={"reason": "probe"}, headers=other.auth).status_code == 404
    )
    assert client.post(f"/api/v1/waivers/{waiver.json()['id']}/approve", headers=manager).status_code == 200
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["outstanding"]["penal"] == "0.00"
    assert any(p["kind"] == "waiver" for p in client.get(f"{url}/ledger", headers=tenant.auth).json()["items"])

    payoff = Decimal(client.get(f"{url}/payoff", headers=tenant.auth).json()["total"])
    assert (
        client.post(f"{url}/settlements", json={"amount": str(payoff), "remarks": "offer"}, headers=manager).status_code
        == 422
    )
    settlement = client.post(
        f"{url}/settlements", json={"amount": "40000.00", "remarks": "job lost; one-time"}, headers=manager
    ).json()
    sid = settlement["id"]
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=manager).status_code == 403  # the head
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=other.auth).status_code == 404
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=head).status_code == 200
    assert client.post(f"/api/v1/settlements/{sid}/approve", headers=head).status_code == 409
    pay = {"amount": "40000.00", "mode": "neft", "reference": "UTR-SETTLE"}
    assert client.post(f"{url}/repayments", json=pay | {"amount": "40000.01"}, headers=tenant.auth).status_code == 422
    paid = client.post(f"{url}/repayments", json=pay, headers=tenant.auth)
    assert paid.status_code == 201, paid.text
    loan = client.get(url, headers=tenant.auth).json()
    assert loan["status"] == "settled" and loan["outstanding"]["total"] == "0.00"
    assert _sum_ledger(client, tenant, loan_id) == {b: 0 for b in ("principal", "interest", "penal", "fees")}
    assert client.post(f"{url}/repayments", json=pay | {"reference": "late"}, headers=tenant.auth).status_code == 409


def test_write_off_recoveries_and_audit_replay(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head = _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{loan_id}"
    before = datetime.now(UTC)
    assert client.post(f"{url}/write-off", json={"reason": "deceased"}, headers=head).status_code == 403  # admins
    assert client.post(f"{url}/write-off", json={"reason": ""}, headers=tenant.auth).status_code == 422
    done = client.post(f"{url}/write-off", json={"reason": "borrower deceased; no estate"}, headers=tenant.auth)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "written_off" and done.json()["principal"] == "85000.00"
    assert client.post(f"{url}/write-off", json={"reason": "again"}, headers=tenant.auth).status_code == 409
    assert client.get(url, headers=tenant.auth).json()["status"] == "written_off"
    recovery = client.post(
        f"{url}/repayments", json={"amount": "1500.00", "mode": "cash", "reference": "REC-1"}, headers=tenant.auth
    )
    assert recovery.status_code == 201, recovery.text
    assert recovery.json()["allocation"] == [] and recovery.json()["status"] == "written_off"
    receipt = client.get(f"{url}/repayments/{recovery.json()['id']}/receipt", headers=tenant.auth)  # a recovery's
    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf", receipt.text
    left = Decimal(done.json()["total"]) - Decimal("1500.00")
    text = document_amounts_as_digits(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(receipt.content)).pages))
    assert "Amount received 1500.00" in text and f"Left to recover after it {left:.2f}" in text, text
    assert client.get(f"{url}/settlement-letter", headers=tenant.auth).status_code == 409  # written off, not settled
    items = client.get(f"{url}/ledger", headers=tenant.auth).json()["items"]
    assert [p["kind"] for p in items][-2:] == ["write_off", "recovery"]
    assert _sum_ledger(client, tenant, loan_id) == {b: 0 for b in ("principal", "interest", "penal", "fees")}
    # the auditor's replay before and after
    then = client.get(f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": before.isoformat()}, headers=tenant.auth)
    assert then.status_code == 200, then.text
    assert then.json()["state"]["status"] in ("active", "overdue")  # COB has not run: the status recorded
    now = client.get(
        f"/api/v1/audit/loan/{loan_id}/state", params={"as_of": datetime.now(UTC).isoformat()}, headers=tenant.auth
    )
    assert now.status_code == 200, now.text
    assert now.json()["state"]["status"] == "written_off" and now.json()["state"]["ending"]["kind"] == "written_off"


def test_a_receipt_refused_after_its_file_was_stored_is_accepted_when_sent_again(
    client: Any, platform: Any, monkeypatch: Any
) -> None:
    """A payment recorded between a receipt's check and its request lowers the payoff below it: 422 after the file
    was stored. The same file sent again with the amount corrected is that document, not a 409 "already uploaded"
    for good; a second receipt of the same money is still refused by its reference, storing nothing."""
    from domain.loans.application import Loans

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    manager = _key(platform, tenant, "collection_manager")
    url = f"/api/v1/loans/{loan_id}"
    loans = platform.get(Loans)
    payoff = Decimal(loans.owing(tenant.brand_id, loan_id, LATE).amount)
    asked = loans.request_collection
    landed: list[str] = []

    def a_payment_lands_first(*args: Any, **kwargs: Any) -> Any:
        if not landed:  # the borrower's UPI payment, recorded by Ops in the window
            landed.append(loans.record_repayment(tenant.brand_id, loan_id, "100.00", "upi", "UTR-WINDOW")[1].payment_id)
        return asked(*args, **kwargs)

    monkeypatch.setattr(loans, "request_collection", a_payment_lands_first)
    form = {"amount": str(payoff), "mode": "cash", "reference": "MR-W"}
    upload = {"file": ("receipt.png", PNG, "image/png")}
    refused = client.post(f"{url}/receipts", headers=manager, files=upload, data=form)
    assert refused.status_code == 422 and "amount" in refused.text, refused.text
    assert landed, "the payment did not land in the window"
    documents = client.get(f"/api/v1/customers/{_customer(client, tenant, loan_id)}/documents", headers=tenant.auth)
    (stored,) = documents.json()["items"]  # the file was stored before the refusal

    again = client.post(f"{url}/receipts", headers=manager, files=upload, data=form | {"amount": str(payoff - 100)})
    assert again.status_code == 201, again.text
    assert again.json()["document_id"] == stored["id"] and again.json()["status"] == "pending_approval"
    twice = client.post(f"{url}/receipts", headers=manager, files=upload, data=form | {"amount": "10.00"})
    assert twice.status_code == 409 and "reference" in twice.text, twice.text
    kinds = client.get(f"{url}/recovery-requests", headers=manager).json()["items"]
    assert [(r["kind"], r["reference"]) for r in kinds] == [("receipt", "MR-W")]


def _customer(client: Any, tenant: Tenant, loan_id: UUID) -> str:
    return str(client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["customer_id"])


def test_portal_forms_receipt_upload_and_refusals(app: Any, client: Any, platform: Any) -> None:
    """The portal's receipt form (multipart) stores the document and a pending receipt; Ops confirms it from the
    queue page; a form refusal shows on the page and records nothing."""
    from domain.loans.application import Loans
    from tests.e2e.test_access_matrix import _signed_in

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    from tests.e2e.test_collections import executive, give_case, signed_in

    staff_id, email = executive(platform, tenant, "Esha")
    give_case(platform, tenant, loan_id, staff_id)  # the portal's money page shows an executive their own loans
    browser, headers = signed_in(app, email)
    csrf = headers["X-CSRF-Token"]
    ops, ops_csrf = _signed_in(app, platform, tenant.brand_id, "loan_ops")
    try:
        fields = {"csrf_token": csrf, "amount": "40.00", "mode": "cash", "reference": "MR-PORTAL"}
        sent = browser.post(f"/loans/{loan_id}/receipts", data=fields, files={"file": ("r.png", PNG, "image/png")})
        assert sent.status_code == 303, sent.text
        page = browser.get(f"/loans/{loan_id}/recoveries")
        assert page.status_code == 200 and "MR-PORTAL" in page.text and "receipt" in page.text
        loans = platform.get(Loans)
        (receipt,) = loans.get(tenant.brand_id, loan_id).collection_requests.values()
        assert receipt.kind == "receipt" and receipt.document_id is not None
        refused = browser.post(
            f"/loans/{loan_id}/waivers", data={"csrf_token": csrf, "amount": "99999.00", "justification": "too much"}
        )
        assert refused.status_code == 422 and "penal" in refused.text
        assert len(loans.get(tenant.brand_id, loan_id).waivers) == 0
        assert browser.get("/approvals/receipts").status_code == 403  # Ops' queue
        queue = ops.get("/approvals/receipts")
        assert queue.status_code == 200 and "MR-PORTAL" in queue.text
        confirmed = ops.post(f"/approvals/receipts/{receipt.request_id}/confirm", data={"csrf_token": ops_csrf})
        assert confirmed.status_code == 303, confirmed.text
        assert [p.reference for p in loans.get(tenant.brand_id, loan_id).payments.values()] == ["MR-PORTAL"]
    finally:
        browser.close()
        ops.__exit__(None, None, None)


def test_an_executive_asks_for_money_only_on_their_own_loans(app: Any, client: Any, platform: Any) -> None:
    """Found by the black-box walk (tests/e2e/test_collections_blackbox.py): an executive could record a collection,
    a waiver or a settlement on a loan allocated to another executive. Each is now a 404 (as for another brand's
    loan) with nothing recorded; the executive who works the loan still asks."""
    from domain.loans.application import Loans
    from tests.e2e.test_collections import executive, give_case, signed_in

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    (asha, asha_email), (_, ravi_email) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, loan_id, asha)
    url = f"/api/v1/loans/{loan_id}"
    collection = {"amount": "100.00", "mode": "cash", "reference": "R-OWN", "collected_on": "2026-03-19"}
    asks = [
        ("collection-requests", collection, None),
        ("receipts", None, collection | {"reference": "R-REC"}),
        ("waivers", {"amount": "1.00", "justification": "hospital stay"}, None),
        ("settlements", {"amount": "40000.00", "remarks": "job lost; one-time"}, None),
    ]
    ravi, ravi_headers = signed_in(app, ravi_email)
    asha_client, asha_headers = signed_in(app, asha_email)
    try:
        for path, body, form in asks:
            files = {"file": ("r.png", PNG, "image/png")} if form is not None else None
            probe = ravi.post(f"{url}/{path}", json=body, data=form, files=files, headers=ravi_headers)
            assert probe.status_code == 404, (path, probe.status_code, probe.text)
        recorded = platform.get(Loans).get(tenant.brand_id, loan_id)
        assert not recorded.collection_requests and not recorded.waivers and not recorded.settlements
        made = asha_client.post(f"{url}/collection-requests", json=collection, headers=asha_headers)
        assert made.status_code == 201 and made.json()["status"] == "pending_approval", made.text
    finally:
        ravi.close()
        asha_client.close()


def test_an_executive_reads_money_requests_only_of_their_own_loans(app: Any, client: Any, platform: Any) -> None:
    """Found by the cross-brand write probe's in-brand pass: `GET /loans/{id}/recovery-requests` answered any
    executive (COLLECTIONS READ) with the requests of a loan allocated to another - amounts, references, who asked -
    while the loan's money page (`/loans/{id}/recoveries`) is a 404 to them. Now the same 404; whoever reads loans
    (the loan page shows the requests), managers and the executive who works the loan still read them."""
    from tests.e2e.test_collections import executive, give_case, signed_in

    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    (asha, asha_email), (_, ravi_email) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, loan_id, asha)
    url = f"/api/v1/loans/{loan_id}"
    asked = client.post(
        f"{url}/waivers", json={"amount": "1.00", "justification": "hospital stay"}, headers=tenant.auth
    )
    assert asked.status_code == 201, asked.text
    ravi, ravi_headers = signed_in(app, ravi_email)
    asha_client, asha_headers = signed_in(app, asha_email)
    try:
        refused = ravi.get(f"{url}/recovery-requests", headers=ravi_headers)
        assert refused.status_code == 404 and asked.json()["id"] not in refused.text, refused.text
        assert ravi.get(f"/loans/{loan_id}/recoveries").status_code == 404  # as the portal's money page
        own = asha_client.get(f"{url}/recovery-requests", headers=asha_headers)
        assert own.status_code == 200 and [r["id"] for r in own.json()["items"]] == [asked.json()["id"]], own.text
        manager = client.get(f"{url}/recovery-requests", headers=_key(platform, tenant, "collection_manager"))
        assert manager.status_code == 200 and len(manager.json()["items"]) == 1, manager.text
    finally:
        ravi.close()
        asha_client.close()


def test_the_approval_queue_and_money_page_name_who_asked_and_who_decided(
    app: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    """Who asked for a collection and who approved it are shown by name on the approvers' queue and the loan's money
    page (before, as the recorded actor `staff:<uuid>`)."""
    import re

    from tests.e2e.test_refused_forms_keep_input import _portal

    tenant, email = staff  # an admin, "Priya Ops", who may approve her own request
    loan_id = _overdue_loan(platform, tenant)
    browser, csrf = _portal(app, email)
    try:
        fields = {"csrf_token": csrf, "amount": "40.00", "mode": "cash", "reference": "NAMED-1"}
        asked = browser.post(f"/loans/{loan_id}/collection-requests", data=fields)
        assert asked.status_code == 303, asked.text[:300]
        queue = browser.get("/approvals/collections").text
        row = queue[queue.index("NAMED-1") :]
        assert "Priya Ops" in row[: row.index("</tr>")]
        request_id = re.search(r'action="/approvals/collections/([0-9a-f-]+)/approve"', queue)
        assert request_id is not None
        approved = browser.post(f"/approvals/collections/{request_id.group(1)}/approve", data={"csrf_token": csrf})
        assert approved.status_code == 303, approved.text[:300]
        decided = browser.get("/approvals/collections?status=approved").text
        assert "approved by Priya Ops" in decided
        money = browser.get(f"/loans/{loan_id}/recoveries").text
        requests = money[money.index('id="recovery-requests"') :]
        assert requests.count("Priya Ops") == 2  # asked by, decided by
        for page in (queue, decided, money):
            assert "staff:" not in page
    finally:
        browser.__exit__(None, None, None)
