"""Issue #18's "How it will be checked", walked black-box through HTTP only: a book built through the API in two
brands (borrowers with quotes, commas, newlines, Hindi and formula-looking names; loans originated, e-signed at the
simulator, paid out by the gateway simulator, repaid, pushed overdue by the close of business, completed, written
off with nothing repaid, rejected), then every report of the catalogue as JSON pages (cursor to the end) and CSV
(python's csv module: BOM, quoting, neutralised formulas) with rows and totals recomputed from what was created,
brand and role isolation, the emailed report, global search, a Facebook and a Google lead CSV, the rating matrix and
the dashboards' figures.

Runs under pytest (the session's live server, fresh brands) and against a running server on a scratch database:
`python -m tests.e2e.test_insight_blackbox http://127.0.0.1:8000 cdk_<brand A admin key> cdk_<brand B admin key>`
(the walk moves brand A's business date: use brands of their own)."""

from __future__ import annotations

import csv
import io
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.e2e.blackbox import API, Headers, eventually, ok, phone, staff_session
from tests.support import account_number, settle

PASSWORD = "bb18-Password-2026!"
D0 = date(2026, 1, 10)  # brand A's first business date: disbursals
HOSTILE = '=HYPERLINK("http://x","y")'
REMARKS = 'said "no", twice; =1+1 कारण'
CONTACT = '-called,\nsaid "next week"\r\n=1+1 बाद में'

#: The agreement worker's pass (issue agreements; with True also queue signed loans) and how a requested job run is
#: executed: the live server does both by itself; under pytest the test does.
DRAIN: list[Callable[[bool], None]] = []
RUN_JOB: list[Callable[[str], None]] = []


def _pan() -> str:
    n = uuid.uuid4().int
    letters = "".join(chr(65 + (n >> (5 * i)) % 26) for i in range(5))
    return f"{letters[:3]}P{letters[3]}{n % 10000:04d}{letters[4]}"


def _loan(http: httpx.Client, h: Headers, loan_id: str) -> dict[str, Any]:
    return dict(ok(http.get(f"{API}/loans/{loan_id}", headers=h)))


def _business_date(http: httpx.Client, h: Headers, on: date) -> None:
    ok(http.patch(f"{API}/brand/config", json={"business_date": on.isoformat()}, headers=h))


def _cob(http: httpx.Client, h: Headers, as_of: date) -> None:
    """Close every business date through `as_of` (the business date then moves to the next day)."""
    _business_date(http, h, as_of)
    run = ok(http.post(f"{API}/jobs/loan-cob/runs", json={"as_of": as_of.isoformat()}, headers=h), 202)
    for execute in RUN_JOB:
        execute(str(run["run_id"]))

    def finished() -> bool:
        states = [ok(http.get(f"{API}/jobs/runs/{rid}", headers=h))["status"] for rid in run.get("run_ids") or [run["run_id"]]]  # fmt: skip
        assert "failed" not in states, states
        return all(s == "succeeded" for s in states)

    eventually(finished, f"the close of business through {as_of}", 120)


def _product(http: httpx.Client, h: Headers) -> str:
    body = {"name": "BB18", "code": "B18" + uuid.uuid4().hex[:6].upper(), "type": "emi", "min_amount": "10000",
            "max_amount": "500000", "min_tenure": 3, "max_tenure": 36, "annual_percent": "18", "gst_percent": "18",
            "penal": {"kind": "simple", "daily_percent": "0.1"}, "max_active_loans": 3, "bre_rules": [],
            "processing_fee": {"kind": "percent", "value": "2", "gst_inclusive": False}}  # fmt: skip
    return str(ok(http.post(f"{API}/loan-products", json=body, headers=h), 201)["id"])


def _borrower(http: httpx.Client, h: Headers, name: str) -> dict[str, Any] | None:
    """A Customer 360 record with PAN, email and a penny-dropped account; None when the API refuses the name (a
    422 naming it: control characters)."""
    body = {"name": name, "phone": phone("8"), "pan": _pan(), "email": f"bb18.{uuid.uuid4().hex[:8]}@example.in",
            "date_of_birth": "1990-01-15", "addresses": [{"line1": "4, Lake Road", "city": "Chennai", "pincode": "600001"}]}  # fmt: skip
    answer = http.post(f"{API}/customers", json=body, headers=h)
    if answer.status_code == 422 and "name" in answer.text:
        return None
    made = ok(answer, 201)
    account = {"account_number": account_number(), "ifsc": "HDFC0001234", "holder_name": name}  # fmt: skip
    ok(http.post(f"{API}/customers/{made['id']}/bank-accounts", json=account, headers=h), 201)
    return {**body, "id": str(made["id"]), "number": made.get("number")}


def _apply(http: httpx.Client, h: Headers, customer: str, product: str, amount: str) -> str:
    loan = ok(http.post(f"{API}/loans", json={"customer_id": customer, "product_id": product, "amount": amount, "tenure": 6}, headers=h), 201)  # fmt: skip
    assert ok(http.post(f"{API}/loans/{loan['id']}/submit", headers=h))["status"] == "pending"
    return str(loan["id"])


def _sanction(http: httpx.Client, h: Headers, loan_id: str, amount: str) -> None:
    ok(http.post(f"{API}/loans/{loan_id}/cx-approve", json={"approved_amount": amount, "remarks": "salary fine"}, headers=h))  # fmt: skip
    ok(http.post(f"{API}/loans/{loan_id}/sanction", json={"sanctioned_amount": amount, "remarks": "FOIR fine"}, headers=h))  # fmt: skip
    for drain in DRAIN:
        drain(False)
    link = eventually(lambda: (_loan(http, h, loan_id).get("esign") or {}).get("link"), "the e-sign link")
    ok(httpx.post(link, json={"action": "sign"}, timeout=30))

    def queued() -> bool:
        for drain in DRAIN:
            drain(True)
        return bool(_loan(http, h, loan_id)["status"] == "awaiting_disbursal")

    eventually(queued, "the signature")


