"""Snapshots of borrower records for the auditor's as-of replay (domain/shared/snapshot.py,
adapters/aggregate_snapshots.py): kept when a commit takes a record across a multiple of `snapshot_every` events,
they change no answer - at any instant, on a snapshot or between two, the state is the one replayed from every
event - and another brand still gets a 404."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.aggregate_snapshots import AggregateSnapshots
from domain.audit.replay import AuditTargetNotFound
from domain.customers.application import Customers
from tests.conftest import make_tenant


def test_as_of_states_of_a_borrower_from_snapshots_equal_the_whole_replay(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers: Customers = platform.get(Customers)
    monkeypatch.setattr(customers, "snapshot_every", 5)
    keeper = customers.snapshot_keeper
    assert isinstance(keeper, AggregateSnapshots) and platform.audit.snapshots["customer_record"] is keeper
    tenant = make_tenant(platform)
    brand = tenant.brand_id
    before = datetime.now(UTC)
    customer = customers.register(brand, name="Replay Borrower", phone="9800000001").id
    instants = [before]
    for i in range(23):
        if i % 3 == 0:
            customers.add_alternate_phone(brand, customer, f"98000{i:05d}", "family")
        else:
            customers.update_details(brand, customer, email=f"replay{i}@example.in", name=f"Replay Borrower {i}")
        if i % 2:
            time.sleep(0.001)
            instants.append(datetime.now(UTC))
    instants.append(datetime.now(UTC))
    final = customers.get(brand, customer).version
    snapshot = keeper.snapshot_before(customer, instants[-1])
    assert snapshot is not None and snapshot.version == final // 5 * 5 >= 20 and snapshot.until is None
    middle = keeper.snapshot_before(customer, instants[5])
    assert middle is not None and middle.until is not None and middle.version < middle.until

    with_snapshots = [platform.audit.state_as_of("customer", customer, brand, at) for at in instants]
    diff = platform.audit.diff("customer", customer, brand, instants[2], instants[-1])
    with pytest.raises(AuditTargetNotFound):
        platform.audit.state_as_of("customer", customer, make_tenant(platform).brand_id, instants[-1])
    monkeypatch.setattr(platform.audit, "snapshots", {})
    for at, state in zip(instants, with_snapshots, strict=True):
        assert platform.audit.state_as_of("customer", customer, brand, at) == state, at
    assert platform.audit.diff("customer", customer, brand, instants[2], instants[-1]) == diff
    assert with_snapshots[0]["exists"] is False and with_snapshots[-1]["version"] == final
    assert len({s["version"] for s in with_snapshots}) > 8


def test_as_of_states_of_a_staff_user_from_snapshots_equal_the_whole_replay(
    platform: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff users keep snapshots too: their history grows with every login (and a notice source's with every
    sync, the notices context's), so an as-of replay of a long-serving one decoded all of it."""
    from domain.identity.application import Identity
    from domain.identity.principal import OPERATOR

    identity: Identity = platform.get(Identity)
    monkeypatch.setattr(identity, "snapshot_every", 4)
    keeper = identity.snapshot_keeper
    assert isinstance(keeper, AggregateSnapshots) and platform.audit.snapshots["staff_user"] is keeper
    tenant = make_tenant(platform)
    brand = tenant.brand_id
    before = datetime.now(UTC)
    staff = identity.create_staff(brand, "snap@lender.in", "Snap Shot", ["loan_ops"], granter=OPERATOR).id
    instants = [before]
    for i in range(13):
        identity.update_staff(brand, staff, name=f"Snap Shot {i}", granter=OPERATOR)
        time.sleep(0.001)
        instants.append(datetime.now(UTC))
    final = identity.staff(brand, staff).version
    snapshot = keeper.snapshot_before(staff, instants[-1])
    assert snapshot is not None and snapshot.version == final // 4 * 4
    with_snapshots = [platform.audit.state_as_of("staff", staff, brand, at) for at in instants]
    monkeypatch.setattr(platform.audit, "snapshots", {})
    for at, state in zip(instants, with_snapshots, strict=True):
        assert platform.audit.state_as_of("staff", staff, brand, at) == state, at
    assert with_snapshots[-1]["version"] == final and with_snapshots[0]["exists"] is False
