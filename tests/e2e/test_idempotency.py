"""Idempotency keys are never left "in progress" by a request that failed or died."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import psycopg
import pytest

from domain.customers.application import Customers
from domain.customers.values import Address
from projections.customer_notes import CustomerNoteQueries
from tests.conftest import Tenant
from tests.support import mobile, settle


def _actor(tenant: Tenant) -> str:
    """The principal an API key's idempotency records are kept under (`apikey:<key id>`)."""
    return f"apikey:{uuid.UUID(tenant.key.split('_')[1])}"


@contextmanager
def _storing_fails_for(dsn: str, key: str) -> Iterator[None]:
    """A fault at the store: PostgreSQL refuses to record the response of `key` (and only of that key)."""
    name = "refuse_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE FUNCTION ops.{name}() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected fault: response not stored'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER {name} BEFORE UPDATE ON ops.idempotency_keys FOR EACH ROW "
            f"WHEN (NEW.key = '{key}' AND NEW.status IS NOT NULL) EXECUTE FUNCTION ops.{name}()"
        )
        try:
            yield
        finally:
            conn.execute(f"DROP TRIGGER {name} ON ops.idempotency_keys")
            conn.execute(f"DROP FUNCTION ops.{name}()")


def _reservation(dsn: str, tenant: Tenant, key: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT status FROM ops.idempotency_keys WHERE brand_id = %s AND principal = %s AND key = %s",
            (tenant.brand_id, _actor(tenant), key),
        ).fetchone()


