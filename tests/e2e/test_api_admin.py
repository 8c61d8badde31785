from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import Tenant, make_tenant
from tests.support import settle


def _staff(client: Any, tenant: Tenant, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Neha Gupta",
        "email": f"neha-{uuid.uuid4().hex[:8]}@lender.in",
        "roles": ["collection_executive"],
    } | extra
    created = client.post("/api/v1/staff", json=body, headers=tenant.auth)
    assert created.status_code == 201, created.text
    return created.json()


def _portal_login(app: Any, email: str, password: str) -> TestClient:
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    response = browser.post("/login", data={"email": email, "password": password, "next": "/customers"})
    assert response.status_code == 303, response.text
    # API writes with the session cookie carry the session's CSRF token, as a script in the portal would.
    page = browser.get("/dashboard").text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token is not None, page
    browser.headers["X-CSRF-Token"] = token.group(1)
    return browser


def test_roles_list_every_role_with_its_permissions(client: Any, tenant: Tenant) -> None:
    roles = {r["id"]: r for r in client.get("/api/v1/roles", headers=tenant.auth).json()["items"]}
    assert {
        "admin",
        "super_admin",
        "credit_executive",
        "sanction_manager",
        "collection_executive",
        "loan_ops",
        "sales",
    } <= set(roles)
    assert roles["collection_executive"]["permissions"]["COLLECTIONS"] == "WRITE"
    assert roles["admin"]["permissions"]["PARTNER_USER_MANAGEMENT"] == "ALL"


def test_invite_flow_from_creation_to_login(client: Any, app: Any, tenant: Tenant, platform: Any) -> None:
    manager = _staff(client, tenant, name="Arjun Manager", roles=["collection_manager"], companies=["Acme Finance"])
    staff = _staff(client, tenant, manager_id=manager["id"], companies=["Acme Finance", "Beta Loans"])
    invite = staff["invite"]
    assert invite["code"].startswith("inv_") and invite["qr_svg"].startswith("<svg")
    assert staff["companies"] == ["Acme Finance", "Beta Loans"] and staff["manager_id"] == manager["id"]
    assert client.get(f"/api/v1/staff/{manager['id']}", headers=tenant.auth).json()["reports"] == [
        {"id": staff["id"], "name": "Neha Gupta"}
    ]
    weak = client.post("/api/v1/invites/accept", json={"code": invite["code"], "password": "short"})
    assert weak.status_code == 422
    accepted = client.post("/api/v1/invites/accept", json={"code": invite["code"], "password": "a-long-passphrase-1"})
    assert accepted.status_code == 200
    again = client.post("/api/v1/invites/accept", json={"code": invite["code"], "password": "another-passphrase-2"})
    assert again.status_code == 409
    browser = _portal_login(app, staff["email"], "a-long-passphrase-1")
    me = browser.get("/api/v1/me").json()
    assert me["id"] == staff["id"] and me["grants"]["COLLECTIONS"] == "WRITE"
    settle(platform, "identity")
    logins = client.get(f"/api/v1/staff/{staff['id']}/logins", headers=tenant.auth).json()["items"]
    assert logins[0]["succeeded"] is True
    assert len(client.get(f"/api/v1/staff/{staff['id']}/sessions", headers=tenant.auth).json()["items"]) == 1
    browser.__exit__(None, None, None)


def test_a_password_set_by_invite_ends_the_sessions_signed_in_with_the_old_one(
    client: Any, app: Any, tenant: Tenant, platform: Any
) -> None:
    """Inviting a staff member again is how their password is reset, yet the sessions signed in with the old one
    lived on after the invite set a new one (only disabling them ended sessions)."""
    staff = _staff(client, tenant, password="a-long-passphrase-1")
    settle(platform, "identity")
    old = _portal_login(app, staff["email"], "a-long-passphrase-1")
    try:
        assert old.get("/api/v1/me").status_code == 200
        invite = client.post(f"/api/v1/staff/{staff['id']}/invites", headers=tenant.auth)
        assert invite.status_code == 201, invite.text
        accepted = client.post("/api/v1/invites/accept", json={"code": invite.json()["code"], "password": "new-pass-2"})
        assert accepted.status_code == 200, accepted.text
        assert old.get("/api/v1/me").status_code == 401
        new = _portal_login(app, staff["email"], "new-pass-2")
        assert new.get("/api/v1/me").json()["id"] == staff["id"]  # the new password signs in
        new.__exit__(None, None, None)
    finally:
        old.__exit__(None, None, None)


