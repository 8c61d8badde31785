"""Lead imports through the API: counts and line numbers, dedupe against earlier imports and borrowers, nothing
written for a file that is not a lead CSV, the list with its filters and keyset pages, the funnel with If-Match,
brand isolation."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.identity.application import Identity
from tests.conftest import Tenant, make_tenant
from tests.support import mobile

HEADER = "id,created_time,campaign_id,campaign_name,is_organic,full_name,phone_number,email\n"


def _upload(client: Any, tenant: Tenant, text: str | bytes, **data: str) -> Any:
    return client.post(
        "/api/v1/leads/imports",
        data=data,
        files={"file": ("leads.csv", text.encode() if isinstance(text, str) else text, "text/csv")},
        headers=tenant.auth,
    )


def _events(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM events.leads_events").fetchone()
    assert row is not None
    return int(row[0])


def test_import_counts_dedupes_and_lists(client: Any, tenant: Tenant, platform: Any) -> None:
    p1, p2, p3 = mobile(), mobile(), mobile()
    borrower = client.post("/api/v1/customers", json={"name": "Meera Pillai", "phone": p3}, headers=tenant.auth)
    assert borrower.status_code == 201, borrower.text
    text = HEADER + (
        f"1,2026-11-01T10:00:00Z,c1,Diwali,false,Asha Rao,{p1},asha@example.in\n"
        f'2,2026-11-01T10:00:00Z,c1,"=HYPERLINK(""http://x"")",false,"Vikram\nShah",{p2},\n'
        f"3,2026-11-01T10:00:00Z,c1,Diwali,false,Asha R,+91{p1},\n"
        "4,2026-11-01T10:00:00Z,c1,Diwali,false,Broken,12,\n"
        f"5,2026-11-01T10:00:00Z,,,true,Meera P,{p3},\n"
    )
    made = _upload(client, tenant, text)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["rows"], body["created"], body["duplicates"], body["organic"]) == (5, 3, 1, 1)
    assert body["rejected"] == [{"line": 6, "reason": body["rejected"][0]["reason"]}]
    assert body["matched"]["phone"] == 2 and body["source"] == "facebook"
    assert made.headers["location"] == f"/api/v1/leads/imports/{body['id']}"
    linked = next(x for x in body["lines"] if x["line"] == 7)
    assert linked["matched_kind"] == "borrower" and linked["matched_id"] == borrower.json()["id"]

    listed = client.get("/api/v1/leads?limit=2", headers=tenant.auth).json()
    assert len(listed["items"]) == 2 and listed["next_cursor"]
    rest = client.get(f"/api/v1/leads?limit=2&cursor={listed['next_cursor']}", headers=tenant.auth).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    organic = client.get("/api/v1/leads?organic=true", headers=tenant.auth).json()["items"]
    assert [x["name"] for x in organic] == ["Meera P"] and organic[0]["campaign_name"] is None
    hostile = next(x for x in listed["items"] + rest["items"] if x["name"] == "Vikram Shah")
    assert hostile["campaign_name"] == '=HYPERLINK("http://x")'

    again = _upload(client, tenant, text)
    assert again.status_code == 201 and again.json()["created"] == 0 and again.json()["duplicates"] == 4
    assert client.get("/api/v1/leads?status=new&source=facebook", headers=tenant.auth).json()["items"]
    assert client.get("/api/v1/leads?cursor=forged", headers=tenant.auth).status_code == 422
    # The filters are the query's own LeadFilter: each narrows, an unknown value is a 422.
    paid = client.get("/api/v1/leads?organic=false&source=facebook", headers=tenant.auth).json()["items"]
    assert sorted(x["name"] for x in paid) == ["Asha Rao", "Vikram Shah"]
    assert client.get("/api/v1/leads?source=google", headers=tenant.auth).json()["items"] == []
    assert client.get("/api/v1/leads?status=converted", headers=tenant.auth).json()["items"] == []
    assert client.get("/api/v1/leads?status=won", headers=tenant.auth).status_code == 422


def test_a_file_that_is_not_a_lead_csv_is_422_and_writes_nothing(client: Any, tenant: Tenant, dsn: str) -> None:
    before = _events(dsn)
    for text in ("", "a,b\n1,2\n"):
        bad = _upload(client, tenant, text)
        assert bad.status_code == 422, bad.text
        assert bad.headers["content-type"].startswith("application/problem+json")
    assert _upload(client, tenant, HEADER, source="myspace").status_code == 422
    assert _events(dsn) == before


def test_a_utf16_file_that_does_not_decode_is_422_naming_the_file_and_writes_nothing(
    client: Any, tenant: Tenant, dsn: str
) -> None:
    before = _events(dsn)
    lone_surrogate = b"\xff\xfe" + HEADER.encode("utf-16-le") + b"\x00\xd8"
    for data in (b"\xff\xfen", lone_surrogate):
        bad = _upload(client, tenant, data)
        assert bad.status_code == 422, bad.text
        assert [e["field"] for e in bad.json()["errors"]] == ["file"]
    assert _events(dsn) == before


def test_a_created_time_past_the_accepted_dates_or_offsets_rejects_its_row_and_the_rest_lists(
    client: Any, tenant: Tenant
) -> None:
    phone = mobile()
    text = HEADER + (
        f"1,2026-01-01T00:00:00+20:00,c1,Diwali,false,Offset Olga,{mobile()},\n"
        f"2,9999-12-31T23:59:59Z,c1,Diwali,false,Future Farah,{mobile()},\n"
        f"3,2026-01-01T00:00:00+05:30,c1,Diwali,false,Kept Kavya,{phone},\n"
    )
    made = _upload(client, tenant, text)
    assert made.status_code == 201, made.text  # not a 202: the leads read model took the import
    body = made.json()
    assert [x["line"] for x in body["rejected"]] == [2, 3]
    assert all(x["reason"].startswith("created_time: ") for x in body["rejected"])
    assert body["created"] == 1
    listed = client.get("/api/v1/leads", headers=tenant.auth).json()["items"]
    assert [x["name"] for x in listed] == ["Kept Kavya"]


def test_funnel_if_match_and_brand_isolation(client: Any, tenant: Tenant, platform: Any) -> None:
    made = _upload(client, tenant, HEADER + f"1,,,,false,Kiran Das,{mobile()},\n").json()
    lead_id = made["lines"][0]["lead_id"]
    lead = client.get(f"/api/v1/leads/{lead_id}", headers=tenant.auth)
    assert lead.headers["etag"] == '"1"'
    url = f"/api/v1/leads/{lead_id}/status"
    moved = client.post(url, json={"status": "contacted"}, headers={**tenant.auth, "If-Match": '"1"'})
    assert moved.status_code == 200 and moved.json()["status"] == "contacted"
    stale = client.post(url, json={"status": "applied"}, headers={**tenant.auth, "If-Match": '"1"'})
    assert stale.status_code == 409
    back = client.post(url, json={"status": "new"}, headers=tenant.auth)
    assert back.status_code == 409
    other = make_tenant(platform)
    assert client.get(f"/api/v1/leads/{lead_id}", headers=other.auth).status_code == 404
    assert client.post(url, json={"status": "rejected"}, headers=other.auth).status_code == 404
    assert client.get(f"/api/v1/leads/imports/{made['id']}", headers=other.auth).status_code == 404
    assert client.get("/api/v1/leads", headers=other.auth).json()["items"] == []
    sales = make_tenant(platform, role="credit_executive")
    assert client.get("/api/v1/leads", headers=sales.auth).status_code == 403


def test_sales_overview_targets_and_funnel(client: Any, tenant: Tenant, platform: Any) -> None:
    # the brand's month (its business date's), as the overview counts the leads imported now: not the UTC month
    month = platform.get(Identity).business_date(tenant.brand_id).strftime("%Y-%m")
    goals = {month: {"disbursal_amount": "500000.00", "disbursal_count": 10, "collections": "100000.00"}}
    patched = client.patch("/api/v1/brand/config", json={"monthly_targets": goals}, headers=tenant.auth)
    assert patched.status_code == 200, patched.text
    text = HEADER + "".join(f"{i},,c1,Diwali,false,Person {chr(65 + i)} Kumar,{mobile()},\n" for i in range(4))
    made = _upload(client, tenant, text + f"9,,,,true,Organic Olga,{mobile()},\n").json()
    ids = [x["lead_id"] for x in made["lines"]]
    for lead, status in ((ids[0], "contacted"), (ids[1], "applied"), (ids[2], "converted"), (ids[3], "rejected")):
        moved = client.post(f"/api/v1/leads/{lead}/status", json={"status": status}, headers=tenant.auth)
        assert moved.status_code == 200, moved.text
    overview = client.get(f"/api/v1/sales/overview?month={month}", headers=tenant.auth)
    assert overview.status_code == 200, overview.text
    body = overview.json()
    funnel = {s["step"]: (s["reached"], s["conversion_percent"]) for s in body["lead_funnel"]}
    assert funnel == {"new": (5, None), "contacted": (3, "60.00"), "applied": (2, "66.67"), "converted": (1, "50.00")}
    assert body["lead_rejected"] == 1
    targets = {t["name"]: t for t in body["targets"]}
    assert targets["disbursal_count"]["goal"] == "10" and targets["disbursal_count"]["actual"] == "0"
    assert targets["disbursal_amount"]["achieved_percent"] == "0.00"
    sources = {(s["is_organic"], s["campaign"]): s["leads"] for s in body["by_source"]}
    assert sources == {(False, "Diwali"): 4, (True, None): 1}
    assert client.get("/api/v1/sales/overview?month=2026-13", headers=tenant.auth).status_code == 422
    assert client.get("/api/v1/sales/overview?month=0000-05", headers=tenant.auth).status_code == 422
    sales = make_tenant(platform, role="sales")
    assert client.get("/api/v1/sales/overview", headers=sales.auth).status_code == 403
    manager = make_tenant(platform, role="sales_manager")
    assert client.get("/api/v1/sales/overview", headers=manager.auth).status_code == 200


def test_a_lead_with_a_borrowers_email_is_linked_to_the_borrower(client: Any, tenant: Tenant, platform: Any) -> None:
    """The import finds the borrower by email (probed through `lower(email)`, compared exactly), whatever its phone."""
    borrower = client.post(
        "/api/v1/customers",
        json={"name": "Kiran Das", "phone": mobile(), "email": "Kiran.Das@example.in"},
        headers=tenant.auth,
    )
    assert borrower.status_code == 201, borrower.text
    text = HEADER + f"1,2026-11-01T10:00:00Z,c1,Diwali,false,Kiran D,{mobile()},Kiran.Das@example.in\n"
    made = _upload(client, tenant, text)
    assert made.status_code == 201, made.text
    (line,) = made.json()["lines"]
    assert (line["outcome"], line["matched_kind"], line["matched_id"]) == (
        "created",
        "borrower",
        borrower.json()["id"],
    ), line


def test_a_lead_import_matches_emails_ignoring_case(client: Any, tenant: Tenant, platform: Any) -> None:
    """The dedupe compares emails ignoring case, and so does the lookup of who is known: a borrower or an earlier
    lead whose stored email differs only in case is found (an exact lookup never fetched them)."""
    borrower = client.post(
        "/api/v1/customers",
        json={"name": "Meera Pillai", "phone": mobile(), "email": "Meera.Pillai@Example.in"},
        headers=tenant.auth,
    )
    assert borrower.status_code == 201, borrower.text
    text = HEADER + f"1,2026-11-01T10:00:00Z,c1,Diwali,false,Meera P,{mobile()},meera.pillai@example.IN\n"
    made = _upload(client, tenant, text)
    assert made.status_code == 201, made.text
    (line,) = made.json()["lines"]
    assert (line["matched_kind"], line["matched_id"]) == ("borrower", borrower.json()["id"]), line
    first = _upload(
        client, tenant, HEADER + f"1,2026-11-01T10:00:00Z,c1,Diwali,false,Ravi K,{mobile()},Ravi.K@Mail.in\n"
    )
    assert first.status_code == 201, first.text
    (lead,) = first.json()["lines"]
    again = _upload(
        client, tenant, HEADER + f"1,2026-11-02T10:00:00Z,c1,Diwali,false,Ravi K,{mobile()},ravi.k@mail.IN\n"
    )
    assert again.status_code == 201, again.text
    (line,) = again.json()["lines"]
    assert line["matched_kind"] == "lead" and line["outcome"] != "created", (lead, line)


def test_a_lead_links_only_to_a_borrower_of_its_brand(client: Any, tenant: Tenant, platform: Any) -> None:
    """`POST /leads/{id}/borrower` names a borrower of the lead's brand: another brand's borrower is refused as a
    random id is (422 naming borrower_id, the lead unchanged), so one brand's lead never points at another's
    borrower; the brand's own borrower links and moves the lead to applied."""
    other = make_tenant(platform)
    theirs = client.post("/api/v1/customers", json={"name": "Farah Other", "phone": mobile()}, headers=other.auth)
    assert theirs.status_code == 201, theirs.text
    ours = client.post("/api/v1/customers", json={"name": "Neel Ours", "phone": mobile()}, headers=tenant.auth)
    assert ours.status_code == 201, ours.text
    lead_id = _upload(client, tenant, HEADER + f"1,,,,false,Ira Lead,{mobile()},\n").json()["lines"][0]["lead_id"]
    url = f"/api/v1/leads/{lead_id}/borrower"
    before = _events(platform.dsn)
    for borrower in (theirs.json()["id"], str(uuid.uuid4())):
        refused = client.post(url, json={"borrower_id": borrower}, headers=tenant.auth)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == ["borrower_id"]
    assert _events(platform.dsn) == before
    lead = client.get(f"/api/v1/leads/{lead_id}", headers=tenant.auth).json()
    assert (lead["borrower_id"], lead["status"]) == (None, "new")
    linked = client.post(url, json={"borrower_id": ours.json()["id"]}, headers=tenant.auth)
    assert linked.status_code == 200, linked.text
    assert (linked.json()["borrower_id"], linked.json()["status"]) == (ours.json()["id"], "applied")