def _disburse(http: httpx.Client, h: Headers, loan_id: str) -> dict[str, Any]:
    ok(http.post(f"{API}/loans/{loan_id}/disburse", json={"mode": "IMPS"}, headers=h), 202)
    payout = eventually(lambda: (_loan(http, h, loan_id).get("disbursement") or {}).get("simulator_url"), "the payout")
    ok(httpx.post(payout, json={"action": "confirm"}, timeout=30))
    return dict(eventually(lambda: (lambda v: v if v["status"] == "active" else None)(_loan(http, h, loan_id)), "the disbursal"))  # fmt: skip


def _pay(http: httpx.Client, h: Headers, loan_id: str, amount: str, on: date) -> dict[str, Any]:
    body = {"amount": amount, "mode": "upi", "reference": f"UTR-{uuid.uuid4().hex[:10]}", "paid_on": on.isoformat()}
    return dict(ok(http.post(f"{API}/loans/{loan_id}/repayments", json=body, headers=h), 201))


NAMES = {
    "quote": 'O\'Brien, "Jr" Sharma',
    "newline": "Line\nBreak Kumar",
    "hindi": "राहुल शर्मा",
    "hostile": HOSTILE,
    "plus": "+91 Plus Rao",
    "minus": "-Minus Iyer",
    "at": "@At Menon",
    "tab": "\tTab Das",
    "cr": "\rCr Nair",
}


def build_book(http: httpx.Client, h: Headers, other: Headers) -> dict[str, Any]:
    """Brand A: nine borrowers; loans completed, partly repaid, overdue, written off with nothing repaid, sanctioned
    and not disbursed, rejected, pending. Brand B: one disbursed loan."""
    _business_date(http, h, D0)
    product = _product(http, h)
    people: dict[str, dict[str, Any]] = {}
    for key, name in NAMES.items():
        made = _borrower(http, h, name)
        if made is not None:
            people[key] = made
    loans: dict[str, str] = {}
    for key in ("quote", "newline", "hindi", "hostile"):
        if key in people:
            loans[key] = _apply(http, h, people[key]["id"], product, "60000")
            _sanction(http, h, loans[key], "60000")
            _disburse(http, h, loans[key])
    # sanctioned, signed, not disbursed; rejected; pending
    for key, fate in (("plus", "sanctioned"), ("minus", "rejected"), ("at", "pending")):
        if key not in people:
            continue
        loans[key] = _apply(http, h, people[key]["id"], product, "30000")
        if fate == "sanctioned":
            _sanction(http, h, loans[key], "30000")
        elif fate == "rejected":
            reasons = ok(http.get(f"{API}/brand/config", headers=h))["settings"].get("rejection_reasons") or []
            code = reasons[0]["code"] if reasons else "OTHER"
            ok(http.post(f"{API}/loans/{loans[key]}/reject", json={"reason_code": code, "remarks": REMARKS}, headers=h))  # fmt: skip
    book = {"product": product, "people": people, "loans": loans}
    # brand B
    _business_date(http, other, D0)
    product_b = _product(http, other)
    b = _borrower(http, other, "Zebra Brandb Kapoor")
    assert b is not None
    loan_b = _apply(http, other, b["id"], product_b, "45000")
    _sanction(http, other, loan_b, "45000")
    _disburse(http, other, loan_b)
    book["b"] = {"person": b, "loan": loan_b}
    return book


def service_book(http: httpx.Client, h: Headers, book: dict[str, Any]) -> None:
    """On the first due date: `quote` paid off (completed), `newline` pays its first instalment and a part of the
    second; `hindi` and `hostile` pay nothing and fall overdue at the close of business; `hostile` is written off
    with nothing repaid."""
    loans = book["loans"]
    first_due = date.fromisoformat(_loan(http, h, loans["quote"])["schedule"][0]["due_date"])
    _business_date(http, h, first_due)
    total = ok(http.get(f"{API}/loans/{loans['quote']}/payoff", headers=h))["total"]
    assert _pay(http, h, loans["quote"], total, first_due)["status"] == "completed"
    emi = Decimal(_loan(http, h, loans["newline"])["schedule"][0]["amount"])
    _pay(http, h, loans["newline"], str(emi + Decimal("1000.00")), first_due)
    _cob(http, h, first_due + timedelta(days=5))
    eventually(lambda: _loan(http, h, loans["hindi"])["status"] == "overdue", "the overdue loan")
    ok(http.post(f"{API}/loans/{loans['hindi']}/contacts", json={"outcome": "connected", "remarks": CONTACT}, headers=h), 201)  # fmt: skip
    ok(http.post(f"{API}/loans/{loans['hostile']}/write-off", json={"reason": "uncontactable for 90 days"}, headers=h))  # fmt: skip
    book["first_due"] = first_due.isoformat()
    book["today"] = ok(http.get(f"{API}/brand/config", headers=h))["business_date"]


