"""Issue #18's edges that `test_insight_blackbox.py` leaves out, walked black-box through HTTP only (an adversarial
second look): loans in unusual states (closed early by a payoff, a payoff charged back that re-opens the loan) with
the reports' and the dashboard's figures recomputed; formula-looking, RTL and emoji text in every text cell of every
report CSV and of the other exports (payout and beneficiary XLSX read as raw sheet XML, completed loans, a loan's
history and ledger, the audit history); a staff member with a formula-looking name; From/To on an instant-dated
report in a brand timezone whose day differs from UTC's; another brand's staff on the portal's export and search
pages and the API's downloads; a lead CSV with a BOM, CRLF, semicolons, a duplicated header, blank rows and hostile
cells, and a 10,000-row file; the dashboards V1 and V2 in Chromium at 375 and 1280 px with no sideways overflow and
no console error."""

from __future__ import annotations

import csv
import io
import re
import sys
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e import test_insight_blackbox as walk
from tests.e2e.blackbox import API, Headers, eventually, ok, phone, staff_session, written

FORMULA = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?")  # a negative amount is a number, not a formula
EVIL = '=HYPERLINK("http://evil.example","pay")'
D0 = date(2026, 3, 2)


def _csv(answer: httpx.Response) -> list[list[str]]:
    """Rows of a CSV answer read by python's csv module (UTF-8, an optional BOM)."""
    assert answer.status_code == 200, (str(answer.request.url), answer.status_code, answer.text[:300])
    text = answer.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _no_formula(where: str, rows: list[list[str]], text_columns: set[str] | None = None) -> int:
    """Every cell (or every cell of `text_columns`) of a CSV reads as text in a spreadsheet; the cells checked."""
    header, seen = rows[0], 0
    for row in rows[1:]:
        for name, cell in zip(header, row, strict=True):
            if text_columns is None or name in text_columns:
                assert not cell.startswith(FORMULA) or NUMBER.fullmatch(cell), (where, name, cell)
                seen += 1
    return seen


def _zone_on_another_day() -> tuple[str, date]:
    """A fixed-offset zone whose date now is not UTC's (the hour farthest from its midnight), and that date."""
    now = datetime.now(UTC)
    best: tuple[float, str, date] | None = None
    for offset in range(-12, 15):
        local = now + timedelta(hours=offset)
        if local.date() == now.date():
            continue
        hours = local.hour + local.minute / 60
        margin = min(hours, 24 - hours)
        name = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
        if best is None or margin > best[0]:
            best = (margin, name, local.date())
    assert best is not None
    return best[1], best[2]


