"""A departed executive's cases are reassigned by the sweep, on PostgreSQL through the API: cases stay with their
executive while they stay in a stage (sticky), but not with one who was disabled or taken off the stage's team (a
role or the stage's permission removed). Their cases go to the least-loaded active executive, each move in the
case's allocation history with why ("executive disabled"); without auto-allocation they are left unassigned for
the managers. An executive merely moved to another manager's team keeps theirs, and only the brand's own staff
records are judged (another brand's disabled staff member is nobody's departure here)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from uuid import UUID

from domain.collections.application import Collections
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import D0, cob, executive, give_case, worklist
from tests.e2e.test_servicing_api import catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]


def auto_allocating(platform: Any, on: bool = True) -> Tenant:
    tenant = make_tenant(platform)
    if on:
        result, _ = platform.get(Identity).change_configuration(tenant.brand_id, {"auto_allocate_collections": True})
        settle(platform, "identity", result.position)
    set_business_date(platform, tenant, D0)
    return tenant


def reallocate(client: Any, platform: Any, tenant: Tenant, loans: list[UUID], staff_id: UUID) -> None:
    moved = client.post("/api/v1/collections/allocations", json={"loan_ids": [str(i) for i in loans],
                        "staff_id": str(staff_id)}, headers=tenant.auth)  # fmt: skip
    assert moved.status_code == 201, moved.text
    settle(platform, Collections.name)


def staff_change(client: Any, platform: Any, tenant: Tenant, method: str, path: str, body: Any = None) -> None:
    answer = client.request(method, f"/api/v1/staff/{path}", json=body, headers=tenant.auth)
    assert answer.status_code == 200, answer.text
    settle(platform, "identity")


def owners(client: Any, tenant: Tenant) -> dict[str, str | None]:
    return {i["loan_id"]: i["assignee"] for i in worklist(client, tenant.auth, stage="collections")}


def history(client: Any, tenant: Tenant, loan: UUID) -> list[tuple[str, str | None, str | None, str | None]]:
    panel = client.get(f"/api/v1/loans/{loan}/collection", headers=tenant.auth)
    assert panel.status_code == 200, panel.text
    return [(h["kind"], h["staff_id"], h["previous"], h["reason"]) for h in panel.json()["allocations"]]


def test_a_disabled_executives_cases_go_to_the_least_loaded_active_executive(client: Any, platform: Any) -> None:
    tenant = auto_allocating(platform)
    (asha, _), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    loans = [disbursed_loan(platform, tenant) for _ in range(3)]
    cob(client, platform, tenant, date(2026, 3, 1))  # all three overdue, allocated between Asha and Ravi
    reallocate(client, platform, tenant, loans[:1], asha)
    reallocate(client, platform, tenant, loans[1:], ravi)
    meera, _ = executive(platform, tenant, "Meera")  # no cases yet: the least loaded
    cob(client, platform, tenant, date(2026, 3, 2))
    assert owners(client, tenant) == {str(loans[0]): str(asha), str(loans[1]): str(ravi), str(loans[2]): str(ravi)}

    staff_change(client, platform, tenant, "POST", f"{asha}/disable")
    before = {loan: history(client, tenant, loan) for loan in loans[1:]}
    cob(client, platform, tenant, date(2026, 3, 3))
    # Asha's loan goes to Meera (0 cases), not to Ravi (2); Ravi's stay with him, their history untouched.
    assert owners(client, tenant) == {str(loans[0]): str(meera), str(loans[1]): str(ravi), str(loans[2]): str(ravi)}
    assert history(client, tenant, loans[0])[0] == ("sweep", str(meera), str(asha), "executive disabled")
    assert {loan: history(client, tenant, loan) for loan in loans[1:]} == before
    panel = client.get(f"/api/v1/loans/{loans[0]}/collection", headers=tenant.auth).json()
    assert panel["allocations"][0]["actor"] == "job:loan-cob", panel["allocations"][0]
    assert panel["case"]["dpd"] == 3  # the sweep's figures still written on the reassigned case

    released = history(client, tenant, loans[0])
    cob(client, platform, tenant, date(2026, 3, 4))  # sticky again: Meera keeps it, nothing more recorded
    assert owners(client, tenant)[str(loans[0])] == str(meera)
    assert history(client, tenant, loans[0]) == released


def test_an_executive_taken_off_the_stage_loses_its_cases_one_moved_to_another_manager_keeps_them(
    client: Any, platform: Any
) -> None:
    tenant = auto_allocating(platform)
    people = {n: executive(platform, tenant, n)[0] for n in ("Asha", "Ravi", "Kiran", "Meera")}
    loans = [disbursed_loan(platform, tenant) for _ in range(3)]
    cob(client, platform, tenant, date(2026, 3, 1))
    for loan, who in zip(loans, ("Asha", "Ravi", "Kiran"), strict=True):
        reallocate(client, platform, tenant, [loan], people[who])
    manager = platform.get(Identity).create_staff(tenant.brand_id, f"nina-{uuid.uuid4().hex[:8]}@lender.in", "Nina",
                                                  ["collection_manager"], PASSWORD, granter=OPERATOR)  # fmt: skip
    settle(platform, "identity", manager.position)
    # Asha leaves the collection team (another role); Ravi keeps his role but loses COLLECTIONS by an override;
    # Kiran only reports to another manager: still a collection executive, his case stays.
    staff_change(client, platform, tenant, "PATCH", str(people["Asha"]), {"roles": ["sales"]})
    staff_change(client, platform, tenant, "PATCH", str(people["Ravi"]), {"permissions": {"COLLECTIONS": "NONE"}})
    staff_change(client, platform, tenant, "PATCH", str(people["Kiran"]), {"manager_id": str(manager.id)})
    kirans = history(client, tenant, loans[2])
    cob(client, platform, tenant, date(2026, 3, 2))

    now = owners(client, tenant)
    assert now[str(loans[2])] == str(people["Kiran"])
    # Asha's and Ravi's go to the least loaded who may work the stage: Meera (0), then Meera or Kiran (1 each);
    # never back to Ravi, whom the override left out of the stage's team.
    assert now[str(loans[0])] in {str(people["Meera"]), str(people["Kiran"])}
    assert now[str(loans[1])] in {str(people["Meera"]), str(people["Kiran"])}
    assert str(people["Meera"]) in {now[str(loans[0])], now[str(loans[1])]}
    reason = "executive no longer on the collections team"
    assert history(client, tenant, loans[0])[0] == ("sweep", now[str(loans[0])], str(people["Asha"]), reason)
    assert history(client, tenant, loans[1])[0] == ("sweep", now[str(loans[1])], str(people["Ravi"]), reason)
    assert history(client, tenant, loans[2]) == kirans


def test_an_executive_without_the_stages_permission_is_given_no_new_cases(client: Any, platform: Any) -> None:
    tenant = auto_allocating(platform)
    (asha, _), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    staff_change(client, platform, tenant, "PATCH", str(asha), {"permissions": {"COLLECTIONS": "READ"}})
    loans = [disbursed_loan(platform, tenant) for _ in range(2)]
    cob(client, platform, tenant, date(2026, 3, 1))
    assert owners(client, tenant) == {str(loan): str(ravi) for loan in loans}


def test_without_auto_allocation_a_disabled_executives_cases_are_left_for_the_managers(
    client: Any, platform: Any
) -> None:
    tenant = auto_allocating(platform, on=False)
    (asha, _), (ravi, _) = executive(platform, tenant, "Asha"), executive(platform, tenant, "Ravi")
    mine, theirs = disbursed_loan(platform, tenant), disbursed_loan(platform, tenant)
    cob(client, platform, tenant, date(2026, 3, 1))  # opened unassigned
    reallocate(client, platform, tenant, [mine], asha)
    reallocate(client, platform, tenant, [theirs], ravi)
    staff_change(client, platform, tenant, "POST", f"{asha}/disable")
    cob(client, platform, tenant, date(2026, 3, 2))
    assert owners(client, tenant) == {str(mine): None, str(theirs): str(ravi)}
    unassigned = worklist(client, tenant.auth, stage="collections", unassigned="true")
    assert [i["loan_id"] for i in unassigned] == [str(mine)]
    assert history(client, tenant, mine)[0] == ("sweep", None, str(asha), "executive disabled")


def test_only_the_brands_own_staff_records_are_judged(client: Any, platform: Any) -> None:
    """A case of brand A held (as no command allows) by the id of brand B's staff member, disabled in B, is not taken
    as a departure of brand A: the sweep reads the brand's own staff records, and another brand's are not its."""
    tenant, other = auto_allocating(platform), make_tenant(platform)
    executive(platform, tenant, "Ravi")  # who would take it, were Oscar taken as departed
    oscar, _ = executive(platform, other, "Oscar")
    staff_change(client, platform, other, "POST", f"{oscar}/disable")
    loan = disbursed_loan(platform, tenant)
    give_case(platform, tenant, loan, oscar)
    set_business_date(platform, tenant, date(2026, 3, 1))
    cob(client, platform, tenant, date(2026, 3, 1))
    assert owners(client, tenant) == {str(loan): str(oscar)}  # not Ravi's, as a departed executive's would be
    assert all(reason != "executive disabled" for *_, reason in history(client, tenant, loan))
