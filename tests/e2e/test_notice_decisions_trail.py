"""Staff members' match decisions on notices -- confirmed, corrected, removed (POST /api/v1/notices/{id}/match and
/unmatch) -- are in the audit trail (GET /api/v1/audit/trail) with who, when, the notice, the borrowers and the reason,
in the notice's brand only: another brand's staff never see them. The notice events carry no brand; their rows take
the brand of the notice's import from the event store, so a rebuild of the trail (any batch size, stored or decoded)
gives the same rows as the live one. The automatic matches stay out of the trail. A staff member limited to companies
sees the rows of their companies' notices, sources and sync runs only (the trail, the activity log, a staff member's
activity, the portal's trail and the dashboard's recent activity), as the notices' own pages and replay answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.activity import ActivityLog
from tests.conftest import Tenant, make_tenant
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_notice_match_confirm import HIDDEN, _low_match, simulator
from tests.e2e.test_notices import _borrower, _feed, _item, _source, _sync
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile, settle

# The Softmedia simulator of the notice tests applies here too.
__all__ = ["simulator"]

#: The fields of a trail entry, as before the notices' decisions joined it.
ENTRY_FIELDS = {"occurred_at", "actor", "aggregate_type", "aggregate_id", "event_type", "summary", "details"}


def _trail(client: Any, tenant: Tenant | None, url: str = "/api/v1/audit/trail", **params: Any) -> list[dict[str, Any]]:
    """Every page of the trail (or the activity log) with the filters, two entries a page (no tenant: the client's
    own session)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(url, params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=tenant.auth if tenant else {})  # fmt: skip
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def _decide(client: Any, tenant: Tenant, notice_id: str, path: str, body: dict[str, Any]) -> None:
    answer = client.post(f"/api/v1/notices/{notice_id}/{path}", json=body, headers=tenant.auth)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def decided(client: Any, platform: Any, simulator: Any) -> Iterator[dict[str, Any]]:
    """Brand A's notice confirmed, corrected and unmatched by its staff; brand B's notice confirmed by B's."""
    a, b = make_tenant(platform), make_tenant(platform)
    made_a = _low_match(client, platform, simulator, a)
    notice_a, guessed, actual = made_a["notice"]["id"], made_a["guessed"], made_a["actual"]
    _decide(client, a, notice_a, "match", {"customer_id": guessed, "reason": "borrower confirmed on call"})
    _decide(client, a, notice_a, "match", {"customer_id": actual, "reason": "same person, second record"})
    _decide(client, a, notice_a, "unmatch", {"reason": "not her: different father's name"})
    made_b = _low_match(client, platform, simulator, b)
    notice_b = made_b["notice"]["id"]
    _decide(client, b, notice_b, "match", {"customer_id": made_b["guessed"], "reason": "brand B checked it"})
    settle(platform, "notices")
    yield {"a": a, "b": b, "notice_a": notice_a, "notice_b": notice_b, "guessed": guessed, "actual": actual,
           "guessed_b": made_b["guessed"]}  # fmt: skip


