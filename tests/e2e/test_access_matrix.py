"""Every route in /openapi.json tried with every role; brand isolation probed with another brand's ids."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.identity.application import Identity
from domain.identity.permissions import ROLES, Level, Permission, grants_meet, role_grants
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.support import settle

PATH_VALUES = {"name": "housekeeping", "phone": "+919999999999"}


@pytest.fixture(scope="module")
def keys(platform: Any) -> dict[str, Tenant]:
    """One brand with one API key per role."""
    base = make_tenant(platform)
    tenants = {}
    for role in ROLES:
        issued = platform.get(Identity).issue_api_key(base.brand_id, role, f"{role} key", granter=OPERATOR)
        tenants[role] = Tenant(base.brand_id, base.slug, issued.secret)
    settle(platform, "identity")
    return tenants


def _operations(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    doc = client.get("/openapi.json").json()
    return [
        (method.upper(), path, op)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/")
        for method, op in ops.items()
    ]


def _allowed(role: str, op: dict[str, Any]) -> bool:
    if op.get("security") == []:
        return True
    if op.get("x-cross-brand") and role != "super_admin":
        return False
    needed = op.get("x-permission")
    if needed is None:
        return True
    # any one of `any_of` when the operation names several (the collections desk's), else `permission`
    permissions = tuple(Permission(p) for p in needed.get("any_of", [needed["permission"]]))
    return grants_meet(role_grants([role]), (permissions, Level(needed["level"])))


def _url(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_VALUES.get(m.group(1), str(uuid.uuid4())), path)


def test_every_route_allows_and_denies_exactly_per_the_declared_matrix(client: Any, keys: dict[str, Tenant]) -> None:
    operations = _operations(client)
    assert len(operations) >= 40
    mismatches = []
    for method, path, op in operations:
        for role, tenant in keys.items():
            kwargs: dict[str, Any] = {"headers": tenant.auth}
            if "requestBody" in op:
                kwargs["json"] = {}
            status = client.request(method, _url(path), **kwargs).status_code
            if op.get("x-borrower"):  # a borrower's token only: no staff key opens it
                if status != 401:
                    mismatches.append((method, path, role, "borrower only", status))
                continue
            allowed = _allowed(role, op)
            if status == 401 or (allowed and status == 403) or (not allowed and status != 403):
                mismatches.append((method, path, role, allowed, status))
    assert mismatches == []


def test_no_credentials_are_refused_everywhere_but_public_routes(client: Any) -> None:
    for method, path, op in _operations(client):
        if op.get("security") == []:
            continue
        kwargs = {"json": {}} if "requestBody" in op else {}
        assert client.request(method, _url(path), **kwargs).status_code == 401, (method, path)


def test_a_brand_never_reaches_another_brands_records(client: Any, platform: Any) -> None:
    a, b = make_tenant(platform), make_tenant(platform)
    customer = client.post(
        "/api/v1/customers",
        json={"name": "Brand B Borrower", "phone": "96111 00001", "pan": "ABCPB0001B"},
        headers=b.auth,
    ).json()
    sms_template = client.post(
        "/api/v1/message-templates",
        json={"name": "B nudge", "channel": "sms", "body": "Hi {{borrower_name}}"},
        headers=b.auth,
    ).json()
    reminder = client.post(
        "/api/v1/reminders",
        json={"customer_id": customer["id"], "channel": "sms", "template_id": sms_template["id"],
              "scheduled_at": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
        headers=b.auth,
    ).json()  # fmt: skip
    staff = client.post(
        "/api/v1/staff",
        json={"name": "Brand B Staff", "email": f"b-{uuid.uuid4().hex[:6]}@b.in", "roles": ["sales"]},
        headers=b.auth,
    ).json()
    leave = client.post(
        f"/api/v1/staff/{staff['id']}/leaves", json={"start": "2026-12-01", "end": "2026-12-02"}, headers=b.auth
    ).json()
    key = client.post("/api/v1/api-keys", json={"label": "b key", "role": "sales"}, headers=b.auth).json()
    blocked = client.post(
        "/api/v1/blocklist", json={"kind": "pincode", "value": "560001", "reason": "flood zone"}, headers=b.auth
    ).json()
    run = client.post("/api/v1/jobs/housekeeping/runs", json={}, headers=b.auth).json()
    client.patch("/api/v1/brand/config", json={"min_age": 25}, headers=b.auth)
    notice = client.post(
        "/api/v1/staff-notifications",
        json={"title": "Brand B notice", "body": "B only", "priority": "HIGH", "roles": ["admin", "sales"]},
        headers=b.auth,
    ).json()
    lead_csv = "full_name,phone_number\nBrand B Lead,96111 00009\n"
    lead_import = client.post(
        "/api/v1/leads/imports", files={"file": ("l.csv", lead_csv.encode())}, headers=b.auth
    ).json()
    lead_id = lead_import["lines"][0]["lead_id"]
    client.post(
        f"/api/v1/staff/{staff['id']}/ratings", json={"period": "2026-11", "scores": {"manual": 5}}, headers=b.auth
    )

    probes = [
        ("GET", f"/api/v1/customers/{customer['id']}", None),
        ("PATCH", f"/api/v1/customers/{customer['id']}", {"name": "Stolen"}),
        ("POST", f"/api/v1/customers/{customer['id']}/alternate-phones", {"phone": "96111 00002"}),
        ("POST", f"/api/v1/customers/{customer['id']}/loan-numbers", {"loan_number": "SM999"}),
        ("GET", f"/api/v1/staff/{staff['id']}", None),
        ("PATCH", f"/api/v1/staff/{staff['id']}", {"name": "Stolen"}),
        ("POST", f"/api/v1/staff/{staff['id']}/disable", None),
        ("POST", f"/api/v1/staff/{staff['id']}/invites", None),
        ("GET", f"/api/v1/staff/{staff['id']}/logins", None),
        ("GET", f"/api/v1/staff/{staff['id']}/sessions", None),
        ("GET", f"/api/v1/staff/{staff['id']}/activity", None),
        ("DELETE", f"/api/v1/staff/{staff['id']}/leaves/{leave['leaves'][0]['id']}", None),
        ("POST", f"/api/v1/api-keys/{key['id']}/revoke", None),
        ("DELETE", f"/api/v1/blocklist/{blocked['id']}", None),
        ("GET", f"/api/v1/jobs/runs/{run['run_id']}", None),
        ("POST", f"/api/v1/staff-notifications/{notice['id']}/ack", None),
        ("GET", f"/api/v1/staff-notifications/{notice['id']}/receipts", None),
        ("GET", f"/api/v1/reminders/{reminder['id']}", None),
        ("POST", f"/api/v1/reminders/{reminder['id']}/cancel", None),
        ("GET", f"/api/v1/leads/{lead_id}", None),
        ("GET", f"/api/v1/leads/imports/{lead_import['id']}", None),
        ("POST", f"/api/v1/leads/{lead_id}/status", {"status": "rejected"}),
        ("POST", f"/api/v1/leads/{lead_id}/borrower", {"borrower_id": customer["id"]}),
        ("GET", f"/api/v1/staff/{staff['id']}/ratings", None),
        ("POST", f"/api/v1/staff/{staff['id']}/ratings", {"period": "2026-11", "scores": {"manual": 1}}),
    ]
    for method, url, body in probes:
        response = client.request(method, url, headers=a.auth, **({"json": body} if body is not None else {}))
        assert response.status_code == 404, (method, url, response.status_code)

    b_ids = {customer["id"], staff["id"], key["id"], blocked["id"], run["run_id"], str(b.brand_id)}
    b_ids.add(notice["id"])
    b_ids.add(reminder["id"])
    b_ids.update({lead_id, lead_import["id"], "Brand B Lead"})
    lists = [
        ("/api/v1/customers", {}),
        ("/api/v1/customers", {"q": "Brand B"}),
        ("/api/v1/customers", {"q": "96111 00001"}),
        ("/api/v1/customers", {"q": "ABCPB0001B"}),
        ("/api/v1/search", {"q": "Brand B"}),
        ("/api/v1/search", {"q": "96111 00001"}),
        ("/api/v1/search", {"q": "ABCPB0001B"}),
        ("/api/v1/dashboard", {}),
        ("/api/v1/staff", {}),
        ("/api/v1/api-keys", {}),
        ("/api/v1/blocklist", {}),
        ("/api/v1/jobs/housekeeping/runs", {}),
        ("/api/v1/jobs", {}),
        ("/api/v1/brand/config/history", {}),
        ("/api/v1/activity", {}),
        ("/api/v1/brands", {}),
        ("/api/v1/staff-notifications", {}),
        ("/api/v1/staff-notifications/mine", {}),
        ("/api/v1/reminders", {}),
        ("/api/v1/reminders", {"q": "Brand B"}),
        ("/api/v1/leads", {}),
        ("/api/v1/sales/overview", {}),
        ("/api/v1/rating-matrix", {}),
    ]
    for url, params in lists:
        text = client.get(url, params=params, headers=a.auth).text
        leaked = [i for i in b_ids if i in text]
        assert leaked == [], (url, params, leaked)
    assert (
        client.get("/api/v1/blocklist/check", params={"kind": "pincode", "value": "560001"}, headers=a.auth).json()[
            "blocked"
        ]
        is False
    )
    assert client.get("/api/v1/brand/config", headers=a.auth).json()["settings"]["min_age"] == 22


PAGE_PASSWORD = "matrix-pass-2026"


def _signed_in(app: Any, platform: Any, brand_id: uuid.UUID, role: str) -> tuple[Any, str]:
    """A browser-like client signed in as a staff member holding just `role`, and the session's CSRF token."""
    from starlette.testclient import TestClient

    email = f"{role}-{uuid.uuid4().hex[:6]}@matrix.in"
    platform.get(Identity).create_staff(brand_id, email, f"Matrix {role}", [role], PAGE_PASSWORD, granter=OPERATOR)
    client = TestClient(app, follow_redirects=False)
    client.__enter__()
    signed = client.post("/login", data={"email": email, "password": PAGE_PASSWORD, "next": "/dashboard"})
    assert signed.status_code == 303, signed.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/dashboard").text)
    return client, token.group(1) if token else ""


