"""The auditor's pages in the portal, driven in a real headless Chromium: a record's replay (timeline, state as of
an instant, compare two instants, exports) and the audit trail, brand-scoped and permissioned."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

from domain.customers.application import Customers
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from projections.identity import IdentityQueries
from tests.conftest import make_tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import mobile, settle

NEW_EMAIL = "lakshmi.audit@example.in"


def _instant() -> datetime:
    """Now, strictly after the last event and strictly before the next."""
    time.sleep(0.01)
    moment = datetime.now(UTC)
    time.sleep(0.01)
    return moment


def _picker(instant: datetime, tz: str) -> str:
    """What a person types into a datetime-local input (brand's local time, to the millisecond) for an instant."""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _to_ms(instant: datetime) -> datetime:
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def _field(page: Any, table: str, field: str) -> str:
    return str(page.locator(f"{table} tr[data-field={field}] td.value").first.inner_text())


def _timeline(page: Any) -> list[tuple[str, str]]:
    items = page.locator("#audit-timeline > li").all()
    return [(str(li.get_attribute("data-version")), str(li.get_attribute("data-event"))) for li in items]


def _classes(page: Any, version: int) -> str:
    return str(page.locator(f"#audit-timeline > li[data-version='{version}']").get_attribute("class") or "")


def test_auditor_replays_a_borrower_in_the_portal(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    tenant, email = staff
    tz = str(platform.get(Identity).brand(tenant.brand_id).timezone)

    # A borrower created, its email changed, an alternate phone added, through the API with the tenant's key.
    before_anything = _instant()
    created = client.post(
        "/api/v1/customers", json={"name": "Lakshmi Audit", "phone": "9812345670"}, headers=tenant.auth
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    before_email = _instant()
    changed = client.patch(f"/api/v1/customers/{customer_id}", json={"email": NEW_EMAIL}, headers=tenant.auth)
    assert changed.status_code == 200, changed.text
    before_phone = _instant()
    added = client.post(
        f"/api/v1/customers/{customer_id}/alternate-phones", json={"phone": "098123-45671"}, headers=tenant.auth
    )
    assert added.status_code in (200, 201), added.text
    settle(platform, Customers.name)
    settle(platform, Customers.name)  # the activity log of the borrowers follows their source

    api_history = client.get(f"/api/v1/audit/customer/{customer_id}/history", headers=tenant.auth).json()["events"]
    assert [(e["version"], e["event"]) for e in api_history] == [
        (1, "Registered"),
        (2, "DetailsUpdated"),
        (3, "AlternatePhoneAdded"),
    ]
    latest = client.get(
        f"/api/v1/audit/customer/{customer_id}/state", params={"as_of": _instant().isoformat()}, headers=tenant.auth
    ).json()["state"]
    assert latest["email"] == NEW_EMAIL and len(latest["alternate_phones"]) == 1

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server, email)

    # From Customer 360 to the record's replay page.
    page.goto(f"{server}/customers/{customer_id}")
    page.click("#audit-history")
    page.wait_for_url(f"{server}/audit/customer/{customer_id}")
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text() == "Audit"
    assert page.locator("#record-id").inner_text() == customer_id

    # The timeline: every event in order, who (the key's name), when, trace id and what the event said.
    assert _timeline(page) == [("1", "Registered"), ("2", "DetailsUpdated"), ("3", "AlternatePhoneAdded")]
    for entry in api_history:
        li = page.locator(f"#audit-timeline > li[data-version='{entry['version']}']")
        assert li.locator(".actor").inner_text() == "API key “test key”"
        assert li.locator(".actor").get_attribute("title") == entry["actor"]
        assert li.locator(".trace code").inner_text() == entry["trace_id"]
        shown_at = datetime.fromisoformat(str(li.locator("a.when time").get_attribute("datetime")))
        assert shown_at == datetime.fromisoformat(entry["occurred_at"])
    assert page.locator("#audit-timeline > li[data-version='2'] dd[data-field=email]").inner_text() == NEW_EMAIL
    assert page.locator("#audit-timeline > li[data-version='1'] dd[data-field=name]").inner_text() == "Lakshmi Audit"
    # The update left the other fields null ("not changed"): named together, not shown as values.
    assert page.locator("#audit-timeline > li[data-version='2'] dd[data-field=name]").count() == 0
    assert "name" in page.locator("#audit-timeline > li[data-version='2'] .empty-fields").inner_text().split(", ")

    # By default the state is now's: the latest version, with the new email and the alternate phone.
    assert page.locator("#state").get_attribute("data-version") == "3"
    assert "(now)" in page.locator("#state h2").inner_text()
    assert _field(page, "#state-table", "email") == NEW_EMAIL
    assert _field(page, "#state-table", "alternate_phones") == ", ".join(latest["alternate_phones"])
    assert _field(page, "#state-table", "name") == "Lakshmi Audit"
    assert "current" in _classes(page, 3) and "after" not in _classes(page, 3)

    # As of the instant between registering and the email change: version 1, no email, no alternate phone.
    page.fill("#as-of", _picker(before_email, tz))
    page.click("#as-of-form button[type=submit]")
    page.wait_for_url("**as_of=*")
    typed = parse_qs(urlparse(page.url).query)["as_of"]  # Chromium trims trailing zeros: .340 -> .34
    assert [datetime.fromisoformat(t) for t in typed] == [datetime.fromisoformat(_picker(before_email, tz))]
    assert datetime.fromisoformat(str(page.get_attribute("#state-as-of", "datetime"))) == _to_ms(before_email)
    assert page.locator("#state").get_attribute("data-version") == "1"
    assert _field(page, "#state-table", "email") == "—"
    assert _field(page, "#state-table", "alternate_phones") == "none"
    assert "current" in _classes(page, 1) and "after" in _classes(page, 2) and "after" in _classes(page, 3)

    # Before its first event the record did not exist yet.
    page.goto(f"{server}/audit/customer/{customer_id}?as_of={before_anything.isoformat().replace('+', '%2B')}")
    assert page.locator("#state").get_attribute("data-exists") == "no"
    assert "did not exist yet" in page.locator("#not-yet").inner_text()
    assert page.locator("#state-table").count() == 0

    # An event's time is a link to the state just after it.
    page.click("#audit-timeline > li[data-version='2'] a.when")
    page.wait_for_url("**as_of=*")
    assert parse_qs(urlparse(page.url).query)["as_of"] == [api_history[1]["occurred_at"]]
    assert page.locator("#state").get_attribute("data-version") == "2"
    assert _field(page, "#state-table", "email") == NEW_EMAIL
    assert _field(page, "#state-table", "alternate_phones") == "none"
    assert "current" in _classes(page, 2) and "after" in _classes(page, 3)

    # Compare two instants: the email change, and only the event in between.
    page.fill("#compare-from", _picker(before_email, tz))
    page.fill("#compare-to", _picker(before_phone, tz))
    page.click("#compare-form button[type=submit]")
    page.wait_for_url("**from=*")
    api_diff = client.get(
        f"/api/v1/audit/customer/{customer_id}/diff",
        params={"from": _to_ms(before_email).isoformat(), "to": _to_ms(before_phone).isoformat()},
        headers=tenant.auth,
    ).json()
    fields = [str(r.get_attribute("data-field")) for r in page.locator("#diff-table tbody tr[data-field]").all()]
    assert fields == sorted(api_diff["changes"]) and "email" in fields and "alternate_phones" not in fields
    assert page.locator("#diff-table tr[data-field=email] td.then").inner_text() == "—"
    assert page.locator("#diff-table tr[data-field=email] td.now").inner_text() == NEW_EMAIL
    assert page.locator("#diff-table tr[data-field=version] td.then").inner_text() == "1"
    assert page.locator("#diff-table tr[data-field=version] td.now").inner_text() == "2"
    between = [li.get_attribute("data-version") for li in page.locator("#diff-events li[data-version]").all()]
    assert between == ["2"] and [e["event"] for e in api_diff["events"]] == ["DetailsUpdated"]
    assert page.locator("#state").get_attribute("data-version") == "2"  # the state shown is the "against" one
    page.screenshot(path=str(ARTIFACTS / "audit-replay.png"), full_page=True)

    # Exports: plain links to the JSON API, which the portal session authenticates.
    href = page.get_attribute("#export-json", "href")
    assert href == f"/api/v1/audit/customer_record/{customer_id}/history"
    exported = page.request.get(f"{server}{href}")
    assert exported.status == 200
    assert [e["version"] for e in exported.json()["events"]] == [1, 2, 3]
    csv_href = page.get_attribute("#export-csv", "href")
    as_csv = page.request.get(f"{server}{csv_href}")
    assert as_csv.status == 200 and as_csv.headers["content-type"].startswith("text/csv")
    events = [r["event"] for r in csv.DictReader(io.StringIO(as_csv.text()))]
    assert events == ["Registered", "DetailsUpdated", "AlternatePhoneAdded"]

    # At phone width the replay and the trail fit without scrolling sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(ARTIFACTS / "audit-replay-phone.png"), full_page=True)
    page.goto(f"{server}/audit?aggregate_id={customer_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=str(ARTIFACTS / "audit-trail-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # Friendly errors, never a 500: a bad instant, an unknown type, another type's id, not an id.
    bad = page.goto(f"{server}/audit/customer/{customer_id}?as_of=yesterday")
    assert bad is not None and bad.status == 422
    assert "“yesterday” is not a date and time" in page.locator("[role=alert]").inner_text()
    assert len(_timeline(page)) == 3 and page.locator("#state").get_attribute("data-version") == "3"
    unknown = page.goto(f"{server}/audit/spaceship/{customer_id}")
    assert unknown is not None and unknown.status == 422
    assert page.locator("h1").inner_text() == "Unknown record type"
    page.select_option("#open-form select[name=type]", "customer_record")
    page.click("#open-form button[type=submit]")
    page.wait_for_url(f"{server}/audit/customer_record/{customer_id}")
    assert len(_timeline(page)) == 3
    for path in (f"/audit/covenant/{customer_id}", "/audit/customer/not-an-id", f"/audit/customer/{uuid.uuid4()}"):
        missing = page.goto(f"{server}{path}")
        assert missing is not None and missing.status == 404, path

    # The audit trail, filtered by the record: its entries newest first, linking back to the replay.
    page.goto(f"{server}/dashboard")
    page.click("nav[aria-label=Main] >> text=Audit")
    page.wait_for_url(f"{server}/audit")
    page.fill("#trail-filters input[name=aggregate_id]", customer_id)
    page.click("#trail-filters button[type=submit]")
    page.wait_for_url("**aggregate_id=*")
    api_trail = client.get("/api/v1/audit/trail", params={"aggregate_id": customer_id}, headers=tenant.auth).json()
    rows = page.locator("#audit-trail tbody tr[data-event]")
    assert [r.get_attribute("data-event") for r in rows.all()] == [i["event_type"] for i in api_trail["items"]]
    assert [r.get_attribute("data-event") for r in rows.all()] == [
        "AlternatePhoneAdded",
        "DetailsUpdated",
        "Registered",
    ]
    assert {r.get_attribute("data-record") for r in rows.all()} == {customer_id}
    assert rows.locator(".who-cell").all_inner_texts() == ["API key “test key”"] * 3
    assert rows.first.locator("a.record-link").get_attribute("href") == f"/audit/customer_record/{customer_id}"
    updated = page.locator("#audit-trail tr[data-event=DetailsUpdated]")
    assert updated.locator("details").get_attribute("open") is None
    assert not updated.locator("dl.data").is_visible()
    updated.locator("summary").click()
    assert updated.locator("dd[data-field=email]").is_visible()
    assert updated.locator("dd[data-field=email]").inner_text() == NEW_EMAIL
    assert "name" in updated.locator(".data-empty").inner_text()  # left unchanged by the update
    page.screenshot(path=str(ARTIFACTS / "audit-trail.png"), full_page=True)

    rows.nth(1).locator("a.record-link").click()
    page.wait_for_url(f"{server}/audit/customer_record/{customer_id}")

    # Keyset pages ("Older"), and the type and time filters.
    page.goto(f"{server}/audit?aggregate_id={customer_id}&limit=2")
    assert [r.get_attribute("data-event") for r in rows.all()] == ["AlternatePhoneAdded", "DetailsUpdated"]
    page.click("#older-page")
    page.wait_for_url("**cursor=*")
    assert [r.get_attribute("data-event") for r in rows.all()] == ["Registered"]
    assert page.locator("#older-page").count() == 0 and page.locator("#newest-page").count() == 1
    page.goto(f"{server}/audit?aggregate_id={customer_id}")
    page.select_option("#trail-filters select[name=aggregate_type]", "covenant")
    page.click("#trail-filters button[type=submit]")
    page.wait_for_url("**aggregate_type=covenant*")
    assert rows.count() == 0 and "Nothing matches" in page.locator("#audit-trail").inner_text()
    page.select_option("#trail-filters select[name=aggregate_type]", "customer_record")
    page.fill("#trail-filters input[name=from]", _picker(before_phone, tz))
    page.click("#trail-filters button[type=submit]")
    page.wait_for_url("**from=*")
    assert [r.get_attribute("data-event") for r in rows.all()] == ["AlternatePhoneAdded"]
    bad_filter = page.goto(f"{server}/audit?aggregate_id=not-an-id")
    assert bad_filter is not None and bad_filter.status == 422
    assert "not a record id" in page.locator("[role=alert]").inner_text() and rows.count() == 0

    # What a staff member did in the portal is theirs, by name, and "Who" filters by them.
    page.goto(f"{server}/customers/new")
    page.fill("input[name=name]", "Portal Borrower")
    page.fill("input[name=phone]", "9812345699")
    page.click("main button[type=submit]")
    page.wait_for_url("**/customers/*")
    portal_borrower = page.url.rsplit("/", 1)[1]
    assert portal_borrower != "new"
    settle(platform, Customers.name)  # the activity log of the borrowers follows their source
    page.goto(f"{server}/audit")
    page.select_option("#trail-filters select[name=actor]", label="Priya Ops")
    page.click("#trail-filters button[type=submit]")
    page.wait_for_url("**actor=staff*")
    assert [r.get_attribute("data-record") for r in rows.all()] == [portal_borrower]
    assert rows.locator(".who-cell").all_inner_texts() == ["Priya Ops"]
    page.goto(f"{server}/audit/customer/{portal_borrower}")
    assert page.locator("#audit-timeline > li[data-version='1'] .actor").inner_text() == "Priya Ops"

    # "Open a record" goes to its replay page.
    page.goto(f"{server}/audit")
    page.select_option("#open-form select[name=type]", "customer_record")
    page.fill("#open-form input[name=id]", customer_id)
    page.click("#open-form button[type=submit]")
    page.wait_for_url(f"{server}/audit/customer_record/{customer_id}")
    opened_badly = page.goto(f"{server}/audit/open?type=customer_record&id=nope")
    assert opened_badly is not None and opened_badly.status == 422
    assert "Enter the record's id" in page.locator("#open-error").inner_text()

    # A staff member's own record (created, then signed in): the password hash is never shown.
    settle(platform, Identity.name)
    staff_id = platform.get(IdentityQueries).staff_list(tenant.brand_id, email).items[0].id
    page.goto(f"{server}/audit/staff/{staff_id}")
    assert _timeline(page)[0] == ("1", "Created") and ("2", "LoggedIn") in _timeline(page)
    assert (
        page.locator("#audit-timeline > li[data-version='1'] dd[data-field=password_hash]").inner_text() == "(hidden)"
    )
    assert "$argon2" not in page.content()
    page.close()

    # Staff of another brand get the 404 page for the record, and nothing of it in their trail or the API.
    other = make_tenant(platform)
    other_email = f"aud-{uuid.uuid4().hex[:8]}@lender.in"
    platform.get(Identity).create_staff(
        other.brand_id, other_email, "Arjun Other", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, Identity.name)
    context = browser.new_context()
    stranger = context.new_page()
    login(stranger, server, other_email)
    response = stranger.goto(f"{server}/audit/customer/{customer_id}")
    assert response is not None and response.status == 404
    assert stranger.locator("h1").inner_text() == "Not found" and stranger.locator("#audit-timeline").count() == 0
    stranger.goto(f"{server}/audit?aggregate_id={customer_id}")
    assert stranger.locator("#audit-trail tbody tr[data-event]").count() == 0
    assert stranger.request.get(f"{server}/api/v1/audit/customer/{customer_id}/history").status == 404
    context.close()

    # Without AUDIT_REPLAY: no nav link, no link on Customer 360, and the pages are forbidden.
    seller = f"sales-{uuid.uuid4().hex[:6]}@lender.in"
    platform.get(Identity).create_staff(tenant.brand_id, seller, "Sunil Sales", ["sales"], PASSWORD, granter=OPERATOR)
    settle(platform, Identity.name)
    context = browser.new_context()
    sales = context.new_page()
    login(sales, server, seller)
    assert "Audit" not in sales.locator("nav[aria-label=Main] a").all_inner_texts()
    assert sales.goto(f"{server}/customers/{customer_id}").status == 200  # type: ignore[union-attr]
    assert sales.locator("h1").inner_text() == "Lakshmi Audit" and sales.locator("#audit-history").count() == 0
    assert sales.goto(f"{server}/audit").status == 403  # type: ignore[union-attr]
    assert sales.goto(f"{server}/audit/customer/{customer_id}").status == 403  # type: ignore[union-attr]
    context.close()


def test_an_instant_past_the_accepted_dates_is_a_422_on_the_trail_and_the_replay(
    app: Any, client: Any, staff: tuple[Any, str], platform: Any
) -> None:
    """Year 9999 in UTC (or any offset no zone has) parsed, then overflowed when the page wrote it back into its
    `datetime-local` inputs in the brand's time: GET /audit?to=9999-12-31T23:59:59Z was a 500. Now the page's own
    "not a date and time" (422), as for any value it cannot read, and the page still shows."""
    tenant, email = staff
    created = client.post("/api/v1/customers", json={"name": "Farah Audit", "phone": mobile()}, headers=tenant.auth)
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    settle(platform, Customers.name)
    browser, _ = _portal(app, email)
    try:
        for value in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59", "0001-01-01T00:00:00Z", "2026-01-01T00:00+20:00"):
            for name in ("from", "to"):
                trail = browser.get("/audit", params={name: value})
                assert trail.status_code == 422, (name, value, trail.text[:500])
                assert f"“{value}” is not a date and time" in trail.text
            replay = browser.get(f"/audit/customer/{customer_id}", params={"as_of": value})
            assert replay.status_code == 422, (value, replay.text[:500])
            assert f"“{value}” is not a date and time" in replay.text
        assert browser.get("/audit", params={"to": "2200-12-31T23:59:59"}).status_code == 200
    finally:
        browser.__exit__(None, None, None)
