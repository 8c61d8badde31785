"""A departed credit executive's open callback request follows their application to the CX the `cx-departures` job
gives it (docs/callbacks.md, "Re-routed when the holder changes"; docs/loans.md, "When the credit executive
leaves"): the job's `Loan.Assigned` is a hand-over like a manager's, so the router moves the request still with the
one who left to the new CX - on PostgreSQL, over HTTP, with the real router."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from domain.callbacks.request import RerouteCause
from domain.identity.application import Identity
from tests.conftest import Tenant
from tests.e2e.test_callback_departures import _moves, _request, _staff_change
from tests.e2e.test_callbacks import _application, _assign, _route, _staff, sms, wiring
from tests.e2e.test_loan_departures import _run as departures
from tests.support import settle

__all__ = ["sms", "wiring"]  # the fixtures, used by name


def test_a_departed_cxs_open_callback_request_ends_with_the_new_cx(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)  # onboarding: e.g. sent back to the borrower
    _assign(client, tenant, application["id"], gone)
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"], "note": "EMI?"},
                        headers=auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    assert _request(client, tenant, request_id)["assignee_id"] == str(gone)
    newcomer, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_loans": True})
    settle(platform, "identity", result.position)

    _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
    departures(client, platform, tenant)
    loan = client.get(f"/api/v1/loans/{application['id']}", headers=tenant.auth).json()
    assert (loan["assignee_id"], loan["status"]) == (str(newcomer), "onboarding")
    _route(platform)
    request = _request(client, tenant, request_id)
    assert (request["assignee_id"], request["status"]) == (str(newcomer), "open")
    [moved] = _moves(platform, request_id)  # the hand-over, not a release to the pool
    assert (moved.cause, moved.previous_assignee_id, moved.assignee_id, moved.reason) == (
        RerouteCause.APPLICATION_ASSIGNED, gone, newcomer, "auto-allocated: credit executive disabled")  # fmt: skip
    _route(platform)  # a repeat moves nothing
    assert len(_moves(platform, request_id)) == 1


def test_a_request_the_router_released_first_still_ends_with_the_cx_the_job_gives_the_application(
    client: Any, platform: Any, tenant: Tenant, sms: SmsSimulator
) -> None:
    """The usual order in production: the router releases the departed CX's request to the pool within seconds, the
    job reassigns the application minutes later - and the request in the pool goes to the new CX then."""
    gone, _ = _staff(platform, tenant, "credit_executive", "Kavya Credit")
    application, auth = _application(client, tenant, sms)
    _assign(client, tenant, application["id"], gone)
    asked = client.post("/api/v1/borrower/callback-requests", json={"loan_id": application["id"], "note": "EMI?"},
                        headers=auth)  # fmt: skip
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_loans": True})
    settle(platform, "identity", result.position)

    _staff_change(client, platform, tenant, "POST", f"{gone}/disable")
    _route(platform)  # the router first: released to the pool
    assert _request(client, tenant, request_id)["assignee_id"] is None
    newcomer, _ = _staff(platform, tenant, "credit_executive", "Mohan Credit")
    departures(client, platform, tenant)
    _route(platform)
    request = _request(client, tenant, request_id)
    assert (request["assignee_id"], request["status"]) == (str(newcomer), "open")
    released, handed = _moves(platform, request_id)
    assert (released.cause, released.previous_assignee_id, released.assignee_id) == (
        RerouteCause.HOLDER_DEPARTED, gone, None)  # fmt: skip
    assert (handed.cause, handed.previous_assignee_id, handed.assignee_id) == (
        RerouteCause.APPLICATION_ASSIGNED, None, newcomer)  # fmt: skip
    _route(platform)  # a repeat moves nothing
    assert len(_moves(platform, request_id)) == 2
