"""The loan agreement and e-sign end to end, on PostgreSQL, a real HTTP server and the e-sign and SMS simulators:
sanction → the agreement worker issues the PDF (stored, hash recorded) and the link (SMS) → `POST {link}
{"action": "sign"}` at the simulator → its signed webhook to us → approved. An expired link, a resend, repeated
and forged webhooks, the PDF read back independently, brand isolation.

The product catalogue is a fake installed on the platform's Loans application (as tests/e2e/test_api_loans.py)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pypdf
import pytest

from adapters.webhooks import sign
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.loans.esign import CALLBACK_ATTEMPTS
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.terms import AmountKind, Fee, LoanKind, PenalKind, PenalTerms
from domain.shared.clock import FixedClock
from domain.shared.errors import NotFound
from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
from tests.support import document_amounts_as_digits, mobile, settle
from tests.unit import lending_reference as ref
from workers.agreement_jobs import AgreementJobPort, AgreementWorker, expire_links

PRODUCT = uuid.UUID("00000000-0000-4000-8000-0000000e5001")


class Catalogue:
    """One EMI product in every brand: 2.5 % processing fee (GST on top), ₹499 convenience fee (GST inside)."""

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        if product_id != PRODUCT:
            raise NotFound("no product")
        return ProductVersion(
            id=PRODUCT, brand_id=brand_id, version=2, code="PL", name="Personal loan", kind=LoanKind.EMI,
            min_amount=Decimal("10000.00"), max_amount=Decimal("500000.00"), min_tenure=3, max_tenure=36,
            annual_percent=Decimal("21.50"), daily_percent=None,
            processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("2.5")),
            convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("499"), gst_inclusive=True),
            gst_percent=Decimal("18"), penal=PenalTerms(kind=PenalKind.SIMPLE, daily_percent=Decimal("0.10")),
            max_active_loans=5, bre_rules=(),
        )  # fmt: skip

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self.current(brand_id, product_id)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return None


@pytest.fixture(autouse=True)
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before = loans._catalogue
    loans._catalogue = Catalogue()
    yield loans._catalogue
    loans._catalogue = before


@pytest.fixture
def wired(server: str, provider_simulators: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Providers call us back at the test server; the simulators sign with the tests' secret."""
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    return provider_simulators


def _sanctioned(client: Any, tenant: Any, platform: Any, phone: str, pan: str = "ABCPK1234L") -> str:
    made = client.post(
        "/api/v1/customers",
        json={"name": "Kavya Raman", "phone": phone, "date_of_birth": "1991-04-12", "pan": pan,
              "addresses": [{"line1": "12 Temple Street", "city": "Madurai", "pincode": "625001"}]},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = {"customer_id": made.json()["id"], "product_id": str(PRODUCT), "amount": "120000", "tenure": 18}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    assert client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth).json()["status"] == "pending"
    approve = {"approved_amount": "110000", "remarks": "salary supports 110k"}
    approved = client.post(f"/api/v1/loans/{loan['id']}/cx-approve", json=approve, headers=tenant.auth)
    assert approved.status_code == 200, approved.text
    sanction = {"sanctioned_amount": "100000.00", "remarks": "FOIR at the limit"}
    sanctioned = client.post(f"/api/v1/loans/{loan['id']}/sanction", json=sanction, headers=tenant.auth)
    assert sanctioned.status_code == 200 and sanctioned.json()["status"] == "sm_approved", sanctioned.text
    return str(loan["id"])


def _issue(platform: Any) -> None:
    AgreementWorker(platform.port(AgreementJobPort)).drain()
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())


def _loan(client: Any, tenant: Any, loan_id: str) -> dict[str, Any]:
    answer = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _until(client: Any, tenant: Any, platform: Any, loan_id: str, status: str, seconds: float = 15) -> dict[str, Any]:
    """The loan once the webhook moved it to `status` and every loans read model caught up."""
    deadline = time.monotonic() + seconds
    while _loan(client, tenant, loan_id)["status"] != status and time.monotonic() < deadline:
        time.sleep(0.1)
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    return _loan(client, tenant, loan_id)


