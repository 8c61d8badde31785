"""A collection executive proposes a write-off (spec, Collection Executive: "Initiate a Write-Off"); a holder of
LOAN_WRITE_OFF approves it - the loan's existing write-off, in the same commit - or rejects it with a reason. The
proposer does not approve their own (the settlements' second-approver rule, admins excepted); it waits in the
approvals queue `/approvals/write-offs`; a loan no longer serviced when it is approved is a 409; another brand's
proposal or loan is a 404."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import make_tenant
from tests.e2e.test_collections import executive, give_case, signed_in
from tests.e2e.test_recoveries_api import _key, _overdue_loan
from tests.e2e.test_recovery_second_approver import _Staff
from tests.e2e.test_servicing_api import catalogue
from tests.support import settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)


def _kinds(client: Any, loan_id: UUID, auth: dict[str, str]) -> list[str]:
    page = client.get(f"/api/v1/loans/{loan_id}/events", params={"limit": 200}, headers=auth)
    assert page.status_code == 200, page.text
    return [e["kind"] for e in page.json()["items"]]


def test_an_executive_proposes_a_write_off_and_an_admin_approves_it(app: Any, client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    (asha, asha_email), (_, ravi_email) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    give_case(platform, tenant, loan_id, asha)
    asha_client, asha_headers = signed_in(app, asha_email)
    ravi, ravi_headers = signed_in(app, ravi_email)
    admin = _Staff(app, platform, tenant, ["admin"])
    loans: Loans = platform.get(Loans)
    try:
        page = asha_client.get(f"/loans/{loan_id}/recoveries")
        assert page.status_code == 200 and 'id="write-off-proposal-form"' in page.text
        assert 'id="write-off-form"' not in page.text  # the direct write-off stays LOAN_WRITE_OFF's
        # Not the executive's loan: 404, nothing recorded.
        probe = ravi.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "absconded"}, headers=ravi_headers)
        assert probe.status_code == 404, probe.text
        assert not loans.get(tenant.brand_id, loan_id).write_off_requests
        # Asha proposes from the portal (form_once + CSRF as every form): pending, the loan unchanged.
        token = asha_headers["X-CSRF-Token"]
        refused = asha_client.post(f"/loans/{loan_id}/write-offs", data={"csrf_token": token, "reason": " "})
        assert refused.status_code == 422 and not loans.get(tenant.brand_id, loan_id).write_off_requests
        sent = asha_client.post(
            f"/loans/{loan_id}/write-offs", data={"csrf_token": token, "reason": "borrower absconded; untraceable"}
        )
        assert sent.status_code == 303, sent.text[:300]
        loan = loans.get(tenant.brand_id, loan_id)
        (proposal,) = loan.write_off_requests.values()
        assert proposal.status == "pending_approval" and proposal.requested_by == f"staff:{asha}"
        assert proposal.amount == loan.payoff_quote(proposal.proposed_on).total > 0
        assert loan.status != "written_off" and loan.ending is None
        again = asha_client.post(
            f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "second try"}, headers=asha_headers
        )
        assert again.status_code == 409, again.text  # one pending at a time
        # The approvals queue lists it for a holder of LOAN_WRITE_OFF only.
        queue = client.get("/api/v1/write-offs", headers=tenant.auth).json()["items"]
        assert [(r["id"], r["kind"], r["justification"]) for r in queue] == [
            (proposal.write_off_id, "write_off", "borrower absconded; untraceable")
        ]
        assert asha_client.get("/approvals/write-offs").status_code == 403
        listed = admin.client.get("/approvals/write-offs")
        assert listed.status_code == 200 and "borrower absconded; untraceable" in listed.text, listed.text[:300]
        # Approved from the queue: the existing write-off, in the same commit.
        approved = admin.form(f"/approvals/write-offs/{proposal.write_off_id}/approve")
        assert approved.status_code == 303, approved.text[:300]
        loan = loans.get(tenant.brand_id, loan_id)
        assert loan.status == "written_off" and loan.ending is not None and loan.ending.kind == "written_off"
        assert loan.write_off_requests[proposal.write_off_id].status == "approved"
        assert client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["status"] == "written_off"
        row = client.get("/api/v1/write-offs?status=approved", headers=tenant.auth).json()["items"][0]
        assert row["decided_by"] == f"staff:{admin.id}" and row["requested_by"] == f"staff:{asha}"
        kinds = _kinds(client, loan_id, tenant.auth)
        assert kinds.index("write_off_proposed") < kinds.index("written_off") < kinds.index("write_off_approved")
        twice = admin.api(f"/write-offs/{proposal.write_off_id}/approve")
        assert twice.status_code == 409, twice.text
    finally:
        asha_client.close()
        ravi.close()


def test_a_rejected_write_off_changes_nothing_on_the_loan(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head = _key(platform, tenant, "collection_head")  # COLLECTIONS WRITE on any loan of the brand
    loans: Loans = platform.get(Loans)
    before = loans.get(tenant.brand_id, loan_id)
    ledger = client.get(f"/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"]
    proposed = client.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "no assets"}, headers=head)
    assert proposed.status_code == 201, proposed.text
    wid = proposed.json()["id"]
    assert proposed.json()["status"] == "pending_approval" and proposed.json()["kind"] == "write_off"
    reject = f"/api/v1/write-offs/{wid}/reject"
    assert client.post(reject, json={"reason": ""}, headers=tenant.auth).status_code == 422  # a reason needed
    rejected = client.post(reject, json={"reason": "still employed; keep calling"}, headers=tenant.auth)
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "still employed; keep calling"
    after = loans.get(tenant.brand_id, loan_id)
    assert after.status == before.status and after.ending is None
    assert after.payoff_quote(after.write_off_requests[wid].proposed_on) == before.payoff_quote(
        after.write_off_requests[wid].proposed_on
    )
    assert client.get(f"/api/v1/loans/{loan_id}/ledger", headers=tenant.auth).json()["items"] == ledger
    assert client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["status"] == str(before.status)
    assert "write_off_rejected" in _kinds(client, loan_id, tenant.auth)
    assert client.post(f"/api/v1/write-offs/{wid}/approve", headers=tenant.auth).status_code == 409  # decided
    # A new proposal may follow a rejected one.
    assert client.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "again"}, headers=head).status_code == 201


def test_the_proposer_does_not_approve_their_own_write_off(app: Any, client: Any, platform: Any) -> None:
    """A Collection Head given LOAN_WRITE_OFF proposes: another holder approves; a role without it gets 403."""
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head = _Staff(app, platform, tenant, ["collection_head"])
    granted = platform.get(Identity).update_staff(
        tenant.brand_id, head.id, permissions={"LOAN_WRITE_OFF": "WRITE"}, granter=OPERATOR
    )
    settle(platform, "identity", granted.position)
    manager = _key(platform, tenant, "collection_manager")
    proposed = head.api(f"/loans/{loan_id}/write-offs", json={"reason": "borrower deceased; no estate"})
    assert proposed.status_code == 201, proposed.text
    wid = proposed.json()["id"]
    own = head.api(f"/write-offs/{wid}/approve")
    assert own.status_code == 409 and "you proposed this write-off" in own.json()["detail"], own.text
    assert own.json()["rule"] == "second_approver" and own.json()["requested_by"] == f"staff:{head.id}"
    page = head.form(f"/approvals/write-offs/{wid}/approve")
    assert page.status_code == 422 and "you proposed this write-off" in page.text, page.text[:300]
    loans: Loans = platform.get(Loans)
    assert loans.get(tenant.brand_id, loan_id).write_off_requests[wid].status == "pending_approval"
    assert loans.get(tenant.brand_id, loan_id).status != "written_off"
    # Without LOAN_WRITE_OFF: 403 on the queue and the decisions.
    assert client.get("/api/v1/write-offs", headers=manager).status_code == 403
    assert client.post(f"/api/v1/write-offs/{wid}/approve", headers=manager).status_code == 403
    assert client.post(f"/api/v1/write-offs/{wid}/reject", json={"reason": "nope"}, headers=manager).status_code == 403
    assert client.post(f"/api/v1/write-offs/{wid}/approve", headers=tenant.auth).status_code == 200
    assert loans.get(tenant.brand_id, loan_id).status == "written_off"


def test_a_write_off_approved_after_the_loan_ended_is_a_409(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head = _key(platform, tenant, "collection_head")
    wid = client.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "no assets"}, headers=head).json()["id"]
    direct = client.post(f"/api/v1/loans/{loan_id}/write-off", json={"reason": "board decision"}, headers=tenant.auth)
    assert direct.status_code == 200, direct.text  # the direct write-off, unchanged
    late = client.post(f"/api/v1/write-offs/{wid}/approve", headers=tenant.auth)
    assert late.status_code == 409 and "written off" in late.json()["detail"], late.text
    loans: Loans = platform.get(Loans)
    assert loans.get(tenant.brand_id, loan_id).write_off_requests[wid].status == "pending_approval"
    closing = client.post(
        f"/api/v1/write-offs/{wid}/reject", json={"reason": "already written off"}, headers=tenant.auth
    )
    assert closing.status_code == 200, closing.text


def test_another_brands_write_off_proposal_and_loan_are_404(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    loan_id = _overdue_loan(platform, tenant)
    head = _key(platform, tenant, "collection_head")
    wid = client.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "no assets"}, headers=head).json()["id"]
    assert client.post(f"/api/v1/write-offs/{wid}/approve", headers=other.auth).status_code == 404
    assert (
        client.post(f"/api/v1/write-offs/{wid}/reject", json={"reason": "mine?"}, headers=other.auth).status_code == 404
    )
    assert client.get("/api/v1/write-offs", headers=other.auth).json()["items"] == []
    other_head = _key(platform, other, "collection_head")
    assert (
        client.post(f"/api/v1/loans/{loan_id}/write-offs", json={"reason": "x-brand"}, headers=other_head).status_code
        == 404
    )
    # A settlement's address does not decide a write-off.
    assert client.post(f"/api/v1/settlements/{wid}/approve", headers=tenant.auth).status_code == 404
    loans: Loans = platform.get(Loans)
    loan = loans.get(tenant.brand_id, loan_id)
    assert loan.status != "written_off" and len(loan.write_off_requests) == 1
