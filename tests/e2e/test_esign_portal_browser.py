"""The agreement and e-sign card of the loan page in headless Chromium: the link's state, the agreement PDF
(downloaded with the session, its SHA-256 the recorded one) and a fresh link sent from the resend form."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from domain.customers.application import Customers
from domain.customers.values import Address
from domain.loans.application import Loans
from tests.conftest import PROVIDER_WEBHOOK_SECRET
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.test_esign import PRODUCT, Catalogue
from tests.support import settle
from workers.agreement_jobs import AgreementJobPort, AgreementWorker


@pytest.fixture
def catalogue(platform: Any) -> Iterator[Catalogue]:
    loans = platform.get(Loans)
    before, loans._catalogue = loans._catalogue, Catalogue()
    yield loans._catalogue
    loans._catalogue = before


def test_the_esign_card_the_pdf_and_a_resend(
    server: str,
    browser: Any,
    staff: tuple[Any, str],
    platform: Any,
    catalogue: Catalogue,
    provider_simulators: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", server)
    monkeypatch.setenv("PROVIDER_WEBHOOK_SECRET", PROVIDER_WEBHOOK_SECRET)
    tenant, email = staff
    borrower = platform.get(Customers).register(
        tenant.brand_id, name="Irfan Sheikh", phone="9876533101",
        addresses=[Address(line1="3 Fort Road", city="Kochi", pincode="682001")],
    )  # fmt: skip
    loans = platform.get(Loans)
    loan_id: UUID = loans.create(tenant.brand_id, borrower.id, PRODUCT, "80000", 12).id
    loans.submit(tenant.brand_id, loan_id)
    loans.cx_approve(tenant.brand_id, loan_id, "80000", "salary supports it")
    settle(platform, Loans.name, loans.sanction(tenant.brand_id, loan_id, "75000", "FOIR at the limit").position)
    AgreementWorker(platform.port(AgreementJobPort)).drain()
    settle(platform, Loans.name, loans.recorder.max_notification_id())

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/loans/{loan_id}")
    card = page.locator("#esign")
    assert page.locator("#esign-state").inner_text() == "sent"
    first_link = page.locator("#esign-link").get_attribute("href")
    assert first_link and first_link.startswith(provider_simulators["esign"].base_url)
    sha256 = page.locator("#agreement-sha256").inner_text().removeprefix("SHA-256 ")
    pdf = page.request.get(f"{server}/loans/{loan_id}/agreement.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.body()).hexdigest() == sha256

    page.click("#esign-resend-form button")
    page.wait_for_selector("#esign-state")
    assert "sent 2 times" in card.inner_text()
    assert page.locator("#esign-link").get_attribute("href") != first_link
    page.screenshot(path=str(ARTIFACTS / "loan_esign.png"), full_page=True)
