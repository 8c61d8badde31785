"""Formatted ids on PostgreSQL: the number series allocates without repeats under concurrency, registrations
through the API are numbered and searchable by number, and the one-off command numbers older records."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from adapters.number_series import PostgresNumberSeries
from domain.customers.application import Customers
from domain.shared.numbering import SeriesKind
from tests.support import settle
from workers.customer_numbers import number_customers


def test_the_series_never_repeats_a_number_under_concurrency(platform: Any) -> None:
    series = PostgresNumberSeries(platform.db.pool, lambda brand_id: "ACME")
    series.setup()
    brand = uuid.uuid4()
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(lambda _: series.next(brand, SeriesKind.LOAN), range(200)))
    assert sorted(numbers) == [f"ACME-L-{n:06d}" for n in range(1, 201)]
    assert series.next(brand, SeriesKind.CUSTOMER) == "ACME-C-000001"  # each kind its own series


def test_registrations_are_numbered_and_found_by_number(client: Any, tenant: Any, platform: Any) -> None:
    made = client.post("/api/v1/customers", json={"name": "Latha Nair", "phone": "9876511001"}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert number == f"{tenant.slug.upper()}-C-000001"
    found = client.get("/api/v1/customers", params={"q": number.lower()}, headers=tenant.auth).json()
    assert [(i["id"], i["number"]) for i in found["items"]] == [(made.json()["id"], number)]


def test_the_command_numbers_records_made_before(client: Any, tenant: Any, platform: Any) -> None:
    customers = platform.get(Customers)
    series, customers.numbers = customers.numbers, None
    try:
        old = customers.register(tenant.brand_id, name="Old Record", phone="9876511002")
    finally:
        customers.numbers = series
    settle(platform, "customers", old.position)
    assert client.get(f"/api/v1/customers/{old.id}", headers=tenant.auth).json()["number"] is None
    assert number_customers(platform, tenant.brand_id) == 1
    settle(platform, "customers")
    profile = client.get(f"/api/v1/customers/{old.id}", headers=tenant.auth).json()
    assert profile["number"] == f"{tenant.slug.upper()}-C-000001"
    assert profile["timeline"][0]["kind"] == "number_assigned"
    assert number_customers(platform, tenant.brand_id) == 0  # idempotent
