"""Issue #18's reports and dashboards for loans that end other than by a payoff, walked black-box through HTTP only:
a book on a fresh brand with a loan **settled** (proposed by a collection head, approved by another, then paid), two
**written off** (one directly, one proposed and approved) with **recoveries** after (one part, one in full, by an
approved collection), one with its **penal charges waived** (asked and approved) then its instalment paid, and one
with a **partial collection** approved. Every report row and total that should include or exclude them, the
completed-loans page's export and the dashboards V1/V2 are recomputed from what the walk did (LENDING.md,
docs/recoveries.md), not from the report SQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.e2e import test_insight_blackbox as walk
from tests.e2e.blackbox import API, Headers, eventually, ok, staff_session

D0 = date(2026, 4, 6)
KEYS = ("settled", "wo_part", "wo_full", "waived", "partial")
SERVICED = ("active", "partially_paid", "overdue")
ZERO = Decimal(0)


def _ref() -> str:
    return f"REF-{uuid.uuid4().hex[:10]}"


def _collection(s: httpx.Client, loan: str, amount: Decimal, on: date) -> str:
    body = {"amount": str(amount), "mode": "cash", "reference": _ref(), "collected_on": on.isoformat()}
    made = ok(s.post(f"{API}/loans/{loan}/collection-requests", json=body), 201)
    assert made["status"] == "pending_approval", made
    return str(made["id"])


def build(base: str, http: httpx.Client, h: Headers) -> dict[str, Any]:
    """The book (amounts in the docstring of the module); what each step did is kept to recompute the reports."""
    walk._business_date(http, h, D0)
    product = walk._product(http, h)
    loans: dict[str, str] = {}
    for key in KEYS:
        person = walk._borrower(http, h, f"Recovery {key.title()} Rao")
        assert person is not None
        loans[key] = walk._apply(http, h, person["id"], product, "30000")
        walk._sanction(http, h, loans[key], "30000")
        walk._disburse(http, h, loans[key])
    head = walk._staff(http, h, "collection_head")
    s = staff_session(base, head["email"], walk.PASSWORD)
    book: dict[str, Any] = {"loans": loans, "money": {k: [] for k in KEYS}, "waived": ZERO}
    money: dict[str, list[tuple[date, Decimal, str]]] = book["money"]  # (day, amount, kind)
    try:
        schedule = walk._loan(http, h, loans["partial"])["schedule"]
        first_due = date.fromisoformat(schedule[0]["due_date"])
        emi = Decimal(schedule[0]["amount"])
        book.update(first_due=first_due, emi=emi)
        # first due date: a partial collection (asked by the head, approved by the admin key); a part payment
        walk._business_date(http, h, first_due)
        half = (emi / 2).quantize(Decimal("0.01"))
        rid = _collection(s, loans["partial"], half, first_due)
        refused = s.post(f"{API}/collection-requests/{rid}/approve")
        assert refused.status_code == 409 and "second_approver" in refused.text, refused.text
        ok(http.post(f"{API}/collection-requests/{rid}/approve", headers=h))
        money["partial"].append((first_due, half, "collection"))
        walk._pay(http, h, loans["settled"], str(half), first_due)
        money["settled"].append((first_due, half, "repayment"))
        # ten days overdue: penal charges accrue
        walk._cob(http, h, first_due + timedelta(days=10))
        t = first_due + timedelta(days=11)
        book["t"] = t
        for key in KEYS:
            eventually(lambda k=key: walk._loan(http, h, loans[k])["status"] == "overdue", f"{key} overdue")
        # the waiver: every penal charge outstanding, asked by the head, approved by the admin key; then the EMI
        payoff = ok(http.get(f"{API}/loans/{loans['waived']}/payoff", headers=h))
        penal = Decimal(payoff["overdue_penal"])
        assert penal > 0, payoff
        waiver = ok(s.post(f"{API}/loans/{loans['waived']}/waivers", json={"amount": str(penal), "justification": "hospitalised, paid since"}), 201)  # fmt: skip
        ok(http.post(f"{API}/waivers/{waiver['id']}/approve", headers=h))
        book["waived"] = penal
        after = ok(http.get(f"{API}/loans/{loans['waived']}/payoff", headers=h))
        assert Decimal(after["overdue_penal"]) == 0 and Decimal(after["overdue_principal"]) + Decimal(after["overdue_interest"]) == emi, after  # fmt: skip
        walk._pay(http, h, loans["waived"], str(emi), t)
        money["waived"].append((t, emi, "repayment"))
        # the settlement: proposed by the head below the payoff, approved by the admin key, then paid
        owed = Decimal(ok(http.get(f"{API}/loans/{loans['settled']}/payoff", headers=h))["total"])
        amount = Decimal("20000.00")
        assert amount < owed
        proposal = ok(s.post(f"{API}/loans/{loans['settled']}/settlements", json={"amount": str(amount), "remarks": "one-time settlement"}), 201)  # fmt: skip
        assert s.post(f"{API}/settlements/{proposal['id']}/approve").status_code == 409
        ok(http.post(f"{API}/settlements/{proposal['id']}/approve", headers=h))
        paid = walk._pay(http, h, loans["settled"], str(amount), t)
        money["settled"].append((t, amount, "repayment"))
        book.update(settlement=amount, settled_payoff=owed)
        assert walk._loan(http, h, loans["settled"])["status"] == "settled", paid
        # write-offs: one directly, one proposed by the head and approved by the admin key
        ok(http.post(f"{API}/loans/{loans['wo_part']}/write-off", json={"reason": "absconding borrower"}, headers=h))
        proposed = ok(s.post(f"{API}/loans/{loans['wo_full']}/write-offs", json={"reason": "no contact for months"}), 201)  # fmt: skip
        ok(http.post(f"{API}/write-offs/{proposed['id']}/approve", headers=h))
        written: dict[str, Decimal] = {}
        for key in ("wo_part", "wo_full"):
            loan = walk._loan(http, h, loans[key])
            assert loan["status"] == "written_off", loan
            ending = [e for e in ok(http.get(f"{API}/loans/{loans[key]}/ledger", headers=h))["items"] if e["kind"] == "write_off"]  # fmt: skip
            written[key] = abs(
                sum((Decimal(e["principal"]) + Decimal(e["interest"]) + Decimal(e["penal"]) for e in ending), ZERO)
            )
        book["written"] = written
        # recoveries: a part by Ops a day later, the rest of the other by an approved collection two days later
        walk._business_date(http, h, t + timedelta(days=2))
        part = Decimal("5000.00")
        walk._pay(http, h, loans["wo_part"], str(part), t + timedelta(days=1))
        money["wo_part"].append((t + timedelta(days=1), part, "recovery"))
        rid = _collection(s, loans["wo_full"], written["wo_full"], t + timedelta(days=2))
        ok(http.post(f"{API}/collection-requests/{rid}/approve", headers=h))
        money["wo_full"].append((t + timedelta(days=2), written["wo_full"], "recovery"))
    finally:
        s.close()
    book["today"] = t + timedelta(days=2)
    return book


def _allocated(http: httpx.Client, h: Headers, loan: str) -> tuple[Decimal, Decimal, Decimal]:
    """Principal, interest and penal the loan's standing payments paid (their allocations as recorded)."""
    items = ok(http.get(f"{API}/loans/{loan}/repayments", headers=h))["items"]
    parts = [a for p in items if not p.get("reversed_on") for a in p["allocation"]]
    return tuple(sum((Decimal(a[x]) for a in parts), ZERO) for x in ("principal", "interest", "penal"))  # type: ignore[return-value]


