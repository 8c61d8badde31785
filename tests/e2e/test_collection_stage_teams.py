"""A stage given to its own team (the spec: "Each stage may be assigned to different teams"): staff holding a stage's
permission without COLLECTIONS - whom the sweep allocates that stage's cases - open the collections desk (worklist,
case page, contacts, promises, payment links) for their stage's cases, and for nothing else: not another stage's
worklist or case, nor a loan in no stage; a manager of one stage likewise. Both ways, through the API and the
portal, on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.collections.application import Collections
from domain.collections.case import Stage
from domain.collections.moves import Move
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collection_staff_loans import DUE, gateway_wiring
from tests.e2e.test_collections import D0, signed_in
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue", "gateway_wiring"]  # fixtures: the servicing tests' products, the payment gateway's wiring


def _person(client: Any, platform: Any, tenant: Tenant, role: str, overrides: dict[str, str]) -> tuple[UUID, str]:
    """A staff member of `role` with per-user permission overrides (as an admin sets them: `PATCH /staff/{id}`)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@lender.in"
    created = platform.get(Identity).create_staff(
        tenant.brand_id, email, f"Stage {role}", [role], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", created.position)
    changed = client.patch(f"/api/v1/staff/{created.id}", json={"permissions": overrides}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text
    settle(platform, "identity")
    return created.id, email


def _put(platform: Any, tenant: Tenant, loan_id: UUID, stage: Stage, staff_id: UUID | None) -> None:
    """The loan in `stage` with `staff_id`, as the sweep would put it (without a close of business)."""
    move = Move(loan_id=loan_id, stage=stage, staff_id=staff_id, previous=None, dpd=0 if stage is Stage.PRE else 3,
                amount=Decimal("8037.57"), due_on=DUE)  # fmt: skip
    position = platform.get(Collections).record_moves(tenant.brand_id, date(2026, 2, 26), [move])
    settle(platform, Collections.name, position)


def test_staff_with_only_a_stages_permission_work_that_stages_cases_and_no_other(
    app: Any, client: Any, platform: Any, gateway_wiring: Any
) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    pre, overdue, post, unstaged = (disbursed_loan(platform, tenant) for _ in range(4))
    set_business_date(platform, tenant, date(2026, 2, 26))
    # Priya: the pre-collections team (a collection executive whose COLLECTIONS an admin took away)
    priya, priya_email = _person(client, platform, tenant, "collection_executive", {"COLLECTIONS": "NONE"})
    # Pavan: the post-collections team only
    pavan, pavan_email = _person(client, platform, tenant, "collection_executive",
                                 {"COLLECTIONS": "NONE", "PRE_COLLECTIONS": "NONE", "POST_COLLECTIONS": "WRITE"})  # fmt: skip
    _put(platform, tenant, pre, Stage.PRE, priya)
    _put(platform, tenant, overdue, Stage.COLLECTIONS, priya)  # allocated to her, but a stage she does not hold
    _put(platform, tenant, post, Stage.POST, pavan)
    browser, headers = signed_in(app, priya_email)

    # The pre-collections worklist, case, contacts, promises and a payment link: hers to work.
    items = browser.get("/api/v1/collections/worklist", params={"stage": "pre"}, headers=headers)
    assert items.status_code == 200, items.text
    assert [i["loan_id"] for i in items.json()["items"]] == [str(pre)]
    assert browser.get(f"/api/v1/loans/{pre}/collection", headers=headers).status_code == 200
    contact = {"outcome": "connected", "remarks": "reminded of the due date"}
    assert browser.post(f"/api/v1/loans/{pre}/contacts", json=contact, headers=headers).status_code == 201
    promise = {"date": "2026-02-28", "amount": "8037.57"}
    made = browser.post(f"/api/v1/loans/{pre}/ptps", json=promise, headers=headers)
    assert made.status_code == 201, made.text
    assert browser.get(f"/api/v1/loans/{pre}/ptps", headers=headers).status_code == 200
    link = browser.post(f"/api/v1/loans/{pre}/collection-payment-links", json={"amount": "8037.57"}, headers=headers)
    assert link.status_code == 201, link.text
    # ...and in the portal: the Collections tab, her stage's worklist by default, the case page with its forms
    assert 'href="/collections"' in browser.get("/dashboard").text
    page = browser.get("/collections")
    assert page.status_code == 200 and f"/collections/loans/{pre}" in page.text, page.text[:300]
    case = browser.get(f"/collections/loans/{pre}")
    assert case.status_code == 200 and 'id="contact-form"' in case.text and 'id="ptp-form"' in case.text
    logged = browser.post(f"/collections/loans/{pre}/contacts",
                          data={"csrf_token": headers["X-CSRF-Token"], "outcome": "connected", "remarks": "again"})  # fmt: skip
    assert logged.status_code == 303, logged.text[:300]

    # Nothing of a stage she lacks: the collections and post worklists, the overdue case allocated to her, a loan in
    # no stage - in the API and the portal alike, nothing recorded.
    for stage in ("collections", "post"):
        refused = browser.get("/api/v1/collections/worklist", params={"stage": stage}, headers=headers)
        assert refused.status_code == 403, (stage, refused.text)
        assert browser.get("/collections", params={"stage": stage}).status_code == 403
    assert browser.get(f"/api/v1/loans/{overdue}/collection", headers=headers).status_code == 403
    assert browser.post(f"/api/v1/loans/{overdue}/contacts", json=contact, headers=headers).status_code == 403
    assert browser.post(f"/api/v1/loans/{overdue}/ptps", json=promise, headers=headers).status_code == 403
    assert (
        browser.post(f"/api/v1/loans/{overdue}/collection-payment-links", json={}, headers=headers).status_code == 403
    )
    assert browser.get(f"/collections/loans/{overdue}").status_code == 404
    form = {"csrf_token": headers["X-CSRF-Token"], "outcome": "connected", "remarks": "x"}
    assert browser.post(f"/collections/loans/{overdue}/contacts", data=form).status_code == 403
    for loan in (post, unstaged):  # not hers (another's case; no case at all)
        assert browser.get(f"/api/v1/loans/{loan}/collection", headers=headers).status_code == 404
        assert browser.post(f"/api/v1/loans/{loan}/contacts", json=contact, headers=headers).status_code == 404
    panel = client.get(f"/api/v1/loans/{overdue}/collection", headers=tenant.auth).json()
    assert panel["contacts"] == [] and panel["ptps"] == []

    # Pavan, the post-collections team: his stage only.
    pavan_browser, pavan_headers = signed_in(app, pavan_email)
    mine = pavan_browser.get("/api/v1/collections/worklist", params={"stage": "post"}, headers=pavan_headers)
    assert [i["loan_id"] for i in mine.json()["items"]] == [str(post)], mine.text
    assert pavan_browser.post(f"/api/v1/loans/{post}/contacts", json=contact, headers=pavan_headers).status_code == 201
    for stage in ("pre", "collections"):
        refused = pavan_browser.get("/api/v1/collections/worklist", params={"stage": stage}, headers=pavan_headers)
        assert refused.status_code == 403, stage
    assert pavan_browser.get("/collections").status_code == 200  # the post worklist, the one stage he holds
    assert pavan_browser.get(f"/api/v1/loans/{pre}/collection", headers=pavan_headers).status_code == 404

    # A pre-collections manager (reallocates, reads post; no COLLECTIONS): any loan of the stages they hold, no other.
    _, manager_email = _person(client, platform, tenant, "collection_manager", {"COLLECTIONS": "NONE"})
    manager, manager_headers = signed_in(app, manager_email)
    assert manager.get(f"/api/v1/loans/{pre}/collection", headers=manager_headers).status_code == 200
    assert manager.post(f"/api/v1/loans/{pre}/contacts", json=contact, headers=manager_headers).status_code == 201
    assert manager.get(f"/api/v1/loans/{post}/collection", headers=manager_headers).status_code == 200  # POST READ
    assert manager.post(f"/api/v1/loans/{post}/contacts", json=contact, headers=manager_headers).status_code == 403
    for loan in (overdue, unstaged):  # the collections stage's; a loan in no stage is the COLLECTIONS desk's
        assert manager.get(f"/api/v1/loans/{loan}/collection", headers=manager_headers).status_code == 403
        assert manager.post(f"/api/v1/loans/{loan}/contacts", json=contact, headers=manager_headers).status_code == 403
    assert manager.get("/api/v1/collections/worklist", params={"stage": "collections"},
                       headers=manager_headers).status_code == 403  # fmt: skip

    # Without any stage's permission the desk stays shut (the door itself: 403, the Collections tab gone).
    _, none_email = _person(client, platform, tenant, "collection_executive",
                            {"COLLECTIONS": "NONE", "PRE_COLLECTIONS": "NONE"})  # fmt: skip
    nobody, nobody_headers = signed_in(app, none_email)
    shut = nobody.get("/api/v1/collections/worklist", params={"stage": "pre"}, headers=nobody_headers)
    assert shut.status_code == 403 and shut.json()["any_of"] == ["COLLECTIONS", "PRE_COLLECTIONS", "POST_COLLECTIONS"]
    assert nobody.get("/collections").status_code == 403
    assert 'href="/collections"' not in nobody.get("/dashboard").text
