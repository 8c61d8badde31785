"""Issue #13's "How it will be checked", walked black-box through the HTTP API only (no application objects): each
fee and GST variant priced as LENDING.md says, a borrower through the API funnel with the code from the SMS
simulator's outbox, a resumed funnel and one Customer 360 with a staff-registered borrower, each BRE rule failing on
its own with its reason, a blocklisted and a cooldown applicant, overrides and bypasses in the audit trail, a
provider failing mid-flow, oversize and disguised uploads, and brand isolation.

The scenario functions take an HTTP client whose paths start `/api/v1`, the staff headers and the simulators' base
URLs, so they run under pytest (the e2e app and the session's simulators) and against a running server:
`python -m tests.e2e.test_origination_blackbox http://127.0.0.1:8000 cdk_... [cdk_of_another_brand]`
(`make run`; the simulators from `GET /api/v1/dev/simulators`)."""

from __future__ import annotations

import itertools
import sys
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from tests.conftest import make_tenant

API = "/api/v1"
Headers = dict[str, str]

_BASE = {
    "name": "Black-box", "type": "emi", "min_amount": "10000", "max_amount": "500000", "min_tenure": 3,
    "max_tenure": 36, "annual_percent": "18", "gst_percent": "18",
    "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 3, "bre_rules": [],
    "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False},
}  # fmt: skip


def _r(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), ROUND_HALF_UP)


def _code(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:6].upper()


def _phone() -> str:
    return f"9{uuid.uuid4().int % 10**8:08d}7"


_PAN_SERIAL = itertools.count(uuid.uuid4().int % 26**3)


