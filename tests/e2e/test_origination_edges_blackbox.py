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

from tests.conftest import make_tenant
from tests.e2e.blackbox import bank_account_number, poll
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
)

API = "/api/v1"
Headers = dict[str, str]


def _years_ago(today: date, years: int) -> date:
    return today.replace(year=today.year - years)


def _business_date(http: Any, h: Headers) -> date:
    return date.fromisoformat(_ok(http.get(f"{API}/brand/config", headers=h))["business_date"])


def _borrower(
    http: Any, h: Headers, *, digits: int | None = None, dob: str = "1990-01-15", salary: int = 60000, pull: bool = True
) -> tuple[str, Decimal]:
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
    groups = [head[max(0, i - 2) : i] for i in range(len(head), 0, -2)][::-1]
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
    low = _submit(client, h, customer, [{"rule": "SALARY"}])  # the same borrower, a paisa short now
    _ok(client.patch(f"{API}/brand/config", json={"min_salary": "15000"}, headers=h))
    assert low["status"] == "rejected" and "is below the brand minimum" in _outcome(low, "SALARY")[1], low["results"]
    customer, salary = _borrower(client, h, salary=40000, pull=False)
    assert _outcome(_submit(client, h, customer, [{"rule": "SALARY", "min": str(salary)}]), "SALARY")[0] == "pass"
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
    return bank_account_number("5010")


def _funnel(
    http: Any,
    b: Headers,
    pan: str,
    *,
    aadhaar: str = "2345 6789 0124",
    account: str | None = None,
    ifsc: str = "HDFC0001234",
) -> None:
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


