"""An outside tester's reconciliation of the reports (issue #18 item 1) against the loans API, on one small book in
every state a loan reaches after disbursal - paid off, partly paid, overdue after a close of business, settled,
written off - and before it (sanctioned and waiting, cancelled after the sanction, rejected): every report paged to
its end two rows at a time (no repeat, no gap, the count its totals give), each total the sum of its rows, the CSV
the same rows as the JSON (formula prefixes neutralised, commas, quotes, Devanagari and emoji intact), and the
per-loan figures (status, DPD and its bucket, outstanding, repaid) the loan's own."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from projections.report_catalogue import CATALOGUE
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_recoveries_api import _key
from tests.e2e.test_reports import _loan, _settle
from tests.e2e.test_servicing_api import D0, catalogue, set_business_date
from tests.support import settle
from workers.runtime import scheduler_for

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

PAID_ON = date(2026, 2, 28)  # the first due date of a loan disbursed on D0 (31 Jan)
COB_DAY = date(2026, 3, 12)
NAMES = {
    "completed": "+91 Plus Paidoff",
    "partly": '-Minus, "Partly" Paid',
    "overdue": "@Asha राम कुमार",
    "settled": "=1+1 Settled 😀",
    "written_off": "Written Off",
    "waiting": "Waiting Sanctioned",
    "cancelled": "Cancelled After Sanction",
}
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cob(client: Any, platform: Any, tenant: Tenant, as_of: date) -> None:
    accepted = client.post("/api/v1/jobs/loan-cob/runs", json={"as_of": as_of.isoformat()}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    scheduler_for(platform).execute(accepted.json()["run_id"])
    settle(platform, "jobs")
    _settle(platform)
    # The run's sweep opened collection cases after the loans caught up: the collection reports read them.
    settle(platform, "collections")


def _pay(client: Any, tenant: Tenant, loan_id: UUID, amount: str, ref: str, on: date | None = None) -> None:
    body = {"amount": amount, "mode": "upi", "reference": ref} | ({"paid_on": on.isoformat()} if on else {})
    answer = client.post(f"/api/v1/loans/{loan_id}/repayments", json=body, headers=tenant.auth)
    assert answer.status_code == 201, answer.text


def _book(client: Any, platform: Any, tenant: Tenant) -> dict[str, UUID]:
    set_business_date(platform, tenant, D0)
    loans = {state: _loan(platform, tenant, name, disburse=state not in ("waiting", "cancelled"))
             for state, name in NAMES.items()}  # fmt: skip
    cancelled = client.post(
        f"/api/v1/loans/{loans['cancelled']}/cancel", json={"reason": "borrower withdrew"}, headers=tenant.auth
    )
    assert cancelled.status_code == 200, cancelled.text
    _settle(platform)
    set_business_date(platform, tenant, PAID_ON)
    payoff = client.get(f"/api/v1/loans/{loans['completed']}/payoff", headers=tenant.auth).json()["total"]
    _pay(client, tenant, loans["completed"], payoff, "UTR-OFF", PAID_ON)
    _pay(client, tenant, loans["partly"], "3000.00", "UTR-PART", PAID_ON)
    set_business_date(platform, tenant, COB_DAY)
    _cob(client, platform, tenant, COB_DAY)  # the others' first instalment is 12 days late
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{loans['settled']}"
    proposed = client.post(f"{url}/settlements", json={"amount": "40000.00", "remarks": "job lost"}, headers=manager)
    assert proposed.status_code == 201, proposed.text
    approved = client.post(f"/api/v1/settlements/{proposed.json()['id']}/approve", headers=head)
    assert approved.status_code == 200, approved.text
    _pay(client, tenant, loans["settled"], "40000.00", "UTR-SETTLE")
    off = client.post(f"/api/v1/loans/{loans['written_off']}/write-off", json={"reason": "gone"}, headers=tenant.auth)
    assert off.status_code == 200, off.text
    _settle(platform)
    return loans


def _all_pages(client: Any, tenant: Tenant, slug: str, limit: int = 2) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    first = client.get(f"/api/v1/reports/{slug}", params=params, headers=tenant.auth)
    assert first.status_code == 200, (slug, first.text)
    totals, page = first.json()["totals"], first.json()
    for _ in range(100):
        rows += page["rows"]
        if page["next_cursor"] is None:
            return rows, totals
        answer = client.get(
            f"/api/v1/reports/{slug}", params=params | {"cursor": page["next_cursor"]}, headers=tenant.auth
        )
        assert answer.status_code == 200, (slug, answer.text)
        page = answer.json()
        assert "totals" not in page or page["totals"] is None or page["totals"] == totals, slug
    raise AssertionError(f"{slug} never ended")


def _csv_rows(client: Any, tenant: Tenant, slug: str) -> list[dict[str, str]]:
    answer = client.get(f"/api/v1/reports/{slug}.csv", headers=tenant.auth)
    assert answer.status_code == 200, (slug, answer.text)
    table = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"), newline="")))
    assert table[0] == CATALOGUE[slug].header, slug
    return [dict(zip(table[0], cells, strict=True)) for cells in table[1:]]


def _as_csv(value: Any, kind: str) -> str | None:
    """What the CSV cell of a JSON value is (None: not compared - instants and booleans are spelled otherwise)."""
    if value is None:
        return ""
    if kind in ("instant", "bool"):
        return None
    text = str(value)
    return "'" + text if kind == "text" and text.startswith(FORMULA) else text


def test_every_report_pages_totals_and_exports_the_same_rows_over_a_book_in_every_state(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loans = _book(client, platform, tenant)
    by_number: dict[str, dict[str, Any]] = {}
    for state, loan_id in loans.items():
        loan = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()
        by_number[loan["loan_number"]] = loan | {"state": state}
    statuses = {v["state"]: v["status"] for v in by_number.values()}
    assert statuses == {
        "completed": "completed", "partly": "overdue", "overdue": "overdue", "settled": "settled",
        "written_off": "written_off", "waiting": "sm_approved", "cancelled": "cancelled",
    }, statuses  # fmt: skip

    for slug, report in CATALOGUE.items():
        rows, totals = _all_pages(client, tenant, slug)
        assert totals["rows"] == len(rows), (slug, totals, len(rows))
        keys = [tuple(str(r.get(c)) for c in report.header) for r in rows]
        assert len(set(keys)) == len(keys) or report.group_by is None, slug
        for column in report.columns:
            if column.kind == "number" and column.total is None:
                summed = sum((Decimal(r[column.name]) for r in rows if r[column.name] is not None), Decimal("0"))
                assert Decimal(totals[column.name]) == summed, (slug, column.name, totals[column.name], summed)
        exported = _csv_rows(client, tenant, slug)
        assert len(exported) == len(rows), slug
        kinds = {c.name: c.kind for c in report.columns}
        for got, row in zip(exported, rows, strict=True):
            for name, value in row.items():
                expected = _as_csv(value, kinds[name])
                if expected is not None:
                    assert got[name] == expected, (slug, name, got[name], value)
            for name, cell in got.items():
                assert not (kinds[name] == "text" and cell.startswith(FORMULA)), (slug, name, cell)

        # every per-loan row agrees with its loan
        for row in rows:
            loan = by_number.get(row.get("loan_number") or "")
            if loan is None:
                continue
            status = row.get("status", row.get("loan_status"))
            if status is not None and slug != "affiliate-report":
                assert status == loan["status"], (slug, row, loan["status"])
            if row.get("dpd") is not None and slug != "collection-allocation-executive-report":  # the case's: at
                # its last sweep (docs/collections.md); a loan's, as its last close of business left it (the loan's
                # own counts today too)
                closed = max(0, loan["dpd"] - 1) if loan["status"] in ("active", "partially_paid", "overdue") else 0
                assert row["dpd"] == closed, (slug, row["loan_number"], row["dpd"], loan["dpd"])
            if row.get("asset_class") is not None:
                assert row["asset_class"] == loan["asset_class"], (slug, row, loan["asset_class"])
            if slug in ("collection-loan-report", "outstanding-data-report") and loan["status"] in (
                "active", "partially_paid", "overdue",
            ):  # fmt: skip
                # unpaid scheduled principal and interest (docs/reports.md; the loan's page shows the payoff)
                paid = client.get(f"/api/v1/loans/{loan['id']}/repayments", headers=tenant.auth).json()["items"]
                owed = sum((Decimal(i["principal"]) + Decimal(i["interest"]) for i in loan["schedule"]), Decimal(0))
                owed -= sum(
                    (Decimal(a["principal"]) + Decimal(a["interest"]) for p in paid if not p.get("reversed_on")
                     for a in p["allocation"]),
                    Decimal(0),
                )  # fmt: skip
                assert Decimal(row["outstanding_total"]) == owed, (slug, row, owed)

    # the buckets of the serviced loans, from the loans' own DPD
    buckets, _ = _all_pages(client, tenant, "dpd-buckets-report")
    serviced = [v for v in by_number.values() if v["status"] in ("active", "partially_paid", "overdue")]
    assert sum(b["loans"] for b in buckets) == len(serviced) == 2
    assert {b["bucket"]: b["loans"] for b in buckets if b["loans"]} == {"1-30": 2}, buckets
    closed = {r["loan_number"]: r for r in _all_pages(client, tenant, "completed-loan-with-no-repet-report")[0]}
    assert {by_number[n]["state"] for n in closed} == {"written_off"}, closed
    repaid = {r["loan_number"]: r for r in _all_pages(client, tenant, "collection-loan-report")[0]}
    for number, row in repaid.items():
        items = client.get(f"/api/v1/loans/{by_number[number]['id']}/repayments", headers=tenant.auth).json()["items"]
        standing = [p for p in items if not p.get("reversed_on")]
        assert Decimal(row["repaid"]) == sum((Decimal(p["amount"]) for p in standing), Decimal("0")), row
        assert row["payments"] == len(standing), row

    # keyset pages while loans are added between the fetches: every row of the first fetch once, none twice
    before = [r["loan_number"] for r in _all_pages(client, tenant, "disbursed-loan-report", limit=50)[0]]
    first = client.get("/api/v1/reports/disbursed-loan-report", params={"limit": 2}, headers=tenant.auth).json()
    seen, cursor = [r["loan_number"] for r in first["rows"]], first["next_cursor"]
    added = 0
    while cursor:
        _loan(platform, tenant, f"Added Later {added}")  # disbursed on D0 too: ids sort anywhere among the others
        _settle(platform)
        added += 1
        page = client.get(
            "/api/v1/reports/disbursed-loan-report", params={"limit": 2, "cursor": cursor}, headers=tenant.auth
        ).json()
        seen += [r["loan_number"] for r in page["rows"]]
        cursor = page["next_cursor"]
    assert added >= 2 and len(seen) == len(set(seen)), seen
    assert set(before) <= set(seen), (before, seen)


def _edited(cursor: str, **changes: Any) -> str:
    raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw.update(changes)
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


ODD_KEYS = (None, "", "x" * 40, "' OR 1=1 --", 0, -1, 2**31, 2**63 - 1, 1.5, True, [], {}, "0001-01-01",
            "9999-12-31", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59.999999+14:00", "2026-02-30",
            "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff")  # fmt: skip


def test_a_cursor_edited_or_taken_to_another_brand_is_422_never_500(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    set_business_date(platform, tenant, D0)
    for name in ("Asha One", "Ravi Two", "Meera Three"):
        _loan(platform, tenant, name, reject=name == "Meera Three")
    _settle(platform)
    probed = 0
    for slug in CATALOGUE:
        first = client.get(f"/api/v1/reports/{slug}", params={"limit": 1}, headers=tenant.auth).json()
        cursor = first["next_cursor"]
        if cursor is None:
            continue
        probed += 1
        # brand B's staff with brand A's cursor: refused, nothing of brand A shown
        foreign = client.get(f"/api/v1/reports/{slug}", params={"limit": 1, "cursor": cursor}, headers=other.auth)
        assert foreign.status_code == 422, (slug, foreign.text)
        assert foreign.json()["errors"][0]["field"] == "cursor"
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["k"]
        variants = [_edited(cursor, o=0), _edited(cursor, o=2), _edited(cursor, f="AAAAAAAAAAAA"), cursor[:-2],
                    cursor + "!", _edited(cursor, k=key[:-1]), _edited(cursor, k=[*key, 1])]  # fmt: skip
        variants += [_edited(cursor, k=[*key[:i], odd, *key[i + 1 :]]) for i in range(len(key)) for odd in ODD_KEYS]
        for variant in variants:
            answer = client.get(f"/api/v1/reports/{slug}", params={"limit": 1, "cursor": variant}, headers=tenant.auth)
            assert answer.status_code in (200, 422), (slug, variant, answer.status_code, answer.text)
            if answer.status_code == 422:
                assert answer.headers["content-type"].startswith("application/problem+json"), slug
    assert probed >= 8, probed
