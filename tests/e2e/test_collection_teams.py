"""The reporting hierarchy scopes the collections managers' views on PostgreSQL: a team is the manager and everyone
reporting to them directly or indirectly (three levels, a sibling team and another brand's staff left out, a cycle
in the read model ends the walk); `team=mine` / `team=<staff id>` on the team view, the worklist, the
agent-performance report and the team page and reports page, each against the brand-wide default it leaves as it
was; a team that names nobody is a 422 naming `team`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from domain.collections.application import Collections
from domain.collections.case import Outcome
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.loans.application import Loans
from domain.shared.errors import InvalidInput
from projections.identity import IdentityQueries
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_collections import D0, give_case, signed_in
from tests.e2e.test_servicing_api import PenalCatalogue, catalogue, disbursed_loan, set_business_date
from tests.support import settle

__all__ = ["catalogue"]

AMOUNT = Decimal("8037.57")  # what give_case puts on each case


def person(platform: Any, tenant: Tenant, name: str, role: str, manager: UUID | None = None) -> tuple[UUID, str]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@lender.in"
    created = platform.get(Identity).create_staff(
        tenant.brand_id, email, name, [role], PASSWORD, manager_id=manager, granter=OPERATOR
    )
    settle(platform, "identity", created.position)
    return created.id, email


@contextmanager
def _manager_written_in(platform: Any, staff_id: UUID, manager_id: UUID) -> Iterator[None]:
    """`read.staff`'s row of `staff_id` naming `manager_id` as manager, written by hand (no event says so) for the
    block, then put back: the row is in the session's shared database, where a later test or whole-table check
    (every manager of the staff's own brand, the read model as a rebuild makes it) would otherwise meet it."""
    with platform.db.pool.connection() as conn:
        row = conn.execute("SELECT manager_id FROM read.staff WHERE id = %s", (staff_id,)).fetchone()
        assert row is not None, staff_id
        conn.execute("UPDATE read.staff SET manager_id = %s WHERE id = %s", (manager_id, staff_id))
    try:
        yield
    finally:
        with platform.db.pool.connection() as conn:
            conn.execute("UPDATE read.staff SET manager_id = %s WHERE id = %s", (row["manager_id"], staff_id))


def test_a_team_is_the_manager_and_everyone_below_once_even_through_a_cycle(platform: Any) -> None:
    tenant = make_tenant(platform)
    brand, identity, queries = tenant.brand_id, platform.get(Identity), platform.get(IdentityQueries)
    mohan, _ = person(platform, tenant, "Mohan", "collection_manager")
    sunil, _ = person(platform, tenant, "Sunil", "collection_manager", mohan)
    esha, _ = person(platform, tenant, "Esha", "collection_executive", sunil)
    nina, _ = person(platform, tenant, "Nina", "collection_manager")
    ravi, _ = person(platform, tenant, "Ravi", "collection_executive", nina)
    other = make_tenant(platform)
    outsider, _ = person(platform, other, "Oscar", "collection_executive")

    assert queries.team_of(brand, mohan) == sorted([mohan, sunil, esha])
    assert queries.team_of(brand, sunil) == sorted([sunil, esha])
    assert queries.team_of(brand, esha) == [esha]
    assert queries.team_of(brand, nina) == sorted([nina, ravi])
    assert queries.team_of(other.brand_id, mohan) == [] and queries.team_of(brand, outsider) == []
    # A read-model row of another brand naming Mohan as manager (assign_manager refuses it) stays out of his team.
    with _manager_written_in(platform, outsider, mohan):
        assert queries.team_of(brand, mohan) == sorted([mohan, sunil, esha])

    # A cycle is refused by the application, naming manager_id...
    with pytest.raises(InvalidInput) as refused:
        identity.update_staff(brand, mohan, manager_id=esha, granter=OPERATOR)
    assert refused.value.errors[0].field == "manager_id"
    # ...but two reassignments at once each pass that check (each reads the other before it changes): recorded the
    # way the second of them would be, the cycle is in the read model and the walk still ends, each person once.
    staff = identity.staff(brand, mohan)
    staff.assign_manager(esha)
    identity.save(staff)
    settle(platform, "identity")
    assert queries.staff(brand, mohan).manager_id == esha  # type: ignore[union-attr]
    assert queries.team_of(brand, mohan) == sorted([mohan, sunil, esha])
    assert queries.team_of(brand, esha) == sorted([mohan, sunil, esha])


@pytest.fixture(scope="module")
def teams(app: Any, platform: Any) -> Iterator[dict[str, Any]]:
    """Mohan's team (Sunil, and Esha under Sunil) and Nina's (Ravi); a case each for Esha, Sunil and Ravi and one
    nobody holds, all in collections at DPD 3; a contact by each of Esha, Sunil and Ravi. Built once for the tests
    that read it (~2 s each before); none of them changes it."""
    with TestClient(app):  # the app's lifespan (its services), for the sign-ins here and the tests' sessions
        loans = platform.get(Loans)
        before = loans._catalogue  # as the autouse `catalogue` does for a test: the loans are of its product
        loans._catalogue = PenalCatalogue()
        try:
            built = _teams(app, platform)
        finally:
            loans._catalogue = before
        yield built


def _teams(app: Any, platform: Any) -> dict[str, Any]:
    tenant = make_tenant(platform)
    set_business_date(platform, tenant, D0)
    mohan, mohan_email = person(platform, tenant, "Mohan", "collection_manager")
    sunil, _ = person(platform, tenant, "Sunil", "collection_manager", mohan)
    esha, esha_email = person(platform, tenant, "Esha", "collection_executive", sunil)
    nina, _ = person(platform, tenant, "Nina", "collection_manager")
    ravi, _ = person(platform, tenant, "Ravi", "collection_executive", nina)
    loans = {who: disbursed_loan(platform, tenant) for who in ("esha", "sunil", "ravi", "nobody")}
    holders = {"esha": esha, "sunil": sunil, "ravi": ravi, "nobody": None}
    for who, loan in loans.items():
        give_case(platform, tenant, loan, holders[who])
    collections = platform.get(Collections)
    for who in ("esha", "sunil", "ravi"):
        logged = collections.log_contact(tenant.brand_id, loans[who], Outcome.CONNECTED, "", staff_id=holders[who])
    settle(platform, Collections.name, logged.position)
    mohan_browser, _ = signed_in(app, mohan_email)
    esha_browser, _ = signed_in(app, esha_email)
    return {"tenant": tenant, "mohan": mohan, "sunil": sunil, "esha": esha, "nina": nina, "ravi": ravi,
            "loans": loans, "as_mohan": mohan_browser, "as_esha": esha_browser}  # fmt: skip


def _team(client: Any, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    answer = client.get("/api/v1/collections/team", params={"stage": "collections", **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return {k: v for k, v in answer.json().items() if k != "calls_since"}  # "now" less 30 days: no two alike


def _open(view: dict[str, Any]) -> tuple[int, Decimal]:
    (bucket,) = [b for b in view["buckets"] if b["bucket"] == "1-30"]
    assert all(b["count"] == 0 for b in view["buckets"] if b["bucket"] != "1-30")
    return bucket["count"], Decimal(bucket["amount"])


def test_the_team_view_of_my_team_or_a_managers_leaves_out_the_other_team_and_the_unassigned(
    client: Any, platform: Any, teams: dict[str, Any]
) -> None:
    tenant, mohan = teams["tenant"], teams["as_mohan"]
    everyone = _team(client, tenant.auth)
    assert _open(everyone) == (4, 4 * AMOUNT)
    assert {e["staff_id"] for e in everyone["executives"]} == {str(teams[w]) for w in ("esha", "sunil", "ravi")} | {
        None
    }
    assert _team(mohan) == everyone  # no team asked: brand-wide, as before, for a manager too

    mine = _team(mohan, team="mine")
    # Exactly the other team's case (Ravi's) and the one nobody holds fewer.
    assert _open(mine) == (2, 2 * AMOUNT)
    assert {e["staff_id"] for e in mine["executives"]} == {str(teams["esha"]), str(teams["sunil"])}
    esha = next(e for e in mine["executives"] if e["staff_id"] == str(teams["esha"]))
    assert esha == next(e for e in everyone["executives"] if e["staff_id"] == str(teams["esha"]))
    assert esha["open_cases"] == 1 and esha["calls"] == 1
    assert _team(client, tenant.auth, team=str(teams["mohan"])) == mine
    nina = _team(client, tenant.auth, team=str(teams["nina"]))
    assert _open(nina) == (1, AMOUNT) and [e["staff_id"] for e in nina["executives"]] == [str(teams["ravi"])]

    other = make_tenant(platform)
    stranger, _ = person(platform, other, "Stranger", "collection_manager")
    for headers, team in ((tenant.auth, "mine"), (tenant.auth, str(uuid.uuid4())), (tenant.auth, str(stranger)),
                          (tenant.auth, "everyone"), (other.auth, str(teams["mohan"]))):  # fmt: skip
        refused = client.get("/api/v1/collections/team", params={"team": team}, headers=headers)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["team"]


def test_a_managers_worklist_of_my_team_and_an_executive_is_refused_one(client: Any, teams: dict[str, Any]) -> None:
    tenant, mohan, loans = teams["tenant"], teams["as_mohan"], teams["loans"]

    def worklist(who: Any, headers: dict[str, str] | None = None, **params: str) -> set[str]:
        answer = who.get("/api/v1/collections/worklist", params={"stage": "collections", **params}, headers=headers)
        assert answer.status_code == 200, answer.text
        return {i["loan_id"] for i in answer.json()["items"]}

    assert worklist(client, tenant.auth) == {str(loan) for loan in loans.values()}
    assert worklist(mohan) == {str(loan) for loan in loans.values()}
    assert worklist(mohan, team="mine") == {str(loans["esha"]), str(loans["sunil"])}
    assert worklist(client, tenant.auth, team=str(teams["nina"])) == {str(loans["ravi"])}
    assert worklist(client, tenant.auth, team=str(teams["esha"])) == {str(loans["esha"])}
    both = mohan.get("/api/v1/collections/worklist", params={"team": "mine", "assignee": str(teams["esha"])})
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "team"
    # An executive sees only their own loans: asking for a team is refused as asking for another's is.
    assert teams["as_esha"].get("/api/v1/collections/worklist", params={"team": "mine"}).status_code == 403
    assert worklist(teams["as_esha"]) == {str(loans["esha"])}


def test_the_agent_performance_report_takes_a_team(client: Any, teams: dict[str, Any]) -> None:
    tenant, mohan = teams["tenant"], teams["as_mohan"]
    url = "/api/v1/reports/agent-performance-report"

    def agents(who: Any, headers: dict[str, str] | None = None, **params: str) -> dict[str, int]:
        answer = who.get(url, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {r["agent"]: r["contacts"] for r in answer.json()["rows"]}

    everyone = agents(client, tenant.auth)
    assert everyone == {f"staff:{teams[w]}": 1 for w in ("esha", "sunil", "ravi")}
    mine = agents(mohan, team="mine")
    assert mine == {f"staff:{teams[w]}": 1 for w in ("esha", "sunil")}
    assert agents(client, tenant.auth, team=str(teams["mohan"])) == mine
    assert agents(client, tenant.auth, team=str(teams["nina"])) == {f"staff:{teams['ravi']}": 1}
    csv = client.get(f"{url}.csv", params={"team": str(teams["nina"])}, headers=tenant.auth)
    assert csv.status_code == 200 and str(teams["ravi"]) in csv.text and str(teams["esha"]) not in csv.text
    for team in ("mine", "nobody", str(uuid.uuid4())):  # an API key has no team of its own
        refused = client.get(url, params={"team": team}, headers=tenant.auth)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "team", refused.text
    # A report that does not take the filter refuses it.
    refused = client.get("/api/v1/reports/dpd-buckets-report", params={"team": "mine"}, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "team"

    # The reports page takes `mine` too.
    page = mohan.get("/reports", params={"report": "agent-performance-report", "team": "mine", "generate": "1"})
    assert page.status_code == 200, page.text
    assert "Esha" in page.text and "Sunil" in page.text and "Ravi" not in page.text


def test_the_team_page_switches_between_my_team_and_everyone_keeping_the_stage(teams: dict[str, Any]) -> None:
    mohan = teams["as_mohan"]
    everyone = mohan.get("/collections/team", params={"stage": "collections"})
    assert everyone.status_code == 200, everyone.text
    assert all(name in everyone.text for name in ("Esha", "Sunil", "Ravi", "Unassigned"))
    assert 'href="/collections/team?stage=collections&team=mine"' in everyone.text
    mine = mohan.get("/collections/team", params={"stage": "collections", "team": "mine"})
    assert mine.status_code == 200, mine.text
    assert "Esha" in mine.text and "Sunil" in mine.text
    assert "Ravi" not in mine.text and "Unassigned" not in mine.text
    assert 'id="team-everyone" href="/collections/team?stage=collections"' in mine.text
    assert 'href="/collections/team?stage=pre&team=mine"' in mine.text  # the stage tabs keep the team
    assert mohan.get("/collections/team", params={"stage": "pre", "team": "mine"}).status_code == 200
    assert mohan.get("/collections/team", params={"team": str(uuid.uuid4())}).status_code == 422


def test_the_worklist_page_switches_between_my_team_and_everyone_keeping_the_stage(teams: dict[str, Any]) -> None:
    mohan, loans = teams["as_mohan"], teams["loans"]

    def shown(page: Any) -> set[str]:
        return {str(loan) for loan in loans.values() if f'data-loan="{loan}"' in page.text}

    everyone = mohan.get("/collections", params={"stage": "collections"})
    assert everyone.status_code == 200, everyone.text
    assert shown(everyone) == {str(loan) for loan in loans.values()}  # default: everyone, as before
    assert 'id="team-mine" href="/collections?stage=collections&team=mine"' in everyone.text
    mine = mohan.get("/collections", params={"stage": "collections", "team": "mine"})
    assert mine.status_code == 200, mine.text
    assert shown(mine) == {str(loans["esha"]), str(loans["sunil"])}
    assert 'id="team-everyone" href="/collections?stage=collections"' in mine.text
    assert 'href="/collections?stage=pre&team=mine"' in mine.text  # the stage tabs keep the team
    assert 'href="/collections/team?stage=collections&team=mine"' in mine.text  # and so does the team view's link
    nina = mohan.get("/collections", params={"stage": "collections", "team": str(teams["nina"])})
    assert shown(nina) == {str(loans["ravi"])}
    assert mohan.get("/collections", params={"team": str(uuid.uuid4())}).status_code == 422
    both = mohan.get("/collections", params={"team": "mine", "assignee": str(teams["esha"])})
    assert both.status_code == 422 and "team" in both.text

    # An executive sees their own loans and no switch.
    esha = teams["as_esha"].get("/collections", params={"stage": "collections", "team": "mine"})
    assert esha.status_code == 200 and 'id="team-switch"' not in esha.text
    assert shown(esha) == {str(loans["esha"])}