def check_reports(http: httpx.Client, h: Headers, book: dict[str, Any]) -> None:
    """Each report against the book: who is listed, with what money; totals the rows' sums."""
    loans = {k: walk._loan(http, h, v) for k, v in book["loans"].items()}
    number = {k: v["loan_number"] for k, v in loans.items()}
    key = {v: k for k, v in number.items()}
    want_status = {"settled": "settled", "wo_part": "written_off", "wo_full": "written_off", "waived": "active", "partial": "overdue"}  # fmt: skip
    assert {k: v["status"] for k, v in loans.items()} == want_status, loans
    money: dict[str, list[tuple[date, Decimal, str]]] = book["money"]
    received = {k: sum((m[1] for m in v), ZERO) for k, v in money.items()}
    # the loans API agrees with what the walk did: money received, labelled by kind; no waiver among it
    for k, v in book["loans"].items():
        items = ok(http.get(f"{API}/loans/{v}/repayments", headers=h))["items"]
        assert sorted((date.fromisoformat(p["paid_on"]), Decimal(p["amount"]), p["kind"]) for p in items) == sorted(money[k]), (k, items)  # fmt: skip
    reports: dict[str, list[dict[str, Any]]] = {}
    for entry in ok(http.get(f"{API}/reports", headers=h))["items"]:
        rows, totals = walk.report_json(http, h, entry["slug"])
        for column in entry["columns"]:
            if column["kind"] == "number" and column["name"] not in ("recovery_rate", "efficiency", "share", "latitude", "longitude"):  # fmt: skip
                if rows:
                    assert walk._money(totals.get(column["name"])) == walk._sum(rows, column["name"]), (entry["slug"], column["name"])  # fmt: skip
        reports[entry["slug"]] = rows

    def by_loan(slug: str) -> dict[str, dict[str, Any]]:
        return {key[r["loan_number"]]: r for r in reports[slug]}

    serviced = {k for k, s in want_status.items() if s in SERVICED}
    # every loan was paid out; the ended ones keep their end status
    assert {k: r["status"] for k, r in by_loan("disbursed-loan-report").items()} == want_status
    # closed loans: only a payoff closes a loan; no loan here ended without money standing
    assert by_loan("loan-close-report") == {} and by_loan("completed-loan-with-no-repet-report") == {}
    # being repaid: the waived (cured) and the partly collected loan, never a settled or written-off one
    schedule_left: dict[str, tuple[Decimal, Decimal]] = {}
    for k in serviced:
        principal, interest, _ = _allocated(http, h, book["loans"][k])
        sched = loans[k]["schedule"]
        schedule_left[k] = (
            sum((Decimal(i["principal"]) for i in sched), ZERO) - principal,
            sum((Decimal(i["interest"]) for i in sched), ZERO) - interest,
        )
    outstanding = by_loan("outstanding-data-report")
    assert set(outstanding) == serviced, list(outstanding)
    for k in serviced:
        row = outstanding[k]
        assert (walk._money(row["outstanding_principal"]), walk._money(row["outstanding_interest"])) == schedule_left[k], (k, row)  # fmt: skip
        assert walk._money(row["outstanding_total"]) == sum(schedule_left[k], ZERO), row
    dpd_now = (book["today"] - book["first_due"]).days
    assert (outstanding["waived"]["dpd"], outstanding["waived"]["asset_class"]) == (0, "standard"), outstanding
    assert outstanding["partial"]["asset_class"] == "SMA-0" and 0 < outstanding["partial"]["dpd"] <= dpd_now, (
        outstanding
    )
    assert set(by_loan("active-loans-by-due-date-report")) == serviced
    assert set(by_loan("master-collection-report")) == {"partial"}
    buckets = {r["bucket"]: (r["loans"], walk._money(r["outstanding_total"])) for r in reports["dpd-buckets-report"]}
    assert buckets == {"current": (1, sum(schedule_left["waived"], ZERO)), "1-30": (1, sum(schedule_left["partial"], ZERO))}, buckets  # fmt: skip
    # collection by loan: every standing payment and recovery is money repaid; nothing outstanding once ended
    for slug in ("collection-loan-report", "collection-loan-report-by-approved-date"):
        rows = by_loan(slug)
        assert set(rows) == set(KEYS), (slug, list(rows))
        for k, row in rows.items():
            assert walk._money(row["repaid"]) == received[k] and row["payments"] == len(money[k]), (slug, k, row)
            assert row["last_paid_on"] == max(m[0] for m in money[k]).isoformat(), (slug, k, row)
            left = sum(schedule_left[k], ZERO) if k in serviced else ZERO
            assert walk._money(row["outstanding_total"]) == left, (slug, k, row, left)
    # instalments: what was paid against them is the allocations' principal and interest - a waiver pays nothing,
    # a recovery after a write-off is allocated to no instalment
    due = reports["collection-due-report"]
    assert len(due) == 6 * len(KEYS), len(due)
    for k in KEYS:
        principal, interest, _ = _allocated(http, h, book["loans"][k])
        mine = [r for r in due if key[r["loan_number"]] == k]
        assert walk._sum(mine, "paid_amount") == principal + interest, (k, mine)
        assert all(r["loan_status"] == want_status[k] for r in mine), mine
    first = {key[r["loan_number"]]: r for r in due if r["instalment"] == 1}
    assert first["waived"]["state"] == "paid" and walk._money(first["waived"]["paid_amount"]) == book["emi"], first
    assert (
        first["partial"]["state"] == "partly_paid" and walk._money(first["partial"]["left_amount"]) == book["emi"] / 2
    )
    allocated = sum((sum(_allocated(http, h, v)[:2], ZERO) for v in book["loans"].values()), ZERO)
    recovery = reports["total-recovery-report"]
    assert walk._sum(recovery, "recovered") == allocated == walk._sum(reports["recovery-efficiency-report"], "collection")  # fmt: skip
    # who collected the money: the head the two approved collections (the partial one and the recovery), the admin
    # key the payments it recorded itself; who recorded it: the admin key, every payment, collection and recovery
    everything = sum(received.values(), ZERO)
    asked = book["money"]["partial"][0][1] + book["written"]["wo_full"]
    agents = {r["agent"].partition(":")[0]: r for r in reports["agent-performance-report"]}
    assert set(agents) == {"apikey", "staff"}, agents
    assert (agents["staff"]["repayments"], walk._money(agents["staff"]["collected"])) == (2, asked), agents
    assert (agents["apikey"]["repayments"], walk._money(agents["apikey"]["collected"])) == (4, everything - asked)
    team = {r["actor"]: r for r in reports["team-performance-report"]}
    key_actor = agents["apikey"]["agent"]
    assert team[key_actor]["repayments"] == 6, team[key_actor]
    assert all(r["repayments"] == 0 for a, r in team.items() if a != key_actor), team