def _pan(digits: int | None = None) -> str:
    """A PAN new to this run: the three free letters count up (cases that fix the digits, the bureau's score, draw
    dozens from 26^3 letter triples; drawn at random they met one another about once in twenty runs)."""
    n, serial = uuid.uuid4().int, next(_PAN_SERIAL)
    letters = "".join(chr(65 + serial // 26**i % 26) for i in range(3))
    # 4th letter P (individual), 5th the surname's initial (Kumar), last not W-Z (no simulator special case)
    return f"{letters[:3]}PK{(digits if digits is not None else 1000 + n % 8000):04d}A"


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text[:500])
    return answer.json()


def _product(http: Any, h: Headers, **terms: Any) -> str:
    return str(_ok(http.post(f"{API}/loan-products", json={**_BASE, "code": _code("BB"), **terms}, headers=h), 201)["id"])  # fmt: skip


def check_pricing(http: Any, h: Headers) -> None:
    """Each fee kind with GST on top and inclusive, and a payday bullet: the quote against LENDING.md by hand."""
    amount, g = Decimal(100000), Decimal(18)
    variants = [
        (("percent", "2.5", False), ("fixed", "499", True)),
        (("percent", "2.5", True), ("fixed", "499", False)),
        (("fixed", "1999", False), ("percent", "1", True)),
        (("fixed", "1999", True), ("percent", "1", False)),
    ]
    r = Decimal(18) / 1200  # 18 % a year, monthly
    emi = _r(amount * r * (1 + r) ** 12 / ((1 + r) ** 12 - 1))
    for processing, convenience in variants:
        fees = {
            name: {"kind": kind, "value": value, "gst_inclusive": inclusive}
            for name, (kind, value, inclusive) in (("processing_fee", processing), ("convenience_fee", convenience))
        }
        product = _product(http, h, **fees)
        quote = _ok(http.get(f"{API}/loan-products/{product}/quote", params={"amount": "100000", "tenure": 12}, headers=h))  # fmt: skip
        net = amount
        for name, (kind, value, inclusive) in (("processing_fee", processing), ("convenience_fee", convenience)):
            fee = _r(amount * Decimal(value) / 100) if kind == "percent" else Decimal(value)
            gst = _r(fee * g / (100 + g)) if inclusive else _r(fee * g / 100)
            net -= fee + (0 if inclusive else gst)
            assert (Decimal(quote[name]["amount"]), Decimal(quote[name]["gst"])) == (fee, gst), (name, quote[name])
        assert Decimal(quote["net_disbursed"]) == net and Decimal(quote["emi"]) == emi, quote
    payday = _product(
        http, h, type="payday", annual_percent=None, daily_percent="0.5", min_amount="2000", max_amount="50000",
        min_tenure=7, max_tenure=45, processing_fee={"kind": "percent", "value": "3", "gst_inclusive": False},
    )  # fmt: skip
    quote = _ok(http.get(f"{API}/loan-products/{payday}/quote", params={"amount": "10000", "tenure": 30}, headers=h))
    assert (quote["total_interest"], quote["total_repayable"], quote["net_disbursed"]) == ("1500.00", "11500.00", "9646.00")  # fmt: skip


def _customer(http: Any, h: Headers, pan: str, dob: str = "1990-01-15", pincode: str = "600001", phone: str | None = None) -> str:  # fmt: skip
    body = {"name": "Ravi Kumar", "phone": phone or _phone(), "pan": pan, "date_of_birth": dob,
            "addresses": [{"line1": "4 Lake Road", "city": "Chennai", "pincode": pincode}]}  # fmt: skip
    return str(_ok(http.post(f"{API}/customers", json=body, headers=h), 201)["id"])


def _statement(http: Any, h: Headers, customer: str, salary: int, emis: int = 0) -> None:
    pdf = b"%PDF-1.4\n" + f"SALARY={salary}\nEMIS={emis}\nHOLDER=Ravi Kumar\n{uuid.uuid4()}\n".encode() + b"%%EOF\n"
    files = {"file": ("statement.pdf", pdf, "application/pdf")}
    doc = _ok(http.post(f"{API}/customers/{customer}/documents", data={"kind": "bank_statement"}, files=files, headers=h), 201)  # fmt: skip
    _ok(http.post(f"{API}/customers/{customer}/statement-analyses", json={"document_id": doc["id"]}, headers=h), 201)


def _apply(http: Any, h: Headers, customer: str, product: str, amount: str = "50000") -> dict[str, Any]:
    body = {"customer_id": customer, "product_id": product, "amount": amount, "tenure": 12}
    loan = _ok(http.post(f"{API}/loans", json=body, headers=h), 201)
    return dict(_ok(http.post(f"{API}/loans/{loan['id']}/submit", headers=h)))


def _failed(decided: dict[str, Any]) -> dict[str, str]:
    return {r["rule"]: r["reason"] for r in decided["results"] if r["outcome"] == "fail"}


def _sign_in(http: Any, brand: str, sms: str, phone: str) -> Headers:
    _ok(http.post(f"{API}/borrower/otp", json={"brand": brand, "phone": phone}), 202)
    text = httpx.get(f"{sms}/outbox", params={"to": phone}).json()["items"][0]["text"]
    code = next(w for w in text.replace(".", " ").split() if w.isdigit() and len(w) >= 4)
    opened = _ok(http.post(f"{API}/borrower/session", json={"brand": brand, "phone": phone, "otp": code}), 201)
    return {"Authorization": f"Bearer {opened['token']}"}


def check_someone_elses_pan(http: Any, h: Headers, brand: str, sms: str) -> None:
    """A PAN typed by someone signed in with another phone links to the one Customer 360 record, but does not
    rewrite what staff recorded; a PAN of another borrower on a record found by phone is a 409 naming no one."""
    pan, owner_phone = _pan(), _phone()
    owner = _customer(http, h, pan, phone=owner_phone)
    stranger = _sign_in(http, brand, sms, _phone())
    _ok(http.put(f"{API}/borrower/steps/pan", json={"pan": pan}, headers=stranger))
    personal = {
        "name": "Someone Else", "date_of_birth": "1999-09-09", "email": "else@example.in",
        "addresses": [{"kind": "current", "line1": "9 Far Road", "city": "Delhi", "pincode": "110001"},
                      {"kind": "permanent", "line1": "9 Far Road", "city": "Delhi", "pincode": "110001"}],
    }  # fmt: skip
    _ok(http.put(f"{API}/borrower/steps/personal", json=personal, headers=stranger))
    record = _ok(http.get(f"{API}/customers/{owner}", headers=h))
    assert (record["name"], record["date_of_birth"]) == ("Ravi Kumar", "1990-01-15"), record
    assert [a["pincode"] for a in record["addresses"] if a.get("kind", "current") == "current"] == ["600001"], record
    assert [c["id"] for c in _ok(http.get(f"{API}/customers", params={"q": pan}, headers=h))["items"]] == [owner]

    phone = _phone()
    other = _customer(http, h, _pan(), phone=phone)
    known = _sign_in(http, brand, sms, phone)  # linked to `other` by phone
    clash = http.put(f"{API}/borrower/steps/pan", json={"pan": pan}, headers=known)
    assert clash.status_code == 409 and clash.json()["field"] == "pan", clash.text
    assert owner not in clash.text and other not in clash.text and pan not in clash.text


def check_each_rule_failing_alone(http: Any, h: Headers) -> None:
    """One product per rule; a borrower whose facts fail exactly that rule: rejected, only that rule failed, the
    reason says why (bureau scores by the PAN's digits, salary by the statement's SALARY line)."""
    cases: list[tuple[dict[str, str], int, int, str, str, str]] = [
        # rule, pan digits (score), salary, date of birth, pincode, reason fragment
        (
            {"rule": "CREDIT_SCORE", "min": "700"},
            650,
            60000,
            "1990-01-15",
            "600001",
            "credit score 650 is below the minimum 700",
        ),
        ({"rule": "SALARY"}, 750, 9000, "1990-01-15", "600001", "is below the brand minimum ₹15,000.00"),
        ({"rule": "AGE", "max": "40"}, 750, 60000, "1970-01-15", "600001", "is above 40"),
        ({"rule": "FOIR", "max": "1"}, 750, 60000, "1990-01-15", "600001", "is above the maximum 1%"),
        (
            {"rule": "EXISTING_LOANS", "max": "0"},
            550,
            60000,
            "1990-01-15",
            "600001",
            "with other lenders is above the maximum 0",
        ),
        (
            {"rule": "DPD", "max": "0"},
            550,
            60000,
            "1990-01-15",
            "600001",
            "days past due on existing credit is above the tolerance 0",
        ),
    ]
    for rule, digits, salary, dob, pincode, reason in cases:
        product = _product(http, h, bre_rules=[rule])
        for _ in range(20):  # tradelines are drawn per PAN: take a PAN whose report has some (and so DPD)
            customer = _customer(http, h, _pan(digits), dob, pincode)
            report = _ok(http.post(f"{API}/customers/{customer}/bureau-pulls", headers=h), 201)["result"]
            if rule["rule"] not in ("EXISTING_LOANS", "DPD") or (report["existing_loans"] and report["max_dpd"]):
                break
        _statement(http, h, customer, salary)
        decided = _apply(http, h, customer, product)
        failed = _failed(decided)
        assert decided["status"] == "rejected" and list(failed) == [rule["rule"]], (rule, decided["results"])
        assert reason in failed[rule["rule"]], (rule, failed)


def _with_settings(http: Any, h: Headers, changes: dict[str, Any]) -> dict[str, Any]:
    """Apply `changes` to the brand's settings; the settings they replaced (to restore)."""
    before = _ok(http.get(f"{API}/brand/config", headers=h))["settings"]
    _ok(http.patch(f"{API}/brand/config", json=changes, headers=h))
    return {k: before[k] for k in changes}


def check_pincode_failing_alone(http: Any, h: Headers) -> None:
    """PINCODE on its own: the brand serves a list of pincodes, the applicant lives elsewhere."""
    restore = _with_settings(http, h, {"serviceable_pincodes": ["600001", "560001"]})
    try:
        product = _product(http, h, bre_rules=[{"rule": "PINCODE"}])
        decided = _apply(http, h, _customer(http, h, _pan(), pincode="110099"), product)
        assert _failed(decided) == {"PINCODE": "pincode 110099 is not serviceable"}, decided["results"]
    finally:
        _ok(http.patch(f"{API}/brand/config", json=restore, headers=h))


def check_central_dedup(http: Any, h: Headers, other: Headers) -> None:
    """With central dedup on, a phone that is a borrower of another brand is flagged for the CX (yes/no and
    rejected there: yes/no), without deciding and without anything of the other brand."""
    phone = _phone()
    theirs = _customer(http, other, _pan(), phone=phone)
    restore = _with_settings(http, h, {"central_dedup": True})
    try:
        decided = _apply(http, h, _customer(http, h, _pan(), phone=phone), _product(http, h))
    finally:
        _ok(http.patch(f"{API}/brand/config", json=restore, headers=h))
    flag = next(r for r in decided["results"] if r["rule"] == "CENTRAL_DEDUP")
    assert (flag["outcome"], flag["reason"]) == ("flagged", "a borrower of another brand (not rejected there)"), flag
    assert decided["status"] == "pending" and theirs not in str(decided)


def check_blocklist_cooldown_override_bypass_audit(http: Any, h: Headers) -> None:
    """A blocklisted PAN is rejected; applying again inside the cooldown fails COOLDOWN; a CX override and an Ops
    bypass re-decide, and the audit trail shows both with the actor and the justification or reason."""
    pan = _pan()
    _ok(http.post(f"{API}/blocklist", json={"kind": "pan", "value": pan, "reason": "fraud ring"}, headers=h), 201)
    product = _product(http, h, bre_rules=[{"rule": "CREDIT_SCORE", "min": "700"}])
    customer = _customer(http, h, pan)
    first = _apply(http, h, customer, product)
    assert _failed(first)["BLOCKLIST"] == "pan is on the brand's blocklist", first["results"]
    again = _apply(http, h, customer, _product(http, h))
    assert "less than 15 days ago: may apply again from" in _failed(again)["COOLDOWN"], again["results"]

    loan = _apply(http, h, _customer(http, h, _pan()), product)  # no bureau report: CREDIT_SCORE not known
    assert list(_failed(loan)) == ["CREDIT_SCORE"]
    why = "bureau report seen on the borrower's own copy"
    body = {"rule": "CREDIT_SCORE", "result": "pass", "justification": why}
    assert _ok(http.post(f"{API}/loans/{loan['id']}/bre-overrides", json=body, headers=h))["status"] == "pending"
    other = _apply(http, h, _customer(http, h, _pan()), product)
    bypass = {"check": "bureau", "reason": "bureau outage all morning"}
    assert _ok(http.post(f"{API}/loans/{other['id']}/bypasses", json=bypass, headers=h))["status"] == "pending"
    for loan_id, kind, text in ((loan["id"], "BreOverridden", why), (other["id"], "Bypassed", bypass["reason"])):
        trail = _ok(http.get(f"{API}/audit/trail", params={"aggregate_id": loan_id}, headers=h))["items"]
        entry = next(e for e in trail if e["event_type"] == kind)
        assert entry["actor"].startswith("apikey:") and text in str(entry["details"]), entry


def check_funnel(http: Any, h: Headers, brand: str, sms: str) -> None:
    """OTP from the SMS outbox, steps, leaving and coming back (resumes at the next step), a PAN shared with a
    staff-registered borrower (one Customer 360), a submitted application with its BRE results."""
    phone, pan = _phone(), _pan(750)
    staff_record = _customer(http, h, pan)  # registered by staff first, another phone

    def session() -> Headers:
        _ok(http.post(f"{API}/borrower/otp", json={"brand": brand, "phone": phone}), 202)
        text = httpx.get(f"{sms}/outbox", params={"to": phone}).json()["items"][0]["text"]
        code = next(w for w in text.replace(".", " ").split() if w.isdigit() and len(w) >= 4)
        opened = _ok(http.post(f"{API}/borrower/session", json={"brand": brand, "phone": phone, "otp": code}), 201)
        return {"Authorization": f"Bearer {opened['token']}"}

    httpx.post(f"{sms}/faults", json={"switch": "fail_next", "args": {"n": 10, "status": 503}})
    try:  # the SMS provider down: a clear 503 saying when to ask again, and nothing locked
        down = http.post(f"{API}/borrower/otp", json={"brand": brand, "phone": phone})
    finally:
        httpx.delete(f"{sms}/faults")
    assert down.status_code == 503 and down.headers["retry-after"] == "60", (down.status_code, down.headers)
    b = session()
    assert "otp" not in str(_ok(http.get(f"{API}/borrower/me", headers=b))).lower()
    _ok(http.put(f"{API}/borrower/steps/pan", json={"pan": pan}, headers=b))
    personal = {
        "name": "Ravi Kumar", "date_of_birth": "1990-01-15", "email": "ravi@example.in",
        "addresses": [{"kind": "current", "line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"},
                      {"kind": "permanent", "line1": "4 Lake Road", "city": "Chennai", "pincode": "600001"}],
    }  # fmt: skip
    _ok(http.put(f"{API}/borrower/steps/personal", json=personal, headers=b))
    http.delete(f"{API}/borrower/session", headers=b)
    b = session()  # came back
    me = _ok(http.get(f"{API}/borrower/me", headers=b))
    assert me["next_step"] == "employment", me
    customers = _ok(http.get(f"{API}/customers", params={"q": pan}, headers=h))["items"]
    assert [c["id"] for c in customers] == [staff_record], customers  # one Customer 360
    employment = {
        "company_name": "Acme Ltd", "designation": "Engineer", "date_of_joining": "2019-04-01",
        "monthly_salary": "60000", "salary_mode": "bank", "salary_date": 1, "office_address": "1 MG Road",
        "office_pincode": "560001", "employment_type": "full_time",
    }  # fmt: skip
    steps = [
        ("employment", employment),
        ("aadhaar", {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}),
        ("bank_account", {"account_number": "50100012345678", "ifsc": "HDFC0001234", "holder_name": "Ravi Kumar"}),
    ]
    for step, body in steps:
        _ok(http.put(f"{API}/borrower/steps/{step}", json=body, headers=b))
    restore = _with_settings(http, h, {"account_aggregation": False})
    try:  # a typed consent id does not stand in for statements when the brand takes no AA consent
        aa = http.put(f"{API}/borrower/steps/bank_statement", json={"method": "account_aggregator", "consent_id": "AA-1"}, headers=b)  # fmt: skip
    finally:
        _ok(http.patch(f"{API}/brand/config", json=restore, headers=h))
    assert aa.status_code == 422 and [e["field"] for e in aa.json()["errors"]] == ["method"], aa.text
    pdf = b"%PDF-1.4\nSALARY=60000\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    doc = _ok(http.post(f"{API}/borrower/documents", data={"kind": "bank_statement"}, files={"file": ("s.pdf", pdf)}, headers=b), 201)  # fmt: skip
    _ok(http.put(f"{API}/borrower/steps/bank_statement", json={"method": "upload", "document_ids": [doc["id"]]}, headers=b))  # fmt: skip
    product = _product(http, h)
    app = _ok(http.post(f"{API}/borrower/applications", json={"product_id": product, "amount": "50000", "tenure": 12}, headers=b), 201)  # fmt: skip
    decided = _ok(http.post(f"{API}/borrower/applications/{app['id']}/submit", headers=b))
    assert decided["status"] in ("pending", "rejected") and decided["results"], decided
    staff_view = _ok(http.get(f"{API}/loans/{app['id']}", headers=h))
    assert staff_view["borrower"]["id"] == staff_record and staff_view["channel"] == "borrower"


def check_provider_failure(http: Any, h: Headers, bureau: str) -> None:
    """The bureau failing mid-flow: the check is recorded failed and retryable; the retry succeeds; nothing lost."""
    customer = _customer(http, h, _pan(720))
    httpx.post(f"{bureau}/faults", json={"switch": "fail_next", "args": {"n": 10, "status": 503}})
    try:
        failed = _ok(http.post(f"{API}/customers/{customer}/bureau-pulls", headers=h), 201)
    finally:
        httpx.delete(f"{bureau}/faults")
    assert failed["status"] == "failed" and failed["retryable"] is True and failed["reason"], failed
    retried = _ok(http.post(f"{API}/customers/{customer}/verifications/bureau/retry", headers=h), 201)
    assert retried["status"] != "failed" and retried["attempts"] == 2 and retried["result"]["score"] == 720, retried
    facts = _ok(http.get(f"{API}/customers/{customer}/credit-facts", headers=h))
    assert facts["credit_score"] == 720


def check_uploads(http: Any, h: Headers) -> None:
    """An executable named .pdf and a PNG named .pdf are 422 naming `file`; an oversize one 413; nothing kept."""
    customer = _customer(http, h, _pan())
    url = f"{API}/customers/{customer}/documents"
    for name, data in (("pan.pdf", b"MZ\x90\x00" + b"\x00" * 200), ("pan.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)):
        refused = http.post(url, data={"kind": "pan_card"}, files={"file": (name, data, "application/pdf")}, headers=h)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file", refused.text
    big = b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024)
    assert http.post(url, data={"kind": "pan_card"}, files={"file": ("big.pdf", big)}, headers=h).status_code == 413
    assert _ok(http.get(url, headers=h))["items"] == []


def check_isolation(http: Any, h: Headers, other: Headers) -> None:
    """Another brand sees none of this brand's borrowers, documents or products (404), not even in lists."""
    customer = _customer(http, h, _pan())
    pdf = b"%PDF-1.4\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    doc = _ok(http.post(f"{API}/customers/{customer}/documents", data={"kind": "pan_card"}, files={"file": ("p.pdf", pdf)}, headers=h), 201)  # fmt: skip
    product = _product(http, h)
    for path in (f"/customers/{customer}", f"/documents/{doc['id']}", f"/documents/{doc['id']}/content",
                 f"/loan-products/{product}", f"/customers/{customer}/kyc"):  # fmt: skip
        assert http.get(f"{API}{path}", headers=other).status_code == 404, path
    listed = str(_ok(http.get(f"{API}/loan-products", headers=other))) + str(_ok(http.get(f"{API}/customers", headers=other)))  # fmt: skip
    assert product not in listed and customer not in listed


def run_all(http: Any, h: Headers, other: Headers, brand: str, sims: dict[str, str]) -> None:
    """Every check, in the order of the issue's list."""
    check_pricing(http, h)
    check_funnel(http, h, brand, sims["sms"])
    check_someone_elses_pan(http, h, brand, sims["sms"])
    check_each_rule_failing_alone(http, h)
    check_pincode_failing_alone(http, h)
    check_blocklist_cooldown_override_bypass_audit(http, h)
    check_central_dedup(http, h, other)
    check_provider_failure(http, h, sims["bureau"])
    check_uploads(http, h)
    check_isolation(http, h, other)


def test_origination_black_box(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    client.patch(f"{API}/brand/config", json={"require_employment_data": True}, headers=tenant.auth)
    sims = {name: sim.base_url for name, sim in provider_simulators.items()}
    run_all(client, tenant.auth, other.auth, tenant.slug, sims)


if __name__ == "__main__":  # against a running server: base URL, an admin key, optionally another brand's key
    base, key = sys.argv[1], sys.argv[2]
    with httpx.Client(base_url=base, timeout=60) as live:
        auth = {"Authorization": f"Bearer {key}"}
        other_auth = {"Authorization": f"Bearer {sys.argv[3]}"} if len(sys.argv) > 3 else {"Authorization": "Bearer x"}
        simulators = _ok(live.get(f"{API}/dev/simulators", headers=auth))
        brand = _ok(live.get(f"{API}/brand/config", headers=auth)).get("slug", "demo")
        for name in ("pricing", "funnel", "someone_elses_pan", "each_rule_failing_alone", "pincode_failing_alone",
                     "blocklist_cooldown_override_bypass_audit", "central_dedup",
                     "provider_failure", "uploads", "isolation"):  # fmt: skip
            check = globals()[f"check_{name}"]
            args: dict[str, Any] = {"funnel": (brand, simulators["sms"]), "someone_elses_pan": (brand, simulators["sms"]), "provider_failure": (simulators["bureau"],),
                                    "isolation": (other_auth,), "central_dedup": (other_auth,)}.get(name, ())  # fmt: skip
            try:
                check(live, auth, *args)
                print(f"PASS {name}")
            except AssertionError as exc:
                print(f"FAIL {name}: {str(exc)[:1500]}")