def test_every_portal_page_allows_and_denies_exactly_per_its_declared_permission(app: Any, platform: Any) -> None:
    from api.web import Page
    from workers.contexts import CONTEXTS
    from workers.platform import compose_web

    # Signing out last: it ends the session the other pages are tried with.
    declared = sorted(
        (p for p in compose_web(CONTEXTS).pages if isinstance(p, Page)), key=lambda p: p.path == "/logout"
    )
    assert len(declared) >= 3
    tenant = make_tenant(platform)
    mismatches = []
    for role in ROLES:
        if role == "super_admin":
            continue  # a cross-brand operator; its grants are every permission
        client, csrf = _signed_in(app, platform, tenant.brand_id, role)
        grants = role_grants([role])
        try:
            for page in declared:
                url = _url(page.path)
                answer = client.post(url, data={"csrf_token": csrf}) if page.method == "POST" else client.get(url)
                allowed = not page.cross_brand and (page.permission is None or grants_meet(grants, page.permission))
                signed_out = answer.status_code == 303 and "/login" in answer.headers.get("location", "")
                if signed_out and page.path != "/logout":
                    mismatches.append((page.method, page.path, role, "signed out"))
                elif allowed == (answer.status_code == 403):
                    mismatches.append((page.method, page.path, role, allowed, answer.status_code))
        finally:
            client.__exit__(None, None, None)
    assert mismatches == []


