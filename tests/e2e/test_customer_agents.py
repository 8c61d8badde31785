"""The owning agent of a borrower over HTTP on PostgreSQL: a manager's move (RELOCATE_USER; 403 without it, 404 for
another brand's borrower, 422 naming agent_id for another brand's or a disabled staff member, 409 for a stale
If-Match, 200 and nothing recorded for the same agent), the directory's `agent` filter in keyset pages (an agent's,
mine, nobody's; with a name search), the staff member who registers a borrower owning them, and the portal's
directory filter and Customer 360 form."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.testclient import TestClient

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.support import mobile, settle


def _borrower(client: Any, auth: dict[str, str], name: str = "Nirmala Rao") -> str:
    made = client.post("/api/v1/customers", json={"name": name, "phone": mobile("96")}, headers=auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _staff(platform: Any, tenant: Tenant, name: str, role: str = "sales") -> tuple[str, str]:
    """A staff member of the tenant's brand: (id, login email)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, email, name, [role], PASSWORD, granter=OPERATOR)
    settle(platform, "identity", made.position)
    return str(made.id), email


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _move(client: Any, auth: dict[str, str], customer: str, agent: str, **extra: Any) -> Any:
    headers = auth | extra.pop("headers", {})
    return client.post(f"/api/v1/customers/{customer}/agent", json={"agent_id": agent, **extra}, headers=headers)


def _signed_in(app: Any, email: str) -> tuple[TestClient, str]:
    browser = TestClient(app, follow_redirects=False)
    browser.__enter__()
    assert browser.post("/login", data={"email": email, "password": PASSWORD}).status_code == 303
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', browser.get("/dashboard").text)
    assert token is not None
    return browser, token.group(1)


def test_a_sales_manager_moves_a_borrower_to_an_agent_and_the_360_shows_it(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant.auth)
    priya, _ = _staff(platform, tenant, "Priya Sales")
    ravi, _ = _staff(platform, tenant, "Ravi Sales")
    manager = _key(platform, tenant, "sales_manager")
    before = client.get(f"/api/v1/customers/{customer}", headers=manager).json()
    assert (before["agent_id"], before["agent_name"], before["version"]) == (None, None, 1)  # a key registered them

    moved = _move(client, manager, customer, priya, reason="Priya runs the Pune leads")
    assert moved.status_code == 200, moved.text
    assert (moved.json()["agent_id"], moved.json()["agent_name"], moved.json()["version"]) == (priya, "Priya Sales", 2)
    assert moved.headers["etag"] == '"2"' and moved.headers["location"] == f"/api/v1/customers/{customer}"
    entry = moved.json()["timeline"][0]
    assert entry["kind"] == "agent_assigned" and entry["details"] == {
        "agent_id": priya, "reason": "Priya runs the Pune leads",
    }  # fmt: skip
    assert entry["actor"].startswith("apikey:")

    again = _move(client, manager, customer, priya, reason="the same agent again")  # idempotent
    assert again.status_code == 200 and again.json()["version"] == 2 and again.json()["agent_id"] == priya
    onward = _move(client, manager, customer, ravi, headers={"If-Match": '"2"'})
    assert onward.status_code == 200 and onward.json()["agent_name"] == "Ravi Sales" and onward.json()["version"] == 3
    assert onward.json()["timeline"][0]["details"] == {
        "agent_id": ravi, "previous_agent_id": priya, "reason": "moved by a manager",
    }  # fmt: skip
    history = client.get(f"/api/v1/audit/customer_record/{customer}/history", headers=tenant.auth).json()
    assert [e["event"] for e in history["events"]].count("AgentAssigned") == 2


def test_a_move_is_refused_403_without_relocate_user_404_for_another_brand_422_for_a_wrong_agent(
    client: Any, platform: Any
) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    customer = _borrower(client, tenant.auth)
    priya, _ = _staff(platform, tenant, "Priya Sales")
    for role in ("sales", "credit_executive", "collection_manager"):  # CUSTOMER but not RELOCATE_USER
        refused = _move(client, _key(platform, tenant, role), customer, priya)
        assert refused.status_code == 403 and refused.json()["permission"] == "RELOCATE_USER", role

    manager = _key(platform, tenant, "sales_manager")
    theirs = _borrower(client, other.auth)
    assert _move(client, manager, theirs, priya).status_code == 404  # another brand's borrower
    assert _move(client, other.auth, customer, priya).status_code == 404  # asked from another brand
    assert _move(client, manager, str(uuid.uuid4()), priya).status_code == 404

    their_staff, _ = _staff(platform, other, "Other Brand Agent")
    disabled, _ = _staff(platform, tenant, "Gone Agent")
    settle(
        platform,
        "identity",
        platform.get(Identity).set_enabled(tenant.brand_id, uuid.UUID(disabled), False, granter=OPERATOR).position,
    )
    for agent in (their_staff, disabled, str(uuid.uuid4())):
        wrong = _move(client, manager, customer, agent)
        assert wrong.status_code == 422, wrong.text
        assert [e["field"] for e in wrong.json()["errors"]] == ["agent_id"], agent
    for body in ({"agent_id": "not-a-uuid"}, {}, {"agent_id": priya, "reason": "no"}, {"agent_id": priya, "x": 1}):
        bad = client.post(f"/api/v1/customers/{customer}/agent", json=body, headers=manager)
        assert bad.status_code == 422, body
    settle(platform, Customers.name)
    shown = client.get(f"/api/v1/customers/{customer}", headers=manager).json()
    assert (shown["agent_id"], shown["version"]) == (None, 1)  # nothing was written