def test_permission_overrides_roles_and_bad_input(client: Any, tenant: Tenant) -> None:
    staff = _staff(client, tenant)
    url = f"/api/v1/staff/{staff['id']}"
    patched = client.patch(
        url, json={"permissions": {"COLLECTIONS": "ALL", "CUSTOMER": "NONE", "JOBS": "READ"}}, headers=tenant.auth
    )
    assert patched.status_code == 200
    perms = patched.json()["permissions"]
    assert perms["COLLECTIONS"] == "ALL" and perms["JOBS"] == "READ" and "CUSTOMER" not in perms
    back = client.patch(url, json={"permissions": {"CUSTOMER": None}}, headers=tenant.auth).json()
    assert back["permissions"]["CUSTOMER"] == "READ"

    bad = client.patch(
        url, json={"roles": ["wizard"], "permissions": {"TELEPORT": "READ", "LOANS": "MOST"}}, headers=tenant.auth
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"roles", "permissions.TELEPORT", "permissions.LOANS"}
    assert (
        client.post(
            "/api/v1/staff", json={"name": "X Y", "email": "xy@lender.in", "roles": ["wizard"]}, headers=tenant.auth
        ).status_code
        == 422
    )
    stale = client.patch(url, json={"name": "Neha G"}, headers=tenant.auth | {"If-Match": '"1"'})
    assert stale.status_code == 409


def test_manager_cycles_and_leave_dates_are_refused(client: Any, tenant: Tenant) -> None:
    a = _staff(client, tenant, name="Alpha One")
    b = _staff(client, tenant, name="Beta Two", manager_id=a["id"])
    c = _staff(client, tenant, name="Gamma Three", manager_id=b["id"])
    cycle = client.patch(f"/api/v1/staff/{a['id']}", json={"manager_id": c["id"]}, headers=tenant.auth)
    assert cycle.status_code == 422 and cycle.json()["errors"][0]["field"] == "manager_id"
    assert (
        client.patch(f"/api/v1/staff/{a['id']}", json={"manager_id": a["id"]}, headers=tenant.auth).status_code == 422
    )
    backwards = client.post(
        f"/api/v1/staff/{a['id']}/leaves", json={"start": "2026-12-10", "end": "2026-12-01"}, headers=tenant.auth
    )
    assert backwards.status_code == 422
    assert [e["field"] for e in backwards.json()["errors"]] == ["end"], backwards.text
    assert client.get(f"/api/v1/staff/{a['id']}", headers=tenant.auth).json()["leaves"] == []  # nothing recorded
    leave = client.post(
        f"/api/v1/staff/{a['id']}/leaves",
        json={"start": "2026-12-01", "end": "2026-12-10", "reason": "wedding"},
        headers=tenant.auth,
    )
    assert leave.status_code == 201 and leave.json()["leaves"][0]["reason"] == "wedding"
    leave_id = leave.json()["leaves"][0]["id"]
    assert client.delete(f"/api/v1/staff/{a['id']}/leaves/{leave_id}", headers=tenant.auth).json()["leaves"] == []
    moved = client.patch(
        f"/api/v1/staff/{c['id']}", json={"manager_id": None, "available": False}, headers=tenant.auth
    ).json()
    assert moved["manager_id"] is None and moved["available"] is False


