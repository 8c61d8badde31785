"""The reporting hierarchy scopes the Sanction Head's team figures and the team-performance report on PostgreSQL:
`team=mine` / `team=<staff id>` count the loans assigned to the team's Sanction Managers and their decisions only
(figures differing from the brand-wide default exactly by the other team's), and the Sanction Head's page switches
between "My team" and "Everyone".

The product catalogue is the fake of tests/e2e/test_api_loans.py (installed on the platform's Loans)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain.loans.application import Loans
from domain.shared.aggregate import acting_as
from tests.conftest import make_tenant
from tests.e2e.test_api_escalations import _cx_approved, _keys
from tests.e2e.test_api_loans import catalogue  # noqa: F401 - the autouse catalogue fixture
from tests.e2e.test_collection_teams import person
from tests.e2e.test_collections import signed_in
from tests.support import settle


@pytest.fixture
def credit(app: Any, client: Any, tenant: Any, platform: Any) -> dict[str, Any]:
    """Hari (Sanction Head) over Sita over Tara, and Uma (another team); a CX-approved loan assigned to Tara and one
    to Uma; one loan sanctioned by Sita and one by Uma."""
    hari, hari_email = person(platform, tenant, "Hari", "sanction_head")
    sita, _ = person(platform, tenant, "Sita", "sanction_manager", hari)
    tara, _ = person(platform, tenant, "Tara", "sanction_manager", sita)
    uma, _ = person(platform, tenant, "Uma", "sanction_manager")
    loans = platform.get(Loans)
    for n, (staff, act) in enumerate(((tara, "assign"), (uma, "assign"), (sita, "sanction"), (uma, "sanction"))):
        loan_id = _cx_approved(client, tenant, f"Borrower {'ABCD'[n]}", f"98765124{n}0")
        if act == "assign":
            done = loans.assign_sanction(tenant.brand_id, uuid.UUID(loan_id), staff, "their queue")
        else:
            with acting_as(f"staff:{staff}"):
                done = loans.sanction(tenant.brand_id, uuid.UUID(loan_id), "85000", "fine")
        settle(platform, Loans.name, done.position)
    browser, _ = signed_in(app, hari_email)
    return {"hari": hari, "sita": sita, "tara": tara, "uma": uma, "as_hari": browser,
            "keys": _keys(platform, tenant.brand_id)}  # fmt: skip


def _figures(who: Any, headers: dict[str, str] | None = None, **params: str) -> dict[str, Any]:
    answer = who.get("/api/v1/credit/team-figures", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    body = dict(answer.json())
    body["managers"] = {m["actor"]: (m["queue_size"], m["sanctioned"]) for m in body["managers"]}
    return body


def test_team_figures_of_my_team_leave_out_exactly_the_other_teams_loans(
    client: Any, platform: Any, credit: dict[str, Any]
) -> None:
    head = credit["keys"]["sanction_head"]
    sita, tara, uma = (f"staff:{credit[w]}" for w in ("sita", "tara", "uma"))
    everyone = _figures(client, head)
    assert (everyone["queue_size"], everyone["managers"]) == (2, {sita: (0, 1), tara: (1, 0), uma: (1, 1)})
    assert _figures(credit["as_hari"])["managers"] == everyone["managers"]  # no team asked: everyone, as before

    mine = _figures(credit["as_hari"], team="mine")
    assert (mine["queue_size"], mine["managers"]) == (1, {sita: (0, 1), tara: (1, 0)})
    assert _figures(client, head, team=str(credit["hari"]))["managers"] == mine["managers"]
    theirs = _figures(client, head, team=str(credit["uma"]))
    assert (theirs["queue_size"], theirs["managers"]) == (1, {uma: (1, 1)})
    assert mine["queue_size"] + theirs["queue_size"] == everyone["queue_size"]

    other = make_tenant(platform)
    stranger, _ = person(platform, other, "Stranger", "sanction_manager")
    for team in ("mine", str(uuid.uuid4()), str(stranger), "all"):  # an API key has no team of its own
        refused = client.get("/api/v1/credit/team-figures", params={"team": team}, headers=head)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "team", refused.text
    sm = credit["keys"]["sanction_manager"]
    assert client.get("/api/v1/credit/team-figures", params={"team": "mine"}, headers=sm).status_code == 403


def test_the_team_performance_report_takes_a_team(client: Any, tenant: Any, credit: dict[str, Any]) -> None:
    url = "/api/v1/reports/team-performance-report"

    def sanctions(who: Any, headers: dict[str, str] | None = None, **params: str) -> dict[str, int]:
        answer = who.get(url, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return {r["actor"]: r["sanctioned"] for r in answer.json()["rows"] if r["actor"].startswith("staff:")}

    sita, uma = f"staff:{credit['sita']}", f"staff:{credit['uma']}"
    assert sanctions(client, tenant.auth) == {sita: 1, uma: 1}
    assert sanctions(credit["as_hari"], team="mine") == {sita: 1}
    assert sanctions(client, tenant.auth, team=str(credit["uma"])) == {uma: 1}
    every = client.get(url, params={"team": str(credit["hari"])}, headers=tenant.auth).json()["rows"]
    assert [r["actor"] for r in every] == [sita]  # the API key's CX approvals and assignments are nobody's team
    refused = client.get(url, params={"team": "x"}, headers=tenant.auth)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "team"


def test_the_sanction_head_page_switches_between_my_team_and_everyone(credit: dict[str, Any]) -> None:
    hari = credit["as_hari"]

    def figures_card(**params: str) -> str:
        page = hari.get("/credit/sanction-head", params=params)
        assert page.status_code == 200, page.text
        return page.text.split('id="team-figures"')[1].split("</section>")[0]

    everyone = figures_card()
    assert all(name in everyone for name in ("Sita", "Tara", "Uma"))
    assert 'id="team-mine" href="/credit/sanction-head?team=mine"' in everyone
    mine = figures_card(team="mine")
    assert "Sita" in mine and "Tara" in mine and "Uma" not in mine
    assert 'id="team-everyone" href="/credit/sanction-head"' in mine
    kept = figures_card(team="mine", actor=f"staff:{credit['sita']}")
    assert f'href="/credit/sanction-head?team=mine&actor=staff%3A{credit["sita"]}"' in kept
    assert hari.get("/credit/sanction-head", params={"team": "nobody"}).status_code == 422