def check_dashboards(http: httpx.Client, h: Headers, book: dict[str, Any]) -> None:
    """V1 counts the end statuses; V2 collects payments, approved collections and recoveries on their day, never
    the waiver; the settled and written-off loans are in no DPD bucket and not recovered."""
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V1"}, headers=h))
    v1 = ok(http.get(f"{API}/dashboard", headers=h))["loans"]
    assert {k: n for k, n in v1["by_status"].items() if n} == {"settled": 1, "written_off": 2, "active": 1, "overdue": 1}, v1  # fmt: skip
    assert (v1["total"], v1["disbursed"], v1["pending"], v1["overdue"]) == (5, 5, 0, 1), v1
    ok(http.patch(f"{API}/brand/config", json={"dashboard_version": "V2"}, headers=h))
    v2 = ok(http.get(f"{API}/dashboard", headers=h))
    want: dict[str, tuple[int, Decimal]] = {}
    for entries in book["money"].values():
        for on, amount, _ in entries:
            n, total = want.get(on.isoformat(), (0, ZERO))
            want[on.isoformat()] = (n + 1, total + amount)
    got = {d["day"]: (d["collected_count"], walk._money(d["collected_amount"])) for d in v2["daily"] if d["collected_count"] or walk._money(d["collected_amount"])}  # fmt: skip
    assert got == want, (got, want)
    everything = sum((a for e in book["money"].values() for _, a, _ in e), ZERO)
    lines = {x["metric"]: x for x in v2["targets"]["lines"]}
    assert walk._money(lines["collections"]["actual"]) == everything, lines
    buckets = {b["bucket"]: (b["loans"], walk._money(b["amount"])) for b in v2["dpd_buckets"] if b["loans"]}
    # two serviced loans of 30,000; by DPD as the last close of business left them (both were 1-30 then)
    assert buckets == {"1-30": (2, Decimal("60000.00"))}, v2["dpd_buckets"]
    # all five fell overdue at the close; only the cured one (waived, then paid) is recovered
    assert (v2["recovery"]["fell_overdue"], v2["recovery"]["recovered"]) == (5, 1), v2["recovery"]


