"""The BRE backtest on a product's page in headless Chromium: the current rules change nothing; edited rules show
the decisions that would change (with links to the loans) and the failures per rule; a bad threshold is named."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import login
from tests.e2e.test_bre_facts import PRODUCT, _pan, _staff_loan
from tests.support import mobile, settle


def test_backtest_current_and_edited_rules_from_the_product_page(
    server: str, browser: Any, staff: tuple[Any, str], client: Any, platform: Any
) -> None:
    tenant, email = staff
    scored = {**PRODUCT, "bre_rules": [{"rule": "CREDIT_SCORE", "min": "700"}]}
    product = client.post("/api/v1/loan-products", json=scored, headers=tenant.auth).json()["id"]
    loans = [_staff_loan(client, tenant, product, mobile(), _pan()) for _ in range(2)]
    for loan in loans:  # no bureau report: both rejected by CREDIT_SCORE
        assert client.post(f"/api/v1/loans/{loan}/submit", headers=tenant.auth).json()["status"] == "rejected"
    settle(platform, "loans")

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/products/{product}")
    page.click("#backtest-link")
    page.wait_for_selector("#backtest-form")
    assert page.locator("input[name=bre_CREDIT_SCORE_min]").input_value() == "700"
    page.click("#backtest-form button")
    page.wait_for_selector("#backtest-result")
    assert page.locator("#evaluated").inner_text() == "2"
    assert page.locator("#now-passing-count").inner_text() == "0"
    assert "CREDIT_SCORE 2 2" in " ".join(page.locator("#rule-failures").inner_text().split())

    page.check("input[name=use][value=edited]")
    page.uncheck("input[name=bre_CREDIT_SCORE_on]")
    page.check("input[name=bre_DPD_on]")
    page.fill("input[name=bre_DPD_max]", "-3")
    page.click("#backtest-form button")
    assert "DPD max" in page.locator("#backtest-error").inner_text()  # named, the form kept
    assert page.locator("input[name=bre_DPD_max]").input_value() == "-3"

    page.uncheck("input[name=bre_DPD_on]")
    page.click("#backtest-form button")
    page.wait_for_selector("#backtest-result")
    assert page.locator("#now-passing-count").inner_text() == "2"
    assert "CREDIT_SCORE 2 0" in " ".join(page.locator("#rule-failures").inner_text().split())
    links = page.locator("#now-passing a")
    assert sorted(links.nth(i).get_attribute("href") or "" for i in range(links.count())) == sorted(f"/loans/{x}" for x in loans)  # fmt: skip
    links.first.click()
    page.wait_for_selector("#bre-results")
    assert "credit score not known" in page.locator("#bre-results").inner_text()
    page.close()
