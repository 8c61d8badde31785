"""The portal's pages show statuses and codes in the product's words (`CX approved`, not `cx_approved`) and dates in
the house format (`31 Jan 2024`, not `2024-01-31`): the covenant list and page, the loan and loan list, the credit
review, the customer's date of birth, the product's quote and the settings' business date. Form values, classes and
data attributes keep the codes and ISO dates (what scripts and outside checks read)."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_covenants import _borrower, _covenant, hold_business_date
from tests.e2e.test_loan_pages_in_words import _ISO, _section, _text
from tests.e2e.test_loan_product_change import EMI, _application, _product
from tests.e2e.test_refused_forms_keep_input import _portal
from tests.support import settle


def test_the_covenant_list_and_page_show_house_dates_and_frequency_words(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    covenant = _covenant(client, tenant, _borrower(client, tenant), frequency="half_yearly",
                         first_due_date="2024-06-30", title="Half-yearly DSCR")  # fmt: skip
    settle(platform, "covenants")
    browser, _ = _portal(app, email)
    try:
        listed = browser.get("/covenants")
        page = browser.get(f"/covenants/{covenant['id']}")
    finally:
        browser.__exit__(None, None, None)
    assert listed.status_code == 200 and page.status_code == 200, (listed.text[:300], page.text[:300])
    found = re.search(rf'<tr[^>]*>\s*<td><a href="/covenants/{covenant["id"]}">.*?</tr>', listed.text, re.S)
    assert found is not None, listed.text[-2000:]
    row = _text(found.group(0))
    assert "half-yearly" in row and "half yearly" not in row, row
    assert not _ISO.search(row), row
    start = page.text.index('<dl class="facts">')
    details = _text(page.text[start : page.text.index("</dl>", start)])
    assert "Half-yearly, from 01 Jan 2024 to 31 Dec 2024" in details, details
    assert "First due 30 Jun 2024" in details, details
    assert "2024-01-01" not in _text(page.text) and "2024-06-30" not in _text(page.text)


def test_the_loan_pages_name_a_status_in_words_and_keep_its_code_as_data(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loan_id = _application(client, tenant, _product(client, tenant, {**EMI, "code": "status-words"}), "9876533201")
    done = platform.get(Loans).cx_approve(tenant.brand_id, UUID(loan_id), "40000", "salary", any_application=True)
    settle(platform, "loans", done.position)
    customer_id = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["customer_id"]
    browser, _ = _portal(app, email)
    try:
        loan = browser.get(f"/loans/{loan_id}").text
        loans = browser.get("/loans").text
        review = browser.get(f"/credit/review/{loan_id}").text
        customer = browser.get(f"/customers/{customer_id}").text
    finally:
        browser.__exit__(None, None, None)
    status = re.search(r'<span class="pill cx_approved" id="loan-status" data-status="cx_approved">([^<]*)<', loan)
    assert status is not None and status.group(1) == "CX approved", loan[:500]
    for page in (loans, review, customer):
        assert ">CX approved<" in page and "cx_approved" not in _text(page)
        assert 'class="pill cx_approved"' in page  # the class (and its colour) keeps the code
    assert 'value="cx_approved"' in loans  # the status filter's value is the code, its text the words
    assert re.search(r'<option value="cx_approved"[^>]*>CX approved</option>', loans)
    assert "<dt>Date of birth</dt><dd>15 Jan 1990</dd>" in customer and "1990-01-15" not in _text(customer)
    assert "<dt>Date of birth</dt><dd>15 Jan 1990</dd>" in review


def test_the_product_quote_and_the_business_date_use_the_house_format(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    hold_business_date(platform, tenant, "2026-03-02")
    product = _product(client, tenant, {**EMI, "code": "quote-days"})
    browser, _ = _portal(app, email)
    try:
        quote = browser.get(f"/products/{product}?amount=40000&tenure=6")
        settings = browser.get("/settings")
    finally:
        browser.__exit__(None, None, None)
    assert quote.status_code == 200 and settings.status_code == 200
    shown = _text(quote.text)
    assert re.search(r"first due \d\d [A-Z][a-z]{2} \d{4} \(if disbursed \d\d [A-Z][a-z]{2} \d{4}\)", shown), shown
    assert not re.search(r"first due \d{4}-", shown)
    line = _text(_section(settings.text, "business-date", "</p>"))
    assert "Business date: 02 Mar 2026 " in line and "2026-03-02" not in line, line
    assert 'type="date"' in settings.text and 'value="2026-03-02"' in settings.text  # the picker keeps ISO