def check_completed_loans(base: str, http: httpx.Client, h: Headers, book: dict[str, Any]) -> None:
    """The completed-loans page's tabs and CSV: the settled loan under Settlement, the written-off under Write-off,
    none under Closed (no payoff closed a loan here), all three under All."""
    numbers = {k: walk._loan(http, h, v)["loan_number"] for k, v in book["loans"].items()}
    admin = walk._staff(http, h, "admin")
    session = staff_session(base, admin["email"], walk.PASSWORD)
    try:
        for tab, keys in (("settled", {"settled"}), ("written_off", {"wo_part", "wo_full"}), ("closed", set()),
                          ("all", {"settled", "wo_part", "wo_full"})):  # fmt: skip
            answer = session.get("/completed-loans.csv", params={"tab": tab})
            assert answer.status_code == 200, (tab, answer.status_code)
            rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))
            assert {r["loan_number"]: r["status"] for r in rows} == {numbers[k]: ("settled" if k == "settled" else "written_off") for k in keys}, (tab, rows)  # fmt: skip
            assert all(Decimal(r["amount"]) == Decimal("30000") for r in rows), rows
            page = session.get("/completed-loans", params={"tab": tab})
            assert page.status_code == 200 and all((numbers[k] in page.text) == (k in keys) for k in KEYS), tab
    finally:
        session.close()


def test_insight_recoveries_black_box(
    server: str, platform: Any, provider_simulators: dict[str, Any], monkeypatch: Any
) -> None:
    """The book on a fresh brand against the session's live server."""
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
    h = make_tenant(platform).auth
    with httpx.Client(base_url=server, timeout=60) as http:
        book = build(server, http, h)
        settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
        check_reports(http, h, book)
        check_dashboards(http, h, book)
        check_completed_loans(server, http, h, book)
