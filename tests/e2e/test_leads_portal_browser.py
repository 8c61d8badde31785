"""Lead, sales and rating pages in headless Chromium: a lead CSV imported from the page shows its result table
(duplicates, a rejected line, a hostile cell shown as text, not run), the lead list moves a lead, the sales view
and the rating matrix render and save, and the pages fit a phone's width."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from domain.identity.application import Identity
from domain.identity.principal import OPERATOR
from tests.conftest import make_tenant
from tests.e2e.conftest import PASSWORD, login
from tests.support import mobile, settle

PHONE = {"width": 390, "height": 844}


def test_import_list_sales_and_ratings_pages(server: str, browser: Any, platform: Any, tmp_path: Path) -> None:
    tenant = make_tenant(platform)
    email = f"sales-{uuid.uuid4().hex[:8]}@lender.in"
    made = platform.get(Identity).create_staff(
        tenant.brand_id, email, "Sana Admin", ["admin"], PASSWORD, granter=OPERATOR
    )
    settle(platform, "identity", made.position)
    p1 = mobile()
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "id,created_time,campaign_name,is_organic,full_name,phone_number,email\n"
        f'1,,"<script>window.pwned=1</script>",false,Asha Rao,{p1},\n'
        f"2,,Diwali,false,Asha R,{p1},\n"
        "3,,Diwali,false,Broken Phone,12,\n"
        f"4,,,true,Olga Organic,{mobile()},\n",
        encoding="utf-8",
    )
    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/leads")
    page.set_input_files("#lead-import-form input[name=file]", str(csv))
    page.click("#lead-import-form button")
    page.wait_for_selector("#import-lines")
    assert page.locator("#created").inner_text() == "2"
    assert page.locator("#duplicates").inner_text() == "1"
    assert page.locator("#rejected").inner_text() == "1"
    lines = page.locator("#import-lines").inner_text()
    assert "phone" in lines and "line 2" in lines and "not a valid phone number" in lines

    page.goto(f"{server}/leads")
    assert "<script>window.pwned=1</script>" in page.locator("#leads").inner_text()
    assert page.evaluate("window.pwned === undefined")
    row = page.locator("#leads tbody tr", has_text="Asha Rao")
    row.locator("select[name=status]").select_option("contacted")
    row.get_by_role("button", name="Move").click()  # the row also has the Link form
    page.wait_for_selector("#leads tbody tr:has-text('Asha Rao'):has-text('contacted')")

    page.goto(f"{server}/sales")
    assert "contacted" in page.locator("#lead-funnel").inner_text()
    assert "(organic)" in page.locator("#by-source").inner_text()

    page.goto(f"{server}/rating-matrix")
    first = page.locator("#matrix tbody tr").nth(0)
    first.locator("select[name=metric]").select_option("manual")
    first.locator("input[name=label]").fill("Conduct")
    first.locator("input[name=weight]").fill("100")
    first.locator("select[name=role]").select_option("admin")
    page.click("#matrix-form button")
    page.wait_for_selector("text=Version 1")
    staff_id = made.id
    page.goto(f"{server}/staff/{staff_id}")
    page.click("#ratings-link")  # the rating history from the staff profile
    page.wait_for_url(f"{server}/staff/{staff_id}/ratings")
    page.fill("#rate-form input[name=score_manual]", "9")
    page.click("#rate-form button")
    page.wait_for_selector("section[data-period] .overall >> text=9.00")

    phone = browser.new_page(viewport=PHONE)
    login(phone, server, email)
    for path in ("/leads", "/sales", "/rating-matrix", f"/staff/{staff_id}/ratings"):
        phone.goto(f"{server}{path}")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