def report_json(
    http: httpx.Client, h: Headers, slug: str, **params: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every row of a report, paged 2 at a time by its cursor to the end, and the first page's totals."""
    first = ok(http.get(f"{API}/reports/{slug}", params={**params, "limit": 2}, headers=h))
    rows, totals, cursor = list(first["rows"]), first["totals"], first["next_cursor"]
    while cursor:
        page = ok(http.get(f"{API}/reports/{slug}", params={**params, "limit": 2, "cursor": cursor}, headers=h))
        assert "totals" not in page or page["totals"] in (None, totals), page
        rows += page["rows"]
        cursor = page["next_cursor"]
    assert totals["rows"] == len(rows), (slug, totals, len(rows))
    return rows, totals


def report_csv(http: httpx.Client, h: Headers, slug: str, **params: str) -> list[dict[str, str]]:
    answer = http.get(f"{API}/reports/{slug}.csv", params=params, headers=h)
    assert answer.status_code == 200, (slug, answer.status_code, answer.text[:300])
    assert answer.content.startswith(b"\xef\xbb\xbf"), (slug, answer.content[:10])
    assert "attachment" in answer.headers.get("content-disposition", ""), answer.headers
    text = answer.content.decode("utf-8")[1:]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _cell(value: Any) -> str:
    """What the CSV must hold for a JSON value: text starting with = + - @ tab or CR prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def _sum(rows: list[dict[str, Any]], column: str) -> Decimal:
    return sum((_money(r[column]) for r in rows), Decimal(0))


def check_reports(http: httpx.Client, h: Headers, book: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every report of the catalogue: JSON paged to the end equals the CSV cell for cell (formulas neutralised),
    totals are the rows' count and sums; then the book's figures recomputed from the loans API."""
    catalogue = ok(http.get(f"{API}/reports", headers=h))["items"]
    slugs = [r["slug"] for r in catalogue]
    assert len(slugs) == 33 and "completed-loan-with-no-repet-report" in slugs, slugs
    everything: dict[str, list[dict[str, Any]]] = {}
    for entry in catalogue:
        slug = entry["slug"]
        rows, totals = report_json(http, h, slug)
        table = report_csv(http, h, slug)
        names = [c["name"] for c in entry["columns"]]
        assert len(table) == len(rows), (slug, len(table), len(rows))
        for got, want in zip(table, rows, strict=True):
            assert list(got) == names, (slug, list(got))
            for column in entry["columns"]:
                expected = want[column["name"]]
                if column["kind"] == "instant" and expected:  # PostgreSQL's own format, the same instant
                    written = datetime.fromisoformat(got[column["name"]])
                    assert written == datetime.fromisoformat(expected.replace("Z", "+00:00")), (slug, column, written)
                    continue
                cell = _cell(expected) if column["kind"] == "text" else ("" if expected is None else str(expected))
                if column["kind"] == "bool" and expected is not None:
                    cell = "t" if expected else "f"
                assert got[column["name"]] == cell, (slug, column["name"], got[column["name"]], expected)
        for column in entry["columns"]:
            if column["kind"] == "number" and column["name"] not in ("recovery_rate", "efficiency", "share"):
                want_sum = _sum(rows, column["name"]) if rows else None
                got_sum = totals.get(column["name"])
                assert (got_sum is None and not any(r[column["name"]] for r in rows)) or _money(got_sum) == want_sum, (slug, column["name"], got_sum, want_sum)  # fmt: skip
        everything[slug] = rows
    recompute(http, h, book, everything)
    return everything


def recompute(http: httpx.Client, h: Headers, book: dict[str, Any], reports: dict[str, list[dict[str, Any]]]) -> None:
    """The figures of the book's reports from the loans API (docs/reports.md definitions)."""
    loans = {k: _loan(http, h, v) for k, v in book["loans"].items()}
    number = {k: v["loan_number"] for k, v in loans.items()}
    names = {k: p["name"] for k, p in book["people"].items()}

    def by_loan(slug: str) -> dict[str, dict[str, Any]]:
        return {r["loan_number"]: r for r in reports[slug]}

    disbursed = {k for k, v in loans.items() if v.get("disbursed_on")}
    assert disbursed == {"quote", "newline", "hindi", "hostile"}, disbursed
    assert set(by_loan("disbursed-loan-report")) == {number[k] for k in disbursed}
    for k in disbursed:
        row = by_loan("disbursed-loan-report")[number[k]]
        assert row["borrower"] == loans[k].get("borrower_name", names[k]) or row["borrower"] == names[k], row
        assert _money(row["disbursed_amount"]) == Decimal("60000") and row["status"] == loans[k]["status"], row
    assert set(by_loan("non-disbursed-loan-report")) == {number["plus"]}
    assert set(by_loan("reject-report")) == {number["minus"]}
    assert by_loan("reject-report")[number["minus"]]["remarks"] == REMARKS
    assert set(by_loan("total-approve-sanction-report")) == {number[k] for k in (*disbursed, "plus")}
    assert set(by_loan("affiliate-report")) == set(number.values())
    assert set(by_loan("loan-close-report")) == {number["quote"]}
    assert set(by_loan("completed-loan-with-no-repet-report")) == {number["hostile"]}
    assert set(by_loan("master-collection-report")) == {number["hindi"]}
    remarks = reports["collection-remarks-report"]
    assert [(r["loan_number"], r["remarks"]) for r in remarks] == [(number["hindi"], CONTACT)], remarks
    # the gateway's webhook paid the four loans out: its own row, not "anonymous"
    team = {r["actor"]: r for r in reports["team-performance-report"]}
    assert "anonymous" not in team and team["webhook:gateway"]["disbursed"] == 4, sorted(team)
    # the same person's contact and repayments make one agent-performance row (whoever recorded them)
    agents = {r["agent"]: r for r in reports["agent-performance-report"]}
    me = agents[remarks[0]["agent"]]
    assert (me["contacts"], me["repayments"], me["loans"]) == (1, 2, 3), me
    # payments: what each repayment recorded
    repaid: dict[str, Decimal] = {}
    for k in disbursed:
        items = ok(http.get(f"{API}/loans/{book['loans'][k]}/repayments", headers=h))["items"]
        repaid[k] = sum((_money(p["amount"]) for p in items if not p.get("reversed_on")), Decimal(0))
    close = by_loan("loan-close-report")[number["quote"]]
    assert _money(close["repaid"]) == repaid["quote"] and close["payments"] == 1, close
    # per-loan outstanding: the schedule's unpaid principal + interest; nothing once closed (completed, settled,
    # written off: the loan's page says 0.00)
    collection = by_loan("collection-loan-report")
    for k in disbursed:
        row = collection[number[k]]
        assert _money(row["repaid"]) == repaid[k], (k, row)
        schedule = loans[k]["schedule"]
        unpaid = sum((_money(i["amount"]) for i in schedule), Decimal(0)) - repaid[k]
        want = Decimal(0) if loans[k]["status"] in ("completed", "settled", "written_off") else unpaid
        assert _money(row["outstanding_total"]) == want, (k, row["outstanding_total"], want)
    due = reports["collection-due-report"]
    for row in due:
        assert _money(row["due_amount"]) - _money(row["paid_amount"]) == _money(row["left_amount"]), row
        if row["loan_status"] == "completed":
            assert row["state"] == "paid" and _money(row["left_amount"]) == 0, row
    recovery = reports["total-recovery-report"]
    for row in recovery:
        assert _money(row["due"]) - _money(row["recovered"]) == _money(row["outstanding"]), row
        same_day = [r for r in due if r["due_date"] == row["due_date"]]
        assert row["instalments"] == len(same_day) and _money(row["due"]) == _sum(same_day, "due_amount"), row
        assert _money(row["recovered"]) == _sum(same_day, "paid_amount"), row
    assert _sum(due, "paid_amount") == sum(repaid.values(), Decimal(0)) - Decimal(0)  # no penal paid in this book
    buckets = {r["bucket"]: r["loans"] for r in reports["dpd-buckets-report"]}
    assert buckets == {"current": 1, "1-30": 1}, buckets
    # From/To: a date basis inclusive on both ends; an instant basis read as days in the brand's timezone
    day = loans["quote"]["disbursed_on"]
    after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    assert report_json(http, h, "disbursed-loan-report", **{"from": day, "to": day})[1]["rows"] == 4
    assert report_json(http, h, "disbursed-loan-report", **{"from": after})[1]["rows"] == 0
    assert len(report_csv(http, h, "disbursed-loan-report", **{"from": after})) == 0
    assert report_json(http, h, "disbursed-loan-report", status="completed")[0][0]["loan_number"] == number["quote"]
    # the sanction-dated reports range over the sanction's business day (`sanctioned_on`: D0 here, whatever the clock)
    local = {r["loan_number"]: date.fromisoformat(r["sanctioned_on"]) for r in reports["total-approve-sanction-report"]}
    assert set(local.values()) == {D0}, local
    for d in set(local.values()):
        got = {r["loan_number"] for r in report_json(http, h, "total-approve-sanction-report", **{"from": d.isoformat(), "to": d.isoformat()})[0]}  # fmt: skip
        assert got == {n for n, x in local.items() if x == d}, (d, got, local)
    for bad in ({"from": "2026-02-01", "to": "2026-01-01"}, {"from": "2026-13-01"}, {"status": "bogus"}, {"foo": "1"}):
        assert http.get(f"{API}/reports/disbursed-loan-report.csv", params=bad, headers=h).status_code == 422, bad
    assert http.get(f"{API}/reports/no-such-report", headers=h).status_code == 404
    # a cursor is its report's: another report with the same key types (date, loan id) refuses it
    cursor = ok(http.get(f"{API}/reports/disbursed-loan-report", params={"limit": 1}, headers=h))["next_cursor"]
    for slug in ("collection-loan-report", "outstanding-data-report", "total-recovery-report"):
        answer = http.get(f"{API}/reports/{slug}", params={"cursor": cursor}, headers=h)
        assert answer.status_code == 422 and "cursor" in answer.text, (slug, answer.status_code)


#: The emails the SMTP sink received (under pytest the session's sink; standalone the server's var/mail folder).
MAILS: list[Callable[[], list[Any]]] = []


def _staff(http: httpx.Client, h: Headers, role: str, name: str | None = None) -> dict[str, Any]:
    email = f"{role}.{uuid.uuid4().hex[:8]}@bb18.example.in"
    body = {"name": name or f"{role.title()} {email[-22:-18]}", "email": email, "roles": [role], "password": PASSWORD}
    return {**ok(http.post(f"{API}/staff", json=body, headers=h), 201), "email": email}


def check_brands_roles_email(
    base: str, http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any], reports: dict[str, Any]
) -> None:
    """Brand B's staff never see brand A's rows (JSON, CSV, email); no MASTER_REPORTS → 403; the email arrives."""
    mine = {r["loan_number"] for r in reports["collection-loan-report"]}
    theirs_rows, _ = report_json(http, other, "collection-loan-report")
    theirs = {r["loan_number"] for r in theirs_rows}
    assert len(theirs) == 1 and not theirs & mine, (theirs, mine)
    for slug in ("master-report", "collection-due-report", "affiliate-report"):
        text = http.get(f"{API}/reports/{slug}.csv", headers=other).text
        assert not any(n in text for n in mine) and "Brien" not in text and "राहुल" not in text, slug
    clerk = _staff(http, h, "credit_executive")
    ce = staff_session(base, clerk["email"], PASSWORD)
    try:
        assert ce.get(f"{API}/reports").status_code == 403
        assert ce.get(f"{API}/reports/master-report").status_code == 403
        assert ce.get(f"{API}/reports/master-report.csv").status_code == 403
        assert ce.post(f"{API}/reports/master-report/email", json={"to": "x@example.in"}).status_code == 403
    finally:
        ce.close()
    # the emailed report of brand B: its own rows only, as an attachment
    to = f"ops.{uuid.uuid4().hex[:6]}@bb18.example.in"
    run = ok(
        http.post(
            f"{API}/reports/collection-loan-report/email",
            json={"to": to, "from": "2026-01-01", "to_date": "2026-12-31"},
            headers=other,
        ),
        202,
    )
    for execute in RUN_JOB:
        execute(str(run["run_id"]))
    done = eventually(lambda: (lambda r: r if r["status"] in ("succeeded", "failed") else None)(ok(http.get(f"{API}/jobs/runs/{run['run_id']}", headers=other))), "the report email", 90)  # fmt: skip
    assert done["status"] == "succeeded", done
    if MAILS:
        mails = eventually(lambda: [m for m in MAILS[0]() if m["To"] == to], "the email in the sink", 30)
        assert len(mails) == 1, mails
        attachment = next(iter(mails[0].iter_attachments())).get_content()
        body = attachment.decode("utf-8") if isinstance(attachment, bytes) else attachment
        assert theirs.pop() in body and not any(n in body for n in mine), body[:300]


