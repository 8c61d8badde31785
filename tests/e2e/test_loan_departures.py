"""A departed credit executive's applications, on PostgreSQL through the API (docs/loans.md, "When the credit
executive leaves"): an application in the CX's hands (pending, or sent back to the borrower) whose assignee was
disabled or lost LOANS at WRITE goes, with the brand's `auto_allocate_loans` on, to the least-loaded available CX by
the `cx-departures` job - an auto-allocation `Assigned` naming the previous assignee and why - and the borrower's
open callback request follows it; leave or unavailability is no departure; without auto-allocation the application
stays, flagged `assignee_departed` on the queue for a manager. A second run changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.jobs.job import BatchCounts, JobRun
from domain.loans.application import Loans
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_api_loans import PRODUCT, _borrower, catalogue
from tests.e2e.test_callbacks import PASSWORD, _assign, _portal
from tests.support import mobile, settle
from workers.runtime import scheduler_for
from workers.scheduler import Scheduler, SchedulerPort

__all__ = ["catalogue"]  # the fixture (autouse: the products these tests apply for)

JOB = "cx-departures"


def auto_allocating(platform: Any, tenant: Tenant) -> None:
    """The brand's `auto_allocate_loans` on (after the tests' applications were assigned by hand)."""
    result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_loans": True})
    settle(platform, "identity", result.position)


def _cx(platform: Any, tenant: Tenant, name: str) -> tuple[UUID, str]:
    email = f"cx-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, name, ["credit_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    return UUID(str(made.id)), email


def _pending(client: Any, tenant: Tenant, staff_id: UUID) -> str:
    """A submitted application (pending) of a new borrower, assigned to `staff_id` by a manager."""
    phone = mobile("98")
    customer = _borrower(client, tenant, "Meera Iyer", phone)
    body = {"customer_id": customer, "product_id": str(PRODUCT), "amount": "50000", "tenure": 12}
    made = client.post("/api/v1/loans", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    loan_id = str(made.json()["id"])
    submitted = client.post(f"/api/v1/loans/{loan_id}/submit", headers=tenant.auth)
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending", submitted.text
    _assign(client, tenant, loan_id, staff_id)
    return loan_id


def _staff_change(client: Any, platform: Any, tenant: Tenant, method: str, path: str, body: Any = None) -> None:
    answer = client.request(method, f"/api/v1/staff/{path}", json=body, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    settle(platform, "identity")


def _run(client: Any, platform: Any, tenant: Tenant) -> dict[str, Any]:
    accepted = client.post(f"/api/v1/jobs/{JOB}/runs", json={}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    scheduler_for(platform).execute(run_id)
    settle(platform, "jobs")
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    run = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()
    assert run["status"] == "succeeded", run
    return dict(run)


def _loan(client: Any, tenant: Tenant, loan_id: str) -> dict[str, Any]:
    got = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth)
    assert got.status_code == 200, got.text
    return dict(got.json())


def _flagged(client: Any, tenant: Tenant) -> list[str]:
    page = client.get("/api/v1/loans", params={"assignee_departed": "true"}, headers=tenant.auth)
    assert page.status_code == 200, page.text
    assert all(item["assignee_departed"] for item in page.json()["items"])
    return sorted(item["id"] for item in page.json()["items"])


def test_a_disabled_cxs_pending_applications_go_to_the_least_loaded_active_cx_once(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    asha, _ = _cx(platform, tenant, "Asha Gone")
    busy, _ = _cx(platform, tenant, "Busy CX")
    free, _ = _cx(platform, tenant, "Free CX")
    away, _ = _cx(platform, tenant, "Away CX")
    identity.update_staff(tenant.brand_id, away, available=False, granter=OPERATOR)
    holiday, _ = _cx(platform, tenant, "Holiday CX")
    today = identity.business_date(tenant.brand_id)
    settle(platform, "identity", identity.schedule_leave(tenant.brand_id, holiday, today, today, "wedding").position)
    reader, _ = _cx(platform, tenant, "Reader CX")
    _staff_change(client, platform, tenant, "PATCH", str(reader), {"permissions": {"LOANS": "READ"}})
    # Busy holds two, Free none; Away (unavailable), Holiday (on leave) and Reader (LOANS at READ: a manager could
    # not assign them one either) hold none but take none.
    theirs = [_pending(client, tenant, busy) for _ in range(2)]
    mine = sorted(_pending(client, tenant, asha) for _ in range(2))
    withdrawn = _pending(client, tenant, asha)
    cancelled = client.post(f"/api/v1/loans/{withdrawn}/cancel", json={"reason": "borrower withdrew"},
                            headers=tenant.auth)  # fmt: skip
    assert cancelled.status_code == 200, cancelled.text

    _staff_change(client, platform, tenant, "POST", f"{asha}/disable")
    auto_allocating(platform, tenant)
    assert _flagged(client, tenant) == mine  # the open ones only: a cancelled application is nobody's work
    assert _loan(client, tenant, mine[0])["assignee_departed"] is True
    run = _run(client, platform, tenant)
    assert (run["processed"], run["succeeded"]) == (2, 2), run

    # Both to Free (0, then 1 against Busy's 2): never Busy, the unavailable, the one on leave or the reader.
    for loan_id in mine:
        loan = _loan(client, tenant, loan_id)
        assert (loan["assignee_id"], loan["assignee_departed"], loan["status"]) == (str(free), False, "pending")
        assigned = loan["history"][-1]
        assert assigned["kind"] == "assigned", assigned
        assert (assigned["details"]["by"], assigned["details"]["previous_staff_id"]) == ("auto", str(asha))
        assert assigned["reason"] == "auto-allocated: credit executive disabled"
        assert assigned["actor"] == f"job:{JOB}"
    assert {_loan(client, tenant, loan_id)["assignee_id"] for loan_id in theirs} == {str(busy)}
    assert _loan(client, tenant, withdrawn)["assignee_id"] == str(asha)  # closed: left as it was
    assert _flagged(client, tenant) == []

    versions = {loan_id: _loan(client, tenant, loan_id)["version"] for loan_id in [*mine, *theirs, withdrawn]}
    again = _run(client, platform, tenant)  # a second pass finds nothing and records nothing
    assert (again["processed"], again["succeeded"]) == (0, 0), again
    assert {loan_id: _loan(client, tenant, loan_id)["version"] for loan_id in versions} == versions


def test_a_cx_on_leave_or_unavailable_keeps_their_applications(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    identity = platform.get(Identity)
    holiday, _ = _cx(platform, tenant, "Holiday CX")
    away, _ = _cx(platform, tenant, "Away CX")
    _cx(platform, tenant, "Free CX")  # who would take them, were leave a departure
    loans = {holiday: _pending(client, tenant, holiday), away: _pending(client, tenant, away)}
    today = identity.business_date(tenant.brand_id)
    settle(platform, "identity", identity.schedule_leave(tenant.brand_id, holiday, today, today, "wedding").position)
    _staff_change(client, platform, tenant, "PATCH", str(away), {"available": False})
    auto_allocating(platform, tenant)

    assert _flagged(client, tenant) == []
    run = _run(client, platform, tenant)
    assert run["processed"] == 0, run
    assert {who: _loan(client, tenant, loan_id)["assignee_id"] for who, loan_id in loans.items()} == {
        who: str(who) for who in loans
    }


def test_without_auto_allocation_a_departed_cxs_application_stays_flagged_for_the_managers(
    app: Any, client: Any, platform: Any
) -> None:
    tenant = make_tenant(platform)
    reader, _ = _cx(platform, tenant, "Reader CX")
    kept, _ = _cx(platform, tenant, "Kept CX")
    demoted = _pending(client, tenant, reader)
    staying = _pending(client, tenant, kept)
    # LOANS taken down to READ by an override: no longer one who may be assigned applications.
    _staff_change(client, platform, tenant, "PATCH", str(reader), {"permissions": {"LOANS": "READ"}})

    run = _run(client, platform, tenant)
    assert (run["processed"], run["succeeded"]) == (0, 0), run
    loan = _loan(client, tenant, demoted)
    assert (loan["assignee_id"], loan["assignee_departed"]) == (str(reader), True)
    assert loan["history"][-1]["details"]["by"] == "manager"  # nothing recorded since the manager's assignment
    assert _flagged(client, tenant) == [demoted]
    assert _loan(client, tenant, staying)["assignee_departed"] is False
    every = client.get("/api/v1/loans", headers=tenant.auth).json()["items"]
    assert {i["id"]: i["assignee_departed"] for i in every} == {demoted: True, staying: False}

    manager_email = f"mgr-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(tenant.brand_id, manager_email, "Nina Manager", ["admin"], PASSWORD,
                                               granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", made.position)
    browser, _ = _portal(app, manager_email)
    try:
        page = browser.get("/loans", params={"assignee_departed": "true"})
        assert page.status_code == 200, page.text
        assert demoted in page.text and staying not in page.text
        assert 'id="assignee-departed" checked' in page.text
        assert ">left</span>" in page.text
    finally:
        browser.__exit__(None, None, None)

    # A manager reassigns it: no longer flagged.
    _assign(client, tenant, demoted, kept)
    assert _flagged(client, tenant) == []


def test_a_pick_refused_since_the_workloads_were_read_leaves_the_application_to_the_next_in_line(
    client: Any, platform: Any
) -> None:
    """The workloads are read once a run; a CX disabled after that (here between the job's batches, as a staff admin
    may at any moment) is still their least loaded, and the command refuses them: the application - and the rest of
    the run - goes to the next in line, not left to the next run."""
    tenant = make_tenant(platform)
    asha, _ = _cx(platform, tenant, "Asha Gone")
    first, _ = _cx(platform, tenant, "First CX")
    second, _ = _cx(platform, tenant, "Second CX")
    early, late = sorted((first, second), key=str)  # equal loads (none): the smaller id is picked first
    mine = sorted(_pending(client, tenant, asha) for _ in range(3))  # the job's order: (assignee, id)
    _staff_change(client, platform, tenant, "POST", f"{asha}/disable")
    auto_allocating(platform, tenant)

    handlers = platform.job_handlers()

    def disabling_after_the_first_batch(run: JobRun) -> Iterator[tuple[BatchCounts, str | None]]:
        for number, batch in enumerate(handlers[JOB](run)):
            yield batch
            if number == 0:  # mine[0] went to `early`: `late` (none yet) is next in line - and leaves now
                _staff_change(client, platform, tenant, "POST", f"{late}/disable")

    accepted = client.post(f"/api/v1/jobs/{JOB}/runs", json={"batch_size": 1}, headers=tenant.auth)
    assert accepted.status_code == 202, accepted.text
    run_id = accepted.json()["run_id"]
    Scheduler(platform.port(SchedulerPort), {**handlers, JOB: disabling_after_the_first_batch}).execute(run_id)
    settle(platform, "jobs")
    settle(platform, Loans.name, platform.get(Loans).recorder.max_notification_id())
    run = client.get(f"/api/v1/jobs/runs/{run_id}", headers=tenant.auth).json()
    assert (run["status"], run["processed"], run["succeeded"]) == ("succeeded", 3, 3), run

    for loan_id in mine:
        loan = _loan(client, tenant, loan_id)
        assert (loan["assignee_id"], loan["assignee_departed"]) == (str(early), False), loan_id
        assert loan["history"][-1]["details"]["previous_staff_id"] == str(asha)
    assert _flagged(client, tenant) == []

    # Nobody left to take one: the applications stay, flagged, as before.
    _staff_change(client, platform, tenant, "POST", f"{early}/disable")
    left = _run(client, platform, tenant)
    assert (left["processed"], left["succeeded"]) == (3, 0), left
    assert _flagged(client, tenant) == mine
