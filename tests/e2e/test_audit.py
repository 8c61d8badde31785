"""Auditor replay and the audit trail: states as of instants equal what the API showed at those instants."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.support import ROOT, settle

PROFILE_FIELDS = ("name", "phone", "email", "alternate_phones", "loan_numbers", "version")


def _instant() -> str:
    time.sleep(0.01)  # strictly after the last event, strictly before the next
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def _profile(client: Any, tenant: Any, customer_id: str) -> dict[str, Any]:
    body = client.get(f"/api/v1/customers/{customer_id}", headers=tenant.auth).json()
    return {k: body.get(k) for k in PROFILE_FIELDS}


def _replayed(client: Any, tenant: Any, customer_id: str, as_of: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/audit/customer/{customer_id}/state", params={"as_of": as_of}, headers=tenant.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_state_as_of_each_instant_equals_what_was_seen_then(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    before_anything = _instant()
    created = client.post(
        "/api/v1/customers", json={"name": "Audit Borrower", "phone": "9812345670"}, headers=tenant.auth
    )
    assert created.status_code == 201
    customer_id = created.json()["id"]
    seen: list[tuple[str, dict[str, Any]]] = []
    seen.append((_instant(), _profile(client, tenant, customer_id)))
    client.patch(f"/api/v1/customers/{customer_id}", json={"email": "audit@example.in"}, headers=tenant.auth)
    seen.append((_instant(), _profile(client, tenant, customer_id)))
    client.post(
        f"/api/v1/customers/{customer_id}/alternate-phones", json={"phone": "098123-45671"}, headers=tenant.auth
    )
    client.post(f"/api/v1/customers/{customer_id}/loan-numbers", json={"loan_number": "AUD0001"}, headers=tenant.auth)
    seen.append((_instant(), _profile(client, tenant, customer_id)))

    for instant, profile in seen:
        replayed = _replayed(client, tenant, customer_id, instant)
        state = replayed["state"]
        assert replayed["version"] == profile["version"]
        assert (state["name"], state["phone"], state["email"]) == (profile["name"], profile["phone"], profile["email"])
        assert sorted(state["alternate_phones"]) == sorted(p["phone"] for p in profile["alternate_phones"])
        assert state["loan_numbers"] == profile["loan_numbers"]
    nothing_yet = _replayed(client, tenant, customer_id, before_anything)
    assert (nothing_yet["exists"], nothing_yet["state"], nothing_yet["version"]) == (False, None, 0)

    diff = client.get(
        f"/api/v1/audit/customer/{customer_id}/diff",
        params={"from": seen[0][0], "to": seen[2][0]},
        headers=tenant.auth,
    ).json()
    assert diff["changes"]["email"] == {"from": None, "to": "audit@example.in"}
    assert diff["changes"]["loan_numbers"] == {"from": [], "to": ["AUD0001"]}
    assert [e["event"] for e in diff["events"]] == ["DetailsUpdated", "AlternatePhoneAdded", "LoanNumberLinked"]

    history = client.get(f"/api/v1/audit/customer_record/{customer_id}/history", headers=tenant.auth).json()
    assert [e["version"] for e in history["events"]] == [1, 2, 3, 4]
    actors = {e["actor"] for e in history["events"]}
    assert len(actors) == 1 and actors.pop().startswith("apikey:")
    assert all(e["trace_id"] for e in history["events"])  # the request id of the command

    exported = client.get(
        f"/api/v1/audit/customer/{customer_id}/history", params={"format": "csv"}, headers=tenant.auth
    )
    assert (
        exported.headers["content-type"].startswith("text/csv")
        and "attachment" in exported.headers["content-disposition"]
    )
    assert exported.content.startswith("\ufeff".encode())  # a byte-order mark, so Excel reads Hindi names right
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["event"] for r in rows] == ["Registered", "DetailsUpdated", "AlternatePhoneAdded", "LoanNumberLinked"]
    assert rows[0]["version"] == "1" and rows[0]["actor"].startswith("apikey:")


def test_replay_is_brand_scoped_permissioned_and_refuses_bad_input(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    customer_id = client.post(
        "/api/v1/customers", json={"name": "Scoped Borrower", "phone": "9812345680"}, headers=tenant.auth
    ).json()["id"]
    path = f"/api/v1/audit/customer/{customer_id}/history"
    assert client.get(path, headers=other.auth).status_code == 404
    sales = make_tenant(platform, role="sales")
    assert client.get(f"/api/v1/audit/customer/{customer_id}/history", headers=sales.auth).status_code == 403
    unknown = client.get(f"/api/v1/audit/spaceship/{customer_id}/history", headers=tenant.auth)
    assert unknown.status_code == 422 and "unknown aggregate type" in unknown.text
    wrong_type = client.get(f"/api/v1/audit/covenant/{customer_id}/history", headers=tenant.auth)
    assert wrong_type.status_code == 404
    bad_instant = client.get(
        f"/api/v1/audit/customer/{customer_id}/state", params={"as_of": "yesterday"}, headers=tenant.auth
    )
    assert bad_instant.status_code == 422


def test_audit_trail_finds_actions_by_actor_type_record_and_time(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    start = _instant()
    customer_id = client.post(
        "/api/v1/customers", json={"name": "Trail Borrower", "phone": "9812345690"}, headers=tenant.auth
    ).json()["id"]
    client.patch(f"/api/v1/customers/{customer_id}", json={"email": "trail@example.in"}, headers=tenant.auth)
    settle(platform, Customers.name)  # the activity log of the borrowers follows their source
    end = _instant()
    params = {"aggregate_type": "customer", "aggregate_id": customer_id, "from": start, "to": end}
    items = client.get("/api/v1/audit/trail", params=params, headers=tenant.auth).json()["items"]
    assert [i["event_type"] for i in items] == ["DetailsUpdated", "Registered"]
    actor = items[0]["actor"]
    by_actor = client.get("/api/v1/audit/trail", params={"actor": actor}, headers=tenant.auth).json()["items"]
    assert by_actor and {i["actor"] for i in by_actor} == {actor}
    later = client.get("/api/v1/audit/trail", params={**params, "from": end}, headers=tenant.auth).json()["items"]
    assert later == []


def test_replay_from_the_cli(client: Any, platform: Any, dsn: str) -> None:
    tenant = make_tenant(platform)
    customer_id = client.post(
        "/api/v1/customers", json={"name": "Cli Borrower", "phone": "9812345611"}, headers=tenant.auth
    ).json()["id"]
    instant = _instant()
    client.patch(f"/api/v1/customers/{customer_id}", json={"email": "cli@example.in"}, headers=tenant.auth)
    env = {**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", "replay", "customer", customer_id, "--as-of", instant],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"version": 1' in done.stdout and '"email": null' in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "workers.cli", "replay", "customer", "not-an-id"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2 and "not a record id" in missing.stderr


def test_replay_never_shows_credentials(client: Any, platform: Any) -> None:
    from tests.e2e.conftest import PASSWORD

    tenant = make_tenant(platform)
    email = f"audited-{uuid.uuid4().hex[:6]}@lender.in"
    staff_id = (
        platform.get(Identity)
        .create_staff(tenant.brand_id, email, "Audited Staff", ["admin"], PASSWORD, granter=OPERATOR)
        .id
    )
    history = client.get(f"/api/v1/audit/staff_user/{staff_id}/history", headers=tenant.auth)
    state = client.get(
        f"/api/v1/audit/staff/{staff_id}/state", params={"as_of": datetime.now(UTC).isoformat()}, headers=tenant.auth
    )
    assert history.status_code == 200 and state.status_code == 200
    assert "argon2" not in history.text and "argon2" not in state.text
    assert history.json()["events"][0]["data"]["password_hash"] == "(withheld)"
