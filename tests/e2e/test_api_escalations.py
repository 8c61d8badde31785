"""Sanction Head escalations through the API on PostgreSQL (issue #14): an SM escalates a CX-approved loan, the
Sanction Head assigns it to another SM (whose queue then holds it, and no other SM's) or sanctions or rejects it
himself; every move is in the loan's history with actor and reason; refusals record nothing; other brands get 404.

The product catalogue is the fake of tests/e2e/test_api_loans.py (installed on the platform's Loans)."""

from __future__ import annotations

import uuid
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.loan_decision_queries import DecisionQueries
from tests.conftest import make_tenant
from tests.e2e.test_api_loan_decisions import _events, _pending
from tests.e2e.test_api_loans import catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.support import settle


def _keys(platform: Any, brand_id: uuid.UUID) -> dict[str, dict[str, str]]:
    identity = platform.get(Identity)
    keys = {}
    for role in ("credit_executive", "sanction_manager", "sanction_head"):
        issued = identity.issue_api_key(brand_id, role, f"{role} key", granter=OPERATOR)
        keys[role] = {"Authorization": f"Bearer {issued.secret}"}
    settle(platform, "identity")
    return keys


def _cx_approved(client: Any, tenant: Any, name: str, phone: str) -> str:
    loan_id = _pending(client, tenant, name=name, phone=phone)
    approved = client.post(f"/api/v1/loans/{loan_id}/cx-approve", json={"approved_amount": "90000", "remarks": "salary fine"},
                           headers=tenant.auth)  # fmt: skip
    assert approved.status_code == 200, approved.text
    return loan_id


def test_escalate_assign_and_the_head_decides(client: Any, tenant: Any, platform: Any, dsn: str) -> None:
    keys = _keys(platform, tenant.brand_id)
    identity = platform.get(Identity)
    ravi = identity.create_staff(
        tenant.brand_id, "ravi-sm@lender.in", "Ravi SM", ["sanction_manager"], granter=OPERATOR
    )
    meena = identity.create_staff(
        tenant.brand_id, "meena-sm@lender.in", "Meena SM", ["sanction_manager"], granter=OPERATOR
    )
    cx = identity.create_staff(tenant.brand_id, "cx-only@lender.in", "Cee Ex", ["credit_executive"], granter=OPERATOR)
    settle(platform, "identity", cx.position)
    loan_id = _cx_approved(client, tenant, "Kiran Rao", "9876512361")
    url = f"/api/v1/loans/{loan_id}"

    assert (
        client.post(f"{url}/escalate", json={"reason": "not mine"}, headers=keys["credit_executive"]).status_code == 403
    )
    escalated = client.post(
        f"{url}/escalate", json={"reason": "employer unknown to me"}, headers=keys["sanction_manager"]
    )
    assert escalated.status_code == 200, escalated.text
    entry = escalated.json()["history"][-1]
    assert entry["kind"] == "escalated" and entry["reason"] == "employer unknown to me"
    assert entry["actor"].startswith("apikey:")
    before = _events(dsn)
    again = client.post(f"{url}/escalate", json={"reason": "again"}, headers=keys["sanction_manager"])
    assert again.status_code == 409, again.text
    queue = client.get("/api/v1/credit/sm-queue", headers=keys["sanction_head"]).json()["items"]
    mine = next(i for i in queue if i["id"] == loan_id)
    assert mine["escalated"] is True and mine["escalation_reason"] == "employer unknown to me"
    figures = client.get("/api/v1/credit/team-figures", headers=keys["sanction_head"]).json()
    assert figures["escalated"] >= 1

    assign = {"staff_id": str(ravi.id), "reason": "Ravi knows the employer"}
    assert client.post(f"{url}/sanction-assign", json=assign, headers=keys["sanction_manager"]).status_code == 403
    for bad in ({"staff_id": str(uuid.uuid4()), "reason": "a stranger"}, {"staff_id": str(cx.id), "reason": "a CX"},
                {"staff_id": "nope", "reason": "not an id"}):  # fmt: skip
        refused = client.post(f"{url}/sanction-assign", json=bad, headers=keys["sanction_head"])
        assert refused.status_code == 422 and "staff_id" in refused.text, refused.text
    assert _events(dsn) == before
    seen = client.get(url, headers=tenant.auth).json()["version"]
    read = {**keys["sanction_head"], "If-Match": f'"{seen}"'}
    assigned = client.post(f"{url}/sanction-assign", json=assign, headers=read)
    assert assigned.status_code == 200, assigned.text
    stale = client.post(f"{url}/sanction-assign", json={**assign, "staff_id": str(meena.id)}, headers=read)
    assert stale.status_code == 409 and stale.json()["current_version"] == seen + 1, stale.text
    entry = assigned.json()["history"][-1]
    assert entry["kind"] == "sanction_assigned" and entry["reason"] == "Ravi knows the employer"
    assert entry["details"] == {"staff_id": str(ravi.id)}

    decisions = DecisionQueries(platform.db.pool)
    assert loan_id in [str(i.id) for i in decisions.sm_queue(tenant.brand_id, staff_id=ravi.id, limit=200).items]
    assert loan_id not in [str(i.id) for i in decisions.sm_queue(tenant.brand_id, staff_id=meena.id, limit=200).items]
    item = next(i for i in decisions.sm_queue(tenant.brand_id, limit=200).items if str(i.id) == loan_id)
    assert item.escalated is False and item.sanction_assignee_name == "Ravi SM"
    assert loan_id not in [str(i.id) for i in decisions.escalations(tenant.brand_id)]
    team = client.get("/api/v1/credit/team-figures", headers=keys["sanction_head"]).json()
    ravi_figures = next(m for m in team["managers"] if m["actor"] == f"staff:{ravi.id}")
    assert ravi_figures["name"] == "Ravi SM" and ravi_figures["queue_size"] == 1 and ravi_figures["decided"] == 0
    assert ravi_figures["oldest_hours"] is not None and ravi_figures["approval_rate"] is None

    sanction = {"sanctioned_amount": "85000", "remarks": "the head decides"}
    sanctioned = client.post(f"{url}/sanction", json=sanction, headers=keys["sanction_head"])
    assert sanctioned.status_code == 200 and sanctioned.json()["status"] == "sm_approved", sanctioned.text
    head_actor = sanctioned.json()["history"][-1]["actor"]
    late = client.post(f"{url}/escalate", json={"reason": "too late"}, headers=keys["sanction_manager"])
    assert late.status_code == 409

    other_loan = _cx_approved(client, tenant, "Lata Rao", "9876512362")
    reject = {"reason_code": "LOW_SALARY", "remarks": "the head rejects"}
    rejected = client.post(f"/api/v1/loans/{other_loan}/reject", json=reject, headers=keys["sanction_head"])
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    team = client.get("/api/v1/credit/team-figures", headers=keys["sanction_head"]).json()
    head_figures = next(m for m in team["managers"] if m["actor"] == head_actor)
    assert (head_figures["sanctioned"], head_figures["rejected"], head_figures["approval_rate"]) == (1, 1, "50.0")
    assert all(m["queue_size"] == 0 for m in team["managers"])


