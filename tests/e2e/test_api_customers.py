from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.identity.application import Identity
from tests.conftest import make_tenant

ASHA = {
    "name": "Asha Kulkarni",
    "phone": "098765-43210",
    "pan": "abcpk1234q",
    "email": "asha.k@example.in",
    "date_of_birth": "1990-04-12",
    "loan_numbers": ["SM123456"],
    "addresses": [{"line1": "12 MG Road", "city": "Pune", "pincode": "411001"}],
}


def _event_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM events.customers_events").fetchone()[0]


def test_register_search_and_customer_360(client: Any, tenant: Any) -> None:
    created = client.post("/api/v1/customers", json=ASHA, headers=tenant.auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["phone"] == "+919876543210" and body["pan"] == "ABCPK1234Q" and body["pan_masked"] == "ABCPK****Q"
    assert created.headers["location"] == f"/api/v1/customers/{body['id']}"

    for q in ("asha", "KULKARNI", "98765 43210", "+91 9876543210", "SM123456", "abcpk1234q"):
        page = client.get("/api/v1/customers", params={"q": q}, headers=tenant.auth).json()
        assert [i["id"] for i in page["items"]] == [body["id"]], q
        assert page["items"][0]["pan"] == "ABCPK****Q"  # masked in lists

    alt = client.post(
        f"/api/v1/customers/{body['id']}/alternate-phones",
        json={"phone": "+91 99887 76655", "label": "father"},
        headers=tenant.auth,
    )
    assert alt.status_code == 201
    assert (
        client.get("/api/v1/customers", params={"q": "9988776655"}, headers=tenant.auth).json()["items"][0]["id"]
        == body["id"]
    )

    patched = client.patch(
        f"/api/v1/customers/{body['id']}",
        json={"email": "asha@example.in", "loan_numbers": ["SM654321"]},
        headers=tenant.auth,
    )
    assert patched.status_code == 200 and patched.json()["loan_numbers"] == ["SM123456", "SM654321"]

    profile = client.get(f"/api/v1/customers/{body['id']}", headers=tenant.auth).json()
    kinds = [e["kind"] for e in profile["timeline"]]
    assert kinds == ["loan_linked", "details_updated", "alternate_phone_added", "registered"]
    assert all(e["actor"].startswith("apikey:") for e in profile["timeline"])
    assert profile["alternate_phones"] == [{"phone": "+919988776655", "label": "father"}]


def test_directory_pages_with_a_keyset_cursor(client: Any, tenant: Any) -> None:
    for i in range(7):
        assert (
            client.post(
                "/api/v1/customers", json={"name": f"Pager Person {i}", "phone": f"97000 0000{i}"}, headers=tenant.auth
            ).status_code
            == 201
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "pager", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/customers", params=params, headers=tenant.auth).json()
        seen += [i["name"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"Pager Person {i}" for i in range(7)]
    bad = client.get("/api/v1/customers", params={"cursor": "garbage"}, headers=tenant.auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_duplicate_pan_is_409_naming_the_existing_record(client: Any, tenant: Any, dsn: str) -> None:
    first = client.post(
        "/api/v1/customers",
        json={"name": "Ravi Shetty", "phone": "97111 11111", "pan": "ABCPS1111K"},
        headers=tenant.auth,
    ).json()
    before = _event_count(dsn)
    dup = client.post(
        "/api/v1/customers", json={"name": "R Shetty", "phone": "97111 11112", "pan": "ABCPS1111K"}, headers=tenant.auth
    )
    assert dup.status_code == 409
    assert dup.headers["content-type"] == "application/problem+json"
    assert dup.json()["existing_id"] == first["id"] and first["id"] in dup.json()["detail"]
    assert _event_count(dsn) == before


def test_bad_inputs_are_rejected_and_write_nothing(client: Any, tenant: Any, dsn: str) -> None:
    before = _event_count(dsn)
    bad = client.post(
        "/api/v1/customers",
        json={
            "name": "",
            "phone": "12345",
            "pan": "ABC",
            "email": "nope",
            "date_of_birth": "1990-02-30",
            "shoe_size": 9,
        },
        headers=tenant.auth,
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in bad.json()["errors"]} == {"name", "phone", "pan", "email", "date_of_birth", "shoe_size"}

    missing = client.post("/api/v1/customers", json={"pan": "ABCPE1234F"}, headers=tenant.auth)
    assert missing.status_code == 422 and {e["field"] for e in missing.json()["errors"]} == {"name", "phone"}

    minor = client.post(
        "/api/v1/customers",
        json={"name": "Young One", "phone": "97222 22222", "date_of_birth": "2015-01-01"},
        headers=tenant.auth,
    )
    assert minor.status_code == 422 and minor.json()["errors"][0]["field"] == "date_of_birth"

    malformed = client.post(
        "/api/v1/customers", content=b'{"name": ', headers=tenant.auth | {"content-type": "application/json"}
    )
    assert malformed.status_code == 400

    huge = client.post(
        "/api/v1/customers", content=b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}', headers=tenant.auth
    )
    assert huge.status_code == 413

    assert client.post("/api/v1/customers", json=ASHA).status_code == 401
    assert client.get("/api/v1/customers", headers={"Authorization": "Bearer cdk_nope"}).status_code == 401
    assert _event_count(dsn) == before


def test_revoked_key_is_refused_at_once(client: Any, platform: Any) -> None:
    other = make_tenant(platform)
    assert client.get("/api/v1/customers", headers=other.auth).status_code == 200
    key_id = uuid.UUID(hex=other.key.split("_")[1])
    platform.get(Identity).revoke_api_key(other.brand_id, key_id)
    refused = client.get("/api/v1/customers", headers=other.auth)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_another_brands_ids_are_404_and_its_rows_invisible(client: Any, tenant: Any, platform: Any) -> None:
    mine = client.post(
        "/api/v1/customers",
        json={"name": "Private Person", "phone": "97333 33333", "pan": "ABCPP3333P"},
        headers=tenant.auth,
    ).json()
    other = make_tenant(platform)
    assert client.get(f"/api/v1/customers/{mine['id']}", headers=other.auth).status_code == 404
    assert (
        client.patch(f"/api/v1/customers/{mine['id']}", json={"name": "Hijack"}, headers=other.auth).status_code == 404
    )
    assert (
        client.post(
            f"/api/v1/customers/{mine['id']}/alternate-phones", json={"phone": "97333 33334"}, headers=other.auth
        ).status_code
        == 404
    )
    for q in ("Private", "97333 33333", "ABCPP3333P"):
        assert client.get("/api/v1/customers", params={"q": q}, headers=other.auth).json()["items"] == []
    assert client.get("/api/v1/customers/not-a-uuid", headers=tenant.auth).status_code == 404


def test_idempotent_retry_returns_the_first_response_without_writing(client: Any, tenant: Any, dsn: str) -> None:
    headers = tenant.auth | {"Idempotency-Key": "reg-" + uuid.uuid4().hex}
    body = {"name": "Idem Potent", "phone": "97444 44444", "pan": "ABCPI4444I"}
    first = client.post("/api/v1/customers", json=body, headers=headers)
    count = _event_count(dsn)
    again = client.post("/api/v1/customers", json=dict(reversed(list(body.items()))), headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert _event_count(dsn) == count
    other_body = client.post("/api/v1/customers", json=body | {"name": "Someone Else"}, headers=headers)
    assert other_body.status_code == 422 and "Idempotency-Key" in other_body.json()["detail"]
    assert _event_count(dsn) == count


def test_stale_if_match_is_409(client: Any, tenant: Any) -> None:
    created = client.post(
        "/api/v1/customers", json={"name": "Etag Person", "phone": "97555 55555"}, headers=tenant.auth
    )
    etag = created.headers["etag"]
    ok = client.patch(
        f"/api/v1/customers/{created.json()['id']}",
        json={"name": "Etag Person Two"},
        headers=tenant.auth | {"If-Match": etag},
    )
    assert ok.status_code == 200
    stale = client.patch(
        f"/api/v1/customers/{created.json()['id']}",
        json={"name": "Etag Person Three"},
        headers=tenant.auth | {"If-Match": etag},
    )
    assert stale.status_code == 409
    assert (
        client.get(f"/api/v1/customers/{created.json()['id']}", headers=tenant.auth).json()["name"] == "Etag Person Two"
    )


def test_role_without_write_permission_is_403(client: Any, platform: Any) -> None:
    viewer = make_tenant(platform, role="collection_executive")
    assert client.get("/api/v1/customers", headers=viewer.auth).status_code == 200
    denied = client.post("/api/v1/customers", json={"name": "Nope Person", "phone": "97666 66666"}, headers=viewer.auth)
    assert denied.status_code == 403 and denied.json()["permission"] == "CUSTOMER"