def test_staff_match_decisions_are_in_the_trail_with_who_when_which_borrowers_and_why(
    client: Any, decided: dict[str, Any]
) -> None:
    a, notice_a, guessed, actual = decided["a"], decided["notice_a"], decided["guessed"], decided["actual"]
    items = _trail(client, a, aggregate_type="notice", aggregate_id=notice_a)
    # Newest first; the automatic match the sync made (`Matched`) is not in the trail, the staff decisions are.
    assert [i["event_type"] for i in items] == ["MatchRemoved", "MatchConfirmed", "MatchConfirmed"]
    removed, corrected, confirmed = items
    for item in items:
        assert set(item) == ENTRY_FIELDS
        assert item["aggregate_type"] == "Notice" and item["aggregate_id"] == notice_a
        assert item["actor"].startswith("apikey:") and item["occurred_at"]
        assert "brand_id" not in item["details"]
    assert removed["occurred_at"] >= corrected["occurred_at"] >= confirmed["occurred_at"]
    assert confirmed["summary"] == "notice match confirmed" and removed["summary"] == "notice match removed"
    # Confirmed: the borrower matched before and now are the same one.
    assert confirmed["details"]["reason"] == "borrower confirmed on call"
    assert confirmed["details"]["previous_customer_id"] == guessed
    assert confirmed["details"]["match"]["customer_id"] == guessed
    # Corrected: from the guessed borrower to the actual one.
    assert corrected["details"]["reason"] == "same person, second record"
    assert corrected["details"]["previous_customer_id"] == guessed
    assert corrected["details"]["match"]["customer_id"] == actual
    # Removed: the borrower taken off, after a staff member's match.
    assert removed["details"]["reason"] == "not her: different father's name"
    assert removed["details"]["previous_customer_id"] == actual and removed["details"]["was_confirmed"] is True
    assert removed["details"]["match"]["customer_id"] is None
    # The same entries found by who made them, and on the activity log.
    by_actor = [i for i in _trail(client, a, actor=confirmed["actor"]) if i["aggregate_id"] == notice_a]
    assert by_actor == items
    assert [i for i in _trail(client, a, "/api/v1/activity", aggregate_id=notice_a)] == items


def test_another_brands_staff_never_see_a_brands_notice_decisions(
    client: Any, platform: Any, decided: dict[str, Any]
) -> None:
    a, b, notice_a, notice_b = decided["a"], decided["b"], decided["notice_a"], decided["notice_b"]
    mine_a = _trail(client, a, aggregate_id=notice_a)
    mine_b = _trail(client, b, aggregate_id=notice_b)
    assert len(mine_a) == 3 and [i["event_type"] for i in mine_b] == ["MatchConfirmed"]
    assert mine_b[0]["details"]["match"]["customer_id"] == decided["guessed_b"]
    actor_a = mine_a[0]["actor"]
    # B asking for A's notice, A's actor, or everything: none of A's entries (and the other way round).
    assert _trail(client, b, aggregate_id=notice_a) == []
    assert _trail(client, b, aggregate_type="notice", aggregate_id=notice_a) == []
    assert _trail(client, b, actor=actor_a) == []
    assert _trail(client, b, "/api/v1/activity", aggregate_id=notice_a) == []
    everything_b = _trail(client, b)
    assert notice_b in {i["aggregate_id"] for i in everything_b}
    assert notice_a not in {i["aggregate_id"] for i in everything_b}
    assert actor_a not in {i["actor"] for i in everything_b}
    everything_a = _trail(client, a)
    assert notice_b not in {i["aggregate_id"] for i in everything_a}
    assert {i["aggregate_id"] for i in mine_a} <= {i["aggregate_id"] for i in everything_a}
    # In the read model, each decision's row is in its notice's brand.
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT aggregate_id, brand_id FROM read.activity WHERE aggregate_id = ANY(%s)",
            ([UUID(notice_a), UUID(notice_b)],),
        ).fetchall()
    assert sorted((str(r["aggregate_id"]), r["brand_id"]) for r in rows) == sorted(
        [(notice_a, a.brand_id)] * 3 + [(notice_b, b.brand_id)]
    )


def _rows(platform: Any, brands: list[UUID]) -> list[tuple[Any, ...]]:
    with platform.db.pool.connection() as conn:
        rows = conn.execute(
            "SELECT position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, event_type, summary, details, "
            "company FROM read.activity WHERE source = 'notices' AND brand_id = ANY(%s) ORDER BY position",
            (brands,),
        ).fetchall()
    return [tuple(r.values()) for r in rows]


