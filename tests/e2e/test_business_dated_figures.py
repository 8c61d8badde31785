"""Reports and the V2 dashboard date loan facts by the business day they happened on, not by the wall clock: a brand
whose business date runs months ahead of today pays a loan off (back-dated), writes one off, lets one fall overdue
in a close of business and disburses one more; loan-close-report and completed-loan-with-no-repet-report file the
closures on their business days (and a range of today's wall-clock day finds neither), and the dashboard's window
(the 30 business days to the business date) counts the fall into overdue, the submission and the disbursal with
their stage times (docs/reports.md, "Which date a report files a fact on"; docs/insight.md)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import approved_loan, catalogue, disbursed_loan, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the servicing tests' product (autouse fixture)

#: Months ahead of the wall clock (the first of a month: the loans' due dates fall on the 1st).
B0 = (date.today().replace(day=1) + timedelta(days=160)).replace(day=1)


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _report(client: Any, tenant: Tenant, slug: str, start: date, end: date) -> dict[str, dict[str, Any]]:
    rows = _ok(client.get(f"/api/v1/reports/{slug}", params={"from": str(start), "to": str(end), "limit": 500},
                          headers=tenant.auth))["rows"]  # fmt: skip
    return {row["loan_number"]: row for row in rows}


def _cob(client: Any, platform: Any, tenant: Tenant, as_of: date) -> None:
    accepted = _ok(client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": str(as_of)}, headers=tenant.auth), 202)
    scheduler_for(platform).execute(accepted["run_id"])
    settle(platform, "jobs")
    settle(platform, Loans.name)
    run = _ok(client.get(f"/api/v1/jobs/runs/{accepted['run_id']}", headers=tenant.auth))
    assert run["status"] == "succeeded", run


def test_closures_are_filed_on_their_business_days(client: Any, platform: Any) -> None:
    assert B0 > date.today() + timedelta(days=120)  # the business date is months away from the wall clock
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, B0)
    paid_off, written_off = disbursed_loan(platform, tenant, B0), disbursed_loan(platform, tenant, B0)
    number = {k: platform.get(Loans).get(tenant.brand_id, v).loan_number
              for k, v in (("paid_off", paid_off), ("written_off", written_off))}  # fmt: skip

    # paid off by a payment dated the 10th, recorded on the 12th (back-dated); written off on the 12th
    paid_on, recorded_on = B0 + timedelta(days=9), B0 + timedelta(days=11)
    set_business_date(platform, tenant, recorded_on)
    url = f"/api/v1/loans/{paid_off}"
    quote = _ok(client.get(f"{url}/payoff", params={"as_of": str(paid_on)}, headers=tenant.auth))
    body = {"amount": quote["total"], "mode": "neft", "reference": "UTR-END", "paid_on": str(paid_on)}
    assert _ok(client.post(f"{url}/repayments", json=body, headers=tenant.auth), 201)["status"] == "completed"
    _ok(client.post(f"/api/v1/loans/{written_off}/write-off", json={"reason": "borrower deceased"},
                    headers=tenant.auth))  # fmt: skip
    settle(platform, Loans.name)

    closed = _report(client, tenant, "loan-close-report", paid_on, paid_on)
    assert set(closed) == {number["paid_off"]}, closed
    row = closed[number["paid_off"]]
    assert row["closed_on"] == str(paid_on) == row["last_paid_on"], row
    assert row["closed_at"][:10] == str(date.today()), row  # the published column: when the closure was recorded
    assert row["payments"] == 1 and row["repaid"] == quote["total"]
    # neither the day before, the day it was recorded, nor the wall clock's day (the events' instants) holds it
    for day in (paid_on - timedelta(days=1), recorded_on, date.today()):
        assert _report(client, tenant, "loan-close-report", day, day) == {}, day
    assert _report(client, tenant, "completed-loan-with-no-repet-report", date.today(), date.today()) == {}
    unpaid = _report(client, tenant, "completed-loan-with-no-repet-report", recorded_on, recorded_on)
    assert set(unpaid) == {number["written_off"]}
    assert unpaid[number["written_off"]]["closed_on"] == str(recorded_on), unpaid
    assert unpaid[number["written_off"]]["status"] == "written_off"
    # the disbursals of the same book were already filed on the business date
    assert set(_report(client, tenant, "disbursed-loan-report", B0, B0)) == set(number.values())


def test_dashboard_window_counts_the_facts_of_its_business_days(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, B0)
    overdue = disbursed_loan(platform, tenant, B0)
    # the first instalment falls due a month on; the close of business three days later (business date) finds it
    # unpaid: the loan fell overdue on that business date, not on today's
    due = _ok(client.get(f"/api/v1/loans/{overdue}", headers=tenant.auth))["schedule"][0]["due_date"]
    cob_day = date.fromisoformat(due) + timedelta(days=3)
    set_business_date(platform, tenant, cob_day)
    late = disbursed_loan(platform, tenant, cob_day)  # submitted and disbursed on the COB's business date
    _cob(client, platform, tenant, cob_day)
    assert _ok(client.get(f"/api/v1/loans/{overdue}", headers=tenant.auth))["status"] == "overdue"
    assert _ok(client.get(f"/api/v1/loans/{late}", headers=tenant.auth))["disbursed_on"] == str(cob_day)

    _ok(client.patch("/api/v1/brand/config", json={"dashboard_version": "V2"}, headers=tenant.auth))
    board = _ok(client.get("/api/v1/dashboard", headers=tenant.auth))
    assert date.fromisoformat(board["as_of"]) >= cob_day
    assert date.fromisoformat(board["window_start"]) > date.today() + timedelta(days=90), board["window_start"]
    assert board["loans"]["overdue"] == 1
    assert board["recovery"] == {"fell_overdue": 1, "recovered": 0, "rate": "0.00"}, board["recovery"]
    funnel = {s["stage"]: s["loans"] for s in board["funnel"]}
    # the late loan, every step of it on the COB's business date (created, CX-approved and sanctioned too: their
    # events carry it); the first one went through them all on B0, a month before the window. Recorded today, months
    # before the window, none would count if they were placed by their instants ("submitted 1, credit approved 0").
    assert funnel == {"created": 1, "submitted": 1, "credit approved": 1, "sanctioned": 1, "disbursed": 1}, funnel
    tat = {s["stage"]: s for s in board["tat"]}
    assert {stage: t["loans"] for stage, t in tat.items()} == {
        "application": 1, "credit review": 1, "sanction": 1, "disbursal": 1}, tat  # fmt: skip
    assert all(t["average_hours"] is not None and t["median_hours"] is not None for t in tat.values()), tat
    assert {d["day"]: d for d in board["daily"]}[str(cob_day)]["disbursed_count"] == 1


def test_sanctions_and_creations_are_filed_on_their_business_days(client: Any, platform: Any) -> None:
    """A brand months ahead of the wall clock creates, approves and sanctions two loans on B0 and disburses one: the
    sanction-dated reports, the creation-dated ones and team performance file them on B0 (the events' business
    date), not on today (the day they were recorded), and keep the published `_at` columns beside the `_on` ones."""
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, B0)
    paid_out, waiting = disbursed_loan(platform, tenant, B0), approved_loan(platform, tenant)
    settle(platform, Loans.name)
    number = {k: platform.get(Loans).get(tenant.brand_id, v).loan_number
              for k, v in (("paid_out", paid_out), ("waiting", waiting))}  # fmt: skip
    today = date.today()

    not_paid_out = _report(client, tenant, "non-disbursed-loan-report", B0, B0)
    assert set(not_paid_out) == {number["waiting"]}, not_paid_out
    row = not_paid_out[number["waiting"]]
    assert row["sanctioned_on"] == str(B0) and row["sanctioned_at"][:10] == str(today), row
    sanctioned = _report(client, tenant, "total-approve-sanction-report", B0, B0)
    assert set(sanctioned) == set(number.values()), sanctioned
    assert {(r["cx_approved_on"], r["sanctioned_on"]) for r in sanctioned.values()} == {(str(B0), str(B0))}
    assert all(r["sanctioned_at"][:10] == str(today) for r in sanctioned.values())
    by_approval = _report(client, tenant, "collection-loan-report-by-approved-date", B0, B0)
    assert set(by_approval) == {number["paid_out"]} and by_approval[number["paid_out"]]["sanctioned_on"] == str(B0)
    days = _ok(client.get("/api/v1/reports/disburse-non-disburse-report", params={"from": str(B0), "to": str(B0)},
                          headers=tenant.auth))["rows"]  # fmt: skip
    assert [(d["sanctioned_on"], d["sanctioned"], d["disbursed"], d["not_disbursed"]) for d in days] == [
        (str(B0), 2, 1, 1)], days  # fmt: skip
    created = _report(client, tenant, "affiliate-report", B0, B0)
    assert set(created) == set(number.values()), created
    assert {r["created_on"] for r in created.values()} == {str(B0)}
    assert all(r["created_at"][:10] == str(today) for r in created.values())
    marketing = _ok(client.get("/api/v1/reports/internal-marketing-report", params={"from": str(B0), "to": str(B0)},
                               headers=tenant.auth))["rows"]  # fmt: skip
    assert sum(r["applications"] for r in marketing) == 2 and sum(r["sanctioned"] for r in marketing) == 2
    team = _ok(client.get("/api/v1/reports/team-performance-report", params={"from": str(B0), "to": str(B0)},
                          headers=tenant.auth))["rows"]  # fmt: skip
    assert sum(r["cx_approved"] for r in team) == 2 and sum(r["sanctioned"] for r in team) == 2, team
    assert sum(r["disbursed"] for r in team) == 1, team
    # the wall clock's day, when it all was recorded, holds none of it
    for slug in ("non-disbursed-loan-report", "total-approve-sanction-report", "affiliate-report",
                 "collection-loan-report-by-approved-date"):  # fmt: skip
        assert _report(client, tenant, slug, today, today) == {}, slug
    for slug in ("disburse-non-disburse-report", "internal-marketing-report", "team-performance-report"):
        rows = _ok(client.get(f"/api/v1/reports/{slug}", params={"from": str(today), "to": str(today)},
                              headers=tenant.auth))["rows"]  # fmt: skip
        # team performance too: every action, the e-sign and payout ones included, carries its business date
        assert rows == [], (slug, rows)
