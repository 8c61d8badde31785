"""The loan page's history shows money as the portal formats it and statuses in words: an approval's and a sanction's
reason column held the event's text, "approved 40000.00 by the CX: ..." (the amount in plain digits, beside the
Amounts column's ₹40,000.00), and the status column the raw `cx_approved`; the BRE card's date was ISO."""

from __future__ import annotations

import re
from typing import Any

from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_loan_product_change import EMI, _application, _product
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle


def _history(page: str) -> list[list[str]]:
    table = page[page.index('id="loan-history"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    return [[re.sub(r"<[^>]+>", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def test_the_history_shows_approved_and_sanctioned_amounts_as_money_and_statuses_in_words(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loans = platform.get(Loans)
    loan_id = _application(client, tenant, _product(client, tenant, EMI))
    loans.cx_approve(tenant.brand_id, loan_id, "40000", "salary supports it", any_application=True)
    done = loans.sanction(tenant.brand_id, loan_id, "35000", "FOIR at the limit", one_person_may_decide=True)
    settle(platform, "loans", done.position)
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}").text
    finally:
        browser.__exit__(None, None, None)
    rows = {r[1]: r for r in _history(page)}
    approved, sanctioned = rows["CX approved"], rows["sanctioned"]
    assert (approved[2], sanctioned[2]) == ("CX approved", "SM approved")  # the statuses in words
    assert approved[5] == "salary supports it" and sanctioned[5] == "FOIR at the limit"
    assert "₹40,000.00" in approved[4] and "₹35,000.00" in sanctioned[4]
    assert not re.search(r"\b\d{5}\.\d{2}\b", " ".join(approved + sanctioned))  # no unformatted amount left
    submitted = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["submitted_on"]
    year, _month, day = submitted.split("-")
    assert re.search(rf"Evaluated on {day} \w{{3}} {year}", page) and f"Evaluated on {submitted}" not in page
