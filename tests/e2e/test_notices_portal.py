"""Repayment operations in the portal, driven in a real headless Chromium: sync, dashboard, feeds, notice, 360."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from adapters.simulators.softmedia import Dataset, SoftmediaSimulator
from adapters.softmedia import SoftmediaClient
from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from domain.notices.triggering import job_run_id
from domain.shared.clock import business_date
from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS, PASSWORD, login
from tests.support import settle
from workers import notice_sync
from workers.runtime import scheduler_for

TOKEN = "sim-token-for-portal-tests"


@pytest.fixture
def small_pages() -> Iterator[None]:
    """Pages of 2, so each company's handful of notices spans pages."""
    original = notice_sync.client_factory
    notice_sync.client_factory = lambda url, token: SoftmediaClient(
        url, token, page_size=2, timeout=2.0, max_retries=2, backoff_base=0.01, backoff_max=0.05
    )
    yield
    notice_sync.client_factory = original


def _notice(today: date, notice_id: str, company: str, days: int, amount: str, **fields: Any) -> dict[str, Any]:
    mode = fields.pop("mode", "overdue")
    due = today - timedelta(days=days) if mode == "overdue" else today + timedelta(days=days)
    return {
        "notice_id": notice_id,
        "company_code": company,
        "loan_number": fields.pop("loan", ""),
        "customer_name": fields.pop("name", "Stranger Person"),
        "phone": fields.pop("phone", ""),
        "due_date": due.isoformat(),
        "instalment_no": 3,
        "amount_due": amount,
        "days_overdue": days if mode == "overdue" else 0,
        "mode": mode,
        "updated_at": "2026-11-27T10:00:00+05:30",
    }


