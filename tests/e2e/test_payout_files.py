"""Payout files through the API on PostgreSQL: the XLSX read back with openpyxl (rows, control total), the
beneficiary registration file (only accounts new to the bank), loans marked exported in their history and then
not payable twice (no payout, no second file) until the file is returned; 422 naming the loan that does not fit;
confirmation by the bank disburses every loan; brand isolation."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any
from uuid import UUID

import httpx
import psycopg
from openpyxl import load_workbook

from tests.conftest import make_tenant
from tests.e2e.test_disbursal import _loan, _until, queued_loan, wiring

__all__ = ["wiring"]


def _rows(data: bytes, sheet: str) -> list[tuple[Any, ...]]:
    return list(load_workbook(io.BytesIO(data), read_only=True)[sheet].iter_rows(values_only=True))


def test_a_payout_file_its_control_total_and_the_loans_exported(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    loans = [queued_loan(platform, tenant, f"acct-{n}")[0] for n in range(3)]
    details = {loan_id: _loan(server, tenant, loan_id) for loan_id in loans}
    made = httpx.post(f"{server}/api/v1/payout-files", json={"loan_ids": [str(i) for i in loans]}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    out = made.json()
    nets = [Decimal(details[i]["disbursement"]["net_disbursed"]) for i in loans]
    assert out["row_count"] == 3 and Decimal(out["total"]) == sum(nets) and out["state"] == "exported"

    payout = httpx.get(out["download_url"], headers=tenant.auth)
    assert payout.status_code == 200 and payout.headers["content-type"].startswith("application/vnd.openxmlformats")
    rows = _rows(payout.content, "Payouts")
    assert rows[0][:6] == ("S.No", "Loan number", "Beneficiary name", "Account number", "IFSC", "Net amount")
    body, control = rows[1:-1], rows[-1]
    assert [r[1] for r in body] == [details[i]["loan_number"] for i in loans]
    assert all(r[2] == "Meera Iyer" and r[3] == "5010012345678" and r[4] == "HDFC0001234" for r in body)
    assert [Decimal(str(r[5])).quantize(Decimal("0.01")) for r in body] == nets
    assert control[0] == "CONTROL TOTAL" and control[2] == "3 rows"
    assert Decimal(str(control[5])).quantize(Decimal("0.01")) == sum(nets)
    # LENDING.md: the payout file shows the breakdown of each net amount, as the ledger and the certificate do:
    # 85,000 sanctioned, 2 % processing fee 1700.00 + 18 % GST on top 306.00, convenience fee 500.00 with its GST
    # inside, round(500 * 18 / 118) = 76.27; deducted 2506.00 (sheet `Breakdown`; `Payouts` stays the bank's)
    breakdown = _rows(payout.content, "Breakdown")
    assert breakdown[0][:3] == ("Loan number", "Sanctioned", "Processing fee before discount"), breakdown[0]
    paise = Decimal("0.01")
    fee = Decimal(85000) * 2 / 100
    for row, loan_id in zip(breakdown[1:], loans, strict=True):
        figures = [Decimal(str(v)).quantize(paise) if isinstance(v, (int, float)) else v for v in row]
        deducted = fee + fee * 18 / 100 + 500
        assert figures == [details[loan_id]["loan_number"], Decimal(85000), fee, Decimal(0), fee, fee * 18 / 100, "no",
                           Decimal(500), (Decimal(500) * 18 / 118).quantize(paise), "yes", deducted,
                           Decimal(85000) - deducted], figures  # fmt: skip
        assert figures[-1] == Decimal(details[loan_id]["disbursement"]["net_disbursed"])
    # One account for the three loans (the fake gives every loan the same one): registered once.
    beneficiaries = _rows(httpx.get(out["beneficiary_download_url"], headers=tenant.auth).content, "Beneficiaries")
    assert beneficiaries[1:] == [("Meera Iyer", "5010012345678", "HDFC0001234", details[loans[0]]["loan_number"])]

    loan = _loan(server, tenant, loans[0])
    assert loan["disbursement"]["state"] == "exported" and loan["disbursement"]["exported_file_id"] == out["id"]
    assert any(e["kind"] == "payout_exported" for e in loan["history"])
    # Not payable twice: no payout, no second file.
    disburse = httpx.post(f"{server}/api/v1/loans/{loans[0]}/disburse", json={"mode": "IMPS"}, headers=tenant.auth)
    assert disburse.status_code == 409, disburse.text
    fresh = queued_loan(platform, tenant, "acct-9")[0]
    again = httpx.post(f"{server}/api/v1/payout-files", json={"loan_ids": [str(fresh), str(loans[1])]},
                       headers=tenant.auth)  # fmt: skip
    assert again.status_code == 422 and "loan_ids[1]" in again.text, again.text
    assert _loan(server, tenant, fresh)["disbursement"]["state"] == "queued"  # nothing recorded for the first
    # A second file: the account is known to the bank now, no registration row.
    second = httpx.post(f"{server}/api/v1/payout-files", json={"loan_ids": [str(fresh)]}, headers=tenant.auth).json()
    assert second["beneficiary_count"] == 0

    # A return without a reason (blank, zero-width, under 3 visible characters) is a 422 naming it, nothing changed.
    file_url = f"{server}/api/v1/payout-files/{out['id']}"
    for blank in ("   ", "\u200b\u200b\u200b\u200b", " \n\t ", "R1 "):
        refused = httpx.post(f"{file_url}/return", json={"reason": blank}, headers=tenant.auth)
        assert refused.status_code == 422, (blank, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "reason" in refused.text and "visible characters" in refused.text, refused.text
    assert httpx.get(file_url, headers=tenant.auth).json()["state"] == "exported"
    assert _loan(server, tenant, loans[0])["disbursement"]["state"] == "exported"
    # The bank returns the first file: its loans may be paid again; the reason kept without surrounding whitespace.
    returned = httpx.post(f"{file_url}/return", json={"reason": "  IFSC rejected\n"}, headers=tenant.auth)
    assert returned.status_code == 200 and returned.json()["state"] == "returned", returned.text
    assert returned.json()["reason"] == "IFSC rejected"
    paid = httpx.post(f"{server}/api/v1/loans/{loans[0]}/disburse", json={"mode": "IMPS"}, headers=tenant.auth)
    assert paid.status_code == 202, paid.text
    # The bank pays the second file: its loan is disbursed.
    confirmed = httpx.post(f"{server}/api/v1/payout-files/{second['id']}/confirm", headers=tenant.auth)
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    loan = _until(server, tenant, fresh, "disbursed")
    assert loan["status"] == "active" and loan["disbursement"]["disbursed_on"]
    # Servicing opened in the same save (the schedule the reminders, COB and collections read), as for a webhook.
    with psycopg.connect(platform.dsn) as conn:
        topics = [str(t).rsplit(".", 1)[-1] for (t,) in conn.execute(
            "SELECT topic FROM events.loans_events WHERE originator_id = %s ORDER BY originator_version", (fresh,))]  # fmt: skip
    assert topics[-2:] == ["Disbursed", "ServicingOpened"], topics


def test_only_the_brands_awaiting_loans(platform: Any, server: str) -> None:
    tenant = make_tenant(platform, "loan_ops")
    other = make_tenant(platform, "loan_ops")
    mine = queued_loan(platform, tenant)[0]
    theirs = queued_loan(platform, other)[0]

    def create(*ids: UUID) -> httpx.Response:
        return httpx.post(f"{server}/api/v1/payout-files", json={"loan_ids": [str(i) for i in ids]},
                          headers=tenant.auth)  # fmt: skip

    refused = create(mine, theirs)
    assert refused.status_code == 422 and "loan_ids[1]" in refused.text
    assert create(mine, mine).status_code == 422
    assert create().status_code == 422
    assert _loan(server, tenant, mine)["disbursement"]["state"] == "queued"
    made = create(mine).json()
    assert httpx.get(f"{server}/api/v1/payout-files/{made['id']}", headers=other.auth).status_code == 404
    assert httpx.get(made["download_url"], headers=other.auth).status_code == 404
    listed = httpx.get(f"{server}/api/v1/payout-files", headers=tenant.auth).json()["items"]
    assert [f["id"] for f in listed] == [made["id"]]
    queue = httpx.get(f"{server}/api/v1/disbursal-queue", headers=tenant.auth).json()["items"]
    assert [(q["loan_id"], q["state"]) for q in queue] == [(str(mine), "exported")]