def test_the_rebuilt_trail_has_the_same_notice_decision_rows_as_the_live_one(
    platform: Any, decided: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    brands = [decided["a"].brand_id, decided["b"].brand_id]
    live = _rows(platform, brands)
    assert [r[6] for r in live if r[4] == "Notice"] == ["MatchConfirmed"] * 2 + ["MatchRemoved", "MatchConfirmed"]
    assert {r[4] for r in live} == {"Notice", "NoticeSource", "SyncRun"}
    # In one batch, and in batches of 10 events (a decision in another batch than its notice's import); stored events
    # read in SQL, then every event decoded and projected in Python.
    platform.engine.rebuild("activity_notices", batch=5000)
    assert _rows(platform, brands) == live
    platform.engine.rebuild("activity_notices", batch=10)
    assert _rows(platform, brands) == live
    with monkeypatch.context() as patch:
        patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
        platform.engine.rebuild("activity_notices", batch=5000)
    assert _rows(platform, brands) == live


@pytest.fixture
def two_companies(
    app: Any, client: Any, platform: Any, simulator: Any, staff: tuple[Tenant, str]
) -> Iterator[dict[str, Any]]:
    """A brand with SML's and KFL's sources, each synced once, and one notice of each whose match an admin (every
    company) confirmed on the notice page; a staff member of the brand limited to SML, who may read the trail, the
    staff members' activity and the dashboard, logged in to the portal."""
    tenant, admin_email = staff
    borrower = _borrower(client, tenant, "Harjeet Kaur", mobile("98"))
    simulator.dataset.upsert(_item("S1", company="SML", name="Harjeet Kaur", phone="9822200055", days=30))
    simulator.dataset.upsert(_item("K1", company="KFL", name="Harjeet Kaur", phone="9822200066", days=20))
    sources = {company: _source(client, tenant, simulator, company) for company in ("SML", "KFL")}
    for source_id in sources.values():
        _sync(client, platform, tenant, source_id)
    notices = {company: _feed(client, tenant, "overdue", company=company)[0]["id"] for company in ("SML", "KFL")}
    admin, _ = _portal(app, admin_email)
    identity = platform.get(Identity)
    for company, notice_id in notices.items():
        fields = dict(HIDDEN.findall(_form(admin.get(f"/notices/{notice_id}").text, "match-form")))
        done = admin.post(f"/notices/{notice_id}/match",
                          data={**fields, "customer_id": borrower, "reason": f"{company} borrower checked on call"})  # fmt: skip
        assert done.status_code in (302, 303), done.text
    email = f"sml-trail-{uuid.uuid4().hex[:6]}@lender.in"
    made = identity.create_staff(
        tenant.brand_id, email, "Kiran Audit", ["collection_manager"], PASSWORD, companies=["SML"], granter=OPERATOR
    )
    identity.update_staff(
        tenant.brand_id,
        made.id,
        permissions={"AUDIT_REPLAY": "READ", "PARTNER_USER_MANAGEMENT": "READ", "VIEW_DASHBOARD": "READ"},
        granter=OPERATOR,
    )
    settle(platform, "identity")
    settle(platform, "notices")
    limited, _ = _portal(app, email)
    try:
        yield {"tenant": tenant, "notices": notices, "sources": sources, "limited": limited}
    finally:
        limited.__exit__(None, None, None)
        admin.__exit__(None, None, None)


def test_a_staff_member_limited_to_a_company_sees_only_its_notices_rows_an_unlimited_one_every_company(
    client: Any, platform: Any, two_companies: dict[str, Any]
) -> None:
    tenant, notices, sources = two_companies["tenant"], two_companies["notices"], two_companies["sources"]
    limited = two_companies["limited"]
    sml, kfl = notices["SML"], notices["KFL"]
    # Every company (the brand's API key): both decisions, by id, by type, in the whole trail and the activity log.
    for url in ("/api/v1/audit/trail", "/api/v1/activity"):
        for company, notice_id in notices.items():
            (row,) = _trail(client, tenant, url, aggregate_id=notice_id)
            assert row["event_type"] == "MatchConfirmed"
            assert row["details"]["reason"] == f"{company} borrower checked on call"
        by_type = _trail(client, tenant, url, aggregate_type="Notice")
        assert {i["aggregate_id"] for i in by_type} == {sml, kfl}
        everything = {i["aggregate_id"] for i in _trail(client, tenant, url)}
        assert {sml, kfl, *sources.values()} <= everything
    (decision,) = _trail(client, tenant, aggregate_id=sml)
    admin = decision["actor"]
    assert admin.startswith("staff:")
    own = f"/api/v1/staff/{admin[6:]}/activity"
    assert {i["aggregate_id"] for i in _trail(client, tenant, own)} >= {sml, kfl}
    # What they did on one record, or one kind of record (the filters were taken and not applied before).
    assert [i["aggregate_id"] for i in _trail(client, tenant, own, aggregate_id=sml)] == [sml]
    assert {i["aggregate_id"] for i in _trail(client, tenant, own, aggregate_type="Notice")} == {sml, kfl}
    someone = client.get(own, params={"actor": "staff:someone-else"}, headers=tenant.auth)
    assert someone.status_code == 422 and someone.json()["errors"][0]["field"] == "actor"  # theirs: not to be named
    # Limited to SML: SML's notice decision, source and sync run; nothing of KFL's, however asked.
    for url in ("/api/v1/audit/trail", "/api/v1/activity"):
        (row,) = _trail(limited, None, url, aggregate_id=sml)
        assert row["details"]["reason"] == "SML borrower checked on call"
        assert _trail(limited, None, url, aggregate_id=kfl) == []
        assert _trail(limited, None, url, aggregate_id=sources["KFL"]) == []
        assert [i["aggregate_id"] for i in _trail(limited, None, url, aggregate_type="Notice")] == [sml]
        assert [i["aggregate_id"] for i in _trail(limited, None, url, actor=admin)] == [sml]
        seen = _trail(limited, None, url)
        ids = {i["aggregate_id"] for i in seen}
        assert {sml, sources["SML"]} <= ids and not {kfl, sources["KFL"]} & ids
        runs = {i["aggregate_id"] for i in seen if i["aggregate_type"] == "SyncRun"}
        assert len(runs) == 1 and all("KFL" not in str(i["details"]) for i in seen)
    assert [i["aggregate_id"] for i in _trail(limited, None, f"/api/v1/staff/{admin[6:]}/activity")] == [sml]
    # The portal's trail and the admin's profile page; the dashboard's recent activity (no ids: one decision, not two).
    page = limited.get("/audit", params={"aggregate_type": "notice"})
    assert page.status_code == 200 and sml in page.text and kfl not in page.text
    everything_page = limited.get("/audit").text
    assert sml in everything_page and kfl not in everything_page
    for source_id, shown in ((sources["SML"], True), (sources["KFL"], False)):
        source_page = limited.get("/audit", params={"aggregate_id": source_id})
        assert source_page.status_code == 200 and ("notice source connected" in source_page.text.lower()) is shown
    profile = limited.get(f"/staff/{admin[6:]}")
    assert profile.status_code == 200 and "notice match confirmed" in profile.text.lower()
    assert profile.text.lower().count("notice match confirmed") == 1
    recent = limited.get("/api/v1/dashboard")
    assert recent.status_code == 200, recent.text
    assert [a["summary"] for a in recent.json()["recent_activity"]].count("notice match confirmed") == 1
    assert [a["summary"] for a in client.get("/api/v1/dashboard", headers=tenant.auth).json()["recent_activity"]].count(
        "notice match confirmed"
    ) == 2


def test_the_rebuilt_trail_keeps_each_rows_company(
    platform: Any, two_companies: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    notices, sources = two_companies["notices"], two_companies["sources"]
    brands = [two_companies["tenant"].brand_id]
    live = _rows(platform, brands)
    company = {str(r[5]): r[9] for r in live}
    assert company[notices["SML"]] == company[sources["SML"]] == "SML"
    assert company[notices["KFL"]] == company[sources["KFL"]] == "KFL"
    assert {(r[4], r[9]) for r in live if r[4] == "SyncRun"} == {("SyncRun", "SML"), ("SyncRun", "KFL")}
    assert all(r[9] in ("SML", "KFL") for r in live)
    platform.engine.rebuild("activity_notices", batch=5000)
    assert _rows(platform, brands) == live
    platform.engine.rebuild("activity_notices", batch=3)
    assert _rows(platform, brands) == live
    with monkeypatch.context() as patch:
        patch.setattr(ActivityLog, "applies_stored", lambda self, topic, state: False)
        platform.engine.rebuild("activity_notices", batch=5000)
    assert _rows(platform, brands) == live