def _source(client: Any, tenant: Tenant, simulator: SoftmediaSimulator, company: str) -> str:
    created = client.post(
        "/api/v1/notice-sources",
        json={"company": company, "base_url": simulator.base_url, "token": TOKEN, "schedule": "*/30 * * * *"},
        headers=tenant.auth,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _latest_run(client: Any, tenant: Tenant, source_id: str) -> dict[str, Any]:
    runs = client.get("/api/v1/sync-runs", params={"source_id": source_id}, headers=tenant.auth)
    assert runs.status_code == 200, runs.text
    return dict(runs.json()["items"][0])


def _execute(platform: Any, run_id: str) -> None:
    scheduler_for(platform).execute(job_run_id(uuid.UUID(run_id)))
    settle(platform, "notices")


def _rows(page: Any, table: str) -> list[str]:
    return [str(r.get_attribute("data-notice")) for r in page.locator(f"{table} tbody tr[data-notice]").all()]


def test_repayment_operations_in_the_portal(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any, small_pages: None
) -> None:
    tenant, email = staff
    today = business_date(platform.clock.now(), "Asia/Kolkata")
    simulator = SoftmediaSimulator(Dataset(today), token=TOKEN)
    simulator.start()
    try:
        _drive_the_portal(server, browser, tenant, email, client, platform, simulator, today)
    finally:
        simulator.stop()


def _drive_the_portal(
    server: str,
    browser: Any,
    tenant: Tenant,
    email: str,
    client: Any,
    platform: Any,
    simulator: SoftmediaSimulator,
    today: date,
) -> None:
    borrower = client.post(
        "/api/v1/customers",
        json={"name": "Meena Iyer", "phone": "9876500011", "loan_numbers": ["SML0000000011"]},
        headers=tenant.auth,
    )
    assert borrower.status_code == 201, borrower.text
    meena = borrower.json()["id"]
    settle(platform, "customers")
    for item in (
        _notice(today, "N1", "SML", 40, "5000.00", loan="SML0000000011", name="MEENA IYER"),
        _notice(today, "N2", "SML", 90, "1200.00", name="Zorawar Thakkar", phone="9123412345"),
        _notice(today, "U1", "SML", 3, "800.00", loan="SML0000000011", name="Meena Iyer", mode="upcoming"),
        _notice(today, "K1", "KFL", 20, "250000.00", name="Harjeet Kaur", phone="9822200055"),
        _notice(today, "U2", "KFL", 1, "300.00", name="Harjeet Kaur", mode="upcoming"),
    ):
        simulator.dataset.upsert(item)
    sml = _source(client, tenant, simulator, "SML")
    kfl = _source(client, tenant, simulator, "KFL")

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    login(page, server, email)

    # Sync monitoring: "Sync now" for SML starts a run; a second press while it runs is a 409 naming it.
    page.click("nav >> text=Sync")
    page.wait_for_url(f"{server}/sync")
    assert page.locator("#sources article.source").count() == 2
    page.click("article.source[data-company=SML] button:has-text('Sync now')")
    page.wait_for_url("**/sync?started=*")
    started = parse_qs(urlparse(page.url).query)["started"][0]
    run = _latest_run(client, tenant, sml)
    assert run["id"] == started and run["status"] == "running" and run["trigger"] == "manual"
    assert "Sync of SML started" in page.locator("#sync-started").inner_text()
    assert started in page.locator("#sync-started").inner_text()
    with page.expect_response(lambda r: r.url.endswith(f"/sync/{sml}/run")) as pressed_again:
        page.click("article.source[data-company=SML] button:has-text('Sync now')")
    assert pressed_again.value.status == 409
    conflict = page.locator("#sync-error").inner_text()
    assert "already running" in conflict and started in conflict and "Priya Ops" in conflict
    page.screenshot(path=str(ARTIFACTS / "sync-conflict.png"), full_page=True)

    _execute(platform, started)
    page.goto(f"{server}/sync")
    row = page.locator(f"#sync-runs tr[data-run='{started}']")
    assert row.locator(".pill.status").inner_text() == "succeeded"
    assert row.locator("td[data-label=Fetched]").inner_text() == "3"
    assert row.locator("td[data-label=Created]").inner_text() == "3"
    assert row.locator("td[data-label=Pages]").inner_text() == "2"  # 2 overdue fill a page of 2; 1 upcoming
    assert row.locator("td[data-label=Trigger]").inner_text().split() == ["manual", "Priya", "Ops"]
    assert page.locator("article.source[data-company=SML] .pill.health").inner_text() == "healthy"
    assert "—" not in page.locator("article.source[data-company=SML] dd").nth(1).inner_text()  # last success

    # KFL is synced from the dashboard's own "Sync now".
    page.click("nav >> text=Repayments")
    page.wait_for_url(f"{server}/repayments")
    page.click("#sources .source-line[data-company=KFL] button:has-text('Sync now')")
    page.wait_for_url("**/repayments?started=*")
    kfl_run = _latest_run(client, tenant, kfl)
    assert "Sync of KFL started" in page.locator("#sync-started").inner_text()
    _execute(platform, str(kfl_run["id"]))
    assert _latest_run(client, tenant, kfl)["status"] == "succeeded"

    # The dashboard shows the API's figures, for every company and for one.
    api = client.get("/api/v1/notices/dashboard", headers=tenant.auth).json()
    assert api["overdue"] == {"count": 3, "amount": "256200.00"}
    assert api["upcoming"] == {"count": 2, "amount": "1100.00"}
    page.goto(f"{server}/repayments")
    assert page.locator("#kpi-overdue .figure").inner_text() == str(api["overdue"]["count"])
    assert page.get_attribute("#kpi-overdue .amount", "data-amount") == api["overdue"]["amount"]
    assert page.locator("#kpi-overdue .amount").inner_text() == "₹2,56,200.00"
    assert page.locator("#kpi-upcoming .figure").inner_text() == str(api["upcoming"]["count"])
    assert page.locator("#kpi-upcoming .amount").inner_text() == "₹1,100.00"
    assert page.get_attribute("#kpi-longest-overdue", "data-notice") == api["longest_overdue"]["source_notice_id"]
    assert page.get_attribute("#kpi-longest-overdue", "href") == f"/notices/{api['longest_overdue']['id']}"
    assert page.get_attribute("#kpi-highest-amount", "data-notice") == api["highest_amount"]["source_notice_id"]
    assert api["longest_overdue"]["source_notice_id"] == "N2" and api["highest_amount"]["source_notice_id"] == "K1"
    pills = page.locator("#company-pills a")
    assert pills.all_inner_texts() == ["All", *api["companies"]] == ["All", "KFL", "SML"]
    assert pills.first.get_attribute("aria-current") == "page"
    assert [r.get_attribute("data-company") for r in page.locator("#by-company tbody tr").all()] == ["KFL", "SML"]
    page.screenshot(path=str(ARTIFACTS / "repayments-desktop.png"), full_page=True)

    page.click("#company-pills a:has-text('KFL')")
    page.wait_for_url(f"{server}/repayments?company=KFL")
    kfl_api = client.get("/api/v1/notices/dashboard", params={"company": "KFL"}, headers=tenant.auth).json()
    assert kfl_api["overdue"] == {"count": 1, "amount": "250000.00"}
    assert page.locator("#company-pills a[aria-current]").all_inner_texts() == ["KFL"]
    assert page.locator("#kpi-overdue .figure").inner_text() == str(kfl_api["overdue"]["count"])
    assert page.locator("#kpi-overdue .amount").inner_text() == "₹2,50,000.00"
    assert page.locator("#kpi-upcoming .figure").inner_text() == str(kfl_api["upcoming"]["count"])
    assert page.get_attribute("#kpi-upcoming .amount", "data-amount") == kfl_api["upcoming"]["amount"] == "300.00"
    assert page.get_attribute("#kpi-longest-overdue", "data-notice") == "K1"
    assert [r.get_attribute("data-company") for r in page.locator("#by-company tbody tr").all()] == ["KFL"]

    # At phone width the cards stack and nothing scrolls sideways.
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{server}/repayments")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    overdue_box = page.locator("#kpi-overdue").bounding_box()
    upcoming_box = page.locator("#kpi-upcoming").bounding_box()
    assert overdue_box["x"] == upcoming_box["x"] and upcoming_box["y"] > overdue_box["y"]
    page.screenshot(path=str(ARTIFACTS / "repayments-phone.png"), full_page=True)
    for path in ("overdue", "sync"):
        page.goto(f"{server}/{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
        page.screenshot(path=str(ARTIFACTS / f"{path}-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    # The overdue feed, in priority order, with match pills and links; keyset pages.
    api_feed = client.get("/api/v1/notices/overdue", headers=tenant.auth).json()["items"]
    page.goto(f"{server}/repayments")
    page.click("#kpi-overdue")
    page.wait_for_url(f"{server}/overdue")
    assert _rows(page, "#notice-feed") == [n["source_notice_id"] for n in api_feed] == ["N2", "N1", "K1"]
    matched = page.locator("#notice-feed tr[data-notice=N1]")
    pill = matched.locator(".pill.match")
    assert "high" in str(pill.get_attribute("class")) and pill.inner_text().startswith("high ")
    assert (
        int(pill.inner_text().split()[1])
        == next(n for n in api_feed if n["source_notice_id"] == "N1")["match"]["confidence"]
    )
    assert "loan number" in str(pill.get_attribute("title"))
    assert matched.locator("td[data-label=Amount]").inner_text() == "₹5,000.00"
    assert matched.locator("td[data-label='Days overdue']").inner_text() == "40"
    stranger = page.locator("#notice-feed tr[data-notice=N2]")
    assert "unmatched" in str(stranger.locator(".pill.match").get_attribute("class"))
    assert stranger.locator("a.customer-link").count() == 0 and stranger.locator("a.notice-link").count() == 1
    page.screenshot(path=str(ARTIFACTS / "overdue.png"), full_page=True)

    page.goto(f"{server}/overdue?limit=2")
    assert _rows(page, "#notice-feed") == ["N2", "N1"]
    page.click("#next-page")
    page.wait_for_url("**cursor=*")
    assert _rows(page, "#notice-feed") == ["K1"] and page.locator("#next-page").count() == 0
    page.goto(f"{server}/overdue?company=KFL")
    assert _rows(page, "#notice-feed") == ["K1"]
    page.click("nav.tabs >> text=Upcoming")
    page.wait_for_url(f"{server}/upcoming?company=KFL")
    assert _rows(page, "#notice-feed") == ["U2"]
    page.goto(f"{server}/upcoming")
    assert _rows(page, "#notice-feed") == ["U2", "U1"]  # soonest due first
    page.goto(f"{server}/overdue?mode=upcoming&due_from={(today + timedelta(days=2)).isoformat()}")
    assert _rows(page, "#notice-feed") == ["U1"]

    # From the matched row to the borrower's Customer 360, which lists the notices; then the notice itself.
    page.goto(f"{server}/overdue")
    page.click("#notice-feed tr[data-notice=N1] a.customer-link")
    page.wait_for_url(f"{server}/customers/{meena}")
    assert sorted(_rows(page, "#customer-notices")) == ["N1", "U1"]
    page.locator("#customer-notices").screenshot(path=str(ARTIFACTS / "customer-360-notices.png"))
    page.click("#customer-notices a:has-text('N1')")
    page.wait_for_url("**/notices/*")
    n1 = next(n for n in api_feed if n["source_notice_id"] == "N1")
    assert page.url == f"{server}/notices/{n1['id']}"
    assert page.locator("h1").inner_text() == "MEENA IYER"
    assert page.get_attribute("#matched-customer", "href") == f"/customers/{meena}"
    history = client.get(f"/api/v1/notices/{n1['id']}", headers=tenant.auth).json()["history"]
    kinds = [li.get_attribute("data-kind") for li in page.locator("#history li").all()]
    assert kinds == [h["kind"] for h in history] and kinds[-1] == "imported" and "matched" in kinds
    assert "₹5,000.00" in page.locator("#history li[data-kind=imported]").inner_text()
    assert page.locator("#candidates tbody tr").first.locator("a").inner_text() == "Meena Iyer"
    page.screenshot(path=str(ARTIFACTS / "notice.png"), full_page=True)

    page.goto(f"{server}/sync")
    page.screenshot(path=str(ARTIFACTS / "sync.png"), full_page=True)
    page.close()

    # Staff limited to SML see neither KFL's figures nor its notice.
    limited = f"sml-{uuid.uuid4().hex[:6]}@lender.in"
    platform.get(Identity).create_staff(
        tenant.brand_id,
        limited,
        "Kiran Collections",
        ["collection_manager"],
        PASSWORD,
        companies=["SML"],
        granter=OPERATOR,
    )
    settle(platform, "identity")
    context = browser.new_context()
    other = context.new_page()
    login(other, server, limited)
    other.goto(f"{server}/repayments")
    assert other.locator("#company-pills a").all_inner_texts() == ["All", "SML"]
    assert other.locator("#kpi-overdue .figure").inner_text() == "2"
    k1 = next(n for n in api_feed if n["source_notice_id"] == "K1")
    assert other.goto(f"{server}/notices/{k1['id']}").status == 404
    assert other.goto(f"{server}/notices/{n1['id']}").status == 200
    context.close()

    # A collection executive reads notices but neither sees sync monitoring nor can press "Sync now".
    reader = f"exec-{uuid.uuid4().hex[:6]}@lender.in"
    platform.get(Identity).create_staff(
        tenant.brand_id, reader, "Ravi Calls", ["collection_executive"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity")
    context = browser.new_context()
    other = context.new_page()
    login(other, server, reader)
    nav = other.locator("nav[aria-label=Main] a").all_inner_texts()
    assert "Repayments" in nav and "Sync" not in nav
    assert other.goto(f"{server}/repayments").status == 200
    assert other.locator("#kpi-overdue .figure").inner_text() == "3"
    assert other.locator("button:has-text('Sync now')").count() == 0
    assert other.goto(f"{server}/sync").status == 403
    context.close()