def test_disabling_yourself_or_the_last_admin_is_409_and_disabled_users_stop_at_once(
    client: Any, app: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    admin_email = f"admin-{uuid.uuid4().hex[:6]}@lender.in"
    admin = client.post(
        "/api/v1/staff",
        json={"name": "Only Admin", "email": admin_email, "roles": ["admin"], "password": "admin-pass-2026"},
        headers=tenant.auth,
    ).json()
    browser = _portal_login(app, admin_email, "admin-pass-2026")
    assert browser.post(f"/api/v1/staff/{admin['id']}/disable").status_code == 409  # yourself
    assert client.post(f"/api/v1/staff/{admin['id']}/disable", headers=tenant.auth).status_code == 409  # last admin
    demote = client.patch(f"/api/v1/staff/{admin['id']}", json={"roles": ["sales"]}, headers=tenant.auth)
    assert demote.status_code == 409

    worker_email = f"ops-{uuid.uuid4().hex[:6]}@lender.in"
    worker = client.post(
        "/api/v1/staff",
        json={"name": "Ops Person", "email": worker_email, "roles": ["admin"], "password": "ops-pass-2026!"},
        headers=tenant.auth,
    ).json()
    worker_browser = _portal_login(app, worker_email, "ops-pass-2026!")
    key = worker_browser.post("/api/v1/api-keys", json={"label": "ops script", "role": "loan_ops"}).json()["key"]
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert browser.post(f"/api/v1/staff/{worker['id']}/disable").status_code == 200
    assert worker_browser.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert browser.post(f"/api/v1/staff/{worker['id']}/enable").status_code == 200
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    for b in (browser, worker_browser):
        b.__exit__(None, None, None)


def test_repeated_failed_logins_lock_the_account(client: Any, app: Any, tenant: Tenant) -> None:
    email = f"lock-{uuid.uuid4().hex[:6]}@lender.in"
    client.post(
        "/api/v1/staff",
        json={"name": "Lock Me", "email": email, "roles": ["sales"], "password": "right-pass-2026"},
        headers=tenant.auth,
    )
    with TestClient(app, follow_redirects=False) as browser:
        for _ in range(5):
            assert browser.post("/login", data={"email": email, "password": "wrong-guess-1"}).status_code == 401
        locked = browser.post("/login", data={"email": email, "password": "right-pass-2026"})
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text


def test_a_sign_in_posted_from_another_site_signs_nobody_in(client: Any, app: Any, tenant: Tenant) -> None:
    """Login CSRF: another site's hidden form posting our sign-in with its own account's password signed the victim's
    browser in to it, so what they then entered landed in the attacker's account. A browser names the form's site
    (`Sec-Fetch-Site`, else `Origin` or `Referer`): another site's is refused and no session is made."""
    email = f"origin-{uuid.uuid4().hex[:6]}@lender.in"
    made = client.post("/api/v1/staff", headers=tenant.auth,
                       json={"name": "Origin Check", "email": email, "roles": ["sales"], "password": "right-pass-2026"})  # fmt: skip
    assert made.status_code == 201, made.text
    form = {"email": email, "password": "right-pass-2026"}
    with TestClient(app, follow_redirects=False) as browser:
        for headers in ({"Sec-Fetch-Site": "cross-site", "Origin": "null"}, {"Sec-Fetch-Site": "same-site"},
                        {"Origin": "https://evil.example"}, {"Referer": "https://evil.example/page"}):  # fmt: skip
            refused = browser.post("/login", data=form, headers=headers)
            assert refused.status_code == 403 and "another site" in refused.text, headers
            assert "cd_session" not in refused.cookies
        behind_proxy = {"Origin": "https://desk.lender.in", "X-Forwarded-Host": "desk.lender.in"}
        ours = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}  # our no-referrer policy: a browser sends `null`
        for headers in (ours, {"Origin": "http://testserver"}, {"Referer": "http://testserver/login"}, {},
                        behind_proxy):  # fmt: skip
            signed_in = browser.post("/login", data=form, headers=headers)
            assert signed_in.status_code == 303 and "cd_session" in signed_in.cookies, headers


