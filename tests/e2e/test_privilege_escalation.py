"""Inside one brand, nobody gives more than they hold: a staff member trusted with PARTNER_USER_MANAGEMENT or API_KEYS
without being an admin (found by a privilege sweep: a Sales Manager given both made himself admin, 200, made an admin
staff user and an admin key, 201, and renamed, disabled and re-invited the brand's admin - an invite sets the
account's password - and lifted a collector's company limit)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_api_admin import _portal_login, _staff, takeovers
from tests.support import settle

PASSWORD = "a-long-passphrase-1"


def _delegate(client: Any, app: Any, tenant: Tenant, platform: Any, **extra: Any) -> tuple[dict[str, Any], Any]:
    """A Sales Manager the admin trusted with staff and key management, signed in to the portal."""
    email = f"delegate-{uuid.uuid4().hex[:8]}@lender.in"
    made = _staff(client, tenant, email=email, roles=["sales_manager"], password=PASSWORD, **extra)
    trusted = client.patch(
        f"/api/v1/staff/{made['id']}",
        json={"permissions": {"PARTNER_USER_MANAGEMENT": "WRITE", "API_KEYS": "WRITE"}},
        headers=tenant.auth,
    )
    assert trusted.status_code == 200, trusted.text
    settle(platform, "identity")
    return trusted.json(), _portal_login(app, email, PASSWORD)


def _fields(answer: Any) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


def test_a_staff_manager_gives_no_role_or_permission_above_their_own(
    client: Any, app: Any, tenant: Tenant, platform: Any
) -> None:
    delegate, browser = _delegate(client, app, tenant, platform)
    me = f"/api/v1/staff/{delegate['id']}"

    raised = browser.patch(me, json={"roles": ["sales_manager", "admin"]})
    assert raised.status_code == 422 and _fields(raised) == ["roles"], raised.text
    overridden = browser.patch(me, json={"permissions": {"LOAN_WRITE_OFF": "ALL"}})
    assert overridden.status_code == 422 and _fields(overridden) == ["permissions.LOAN_WRITE_OFF"], overridden.text
    widened = browser.patch(me, json={"permissions": {"PARTNER_USER_MANAGEMENT": "ALL"}})
    assert widened.status_code == 422, widened.text
    # The portal's permissions form is the same use case.
    form = {"csrf_token": browser.headers["X-CSRF-Token"], "perm_LOAN_WRITE_OFF": "ALL"}
    assert browser.post(f"/staff/{delegate['id']}/permissions", data=form).status_code == 422
    kept = client.get(me, headers=tenant.auth).json()
    assert kept["roles"] == ["sales_manager"] and "LOAN_WRITE_OFF" not in kept["permissions"]

    email = f"made-{uuid.uuid4().hex[:8]}@lender.in"
    for roles in (["admin"], ["collection_head"], ["sales", "loan_ops"]):
        made = browser.post("/api/v1/staff", json={"name": "Made Up", "email": email, "roles": roles})
        assert made.status_code == 422 and _fields(made) == ["roles"], (roles, made.text)
    assert email not in client.get("/api/v1/staff?limit=200", headers=tenant.auth).text
    # What they hold themselves they may give, and lower it again.
    sales = browser.post("/api/v1/staff", json={"name": "Made Up", "email": email, "roles": ["sales"]})
    assert sales.status_code == 201, sales.text
    lowered = browser.patch(f"/api/v1/staff/{sales.json()['id']}", json={"permissions": {"LEADS": "READ"}})
    assert lowered.status_code == 200, lowered.text
    assert browser.patch(
        f"/api/v1/staff/{sales.json()['id']}", json={"permissions": {"LEADS": "ALL"}}
    ).status_code == 422  # fmt: skip

    key = browser.post("/api/v1/api-keys", json={"label": "mine", "role": "admin"})
    assert key.status_code == 422 and _fields(key) == ["role"], key.text
    assert "mine" not in client.get("/api/v1/api-keys", headers=tenant.auth).text
    assert browser.post("/api/v1/api-keys", json={"label": "leads feed", "role": "sales"}).status_code == 201


def test_a_staff_manager_cannot_take_over_or_switch_off_someone_holding_more(
    client: Any, app: Any, tenant: Tenant, platform: Any
) -> None:
    delegate, browser = _delegate(client, app, tenant, platform)
    boss = _staff(client, tenant, name="Brand Admin", roles=["admin"], password=PASSWORD)
    url = f"/api/v1/staff/{boss['id']}"
    settle(platform, "identity")
    for method, path, payload in takeovers(url):
        answer = browser.request(method, path, json=payload)
        assert answer.status_code == 409, (method, path, answer.text)
    form = {"csrf_token": browser.headers["X-CSRF-Token"]}
    page = browser.post(f"/staff/{boss['id']}/disable", data=form)
    assert page.status_code != 303 and "only someone holding everything they hold" in page.text
    kept = client.get(url, headers=tenant.auth).json()
    assert (kept["email"], kept["roles"], kept["enabled"], kept["version"]) == (
        boss["email"],
        ["admin"],
        True,
        boss["version"],
    )
    # The brand's admin still manages the delegate.
    assert client.post(f"/api/v1/staff/{delegate['id']}/disable", headers=tenant.auth).status_code == 200


def test_a_staff_manager_limited_to_companies_gives_only_those(
    client: Any, app: Any, tenant: Tenant, platform: Any
) -> None:
    _, browser = _delegate(client, app, tenant, platform, companies=["SML"])
    body = {"name": "Field Agent", "roles": ["sales"]}
    for companies in ([], ["KFL"], ["SML", "KFL"]):
        made = browser.post(
            "/api/v1/staff", json=body | {"email": f"a-{uuid.uuid4().hex[:8]}@l.in", "companies": companies}
        )
        assert made.status_code == 422 and _fields(made) == ["companies"], (companies, made.text)
    mine = browser.post("/api/v1/staff", json=body | {"email": f"a-{uuid.uuid4().hex[:8]}@l.in", "companies": ["SML"]})
    assert mine.status_code == 201, mine.text
    lifted = browser.patch(f"/api/v1/staff/{mine.json()['id']}", json={"companies": []})
    assert lifted.status_code == 422 and _fields(lifted) == ["companies"], lifted.text
    everyone = _staff(client, tenant, roles=["sales"])  # sees every company: more than the delegate
    assert browser.patch(f"/api/v1/staff/{everyone['id']}", json={"name": "Renamed"}).status_code == 409
    key = browser.post("/api/v1/api-keys", json={"label": "feed", "role": "sales"})  # a key sees every company
    assert key.status_code == 422 and _fields(key) == ["role"], key.text


def test_a_key_acts_no_higher_than_its_owner_holds_now(client: Any, app: Any, tenant: Tenant, platform: Any) -> None:
    """A staff member's API key kept its role's permissions after its owner was demoted (only disabling the owner
    stopped it): an admin who made an admin key and was then made a collector still ran the brand through it."""
    _staff(client, tenant, email=f"admin-{uuid.uuid4().hex[:8]}@lender.in", roles=["admin"], password=PASSWORD)
    email = f"owner-{uuid.uuid4().hex[:8]}@lender.in"  # (the brand keeps the admin above when this one is demoted)
    owner = _staff(client, tenant, email=email, roles=["admin"], password=PASSWORD)
    settle(platform, "identity")
    browser = _portal_login(app, email, PASSWORD)
    made = browser.post("/api/v1/api-keys", json={"label": "ops script", "role": "admin"})
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    assert client.get("/api/v1/staff", headers=key).status_code == 200  # the owner holds it all: so does the key

    demoted = client.patch(f"/api/v1/staff/{owner['id']}", json={"roles": ["collection_executive"]},
                           headers=tenant.auth)  # fmt: skip
    assert demoted.status_code == 200, demoted.text
    settle(platform, "identity")
    assert client.get("/api/v1/staff", headers=key).status_code == 403  # PARTNER_USER_MANAGEMENT is gone
    refused = client.post("/api/v1/staff", headers=key,
                          json={"name": "Shadow Admin", "email": f"shadow-{uuid.uuid4().hex[:6]}@lender.in",
                                "roles": ["admin"], "password": PASSWORD})  # fmt: skip
    assert refused.status_code == 403, refused.text
    assert client.get("/api/v1/collections/worklist", headers=key).status_code == 200  # what the owner still holds

    restored = client.patch(f"/api/v1/staff/{owner['id']}", json={"roles": ["admin"]}, headers=tenant.auth)
    assert restored.status_code == 200, restored.text
    settle(platform, "identity")
    assert client.get("/api/v1/staff", headers=key).status_code == 200


def test_a_key_made_with_a_key_acts_for_the_same_owner(client: Any, app: Any, tenant: Tenant, platform: Any) -> None:
    """A key made with a staff member's key had no owner, so it acted with its role's whole grants as a CLI key
    does: an admin's key made a second admin key that kept running the brand after the admin was demoted or
    disabled (the first key stopped, the second did not)."""
    _staff(client, tenant, email=f"admin-{uuid.uuid4().hex[:8]}@lender.in", roles=["admin"], password=PASSWORD)
    email = f"owner-{uuid.uuid4().hex[:8]}@lender.in"  # (the brand keeps the admin above when this one goes)
    owner = _staff(client, tenant, email=email, roles=["admin"], password=PASSWORD)
    settle(platform, "identity")
    first = _portal_login(app, email, PASSWORD).post("/api/v1/api-keys", json={"label": "ops script", "role": "admin"})
    assert first.status_code == 201, first.text
    made = client.post("/api/v1/api-keys", json={"label": "its child", "role": "admin"},
                       headers={"Authorization": f"Bearer {first.json()['key']}"})  # fmt: skip
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    settle(platform, "identity")
    assert client.get("/api/v1/staff", headers=key).status_code == 200  # the owner holds it all: so does the key

    demoted = client.patch(f"/api/v1/staff/{owner['id']}", json={"roles": ["collection_executive"]},
                           headers=tenant.auth)  # fmt: skip
    assert demoted.status_code == 200, demoted.text
    settle(platform, "identity")
    assert client.get("/api/v1/staff", headers=key).status_code == 403  # capped at what the owner holds now
    assert client.get("/api/v1/collections/worklist", headers=key).status_code == 200

    restored = client.patch(f"/api/v1/staff/{owner['id']}", json={"roles": ["admin"]}, headers=tenant.auth)
    assert restored.status_code == 200, restored.text
    assert client.post(f"/api/v1/staff/{owner['id']}/disable", headers=tenant.auth).status_code == 200
    settle(platform, "identity")
    assert client.get("/api/v1/staff", headers=key).status_code == 401  # stops with its owner
