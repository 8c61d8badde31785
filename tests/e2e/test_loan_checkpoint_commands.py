"""Every loan command takes the loan's checkpoints (domain/loans/application_servicing.py `commit`): a waiver's or a
settlement's request and approval that takes a serviced loan across a multiple of CHECKPOINT_EVERY events leaves a
snapshot stamped by the running code at that version, and the loan loads from it as a replay of every event gives
it. (They committed without one before: a loan with many waivers replayed everything since its last repayment's
checkpoint.)"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from domain.loans import application_servicing, snapshot_stamp
from domain.loans.application import Loans
from domain.loans.loan import Loan
from domain.shared import snapshot as snapshots
from domain.shared.application import CommandResult, replay
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

LATE = date(2026, 3, 20)  # the first instalment overdue since 1 Mar: penal charges to waive


def _stamped(platform: Any, loan_id: UUID) -> dict[int, str | None]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT version, stamp FROM ops.loan_checkpoints WHERE loan_id = %s AND snapshot IS NOT NULL",
            (loan_id,),
        ).fetchall()
    return {r["version"]: r["stamp"] for r in rows}


def _checkpointed(platform: Any, monkeypatch: pytest.MonkeyPatch, loans: Loans, brand: UUID, loan_id: UUID,
                  command: Any) -> Any:  # fmt: skip
    """Run `command` with the interval set so that its first event lands on a multiple of it; the version."""
    version = loans.get(brand, loan_id).version
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", version + 1)
    outcome = command()
    result = outcome[0] if isinstance(outcome, tuple) else outcome
    assert isinstance(result, CommandResult) and result.changed
    stamped = _stamped(platform, loan_id)
    assert stamped.get(version + 1) == snapshot_stamp.stamp() is not None, (version + 1, stamped)
    loaded = loans.from_snapshots([loan_id], upto=version + 1)[loan_id]
    whole: Loan = loans.repository.get(loan_id, version=version + 1, projector_func=replay)
    assert loaded.version == whole.version == version + 1
    assert snapshots.same({k: v for k, v in vars(loaded).items() if k != "_pending_events"},
                          {k: v for k, v in vars(whole).items() if k != "_pending_events"})  # fmt: skip
    return outcome


def test_waivers_and_settlements_past_the_interval_leave_stamped_snapshots(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    for day in range(1, 20):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))  # penal charged: something to waive
    assert loans.get(brand, loan_id).penal_outstanding(LATE) > 0

    def check(command: Any) -> Any:
        return _checkpointed(platform, monkeypatch, loans, brand, loan_id, command)

    _, waiver = check(lambda: loans.request_waiver(brand, loan_id, "0.10", "goodwill"))
    check(lambda: loans.decide(brand, loan_id, "waiver", waiver.waiver_id, approve=True, one_person_may_decide=True))
    _, other = check(lambda: loans.request_waiver(brand, loan_id, "0.10", "goodwill again"))
    check(lambda: loans.reject_waiver(brand, loan_id, other.waiver_id, "not this time"))
    _, proposed = check(lambda: loans.propose_settlement(brand, loan_id, "60000.00", "one-time settlement"))
    check(lambda: loans.decide(brand, loan_id, "settlement", proposed.settlement_id, approve=True,
                               one_person_may_decide=True))  # fmt: skip
    assert str(loans.get(brand, loan_id).settlements[proposed.settlement_id].status) == "approved"