def check_search(base: str, http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """One box over borrowers, loans and staff of the brand: each kind by each of its keys; never another brand's;
    fewer than 2 characters 422; without GLOBAL_SEARCH 403."""

    def search(q: str, headers: Headers = h) -> dict[str, list[dict[str, Any]]]:
        return dict(ok(http.get(f"{API}/search", params={"q": q}, headers=headers)))

    def ids(q: str, group: str, headers: Headers = h) -> set[str]:
        return {hit["id"] for hit in search(q, headers)[group]}

    hindi = book["people"]["hindi"]
    loan_id = book["loans"]["hindi"]
    number = _loan(http, h, loan_id)["loan_number"]
    for q in ("राहुल", "शर्मा", hindi["phone"], hindi["phone"][-10:], hindi["email"], hindi["pan"], hindi["pan"].lower(), hindi["number"], hindi["number"].lower()):  # fmt: skip
        assert hindi["id"] in ids(q, "borrowers"), ("borrower by", q, search(q))
    quote = book["people"]["quote"]
    assert quote["id"] in ids("O'Brien", "borrowers") and quote["id"] in ids('"Jr"', "borrowers")
    for q in (number, number.lower(), number[-6:], "राहुल शर्मा", hindi["phone"]):
        assert loan_id in ids(q, "loans"), ("loan by", q, search(q))
    for hit in search(number)["loans"]:
        assert hit["url"] == f"/loans/{hit['id']}"
    person = _staff(http, h, "sales", name=f"Zorawar {uuid.uuid4().hex[:5]} Gill")
    assert person["id"] in ids(person["name"].split()[1], "staff") and person["id"] in ids(person["email"], "staff")
    # brand B searching for brand A's people, loans and staff: nothing
    for q in ("राहुल", hindi["phone"], hindi["pan"], hindi["email"], number, person["email"], "O'Brien"):
        found = search(q, other)
        assert not any(found.values()) or not ({hindi["id"], loan_id, person["id"]} & {x["id"] for g in found.values() for x in g}), (q, found)  # fmt: skip
    theirs = book["b"]["person"]
    assert theirs["id"] in ids("Brandb", "borrowers", other) and not ids("Brandb", "borrowers")
    for short in ("", " ", "a", " a "):
        assert http.get(f"{API}/search", params={"q": short}, headers=h).status_code == 422, short
    assert http.get(f"{API}/search", params={"q": "x" * 101}, headers=h).status_code == 422
    ok(http.patch(f"{API}/staff/{person['id']}", json={"permissions": {"GLOBAL_SEARCH": "NONE"}}, headers=h))
    denied = staff_session(base, person["email"], PASSWORD)
    try:
        assert eventually(lambda: denied.get(f"{API}/search", params={"q": "ab"}).status_code == 403, "the permission")
    finally:
        denied.close()


FACEBOOK = ("id,created_time,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,form_name,"
            "is_organic,platform,full_name,phone_number,email,pan\n")  # fmt: skip
GOOGLE = "Lead ID,Campaign ID,Campaign,Ad group name,Submission time,Full Name,User Phone,User Email,GCL ID\n"


def _upload(http: httpx.Client, h: Headers, text: str, name: str = "leads.csv") -> httpx.Response:
    return http.post(f"{API}/leads/imports", files={"file": (name, text.encode("utf-8"), "text/csv")}, headers=h)


def _all_leads(http: httpx.Client, h: Headers, **params: str) -> list[dict[str, Any]]:
    page = ok(http.get(f"{API}/leads", params={**params, "limit": 2}, headers=h))
    items = list(page["items"])
    while page["next_cursor"]:
        page = ok(http.get(f"{API}/leads", params={**params, "limit": 2, "cursor": page["next_cursor"]}, headers=h))
        items += page["items"]
    return items


def check_leads(http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """A Facebook file: in-file duplicates, a near-duplicate name, a borrower's phone and PAN, broken rows with their
    line numbers, a hostile campaign, an organic lead, a quoted name across two lines; a second file repeating an
    existing lead; a Google Ads export; listing by status and source to the end; the lead reports' counts."""
    p1, p2, p3, p4 = phone("8"), phone("8"), phone("8"), phone("8")
    hindi, quote = book["people"]["hindi"], book["people"]["quote"]
    ad = "a1,Ad,s1,Set,c1"
    text = (
        FACEBOOK
        + (
            f'1,2026-02-01T10:00:00+0530,{ad},"{HOSTILE.replace(chr(34), chr(34) * 2)}",f1,Form,false,fb,Meera Krishnan,p:+91{p1},meera.{p1}@example.in,\n'  # line 2
            f"2,2026-02-01T11:00:00+0530,{ad},Diwali,f1,Form,false,fb,Meera K Krishnan,{p1},,\n"  # 3: in-file duplicate (phone)
            f"3,2026-02-01T12:00:00+0530,{ad},Diwali,f1,Form,false,ig,Meera Krishnann,{p2},,\n"  # 4: near-duplicate name
            f"4,2026-02-02T10:00:00+0530,{ad},Diwali,f1,Form,false,fb,Rahul S,{hindi['phone']},,\n"  # 5: a borrower's phone
            f"5,2026-02-02T10:00:00+0530,{ad},Diwali,f1,Form,false,fb,Some One,{p3},,{quote['pan']}\n"  # 6: a borrower's PAN
            "6,2026-02-02T10:00:00+0530,a1,Ad,s1,Set,c1,Diwali,f1,Form,false,fb,Broken Phone,12,,\n"  # 7: no valid contact
            f"7,yesterday,{ad},Diwali,f1,Form,false,fb,Bad Date,{phone('8')},,\n"  # 8: a bad created_time
            f"8,2026-02-03T10:00:00+0530,,,,,,,f2,Form,true,fb,@SUM(1+1),{p4},,\n"  # 9: organic, hostile name
            f'9,2026-02-03T10:00:00+0530,{ad},Diwali,f1,Form,maybe,fb,"Ravi\nTeja",{phone("8")},,\n'  # 10-11: bad is_organic
            f"10,2026-02-03T10:00:00+0530,{ad},Diwali,f1,Form,false,fb,Sunil Rao,{phone('8')},sunil@example.in,\n"  # 12
        )
    )
    made = _upload(http, h, text)
    body = ok(made, 201)
    assert body["rows"] == 10, body
    rejected = {r["line"] for r in body["rejected"]}
    assert rejected == {7, 8, 10}, body["rejected"]
    assert body["duplicates"] == 1 and body["created"] == 6 and body["organic"] == 1, body
    lines = {x["line"]: x for x in body["lines"]}
    assert lines[3]["outcome"] == "duplicate" and lines[3].get("matched_line") == 2, lines[3]
    assert lines[4]["outcome"] == "created" and lines[4]["match_kind"] in ("name_fuzzy", "name_partial"), lines[4]
    assert lines[5]["matched_kind"] == "borrower" and lines[5]["matched_id"] == hindi["id"], lines[5]
    assert lines[6]["matched_kind"] == "borrower" and lines[6]["matched_id"] == quote["id"], lines[6]
    assert body["matched"]["phone"] >= 2 and body["matched"]["pan"] == 1, body["matched"]
    # nothing half-imported: exactly the created leads are listed, the rejected ones nowhere
    listed = _all_leads(http, h)
    assert len(listed) == 6, [x["name"] for x in listed]
    assert not {"Broken Phone", "Bad Date", "Ravi Teja", "Ravi\nTeja"} & {x["name"] for x in listed}
    hostile = next(x for x in listed if x["phone"].endswith(p1))
    assert hostile["campaign_name"] == HOSTILE  # stored as given; the portal escapes, CSV exports neutralise
    page = http.get("/leads", headers=h)
    if page.status_code == 200:
        assert HOSTILE not in page.text and "<script" not in page.text.split("@SUM", 1)[0][-50:]
    organic = ok(http.get(f"{API}/leads", params={"organic": "true"}, headers=h))["items"]
    assert [x["name"] for x in organic] == ["@SUM(1+1)"] and organic[0]["campaign_name"] is None, organic
    # the funnel: a move answers the lead's new ETag; the old one is stale (409)
    url = f"{API}/leads/{hostile['id']}"
    tag = http.get(url, headers=h).headers["etag"]
    moved = http.post(f"{url}/status", json={"status": "contacted", "note": "called"}, headers={**h, "If-Match": tag})
    assert moved.status_code == 200 and moved.headers.get("etag") == f'"{moved.json()["version"]}"' != tag, (
        moved.headers
    )
    stale = http.post(f"{url}/status", json={"status": "applied", "note": "x"}, headers={**h, "If-Match": tag})
    assert stale.status_code == 409, stale.text
    ok(http.post(f"{url}/status", json={"status": "new", "note": "back"}, headers=h), 409)  # forward only
    # a second file: the first file's lead again (duplicate of an existing lead), and a new one
    p5 = phone("8")
    again = ok(_upload(http, h, FACEBOOK + f"11,2026-02-04T10:00:00+0530,{ad},Diwali,f1,Form,false,fb,M Krishnan,{p1},,\n"
                          f"12,2026-02-04T10:00:00+0530,{ad},Diwali,f1,Form,false,fb,Anil Kapoor,{p5},,\n"), 201)  # fmt: skip
    assert (again["created"], again["duplicates"]) == (1, 1), again
    google = GOOGLE + (
        f"g1,99,Brand Search,Group A,2026-02-05 10:00:00,Kavya Nair,+91{phone('8')},kavya@example.in,gclid1\n"
        f"g2,99,Brand Search,Group A,2026-02-05 11:00:00,Kavya Nair,{p5},,gclid2\n"  # duplicate of the Facebook lead
    )
    g = ok(_upload(http, h, google, "google.csv"), 201)
    assert g["source"] == "google" and (g["created"], g["duplicates"]) == (1, 1), g
    assert len(_all_leads(http, h, source="google")) == 1 and len(_all_leads(http, h, source="facebook")) == 7
    assert len(_all_leads(http, h, status="new")) == 7 and len(_all_leads(http, h, status="contacted")) == 1
    assert _all_leads(http, h, status="converted") == []
    assert http.get(f"{API}/leads", params={"status": "won"}, headers=h).status_code == 422
    assert _all_leads(http, other) == []
    # the lead reports count the imported leads: 7 paid, 1 organic, all new
    totals = {(r["pipeline"], r["status"]): r["leads"] for r in report_json(http, h, "lead-total-report")[0]}
    assert totals.get(("paid_lead", "new")) == 6 and totals.get(("paid_lead", "contacted")) == 1, totals
    assert totals.get(("organic_lead", "new")) == 1, totals
    mis, _ = report_json(http, h, "daily-marketing-mis-report")
    assert sum(r["imported_leads"] for r in mis) == 8 and sum(r["organic_leads"] for r in mis) == 1, mis


def check_rating_matrix(base: str, http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """GET/PUT with ETag/If-Match (stale 409); a credit executive's measured loans per week from what they did,
    the score and the overall with an admin's rating; another brand 404."""
    import calendar

    got = http.get(f"{API}/rating-matrix", headers=h)
    version = got.headers["etag"]
    criteria = [
        {
            "metric": "loans_processed_per_week",
            "label": "Loans / week",
            "weight": 70,
            "role": "credit_executive",
            "target": 2,
        },
        {
            "metric": "manual",
            "label": f"Attitude {uuid.uuid4().hex[:4]}",
            "weight": 30,
            "role": "credit_executive",
            "target": 10,
        },
    ]
    put = http.put(f"{API}/rating-matrix", json={"criteria": criteria}, headers={**h, "If-Match": version})
    assert put.status_code == 200, put.text
    assert http.put(f"{API}/rating-matrix", json={"criteria": criteria}, headers={**h, "If-Match": version}).status_code == 409  # fmt: skip
    assert http.get(f"{API}/rating-matrix", headers=h).headers["etag"] == put.headers["etag"] != version
    clerk = _staff(http, h, "credit_executive")
    ce = staff_session(base, clerk["email"], PASSWORD)
    try:
        loan = book["loans"]["at"]
        ok(ce.post(f"{API}/loans/{loan}/cx-approve", json={"approved_amount": "30000", "remarks": "salary fine"}))
    finally:
        ce.close()
    # The history is in the brand's months (docs/leads.md): the newest is its business date's month, not the wall
    # clock's. The approval was recorded now; the brand is held at the book's date, so it is counted in the month of
    # now's local day in the brand's timezone - which is the newest month once the business date is moved to today.
    history = ok(http.get(f"{API}/staff/{clerk['id']}/ratings", headers=h))
    assert history["periods"][0]["period"] == book["today"][:7], history["periods"][0]
    zone = ZoneInfo(ok(http.get(f"{API}/brand/config", headers=h))["settings"]["timezone"])
    now = datetime.now(zone)
    _business_date(http, h, now.date())
    try:
        weeks = Decimal(calendar.monthrange(now.year, now.month)[1]) / 7
        value = Decimal(1) / weeks
        score = max(1, min(10, round(10 * value / 2)))

        def current() -> dict[str, Any] | None:
            periods = ok(http.get(f"{API}/staff/{clerk['id']}/ratings", headers=h))["periods"]
            first = periods[0]
            measured = next(c for c in first["criteria"] if c["metric"] == "loans_processed_per_week")
            return first if measured.get("value") not in (None, "0", "0.00") else None

        period = eventually(current, "the measured activity")
        assert period["period"] == now.strftime("%Y-%m"), period
        measured = next(c for c in period["criteria"] if c["metric"] == "loans_processed_per_week")
        assert abs(Decimal(str(measured["value"])) - value) < Decimal("0.01") and measured["computed"] == score, measured  # fmt: skip
        rated = ok(http.post(f"{API}/staff/{clerk['id']}/ratings", json={"period": period["period"], "scores": {"manual": 8}}, headers=h), 201)  # fmt: skip
        overall = Decimal(rated["periods"][0]["overall"])
        assert overall == (Decimal(70 * score + 30 * 8) / 100).quantize(Decimal("0.01")), rated["periods"][0]
    finally:
        _business_date(http, h, date.fromisoformat(book["today"]))  # the walk goes on as of the book's date
    assert http.get(f"{API}/staff/{clerk['id']}/ratings", headers=other).status_code == 404


PHONE: Any = {"width": 390, "height": 844}
DESKTOP: Any = {"width": 1366, "height": 768}


def check_dashboard_figures(http: httpx.Client, h: Headers, book: dict[str, Any]) -> dict[str, Any]:
    """V1 and V2 figures recomputed from the loans API (docs/insight.md definitions)."""
    statuses = {k: _loan(http, h, v)["status"] for k, v in book["loans"].items()}
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V1"}, headers=h))
    v1 = ok(http.get(f"{API}/dashboard", headers=h))
    assert v1["version"] == "V1", v1
    paid_out = {"active", "partially_paid", "overdue", "completed", "settled", "written_off"}
    waiting = {"pending", "cx_approved", "sm_approved", "approved", "awaiting_disbursal"}
    loans = v1["loans"]
    assert loans["total"] == len(statuses), (loans, statuses)
    assert loans["disbursed"] == sum(s in paid_out for s in statuses.values()), (loans, statuses)
    assert loans["pending"] == sum(s in waiting for s in statuses.values()), (loans, statuses)
    assert loans["overdue"] == sum(s == "overdue" for s in statuses.values()), (loans, statuses)
    by_status = {k: v for k, v in loans["by_status"].items() if v} if isinstance(loans["by_status"], dict) else {r["status"]: r["count"] for r in loans["by_status"] if r["count"]}  # fmt: skip
    want: dict[str, int] = {}
    for s in statuses.values():
        want[s] = want.get(s, 0) + 1
    assert by_status == want, (by_status, want)
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V2"}, headers=h))
    v2 = ok(http.get(f"{API}/dashboard", headers=h))
    assert v2["version"] == "V2", v2
    collected = {d["date"] if "date" in d else d["day"]: d for d in v2["daily"]}
    repaid = Decimal(0)
    for k in ("quote", "newline"):
        repaid += sum((_money(p["amount"]) for p in ok(http.get(f"{API}/loans/{book['loans'][k]}/repayments", headers=h))["items"]), Decimal(0))  # fmt: skip
    day = collected.get(book["first_due"])
    assert day is not None and _money(day["collected_amount"]) == repaid and day["collected_count"] == 2, (day, repaid)
    buckets = {b["bucket"]: b["loans"] for b in v2["dpd_buckets"] if b["loans"]}
    assert buckets == {"current": 1, "1-30": 1}, v2["dpd_buckets"]
    serviced_principal = sum((_money(b["amount"]) for b in v2["dpd_buckets"]), Decimal(0))
    assert serviced_principal == Decimal("120000"), v2["dpd_buckets"]
    recovery = v2["recovery"]
    assert recovery["fell_overdue"] == 2 and recovery["recovered"] == 0, recovery  # hindi, and hostile (written off)
    # Each step counts on the business day its event carries (creation, submission, CX approval, sanction: D0;
    # disbursals: their day; the rating matrix's check CX-approved the pending loan on the book's later business
    # date), whatever day it was recorded (docs/insight.md).
    details = [_loan(http, h, v) for v in book["loans"].values()]
    start = v2["window_start"]
    submitted = sum(1 for d in details if d.get("submitted_on") and d["submitted_on"] >= start)
    paid_out_in = sum(1 for d in details if d.get("disbursed_on") and d["disbursed_on"] >= start)
    d0_in = D0.isoformat() >= start
    later_approval = 1 if book["today"] >= start else 0
    funnel = {f["stage"]: f["loans"] for f in v2["funnel"]}
    assert funnel.get("submitted") == submitted and funnel.get("disbursed") == paid_out_in, (funnel, submitted)
    assert (funnel.get("created"), funnel.get("credit approved"), funnel.get("sanctioned")) == (
        (7, 5 + later_approval, 5) if d0_in else (0, later_approval, 0)
    ), funnel
    tat = {t["stage"]: t["loans"] for t in v2["tat"]}
    assert tat == {"application": submitted, "credit review": funnel["credit approved"],
                   "sanction": funnel["sanctioned"], "disbursal": paid_out_in}, v2["tat"]  # fmt: skip
    month = v2["as_of"][:7]
    targets = {month: {"disbursal_amount": "0", "disbursal_count": 0, "collections": "100000"}}
    ok(http.patch(f"{API}/brand/config", json={"monthly_targets": targets}, headers=h))
    lines = {x["metric"]: x for x in ok(http.get(f"{API}/dashboard", headers=h))["targets"]["lines"]}
    in_month = repaid if book["first_due"][:7] == month else Decimal(0)
    assert _money(lines["collections"]["actual"]) == in_month, lines
    assert _money(lines["collections"]["achieved"]) == (in_month / 1000).quantize(Decimal("0.01")), lines
    return dict(v2)


def check_dashboards_in_browser(base: str, http: httpx.Client, h: Headers, v2: dict[str, Any]) -> None:
    """V1 then V2 in headless Chromium at phone and desktop widths: figures as the API's, charts drawn, nothing
    wider than the screen. On a thread of its own: under pytest the session's browser (Playwright's sync API)
    keeps an event loop on the main thread, where a second sync_playwright() refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(_dashboards_in_browser, base, http, h, v2).result()


def _dashboards_in_browser(base: str, http: httpx.Client, h: Headers, v2: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM

    admin = _staff(http, h, "admin")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            for version in ("V1", "V2"):
                ok(http.patch(f"{API}/brand/config", json={"dashboard_version": version}, headers=h))
                figures = ok(http.get(f"{API}/dashboard", headers=h))
                for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                    page = chromium.new_context(viewport=viewport).new_page()
                    page.goto(f"{base}/login")
                    page.fill("input[name=email]", admin["email"])
                    page.fill("input[name=password]", PASSWORD)
                    page.click("button[type=submit]")
                    page.goto(f"{base}/dashboard")
                    assert page.locator(f"#dashboard-{version.lower()}").is_visible(), (version, name)
                    if version == "V1":
                        for kpi in ("total", "disbursed", "pending", "overdue"):
                            shown = page.locator(f"#kpi-{kpi} .figure").inner_text().replace(",", "")
                            assert shown == str(figures["loans"][kpi]), (kpi, shown, figures["loans"])
                    else:
                        charts = page.locator("svg.chart").all()
                        assert len(charts) >= 4, (name, len(charts))
                        for chart in charts:
                            box = chart.bounding_box()
                            assert box is not None and box["width"] <= viewport["width"] and box["height"] > 40
                        text = " ".join(page.locator("body").inner_text().split())
                        recovery = figures["recovery"]
                        assert f"{recovery['recovered']} of {recovery['fell_overdue']} fallen overdue" in text, text[
                            :500
                        ]
                        for day in figures["daily"]:  # the day table: the API's collections (below a lakh here)
                            if _money(day["collected_amount"]):
                                assert f"{_money(day['collected_amount']):,.2f}" in text, day
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    assert wide <= viewport["width"], (version, name, wide)
                    page.context.close()
        finally:
            chromium.close()


def run_all(base: str, http: httpx.Client, h: Headers, other: Headers, report: Callable[[str], None] = print) -> None:
    """The whole walk on brand A (`h`, its business date moved) and brand B (`other`)."""
    started = time.monotonic()
    book = build_book(http, h, other)
    service_book(http, h, book)
    report(f"book built ({time.monotonic() - started:.1f} s)")
    reports = check_reports(http, h, book)
    report(f"33 reports: JSON paged = CSV, totals, figures recomputed ({time.monotonic() - started:.1f} s)")
    check_brands_roles_email(base, http, h, other, book, reports)
    report("brands, roles, the emailed report")
    check_search(base, http, h, other, book)
    report("global search")
    check_leads(http, h, other, book)
    report("leads")
    check_rating_matrix(base, http, h, other, book)
    report("rating matrix")
    v2 = check_dashboard_figures(http, h, book)
    check_dashboards_in_browser(base, http, h, v2)
    report(f"dashboards V1/V2, API and browser ({time.monotonic() - started:.1f} s)")


def test_insight_black_box(server: str, platform: Any, provider_simulators: dict[str, Any], mail_sink: Any, monkeypatch: Any) -> None:  # fmt: skip
    """The walk against the session's live server (uvicorn) on two fresh brands."""
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)  # providers call us back at the test server
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def drain(check_queue: bool) -> None:
        worker.drain(check_queue=check_queue)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    module = sys.modules[__name__]
    monkeypatch.setattr(module, "DRAIN", [drain])
    monkeypatch.setattr(module, "RUN_JOB", [lambda run_id: scheduler_for(platform).execute(run_id)])
    monkeypatch.setattr(module, "MAILS", [lambda: mail_sink.messages])
    a, b = make_tenant(platform), make_tenant(platform)
    with httpx.Client(base_url=server, timeout=60) as http:
        run_all(server, http, a.auth, b.auth, report=lambda _: None)


if __name__ == "__main__":
    import email
    import os
    from email import policy
    from pathlib import Path

    base, key, other_key = sys.argv[1], sys.argv[2], sys.argv[3]
    folder = Path(os.environ.get("MAIL_DIR", "var/mail"))  # the server's SMTP sink folder, when it is local
    if folder.is_dir():
        MAILS.append(lambda: [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")])  # fmt: skip
    with httpx.Client(base_url=base, timeout=60) as live:
        run_all(base, live, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other_key}"})
    print("PASS all")
