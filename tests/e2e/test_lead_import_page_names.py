"""A lead import's result page names what each line matched: the earlier lead by its name, the borrower by name with
a link to their Customer 360 (for staff who may open it). It showed `lead <uuid>` and `borrower <uuid>`."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Tenant
from tests.e2e.test_leads_api import HEADER, _upload
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import mobile, settle


def test_the_import_page_names_the_lead_and_the_borrower_each_line_matched(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    borrower = client.post("/api/v1/customers", json={"name": "Kiran Das", "phone": mobile(),
                                                      "email": "kiran.das@example.in"}, headers=tenant.auth)  # fmt: skip
    assert borrower.status_code == 201, borrower.text
    phone = mobile()
    first = _upload(client, tenant, HEADER + f"1,,c1,Diwali,false,Asha Rao,{phone},\n")
    assert first.status_code == 201, first.text
    again = _upload(client, tenant, HEADER + f"1,,c1,Diwali,false,Asha R,{phone},\n"
                    f"2,,c1,Diwali,false,Kiran D,{mobile()},kiran.das@example.in\n")  # fmt: skip
    assert again.status_code == 201, again.text
    lead_line, borrower_line = again.json()["lines"]
    assert (lead_line["matched_kind"], borrower_line["matched_kind"]) == ("lead", "borrower")
    settle(platform, "leads")
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/leads/imports/{again.json()['id']}")
    finally:
        browser.__exit__(None, None, None)
    assert page.status_code == 200
    table = page.text[page.text.index('id="import-lines"') :]
    shown = re.sub(r'href="[^"]*"', "", table)  # the text staff read, not the link's address
    assert lead_line["matched_id"] not in shown and borrower_line["matched_id"] not in shown
    assert "lead Asha Rao" in table
    assert f'borrower <a href="/customers/{borrower_line["matched_id"]}">Kiran Das</a>' in table