def test_brand_configuration_history_after_several_changes(client: Any, tenant: Tenant) -> None:
    config = client.get("/api/v1/brand/config", headers=tenant.auth)
    assert config.json()["settings"]["min_age"] == 22 and config.json()["settings"]["dashboard_version"] == "V1"
    first = client.patch("/api/v1/brand/config", json={"min_age": 21, "dashboard_version": "V2"}, headers=tenant.auth)
    assert first.status_code == 200 and first.json()["settings"]["dashboard_version"] == "V2"
    client.patch(
        "/api/v1/brand/config",
        json={"min_age": 23, "timezone": "Asia/Dubai", "business_date": "2026-11-30"},
        headers=tenant.auth,
    )
    assert client.get("/api/v1/brand/config", headers=tenant.auth).json()["business_date"] == "2026-11-30"
    bad = client.patch("/api/v1/brand/config", json={"min_age": 70, "colour": "blue"}, headers=tenant.auth)
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"colour"}
    history = client.get("/api/v1/brand/config/history", headers=tenant.auth).json()["items"]
    # Newest change first; the settings of one change in name order (descending).
    assert [(h["setting"], h["old"], h["new"]) for h in history] == [
        ("timezone", "Asia/Kolkata", "Asia/Dubai"),
        ("min_age", 21, 23),
        ("business_date", None, "2026-11-30"),
        ("min_age", 22, 21),
        ("dashboard_version", "V1", "V2"),
    ]
    assert all(h["actor"].startswith("apikey:") for h in history)


def test_api_keys_create_list_revoke(client: Any, tenant: Tenant) -> None:
    created = client.post(
        "/api/v1/api-keys", json={"label": "collections dialer", "role": "collection_executive"}, headers=tenant.auth
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    key = created.json()
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 200
    listed = {k["id"]: k for k in client.get("/api/v1/api-keys", headers=tenant.auth).json()["items"]}
    assert listed[key["id"]]["status"] == "active" and key["key"] not in str(listed)
    assert listed[key["id"]]["last_used_at"] is not None
    assert (
        client.post("/api/v1/api-keys", json={"label": "x", "role": "wizard"}, headers=tenant.auth).status_code == 422
    )
    assert (
        client.post("/api/v1/api-keys", json={"label": "root", "role": "super_admin"}, headers=tenant.auth).status_code
        == 422
    )
    revoked = client.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=tenant.auth)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert client.get("/api/v1/customers", headers={"Authorization": f"Bearer {key['key']}"}).status_code == 401
    assert client.post(f"/api/v1/api-keys/{key['id']}/revoke", headers=tenant.auth).status_code == 409


def test_only_a_super_admin_creates_brands_and_acts_across_them(client: Any, platform: Any) -> None:
    root = make_tenant(platform, role="super_admin")
    plain = make_tenant(platform)
    slug = "b" + uuid.uuid4().hex[:10]
    assert (
        client.post("/api/v1/brands", json={"slug": slug, "name": "Nope Finance"}, headers=plain.auth).status_code
        == 403
    )
    created = client.post("/api/v1/brands", json={"slug": slug, "name": "New Finance"}, headers=root.auth)
    assert created.status_code == 201
    brand_id = created.json()["id"]
    assert client.post("/api/v1/brands", json={"slug": slug, "name": "Again"}, headers=root.auth).status_code == 409
    assert client.post("/api/v1/brands", json={"slug": "Bad Slug!", "name": "X"}, headers=root.auth).status_code == 422
    assert brand_id in [b["id"] for b in client.get("/api/v1/brands", headers=root.auth).json()["items"]]
    assert [b["id"] for b in client.get("/api/v1/brands", headers=plain.auth).json()["items"]] == [str(plain.brand_id)]
    inside = client.post(
        "/api/v1/customers",
        json={"name": "Cross Brand", "phone": "97888 12121"},
        headers=root.auth | {"X-Brand-Id": brand_id},
    )
    assert inside.status_code == 201
    assert client.get(f"/api/v1/customers/{inside.json()['id']}", headers=root.auth).status_code == 404
    assert client.get("/api/v1/customers", headers=plain.auth | {"X-Brand-Id": brand_id}).status_code == 403


