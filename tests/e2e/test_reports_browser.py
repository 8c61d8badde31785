"""The reports page in headless Chromium (issue #18 item 1): choose a report, its dates and a filter, generate it,
export the CSV (the download read back), email it, and the page at phone width without sideways scrolling."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from projections.report_catalogue import CATALOGUE
from projections.reports import ReportQueries, ReportRequest
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_reports import HOSTILE, QUOTED, UNICODE, _loan, _settle
from tests.e2e.test_servicing_api import D0, catalogue, set_business_date

__all__ = ["catalogue"]


def test_choose_generate_export_and_email_a_report(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any
) -> None:
    tenant, email = staff
    set_business_date(platform, tenant, D0)
    _loan(platform, tenant, QUOTED)
    _loan(platform, tenant, HOSTILE)
    _settle(platform)

    page = browser.new_page()
    login(page, server, email)
    page.click("nav >> text=Reports")
    page.wait_for_url(f"{server}/reports")
    assert "Master report" in page.locator("#definition").inner_text()
    page.select_option("#report-select", "disbursed-loan-report")
    page.wait_for_url("**report=disbursed-loan-report**")
    page.fill("#from", "2026-01-01")
    page.fill("#to", "2026-01-31")
    page.select_option("#filter-status", "active")
    page.click("#generate")
    page.wait_for_selector("#report-rows")
    table = page.locator("#report-rows").inner_text()
    assert QUOTED in table and HOSTILE in table  # shown as text on the page, never run
    assert page.locator("#totals").inner_text().startswith("2 rows")
    assert "170000.00" in page.locator("#totals").inner_text()
    assert page.locator("#totals-at").count() == 0  # generated: summed just now

    # A page after the first shows the totals the report was generated with (not summed again a click, and said
    # so) until it is generated again; a third loan disbursed meanwhile shows then.
    queries, report = platform.get(ReportQueries), CATALOGUE["disbursed-loan-report"]
    asked = ReportRequest(tenant.brand_id, date(2026, 1, 1), date(2026, 1, 31), filters={"status": "active"})
    after_first = queries.page(report, asked, None, 1).next_cursor
    _loan(platform, tenant, UNICODE)
    _settle(platform)
    page.goto(f"{page.url}&cursor={after_first}")
    page.wait_for_selector("#report-rows")
    shown = page.locator("#report-rows tbody tr").count()
    assert (
        shown == len(queries.page(report, asked, after_first).rows) >= 1
    )  # the rows after the first, the new one's too
    assert page.locator("#totals").inner_text().startswith("2 rows") and page.locator("#totals-at").is_visible()
    page.screenshot(path=str(ARTIFACTS / "reports-next-page-kept-totals.png"), full_page=True)
    page.click("#generate")
    page.wait_for_selector("#report-rows")
    assert page.locator("#totals").inner_text().startswith("3 rows") and page.locator("#totals-at").count() == 0

    with page.expect_download() as info:
        page.click("#export-csv")
    data = open(info.value.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows[0][:3] == ["loan_number", "customer_number", "borrower"] and len(rows) == 4
    assert {r[2] for r in rows[1:]} == {QUOTED, "'" + HOSTILE, UNICODE}

    page.fill("#email-to", "ops-reports@lender.in")
    page.click("#email-send")
    page.wait_for_selector("#emailed")
    page.screenshot(path=str(ARTIFACTS / "reports-desktop.png"), full_page=True)

    # a free-text filter (the affiliate report's partner) is a text box; a choice is a select
    page.select_option("#report-select", "affiliate-report")
    page.wait_for_url("**report=affiliate-report**")
    page.fill("#from", "")  # applications are dated by their creation, the clock's day: any date
    page.fill("#to", "")
    page.select_option("#filter-sourcing", "direct")  # staff started these three: no partner link, no coupon
    page.click("#generate")
    page.wait_for_selector("#report-rows")
    assert page.locator("#totals").inner_text().startswith("3 rows")
    page.fill("#filter-utm_source", "some-partner")
    page.click("#generate")
    page.wait_for_url("**utm_source=some-partner**")
    assert page.locator("#totals").inner_text().startswith("0 rows")
    assert page.locator("#filter-utm_source").input_value() == "some-partner"

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    login(phone, server, email)
    phone.goto(f"{server}/reports?report=disbursed-loan-report&from=2026-01-01&to=2026-01-31&generate=1")
    phone.wait_for_selector("#report-rows")
    phone.screenshot(path=str(ARTIFACTS / "reports-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
