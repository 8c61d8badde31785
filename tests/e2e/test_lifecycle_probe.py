"""The loan lifecycle's API contracts probed adversarially on PostgreSQL: another brand's key on every loan
sub-resource (404), a refused request that records nothing (the document of an evidence upload naming another
loan's contact, a promise to pay on a loan that owes nothing or of more than it owes on the promised date, a
reactivation past the product's open-loan limit, a collection approved after the loan completed, a tenure given as
a string), and signed payment webhooks carrying a malformed amount or a NUL refused with 4xx, never a 500.

Loans reach `active` through the Loans application with the servicing tests' catalogue (test_servicing_api)."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.simulators.sms import SmsSimulator
from adapters.webhooks import sign
from api.services.disbursals import WEBHOOK_SECRET_ENV
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.loans.offer import ProductVersion
from tests.conftest import PROVIDER_WEBHOOK_SECRET, Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms, steps_before_the_loan_request
from tests.e2e.test_api_loans import PRODUCT
from tests.e2e.test_onboarding_api import EMPLOYMENT
from tests.e2e.test_onboarding_api import PRODUCT as BORROWER_PRODUCT
from tests.e2e.test_recoveries_api import PNG
from tests.e2e.test_servicing_api import D0, PenalCatalogue, catalogue, disbursed_loan, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue", "sms"]  # the servicing tests' catalogue (autouse); the SMS simulator, used by name

LATE = date(2026, 3, 20)  # instalment 1 (28 Feb) overdue


def _history(client: Any, tenant: Tenant, loan_id: UUID | str) -> list[dict[str, str]]:
    text = client.get(f"/api/v1/loans/{loan_id}/history.csv", headers=tenant.auth).text.lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def _documents(client: Any, tenant: Tenant, customer_id: UUID) -> list[dict[str, Any]]:
    answer = client.get(f"/api/v1/customers/{customer_id}/documents", headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def _refused(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:400])
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    return dict(answer.json())


def test_another_brands_key_finds_none_of_a_loans_sub_resources(client: Any, platform: Any) -> None:
    """Every operation on /api/v1/loans/{loan_id}/... (from /openapi.json), with a well-formed body, is a 404 for
    another brand's admin, and the loan's history is unchanged."""
    mine, other = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, mine, D0)
    loan_id = disbursed_loan(platform, mine)
    set_business_date(platform, mine, LATE)
    url = f"/api/v1/loans/{loan_id}"
    paid = client.post(f"{url}/repayments", json={"amount": "100.00", "mode": "cash", "reference": "P-1"},
                       headers=mine.auth)  # fmt: skip
    contact = client.post(f"{url}/contacts", json={"outcome": "connected", "remarks": "will pay"}, headers=mine.auth)
    assert paid.status_code == 201 and contact.status_code == 201, (paid.text, contact.text)
    ids = {"loan_id": str(loan_id), "repayment_id": paid.json()["id"], "contact_id": contact.json()["contact_id"],
           "mandate_id": str(uuid.uuid4()), "call_id": str(uuid.uuid4())}  # fmt: skip
    staff_id = str(
        platform.get(Identity)
        .create_staff(
            other.brand_id,
            f"sm-{uuid.uuid4().hex[:8]}@lender.in",
            "Other SM",
            ["sanction_manager"],
            "other-pass-2026",
            granter=OPERATOR,
        )
        .id
    )
    settle(platform, "identity")
    bodies: dict[str, dict[str, Any]] = {
        "bre-overrides": {"rule": "SALARY", "result": "pass", "justification": "verified with the employer"},
        "bypasses": {"check": "bureau", "reason": "bureau down"},
        "assign": {"staff_id": staff_id, "reason": "rebalance"},
        "cancel": {"reason": "withdrawn"},
        "reject": {"reason_code": "LOW_SALARY", "remarks": "too low"},
        "cam": {
            "salary_credits": [{"month": f"2025-{m}", "amount": "50000"} for m in (10, 11, 12)],
            "foir": "40",
            "recommended_amount": "50000",
            "recommended_rate": "24",
            "notes": "stable job",
        },
        "cx-approve": {"approved_amount": "90000", "remarks": "salary ok"},
        "send-back": {"to": "cx", "reason": "check salary"},
        "sanction": {"sanctioned_amount": "85000", "remarks": "ok then"},
        "escalate": {"reason": "needs the head"},
        "sanction-assign": {"staff_id": staff_id, "reason": "yours"},
        "reactivate": {"reason": "approved by the head"},
        "disburse": {"mode": "IMPS"},
        "repayments": {"amount": "10.00", "mode": "cash", "reference": "B-1"},
        "reverse": {"reason": "entered twice"},
        "payment-links": {"channel": "sms"},
        "collection-payment-links": {"channel": "sms"},
        "mandates": {"vpa": "ravi@okhdfc", "max_amount": "100.00", "frequency": "monthly"},
        "collection-requests": {"amount": "10.00", "mode": "cash", "reference": "B-2", "collected_on": "2026-03-19"},
        "full-repayment": {"amount": "10.00", "mode": "cash", "reference": "B-4"},
        "waivers": {"amount": "1.00", "justification": "goodwill gesture"},
        "settlements": {"amount": "100.00", "remarks": "one time"},
        "write-off": {"reason": "uncollectable"},
        "write-offs": {"reason": "uncollectable"},
        "contacts": {"outcome": "connected", "remarks": "hello"},
        "ptps": {"date": "2026-03-25", "amount": "10.00"},
        "collection-legal": {"reason": "legal now"},
        "calls": {"phone": "9876543210", "staff_id": staff_id},
        "credit-calls": {"phone": "9876543210", "staff_id": staff_id},
        "product": {"product_id": str(uuid.uuid4()), "reason": "qualifies for another product"},
        "field-visits": {"assignee_id": staff_id, "reason": "visit the borrower"},
    }
    form = {"amount": "10.00", "mode": "cash", "reference": "B-3", "collected_on": "2026-03-19"}
    before = _history(client, mine, loan_id)
    doc = client.get("/openapi.json").json()
    probed, leaks = 0, []
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1/loans/{loan_id}"):
            continue
        for method, op in operations.items():
            target = path.format(**ids)
            kwargs: dict[str, Any] = {"headers": other.auth}
            last = path.rstrip("/").rsplit("/", 1)[-1]
            if last in ("receipts", "evidence"):
                kwargs |= {"data": form if last == "receipts" else {}, "files": {"file": ("r.png", PNG, "image/png")}}
            elif "requestBody" in op:
                kwargs["json"] = bodies[last]
            answer = client.request(method.upper(), target, **kwargs)
            probed += 1
            if answer.status_code != 404:
                leaks.append((method.upper(), path, answer.status_code, answer.text[:200]))
    assert probed >= 40
    assert leaks == [], "\n".join(map(str, leaks))
    assert _history(client, mine, loan_id) == before


def test_evidence_naming_another_loans_contact_is_404_and_stores_no_document(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    mine, theirs = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    logged = client.post(f"/api/v1/loans/{theirs}/contacts", json={"outcome": "connected", "remarks": "will pay"},
                         headers=tenant.auth)  # fmt: skip
    own = client.post(f"/api/v1/loans/{mine}/contacts", json={"outcome": "connected", "remarks": "sent a photo"},
                      headers=tenant.auth)  # fmt: skip  # the loan has a case: the request passes the guard
    assert logged.status_code == 201 and own.status_code == 201, (logged.text, own.text)
    borrower = platform.get(Loans).get(tenant.brand_id, mine).customer_id
    upload = {"file": ("receipt.png", PNG, "image/png")}

    crossed = client.post(f"/api/v1/loans/{mine}/contacts/{logged.json()['contact_id']}/evidence", files=upload,
                          headers=tenant.auth)  # fmt: skip
    _refused(crossed, 404)
    settle(platform, "documents")
    assert _documents(client, tenant, borrower) == []  # nothing stored for a refused request

    attached = client.post(f"/api/v1/loans/{mine}/contacts/{own.json()['contact_id']}/evidence", files=upload,
                           headers=tenant.auth)  # fmt: skip
    assert attached.status_code == 201, attached.text
    assert [d["id"] for d in _documents(client, tenant, borrower)] == attached.json()["evidence"]


def test_a_promise_to_pay_is_made_only_on_a_loan_that_owes_money(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loans: Loans = platform.get(Loans)
    serviced = disbursed_loan(platform, tenant)
    written_off = disbursed_loan(platform, tenant)
    customer = loans.get(tenant.brand_id, serviced).customer_id
    never_disbursed = loans.create(tenant.brand_id, customer, loans.get(tenant.brand_id, serviced).product_id,
                                   "100000", 12).id  # fmt: skip
    settle(platform, Loans.name)
    set_business_date(platform, tenant, LATE)
    off = client.post(f"/api/v1/loans/{written_off}/write-off", json={"reason": "uncollectable"}, headers=tenant.auth)
    assert off.status_code == 200, off.text
    promise = {"date": "2026-03-25", "amount": "500.00"}

    refused = _refused(client.post(f"/api/v1/loans/{never_disbursed}/ptps", json=promise, headers=tenant.auth), 409)
    assert refused["status"] == 409 and "onboarding" in refused["detail"]
    assert client.get(f"/api/v1/loans/{never_disbursed}/ptps", headers=tenant.auth).json()["items"] == []

    for owing in (serviced, written_off):  # being repaid, or a recovery after the write-off
        made = client.post(f"/api/v1/loans/{owing}/ptps", json=promise, headers=tenant.auth)
        assert made.status_code == 201, made.text


def test_a_promise_to_pay_is_at_most_what_the_loan_owes_on_the_promised_date(client: Any, platform: Any) -> None:
    """Above the payoff as of the promise's date (or, written off, what is left to recover): 422 naming `amount`
    and quoting the figure, nothing recorded; the whole payoff of that date is a promise."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    owing, written_off = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    off = client.post(f"/api/v1/loans/{written_off}/write-off", json={"reason": "uncollectable"}, headers=tenant.auth)
    assert off.status_code == 200, off.text
    url, on = f"/api/v1/loans/{owing}", "2026-04-10"
    today = Decimal(client.get(f"{url}/payoff", headers=tenant.auth).json()["total"])
    then = Decimal(client.get(f"{url}/payoff", params={"as_of": on}, headers=tenant.auth).json()["total"])
    assert then > today  # interest and penal charges accrue up to the promised date

    for amount in (then + Decimal("0.01"), Decimal("999999.00")):
        over = _refused(client.post(f"{url}/ptps", json={"date": on, "amount": str(amount)}, headers=tenant.auth), 422)
        assert [e["field"] for e in over["errors"]] == ["amount"] and str(then) in over["detail"], over
        assert "payoff" in over["detail"] and on in over["detail"]
    for amount in ("0.00", "-5.00"):
        zero = _refused(client.post(f"{url}/ptps", json={"date": on, "amount": amount}, headers=tenant.auth), 422)
        assert [e["field"] for e in zero["errors"]] == ["amount"], zero
    far = _refused(client.post(f"{url}/ptps", json={"date": "2200-01-01", "amount": "10.00"}, headers=tenant.auth), 422)
    assert [e["field"] for e in far["errors"]] == ["date"], far
    recovery = {"date": on, "amount": "999999.00"}
    lost = _refused(client.post(f"/api/v1/loans/{written_off}/ptps", json=recovery, headers=tenant.auth), 422)
    assert [e["field"] for e in lost["errors"]] == ["amount"] and "left to recover" in lost["detail"], lost
    for loan_id in (owing, written_off):
        assert client.get(f"/api/v1/loans/{loan_id}/ptps", headers=tenant.auth).json()["items"] == []

    made = client.post(f"{url}/ptps", json={"date": on, "amount": str(then)}, headers=tenant.auth)
    assert made.status_code == 201 and made.json()["amount"] == str(then), made.text