def test_a_brand_admin_cannot_make_or_take_over_a_super_admin(client: Any, app: Any, platform: Any) -> None:
    """A Super Admin acts in every brand, so only a Super Admin (or the operator's CLI) may give the role: a brand's
    admin who could would sign in as their new Super Admin and read and change every other brand (found by a
    cross-brand probe: a brand admin's key created a `super_admin` staff user, 201, who then listed another brand's
    borrowers with X-Brand-Id). Nor may the brand's admin edit, disable, enable or invite again a Super Admin of
    their brand: an invite sets the account's password, an email change sends the next one to them."""
    root = make_tenant(platform, role="super_admin")
    brand = make_tenant(platform)
    settle(platform, "identity")
    email = f"root-{uuid.uuid4().hex[:8]}@lender.in"
    body = {"name": "Sneaky Root", "email": email, "roles": ["super_admin"], "password": "a-long-passphrase-1"}
    refused = client.post("/api/v1/staff", json=body, headers=brand.auth)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["roles"]
    # Nothing was written: the email is still free, and the sign-in finds no such account.
    assert client.post("/login", data={"email": email, "password": "a-long-passphrase-1"}).status_code != 303
    sales = _staff(client, brand, email=email, roles=["sales"], password="a-long-passphrase-1")
    promoted = client.patch(
        f"/api/v1/staff/{sales['id']}", json={"roles": ["sales", "super_admin"]}, headers=brand.auth
    )
    assert promoted.status_code == 422, promoted.text
    assert client.get(f"/api/v1/staff/{sales['id']}", headers=brand.auth).json()["roles"] == ["sales"]
    # The portal's form hides the role from a brand admin; a forged post of it is refused as well.
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@lender.in"
    _staff(client, brand, email=admin_email, roles=["admin"], password="a-long-passphrase-1")
    browser = _portal_login(app, admin_email, "a-long-passphrase-1")
    forged = f"forged-{uuid.uuid4().hex[:8]}@lender.in"
    form = {"csrf_token": browser.headers["X-CSRF-Token"], "email": forged, "name": "Forged Root",
            "roles": ["super_admin"]}  # fmt: skip
    page = browser.post("/staff", data=form)
    assert page.status_code == 422 and "only a Super Admin may give the role" in page.text
    assert forged not in client.get("/api/v1/staff?limit=200", headers=brand.auth).text
    # A Super Admin of the brand, made by a Super Admin acting within it: the brand's admin cannot change it.
    inside = root.auth | {"X-Brand-Id": str(brand.brand_id)}
    made = client.post("/api/v1/staff", json=body | {"email": f"r2-{uuid.uuid4().hex[:8]}@lender.in"}, headers=inside)
    assert made.status_code == 201, made.text
    url = f"/api/v1/staff/{made.json()['id']}"
    settle(platform, "identity")
    for method, path, payload in takeovers(url):
        answer = client.request(method, path, json=payload, headers=brand.auth)
        assert answer.status_code == 409, (method, path, answer.text)
    kept = client.get(url, headers=brand.auth).json()
    assert (kept["email"], kept["roles"], kept["enabled"]) == (made.json()["email"], ["super_admin"], True)
    assert client.post(f"{url}/invites", headers=inside).status_code == 201
    assert client.post(f"{url}/disable", headers=inside).status_code == 200