def test_escalations_of_another_brand_are_not_found(client: Any, tenant: Any, platform: Any, dsn: str) -> None:
    loan_id = _cx_approved(client, tenant, "Mohan Das", "9876512363")
    other = make_tenant(platform)
    staff = platform.get(Identity).create_staff(
        other.brand_id, "sm-other@lender.in", "Other SM", ["sanction_manager"], granter=OPERATOR
    )
    settle(platform, "identity", staff.position)
    before = _events(dsn)
    url = f"/api/v1/loans/{loan_id}"
    assert client.post(f"{url}/escalate", json={"reason": "not yours"}, headers=other.auth).status_code == 404
    assign = {"staff_id": str(staff.id), "reason": "not yours"}
    assert client.post(f"{url}/sanction-assign", json=assign, headers=other.auth).status_code == 404
    # Our own loan, another brand's SM: refused naming the field.
    refused = client.post(f"{url}/sanction-assign", json=assign, headers=tenant.auth)
    assert refused.status_code == 422 and "staff_id" in refused.text
    assert _events(dsn) == before


def test_the_heads_list_of_sm_decisions_walks_newest_first_page_by_page(
    client: Any, tenant: Any, platform: Any
) -> None:
    """Read in the order of its index (latest changed first): ordered oldest-created first, each page sorted every
    decision of the SM (or the brand)."""
    keys = _keys(platform, tenant.brand_id)
    decided = []
    for n in range(3):
        loan_id = _cx_approved(client, tenant, f"Decided {n}", f"98765123{70 + n}")
        sanction = {"sanctioned_amount": "85000", "remarks": "within policy"}
        done = client.post(f"/api/v1/loans/{loan_id}/sanction", json=sanction, headers=keys["sanction_manager"])
        assert done.status_code == 200, done.text
        decided.append(loan_id)
    settle(platform, "loans")
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/credit/sm-loans", params=params, headers=keys["sanction_head"])
        assert page.status_code == 200, page.text
        seen += [i["id"] for i in page.json()["items"]]
        cursor = page.json().get("next_cursor")
        if not cursor:
            break
    assert seen == decided[::-1], (seen, decided)  # the latest decision first, each once
    other = client.get("/api/v1/credit/sm-loans", params={"actor": "staff:nobody"}, headers=keys["sanction_head"])
    assert other.status_code == 200 and other.json()["items"] == []
