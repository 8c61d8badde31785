"""Checkpoints of loans' replayed positions on PostgreSQL (domain/loans/checkpoint.py, adapters/loan_checkpoints.py):
kept by the servicing commands and the COB every CHECKPOINT_EVERY events (3 here), they change no figure of the
auditor's as-of state - with a back-dated payment and a reversal of a payment a checkpoint covers - and the views
resume from them."""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.loan_checkpoints import LoanCheckpoints
from domain.loans import application_servicing
from domain.loans.application import Loans
from domain.loans.checkpoint import position_of, resume
from domain.shared import snapshot as snapshots
from tests.conftest import make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from workers.loan_audit import VIEWS

__all__ = ["catalogue"]  # the fixture faking the product catalogue (penal charges), autouse here too


def test_as_of_states_are_the_same_with_and_without_checkpoints(platform: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 3)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    instants: list[datetime] = []

    def mark() -> None:
        time.sleep(0.002)
        instants.append(datetime.now(UTC))
        time.sleep(0.002)

    set_business_date(platform, tenant, date(2026, 3, 6))
    for day in range(1, 6):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))
        mark()
    _, first = loans.record_repayment(brand, loan_id, "3000.00", "upi", "UTR-1", date(2026, 3, 2))  # back-dated
    mark()
    loans.record_repayment(brand, loan_id, "2000.00", "upi", "UTR-2", date(2026, 3, 6))
    mark()
    set_business_date(platform, tenant, date(2026, 4, 3))
    for day in range(6, 12):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))
    mark()
    loans.reverse_repayment(brand, loan_id, first.payment_id, "cheque bounced")  # covered by checkpoints
    mark()
    for day in range(12, 32):
        loans.close_business_day(brand, loan_id, date(2026, 3, day))
    loans.record_repayment(brand, loan_id, "9000.00", "neft", "UTR-3", date(2026, 4, 2))
    mark()

    store = loans.checkpoints
    assert isinstance(store, LoanCheckpoints)
    loan = loans.get(brand, loan_id)
    assert loan.version > 20
    with platform.db.pool.connection() as conn:
        kept = conn.execute("SELECT count(*) AS n FROM ops.loan_checkpoints WHERE loan_id = %s", (loan_id,)).fetchone()
    assert kept is not None and kept["n"] >= 5
    assert position_of(loan, store) == loan.replayed().position
    latest = store.latest(loan_id, loan.version, loan.opening_position())
    assert latest is not None and latest.version > 20
    assert resume(loan.opening_position(), latest, loan.servicing_facts, loan.cob_through) is not None  # used

    with_checkpoints = []
    for instant in instants:
        VIEWS.clear()
        with_checkpoints.append(platform.audit.state_as_of("loan", loan_id, brand, instant))
    monkeypatch.setattr(loans, "checkpoints", None)
    monkeypatch.setattr(platform.audit, "snapshots", {})  # every event replayed, as before snapshots
    for instant, state in zip(instants, with_checkpoints, strict=True):
        VIEWS.clear()
        assert platform.audit.state_as_of("loan", loan_id, brand, instant) == state, instant
    assert {s["state"]["status"] for s in with_checkpoints} >= {"overdue"}


@pytest.mark.parametrize("seed", [11, 23, 37])
def test_as_of_states_from_snapshots_equal_the_whole_replay(
    platform: Any, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A generated loan (seeded): COB days, payments on the day and back-dated, reversals of payments snapshots
    already cover; snapshots every 4 events. At many instants - on a snapshot, between two, after reversals - the
    auditor's as-of state from the snapshots is the one replayed from every event."""
    monkeypatch.setattr(application_servicing, "CHECKPOINT_EVERY", 4)
    rng = random.Random(seed)
    tenant = make_tenant(platform)
    loans: Loans = platform.get(Loans)
    brand = tenant.brand_id
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, D0 + timedelta(days=200))  # payments may be dated up to then
    instants: list[datetime] = []
    paid: list[str] = []
    day, n = D0, 0
    while loans.get(brand, loan_id).version < 45:
        roll = rng.random()
        if roll < 0.45:
            day += timedelta(days=rng.randint(1, 12))
            loans.close_business_day(brand, loan_id, day)
        elif roll < 0.85 or not paid:
            on = day - timedelta(days=rng.randint(0, 10)) if rng.random() < 0.3 else day
            amount = f"{rng.choice([150, 999, 2500, 7000])}.{rng.randint(0, 99):02d}"
            _, record = loans.record_repayment(brand, loan_id, amount, "upi", f"UTR-{seed}-{n}", max(on, D0))
            paid.append(record.payment_id)
            n += 1
        else:
            loans.reverse_repayment(brand, loan_id, paid.pop(rng.randrange(len(paid))), "cheque bounced")
        if rng.random() < 0.6:
            instants.append(datetime.now(UTC))
    instants.append(datetime.now(UTC))

    store = loans.checkpoints
    assert isinstance(store, LoanCheckpoints)
    snapshot = store.snapshot_before(loan_id, instants[-1])
    assert snapshot is not None and snapshot.version >= 40  # the latest state starts from a snapshot
    assert platform.audit.snapshots["loan"] is store
    with_snapshots = []
    for instant in instants:
        VIEWS.clear()
        with_snapshots.append(platform.audit.state_as_of("loan", loan_id, brand, instant))
    # The snapshots are kept with their payments and facts as raw JSON segments (decoded by `validate_json`); rows
    # kept before segments (one JSON document) give the same states.
    with platform.db.pool.connection() as conn:
        rows = conn.execute("SELECT version, snapshot FROM ops.loan_checkpoints WHERE loan_id = %s AND snapshot IS "
                            "NOT NULL", (loan_id,)).fetchall()  # fmt: skip
        assert len(rows) >= 5 and all(bytes(r["snapshot"]).startswith(snapshots.MAGIC) for r in rows)
        for row in rows:
            kept = snapshots.decode(bytes(row["snapshot"]))
            members = {k: snapshots._encode(v) for k, v in vars(kept).items() if k != "_pending_events"}
            document = json.dumps({"class": snapshots.get_topic(type(kept)), "members": members}).encode()
            conn.execute("UPDATE ops.loan_checkpoints SET snapshot = %s WHERE loan_id = %s AND version = %s",
                         (document, loan_id, row["version"]))  # fmt: skip
    for instant, state in zip(instants, with_snapshots, strict=True):
        VIEWS.clear()
        assert platform.audit.state_as_of("loan", loan_id, brand, instant) == state, instant
    monkeypatch.setattr(loans, "checkpoints", None)
    monkeypatch.setattr(platform.audit, "snapshots", {})
    for instant, state in zip(instants, with_snapshots, strict=True):
        VIEWS.clear()
        assert platform.audit.state_as_of("loan", loan_id, brand, instant) == state, instant
    assert len({s["version"] for s in with_snapshots}) > 10
