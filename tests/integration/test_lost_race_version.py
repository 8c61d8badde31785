"""Two requests that read one version of a record and both pass its If-Match check: the one saving second loses on
the event store's unique (id, version) and its 409 names the record's version now, as a stale If-Match's does (it
named only the record before)."""

from __future__ import annotations

from typing import Any

import pytest

from domain.customers.application import Customers
from domain.shared.application import ConcurrentModification
from tests.support import mobile


def test_the_loser_of_a_race_on_one_version_is_told_the_version_now(platform: Any, tenant: Any) -> None:
    customers = platform.get(Customers)
    made = customers.register(tenant.brand_id, name="Race Loser", phone=mobile())
    first, second = customers.repository.get(made.id), customers.repository.get(made.id)
    read = first.version
    assert second.version == read
    customers.check_version(first, read)  # both pass the If-Match check: they read the same version
    customers.check_version(second, read)
    first.add_alternate_phone(mobile(), "brother")
    customers.commit(first)
    second.add_alternate_phone(mobile(), "sister")
    with pytest.raises(ConcurrentModification) as lost:
        customers.commit(second)
    assert lost.value.details["id"] == str(made.id)
    assert lost.value.details["current_version"] == read + 1 == customers.repository.get(made.id).version