def _events(dsn: str, loan_id: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT topic FROM events.loans_events WHERE originator_id = %s ORDER BY originator_version", (loan_id,)
        ).fetchall()
    return [str(r[0]).rsplit(".", 1)[-1] for r in rows]


def test_sanction_link_sign_at_the_simulator_webhook_approved(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    phone = mobile("98765")
    loan_id = _sanctioned(client, tenant, platform, phone)
    assert _loan(client, tenant, loan_id)["esign"] is None
    before = datetime.now(UTC)
    _issue(platform)
    loan = _loan(client, tenant, loan_id)
    esign, agreement = loan["esign"], loan["agreement"]
    assert loan["status"] == "sm_approved" and esign["state"] == "sent" and esign["links_sent"] == 1
    expires = datetime.fromisoformat(esign["expires_at"])
    assert before + timedelta(days=2) - timedelta(minutes=1) <= expires <= datetime.now(UTC) + timedelta(days=2)
    assert esign["link"].startswith(wired["esign"].base_url)
    texts = [m.get("text", "") for m in wired["sms"].sent_to(phone)]
    assert any(esign["link"] in t and loan["loan_number"] in t for t in texts), texts

    pdf = client.get(agreement["download"], headers=tenant.auth)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == agreement["sha256"] == pdf.headers["x-document-sha256"]
    _check_pdf(pdf.content, loan, datetime.fromisoformat(agreement["issued_at"]))

    signed = httpx.post(esign["link"], json={"action": "sign"}, timeout=10)
    assert signed.status_code == 200, signed.text
    approved = _until(client, tenant, platform, loan_id, "approved")
    assert approved["status"] == "approved" and approved["esign"]["state"] == "signed"
    assert approved["esign"]["signed_at"] is not None
    assert _events(platform.dsn, loan_id)[-3:] == ["Sanctioned", "AgreementIssued", "Signed"]
    again = httpx.post(esign["link"], json={"action": "sign"}, timeout=10)
    assert again.status_code == 409  # the simulator: already decided

    # Signed without a verified bank account: approved until one is verified, then in the Ops queue.
    _verified_account(client, tenant, approved["customer_id"])
    AgreementWorker(platform.port(AgreementJobPort)).drain(check_queue=True)
    queued = _until(client, tenant, platform, loan_id, "awaiting_disbursal")
    assert queued["status"] == "awaiting_disbursal"
    assert _events(platform.dsn, loan_id)[-2:] == ["Signed", "DisbursalQueued"]


def _verified_account(client: Any, tenant: Any, customer_id: str) -> None:
    """A bank account verified by a penny drop at the simulator."""
    body = {"account_number": "50100123456789", "ifsc": "HDFC0001234", "holder_name": "Kavya Raman"}
    added = client.post(f"/api/v1/customers/{customer_id}/bank-accounts", json=body, headers=tenant.auth)
    assert added.status_code == 201 and added.json()["status"] == "verified", added.text


def test_a_signature_with_the_account_already_verified_queues_at_once(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _verified_account(client, tenant, _loan(client, tenant, loan_id)["customer_id"])
    _issue(platform)
    link = _loan(client, tenant, loan_id)["esign"]["link"]
    assert httpx.post(link, json={"action": "sign"}, timeout=10).status_code == 200
    queued = _until(client, tenant, platform, loan_id, "awaiting_disbursal")
    assert queued["status"] == "awaiting_disbursal" and queued["esign"]["state"] == "signed"


def test_a_signature_losing_its_races_is_a_409_and_the_provider_s_redelivery_signs_it(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each time the webhook loads the loan to sign it, another request saves a change on it first (a manager
    reassigns it): after its tries the answer is a 409 with the event id freed, and the simulator's redelivery
    signs the loan. It was a 200 `ignored` "not signed", final for the provider: the signature was lost."""
    loan_id = _sanctioned(client, tenant, platform, mobile("98766"), pan="ABCPK8234L")
    _issue(platform)
    identity, loans = platform.get(Identity), platform.get(Loans)
    cxs = [identity.create_staff(tenant.brand_id, f"cx-{uuid.uuid4().hex[:8]}@lender.in", f"Cee Ex {n}",
                                 ["credit_executive"], granter=OPERATOR) for n in (1, 2)]  # fmt: skip
    settle(platform, "identity", cxs[-1].position)
    real_get, raced = loans.get, []

    def get_then_reassign(brand_id: UUID, the_loan: UUID) -> Any:
        found = real_get(brand_id, the_loan)
        if str(the_loan) == loan_id and len(raced) < CALLBACK_ATTEMPTS:
            raced.append(cxs[len(raced) % 2].id)
            with monkeypatch.context() as inner:  # the reassignment's own load is not raced
                inner.setattr(loans, "get", real_get)
                loans.assign(brand_id, the_loan, raced[-1], "reassigned meanwhile")
        return found

    monkeypatch.setattr(loans, "get", get_then_reassign)
    esign = wired["esign"]
    since = esign.outbox.last_seq
    assert httpx.post(_loan(client, tenant, loan_id)["esign"]["link"], json={"action": "sign"}, timeout=10).is_success
    signed = _until(client, tenant, platform, loan_id, "approved", seconds=30)
    assert (signed["status"], signed["esign"]["state"], signed["assignee_id"]) == ("approved", "signed", str(raced[-1]))
    # This loan's deliveries only: an earlier test's late redelivery may land in the outbox meanwhile.
    statuses = [r.payload["status"] for r in esign.outbox.records("webhook", since=since)
                if ((r.payload.get("body") or {}).get("data") or {}).get("reference") == loan_id]  # fmt: skip
    assert statuses == [409, 200] and len(raced) == CALLBACK_ATTEMPTS


def test_signed_loans_that_cannot_enter_the_queue_do_not_hide_the_ones_behind_them(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    """A pass looks at a bounded number of signed loans, oldest change first. Loans signed with no verified account
    stay at the head of that list; they wait out a delay once looked at, and the pass walks past them, so a loan
    signed later with its account verified enters the queue (the list's head used to be read again each pass)."""
    stuck = [_sanctioned(client, tenant, platform, mobile("98765"), pan=f"ABCPK{n}234L") for n in (5, 6)]
    ready = _sanctioned(client, tenant, platform, mobile("98765"), pan="ABCPK7234L")
    _issue(platform)
    for loan_id in [*stuck, ready]:  # signed in this order, none with a verified account yet
        link = _loan(client, tenant, loan_id)["esign"]["link"]
        assert httpx.post(link, json={"action": "sign"}, timeout=10).status_code == 200
        assert _until(client, tenant, platform, loan_id, "approved")["esign"]["state"] == "signed"
    _verified_account(client, tenant, _loan(client, tenant, ready)["customer_id"])  # the last signed is ready now
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    with psycopg.connect(platform.dsn) as conn:  # every signed loan of the database waiting ahead of `ready`
        (ahead,) = conn.execute("SELECT count(*) FROM read.loan_agreements WHERE work = 'queue'").fetchone() or (0,)
    worker = AgreementWorker(platform.port(AgreementJobPort))
    passes = 0
    while _loan(client, tenant, ready)["status"] != "awaiting_disbursal" and passes <= ahead:
        worker.queue_signed(2)  # two loans a pass: the two stuck ones, and any other test's, fill the first
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
        passes += 1
    assert _loan(client, tenant, ready)["status"] == "awaiting_disbursal", (passes, ahead)
    assert [_loan(client, tenant, s)["status"] for s in stuck] == ["approved", "approved"]


def _check_pdf(data: bytes, loan: dict[str, Any], issued_at: datetime) -> None:
    """The agreement's figures against tests/unit/lending_reference.py (a second implementation of LENDING.md)."""
    text = document_amounts_as_digits("\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages))
    principal = ref.paise("100000.00")
    priced = ref.price(principal, ("percent", Decimal("2.5"), False), ("fixed", Decimal("499"), True),
                       Decimal("18"), None)  # fmt: skip
    rupees = lambda p: f"{ref.rupees(p):.2f}"  # noqa: E731
    for line in (
        f"Loan number {loan['loan_number']}",
        "Borrower Kavya Raman",
        "PAN ABCPK****L",
        "Amount requested 120000.00",
        "Amount recommended 110000.00",
        "Amount sanctioned (principal) 100000.00",
        "Interest rate 21.50% per annum, reducing balance",
        f"Processing fee after discount {rupees(priced.processing)}",
        f"GST 18% on processing fee {rupees(priced.processing_gst)} (on top of the fee)",
        f"GST 18% on convenience fee {rupees(priced.convenience_gst)} (included in the fee)",
        f"Net amount disbursed {rupees(priced.net)}",
    ):
        assert line in text, line
    disbursal = issued_at.astimezone(UTC) + timedelta(hours=5, minutes=30)  # the brand's day (Asia/Kolkata)
    rows = ref.emi_rows(principal, Decimal("21.50"), 18, disbursal.date(), True, frozenset())
    for k, row in enumerate(rows, start=1):
        amounts = [rupees(v) for v in (row.opening, row.principal, row.interest, row.principal + row.interest)]
        assert f"{k} {row.due.isoformat()} {' '.join(amounts)}" in text, k


def test_an_expired_link_cannot_be_signed_and_a_resend_can(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    first = _loan(client, tenant, loan_id)["esign"]
    port = platform.port(AgreementJobPort)
    later = replace(port, service=replace(port.service, clock=FixedClock(datetime.now(UTC) + timedelta(days=3))))
    assert expire_links(later, later.service.clock.now(), 100, tenant.brand_id) == 1
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    assert _loan(client, tenant, loan_id)["esign"]["state"] == "expired"

    httpx.post(first["link"], json={"action": "sign"}, timeout=10)  # the provider still lets them sign...
    time.sleep(1.0)
    still = _loan(client, tenant, loan_id)
    assert still["status"] == "sm_approved" and still["esign"]["state"] == "expired"  # ...we do not take it

    resent = client.post(f"/api/v1/loans/{loan_id}/esign-link", headers=tenant.auth)
    assert resent.status_code == 200, resent.text
    fresh = resent.json()["esign"]
    assert fresh["state"] == "sent" and fresh["link"] != first["link"] and fresh["links_sent"] == 2
    assert resent.json()["agreement"]["sha256"] == _loan(client, tenant, loan_id)["agreement"]["sha256"]
    assert httpx.post(fresh["link"], json={"action": "sign"}, timeout=10).status_code == 200
    assert _until(client, tenant, platform, loan_id, "approved")["status"] == "approved"
    assert client.post(f"/api/v1/loans/{loan_id}/esign-link", headers=tenant.auth).status_code == 409


def _delivery(data: dict[str, Any], event_id: str, secret: str = PROVIDER_WEBHOOK_SECRET,
              at: int | None = None) -> tuple[bytes, dict[str, str]]:  # fmt: skip
    body = json.dumps({"id": event_id, "type": "esign.signed", "created_at": datetime.now(UTC).isoformat(),
                       "data": data}).encode()  # fmt: skip
    headers = sign(secret, body, at if at is not None else int(time.time()))
    return body, {**headers, "Content-Type": "application/json"}


def test_forged_stale_and_repeated_webhooks(client: Any, tenant: Any, platform: Any, wired: dict[str, Any]) -> None:
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    loan = _loan(client, tenant, loan_id)
    request_id = loan["esign"]["link"].rsplit("/", 1)[-1]
    data = {"request_id": request_id, "reference": loan_id, "document_sha256": loan["agreement"]["sha256"],
            "status": "signed", "signer_name": "Kavya Raman", "signed_at": datetime.now(UTC).isoformat()}  # fmt: skip
    before = _events(platform.dsn, loan_id)
    hook = "/api/v1/webhooks/esign"

    body, headers = _delivery(data, "evt-forged", secret="whsec_someone_else")
    assert client.post(hook, content=body, headers=headers).status_code == 401
    body, headers = _delivery(data, "evt-stale", at=int(time.time()) - 3600)
    assert client.post(hook, content=body, headers=headers).status_code == 401
    body, headers = _delivery(data, "evt-tampered")
    tampered = body.replace(b"Kavya", b"Kavyb")
    assert client.post(hook, content=tampered, headers=headers).status_code == 401
    assert client.post(hook, content=body, headers={"Content-Type": "application/json"}).status_code == 400
    assert _events(platform.dsn, loan_id) == before  # nothing recorded for any of them

    body, headers = _delivery(data, f"evt-{uuid.uuid4().hex}")
    first = client.post(hook, content=body, headers=headers)
    assert first.status_code == 200 and first.json()["outcome"] == "recorded", first.text
    assert first.json()["loan_id"] == loan_id
    replayed = client.post(hook, content=body, headers=headers)
    assert replayed.status_code == 200 and replayed.json()["outcome"] == "duplicate"
    body, headers = _delivery(data, f"evt-{uuid.uuid4().hex}")  # the same signature as another event
    other = client.post(hook, content=body, headers=headers)
    assert other.status_code == 200 and other.json()["outcome"] == "duplicate"
    assert _events(platform.dsn, loan_id).count("Signed") == 1
    # The webhook's answer does not wait for the read models (the provider needs none): read once they have it.
    assert _until(client, tenant, platform, loan_id, "approved")["status"] == "approved"


def test_a_signed_webhook_with_an_impossible_signed_at_is_refused_naming_it_and_records_nothing(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    """signed_at before the link was sent (a signature cannot precede its document), beyond the clock-skew window in
    the future, or not an instant with its offset: 422 problem+json naming data.signed_at; no event, and the event
    id is not kept, so the provider's corrected delivery of the same event is recorded."""
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    loan = _loan(client, tenant, loan_id)
    sent = datetime.fromisoformat(loan["agreement"]["issued_at"])
    data = {"request_id": loan["esign"]["link"].rsplit("/", 1)[-1], "reference": loan_id,
            "document_sha256": loan["agreement"]["sha256"], "status": "signed", "signer_name": "Kavya Raman"}  # fmt: skip
    before = _events(platform.dsn, loan_id)
    hook, event_id = "/api/v1/webhooks/esign", f"evt-{uuid.uuid4().hex}"
    for signed_at in (
        (sent - timedelta(hours=1)).isoformat(),  # before the agreement was sent for signing
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),  # an hour ahead of our clock
        "2026-13-45T25:00:00+00:00",
        datetime.now(UTC).replace(tzinfo=None).isoformat(),  # no offset: which instant?
        datetime.now(UTC).astimezone(timezone(-timedelta(hours=18, minutes=8))).isoformat(),
    ):  # the last: an offset no zone has (PostgreSQL stores up to ±15:59)
        body, headers = _delivery({**data, "signed_at": signed_at}, event_id)
        answer = client.post(hook, content=body, headers=headers)
        assert answer.status_code == 422, (signed_at, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in answer.json()["errors"]] == ["data.signed_at"], answer.text
    assert _events(platform.dsn, loan_id) == before
    assert _loan(client, tenant, loan_id)["status"] == "sm_approved"

    body, headers = _delivery({**data, "signed_at": datetime.now(UTC).isoformat()}, event_id)
    corrected = client.post(hook, content=body, headers=headers)
    assert corrected.status_code == 200 and corrected.json()["outcome"] == "recorded", corrected.text
    assert _until(client, tenant, platform, loan_id, "approved")["status"] == "approved"


def test_another_brand_sees_no_agreement_and_cannot_resend(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    other = make_tenant(platform)
    assert client.get(f"/api/v1/loans/{loan_id}/agreement", headers=other.auth).status_code == 404
    assert client.post(f"/api/v1/loans/{loan_id}/esign-link", headers=other.auth).status_code == 404
    issued = platform.get(Identity).issue_api_key(
        tenant.brand_id, "collection_executive", "no loans writes", granter=OPERATOR
    )
    settle(platform, "identity", issued.position)
    denied = client.post(f"/api/v1/loans/{loan_id}/esign-link", headers={"Authorization": f"Bearer {issued.secret}"})
    assert denied.status_code == 403


def test_the_expiry_job_expires_links_by_the_brands_business_date(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    from tests.e2e.test_covenants import hold_business_date
    from workers.runtime import scheduler_for

    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    expires = datetime.fromisoformat(_loan(client, tenant, loan_id)["esign"]["expires_at"])
    zone = client.get("/api/v1/brand/config", headers=tenant.auth).json()["settings"]["timezone"]
    local = expires.astimezone(ZoneInfo(zone))  # the brand's date, not UTC's
    hold_business_date(platform, tenant, (local + timedelta(days=1)).date().isoformat())  # two days later
    accepted = client.post("/api/v1/jobs/esign-expiry/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    scheduler_for(platform).execute(accepted.json()["run_id"])
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    assert _loan(client, tenant, loan_id)["esign"]["state"] == "expired"
    assert _events(platform.dsn, loan_id)[-1] == "EsignExpired"


def test_an_altered_stored_agreement_is_refused_on_the_portal_and_the_api_not_a_500(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any], server: str
) -> None:
    """The stored PDF no longer matching the SHA-256 the loan recorded: the portal's download answers a 409 page
    saying so (it was a 500), the API a 409 problem; with the bytes back, both serve the document again."""
    import os

    from adapters.document_store import FolderDocumentStore, document_store_from_env
    from tests.e2e.blackbox import staff_session
    from tests.e2e.conftest import PASSWORD

    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    sha256 = _loan(client, tenant, loan_id)["agreement"]["sha256"]
    store = document_store_from_env(os.environ)
    assert isinstance(store, FolderDocumentStore)
    path = store._path(sha256)
    original = path.read_bytes()
    email = f"ops-{uuid.uuid4().hex[:8]}@lender.in"
    settle(platform, "identity", platform.get(Identity).create_staff(tenant.brand_id, email, "Ops", ["admin"],
                                                                     PASSWORD, granter=OPERATOR).position)  # fmt: skip
    portal = staff_session(server, email, PASSWORD)
    try:
        path.write_bytes(original.replace(b"100,000.00", b"900,000.00", 1) + b"%altered")
        page = portal.get(f"/loans/{loan_id}/agreement.pdf")
        assert page.status_code == 409 and "does not match its recorded SHA-256" in page.text, page.text[:300]
        api = client.get(f"/api/v1/loans/{loan_id}/agreement", headers=tenant.auth)
        assert api.status_code == 409 and api.headers["content-type"].startswith("application/problem+json")
    finally:
        path.write_bytes(original)
        portal.close()
    served = client.get(f"/api/v1/loans/{loan_id}/agreement", headers=tenant.auth)
    assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == sha256


def test_what_the_agreement_worker_records_names_the_worker_and_its_pass(
    client: Any, tenant: Any, platform: Any, wired: dict[str, Any]
) -> None:
    """The agreement worker runs outside any request or job run: its events carried no trace id. Each pass now traces
    what it records, `worker-pass:agreement-worker:<pass id>`, beside its actor (docs/events.md)."""
    loan_id = _sanctioned(client, tenant, platform, mobile("98765"))
    _issue(platform)
    worker_events = [e for e in platform.get(Loans).events.get(uuid.UUID(loan_id)) if e.actor == "job:esign"]
    assert [type(e).__name__ for e in worker_events] == ["AgreementIssued"], worker_events
    [trace] = {e.trace_id for e in worker_events}
    assert str(trace).startswith("worker-pass:agreement-worker:"), trace
    uuid.UUID(str(trace).rsplit(":", 1)[1])  # the pass's id
