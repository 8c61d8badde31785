"""The rating matrix and a lead's funnel step are edited from portal forms that carry the version they were read at;
saved after someone else changed the record, they are refused and nothing is saved - but the pages answered such a
conflict 422, as if the input were bad, where every other portal form (and the API) answers a change made since
with 409. The matrix page keeps the rows typed; the leads page shows the lead at its step as it is now."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import mobile, settle

ROW = {"metric": "manual", "weight": 100, "role": "credit_executive", "target": 10}


def test_a_rating_matrix_page_saved_after_another_save_is_409_with_its_rows_kept(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    browser, _ = _portal(app, email)
    try:
        form = _form(browser.get("/rating-matrix").text, "matrix-form")
        version = re.search(r'name="version" value="(\d+)"', form)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert version is not None and csrf is not None
        other = client.put("/api/v1/rating-matrix", json={"criteria": [{**ROW, "label": "Theirs"}]},
                           headers=tenant.auth | {"If-Match": f'"{version.group(1)}"'})  # fmt: skip
        assert other.status_code == 200, other.text
        settle(platform, "leads")

        typed = {"csrf_token": csrf.group(1), "version": version.group(1), "metric": "manual", "label": "Mine typed", "weight": "100",
                 "role": "credit_executive", "target": "10"}  # fmt: skip
        refused = browser.post("/rating-matrix", data=typed)
        assert refused.status_code == 409, refused.text[:500]
        kept = _form(refused.text, "matrix-form")
        assert 'value="Mine typed"' in kept and f'name="version" value="{other.json()["version"]}"' in kept
        shown = client.get("/api/v1/rating-matrix", headers=tenant.auth).json()
        assert [c["label"] for c in shown["criteria"]] == ["Theirs"]  # nothing of the stale page saved
    finally:
        browser.__exit__(None, None, None)


def test_a_lead_moved_from_a_page_read_before_another_move_is_409(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    phone = mobile("98")
    csv = "id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n"
    csv += f"1,2026-11-01T10:00:00Z,c1,Diwali,false,Asha Rao,{phone},\n"
    imported = client.post("/api/v1/leads/imports", files={"file": ("leads.csv", csv.encode(), "text/csv")},
                           headers=tenant.auth)  # fmt: skip
    assert imported.status_code == 201, imported.text
    settle(platform, "leads")
    lead = client.get("/api/v1/leads", headers=tenant.auth).json()["items"][0]
    browser, _ = _portal(app, email)
    try:
        page = browser.get("/leads").text
        row = page[page.index(f'action="/leads/{lead["id"]}/status"') :]
        fields = dict(
            re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', row[: row.index("</form>")])
        )
        assert fields["version"] == str(lead["version"])
        moved = client.post(f"/api/v1/leads/{lead['id']}/status", json={"status": "contacted"}, headers=tenant.auth)
        assert moved.status_code == 200, moved.text
        settle(platform, "leads")

        refused = browser.post(f"/leads/{lead['id']}/status", data={**fields, "status": "rejected"})
        assert refused.status_code == 409, refused.text[:500]
        assert client.get(f"/api/v1/leads/{lead['id']}", headers=tenant.auth).json()["status"] == "contacted"
    finally:
        browser.__exit__(None, None, None)