def _xlsx_sheets(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as parts:
        return [parts.read(n).decode() for n in parts.namelist() if n.startswith("xl/worksheets/")]


def build(http: httpx.Client, h: Headers) -> dict[str, Any]:
    """Brand A: `evil` sanctioned and put in a payout file; `early` paid off three days after disbursal (closed
    early); `bounce` paid off the same day and the payment charged back (the loan re-opens)."""
    walk._business_date(http, h, D0)
    product = walk._product(http, h)
    people = {
        "evil": walk._borrower(http, h, EVIL),
        "early": walk._borrower(http, h, '@Early, "Payer"\nशर्मा'),
        "bounce": walk._borrower(http, h, "-Bounce 😀 שלום"),
    }
    for key, person in people.items():
        assert person is not None, key
    loans = {k: walk._apply(http, h, p["id"], product, "30000") for k, p in people.items()}  # type: ignore[index]
    for loan in loans.values():
        walk._sanction(http, h, loan, "30000")
    for key in ("early", "bounce"):
        walk._disburse(http, h, loans[key])
    paid_on = D0 + timedelta(days=3)
    walk._business_date(http, h, paid_on)
    payments = {}
    for key in ("early", "bounce"):
        total = ok(http.get(f"{API}/loans/{loans[key]}/payoff", headers=h))["total"]
        payments[key] = walk._pay(http, h, loans[key], total, paid_on)
        assert payments[key]["closes_loan"], payments[key]
    reversal = {"reason": "cheque bounced at the bank"}
    ok(http.post(f"{API}/loans/{loans['bounce']}/repayments/{payments['bounce']['id']}/reverse", json=reversal, headers=h))  # fmt: skip
    eventually(lambda: walk._loan(http, h, loans["bounce"])["status"] not in ("completed",), "the chargeback")
    return {"people": people, "loans": loans, "payments": payments, "paid_on": paid_on, "product": product}


def check_payout_files(http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """The payout and beneficiary files of a borrower named `=HYPERLINK(...)`: no formula in any sheet (read as the
    workbook's own XML), the name itself present; another brand's download 404."""
    made = ok(http.post(f"{API}/payout-files", json={"loan_ids": [book["loans"]["evil"]]}, headers=h), 201)
    for url in (made["download_url"], made["beneficiary_download_url"]):
        answer = http.get(url, headers=h)
        assert answer.status_code == 200, (url, answer.text[:200])
        sheets = _xlsx_sheets(answer.content)
        assert sheets and not any("<f>" in x or "<f " in x for x in sheets), (url, [x[-600:] for x in sheets])
        escaped = EVIL.replace('"', "&quot;")
        assert any(EVIL in x or escaped in x for x in sheets), url
        assert http.get(url, headers=other).status_code == 404


def check_reports(http: httpx.Client, h: Headers, book: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every report: CSV rows = JSON rows, every text cell neutralised; then the unusual loans' figures."""
    catalogue = ok(http.get(f"{API}/reports", headers=h))["items"]
    everything: dict[str, list[dict[str, Any]]] = {}
    checked = 0
    for entry in catalogue:
        slug = entry["slug"]
        rows, totals = walk.report_json(http, h, slug)
        table = _csv(http.get(f"{API}/reports/{slug}.csv", headers=h))
        assert table[0] == [c["name"] for c in entry["columns"]] and len(table) - 1 == len(rows), slug
        checked += _no_formula(slug, table, {c["name"] for c in entry["columns"] if c["kind"] == "text"})
        for column in entry["columns"]:
            if column["kind"] == "number" and column["name"] not in ("recovery_rate", "efficiency", "share"):
                if rows and any(r[column["name"]] for r in rows):
                    assert walk._money(totals[column["name"]]) == walk._sum(rows, column["name"]), (slug, column)
        everything[slug] = rows
    assert checked > 100, checked
    loans = {k: walk._loan(http, h, v) for k, v in book["loans"].items()}
    number = {k: v["loan_number"] for k, v in loans.items()}
    assert loans["early"]["status"] == "completed" and loans["bounce"]["status"] in ("active", "partially_paid"), loans
    by = {slug: {r.get("loan_number"): r for r in rows} for slug, rows in everything.items()}
    close = by["loan-close-report"]
    assert set(close) == {number["early"]}, list(close)
    assert close[number["early"]]["closed_on"] == book["paid_on"].isoformat(), close
    assert walk._money(close[number["early"]]["repaid"]) == walk._money(book["payments"]["early"]["amount"])
    assert not set(by["completed-loan-with-no-repet-report"]) & set(number.values())
    collection = by["collection-loan-report"]
    bounce, early = collection[number["bounce"]], collection[number["early"]]
    scheduled = sum((walk._money(i["amount"]) for i in loans["bounce"]["schedule"]), Decimal(0))
    assert walk._money(bounce["repaid"]) == 0 and bounce["payments"] == 0, bounce
    assert walk._money(bounce["outstanding_total"]) == scheduled, (bounce, scheduled)
    assert walk._money(early["outstanding_total"]) == 0 and early["payments"] == 1, early
    assert walk._money(early["repaid"]) == walk._money(book["payments"]["early"]["amount"]), early
    due = [r for r in everything["collection-due-report"] if r["loan_number"] == number["bounce"]]
    assert due and all(walk._money(r["paid_amount"]) == 0 for r in due), due
    assert {r["loan_number"]: r["status"] for r in everything["disbursed-loan-report"]} == {
        number[k]: loans[k]["status"] for k in ("early", "bounce")
    }
    return everything


def check_dashboard(http: httpx.Client, h: Headers, book: dict[str, Any]) -> None:
    """V2's collections count the payoff that stands, not the one charged back; V1 counts the statuses."""
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V2"}, headers=h))
    v2 = ok(http.get(f"{API}/dashboard", headers=h))
    days = {d.get("date", d.get("day")): d for d in v2["daily"]}
    day = days[book["paid_on"].isoformat()]
    assert day["collected_count"] == 1, day
    assert walk._money(day["collected_amount"]) == walk._money(book["payments"]["early"]["amount"]), day
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V1"}, headers=h))
    v1 = ok(http.get(f"{API}/dashboard", headers=h))["loans"]
    statuses = [walk._loan(http, h, v)["status"] for v in book["loans"].values()]
    by_status = v1["by_status"] if isinstance(v1["by_status"], dict) else {r["status"]: r["count"] for r in v1["by_status"]}  # fmt: skip
    assert {k: n for k, n in by_status.items() if n} == {s: statuses.count(s) for s in set(statuses)}, by_status


def check_other_exports(base: str, http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """A loan's history and ledger, the audit history of a borrower, the completed loans page's CSV: no cell a
    spreadsheet runs; another brand 404s them all."""
    early, evil = book["loans"]["early"], book["people"]["evil"]["id"]
    for url in (f"{API}/loans/{early}/history.csv", f"{API}/loans/{early}/ledger.csv"):
        _no_formula(url, _csv(http.get(url, headers=h)))
        assert http.get(url, headers=other).status_code == 404, url
    audit = f"{API}/audit/customer/{evil}/history"
    _no_formula(audit, _csv(http.get(audit, params={"format": "csv"}, headers=h)))
    assert http.get(audit, params={"format": "csv"}, headers=other).status_code == 404
    admin = walk._staff(http, h, "admin")
    session = staff_session(base, admin["email"], walk.PASSWORD)
    try:
        rows = _csv(session.get("/completed-loans.csv", params={"tab": "all"}))
        numbers = {r[0] for r in rows[1:]}
        assert walk._loan(http, h, early)["loan_number"] in numbers, rows
        _no_formula("completed-loans.csv", rows)
    finally:
        session.close()


def check_other_brand_pages(base: str, http: httpx.Client, h: Headers, other: Headers, book: dict[str, Any]) -> None:
    """Brand B's admin on the portal: the reports export (every report), the search page and the suggestions
    hold none of brand A's people or loans; a sales member without MASTER_REPORTS is refused the export."""
    theirs = walk._staff(http, other, "admin")
    numbers = [walk._loan(http, h, v)["loan_number"] for v in book["loans"].values()]
    people = book["people"].values()
    session = staff_session(base, theirs["email"], walk.PASSWORD)
    try:
        for entry in ok(http.get(f"{API}/reports", headers=other))["items"]:
            answer = session.get("/reports/export.csv", params={"report": entry["slug"]})
            assert answer.status_code == 200, (entry["slug"], answer.status_code)
            text = answer.content.decode("utf-8-sig")
            leaked = [x for x in (*numbers, *(p["phone"] for p in people), *(p["pan"] for p in people), "HYPERLINK", "שלום") if x in text]  # fmt: skip
            assert not leaked, (entry["slug"], leaked)
        for person in people:
            for q in (person["phone"], person["pan"], person["email"], "Bounce", "Payer"):
                found = ok(session.get(f"{API}/search", params={"q": q}))
                assert not any(found.values()), (q, found)
                page = session.get("/search", params={"find": q})
                assert page.status_code == 200 and person["id"] not in page.text, q
        for n in numbers:
            assert not any(ok(session.get(f"{API}/search", params={"q": n})).values()), n
    finally:
        session.close()
    seller = walk._staff(http, h, "sales")
    sales = staff_session(base, seller["email"], walk.PASSWORD)
    try:
        assert sales.get("/reports/export.csv", params={"report": "master-report"}).status_code == 403
        assert sales.get(f"{API}/reports/lead-total-report.csv").status_code == 403
    finally:
        sales.close()


def check_agent_and_timezone(base: str, http: httpx.Client, h: Headers, book: dict[str, Any], zone: str, local: date) -> None:  # fmt: skip
    """A collector named `=Agent` logs a contact whose remarks start with `+`: the agent and remarks cells of the
    reports are neutralised. The contact and a borrower registered now fall on the brand's local day (a zone whose
    date is not UTC's): From/To that day lists them, UTC's day does not."""
    agent = walk._staff(http, h, "admin", name="=Agent Smith")
    session = staff_session(base, agent["email"], walk.PASSWORD)
    try:
        remarks = '+called twice, "later"\r\n@noon'
        ok(session.post(f"{API}/loans/{book['loans']['bounce']}/contacts", json={"outcome": "connected", "remarks": remarks}), 201)  # fmt: skip
    finally:
        session.close()
    fresh = walk._borrower(http, h, "Midnight Rao")
    assert fresh is not None
    utc_day = datetime.now(UTC).date()
    assert utc_day != local
    for slug, key, want in (("collection-remarks-report", "remarks", remarks), ("master-report", "name", None)):
        mine = {"from": local.isoformat(), "to": local.isoformat()}
        utc = {"from": utc_day.isoformat(), "to": utc_day.isoformat()}

        def listed(s: str = slug, m: dict[str, str] = mine) -> list[dict[str, Any]]:
            return walk.report_json(http, h, s, **m)[0]

        rows = eventually(listed, f"{slug} of the local day")
        if want is not None:
            assert [r[key] for r in rows] == [want], rows
            table = _csv(http.get(f"{API}/reports/{slug}.csv", params=mine, headers=h))
            header = table[0]
            cells = dict(zip(header, table[1], strict=True))
            assert cells[key] == "'" + want and cells["agent"] == "'=Agent Smith", cells
        else:
            assert fresh["id"] in {str(r.get("customer_id") or r.get("id")) for r in rows} or "Midnight Rao" in {r.get(key) for r in rows}, rows  # fmt: skip
        assert walk.report_json(http, h, slug, **utc)[0] == [], (slug, utc)


def check_lead_files(http: httpx.Client, h: Headers) -> None:
    """An Excel-style file (BOM, CRLF, semicolons, the phone column twice, blank rows, hostile and RTL/emoji cells)
    and a 10,000-row file; the lead reports' CSV cells neutralised."""
    header = ("id;created_time;ad_id;ad_name;adset_id;adset_name;campaign_id;campaign_name;form_id;form_name;"
              "is_organic;platform;full_name;phone_number;email;phone_number")  # fmt: skip
    p1, p2, p3 = phone("6"), phone("6"), phone("6")
    rows = [
        header,
        f'1;2026-02-01T10:00:00+0530;a1;Ad;s1;Set;c1;"=HYPERLINK(""http://x"",""y"")";f1;Form;false;fb;Amit; Shah;;{p1}',  # 2: 17 cells
        f'2;2026-02-01T10:00:00+0530;a1;Ad;s1;Set;c1;"=HYPERLINK(""http://x"",""y"")";f1;Form;false;fb;"Amit; Shah";;;{p1}',  # 3
        "",  # 4: blank
        ";;;;;;;;;;;;;;;",  # 5: only separators
        f"3;2026-02-01T11:00:00+0530;a1;Ad;s1;Set;c1;+Diwali;f1;Form;false;ig;נועה 😀 Levi;{p2};;",  # 6
        f"4;2026-02-01T12:00:00+0530;a1;Ad;s1;Set;c1;-Diwali;f1;Form;false;ig;@Ravi Kumar;{p2};;",  # 7: dup phone
        f"5;2026-02-01T12:00:00+0530;a1;Ad;s1;Set;c1;Diwali;f1;Form;false;ig;Zero Width\u202eevil;{p3};;",  # 8: bidi
        "",
    ]
    data = "\ufeff" + "\r\n".join(rows)
    answer = http.post(f"{API}/leads/imports", files={"file": ("excel.csv", data.encode("utf-8"), "text/csv")}, headers=h)  # fmt: skip
    body = written(http, answer, h)
    assert body["source"] == "facebook" and body["rows"] == 5, body
    assert {r["line"] for r in body["rejected"]} == {2, 8}, body["rejected"]
    assert (body["created"], body["duplicates"]) == (2, 1), body
    lines = {x["line"]: x for x in body["lines"]}
    assert lines[7]["outcome"] == "duplicate" and lines[7].get("matched_line") == 6, lines[7]
    listed = {x["phone"][-10:]: x for x in ok(http.get(f"{API}/leads", params={"limit": 50}, headers=h))["items"]}
    assert (
        listed[p1[-10:]]["name"] == "Amit; Shah" and listed[p1[-10:]]["campaign_name"] == '=HYPERLINK("http://x","y")'
    )
    assert listed[p2[-10:]]["name"] == "נועה 😀 Levi" and listed[p2[-10:]]["campaign_name"] == "+Diwali"
    # 10,000 rows, every one new
    big = io.StringIO()
    big.write(walk.FACEBOOK)
    stem = uuid.uuid4().int % 10**4
    for n in range(10_000):
        big.write(f"b{n},2026-02-02T10:00:00+0530,a1,Ad,s1,Set,c1,Bulk,f1,Form,false,fb,Bulk Lead {n},7{stem:04d}{n:05d},,\n")  # fmt: skip
    answer = http.post(f"{API}/leads/imports", files={"file": ("big.csv", big.getvalue().encode(), "text/csv")}, headers=h, timeout=120)  # fmt: skip
    made = written(http, answer, h)  # a 202's poll finds the import once its leads are in the read model too
    assert (made["rows"], made["created"], made["rejected"]) == (10_000, 10_000, []), {k: made[k] for k in ("rows", "created", "duplicates")}  # fmt: skip
    for slug in ("lead-total-report", "daily-marketing-mis-report", "marketing-report"):
        entry = ok(http.get(f"{API}/reports", headers=h))["items"]
        texts = {c["name"] for e in entry if e["slug"] == slug for c in e["columns"] if c["kind"] == "text"}
        _no_formula(slug, _csv(http.get(f"{API}/reports/{slug}.csv", headers=h)), texts)
    totals = {(r["pipeline"], r["status"]): r["leads"] for r in walk.report_json(http, h, "lead-total-report")[0]}
    assert totals.get(("paid_lead", "new")) == 10_002, totals


PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


def check_dashboards_in_browser(base: str, browser: Any, http: httpx.Client, h: Headers) -> None:
    """V1 and V2 at 375 and 1280 px: no console error, no page error, nothing wider than the screen."""
    admin = walk._staff(http, h, "admin")
    for version in ("V1", "V2"):
        ok(http.patch(f"{API}/brand/config", json={"dashboard_version": version}, headers=h))
        for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            context = browser.new_context(viewport=viewport)
            page = context.new_page()
            problems: list[str] = []
            page.on("console", lambda m, p=problems: p.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, p=problems: p.append(str(e)))
            page.goto(f"{base}/login")
            page.fill("input[name=email]", admin["email"])
            page.fill("input[name=password]", walk.PASSWORD)
            page.click("button[type=submit]")
            page.goto(f"{base}/dashboard")
            page.wait_for_load_state("networkidle")
            assert page.locator(f"#dashboard-{version.lower()}").is_visible(), (version, name)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= viewport["width"], (version, name, wide)
            page.type("#global-search-input", "Bou", delay=20)  # the suggestions' script runs too
            page.locator("#global-search-results a").first.wait_for()
            assert not problems, (version, name, problems)
            context.close()


def test_insight_edges_black_box(
    server: str, platform: Any, provider_simulators: dict[str, Any], mail_sink: Any, monkeypatch: Any, browser: Any
) -> None:
    """The edges against the session's live server on two fresh brands."""
    from domain.loans.application import Loans
    from tests.conftest import PROVIDER_WEBHOOK_SECRET, make_tenant
    from tests.support import settle
    from workers.agreement_jobs import AgreementJobPort, AgreementWorker
    from workers.runtime import scheduler_for

    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    worker = AgreementWorker(platform.port(AgreementJobPort))

    def drain(check_queue: bool) -> None:
        worker.drain(check_queue=check_queue)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())

    monkeypatch.setattr(walk, "DRAIN", [drain])
    monkeypatch.setattr(walk, "RUN_JOB", [lambda run_id: scheduler_for(platform).execute(run_id)])
    a, b = make_tenant(platform), make_tenant(platform)
    h, other = a.auth, b.auth
    zone, local = _zone_on_another_day()
    with httpx.Client(base_url=server, timeout=60) as http:
        ok(http.patch(f"{API}/brand/config", json={"timezone": zone}, headers=h))
        book = build(http, h)
        check_payout_files(http, h, other, book)
        check_agent_and_timezone(server, http, h, book, zone, local)
        check_reports(http, h, book)
        check_dashboard(http, h, book)
        check_other_exports(server, http, h, other, book)
        check_other_brand_pages(server, http, h, other, book)
        check_lead_files(http, h)
        check_dashboards_in_browser(server, browser, http, h)


if __name__ == "__main__":  # pragma: no cover - the pytest run is the supported one
    sys.exit("run under pytest: tests/e2e/test_insight_edges_blackbox.py")
