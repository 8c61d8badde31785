"""Staff in-app notifications on PostgreSQL (issue #17 item 5): an admin writes a notice to a role; it shows in
`/mine` of a key of that role (unread, counted), not of another role; acknowledging counts it read once (a repeat
changes nothing) and the receipts report says who and when; a scheduled notice is invisible until it shows;
bad input is a 422 that writes nothing; another brand's notice is a 404; only admins write notices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import Tenant, make_tenant
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle


def _key(platform: Any, brand_id: uuid.UUID, role: str) -> dict[str, str]:
    issued = platform.get(Identity).issue_api_key(brand_id, role, f"{role} key", granter=OPERATOR)
    settle(platform, "identity", issued.position)
    return {"Authorization": f"Bearer {issued.secret}"}


def _mine(client: Any, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/staff-notifications/mine", params=params, headers=auth)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_notice_to_a_role_is_read_acknowledged_once_and_reported(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    ops, sales = _key(platform, tenant.brand_id, "loan_ops"), _key(platform, tenant.brand_id, "sales")
    made = client.post(
        "/api/v1/staff-notifications",
        json={
            "title": "Month-end close",
            "body": "Post all receipts by 6 pm",
            "priority": "HIGH",
            "roles": ["loan_ops"],
        },
        headers=tenant.auth,
    )
    assert made.status_code == 201, made.text
    notice = made.json()
    assert notice["published"] and notice["priority"] == "HIGH" and notice["read_count"] == 0
    assert made.headers["Location"] == f"/api/v1/staff-notifications/{notice['id']}"

    mine = _mine(client, ops)
    assert mine["unread_count"] == 1 and [n["id"] for n in mine["items"]] == [notice["id"]]
    assert mine["items"][0]["read"] is False and mine["items"][0]["read_at"] is None
    assert _mine(client, sales)["items"] == []

    acked = client.post(f"/api/v1/staff-notifications/{notice['id']}/ack", headers=ops)
    assert acked.status_code == 200, acked.text
    assert acked.json()["read"] is True and acked.json()["read_at"] is not None
    again = client.post(f"/api/v1/staff-notifications/{notice['id']}/ack", headers=ops)
    assert again.status_code == 200 and again.json()["read_at"] == acked.json()["read_at"]
    assert _mine(client, ops)["unread_count"] == 0
    assert _mine(client, ops, unread="true")["items"] == []

    # sales is not addressed: acknowledging is a 404, as for a notice that does not exist
    assert client.post(f"/api/v1/staff-notifications/{notice['id']}/ack", headers=sales).status_code == 404

    report = client.get(f"/api/v1/staff-notifications/{notice['id']}/receipts", headers=tenant.auth)
    assert report.status_code == 200, report.text
    readers = [r for r in report.json()["receipts"] if r["read_at"] is not None]
    assert len(readers) == 1 and readers[0]["kind"] == "apikey" and readers[0]["read_at"] == acked.json()["read_at"]
    listed = client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"]
    assert [(n["id"], n["read_count"]) for n in listed] == [(notice["id"], 1)]


def test_a_scheduled_notice_is_invisible_until_its_publish_time(client: Any, platform: Any) -> None:
    tenant = make_tenant(platform)
    ops = _key(platform, tenant.brand_id, "loan_ops")
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    made = client.post(
        "/api/v1/staff-notifications",
        json={"title": "Audit visit", "body": "Auditors arrive Monday", "priority": "LOW", "roles": ["loan_ops"],
              "publish_at": later},
        headers=tenant.auth,
    )  # fmt: skip
    assert made.status_code == 201 and made.json()["published"] is False
    assert _mine(client, ops) == {"unread_count": 0, "items": [], "next_cursor": None}
    assert client.post(f"/api/v1/staff-notifications/{made.json()['id']}/ack", headers=ops).status_code == 404
    listed = client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"]
    assert [n["published"] for n in listed] == [False]  # admins see it, marked scheduled


def test_bad_input_cross_brand_and_permissions(client: Any, platform: Any) -> None:
    tenant, other = make_tenant(platform), make_tenant(platform)
    before = client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"]
    for body in (
        {"title": "Hi there", "body": "x", "priority": "URGENT", "roles": ["sales"]},
        {"title": "Hi there", "body": "x", "priority": "LOW"},
        {"title": "Hi there", "body": "x", "priority": "LOW", "roles": ["wizard"]},
        {"title": "Hi there", "body": "x", "priority": "LOW", "staff_ids": [str(uuid.uuid4())]},
        {"title": "Hi there", "body": "x", "priority": "LOW", "roles": ["sales"], "publish_at": "2026-12-01T09:00:00"},
    ):
        refused = client.post("/api/v1/staff-notifications", json=body, headers=tenant.auth)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"] == before

    made = client.post(
        "/api/v1/staff-notifications",
        json={"title": "Brand A only", "body": "Secret", "priority": "MEDIUM", "roles": ["admin"]},
        headers=tenant.auth,
    ).json()
    assert client.post(f"/api/v1/staff-notifications/{made['id']}/ack", headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/staff-notifications/{made['id']}/receipts", headers=other.auth).status_code == 404
    assert _mine(client, other.auth)["items"] == []

    sales = _key(platform, tenant.brand_id, "sales")
    denied = client.post(
        "/api/v1/staff-notifications",
        json={"title": "Not mine", "body": "x", "priority": "LOW", "roles": ["sales"]},
        headers=sales,
    )
    assert denied.status_code == 403
    assert client.get(f"/api/v1/staff-notifications/{made['id']}/receipts", headers=sales).status_code == 403


def test_a_notice_published_at_an_offset_no_zone_has_is_refused_and_one_at_the_edge_written_and_readable(
    client: Any, platform: Any
) -> None:
    # Offsets up to ±23:59 parse, but the staff notices read model could not write one beyond PostgreSQL's ±15:59
    # (-18:08 here), so the API answered 202 and the notice never appeared. Now a 422 naming the field, nothing
    # recorded; Baker Island's -12:00 is kept, in UTC.
    tenant = make_tenant(platform)
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    odd = when.astimezone(timezone(-timedelta(hours=18, minutes=8))).isoformat()
    body = {"title": "Quarter close", "body": "Books close Friday", "priority": "LOW", "roles": ["admin"],
            "publish_at": odd}  # fmt: skip
    refused = client.post("/api/v1/staff-notifications", json=body, headers=tenant.auth)
    assert refused.status_code == 422 and "publish_at" in refused.text and "offset" in refused.text, refused.text
    assert client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"] == []
    edge = when.astimezone(timezone(-timedelta(hours=12))).isoformat()
    made = client.post("/api/v1/staff-notifications", json={**body, "publish_at": edge}, headers=tenant.auth)
    assert made.status_code == 201, made.text
    assert datetime.fromisoformat(made.json()["publish_at"]) == when


def test_a_portal_notice_published_past_the_accepted_dates_is_422_and_the_admin_page_still_shows(
    app: Any, client: Any, staff: tuple[Tenant, str]
) -> None:
    # The portal's form reads its own publish_at (no `Instant` checks): 9999-12-31T23:00-05:00 overflowed comparing
    # it with now (a 500), and 9999-12-31T23:59+00:00 was stored, after which the admin page overflowed showing it in
    # Asia/Kolkata - a 500 for every admin. Now each is a 422 form error naming publish_at, nothing recorded.
    tenant, email = staff
    browser, csrf = _portal(app, email)
    try:
        form = {"csrf_token": csrf, "title": "Year end", "body": "Close the books", "priority": "LOW", "roles": "sales"}
        for publish_at in ("9999-12-31T23:00-05:00", "9999-12-31T23:59+00:00", "9999-12-31T23:59"):
            refused = browser.post("/staff-notifications", data={**form, "publish_at": publish_at})
            assert refused.status_code == 422, (publish_at, refused.text[:500])
            assert "publish_at" in refused.text
        shown = browser.get("/staff-notifications")
        assert shown.status_code == 200, shown.text[:500]
    finally:
        browser.__exit__(None, None, None)
    assert client.get("/api/v1/staff-notifications", headers=tenant.auth).json()["items"] == []
