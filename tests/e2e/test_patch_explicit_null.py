"""A PATCH that names a field with null is refused (422 naming the field) when the record has no cleared state for it:
it used to answer 200 and change nothing, so a caller clearing a borrower's email (or a staff member's name, a notice
source's token) was told it had. A field left out still means "unchanged"."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import Tenant


def _events(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM events.{table}").fetchone()
        assert row is not None
        return int(row[0])


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field], response.text


def test_customer_patch_refuses_null_and_keeps_the_record(client: Any, tenant: Tenant, dsn: str) -> None:
    created = client.post(
        "/api/v1/customers",
        json={
            "name": "Zoë Ñandú देवनागरी",
            "phone": "98765 00011",
            "pan": "abcde1234f",
            "email": "zoe@example.in",
            "date_of_birth": "1990-02-28",
            "addresses": [{"line1": "12 MG Road", "city": "Pune", "pincode": "411001"}],
            "loan_numbers": ["LN-AB-1"],
        },
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/customers/{created.json()['id']}"
    before = client.get(url, headers=tenant.auth).json()
    events = _events(dsn, "customers_events")

    for field in ("name", "phone", "pan", "email", "date_of_birth", "addresses", "loan_numbers"):
        _refused(client.patch(url, json={field: None}, headers=tenant.auth), field)

    assert _events(dsn, "customers_events") == events
    after = client.get(url, headers=tenant.auth).json()
    assert {k: after[k] for k in ("name", "email", "pan", "date_of_birth", "addresses", "version")} == {
        k: before[k] for k in ("name", "email", "pan", "date_of_birth", "addresses", "version")
    }
    # Left out is still "unchanged": a patch of the name alone keeps the rest.
    renamed = client.patch(url, json={"name": "Zoë Renamed"}, headers=tenant.auth)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["email"] == "zoe@example.in" and renamed.json()["date_of_birth"] == "1990-02-28"


def test_staff_patch_refuses_null_but_null_manager_still_means_none(client: Any, tenant: Tenant, dsn: str) -> None:
    created = client.post(
        "/api/v1/staff",
        json={
            "name": "Ānanya शर्मा",
            "email": "ananya.null@example.in",
            "roles": ["collection_executive"],
            "password": "a-very-long-password-2026",
        },
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/staff/{created.json()['id']}"
    events = _events(dsn, "identity_events")

    for field in ("name", "email", "roles", "companies", "permissions", "available"):
        _refused(client.patch(url, json={field: None}, headers=tenant.auth), field)

    assert _events(dsn, "identity_events") == events
    kept = client.get(url, headers=tenant.auth).json()
    assert kept["name"] == "Ānanya शर्मा" and kept["available"] is True and kept["version"] == 1
    assert client.patch(url, json={"manager_id": None}, headers=tenant.auth).status_code == 200


def test_notice_source_patch_refuses_null(client: Any, tenant: Tenant, dsn: str) -> None:
    created = client.post(
        "/api/v1/notice-sources",
        json={
            "company": "SML",
            "base_url": "http://127.0.0.1:9",
            "token": "tok-1234567890",
            "schedule": "*/30 * * * *",
        },
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/notice-sources/{created.json()['id']}"
    events = _events(dsn, "notices_events")

    for field in ("base_url", "token", "schedule", "enabled"):
        _refused(client.patch(url, json={field: None}, headers=tenant.auth), field)

    assert _events(dsn, "notices_events") == events
    kept = client.get(url, headers=tenant.auth).json()
    assert kept["schedule"] == "*/30 * * * *" and kept["enabled"] is True
