"""Loans loaded from their newest snapshot plus the later events on PostgreSQL (adapters/loan_checkpoints.py
`newest`: the snapshot and the events after it in one round trip): the same loan as a replay of every event at every
version, one or many at once (the COB's `load_many`); snapshots of other code (another stamp, or none: rows kept
before stamps) are ignored by loads and by the auditor's as-of replay; a stale save still conflicts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from adapters.loan_checkpoints import LoanCheckpoints
from domain.loans import application_servicing, snapshot_stamp
from domain.loans.application import Loans
from domain.loans.loan import Loan, LoanNotFound
from domain.loans.servicing_events import PaymentMode
from domain.shared import snapshot as snapshots
from domain.shared.application import ConcurrentModification, replay
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date

__all__ = ["catalogue"]  # the fixture faking the product catalogue (penal charges), autouse here too


def _whole(loans: Loans, loan_id: Any, version: int | None = None) -> Loan:
    loan: Loan = loans.repository.get(loan_id, version=version, projector_func=replay)
    return loan


def _assert_same(loaded: Loan, replayed: Loan) -> None:
    assert loaded.version == replayed.version
    mine = {k: v for k, v in vars(loaded).items() if k != "_pending_events"}
    theirs = {k: v for k, v in vars(replayed).items() if k != "_pending_events"}
    assert list(mine) == list(theirs)
    assert snapshots.same(mine, theirs)


def _serviced(platform: Any, tenant: Any) -> Any:
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, date(2026, 6, 1))
    _, first = loans.record_repayment(brand, loan_id, "3000.00", "upi", "UTR-1", date(2026, 3, 2))
    for day in range(1, 20):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))
    loans.record_repayment(brand, loan_id, "1500.00", "upi", "UTR-2", date(2026, 3, 10))  # back-dated
    loans.reverse_repayment(brand, loan_id, first.payment_id, "cheque bounced")  # covered by snapshots
    for day in range(20, 32):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))
    loans.record_repayment(brand, loan_id, "9000.00", "neft", "UTR-3", date(2026, 3, 31))
    return loan_id


def test_loans_load_from_snapshot_and_tail_as_the_whole_replay(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 4)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    assert isinstance(loans.loan_snapshots, LoanCheckpoints) and loans.loan_snapshots.events_table is not None
    loan_id = _serviced(platform, tenant)
    other = disbursed_loan(platform, tenant)  # no snapshot yet
    final = _whole(loans, loan_id)
    with platform.db.pool.connection() as conn:
        rows = conn.execute("SELECT version, stamp FROM ops.loan_checkpoints WHERE loan_id = %s AND snapshot IS NOT "
                            "NULL ORDER BY version", (loan_id,)).fetchall()  # fmt: skip
    assert len(rows) >= 5 and {r["stamp"] for r in rows} == {snapshot_stamp.stamp()}
    first = rows[0]["version"]
    for version in range(first, final.version + 1):
        loaded = loans.from_snapshots([loan_id], upto=version).get(loan_id)
        assert loaded is not None, version
        _assert_same(loaded, _whole(loans, loan_id, version))
    assert loans.from_snapshots([loan_id, other]).keys() == {loan_id}
    _assert_same(loans.get(tenant.brand_id, loan_id), final)
    many = loans.load_many(Loan, [other, loan_id], tenant.brand_id, LoanNotFound)
    _assert_same(many[0], _whole(loans, other))
    _assert_same(many[1], final)
    with pytest.raises(LoanNotFound):
        loans.get(make_tenant(platform).brand_id, loan_id)  # another brand's loan, from its snapshot too


def test_snapshots_of_other_code_are_ignored_by_loads_and_the_as_of_replay(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 4)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    loan_id = _serviced(platform, tenant)
    final = _whole(loans, loan_id)
    store = loans.checkpoints
    assert isinstance(store, LoanCheckpoints)
    now = datetime.now(UTC)
    assert loans.from_snapshots([loan_id]) and store.snapshot_before(loan_id, now) is not None
    state = platform.audit.state_as_of("loan", loan_id, tenant.brand_id, now)
    # Every snapshot's state altered; the rows stamped by other code, then unstamped (kept before stamps).
    with platform.db.pool.connection() as conn:
        for row in conn.execute("SELECT version, snapshot FROM ops.loan_checkpoints WHERE loan_id = %s AND snapshot "
                                "IS NOT NULL", (loan_id,)).fetchall():  # fmt: skip
            altered = snapshots.decode(bytes(row["snapshot"]))
            altered.amount = Decimal("1.00")
            conn.execute("UPDATE ops.loan_checkpoints SET snapshot = %s WHERE loan_id = %s AND version = %s",
                         (snapshots.encode(altered), loan_id, row["version"]))  # fmt: skip
    assert loans.get(tenant.brand_id, loan_id).amount == Decimal("1.00")  # applied under this code's stamp
    for stamp in ("0:other-code", None):
        with platform.db.pool.connection() as conn:
            conn.execute("UPDATE ops.loan_checkpoints SET stamp = %s WHERE loan_id = %s", (stamp, loan_id))
        assert loans.from_snapshots([loan_id]) == {}
        _assert_same(loans.get(tenant.brand_id, loan_id), final)
        (many,) = loans.load_many(Loan, [loan_id], tenant.brand_id, LoanNotFound)
        _assert_same(many, final)
        assert store.snapshot_before(loan_id, now) is None
        assert platform.audit.state_as_of("loan", loan_id, tenant.brand_id, now) == state


def test_a_stale_save_of_a_loan_loaded_from_its_snapshot_conflicts(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 4)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    loan_id = _serviced(platform, tenant)
    first = loans.from_snapshots([loan_id]).get(loan_id)
    second = loans.from_snapshots([loan_id]).get(loan_id)
    assert first is not None and second is not None
    day = date(2026, 4, 1)
    first.record_repayment("p-first", Decimal("300.00"), PaymentMode.UPI, "UTR-first", day, day)
    assert loans.commit_serviced(first).changed
    second.record_repayment("p-stale", Decimal("500.00"), PaymentMode.UPI, "UTR-stale", day, day)
    with pytest.raises(ConcurrentModification):
        loans.commit_serviced(second)
    _assert_same(loans.get(tenant.brand_id, loan_id), _whole(loans, loan_id))
    assert "p-stale" not in loans.get(tenant.brand_id, loan_id).payments
    assert loans.get(tenant.brand_id, loan_id).version == first.version


def test_a_loan_without_a_snapshot_loads_in_the_one_round_trip_that_looks_for_it(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most loans are short and have no snapshot: the query that looks for one brings their whole history with it
    (`LoanCheckpoints.loading`), so a load costs one round trip, not the snapshot query and then a replay's read;
    an id with no events is None. Loans with a snapshot come from it, in the same round trip."""
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 4)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    long_loan = _serviced(platform, tenant)
    short_loan = disbursed_loan(platform, tenant)
    expected = {i: _whole(loans, i) for i in (long_loan, short_loan)}
    assert loans.checkpoints is not None and loans.from_snapshots([short_loan]) == {}
    missing = uuid4()

    def no_second_read(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a second read of the events")

    monkeypatch.setattr(loans.recorder, "select_events", no_second_read)
    monkeypatch.setattr(loans.recorder, "select_events_many", no_second_read, raising=False)
    for loan_id, whole in expected.items():
        found = loans.find(loan_id)
        assert isinstance(found, Loan)
        _assert_same(found, whole)
    many = loans.find_many([short_loan, long_loan, missing])
    assert many.keys() == {short_loan, long_loan}
    for loan_id, whole in expected.items():
        _assert_same(many[loan_id], whole)
    assert loans.find(missing) is None