def test_a_move_made_on_a_stale_version_is_409_and_a_note_moves_the_version(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    customer = _borrower(client, tenant.auth)
    priya, _ = _staff(platform, tenant, "Priya Sales")
    note = client.post(f"/api/v1/customers/{customer}/notes", json={"text": "Called"}, headers=tenant.auth)
    assert note.status_code == 201
    stale = _move(client, tenant.auth, customer, priya, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == 2
    assert _move(client, tenant.auth, customer, priya, headers={"If-Match": "nonsense"}).status_code == 422
    fresh = _move(client, tenant.auth, customer, priya, headers={"If-Match": '"2"'})
    assert fresh.status_code == 200 and fresh.json()["version"] == 3
    # The move moved the version too: a PATCH read before it is stale.
    patch = client.patch(
        f"/api/v1/customers/{customer}", json={"email": "n@rao.in"}, headers=tenant.auth | {"If-Match": '"2"'}
    )
    assert patch.status_code == 409


def _listed(client: Any, auth: dict[str, str], **params: Any) -> tuple[list[str], int]:
    """Every page of the directory with `params`: the names in order and how many pages."""
    names, cursor, pages = [], None, 0
    while True:
        page = client.get(
            "/api/v1/customers", params={**params, **({"cursor": cursor} if cursor else {})}, headers=auth
        )
        assert page.status_code == 200, page.text
        names += [c["name"] for c in page.json()["items"]]
        pages += 1
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return names, pages


def test_the_directory_lists_an_agents_borrowers_mine_and_nobodys_in_keyset_pages(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    # A credit executive (sales hold CUSTOMER only at READ: they register no borrowers, see docs/customers.md).
    priya, priya_email = _staff(platform, tenant, "Priya Credit", "credit_executive")
    ravi, _ = _staff(platform, tenant, "Ravi Sales")
    owners = {"Kavya Das": priya, "Kavya Iyer": ravi, "Kavya Nair": priya, "Arjun Khan": priya, "Kavya Rao": None,
              "Meena Reddy": ravi, "Kavya Sen": priya, "Imran Das": None}  # fmt: skip
    ids = {name: _borrower(client, tenant.auth, name) for name in owners}
    for name, agent in owners.items():
        if agent is not None:
            assert _move(client, tenant.auth, ids[name], agent).status_code == 200

    mine = ["Arjun Khan", "Kavya Das", "Kavya Nair", "Kavya Sen"]
    assert _listed(client, tenant.auth, agent=priya, limit=1) == (mine, 4)
    assert _listed(client, tenant.auth, agent=priya, limit=3) == (mine, 2)
    assert _listed(client, tenant.auth, agent=ravi, limit=1) == (["Kavya Iyer", "Meena Reddy"], 2)
    assert _listed(client, tenant.auth, agent="none", limit=1) == (["Imran Das", "Kavya Rao"], 2)
    assert _listed(client, tenant.auth, agent=str(uuid.uuid4())) == ([], 1)
    # With a search: each step of the name search keeps the agent's borrowers, so every page is full.
    assert _listed(client, tenant.auth, q="kavya", agent=priya, limit=1) == (
        ["Kavya Das", "Kavya Nair", "Kavya Sen"],
        3,
    )
    assert _listed(client, tenant.auth, q="kav", agent="none", limit=1) == (["Kavya Rao"], 1)
    row = client.get("/api/v1/customers", params={"agent": ravi, "limit": 1}, headers=tenant.auth).json()["items"][0]
    assert (row["agent_id"], row["agent_name"]) == (ravi, "Ravi Sales")
    everyone = client.get("/api/v1/customers", params={"limit": 100}, headers=tenant.auth).json()["items"]
    assert {c["name"]: c["agent_id"] for c in everyone} == owners

    for bad in ("someone", "ME", "1"):
        refused = client.get("/api/v1/customers", params={"agent": bad}, headers=tenant.auth)
        assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["agent"], bad
    keyed = client.get("/api/v1/customers", params={"agent": "me"}, headers=tenant.auth)  # a key owns nobody
    assert keyed.status_code == 422 and [e["field"] for e in keyed.json()["errors"]] == ["agent"]
    other = make_tenant(platform)  # another brand filtering on this brand's agent sees none of their borrowers
    assert client.get("/api/v1/customers", params={"agent": priya}, headers=other.auth).json()["items"] == []

    browser, csrf = _signed_in(app, priya_email)  # `me`, with the portal session on the API
    try:
        assert _listed(browser, {}, agent="me", limit=2) == (mine, 2)
        made = browser.post(
            "/api/v1/customers", json={"name": "Zoya Mirza", "phone": mobile("96")}, headers={"X-CSRF-Token": csrf}
        )
        assert made.status_code == 201, made.text
        assert (made.json()["agent_id"], made.json()["agent_name"], made.json()["version"]) == (
            priya,
            "Priya Credit",
            1,
        )
        assert _listed(browser, {}, agent="me", limit=10) == ([*mine, "Zoya Mirza"], 1)
    finally:
        browser.__exit__(None, None, None)


def test_the_portal_filters_by_agent_and_the_360_moves_a_borrower_for_relocate_user_holders(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    priya, priya_email = _staff(platform, tenant, "Priya Sales")
    ravi, _ = _staff(platform, tenant, "Ravi Sales")
    _, manager_email = _staff(platform, tenant, "Sunita Manager", "sales_manager")
    customer = _borrower(client, tenant.auth, "Portal Borrower")
    unowned = _borrower(client, tenant.auth, "Nobody Owns")
    assert _move(client, tenant.auth, customer, priya).status_code == 200

    seller, seller_csrf = _signed_in(app, priya_email)
    try:
        page = seller.get(f"/customers/{customer}").text
        assert 'id="customer-agent-name">Priya Sales<' in page and 'id="agent-form"' not in page
        refused = seller.post(f"/customers/{customer}/agent", data={"csrf_token": seller_csrf, "agent_id": ravi})
        assert refused.status_code == 403
        mine = seller.get("/customers?agent=me").text
        assert "Portal Borrower" in mine and "Nobody Owns" not in mine and 'id="my-customers"' in mine
        nobodys = seller.get("/customers?agent=none").text
        assert "Nobody Owns" in nobodys and "Portal Borrower" not in nobodys
        listed = seller.get("/customers").text
        row = listed[listed.index("Portal Borrower") :]
        assert '<td class="agent">Priya Sales</td>' in row[: row.index("</tr>")]
        assert seller.get("/customers?agent=bogus").status_code == 422
    finally:
        seller.__exit__(None, None, None)

    manager, csrf = _signed_in(app, manager_email)
    try:
        page = manager.get(f"/customers/{customer}").text
        form = page[page.index('id="agent-form"') :]
        form = form[: form.index("</form>")]
        assert 'name="version" value="2"' in form and "Ravi Sales" in form and "Sunita Manager" in form
        assert f'<option value="{priya}" selected>Priya Sales</option>' in form
        sent = manager.post(
            f"/customers/{customer}/agent",
            data={"csrf_token": csrf, "agent_id": ravi, "version": "2", "reason": "Ravi covers Pune now"},
        )
        assert sent.status_code == 303 and sent.headers["location"].startswith(f"/customers/{customer}")
        page = manager.get(f"/customers/{customer}").text
        assert 'id="customer-agent-name">Ravi Sales<' in page
        assert "Moved to Ravi Sales: Ravi covers Pune now" in page  # the timeline names the agent
        stale = manager.post(
            f"/customers/{customer}/agent", data={"csrf_token": csrf, "agent_id": priya, "version": "2"}
        )
        assert stale.status_code == 409 and 'id="agent-error"' in stale.text
        wrong = manager.post(
            f"/customers/{customer}/agent", data={"csrf_token": csrf, "agent_id": str(uuid.uuid4()), "version": "3"}
        )
        assert wrong.status_code == 422 and "agent id" in wrong.text
        assert (
            manager.post(f"/customers/{customer}/agent", data={"csrf_token": csrf, "agent_id": ""}).status_code == 422
        )
        elsewhere = _borrower(client, make_tenant(platform).auth)
        assert (
            manager.post(f"/customers/{elsewhere}/agent", data={"csrf_token": csrf, "agent_id": ravi}).status_code
            == 404
        )
    finally:
        manager.__exit__(None, None, None)
    _, kiran_email = _staff(
        platform, tenant, "Kiran Credit", "credit_executive"
    )  # registers borrowers (CUSTOMER WRITE)
    kiran, kiran_csrf = _signed_in(app, kiran_email)
    try:
        by_form = kiran.post(
            "/customers/new", data={"csrf_token": kiran_csrf, "name": "Form Made", "phone": mobile("96")}
        )
        assert by_form.status_code == 303
        made_id = by_form.headers["location"].split("/customers/")[1].split("?")[0]
        assert 'id="customer-agent-name">Kiran Credit<' in kiran.get(f"/customers/{made_id}").text
        assert "Form Made" in kiran.get("/customers?agent=me").text
    finally:
        kiran.__exit__(None, None, None)
    shown = client.get(f"/api/v1/customers/{customer}", headers=tenant.auth).json()
    assert (shown["agent_id"], shown["version"]) == (ravi, 3)
    assert client.get(f"/api/v1/customers/{unowned}", headers=tenant.auth).json()["agent_id"] is None