def test_approving_a_collection_after_the_loan_completed_is_a_409_and_it_stays_rejectable(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    url = f"/api/v1/loans/{loan_id}"
    asked = {"amount": "3000.00", "mode": "cash", "reference": "RCPT-W", "collected_on": "2026-03-19"}
    waiting = client.post(f"{url}/collection-requests", json=asked, headers=tenant.auth)
    assert waiting.status_code == 201, waiting.text
    payoff = client.get(f"{url}/payoff", headers=tenant.auth).json()["total"]
    closing = client.post(f"{url}/repayments", json={"amount": payoff, "mode": "neft", "reference": "UTR-ALL"},
                          headers=tenant.auth)  # fmt: skip
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    before = _history(client, tenant, loan_id)

    request = f"/api/v1/collection-requests/{waiting.json()['id']}"
    refused = _refused(client.post(f"{request}/approve", headers=tenant.auth), 409)
    assert refused["detail"].startswith("the loan is completed and owes nothing"), refused
    assert refused["status"] == 409 and "payoff" not in refused["detail"]
    assert _history(client, tenant, loan_id) == before
    assert client.get(f"{url}/repayments", headers=tenant.auth).json()["items"][-1]["reference"] == "UTR-ALL"

    rejected = client.post(f"{request}/reject", json={"reason": "paid in full by NEFT"}, headers=tenant.auth)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    assert client.get(url, headers=tenant.auth).json()["status"] == "completed"


@dataclass
class OneOpenLoan(PenalCatalogue):
    """The servicing tests' product, allowing one open loan per borrower."""

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        return ProductVersion(**{**super().current(brand_id, product_id).__dict__, "max_active_loans": 1})


def test_reactivation_keeps_the_products_limit_of_open_loans(
    client: Any, platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    monkeypatch.setattr(loans, "_catalogue", OneOpenLoan())
    customer = client.post("/api/v1/customers", headers=tenant.auth,
                           json={"name": "Kavya Rao", "phone": mobile("98")}).json()["id"]  # fmt: skip
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "100000", "tenure": 12}
    first = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()["id"]
    assert client.post(f"/api/v1/loans/{first}/submit", headers=tenant.auth).json()["status"] == "pending"
    _refused(client.post("/api/v1/loans", json=body, headers=tenant.auth), 422)  # one open loan already
    assert (
        client.post(f"/api/v1/loans/{first}/cancel", json={"reason": "withdrew"}, headers=tenant.auth).status_code
        == 200
    )
    second = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert second.status_code == 201, second.text
    settle(platform, Loans.name)
    before = _history(client, tenant, first)

    refused = _refused(client.post(f"/api/v1/loans/{first}/reactivate", json={"reason": "came back"},
                                   headers=tenant.auth), 409)  # fmt: skip
    assert "open loan" in refused["detail"]
    assert _history(client, tenant, first) == before
    assert client.get(f"/api/v1/loans/{first}", headers=tenant.auth).json()["status"] == "cancelled"

    assert client.post(f"/api/v1/loans/{second.json()['id']}/cancel", json={"reason": "withdrew"},
                       headers=tenant.auth).status_code == 200  # fmt: skip
    settle(platform, Loans.name)
    again = client.post(f"/api/v1/loans/{first}/reactivate", json={"reason": "came back"}, headers=tenant.auth)
    assert again.status_code == 200 and again.json()["status"] == "pending", again.text


def test_an_integer_field_given_as_a_string_is_refused_by_the_borrower_and_the_staff_loan_apis(
    client: Any, platform: Any, sms: SmsSimulator
) -> None:
    """`tenure` (and the borrower's `salary_date`) are JSON integers in both loan APIs: "12", 12.5, true or "1_2" is
    a 422 naming the field and records nothing; 12 is taken. Money stays a decimal string."""
    tenant = make_tenant(platform)
    client.patch("/api/v1/brand/config", json={"require_employment_data": False, "account_aggregation": True},
                 headers=tenant.auth)  # fmt: skip
    product = client.post("/api/v1/loan-products", json=BORROWER_PRODUCT, headers=tenant.auth).json()
    auth = bearer(sign_in(client, sms, tenant.slug, mobile()))
    steps_before_the_loan_request(client, auth)
    request = {"product_id": product["id"], "amount": "50000", "tenure": 12}
    for bad in ("12", 12.5, True, "1_2", " 12 "):
        refused = _refused(client.post("/api/v1/borrower/applications", json={**request, "tenure": bad},
                                       headers=auth), 422)  # fmt: skip
        assert [e["field"] for e in refused["errors"]] == ["tenure"], (bad, refused)
        employment = _refused(client.put("/api/v1/borrower/steps/employment", json={**EMPLOYMENT, "salary_date": bad},
                                         headers=auth), 422)  # fmt: skip
        assert [e["field"] for e in employment["errors"]] == ["salary_date"], (bad, employment)
    me = client.get("/api/v1/borrower/me", headers=auth).json()
    assert me["application"] is None and me["next_step"] == "loan_request"
    assert client.put("/api/v1/borrower/steps/employment", json=EMPLOYMENT, headers=auth).status_code == 200
    applied = client.post("/api/v1/borrower/applications", json=request, headers=auth)
    assert applied.status_code == 201 and applied.json()["tenure"] == 12, applied.text

    customer = client.post("/api/v1/customers", headers=tenant.auth,
                           json={"name": "Kavya Rao", "phone": mobile("98")}).json()["id"]  # fmt: skip
    body = {"customer_id": customer, "product_id": product["id"], "amount": "50000", "tenure": 12}
    for bad in ("12", 12.5, True):
        staff = _refused(client.post("/api/v1/loans", json={**body, "tenure": bad}, headers=tenant.auth), 422)
        assert [e["field"] for e in staff["errors"]] == ["tenure"], (bad, staff)
    assert client.get(f"/api/v1/customers/{customer}/loans", headers=tenant.auth).json()["items"] == []
    created = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert created.status_code == 201 and created.json()["tenure"] == 12, created.text


@pytest.fixture
def signed_webhooks(provider_simulators: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, PROVIDER_WEBHOOK_SECRET)
    yield


def _deliver(server: str, hook: str, body: bytes) -> httpx.Response:
    headers = {**sign(PROVIDER_WEBHOOK_SECRET, body, int(time.time())), "Content-Type": "application/json"}
    return httpx.post(f"{server}/api/v1/webhooks/{hook}", content=body, headers=headers)


def test_signed_webhooks_with_a_malformed_amount_or_a_nul_are_refused_and_record_nothing(
    platform: Any, server: str, signed_webhooks: None
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 2, 28))
    link = httpx.post(f"{server}/api/v1/loans/{loan_id}/payment-links", json={}, headers=tenant.auth)
    assert link.status_code == 201, link.text
    order = link.json()["order_id"]
    now = datetime.now(UTC).isoformat()

    def event(kind: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
        return json.dumps({"id": event_id or uuid.uuid4().hex, "type": kind, "created_at": now, "data": data}).encode()

    deliveries = [
        ("payments", event("payment.captured", {"order_id": order, "amount": "abc"})),
        ("payments", event("payment.captured", {"order_id": order, "amount": {"rupees": 1}})),
        ("payments", event("payment.captured", {"order_id": order, "amount": "10.001"})),
        ("payments", event("payment.captured", {"order_id": order, "amount": "100"}, event_id="evt\u0000nul")),
        ("payments", event("payment.captured", {"order_id": "order\u0000", "amount": "100"})),
        ("gateway", event("payout.processed", {"payout_id": "po\u0000"})),
        ("esign", event("esign.signed", {"reference": str(loan_id)}, event_id="evt\u0000nul")),
    ]
    for hook, body in deliveries:
        answer = _deliver(server, hook, body)
        assert 400 <= answer.status_code < 500, (hook, body, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    assert httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"] == []

    # The gateway's corrected delivery of the same payment is then recorded, once.
    good = event("payment.captured", {"order_id": order, "amount": link.json()["amount"]})
    assert _deliver(server, "payments", good).json()["status"] == "processed"
    assert _deliver(server, "payments", good).json()["status"] == "duplicate"
    paid = httpx.get(f"{server}/api/v1/loans/{loan_id}/repayments", headers=tenant.auth).json()["items"]
    assert [(p["reference"], p["amount"]) for p in paid] == [(order, link.json()["amount"])]
