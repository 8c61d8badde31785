"""The rating matrix through the API: weights per role sum to 100, If-Match 409 on a stale PUT, staff ratings 1-10
per metric folded into the history with the scores computed from activity, brand isolation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.conftest import Tenant, make_tenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal

MATRIX = {
    "criteria": [
        {"metric": "loans_processed_per_week", "label": "Loans a week", "weight": 60, "role": "credit_executive",
         "target": "2"},
        {"metric": "manual", "label": "Conduct", "weight": 40, "role": "credit_executive"},
        {"metric": "tat_hours", "label": "TAT", "weight": 100, "role": "collection_executive", "target": "24"},
    ]
}  # fmt: skip


def _staff(client: Any, tenant: Tenant) -> str:
    body = {"name": "Ravi Exec", "email": f"ravi-{uuid.uuid4().hex[:8]}@lender.in", "roles": ["credit_executive"]}
    made = client.post("/api/v1/staff", json=body, headers=tenant.auth)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_matrix_put_with_if_match_and_validation(client: Any, tenant: Tenant) -> None:
    empty = client.get("/api/v1/rating-matrix", headers=tenant.auth)
    assert empty.status_code == 200 and empty.json()["criteria"] == [] and empty.headers["etag"] == '"0"'
    bad = {"criteria": [{**MATRIX["criteria"][0], "weight": 50}, MATRIX["criteria"][1]]}
    refused = client.put("/api/v1/rating-matrix", json=bad, headers=tenant.auth)
    assert refused.status_code == 422 and "sum to 90" in refused.text
    unknown_role = {"criteria": [{**MATRIX["criteria"][2], "role": "pilot"}]}
    assert client.put("/api/v1/rating-matrix", json=unknown_role, headers=tenant.auth).status_code == 422
    made = client.put("/api/v1/rating-matrix", json=MATRIX, headers={**tenant.auth, "If-Match": '"0"'})
    assert made.status_code == 200, made.text
    assert made.json()["version"] == 1 and len(made.json()["criteria"]) == 3
    changed = {"criteria": MATRIX["criteria"][2:]}
    ok = client.put("/api/v1/rating-matrix", json=changed, headers={**tenant.auth, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = client.put("/api/v1/rating-matrix", json=MATRIX, headers={**tenant.auth, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert client.get("/api/v1/rating-matrix", headers=tenant.auth).json()["version"] == 2


def test_staff_ratings_history_and_isolation(client: Any, tenant: Tenant, platform: Any) -> None:
    client.put("/api/v1/rating-matrix", json=MATRIX, headers=tenant.auth)
    staff = _staff(client, tenant)
    history = client.get(f"/api/v1/staff/{staff}/ratings", headers=tenant.auth)
    assert history.status_code == 200, history.text
    periods = history.json()["periods"]
    assert len(periods) == 6 and [c["metric"] for c in periods[0]["criteria"]] == ["loans_processed_per_week", "manual"]
    assert periods[0]["overall"] is None  # no activity, no ratings
    month = periods[0]["period"]
    rated = client.post(
        f"/api/v1/staff/{staff}/ratings",
        json={"period": month, "scores": {"manual": 8, "loans_processed_per_week": 5}, "note": "<b>steady</b>"},
        headers=tenant.auth,
    )
    assert rated.status_code == 201, rated.text
    now = rated.json()["periods"][0]
    assert [c["score"] for c in now["criteria"]] == [5, 8]
    assert now["overall"] == "6.20"  # (60*5 + 40*8) / 100
    assert now["notes"] == ["<b>steady</b>"]
    for bad in ({"period": month, "scores": {"manual": 11}}, {"period": "2026-13", "scores": {"manual": 5}},
                {"period": month, "scores": {}}):  # fmt: skip
        assert client.post(f"/api/v1/staff/{staff}/ratings", json=bad, headers=tenant.auth).status_code == 422
    other = make_tenant(platform)
    assert client.get(f"/api/v1/staff/{staff}/ratings", headers=other.auth).status_code == 404
    probe = {"period": month, "scores": {"manual": 5}}
    assert client.post(f"/api/v1/staff/{staff}/ratings", json=probe, headers=other.auth).status_code == 404
    assert client.get("/api/v1/rating-matrix", headers=other.auth).json()["criteria"] == []
    sales = make_tenant(platform, role="sales")
    assert client.get(f"/api/v1/staff/{staff}/ratings", headers=sales.auth).status_code in (403, 404)
    assert client.put("/api/v1/rating-matrix", json=MATRIX, headers=sales.auth).status_code == 403


def test_a_portal_target_past_the_apis_bounds_is_422_and_saves_nothing(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    """The portal's form reaches the domain's check without the API's `Measure` bounds: a target of 1e-30 or 1e30 was
    saved, and every computed score of its role then raised decimal.InvalidOperation (each rating read a 500)."""
    tenant, email = staff
    browser, _ = _portal(app, email)
    try:
        form = _form(browser.get("/rating-matrix").text, "matrix-form")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        row = {"metric": "tat_hours", "label": "TAT", "weight": "100", "role": "collection_executive"}
        for target in ("1e-30", "1e30", "100000.5", "0.0000001"):
            typed = {"csrf_token": csrf.group(1), "version": "0", **row, "target": target}
            refused = browser.post("/rating-matrix", data=typed)
            assert refused.status_code == 422, (target, refused.text[:500])
            assert "criteria[0].target" in refused.text
    finally:
        browser.__exit__(None, None, None)
    matrix = client.get("/api/v1/rating-matrix", headers=tenant.auth).json()
    assert (matrix["version"], matrix["criteria"]) == (0, [])