def takeovers(url: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The requests that would take over (or switch off) the staff user at `url`: a new email (the next invite goes
    there), other roles, a new invite, disabling."""
    return [
        ("PATCH", url, {"email": f"mine-{uuid.uuid4().hex[:8]}@lender.in"}),
        ("PATCH", url, {"roles": ["sales"]}),
        ("POST", f"{url}/invites", None),
        ("POST", f"{url}/disable", None),
    ]


def test_blocklist_add_check_remove(client: Any, tenant: Tenant) -> None:
    added = client.post(
        "/api/v1/blocklist",
        json={"kind": "mobile", "value": "098765-11111", "reason": "fraud ring"},
        headers=tenant.auth,
    )
    assert added.status_code == 201 and added.json()["value"] == "+919876511111"
    dup = client.post(
        "/api/v1/blocklist", json={"kind": "mobile", "value": "+91 98765 11111", "reason": "again"}, headers=tenant.auth
    )
    assert dup.status_code == 409
    check = client.get(
        "/api/v1/blocklist/check", params={"kind": "mobile", "value": "9876511111"}, headers=tenant.auth
    ).json()
    assert check["blocked"] is True and check["reason"] == "fraud ring"
    account = client.post(
        "/api/v1/blocklist",
        json={"kind": "bank_account", "value": "50100012345678", "reason": "mule account"},
        headers=tenant.auth,
    )
    assert account.json()["value"] == "••••••••••5678"
    bad = client.post("/api/v1/blocklist", json={"kind": "aadhaar", "value": "123", "reason": "x"}, headers=tenant.auth)
    assert bad.status_code == 422
    unknown_kind = client.post(
        "/api/v1/blocklist", json={"kind": "passport", "value": "1", "reason": "xyz"}, headers=tenant.auth
    )
    assert unknown_kind.status_code == 422
    listed = client.get("/api/v1/blocklist", headers=tenant.auth).json()["items"]
    assert {i["kind"] for i in listed} == {"mobile", "bank_account"}
    removed = client.delete(
        f"/api/v1/blocklist/{added.json()['id']}", params={"reason": "cleared by risk"}, headers=tenant.auth
    )
    assert removed.status_code == 200 and removed.json()["active"] is False
    assert (
        client.get(
            "/api/v1/blocklist/check", params={"kind": "mobile", "value": "9876511111"}, headers=tenant.auth
        ).json()["blocked"]
        is False
    )


def test_activity_log_records_who_did_what(client: Any, tenant: Tenant) -> None:
    staff = _staff(client, tenant)
    client.patch(f"/api/v1/staff/{staff['id']}", json={"available": False}, headers=tenant.auth)
    key_actor = f"apikey:{uuid.UUID(hex=tenant.key.split('_')[1])}"
    deadline = time.monotonic() + 5
    while True:
        items = client.get(
            "/api/v1/activity", params={"actor": key_actor, "aggregate_type": "StaffUser"}, headers=tenant.auth
        ).json()["items"]
        if len(items) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [i["event_type"] for i in items[:3]] == ["AvailabilitySet", "InviteIssued", "Created"]
    assert "password_hash" not in str(items)
    # A time without an offset is UTC (docs/api.md), whatever zone the database session has; one with an offset
    # beside it is compared with it, not refused as a server error.
    first = datetime.fromisoformat(items[-1]["occurred_at"]).astimezone(UTC)
    bounds = {"actor": key_actor, "from": (first - timedelta(seconds=1)).replace(tzinfo=None).isoformat(),
              "to": (first + timedelta(hours=1)).isoformat()}  # fmt: skip
    within = client.get("/api/v1/activity", params=bounds, headers=tenant.auth)
    assert within.status_code == 200 and items[-1]["event_type"] in [i["event_type"] for i in within.json()["items"]]
    later = {**bounds, "from": (first + timedelta(seconds=1)).replace(tzinfo=None).isoformat()}
    after = client.get("/api/v1/activity", params=later, headers=tenant.auth)
    assert after.status_code == 200 and items[-1]["occurred_at"] not in [
        i["occurred_at"] for i in after.json()["items"]
    ]


def test_customer_360_flags_blocklisted_values(client: Any, tenant: Tenant) -> None:
    customer = client.post(
        "/api/v1/customers",
        json={"name": "Flagged Person", "phone": "96222 33333", "pan": "ABCPF3333F"},
        headers=tenant.auth,
    ).json()
    assert customer["blocklist_hits"] == []
    client.post(
        "/api/v1/blocklist",
        json={"kind": "pan", "value": "abcpf3333f", "reason": "identity fraud"},
        headers=tenant.auth,
    )
    hits = client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.auth).json()["blocklist_hits"]
    assert [(h["kind"], h["value"], h["reason"]) for h in hits] == [("pan", "ABCPF3333F", "identity fraud")]


def test_the_portal_answers_404_for_another_brands_blocklist_entry_or_api_key_and_changes_nothing(
    client: Any, app: Any, platform: Any
) -> None:
    mine, theirs = make_tenant(platform), make_tenant(platform)
    entry = client.post("/api/v1/blocklist", json={"kind": "pincode", "value": "560001", "reason": "theirs"},
                        headers=theirs.auth).json()  # fmt: skip
    key = client.post("/api/v1/api-keys", json={"label": "their script", "role": "loan_ops"}, headers=theirs.auth)
    email = f"admin-{uuid.uuid4().hex[:6]}@lender.in"
    client.post("/api/v1/staff", json={"name": "Mine Admin", "email": email, "roles": ["admin"],
                "password": "admin-pass-2026"}, headers=mine.auth)  # fmt: skip
    browser = _portal_login(app, email, "admin-pass-2026")
    form = {"csrf_token": browser.headers["X-CSRF-Token"], "reason": "not mine"}
    for path in (f"/blocklist/{entry['id']}/remove", f"/api-keys/{key.json()['id']}/revoke"):
        answer = browser.post(path, data=form)
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:300])
    listed = client.get("/api/v1/blocklist", headers=theirs.auth).json()["items"]
    assert [e["id"] for e in listed] == [entry["id"]]
    keys = client.get("/api/v1/api-keys", headers=theirs.auth).json()["items"]
    assert any(k["id"] == key.json()["id"] and not k.get("revoked_at") for k in keys), keys


def test_a_released_login_email_can_be_claimed_by_a_new_or_another_staff_user(
    client: Any, app: Any, tenant: Tenant
) -> None:
    old, new, spare = (f"{n}-{uuid.uuid4().hex[:6]}@lender.in" for n in ("old", "new", "spare"))
    first = _staff(client, tenant, email=old)
    assert client.patch(f"/api/v1/staff/{first['id']}", json={"email": new}, headers=tenant.auth).status_code == 200

    # `old` has no holder any more: a new staff user takes it (and signs in with it), still one holder at a time
    second = _staff(client, tenant, email=old, password="second-pass-2026")
    again = client.post("/api/v1/staff", json={"name": "Late Comer", "email": old, "roles": ["sales"]},
                        headers=tenant.auth)  # fmt: skip
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json", again.text
    back = client.patch(f"/api/v1/staff/{first['id']}", json={"email": old}, headers=tenant.auth)
    assert back.status_code == 409, back.text
    assert client.get(f"/api/v1/staff/{first['id']}", headers=tenant.auth).json()["email"] == new  # nothing changed
    browser = _portal_login(app, old, "second-pass-2026")
    assert browser.get("/api/v1/me").json()["id"] == second["id"]
    browser.__exit__(None, None, None)

    # released again, it goes back to the first staff user on their own change
    assert client.patch(f"/api/v1/staff/{second['id']}", json={"email": spare}, headers=tenant.auth).status_code == 200
    back = client.patch(f"/api/v1/staff/{first['id']}", json={"email": old}, headers=tenant.auth)
    assert back.status_code == 200 and back.json()["email"] == old, back.text
    assert client.post("/api/v1/staff", json={"name": "Late Comer", "email": new, "roles": ["sales"]},
                       headers=tenant.auth).status_code == 201  # fmt: skip
