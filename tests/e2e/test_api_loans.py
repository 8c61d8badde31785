"""Loans through the API on PostgreSQL: start, submit through the BRE, the queue and its filters, one loan with
its history, overrides, bypasses, assignment (manual and auto), cancel, refusals recording nothing, brand isolation.

The product catalogue is a fake installed on the platform's Loans application (the products context is wired by
the declaration when it is registered; its own tests cover it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.loans.bre import Rule, RuleSpec
from domain.loans.offer import CouponTerms, ProductVersion
from domain.loans.terms import AmountKind, Fee, LoanKind, PenalTerms
from domain.shared.errors import NotFound
from tests.conftest import make_tenant
from tests.support import settle

PRODUCT = uuid.UUID("00000000-0000-4000-8000-0000000a0001")
SCORED = uuid.UUID("00000000-0000-4000-8000-0000000a0002")


def _product(brand_id: UUID, product_id: UUID, rules: tuple[RuleSpec, ...]) -> ProductVersion:
    return ProductVersion(
        id=product_id, brand_id=brand_id, version=1, code="PL", name="Personal loan", kind=LoanKind.EMI,
        min_amount=Decimal("10000.00"), max_amount=Decimal("200000.00"), min_tenure=3, max_tenure=24,
        annual_percent=Decimal("24"), daily_percent=None,
        processing_fee=Fee(kind=AmountKind.PERCENT, value=Decimal("2")),
        convenience_fee=Fee(kind=AmountKind.FIXED, value=Decimal("500"), gst_inclusive=True),
        gst_percent=Decimal("18"), penal=PenalTerms(), max_active_loans=5, bre_rules=rules,
    )  # fmt: skip


@dataclass
class Catalogue:
    """Every brand has the two products (the fake knows no brands of its own)."""

    coupons: dict[str, CouponTerms] = field(default_factory=dict)

    def current(self, brand_id: UUID, product_id: UUID) -> ProductVersion:
        if product_id == PRODUCT:
            return _product(brand_id, PRODUCT, ())
        if product_id == SCORED:
            return _product(brand_id, SCORED, (RuleSpec(Rule.CREDIT_SCORE, min=Decimal(700)),))
        raise NotFound("no product")

    def version(self, brand_id: UUID, product_id: UUID, version: int) -> ProductVersion:
        return self.current(brand_id, product_id)

    def coupon(self, brand_id: UUID, product_id: UUID, code: str) -> CouponTerms | None:
        return self.coupons.get(code)


@pytest.fixture(autouse=True)
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before = loans._catalogue
    fake = Catalogue()
    loans._catalogue = fake
    yield fake
    loans._catalogue = before


def _borrower(client: Any, tenant: Any, name: str = "Meera Iyer", phone: str = "9876501234") -> str:
    made = client.post(
        "/api/v1/customers",
        json={"name": name, "phone": phone, "date_of_birth": "1990-01-15",
              "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}]},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _loan_events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM events.loans_events").fetchone()[0])  # type: ignore[index]


def test_an_application_through_the_bre_the_queue_and_its_history(client: Any, tenant: Any, platform: Any) -> None:
    customer = _borrower(client, tenant)
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    created = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    loan = created.json()
    assert loan["status"] == "onboarding" and loan["amount"] == "50000.00" and loan["borrower_name"] == "Meera Iyer"
    assert loan["loan_number"] == f"{tenant.slug.upper()}-L-000001"
    assert created.headers["location"] == f"/api/v1/loans/{loan['id']}"
    assert loan["pricing"]["processing_fee"] == {"amount": "1000.00", "gst": "180.00", "gst_inclusive": False}
    assert loan["pricing"]["net_disbursed"] == "48320.00" and loan["instalment"] == "4727.98"

    submitted = client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth)
    assert submitted.status_code == 200, submitted.text
    decided = submitted.json()
    assert decided["status"] == "pending" and decided["passed"] is True
    assert {r["rule"]: r["outcome"] for r in decided["results"]} == {"BLOCKLIST": "pass", "COOLDOWN": "pass"}
    assert decided["facts"]["pincode"] == "600001" and decided["facts"]["proposed_emi"] == "4727.98"
    assert [e["kind"] for e in decided["history"]] == ["created", "submitted"]
    assert decided["borrower"]["number"] == f"{tenant.slug.upper()}-C-000001"
    assert all(e["actor"].startswith("apikey:") for e in decided["history"])

    second = client.post("/api/v1/loans", json=body | {"amount": "20000"}, headers=tenant.auth).json()
    assert second["loan_number"].endswith("-L-000002")
    for query, expected in (
        ({"q": loan["loan_number"].lower()}, [loan["id"]]),
        ({"q": "meera"}, [second["id"], loan["id"]]),
        ({"status": "pending"}, [loan["id"]]),
        ({"status": "onboarding"}, [second["id"]]),
        ({"q": "nobody"}, []),
        ({"q": decided["borrower"]["number"].lower()}, [second["id"], loan["id"]]),
    ):
        page = client.get("/api/v1/loans", params=query, headers=tenant.auth)
        assert page.status_code == 200, page.text
        assert [i["id"] for i in page.json()["items"]] == expected, query
    first_page = client.get("/api/v1/loans", params={"limit": 1}, headers=tenant.auth).json()
    rest = client.get("/api/v1/loans", params={"limit": 1, "cursor": first_page["next_cursor"]}, headers=tenant.auth)
    assert [i["id"] for i in rest.json()["items"]] == [loan["id"]]
    forged = client.get("/api/v1/loans", params={"cursor": "bm9wZQ"}, headers=tenant.auth)
    assert forged.status_code == 422

    with psycopg.connect(platform.dsn) as conn:
        row = conn.execute("SELECT passed FROM read.bre_history WHERE loan_id = %s", (loan["id"],)).fetchone()
    assert row == (True,)


def test_refusals_name_the_field_and_record_nothing(client: Any, tenant: Any, platform: Any) -> None:
    customer = _borrower(client, tenant)
    before = _loan_events(platform.dsn)
    for body, fields in (
        ({"customer_id": customer, "product_id": str(PRODUCT), "amount": "500000", "tenure": 48}, {"amount", "tenure"}),
        ({"customer_id": str(uuid.uuid4()), "product_id": str(uuid.uuid4()), "amount": "50000", "tenure": 12},
         {"customer_id", "product_id"}),
        ({"customer_id": customer, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12, "coupon_code": "NONE"},
         {"coupon_code"}),
    ):  # fmt: skip
        refused = client.post("/api/v1/loans", json=body, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
        assert {e["field"] for e in refused.json()["errors"]} == fields
    assert _loan_events(platform.dsn) == before


def test_bre_rejection_bypass_override_assign_cancel_and_isolation(client: Any, tenant: Any, platform: Any) -> None:
    customer = _borrower(client, tenant, "Kiran Rao", "9876505678")
    body = {"customer_id": customer, "product_id": str(SCORED), "amount": "50000", "tenure": 12}
    loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    rejected = client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth).json()
    assert rejected["status"] == "rejected"
    score = next(r for r in rejected["results"] if r["rule"] == "CREDIT_SCORE")
    assert score["outcome"] == "fail" and "not known" in score["reason"] and score["threshold"] == {"min": "700"}

    url = f"/api/v1/loans/{loan['id']}"
    bypassed = client.post(f"{url}/bypasses", json={"check": "bureau", "reason": "bureau outage"}, headers=tenant.auth)
    assert bypassed.status_code == 200, bypassed.text
    assert bypassed.json()["status"] == "pending" and bypassed.json()["bypassed"] == ["bureau"]

    overridden = client.post(
        f"{url}/bre-overrides",
        json={"rule": "COOLDOWN", "result": "fail", "justification": "rejected last week under another number"},
        headers=tenant.auth,
    )
    assert overridden.status_code == 200, overridden.text
    result = overridden.json()
    assert result["status"] == "rejected"
    cooldown = next(r for r in result["results"] if r["rule"] == "COOLDOWN")
    assert cooldown["override"]["outcome"] == "fail" and cooldown["override"]["actor"].startswith("apikey:")
    back = client.post(
        f"{url}/bre-overrides",
        json={"rule": "COOLDOWN", "result": "pass", "justification": "that was a different person after all"},
        headers=tenant.auth,
    )
    assert back.json()["status"] == "pending"

    identity = platform.get(Identity)
    cx = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Ravi CX", ["credit_executive"], granter=OPERATOR
    )
    settle(platform, "identity", cx.position)
    seen = client.get(url, headers=tenant.auth).json()["version"]  # two managers read the loan
    other_cx = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Uma CX", ["credit_executive"], granter=OPERATOR
    )
    settle(platform, "identity", other_cx.position)
    read = {**tenant.auth, "If-Match": f'"{seen}"'}
    assigned = client.post(f"{url}/assign", json={"staff_id": str(cx.id)}, headers=read)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee_name"] == "Ravi CX"
    # The second, on the loan as read before the first's: 409, not put over the first's silently.
    stale = client.post(f"{url}/assign", json={"staff_id": str(other_cx.id)}, headers=read)
    assert stale.status_code == 409 and stale.json()["current_version"] == seen + 1, stale.text
    assert client.get(url, headers=tenant.auth).json()["assignee_name"] == "Ravi CX"
    mine = client.get("/api/v1/loans", params={"assignee": str(cx.id)}, headers=tenant.auth).json()
    assert [i["id"] for i in mine["items"]] == [loan["id"]]
    nobody = client.post(f"{url}/assign", json={"staff_id": str(uuid.uuid4())}, headers=tenant.auth)
    assert nobody.status_code == 422 and nobody.json()["errors"][0]["field"] == "staff_id"

    other = make_tenant(platform)
    assert client.get(url, headers=other.auth).status_code == 404
    assert client.post(f"{url}/cancel", json={"reason": "not yours"}, headers=other.auth).status_code == 404

    replayed = client.get(
        f"/api/v1/audit/loan/{loan['id']}/state", params={"as_of": "2100-01-01T00:00:00+00:00"}, headers=tenant.auth
    )
    assert replayed.status_code == 200, replayed.text
    state = replayed.json()["state"]
    assert state["status"] == "pending" and state["bypassed"] == ["bureau"] and state["assignee"] == str(cx.id)
    assert state["overrides"]["COOLDOWN"]["outcome"] == "pass"

    cancelled = client.post(f"{url}/cancel", json={"reason": "borrower withdrew"}, headers=tenant.auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"{url}/cancel", json={"reason": "borrower withdrew"}, headers=tenant.auth)
    assert again.status_code == 409
    kinds = [e["kind"] for e in cancelled.json()["history"]]
    assert kinds == ["created", "submitted", "bypassed", "bre_overridden", "bre_overridden", "assigned", "cancelled"]


def test_a_brand_that_auto_allocates_assigns_the_least_loaded_cx(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    busy = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Busy CX", ["credit_executive"], granter=OPERATOR
    )
    free = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Free CX", ["credit_executive"], granter=OPERATOR
    )
    away = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Away CX", ["credit_executive"], granter=OPERATOR
    )
    identity.update_staff(tenant.brand_id, away.id, available=False, granter=OPERATOR)
    holiday = identity.create_staff(
        tenant.brand_id, f"cx-{uuid.uuid4().hex[:6]}@lender.in", "Holiday CX", ["credit_executive"], granter=OPERATOR
    )
    today = identity.business_date(tenant.brand_id)
    identity.schedule_leave(tenant.brand_id, holiday.id, today, today, "wedding")
    sales = identity.create_staff(
        tenant.brand_id, f"s-{uuid.uuid4().hex[:6]}@lender.in", "Sales Person", ["sales"], granter=OPERATOR
    )
    result, _ = identity.change_configuration(tenant.brand_id, {"auto_allocate_loans": True})
    settle(platform, "identity", result.position)

    customer = _borrower(client, tenant, "Anil Das", "9876509999")
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    first = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    client.post(f"/api/v1/loans/{first['id']}/assign", json={"staff_id": str(busy.id)}, headers=tenant.auth)
    second = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
    decided = client.post(f"/api/v1/loans/{second['id']}/submit", headers=tenant.auth).json()
    assert decided["status"] == "pending"
    # not the busy one, not the unavailable one, not the one on leave, not someone who is not a credit executive
    assert decided["assignee_id"] == str(free.id), (busy.id, away.id, holiday.id, sales.id)
    assigned = decided["history"][-1]
    assert assigned["kind"] == "assigned" and assigned["details"]["by"] == "auto"


@dataclass(frozen=True)
class Credit:
    credit_score: int | None = 742
    monthly_salary: Decimal | None = Decimal("60000.00")
    existing_emis: Decimal | None = Decimal("5000.00")
    existing_loans: int | None = 1
    max_dpd: int | None = 0


@dataclass
class CreditSource:
    asked: list[UUID] = field(default_factory=list)

    def credit_facts(self, brand_id: UUID, customer_id: UUID) -> Credit:
        self.asked.append(customer_id)
        return Credit()


def test_credit_facts_reach_the_bre_and_a_reason_code_rejects(client: Any, tenant: Any, platform: Any) -> None:
    loans = platform.get(Loans)
    source = CreditSource()
    before, loans._facts = loans._facts, replace(loans._facts, credit=source)
    try:
        customer = _borrower(client, tenant, "Usha Pillai", "9876507777")
        body = {"customer_id": customer, "product_id": str(SCORED), "amount": "50000", "tenure": 12}
        loan = client.post("/api/v1/loans", json=body, headers=tenant.auth).json()
        decided = client.post(f"/api/v1/loans/{loan['id']}/submit", headers=tenant.auth).json()
    finally:
        loans._facts = before
    assert source.asked == [UUID(customer)]
    assert decided["status"] == "pending"
    assert decided["facts"]["credit_score"] == 742 and decided["facts"]["monthly_salary"] == "60000.00"
    score = next(r for r in decided["results"] if r["rule"] == "CREDIT_SCORE")
    assert score["inputs"] == {"credit_score": "742"} and score["outcome"] == "pass"

    url = f"/api/v1/loans/{loan['id']}/reject"
    unknown = client.post(url, json={"reason_code": "NOPE", "remarks": "salary slips forged"}, headers=tenant.auth)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "reason_code"
    rejected = client.post(
        url, json={"reason_code": "DOCUMENTS", "remarks": "salary slips forged"}, headers=tenant.auth
    )
    assert rejected.status_code == 200, rejected.text
    last = rejected.json()["history"][-1]
    assert rejected.json()["status"] == "rejected" and last["kind"] == "rejected"
    assert last["details"] == {"reason_code": "DOCUMENTS", "remarks": "salary slips forged"}