def test_a_response_that_cannot_be_stored_ends_its_key_applied_never_in_progress(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    key = "store-fails-" + uuid.uuid4().hex
    headers = tenant.auth | {"Idempotency-Key": key}
    with _storing_fails_for(dsn, key):
        first = client.patch("/api/v1/brand/config", json={"min_age": 24}, headers=headers)
    # The outcome of the command stands and is returned; only the record of it could not be kept.
    assert first.status_code == 200 and first.json()["settings"]["min_age"] == 24
    assert _reservation(dsn, tenant, key) == (None,)  # kept: the command was recorded (applied)
    retry = client.patch("/api/v1/brand/config", json={"min_age": 24}, headers=headers)
    # Not 409 "still in progress" for ever, and not run a second time either: applied, its answer lost.
    assert retry.status_code == 409 and retry.json()["type"].endswith("idempotency-applied"), retry.text
    # A command that recorded nothing (a PATCH to the value it has) frees its key as before: the retry runs.
    other = "store-fails-" + uuid.uuid4().hex
    with _storing_fails_for(dsn, other):
        same = client.patch(
            "/api/v1/brand/config", json={"min_age": 24}, headers=tenant.auth | {"Idempotency-Key": other}
        )
    assert same.status_code == 200 and _reservation(dsn, tenant, other) is None
    rerun = client.patch("/api/v1/brand/config", json={"min_age": 24}, headers=tenant.auth | {"Idempotency-Key": other})
    assert rerun.status_code == 200 and "idempotent-replayed" not in rerun.headers
    replay = client.patch(
        "/api/v1/brand/config", json={"min_age": 24}, headers=tenant.auth | {"Idempotency-Key": other}
    )
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"


def test_a_keyed_command_that_fails_after_its_commit_is_never_run_again(
    client: Any, platform: Any, tenant: Tenant, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The note is committed, then its handler fails reading it back (a lost connection, a bug): the answer is a 500.
    # The key was freed on the 5xx and the client's retry recorded the note a second time.
    customer = platform.get(Customers).register(
        tenant.brand_id, name="Kavya Rao", phone="+91" + mobile("9"), date_of_birth=date(1991, 3, 2),
        addresses=[Address(line1="7 Hill Road", city="Pune", pincode="411001")],
    )  # fmt: skip
    settle(platform, Customers.name)
    path = f"/api/v1/customers/{customer.id}/notes"
    key, body = "note-" + uuid.uuid4().hex, {"text": "Asked for a call back on Monday"}
    headers = tenant.auth | {"Idempotency-Key": key}

    def lost(self: CustomerNoteQueries, brand_id: uuid.UUID, note_id: uuid.UUID) -> None:
        raise psycopg.OperationalError("injected fault: the connection was lost after the commit")

    with monkeypatch.context() as patched:
        patched.setattr(CustomerNoteQueries, "note", lost)
        failed = client.post(path, json=body, headers=headers)
    assert failed.status_code == 503, failed.text  # "retry after a few seconds (with the same Idempotency-Key)"
    assert _reservation(dsn, tenant, key) == (None,)  # kept, not freed
    retry = client.post(path, json=body, headers=headers)
    assert retry.status_code == 409 and retry.json()["type"].endswith("idempotency-applied"), retry.text
    settle(platform, Customers.name)
    notes = client.get(path, headers=tenant.auth).json()["items"]
    assert [n["text"] for n in notes] == [body["text"]]  # recorded once

    # A 5xx before anything was recorded still frees the key: the retry runs the command.
    fresh = "note-" + uuid.uuid4().hex

    def down(*args: Any, **kwargs: Any) -> None:
        raise psycopg.OperationalError("injected fault: the database is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(Customers, "add_note", down)
        refused = client.post(path, json=body, headers=tenant.auth | {"Idempotency-Key": fresh})
    assert refused.status_code == 503 and _reservation(dsn, tenant, fresh) is None
    ran = client.post(path, json=body, headers=tenant.auth | {"Idempotency-Key": fresh})
    assert ran.status_code in (201, 202), ran.text


def test_a_reservation_left_by_a_dead_request_is_taken_over_after_five_minutes(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    stale, live = "died-" + uuid.uuid4().hex, "running-" + uuid.uuid4().hex
    body = {"min_age": 25}
    # The reservation the same request would have made (method, path and canonical JSON body).
    same_request = hashlib.sha256(
        b"\0".join([b"PATCH", b"/api/v1/brand/config", json.dumps(body, separators=(",", ":")).encode()])
    )
    with psycopg.connect(dsn) as conn:
        for key, age in ((stale, "6 minutes"), (live, "10 seconds")):
            conn.execute(
                "INSERT INTO ops.idempotency_keys (brand_id, principal, key, request_hash, created_at) "
                "VALUES (%s, %s, %s, %s, now() - %s::interval)",
                (tenant.brand_id, _actor(tenant), key, same_request.hexdigest(), age),
            )
    in_flight = client.patch("/api/v1/brand/config", json=body, headers=tenant.auth | {"Idempotency-Key": live})
    assert in_flight.status_code == 409 and in_flight.json()["type"].endswith("idempotency-in-progress")
    taken = client.patch("/api/v1/brand/config", json=body, headers=tenant.auth | {"Idempotency-Key": stale})
    assert taken.status_code == 200 and taken.json()["settings"]["min_age"] == 25
    assert _reservation(dsn, tenant, stale) == (200,)


def test_a_blank_key_or_one_with_a_control_character_is_422_naming_the_header(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    # A key of a single space (or only whitespace) was taken: every client sending one shared an invisible key.
    body = {"kind": "pincode", "value": "110013", "reason": "fraud ring"}
    refused = [" ", "   ", "k\x01", "k\x7f", "k\tey", "x" * 201, ""]
    for key in refused:
        got = client.post("/api/v1/blocklist", json=body, headers=tenant.auth | {"Idempotency-Key": key})
        assert got.status_code == 422, (key, got.text)
        assert got.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in got.json()["errors"]] == ["Idempotency-Key"], (key, got.text)
        assert _reservation(dsn, tenant, key) is None
    assert client.get("/api/v1/blocklist", headers=tenant.auth).json()["items"] == []  # nothing was added
    # The OpenAPI document says the same rule: its pattern refuses what the server refuses.
    [param] = [
        p
        for p in client.get("/openapi.json").json()["paths"]["/api/v1/blocklist"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    ]
    schema = param["schema"]
    assert (schema["minLength"], schema["maxLength"]) == (1, 200)
    stated = re.compile(schema["pattern"])
    assert [key for key in refused if stated.search(key) and len(key) <= 200] == []
    for key in ("k", " k ", "a key", "x" * 200, "ключ"):  # accepted, as before
        assert stated.search(key)
    made = client.post("/api/v1/blocklist", json=body, headers=tenant.auth | {"Idempotency-Key": " k "})
    assert made.status_code == 201, made.text
    again = client.post("/api/v1/blocklist", json=body, headers=tenant.auth | {"Idempotency-Key": " k "})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


def test_a_replay_is_the_first_answer_byte_for_byte(client: Any, tenant: Tenant, dsn: str) -> None:
    # The body was kept as jsonb and written again with json.dumps: equal JSON, but its keys re-ordered (jsonb sorts
    # them by length), its spacing changed and "é" sent as "\u00e9" -- a client comparing or signing bytes saw a
    # different answer to the same request.
    key = "bytes-" + uuid.uuid4().hex
    body = {"kind": "pincode", "value": "110014", "reason": "fraud ring near the café – reported twice"}
    headers = tenant.auth | {"Idempotency-Key": key}
    first = client.post("/api/v1/blocklist", json=body, headers=headers)
    assert first.status_code == 201, first.text
    replay = client.post("/api/v1/blocklist", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert (replay.status_code, replay.content) == (201, first.content)
    assert "café – reported".encode() in replay.content
    assert replay.headers["content-type"] == first.headers["content-type"]
    assert replay.headers.get("location") == first.headers.get("location")


def test_a_key_used_with_another_body_or_endpoint_is_422_naming_the_header_and_writes_nothing(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    key = "reuse-" + uuid.uuid4().hex
    headers = tenant.auth | {"Idempotency-Key": key}
    body = {"kind": "pincode", "value": "110016", "reason": "fraud ring"}
    assert client.post("/api/v1/blocklist", json=body, headers=headers).status_code == 201
    for path, other in (
        ("/api/v1/blocklist", body | {"value": "110017"}),
        ("/api/v1/staff-notifications", {"title": "Reused key", "body": "x", "priority": "LOW", "roles": ["admin"]}),
    ):
        refused = client.post(path, json=other, headers=headers)
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/idempotency-key-reused"), problem
        assert [e["field"] for e in problem["errors"]] == ["Idempotency-Key"], problem
    listed = client.get("/api/v1/blocklist", params={"kind": "pincode"}, headers=tenant.auth).json()["items"]
    assert [e["value"] for e in listed] == ["110016"]


def test_a_record_kept_before_the_bytes_were_still_replays_its_json(client: Any, tenant: Tenant, dsn: str) -> None:
    # Records written before the `body` column (within the retention window at deploy) hold only the parsed JSON.
    key = "kept-before-" + uuid.uuid4().hex
    body = {"min_age": 26}
    same_request = hashlib.sha256(
        b"\0".join([b"PATCH", b"/api/v1/brand/config", json.dumps(body, separators=(",", ":")).encode()])
    )
    answer = {"settings": {"min_age": 26}, "note": "kept before"}
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO ops.idempotency_keys (brand_id, principal, key, request_hash, status, response, headers) "
            "VALUES (%s, %s, %s, %s, 200, %s, %s)",
            (
                tenant.brand_id,
                _actor(tenant),
                key,
                same_request.hexdigest(),
                json.dumps(answer),
                json.dumps({"content-type": "application/json"}),
            ),
        )
    replay = client.patch("/api/v1/brand/config", json=body, headers=tenant.auth | {"Idempotency-Key": key})
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == answer
