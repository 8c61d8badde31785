"""The loan pages say what staff read, not what the records hold (an outside probe's findings): the BRE card's rule
names, inputs and thresholds in words with units (it showed `AGE`, `date_of_birth: 1990-01-15`, `max: 58`,
`last_rejected_on: none`); a refusal names a status in words (`this one is cx_approved`); a reason over the limit is refused at its
form with what was typed kept (it was cut to its first 1,000 characters). Dates and event reasons:
test_loan_page_dates.py."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from domain.loans.application import Loans
from tests.conftest import Tenant
from tests.e2e.test_loan_product_change import EMI, _application, _product
from tests.e2e.test_refused_forms_keep_input import _form, _portal
from tests.support import settle

_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _section(page: str, element_id: str, end: str = "</section>") -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index(end, start)]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_the_bre_card_names_rules_inputs_and_thresholds_in_words(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    product = _product(
        client, tenant, {**EMI, "code": "age-emi", "bre_rules": [{"rule": "AGE", "min": "21", "max": "58"}]}
    )
    loan_id = _application(client, tenant, product, phone="9876533101")
    browser, _ = _portal(app, email)
    try:
        page = browser.get(f"/loans/{loan_id}").text
        product_page = browser.get(f"/products/{product}").text
    finally:
        browser.__exit__(None, None, None)
    card = _text(_section(page, "bre"))
    for raw in ("AGE", "COOLDOWN", "date_of_birth", "last_rejected_on", "blocklist_hits", "min:", "max:", "days:"):
        assert raw not in card, raw
    assert "Date of birth: 15 Jan 1990" in card and re.search(r"Age: \d+ years", card) and "Age on: " in card, card
    assert re.search(r"Minimum age: \d+ years", card) and re.search(r"Maximum age: \d+ years", card), card
    assert "Rejection cooldown" in card and "Last rejected on: never" in card and "not checked" in card
    assert re.search(r"Wait after a rejection: \d+ days", card)
    assert "Blocklist" in card and "On the blocklist: none" in card
    assert not _ISO.search(card.split("Reason")[0])  # the inputs' dates in the house format (reasons are their own)
    override = _section(page, "override-form", "</form>")
    assert ">Age</option>" in override and ">AGE</option>" not in override
    assert "Age: minimum age 21 years, maximum age 58 years" in _text(product_page)


def test_a_refusal_names_the_loans_status_in_words(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loan_id = _application(client, tenant, _product(client, tenant, {**EMI, "code": "words-emi"}), phone="9876533102")
    done = platform.get(Loans).cx_approve(
        tenant.brand_id, UUID(loan_id), "40000", "salary supports it", any_application=True
    )
    settle(platform, "loans", done.position)
    browser, csrf = _portal(app, email)
    try:
        again = browser.post(
            f"/loans/{loan_id}/cx-approve",
            data={"csrf_token": csrf, "approved_amount": "40000", "remarks": "approve it again"},
        )
    finally:
        browser.__exit__(None, None, None)
    assert again.status_code in (409, 422), again.status_code  # the loan page re-rendered with the refusal
    alert = _text(re.search(r'<p class="alert" role="alert">(.*?)</p>', again.text, re.S).group(1))  # type: ignore[union-attr]
    assert alert == "only a pending application can be approved by the CX; this one is CX-approved", alert
    api = client.post(f"/api/v1/loans/{loan_id}/cx-approve", json={"approved_amount": "40000", "remarks": "again"},
                      headers=tenant.auth)  # fmt: skip
    assert api.status_code == 409 and "cx_approved" not in api.json()["detail"], api.text


def test_a_reason_over_the_limit_is_refused_at_its_form_with_what_was_typed(
    app: Any, client: Any, platform: Any, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    loan_id = _application(client, tenant, _product(client, tenant, {**EMI, "code": "long-emi"}), phone="9876533103")
    remarks = "The salary credits are regular and the employer is listed. " * 40  # 2,400 characters
    browser, csrf = _portal(app, email)
    try:
        refused = browser.post(
            f"/loans/{loan_id}/cx-approve",
            data={"csrf_token": csrf, "approved_amount": "40000", "remarks": remarks},
        )
    finally:
        browser.__exit__(None, None, None)
    assert refused.status_code == 422, refused.text[:300]
    shown = f"remarks: at most 2,000 characters (this has {len(remarks.strip()):,}): shorten it"
    assert shown in refused.text, re.findall(r'role="alert">(.*?)</p>', refused.text, re.S)
    assert remarks.strip() in _form(refused.text, "cx-approve-form")  # kept to shorten, not retyped
    api = client.post(f"/api/v1/loans/{loan_id}/cx-approve", json={"approved_amount": "40000", "remarks": remarks},
                      headers=tenant.auth)  # fmt: skip
    assert api.status_code == 422 and api.headers["content-type"].startswith("application/problem+json"), api.text
    assert "remarks" in api.text
    # 1,500 characters (cut to 1,000 before) are kept whole
    whole = ("Verified the employer by phone; salary credits match the statement. " * 22)[:1500].strip()
    done = platform.get(Loans).cx_approve(tenant.brand_id, UUID(loan_id), "40000", whole, any_application=True)
    settle(platform, "loans", done.position)
    history = client.get(f"/api/v1/loans/{loan_id}", headers=tenant.auth).json()["history"]
    assert [e["details"]["remarks"] for e in history if e["kind"] == "cx_approved"] == [whole]
