"""Staff members' match decisions on notices -- confirmed, corrected, removed (POST /api/v1/notices/{id}/match and
/unmatch) -- are in the audit trail (GET /api/v1/audit/trail) with who, when, the notice, the borrowers and the reason,
in the notice's brand only: another brand's staff never see them. The notice events carry no brand; their rows take
the brand of the notice's import from the event store, so a rebuild of the trail (any batch size, stored or decoded)
gives the same rows as the live one. The automatic matches stay out of the trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from projections.activity import ActivityLog
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_notice_match_confirm import _low_match, simulator
from tests.support import settle

# The Softmedia simulator of the notice tests applies here too.
__all__ = ["simulator"]

#: The fields of a trail entry, as before the notices' decisions joined it.
ENTRY_FIELDS = {"occurred_at", "actor", "aggregate_type", "aggregate_id", "event_type", "summary", "details"}


def _trail(client: Any, tenant: Tenant, url: str = "/api/v1/audit/trail", **params: Any) -> list[dict[str, Any]]:
    """Every page of the trail (or the activity log) with the filters, two entries a page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(url, params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=tenant.auth)  # fmt: skip
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
            "SELECT position, brand_id, occurred_at, actor, aggregate_type, aggregate_id, event_type, summary, details "
            "FROM read.activity WHERE source = 'notices' AND brand_id = ANY(%s) ORDER BY position",
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
