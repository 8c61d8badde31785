"""Auto-allocation of new borrowers (`auto_allocate_borrowers`) over HTTP on PostgreSQL: off by default; on, a
borrower nobody owns (registered by a key, or signed up in the borrower web flow) goes to the Sales agent owning the
fewest borrowers - skipping the unavailable, those on leave, the disabled, other roles and other brands - as the
manual move's event by `auto-allocation`, in the registration's own save (once: a repeat, a re-submitted step or a
replay adds nothing); nobody eligible leaves the borrower unassigned; a staff member registering one keeps them."""

from __future__ import annotations

import uuid
from typing import Any

from adapters.simulators.sms import SmsSimulator
from domain.customers.application import ALLOCATOR, AUTO_AGENT_REASON, Customers
from domain.customers.customer import CustomerRecord
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.onboarding_support import bearer, sign_in, sms
from tests.e2e.test_customer_agents import _signed_in, _staff
from tests.e2e.test_onboarding_api import PERSONAL, _pan
from tests.support import mobile, settle

__all__ = ["sms"]  # the fixture, used by name


def _register(client: Any, tenant: Tenant, name: str = "Nirmala Rao", phone: str | None = None) -> dict[str, Any]:
    made = client.post("/api/v1/customers", json={"name": name, "phone": phone or mobile("96")}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _auto_allocating(platform: Any, tenant: Tenant, on: bool = True) -> None:
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_borrowers": on})
    settle(platform, "identity", result.position)


def _moves(platform: Any, customer_id: str) -> list[CustomerRecord.AgentAssigned]:
    events = platform.get(Customers).events.get(uuid.UUID(customer_id))
    return [e for e in events if isinstance(e, CustomerRecord.AgentAssigned)]


def test_the_setting_is_off_by_default_and_an_unowned_borrower_stays_unassigned(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    _staff(platform, tenant, "Priya Sales")
    config = client.get("/api/v1/brand/config", headers=tenant.auth).json()
    assert config["settings"]["auto_allocate_borrowers"] is False
    made = _register(client, tenant)
    assert (made["agent_id"], made["version"]) == (None, 1) and _moves(platform, made["id"]) == []

    _auto_allocating(platform, tenant)
    _auto_allocating(platform, tenant, on=False)  # switched back off: again nobody is allocated
    later = _register(client, tenant)
    assert later["agent_id"] is None and _moves(platform, later["id"]) == []
    assert client.get(f"/api/v1/customers/{made['id']}", headers=tenant.auth).json()["agent_id"] is None  # no sweep


def test_a_new_borrower_goes_to_the_least_loaded_available_sales_agent_as_the_moves_event(
    client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    busy, _ = _staff(platform, tenant, "Busy Sales")
    free, _ = _staff(platform, tenant, "Free Sales")
    away, _ = _staff(platform, tenant, "Away Sales")
    identity.update_staff(tenant.brand_id, uuid.UUID(away), available=False, granter=OPERATOR)
    holiday, _ = _staff(platform, tenant, "Holiday Sales")
    today = identity.business_date(tenant.brand_id)
    identity.schedule_leave(tenant.brand_id, uuid.UUID(holiday), today, today, "wedding")
    gone, _ = _staff(platform, tenant, "Disabled Sales")
    identity.set_enabled(tenant.brand_id, uuid.UUID(gone), False, granter=OPERATOR)
    cx, _ = _staff(platform, tenant, "Credit Executive", "credit_executive")  # may own borrowers, but not sales
    elsewhere = make_tenant(platform)
    _staff(platform, elsewhere, "Other Brand Sales")  # owns nobody, never picked for this brand
    settle(platform, "identity")

    owned = _register(client, tenant, "Owned Already")  # a manager gives Busy one borrower first
    moved = client.post(
        f"/api/v1/customers/{owned['id']}/agent", json={"agent_id": busy}, headers=tenant.auth
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    _auto_allocating(platform, tenant)
    settle(platform, "customers")

    made = _register(client, tenant, "Asha Kulkarni")
    # not the busy one, the unavailable, the one on leave, the disabled, a credit executive or another brand's
    assert made["agent_id"] == free, {"busy": busy, "away": away, "holiday": holiday, "gone": gone, "cx": cx}
    assert made["agent_name"] == "Free Sales" and made["version"] == 2
    [move] = _moves(platform, made["id"])
    assert (str(move.agent_id), move.previous_agent_id, move.reason, move.actor) == (
        free, None, AUTO_AGENT_REASON, ALLOCATOR,
    )  # fmt: skip
    [registered] = [e for e in platform.get(Customers).events.get(uuid.UUID(made["id"])) if e.originator_version == 1]
    assert registered.actor.startswith("apikey:")  # the registration keeps its own actor
    entry = made["timeline"][0]
    assert entry["kind"] == "agent_assigned" and entry["actor"] == ALLOCATOR

    # Busy and Free now own one each: the tie goes to the smaller id, the next one to the other.
    settle(platform, "customers")
    second = _register(client, tenant, "Meena Reddy")
    assert second["agent_id"] == min(busy, free, key=uuid.UUID)
    settle(platform, "customers")
    third = _register(client, tenant, "Ravi Iyer")
    assert third["agent_id"] == max(busy, free, key=uuid.UUID)
    mine = client.get("/api/v1/customers", params={"agent": free}, headers=tenant.auth).json()["items"]
    assert "Asha Kulkarni" in [c["name"] for c in mine]


def test_with_nobody_eligible_the_borrower_stays_unassigned(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    away, _ = _staff(platform, tenant, "Away Sales")
    identity.update_staff(tenant.brand_id, uuid.UUID(away), available=False, granter=OPERATOR)
    holiday, _ = _staff(platform, tenant, "Holiday Sales")
    today = identity.business_date(tenant.brand_id)
    identity.schedule_leave(tenant.brand_id, uuid.UUID(holiday), today, today, "exam")
    _auto_allocating(platform, tenant)

    made = _register(client, tenant)
    assert (made["agent_id"], made["version"]) == (None, 1) and _moves(platform, made["id"]) == []
    bare = make_tenant(platform)  # no staff at all
    _auto_allocating(platform, bare)
    assert _register(client, bare)["agent_id"] is None


def test_a_borrower_is_allocated_once_and_a_staff_registrant_keeps_theirs(
    client: Any, app: Any, platform: Any, sms: SmsSimulator
) -> None:
    tenant = make_tenant(platform)
    priya, _ = _staff(platform, tenant, "Priya Sales")
    _auto_allocating(platform, tenant)

    # The borrower web flow: the record made at the personal step is allocated; the step again adds nothing.
    session = sign_in(client, sms, tenant.slug, mobile())
    auth = bearer(session)
    pan = _pan()
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": pan}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code in (200, 409)
    settle(platform, "onboarding")
    [signed_up] = client.get("/api/v1/customers", params={"q": pan}, headers=tenant.auth).json()["items"]
    assert signed_up["agent_id"] == priya
    [move] = _moves(platform, signed_up["id"])
    assert move.actor == ALLOCATOR

    # A repeated registration (the same phone) is refused and allocates nobody; a replay reads the one move.
    phone = mobile("97")
    first = _register(client, tenant, "Once Only", phone)
    again = client.post("/api/v1/customers", json={"name": "Once Only", "phone": phone}, headers=tenant.auth)
    assert again.status_code == 409
    assert len(_moves(platform, first["id"])) == 1
    replayed = platform.get(Customers).repository.get(uuid.UUID(first["id"]))
    assert (str(replayed.agent_id), replayed.version) == (priya, 2)

    # A staff member registering a borrower owns them from the first event: no allocation.
    _, kiran_email = _staff(platform, tenant, "Kiran Credit", "credit_executive")
    kiran, csrf = _signed_in(app, kiran_email)
    try:
        by_form = kiran.post("/customers/new", data={"csrf_token": csrf, "name": "Form Made", "phone": mobile("96")})
        assert by_form.status_code == 303
        made_id = by_form.headers["location"].split("/customers/")[1].split("?")[0]
    finally:
        kiran.__exit__(None, None, None)
    assert _moves(platform, made_id) == []
    assert platform.get(Customers).get(tenant.brand_id, uuid.UUID(made_id)).agent_id != uuid.UUID(priya)


def test_the_setting_is_per_brand(client: Any, platform: Any) -> None:
    on, off = make_tenant(platform), make_tenant(platform)
    mine, _ = _staff(platform, on, "On Sales")
    _staff(platform, off, "Off Sales")
    _auto_allocating(platform, on)
    assert _register(client, on)["agent_id"] == mine
    assert _register(client, off)["agent_id"] is None