def test_collection_worklists_need_their_stage_permission(client: Any, keys: dict[str, Tenant]) -> None:
    """Beyond the declared door (COLLECTIONS or any stage's permission, at READ), each stage's worklist needs the
    stage's own permission (issue #16): COLLECTIONS alone opens no pre- or post-collections worklist."""
    stages = {"pre": Permission.PRE_COLLECTIONS, "collections": Permission.COLLECTIONS,
              "post": Permission.POST_COLLECTIONS}  # fmt: skip
    mismatches = []
    for role, tenant in keys.items():
        grants = role_grants([role])
        for stage, permission in stages.items():
            answer = client.get("/api/v1/collections/worklist", params={"stage": stage}, headers=tenant.auth)
            allowed = (granted := grants.get(permission)) is not None and granted.covers(Level.READ)
            if allowed != (answer.status_code == 200) or (not allowed and answer.status_code != 403):
                mismatches.append((role, stage, answer.status_code))
    assert mismatches == []
    assert role_grants(["collection_executive"]).get(Permission.POST_COLLECTIONS) is None  # a case the test covers


def test_who_decides_collection_money(client: Any) -> None:
    """Issue #16: executives create (and record a full repayment); Ops or collection managers/heads approve
    collections; Ops confirms receipts; managers/heads approve waivers; the head approves settlements; only admins
    write off (every route's grants)."""
    doc = client.get("/openapi.json").json()["paths"]
    expected = {
        ("/api/v1/loans/{loan_id}/collection-requests", "post"): {"collection_executive", "collection_manager",
                                                                 "collection_head"},
        # a full repayment is applied at once, without approval: who collects it records it (not Ops' route)
        ("/api/v1/loans/{loan_id}/full-repayment", "post"): {"collection_executive", "collection_manager",
                                                            "collection_head"},
        ("/api/v1/collection-requests/{request_id}/approve", "post"): {"loan_ops", "collection_manager",
                                                                      "collection_head"},
        ("/api/v1/receipts/{request_id}/confirm", "post"): {"loan_ops"},
        ("/api/v1/waivers/{request_id}/approve", "post"): {"collection_manager", "collection_head"},
        ("/api/v1/settlements/{request_id}/approve", "post"): {"collection_head"},
        ("/api/v1/loans/{loan_id}/write-off", "post"): set(),
    }  # fmt: skip
    for (path, method), roles in expected.items():
        op = doc[path][method]
        allowed = {r for r in ROLES if _allowed(r, op)} - {"admin", "super_admin"}
        assert allowed == roles, (path, allowed)
        assert _allowed("admin", op)


def test_collection_roles_read_loans_and_write_none(client: Any) -> None:
    """The spec's Collection Team reads the loan and its ledger: the collection roles' defaults hold LOANS at READ,
    so every route declared LOANS READ is theirs - all of them reads - and no loan write, ops or decision route."""
    collection = ("collection_executive", "collection_manager", "collection_head")
    loan_permissions = {p.value for p in Permission if p.value.startswith("LOAN")}
    granted, refused = set(), set()
    for method, path, op in _operations(client):
        needed = op.get("x-permission")
        if needed is None or needed["permission"] not in loan_permissions:
            continue
        allowed = {role for role in collection if _allowed(role, op)}
        (granted if allowed else refused).add((method, path))
        if needed["permission"] == Permission.LOANS.value and needed["level"] == Level.READ.value:
            assert allowed == set(collection), (method, path)
        else:
            assert allowed == set(), (method, path, allowed)
    assert granted and {method for method, _ in granted} == {"GET"}
    assert ("GET", "/api/v1/loans/{loan_id}/ledger") in granted
    assert {("POST", "/api/v1/loans/{loan_id}/payment-links"), ("POST", "/api/v1/loans/{loan_id}/cancel")} <= refused