def test_pan_and_phone_of_another_brands_borrower_never_link(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """A borrower staff registered in brand B has the phone and PAN a borrower signs up with in brand A: A's funnel
    makes A's own record (no 409, nothing of B's read or changed), and B's record stays as B wrote it."""
    ours, theirs = make_tenant(platform), make_tenant(platform)
    sms = provider_simulators["sms"].base_url
    phone, pan = _phone(), _pan()
    their_record = _customer(client, theirs.auth, pan, phone=phone)
    b = _sign_in(client, ours.slug, sms, phone)
    _funnel(client, b, pan)
    decided = _borrower_submit(client, b, _product(client, ours.auth))
    mine = _ok(client.get(f"{API}/loans/{decided['id']}", headers=ours.auth))["borrower"]["id"]
    assert mine != their_record
    assert _ok(client.get(f"{API}/customers/{mine}", headers=ours.auth))["phone"].endswith(phone)
    record = _ok(client.get(f"{API}/customers/{their_record}", headers=theirs.auth))
    assert (record["name"], record["date_of_birth"], record["email"]) == ("Ravi Kumar", "1990-01-15", None), record
    assert client.get(f"{API}/customers/{their_record}", headers=ours.auth).status_code == 404
    assert [c["id"] for c in _ok(client.get(f"{API}/customers", params={"q": pan}, headers=theirs.auth))["items"]] == [their_record]  # fmt: skip


def test_another_brands_ids_in_a_borrowers_requests(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """A borrower of brand A names brand B's statement, Aadhaar copy and product: refused (404 or 422), nothing of B
    in the answer; B's documents and loans untouched."""
    ours, theirs = make_tenant(platform), make_tenant(platform)
    sms = provider_simulators["sms"].base_url
    their_customer = _customer(client, theirs.auth, _pan())
    pdf = b"%PDF-1.4\nSALARY=60000\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    url = f"{API}/customers/{their_customer}/documents"
    their_doc = _ok(client.post(url, data={"kind": "bank_statement"}, files={"file": ("s.pdf", pdf)}, headers=theirs.auth), 201)["id"]  # fmt: skip
    aad = _ok(client.post(url, data={"kind": "aadhaar_front"}, files={"file": ("a.pdf", pdf + b"x")}, headers=theirs.auth), 201)["id"]  # fmt: skip
    their_product = _product(client, theirs.auth)
    b = _sign_in(client, ours.slug, sms, _phone())
    for step, body in (("pan", {"pan": _pan()}), ("personal", _PERSONAL), ("employment", _EMPLOYMENT)):
        _ok(client.put(f"{API}/borrower/steps/{step}", json=body, headers=b))
    probes = [
        (
            "PUT",
            "/borrower/steps/aadhaar",
            {"method": "upload", "aadhaar_number": "2345 6789 0124", "document_id": aad},
        ),
        ("PUT", "/borrower/steps/selfie", {"document_id": aad}),
        ("PUT", "/borrower/steps/bank_statement", {"method": "upload", "document_ids": [their_doc]}),
        ("POST", "/borrower/applications", {"product_id": their_product, "amount": "50000", "tenure": 12}),
        ("GET", f"/borrower/documents/{their_doc}", None),
        ("GET", f"/borrower/documents/{their_doc}/content", None),
    ]
    for method, path, body in probes:
        answer = client.request(method, f"{API}{path}", json=body, headers=b)
        assert answer.status_code in (404, 409, 422), (path, answer.status_code, answer.text[:300])
        assert their_customer not in answer.text and "SALARY" not in answer.text, (path, answer.text[:300])
    me = _ok(client.get(f"{API}/borrower/me", headers=b))
    assert "aadhaar" not in [s["step"] for s in me.get("steps", []) if s.get("done")] and their_doc not in str(me)
    docs = _ok(client.get(url, headers=theirs.auth))["items"]
    assert {d["id"] for d in docs} == {their_doc, aad} and {d["status"] for d in docs} == {"pending"}, docs


def test_uploads_at_the_edges(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:
    """Empty files, a JPEG named .png, a hostile file name, a unicode one, a PDF/ZIP polyglot served back inert, the
    same file twice; staff and borrower alike."""
    tenant = make_tenant(platform)
    h, sms = tenant.auth, provider_simulators["sms"].base_url
    customer = _customer(client, h, _pan())
    url = f"{API}/customers/{customer}/documents"
    b = _sign_in(client, tenant.slug, sms, _phone())
    for step, body in (("pan", {"pan": _pan()}), ("personal", _PERSONAL)):
        _ok(client.put(f"{API}/borrower/steps/{step}", json=body, headers=b))
    for endpoint, auth in ((url, h), (f"{API}/borrower/documents", b)):
        empty = client.post(endpoint, data={"kind": "pan_card"}, files={"file": ("pan.pdf", b"", "application/pdf")}, headers=auth)  # fmt: skip
        assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "file", empty.text
        jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
        named = client.post(endpoint, data={"kind": "pan_card"}, files={"file": ("pan.png", jpeg)}, headers=auth)
        assert named.status_code == 422 and named.json()["errors"][0]["field"] == "file", named.text
        svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        refused = client.post(endpoint, data={"kind": "pan_card"}, files={"file": ("pan.pdf", svg, "application/pdf")}, headers=auth)  # fmt: skip
        assert refused.status_code == 422, refused.text
    polyglot = (
        b"%PDF-1.4\n<html><script>alert(1)</script></html>\n" + uuid.uuid4().hex.encode() + b"\nPK\x03\x04\n%%EOF\n"
    )
    doc = _ok(client.post(url, data={"kind": "pan_card"}, files={"file": ("../../etc/passwd.pdf", polyglot, "text/html")}, headers=h), 201)  # fmt: skip
    again = client.post(url, data={"kind": "pan_card"}, files={"file": ("other.pdf", polyglot)}, headers=h)
    assert again.status_code == 409 and again.json()["existing_id"] == doc["id"], again.text
    content = client.get(f"{API}/documents/{doc['id']}/content", headers=h)
    assert content.status_code == 200 and content.content == polyglot
    assert content.headers["content-type"].startswith("application/pdf"), content.headers
    assert content.headers["x-content-type-options"] == "nosniff"
    disposition = content.headers["content-disposition"]
    assert disposition.startswith("attachment") and ".." not in disposition and "passwd" not in disposition, disposition
    listed = _ok(client.get(url, headers=h))["items"]
    assert [d["id"] for d in listed] == [doc["id"]], listed
    unicode_name = "बैंक विवरण ✓.pdf"
    pdf = b"%PDF-1.4\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    kept = _ok(client.post(url, data={"kind": "salary_slip"}, files={"file": (unicode_name, pdf)}, headers=h), 201)
    assert _ok(client.get(f"{API}/documents/{kept['id']}", headers=h))["filename"] == unicode_name
    portal = client.get(f"/customers/{customer}", headers=h)
    assert portal.status_code in (200, 401, 302, 303) and "<script>alert(1)" not in portal.text


def _fault(sim: str, switch: str, **args: Any) -> None:
    httpx.post(f"{sim}/faults", json={"switch": switch, "args": args}).raise_for_status()


def test_providers_failing_mid_funnel(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:
    """The PAN check answering garbage, the penny drop 503s, the statement analysis garbage and the bureau rate
    limiting, each while a borrower goes through the funnel: the steps are recorded, each check is a clear failed
    and retryable state, a retry succeeds, and nothing is lost or made twice."""
    tenant = make_tenant(platform)
    h, sims = tenant.auth, {k: v.base_url for k, v in provider_simulators.items()}
    b = _sign_in(client, tenant.slug, sims["sms"], _phone())
    pan, account = _pan(720), _account()
    _ok(client.put(f"{API}/borrower/steps/pan", json={"pan": pan}, headers=b))
    _fault(sims["pan"], "bad_body_next", n=10)
    try:
        _ok(client.put(f"{API}/borrower/steps/personal", json=_PERSONAL, headers=b))
    finally:
        httpx.delete(f"{sims['pan']}/faults")
    (customer,) = [c["id"] for c in _ok(client.get(f"{API}/customers", params={"q": pan}, headers=h))["items"]]
    _ok(client.put(f"{API}/borrower/steps/employment", json=_EMPLOYMENT, headers=b))
    aadhaar = {"method": "digilocker", "aadhaar_number": "2345 6789 0124", "digilocker_reference": "DL-1"}
    _ok(client.put(f"{API}/borrower/steps/aadhaar", json=aadhaar, headers=b))
    bank = {"account_number": account, "ifsc": "HDFC0001234", "holder_name": "Ravi Kumar"}
    _fault(sims["penny_drop"], "fail_next", n=10, status=503)
    try:
        _ok(client.put(f"{API}/borrower/steps/bank_account", json=bank, headers=b))
    finally:
        httpx.delete(f"{sims['penny_drop']}/faults")
    pdf = b"%PDF-1.4\nSALARY=60000\nEMIS=0\n" + uuid.uuid4().hex.encode() + b"\n%%EOF\n"
    doc = _ok(client.post(f"{API}/borrower/documents", data={"kind": "bank_statement"}, files={"file": ("s.pdf", pdf)}, headers=b), 201)  # fmt: skip
    _fault(sims["bsa"], "bad_body_next", n=10)
    try:
        _ok(client.put(f"{API}/borrower/steps/bank_statement", json={"method": "upload", "document_ids": [doc["id"]]}, headers=b))  # fmt: skip
    finally:
        httpx.delete(f"{sims['bsa']}/faults")

    kyc = _ok(client.get(f"{API}/customers/{customer}/kyc", headers=h))
    checks = {c["kind"]: c for c in kyc["checks"]}
    for check in ("pan", "statement"):
        assert checks[check]["status"] == "failed" and checks[check]["retryable"] is True and checks[check]["reason"], checks  # fmt: skip
    (failed_account,) = kyc["bank_accounts"]
    assert failed_account["status"] == "failed" and failed_account["reason"], failed_account
    # the borrower saves the same account again (another tab, the back button): still one account, no second drop
    _ok(client.put(f"{API}/borrower/steps/bank_account", json=bank, headers=b))
    assert len(_ok(client.get(f"{API}/customers/{customer}/kyc", headers=h))["bank_accounts"]) == 1

    for check in ("pan", "statement"):
        retried = _ok(client.post(f"{API}/customers/{customer}/verifications/{check}/retry", headers=h), 201)
        assert retried["status"] != "failed" and retried["attempts"] == 2, retried
    account_id = failed_account["id"]
    retried = _ok(client.post(f"{API}/bank-accounts/{account_id}/retry", headers=h))
    assert retried["status"] == "verified", retried
    again = client.post(f"{API}/bank-accounts/{account_id}/retry", headers=h)
    assert again.status_code == 409, again.text
    _fault(sims["bureau"], "rate_limit_next", n=1, retry_after=1)
    try:
        pulled = _ok(client.post(f"{API}/customers/{customer}/bureau-pulls", headers=h), 201)
    finally:
        httpx.delete(f"{sims['bureau']}/faults")
    assert pulled["status"] != "failed" and pulled["result"]["score"] == 720, pulled
    facts = _ok(client.get(f"{API}/customers/{customer}/credit-facts", headers=h))
    assert facts["credit_score"] == 720 and Decimal(facts["monthly_salary"]) > 50000 and facts["bank_verified"], facts
    kyc = _ok(client.get(f"{API}/customers/{customer}/kyc", headers=h))
    assert [a["id"] for a in kyc["bank_accounts"]] == [account_id]
    me = _ok(client.get(f"{API}/borrower/me", headers=b))
    assert me["next_step"] == "loan_request", me
    decided = _borrower_submit(client, b, _product(client, h, bre_rules=[{"rule": "CREDIT_SCORE", "min": "700"}]))
    assert decided["status"] == "pending", decided["results"]


def test_cooldown_counts_in_the_brands_timezone(client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """A brand whose day is already tomorrow (or still yesterday) by UTC: the rejection is dated and the cooldown
    counted on the brand's own day, for staff (COOLDOWN's reason) and the borrower (`may_apply_from`)."""
    tenant = make_tenant(platform)
    h, sms = tenant.auth, provider_simulators["sms"].base_url
    zone = next(z for z in ("Pacific/Kiritimati", "Etc/GMT+12") if datetime.now(ZoneInfo(z)).date() != datetime.now(UTC).date())  # fmt: skip
    _ok(client.patch(f"{API}/brand/config", json={"timezone": zone, "rejection_cooldown_days": 7}, headers=h))
    local = datetime.now(ZoneInfo(zone)).date()
    pan = _pan()
    _ok(client.post(f"{API}/blocklist", json={"kind": "pan", "value": pan, "reason": "fraud ring"}, headers=h), 201)
    b = _sign_in(client, tenant.slug, sms, _phone())
    _funnel(client, b, pan)
    first = _borrower_submit(client, b, _product(client, h))
    assert first["status"] == "rejected", first["results"]
    again_on = local + timedelta(days=7)
    me = _ok(client.get(f"{API}/borrower/me", headers=b))
    assert me["may_apply_from"] == again_on.isoformat() and me["can_apply_again"] is False, me
    early = client.post(f"{API}/borrower/reapply", headers=b)
    assert early.status_code == 409 and early.json()["may_apply_from"] == again_on.isoformat(), early.text
    (customer,) = [c["id"] for c in _ok(client.get(f"{API}/customers", params={"q": pan}, headers=h))["items"]]
    staff = _apply(client, h, customer, _product(client, h))
    assert _failed(staff)["COOLDOWN"] == (
        f"rejected on {local.isoformat()}, less than 7 days ago: may apply again from {again_on.isoformat()}")  # fmt: skip


def test_two_tabs_send_the_same_request_at_once(server: str, client: Any, platform: Any, provider_simulators: dict[str, Any]) -> None:  # fmt: skip
    """The same loan request, and then the same submit, sent from two tabs at once: one application, submitted
    once, its BRE run once; neither answer is a 5xx."""
    import threading

    tenant = make_tenant(platform)
    h, sms = tenant.auth, provider_simulators["sms"].base_url
    b = _sign_in(client, tenant.slug, sms, _phone())
    pan = _pan()
    _funnel(client, b, pan)
    product = _product(client, h)
    body = {"product_id": product, "amount": "50000", "tenure": 12}

    def race(method: str, path: str, payload: dict[str, Any] | None) -> list[httpx.Response]:
        barrier, answers = threading.Barrier(3), [None, None, None]

        def send(i: int) -> None:
            with httpx.Client(base_url=server, timeout=60) as tab:
                barrier.wait(timeout=30)
                answers[i] = tab.request(method, f"{API}{path}", json=payload, headers=b)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(a is not None and a.status_code < 500 for a in answers), [a and a.text[:300] for a in answers]
        return answers  # type: ignore[return-value]

    made = race("POST", "/borrower/applications", body)
    ids = {a.json()["id"] for a in made if a.status_code == 201}
    assert len(ids) == 1 and all(a.status_code in (201, 409) for a in made), [a.text[:300] for a in made]
    (loan,) = ids
    submitted = race("POST", f"/borrower/applications/{loan}/submit", None)
    assert sorted(a.status_code for a in submitted)[0] == 200 and all(a.status_code in (200, 409) for a in submitted), [a.text[:300] for a in submitted]  # fmt: skip
    (customer,) = [c["id"] for c in _ok(client.get(f"{API}/customers", params={"q": pan}, headers=h))["items"]]
    loans = poll(lambda: _ok(client.get(f"{API}/loans", headers=h))["items"], lambda items: len(items) >= 1, 10)
    assert [x["id"] for x in loans] == [loan], loans  # a fresh brand: its only application
    trail = _ok(client.get(f"{API}/audit/trail", params={"aggregate_id": loan}, headers=h))["items"]
    assert sum(1 for e in trail if e["event_type"] == "Submitted") == 1, [e["event_type"] for e in trail]
    assert customer
