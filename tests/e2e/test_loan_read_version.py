"""`GET /api/v1/loans/{id}` answers the aggregate's version after every Loan event, on PostgreSQL through the API:
also after the events that only add a timeline row (collection, waiver and settlement requests and decisions, a
recovery after a write-off, the no-due certificate), so a client sending it as `If-Match` on a loan command is
never refused as stale (`POST /loans/{id}/product`, the loan command that honours If-Match: its version is checked
before its status, so on a serviced loan the refusal names the status, not the version)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_servicing_api import D0, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]  # the penal-charging catalogue fixture (autouse)

LATE = date(2026, 3, 20)
#: A product change the loan's status refuses once its version is the loan's (its product need not exist: the
#: version is checked first, then the status, then the product).
PROBE = {"product_id": str(uuid.uuid4()), "reason": "probing the version"}


def _key(platform: Any, tenant: Tenant, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(tenant.brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _shows_the_aggregates_version(client: Any, platform: Any, tenant: Tenant, loan_id: UUID, after: str) -> None:
    """The API's version is the aggregate's, and an If-Match with it passes the version check."""
    settle(platform, Loans.name)
    url = f"/api/v1/loans/{loan_id}"
    shown = client.get(url, headers=tenant.auth).json()["version"]
    assert shown == platform.get(Loans).get(tenant.brand_id, loan_id).version, after
    fresh = client.post(f"{url}/product", json=PROBE, headers={**tenant.auth, "If-Match": f'"{shown}"'})
    assert fresh.status_code == 409 and "current_version" not in fresh.json(), (after, fresh.text)
    assert fresh.json()["current_status"] not in ("onboarding", "pending", "cx_approved"), (after, fresh.text)
    stale = client.post(f"{url}/product", json=PROBE, headers={**tenant.auth, "If-Match": f'"{shown - 1}"'})
    assert stale.status_code == 409 and stale.json()["current_version"] == shown, (after, stale.text)


def test_requests_decisions_and_recoveries_move_the_loans_version(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    set_business_date(platform, tenant, LATE)
    manager, head = _key(platform, tenant, "collection_manager"), _key(platform, tenant, "collection_head")
    url = f"/api/v1/loans/{loan_id}"

    def agrees(after: str) -> None:
        _shows_the_aggregates_version(client, platform, tenant, loan_id, after)

    agrees("disbursal")
    body = {"amount": "3000.00", "mode": "cash", "reference": "RCPT-1", "collected_on": "2026-03-19"}
    asked = client.post(f"{url}/collection-requests", json=body, headers=manager)
    assert asked.status_code == 201, asked.text
    agrees("a collection request")
    rejected = client.post(f"/api/v1/collection-requests/{asked.json()['id']}/reject",
                           json={"reason": "never reached the branch"}, headers=head)  # fmt: skip
    assert rejected.status_code == 200, rejected.text
    agrees("a collection request's rejection")

    waiver = client.post(f"{url}/waivers", json={"amount": "1.00", "justification": "hospital stay"}, headers=manager)
    assert waiver.status_code == 201, waiver.text
    agrees("a waiver request")
    refused = client.post(f"/api/v1/waivers/{waiver.json()['id']}/reject", json={"reason": "no proof"}, headers=head)
    assert refused.status_code == 200, refused.text
    agrees("a waiver's rejection")

    offer = {"amount": "40000.00", "remarks": "job lost; one-time"}
    proposed = client.post(f"{url}/settlements", json=offer, headers=manager)
    assert proposed.status_code == 201, proposed.text
    agrees("a settlement proposal")
    declined = client.post(f"/api/v1/settlements/{proposed.json()['id']}/reject", json={"reason": "too low"},
                           headers=head)  # fmt: skip
    assert declined.status_code == 200, declined.text
    agrees("a settlement's rejection")
    again = client.post(f"{url}/settlements", json=offer | {"remarks": "second offer"}, headers=manager)
    assert again.status_code == 201, again.text
    approved = client.post(f"/api/v1/settlements/{again.json()['id']}/approve", headers=head)
    assert approved.status_code == 200, approved.text
    agrees("a settlement's approval")

    written_off = client.post(f"{url}/write-off", json={"reason": "borrower deceased; no estate"}, headers=tenant.auth)
    assert written_off.status_code == 200, written_off.text
    recovered = client.post(
        f"{url}/repayments", json={"amount": "1500.00", "mode": "cash", "reference": "REC-1"}, headers=tenant.auth
    )
    assert recovered.status_code == 201 and recovered.json()["allocation"] == [], recovered.text
    agrees("a recovery")
    other = make_tenant(platform)  # another brand still sees nothing
    assert client.get(url, headers=other.auth).status_code == 404


def test_the_no_due_certificate_moves_the_loans_version(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    loan_id = disbursed_loan(platform, tenant)
    url = f"/api/v1/loans/{loan_id}"
    quote = client.get(f"{url}/payoff", headers=tenant.auth).json()
    closing = client.post(f"{url}/repayments", json={"amount": quote["total"], "mode": "neft", "reference": "UTR-END"},
                          headers=tenant.auth)  # fmt: skip
    assert closing.status_code == 201 and closing.json()["status"] == "completed", closing.text
    assert client.get(f"{url}/no-due-certificate", headers=tenant.auth).status_code == 200
    assert platform.get(Loans).get(tenant.brand_id, loan_id).no_due is not None  # its hash recorded on the loan
    _shows_the_aggregates_version(client, platform, tenant, loan_id, "the no-due certificate")
