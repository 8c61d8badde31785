"""Every loan action is filed on the business day it was done, for a brand operated as of a past date (its book being
migrated, or its close of business behind): the assignment to a CX, the escalation, the Sanction Head's assignment,
the e-sign events (agreement sent, link expired, signed by the provider's webhook), the payout events and a move of
state by the close of business land in `read.loan_events.day` and in team-performance-report's range on the brand's
business date then - not on the wall clock's day they were recorded (docs/reports.md, "Which date a report files a fact
on"). The product catalogue is the servicing tests' fake (penal charges at 0.1 % a day)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.loans.application import Loans
from domain.shared.aggregate import acting_as
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_business_dated_figures import _cob, _ok
from tests.e2e.test_collection_teams import person
from tests.e2e.test_servicing_api import PRODUCT, catalogue, set_business_date
from tests.support import mobile, settle

__all__ = ["catalogue"]  # the servicing tests' product (autouse fixture)

#: Months before the wall clock (the first of a month: the loan's first instalment falls due a month on).
PAST = (date.today().replace(day=1) - timedelta(days=240)).replace(day=1)


def _days(platform: Any, loan_id: UUID) -> list[tuple[str, str, date]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT kind, actor, day FROM read.loan_events WHERE loan_id = %s ORDER BY version", (loan_id,)
        ).fetchall()
    return [(row["kind"], row["actor"], row["day"]) for row in rows]


def _team(client: Any, tenant: Tenant, start: date, end: date) -> dict[str, dict[str, Any]]:
    rows = _ok(client.get("/api/v1/reports/team-performance-report", params={"from": str(start), "to": str(end)},
                          headers=tenant.auth))["rows"]  # fmt: skip
    return {row["actor"]: row for row in rows}


def _esign_and_payout(loans: Loans, brand: UUID, loan_id: UUID) -> None:
    """The agreement sent, its link expired (the e-sign expiry job), sent again, signed (the provider's webhook), the
    loan queued, a payout failed by the gateway and another one sent."""
    now = datetime.now(UTC)
    loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-1", "https://esign/1", now - timedelta(seconds=1),
                          now - timedelta(seconds=2))  # fmt: skip
    with acting_as("job:esign-expiry"):
        loans.expire_esign(brand, loan_id, now)
    loans.issue_agreement(brand, loan_id, "ab" * 32, "a.pdf", "es-2", "https://esign/2", now + timedelta(days=2),
                          now)  # fmt: skip
    with acting_as("webhook:esign"):
        loans.sign(brand, loan_id, "prov-1", now + timedelta(seconds=1))
    loans.ready_for_disbursal(brand, loan_id, "acct-1")
    loans.initiate_disbursal(brand, loan_id, "IMPS", f"gw-1-{loan_id}")
    with acting_as("webhook:gateway"):
        loans.fail_disbursal(brand, loan_id, f"gw-1-{loan_id}", "beneficiary bank down")
    loans.initiate_disbursal(brand, loan_id, "IMPS", f"gw-2-{loan_id}")


def test_actions_of_a_brand_operated_as_of_a_past_date_are_filed_on_its_business_days(
    client: Any, platform: Any
) -> None:
    assert PAST < date.today() - timedelta(days=200)  # the business date is months behind the wall clock
    tenant = make_tenant(platform)
    brand, loans = tenant.brand_id, platform.get(Loans)
    set_business_date(platform, tenant, PAST)
    cx, _ = person(platform, tenant, "Kavya", "credit_executive")
    sm, _ = person(platform, tenant, "Sameer", "sanction_manager")
    customer = platform.get(Customers).register(
        brand, name="Meera Iyer", phone=mobile("98"), date_of_birth=date(1990, 1, 15),
        addresses=[Address(line1="4 Lake Road", city="Chennai", pincode="600001")],
    )  # fmt: skip
    loan_id = loans.create(brand, customer.id, PRODUCT, "100000", 12).id
    loans.submit(brand, loan_id)
    url = f"/api/v1/loans/{loan_id}"
    _ok(client.post(f"{url}/assign", json={"staff_id": str(cx), "reason": "Kavya's queue"}, headers=tenant.auth))
    with acting_as(f"staff:{cx}"):
        loans.cx_approve(brand, loan_id, "90000", "salary supports 90k")
    _ok(client.post(f"{url}/escalate", json={"reason": "waiting for its sanction"}, headers=tenant.auth))
    loans.assign_sanction(brand, loan_id, sm, "Sameer's queue")
    with acting_as(f"staff:{sm}"):
        loans.sanction(brand, loan_id, "85000", "FOIR at the limit")
    _esign_and_payout(loans, brand, loan_id)
    with acting_as("webhook:gateway"):
        loans.confirm_disbursal(brand, loan_id, f"gw-2-{loan_id}", PAST)
    settle(platform, "loans")  # recorded in-process, not through the API: its read model is waited for here
    # the close of business three days after the first instalment fell due finds it unpaid: overdue on that day
    due = date.fromisoformat(_ok(client.get(url, headers=tenant.auth))["schedule"][0]["due_date"])
    cob_day = due + timedelta(days=3)
    assert cob_day < date.today() - timedelta(days=100)
    set_business_date(platform, tenant, cob_day)
    _cob(client, platform, tenant, cob_day)
    settle(platform, Loans.name)
    assert _ok(client.get(url, headers=tenant.auth))["status"] == "overdue"

    days = _days(platform, loan_id)
    kinds = [kind for kind, _, _ in days]
    for kind in ("assigned", "escalated", "sanction_assigned", "agreement_issued", "esign_expired", "signed",
                 "disbursal_queued", "disbursal_initiated", "disbursal_failed", "status_moved"):  # fmt: skip
        assert kind in kinds, (kind, kinds)
    # every action on the brand's business date then: PAST, and the COB's move on the date it closed
    assert [(kind, day) for kind, _, day in days if day != PAST] == [("status_moved", cob_day)], days
    assert {day for _, _, day in days}.isdisjoint({date.today(), date.today() - timedelta(days=1)})

    team = _team(client, tenant, PAST, PAST)
    key = next(actor for actor in team if actor.startswith("apikey:"))  # the assignment and the escalation
    assert team[key]["actions"] == 2, team[key]
    assert (team[f"staff:{cx}"]["cx_approved"], team[f"staff:{cx}"]["actions"]) == (1, 1)
    assert (team[f"staff:{sm}"]["sanctioned"], team[f"staff:{sm}"]["actions"]) == (1, 1)
    assert team["webhook:esign"]["actions"] == 1  # the signature
    assert (team["webhook:gateway"]["disbursed"], team["webhook:gateway"]["actions"]) == (1, 2)  # failed, paid
    assert team["job:esign-expiry"]["actions"] == 1
    # the COB's move of state counts on the day it closed, by the job that closed it
    cob = _team(client, tenant, cob_day, cob_day)
    assert sum(row["actions"] for row in cob.values()) == 1, cob
    # none of it on the days it was recorded (the wall clock's)
    assert _team(client, tenant, date.today() - timedelta(days=1), date.today() + timedelta(days=1)) == {}
    total = sum(row["actions"] for row in _team(client, tenant, PAST, cob_day).values())
    assert total == len(days)
