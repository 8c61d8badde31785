from __future__ import annotations

import threading
from typing import Any

import pytest

from domain.customers.application import Customers
from domain.customers.customer import CustomerNotFound, DuplicateCustomer
from domain.shared.errors import Conflict
from tests.conftest import make_tenant


def test_pan_phone_and_loan_number_are_unique_per_brand(platform: Any, tenant: Any) -> None:
    first = platform.get(Customers).register(
        tenant.brand_id, name="Sunita Iyer", phone="98860 11111", pan="ABCPI1111A", loan_numbers=["SM500001"]
    )
    for kwargs, field in (
        ({"phone": "98860 22222", "pan": "abcpi1111a"}, "pan"),
        ({"phone": "+91 98860 11111"}, "phone"),
        ({"phone": "98860 33333", "loan_numbers": ["sm500001"]}, "loan_number"),
    ):
        with pytest.raises(DuplicateCustomer) as err:
            platform.get(Customers).register(tenant.brand_id, name="Someone Else", **kwargs)
        assert err.value.details["field"] == field
        assert err.value.details["existing_id"] == str(first.id)
    other = make_tenant(platform)
    # Another brand may have a borrower with the same PAN and phone.
    platform.get(Customers).register(other.brand_id, name="Sunita Iyer", phone="98860 11111", pan="ABCPI1111A")


def test_changing_pan_releases_the_old_one(platform: Any, tenant: Any) -> None:
    a = platform.get(Customers).register(tenant.brand_id, name="Arjun Nair", phone="98860 44444", pan="ABCPN4444A")
    platform.get(Customers).update_details(tenant.brand_id, a.id, pan="ABCPN4444B", phone="98860 55555")
    b = platform.get(Customers).register(tenant.brand_id, name="Other Nair", phone="98860 44444", pan="ABCPN4444A")
    assert platform.get(Customers).owner_of(tenant.brand_id, "pan", "ABCPN4444A") == b.id
    assert platform.get(Customers).owner_of(tenant.brand_id, "pan", "ABCPN4444B") == a.id


def test_concurrent_registrations_of_one_pan_let_exactly_one_win(platform: Any, tenant: Any) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def register(i: int) -> None:
        barrier.wait()
        try:
            results.append(
                platform.get(Customers).register(
                    tenant.brand_id, name=f"Racer {i}", phone=f"98860 6666{i}", pan="ABCPR7777Z"
                )
            )
        except Conflict as exc:
            results.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if r not in winners)
    assert platform.get(Customers).owner_of(tenant.brand_id, "pan", "ABCPR7777Z") == winners[0].id


def test_a_record_is_invisible_to_another_brand(platform: Any, tenant: Any) -> None:
    a = platform.get(Customers).register(tenant.brand_id, name="Meena Das", phone="98860 77777")
    other = make_tenant(platform)
    with pytest.raises(CustomerNotFound):
        platform.get(Customers).get(other.brand_id, a.id)
    with pytest.raises(CustomerNotFound):
        platform.get(Customers).add_alternate_phone(other.brand_id, a.id, "98860 77778")
