"""Issue #13's origination walked once more, black-box (HTTP only), at the edges test_origination_blackbox.py does
not reach: each BRE rule exactly at its threshold (at it, one past it), the blocklist matching values typed with
other formatting, the cooldown counted in the brand's own timezone, providers failing mid-funnel (5xx, a garbage
body, a rate limit) with a clear state and a retry that duplicates nothing, two tabs sending the same step at once,
uploads at the edges (empty, disguised, polyglot, hostile file names, the same file twice), and another brand's
borrowers, documents and products named in a borrower's requests and a PAN or phone shared across brands."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_origination_blackbox import (
    _apply,
    _customer,
    _failed,
    _ok,
    _pan,
    _phone,
    _product,
    _sign_in,
    _statement,
    _with_settings,
)

API = "/api/v1"
Headers = dict[str, str]


def _years_ago(today: date, years: int) -> date:
    return today.replace(year=today.year - years)


def _business_date(http: Any, h: Headers) -> date:
    return date.fromisoformat(_ok(http.get(f"{API}/brand/config", headers=h))["business_date"])


def _borrower(http: Any, h: Headers, *, digits: int | None = None, dob: str = "1990-01-15", salary: int = 60000,
              pull: bool = True) -> tuple[str, Decimal]:
    """A new borrower (bureau score by the PAN's digits, a statement of about `salary`, no EMIs): the id and the
    monthly salary the statement analysis found (the simulator wobbles a month's credit by a few hundred rupees)."""
    customer = _customer(http, h, _pan(digits), dob)
    if pull:
        _ok(http.post(f"{API}/customers/{customer}/bureau-pulls", headers=h), 201)
    _statement(http, h, customer, salary)
    facts = _ok(http.get(f"{API}/customers/{customer}/credit-facts", headers=h))
    return customer, Decimal(facts["monthly_salary"])


def _submit(http: Any, h: Headers, customer: str, rules: list[dict[str, str]], amount: str = "50000") -> dict[str, Any]:
    return _apply(http, h, customer, _product(http, h, bre_rules=rules), amount)


def _outcome(decided: dict[str, Any], rule: str) -> tuple[str, str]:
    result = next(r for r in decided["results"] if r["rule"] == rule)
    return result["outcome"], result["reason"]


def _rupees(x: Decimal) -> str:
    whole, paise = f"{x:.2f}".split(".")
    head, tail = whole[:-3], whole[-3:]
    groups = [head[max(0, i - 2):i] for i in range(len(head), 0, -2)][::-1]
    return "₹" + ",".join([*groups, tail]) + "." + paise if head else f"₹{whole}.{paise}"


def test_each_rule_at_its_threshold(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:
    """Every threshold is inclusive (docs/bre.md): at it passes, one past it fails with the reason, for CREDIT_SCORE,
    SALARY (brand and product minimum), AGE (on the birthday, the day before it) and FOIR (at the maximum)."""
    h = make_tenant(platform).auth
    today = _business_date(client, h)
    score = [{"rule": "CREDIT_SCORE", "min": "700"}]
    assert _outcome(_submit(client, h, _borrower(client, h, digits=700)[0], score), "CREDIT_SCORE")[0] == "pass"
    assert _outcome(_submit(client, h, _borrower(client, h, digits=699)[0], score), "CREDIT_SCORE") == (
        "fail", "credit score 699 is below the minimum 700")  # fmt: skip

    customer, salary = _borrower(client, h, salary=30000, pull=False)
    _ok(client.patch(f"{API}/brand/config", json={"min_salary": str(salary)}, headers=h))
    assert _outcome(_submit(client, h, customer, [{"rule": "SALARY"}]), "SALARY")[0] == "pass"
    _ok(client.patch(f"{API}/brand/config", json={"min_salary": str(salary + Decimal("0.01"))}, headers=h))
    low = _submit(client, h, _borrower(client, h, salary=30000, pull=False)[0], [{"rule": "SALARY"}])
    _ok(client.patch(f"{API}/brand/config", json={"min_salary": "15000"}, headers=h))
    assert low["status"] == "rejected" and "is below the brand minimum" in _outcome(low, "SALARY")[1], low["results"]
    customer, salary = _borrower(client, h, salary=40000, pull=False)
    assert _outcome(_submit(client, h, customer, [{"rule": "SALARY", "min": str(salary)}]), "SALARY")[0] == "pass"
    customer, salary = _borrower(client, h, salary=40000, pull=False)
    over = str(salary + Decimal("0.01"))
    assert _outcome(_submit(client, h, customer, [{"rule": "SALARY", "min": over}]), "SALARY") == (
        "fail", f"salary {_rupees(salary)} is below the product minimum {_rupees(Decimal(over))}")  # fmt: skip

    age = [{"rule": "AGE", "min": "25", "max": "40"}]
    cases = [
        (_years_ago(today, 40), "pass", "age 40 is within 25–40"),  # 40 today
        (_years_ago(today, 41) + timedelta(days=1), "pass", "age 40 is within 25–40"),  # 41 tomorrow
        (_years_ago(today, 41), "fail", "age 41 is above 40"),  # 41 today
        (_years_ago(today, 25), "pass", "age 25 is within 25–40"),  # 25 today
        (_years_ago(today, 25) + timedelta(days=1), "fail", "age 24 is below 25"),  # 25 tomorrow
    ]
    for born, outcome, reason in cases:
        customer = _customer(client, h, _pan(), born.isoformat())
        got = _outcome(_submit(client, h, customer, age), "AGE")
        assert got == (outcome, reason), (born, got)

    # 50,000 over 12 months at 18 %: EMI 4,583.99; no other EMIs: FOIR = 4,583.99 / salary
    customer, salary = _borrower(client, h, pull=False)
    exact = Decimal("458399") / salary  # percent
    at = exact.quantize(Decimal("0.01"), rounding="ROUND_CEILING")
    decided = _submit(client, h, customer, [{"rule": "FOIR", "max": str(at)}])
    assert _outcome(decided, "FOIR")[0] == "pass", (salary, decided["results"])
    below = at - Decimal("0.01")
    decided = _submit(client, h, customer, [{"rule": "FOIR", "max": str(below)}])
    assert _outcome(decided, "FOIR")[0] == "fail", (salary, decided["results"])


_PERSONAL = {
    "name": "Ravi Kumar", "date_of_birth": "1990-01-15", "email": "ravi@example.in",
    "addresses": [{"kind": "current", "line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"},
                  {"kind": "permanent", "line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}],
}  # fmt: skip
_EMPLOYMENT = {
    "company_name": "Acme Ltd", "designation": "Engineer", "date_of_joining": "2019-04-01",
    "monthly_salary": "60000", "salary_mode": "bank", "salary_date": 1, "office_address": "1 MG Road",
    "office_pincode": "560001", "employment_type": "full_time",
}  # fmt: skip


def _account() -> str:
    return f"5010{uuid.uuid4().int % 10**9:09d}7"


def _funnel(http: Any, b: Headers, pan: str, *, aadhaar: str = "2345 6789 0124", account: str | None = None,
            ifsc: str = "HDFC0001234") -> None:
    """Every step up to the bank statement, through the borrower API."""
    steps = [
        ("pan", {"pan": pan}),
        ("personal", _PERSONAL),
        ("employment", _EMPLOYMENT),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": aadhaar, "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": account or _account(), "ifsc": ifsc, "holder_name": "Ravi Kumar"}),
    ]
    for step, body in steps:
        _ok(http.put(f"{API}/borrower/steps/{step}", json=body, headers=b))
    pdf = b"%PDF-1.4\nSALARY=60000\nEMIS=0\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    doc = _ok(http.post(f"{API}/borrower/documents", data={"kind": "bank_statement"}, files={"file": ("s.pdf", pdf)}, headers=b), 201)  # fmt: skip
    _ok(http.put(f"{API}/borrower/steps/bank_statement", json={"method": "upload", "document_ids": [doc["id"]]}, headers=b))  # fmt: skip


def _borrower_submit(http: Any, b: Headers, product: str) -> dict[str, Any]:
    body = {"product_id": product, "amount": "50000", "tenure": 12}
    app = _ok(http.post(f"{API}/borrower/applications", json=body, headers=b), 201)
    return dict(_ok(http.post(f"{API}/borrower/applications/{app['id']}/submit", headers=b)))


def test_blocklist_matches_values_typed_otherwise(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """Blocklist entries typed with spaces, dashes, lower case and +91 match the borrower's values typed their own
    way in the funnel: PAN, phone, Aadhaar and bank account each reported."""
    tenant = make_tenant(platform)
    h, sms = tenant.auth, provider_simulators["sms"].base_url
    phone, pan, account = _phone(), _pan(), _account()
    entries = [
        ("pan", f"  {pan.lower()} "),
        ("mobile", f"+91 {phone[:5]} {phone[5:]}"),
        ("aadhaar", "2345-6789-0124"),
        ("bank_account", f"{account[:4]} {account[4:8]}-{account[8:]}@hdfc0001234"),
    ]
    for kind, value in entries:
        _ok(client.post(f"{API}/blocklist", json={"kind": kind, "value": value, "reason": "fraud ring"}, headers=h), 201)  # fmt: skip
    b = _sign_in(client, tenant.slug, sms, phone)
    _funnel(client, b, pan.lower(), aadhaar="234567890124", account=f"{account[:6]} {account[6:]}", ifsc="hdfc0001234")
    decided = _borrower_submit(client, b, _product(client, h))
    reason = _failed(decided).get("BLOCKLIST", "")
    assert decided["status"] == "rejected", decided["results"]
    for hit in ("pan", "phone", "aadhaar", "bank account"):
        assert hit in reason, (hit, reason)


def test_blocklisted_phone_is_caught_when_the_pan_links_a_staff_record(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """The applicant signs in with a blocklisted phone and types the PAN of a borrower staff registered with another
    phone: the funnel links to that record, but the phone the applicant signed in with is still theirs to check."""
    tenant = make_tenant(platform)
    h, sms = tenant.auth, provider_simulators["sms"].base_url
    pan, blocked = _pan(), _phone()
    staff_record = _customer(client, h, pan)
    _ok(client.post(f"{API}/blocklist", json={"kind": "mobile", "value": blocked, "reason": "fraud ring"}, headers=h), 201)  # fmt: skip
    b = _sign_in(client, tenant.slug, sms, blocked)
    _funnel(client, b, pan)
    decided = _borrower_submit(client, b, _product(client, h))
    assert _ok(client.get(f"{API}/loans/{decided['id']}", headers=h))["borrower"]["id"] == staff_record
    assert decided["status"] == "rejected" and "phone" in _failed(decided).get("BLOCKLIST", ""), decided["results"]
