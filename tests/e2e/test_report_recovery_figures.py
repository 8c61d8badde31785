"""Defects the #18 black-box walk found in the reports' figures, each pinned on a two-loan book built by the use
cases: a loan paid off at its first due date (interest charged only to the payoff) and one partly repaid.
`total-recovery-report`'s outstanding is due - recovered; a completed loan's instalments are settled (nothing left,
no outstanding); a rate column's total is the rate of the sums; an API key's contacts count in agent performance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from tests.conftest import make_tenant
from tests.e2e.test_reports import _loan, _rows, _settle
from tests.e2e.test_servicing_api import catalogue, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the autouse fixture: the test products' catalogue


def _pay(client: Any, auth: dict[str, str], loan_id: Any, amount: str, on: date, ref: str) -> str:
    body = {"amount": amount, "mode": "upi", "reference": ref, "paid_on": on.isoformat()}
    answer = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _by_due_date(client: Any, tenant: Any) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """total-recovery's and recovery-efficiency's totals (read from the instalments alone, each carrying whether its
    loan is completed) and collection-due's rows (the same instalments joined to their loans' status)."""
    recovery = _rows(client, tenant, "total-recovery-report", limit="500")
    efficiency = _rows(client, tenant, "recovery-efficiency-report")["totals"]
    return recovery, efficiency, _rows(client, tenant, "collection-due-report", limit="500")["rows"]


def _agree(recovery: dict[str, Any], efficiency: dict[str, Any], instalments: list[dict[str, Any]]) -> None:
    totals = recovery["totals"]
    assert Decimal(totals["due"]) == sum(Decimal(r["due_amount"]) for r in instalments) == Decimal(efficiency["demand"])
    assert Decimal(totals["recovered"]) == sum(Decimal(r["paid_amount"]) for r in instalments)
    assert Decimal(totals["outstanding"]) == sum(Decimal(r["left_amount"]) for r in instalments)


def test_paid_off_loan_rate_totals_and_outstanding(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    paid_off, partial = _loan(platform, tenant, "Asha Paidoff"), _loan(platform, tenant, "Ravi Partial")
    # The loans were made through the use cases, not the API (no position for read-your-writes): the loan page's
    # schedule is the serviced one only once the read model holds the disbursal (before it, the indicative
    # schedule from today's date, whose first due date the payoff below would then be computed at).
    _settle(platform)
    first = client.get(f"/api/v1/loans/{paid_off}", headers=tenant.auth).json()["schedule"][0]
    due_on = date.fromisoformat(first["due_date"])
    set_business_date(platform, tenant, due_on)
    payoff = client.get(f"/api/v1/loans/{paid_off}/payoff", headers=tenant.auth).json()["total"]
    payoff_id = _pay(client, tenant.auth, paid_off, payoff, due_on, "UTR-OFF")
    _pay(client, tenant.auth, partial, str(Decimal(first["amount"]) + 500), due_on, "UTR-PART")
    contact = {"outcome": "connected", "remarks": "called"}
    assert client.post(f"/api/v1/loans/{partial}/contacts", json=contact, headers=tenant.auth).status_code == 201
    _settle(platform)
    settle(platform, "collections")

    recovery = _rows(client, tenant, "total-recovery-report", limit="500")
    for row in recovery["rows"]:
        assert Decimal(row["due"]) - Decimal(row["recovered"]) == Decimal(row["outstanding"]), row
    due, got = Decimal(recovery["totals"]["due"]), Decimal(recovery["totals"]["recovered"])
    assert Decimal(recovery["totals"]["recovery_rate"]) == (100 * got / due).quantize(Decimal("0.01"))
    efficiency = _rows(client, tenant, "recovery-efficiency-report")["totals"]
    assert Decimal(efficiency["efficiency"]) == (100 * got / due).quantize(Decimal("0.01")), efficiency

    loans = {r["status"]: r for r in _rows(client, tenant, "collection-loan-report")["rows"]}
    assert Decimal(loans["completed"]["outstanding_total"]) == 0, loans["completed"]
    instalments = _rows(client, tenant, "collection-due-report", limit="500")["rows"]
    settled = [r for r in instalments if r["loan_status"] == "completed"]
    assert settled and all(r["state"] == "paid" and Decimal(r["left_amount"]) == 0 for r in settled), settled
    assert sum(Decimal(r["due_amount"]) for r in settled) == Decimal(payoff)

    agents = _rows(client, tenant, "agent-performance-report")["rows"]
    assert [(a["contacts"], a["repayments"]) for a in agents] == [(1, 2)], agents

    # The reports by due date count the paid-off loan's instalments as settled by the payoff, as collection-due does;
    # once the payoff is reversed (the loan re-opened) they ask the whole schedule again.
    _agree(*_by_due_date(client, tenant))
    before = Decimal(_by_due_date(client, tenant)[0]["totals"]["due"])
    back = client.post(
        f"/api/v1/loans/{paid_off}/repayments/{payoff_id}/reverse", json={"reason": "bounced"}, headers=tenant.auth
    )
    assert back.status_code in (200, 201), back.text
    _settle(platform)
    recovery, efficiency, instalments = _by_due_date(client, tenant)
    _agree(recovery, efficiency, instalments)
    assert not [r for r in instalments if r["loan_status"] == "completed"]
    loan = client.get(f"/api/v1/loans/{paid_off}", headers=tenant.auth).json()
    assert loan["status"] != "completed"
    assert Decimal(recovery["totals"]["due"]) == before - Decimal(payoff) + sum(
        Decimal(i["amount"]) for i in loan["schedule"]
    )

    # a rebuild of the reports' read model (the tables dropped, the days' table and its triggers made again, every
    # event replayed) gives the same reports
    platform.engine.rebuild("report_book")
    assert _by_due_date(client, tenant) == (recovery, efficiency, instalments)


def test_money_recovered_after_a_write_off_counts_in_the_reports_and_the_dashboard(client: Any, platform: Any) -> None:
    """Found live: a recovery on a written-off loan (`RecoveryRecorded`, listed on the loan's page with its repayments)
    was in no report and not on the dashboard - collection-loan-report's repaid and payments, agent performance's
    collected and the V2 dashboard's collected day left it out, and a written-off loan whose only money was a
    recovery stayed in completed-loan-with-no-repet-report as one with no repayment."""
    tenant = make_tenant(platform)
    part_paid, unpaid = _loan(platform, tenant, "Wasim Partpaid"), _loan(platform, tenant, "Uma Unpaid")
    _settle(platform)
    paid_on, recovered_on = date(2026, 2, 10), date(2026, 2, 12)
    set_business_date(platform, tenant, paid_on)
    _pay(client, tenant.auth, part_paid, "2000.00", paid_on, "UTR-PART")
    for loan_id in (part_paid, unpaid):
        done = client.post(f"/api/v1/loans/{loan_id}/write-off", json={"reason": "uncontactable"}, headers=tenant.auth)
        assert done.status_code == 200, done.text
    set_business_date(platform, tenant, recovered_on)
    for loan_id, ref in ((part_paid, "REC-1"), (unpaid, "REC-2")):
        body = {"amount": "1500.00", "mode": "cash", "reference": ref, "paid_on": recovered_on.isoformat()}
        answer = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
        assert answer.status_code == 201 and answer.json()["allocation"] == [], answer.text
    _settle(platform)

    # the loan's own page lists the recovery with its repayments
    listed = client.get(f"/api/v1/loans/{part_paid}/repayments", headers=tenant.auth).json()["items"]
    assert sorted(Decimal(p["amount"]) for p in listed) == [Decimal("1500.00"), Decimal("2000.00")], listed

    rows = {r["customer_number"]: r for r in _rows(client, tenant, "collection-loan-report")["rows"]}
    by_loan = {r["status"] + ":" + r["repaid"]: r for r in rows.values()}
    assert set(by_loan) == {"written_off:3500.00", "written_off:1500.00"}, rows
    assert (by_loan["written_off:3500.00"]["payments"], by_loan["written_off:3500.00"]["last_paid_on"]) == (2, "2026-02-12")  # fmt: skip
    assert by_loan["written_off:1500.00"]["payments"] == 1
    agents = _rows(client, tenant, "agent-performance-report")["rows"]
    assert [(a["repayments"], a["collected"]) for a in agents] == [(3, "5000.00")], agents
    assert _rows(client, tenant, "completed-loan-with-no-repet-report")["rows"] == []
    # the recovery moved no instalment: the reports by due date are unchanged by it
    assert Decimal(_rows(client, tenant, "total-recovery-report")["totals"]["recovered"]) == Decimal("2000.00")

    patched = client.patch("/api/v1/brand/config", json={"dashboard_version": "V2"}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    board = client.get("/api/v1/dashboard", headers=tenant.auth).json()
    days = {d["day"]: (d["collected_count"], d["collected_amount"]) for d in board["daily"]}
    assert (days["2026-02-10"], days["2026-02-12"]) == ((1, "2000.00"), (2, "3000.00")), days
    assert next(t for t in board["targets"]["lines"] if t["metric"] == "collections")["actual"] == "5000.00"
