"""The Customer 360's KYC panel in a real headless Chromium: review a document, retry a failed penny drop, add a
bank account, run a PAN check - against the provider simulators."""

from __future__ import annotations

from typing import Any

import httpx

from domain.customers.application import Customers
from domain.documents.application import Documents
from domain.documents.content import DocumentKind, Uploader
from domain.verification.application import Verifications
from tests.e2e.conftest import ARTIFACTS, login
from tests.support import settle

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n"


def _with_failed_penny_drop(
    platform: Any, tenant: Any, provider_simulators: dict[str, Any], who: tuple[str, str, str],
    document: tuple[DocumentKind, str], account_number: str,
) -> tuple[Any, Any, Any]:  # fmt: skip
    """A borrower (name, phone, PAN) with one uploaded document and a bank account whose penny drop failed (the
    provider down), every read model caught up: (registration, upload, account)."""
    name, phone, pan = who
    for simulator in provider_simulators.values():
        simulator.reset_faults()
    made = platform.get(Customers).register(tenant.brand_id, name=name, phone=phone, pan=pan, date_of_birth=None)
    kind, filename = document
    doc = platform.get(Documents).upload(tenant.brand_id, made.id, kind, filename, PDF, Uploader.BORROWER)
    provider_simulators["penny_drop"].fail_next(10, 503)
    account = platform.get(Verifications).add_bank_account(
        tenant.brand_id, made.id, account_number, "HDFC0001234", name
    )
    provider_simulators["penny_drop"].reset_faults()
    for source, position in (
        ("customers", made.position),
        ("documents", doc.position),
        ("verification", account.position),
    ):
        settle(platform, source, position)
    return made, doc, account


def test_staff_review_a_document_and_retry_a_failed_penny_drop_on_customer_360(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any, provider_simulators: dict[str, Any]
) -> None:
    tenant, email = staff
    made, doc, account = _with_failed_penny_drop(
        platform, tenant, provider_simulators, ("Asha Kulkarni", "99001 77777", "ABCPK0742Q"),
        (DocumentKind.PAN_CARD, "pan.pdf"), "50100012345678",
    )  # fmt: skip

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/customers/{made.id}")
    panel = page.locator("#customer-kyc")
    assert "XXXXXXXXXX5678" in panel.inner_text() and "failed" in panel.locator("#bank-accounts").inner_text()

    page.click(f"#customer-documents tr[data-document='{doc.id}'] button:has-text('Accept')")
    page.wait_for_url(f"{server}/customers/{made.id}#customer-kyc")
    assert "accepted" in page.locator(f"#customer-documents tr[data-document='{doc.id}']").inner_text()

    page.click(f"#bank-accounts tr[data-account='{account.id}'] button:has-text('Retry penny drop')")
    row = page.locator(f"#bank-accounts tr[data-account='{account.id}']")
    assert "verified" in row.inner_text() and "ASHA KULKARNI" in row.inner_text()

    page.fill("#bank-account-form input[name=account_number]", "50100012344444")
    page.fill("#bank-account-form input[name=ifsc]", "HDFC0001234")
    page.fill("#bank-account-form input[name=holder_name]", "Asha Kulkarni")
    page.click("#bank-account-form button")
    assert "not verified" in page.locator("#bank-accounts").inner_text()  # someone else's account: low score

    statement = ARTIFACTS / "statement-upload.png"
    ARTIFACTS.mkdir(exist_ok=True)
    statement.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page.select_option("#document-form select[name=kind]", "bank_statement")
    page.set_input_files("#document-form input[name=file]", str(statement))
    page.click("#document-form button")
    assert "Bank statement" in page.locator("#customer-documents").inner_text()
    assert "image/png" in page.locator("#customer-documents").inner_text()
    disguised = ARTIFACTS / "statement.pdf"
    disguised.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    page.goto(f"{server}/customers/{made.id}")
    page.set_input_files("#document-form input[name=file]", str(disguised))
    page.click("#document-form button")
    assert "named .pdf" in page.locator("body").inner_text()  # a PNG named .pdf: refused, said why

    page.goto(f"{server}/customers/{made.id}")
    page.click("tr[data-check='pan'] button")  # no date of birth on record: said, nothing run
    assert "date of birth" in page.locator("body").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{server}/customers/{made.id}")
    page.screenshot(path=str(ARTIFACTS / "customer_360_kyc.png"), full_page=True)
    download = httpx.get(f"{server}/api/v1/documents/{doc.id}/content", headers=tenant.auth)
    assert download.status_code == 200 and download.content == PDF
    page.close()


def test_staff_verify_a_bank_account_by_hand_against_the_borrowers_statement_on_customer_360(
    server: str, browser: Any, staff: tuple[Any, str], platform: Any, provider_simulators: dict[str, Any]
) -> None:
    """The spec's manual method ("Staff manually verifies the account by reviewing uploaded bank
    statement/passbook") from the portal, as `POST /bank-accounts/{id}/manual-verification` does it."""
    tenant, email = staff
    made, statement, account = _with_failed_penny_drop(
        platform, tenant, provider_simulators, ("Ravi Menon", "99001 77788", "ABCPM0742Q"),
        (DocumentKind.BANK_STATEMENT, "statement.pdf"), "50100012349999",
    )  # fmt: skip

    page = browser.new_page()
    login(page, server, email)
    page.goto(f"{server}/customers/{made.id}")
    row = page.locator(f"#bank-accounts tr[data-account='{account.id}']")
    assert "failed" in row.inner_text()
    row.locator("summary:has-text('Verify manually')").click()
    form = page.locator(f"#manual-verification-{account.id}")
    form.locator("select[name=document_id]").select_option(str(statement.id))
    form.locator("input[name=note]").fill("   ")  # blank once trimmed: refused, said at the form, nothing recorded
    form.locator("button").click()
    assert "3+ characters" in page.locator("#manual-verification-error").inner_text()
    assert "failed" in page.locator(f"#bank-accounts tr[data-account='{account.id}']").inner_text()

    form = page.locator(f"#manual-verification-{account.id}")
    form.locator("input[name=note]").fill("Name and number match the HDFC statement")
    form.locator("button").click()
    page.wait_for_url(f"{server}/customers/{made.id}#customer-kyc")
    row = page.locator(f"#bank-accounts tr[data-account='{account.id}']")
    assert "verified" in row.inner_text() and "(manual)" in row.inner_text()
    assert row.locator("summary:has-text('Verify manually')").count() == 0  # verified: no form any more
    answer = httpx.get(f"{server}/api/v1/bank-accounts/{account.id}", headers=tenant.auth).json()
    assert answer["verified"] is True and answer["method"] == "manual"
    page.close()
