"""agent-performance-report credits money to who collected it (the spec's "agent-wise performance"): a collection
request a collection manager approves and a manual receipt Ops confirms count for the executive who asked for them,
not for their approver, on a loan being repaid and on a written-off one alike; the reports' read model rebuilt from
the events says the same."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_tenant
from tests.e2e.test_collections import give_case
from tests.e2e.test_recoveries_api import PNG, _overdue_loan
from tests.e2e.test_recovery_second_approver import _Staff
from tests.e2e.test_reports import _rows
from tests.e2e.test_servicing_api import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)


def test_approved_collections_and_confirmed_receipts_count_for_the_executive_who_collected_them(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    written_off = _overdue_loan(platform, tenant)
    executive = _Staff(app, platform, tenant, ["collection_executive"])
    manager = _Staff(app, platform, tenant, ["collection_manager"])
    ops = _Staff(app, platform, tenant, ["loan_ops"])
    for loan in (loan_id, written_off):
        give_case(platform, tenant, loan, executive.id)
    done = client.post(f"/api/v1/loans/{written_off}/write-off", json={"reason": "absconded"}, headers=tenant.auth)
    assert done.status_code == 200, done.text

    asked = executive.api(
        f"/loans/{loan_id}/collection-requests",
        json={"amount": "8100.00", "mode": "cash", "reference": "AP-COLL", "collected_on": "2026-03-19"},
    )
    assert asked.status_code == 201, asked.text
    assert manager.api(f"/collection-requests/{asked.json()['id']}/approve").status_code == 200
    form = {"amount": "50.00", "mode": "cash", "reference": "AP-RCPT"}
    receipt = executive.api(f"/loans/{loan_id}/receipts", files={"file": ("r.png", PNG, "image/png")}, data=form)
    assert receipt.status_code == 201, receipt.text
    assert ops.api(f"/receipts/{receipt.json()['id']}/confirm").status_code == 200
    # money recovered on the written-off loan, approved by the manager: a recovery, collected by the executive
    recovery = executive.api(
        f"/loans/{written_off}/collection-requests",
        json={"amount": "1000.00", "mode": "upi", "reference": "AP-REC", "collected_on": "2026-03-20"},
    )
    assert recovery.status_code == 201, recovery.text
    assert manager.api(f"/collection-requests/{recovery.json()['id']}/approve").status_code == 200
    # a repayment Ops records themselves is theirs
    paid = {"amount": "10.00", "mode": "upi", "reference": "AP-OPS", "paid_on": "2026-03-20"}
    assert ops.api(f"/loans/{loan_id}/repayments", json=paid).status_code == 201
    settle(platform, "loans")

    def credited() -> dict[str, tuple[int, str]]:
        rows = _rows(client, tenant, "agent-performance-report")["rows"]
        return {r["agent"]: (r["repayments"], r["collected"]) for r in rows if r["repayments"]}

    live = credited()
    assert live == {f"staff:{executive.id}": (3, "9150.00"), f"staff:{ops.id}": (1, "10.00")}, live
    before = _rows(client, tenant, "agent-performance-report")
    platform.engine.rebuild("report_book")
    assert _rows(client, tenant, "agent-performance-report") == before
