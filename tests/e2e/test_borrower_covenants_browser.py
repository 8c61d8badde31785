"""A borrower's covenant proof in headless Chromium at a phone's width: signed in by the code from the SMS
simulator's outbox, the status page links their covenants, they upload proof for the open record, and a staff user
sees it on the covenant page as submitted by the borrower, ready to review."""

from __future__ import annotations

from typing import Any

from adapters.simulators.sms import SmsSimulator
from domain.onboarding.application import Onboarding
from tests.conftest import Tenant
from tests.e2e.conftest import ARTIFACTS, login
from tests.e2e.onboarding_support import sms
from tests.e2e.test_borrower_flow_browser import PHONE_VIEW, _sign_in
from tests.e2e.test_covenants import _covenant, _evaluations, _run
from tests.e2e.test_onboarding_api import PERSONAL, _pan
from tests.support import mobile

__all__ = ["sms"]  # the fixture, used by name

PDF = b"%PDF-1.7\n%borrower covenant proof\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _customer(platform: Any, tenant: Tenant, token: str) -> str:
    """The Customer 360 record of the borrower signed in with `token` (made at the personal step)."""
    onboarding = platform.get(Onboarding)
    customer_id = onboarding.funnel(tenant.brand_id, onboarding.authenticate(token).borrower_id).customer_id
    assert customer_id is not None
    return str(customer_id)


def test_a_borrower_uploads_covenant_proof_and_staff_see_it_submitted_by_the_borrower(
    server: str, browser: Any, client: Any, platform: Any, sms: SmsSimulator, staff: tuple[Tenant, str]
) -> None:
    tenant, email = staff
    page = _sign_in(browser, server, sms, tenant.slug, mobile("9"))
    page.wait_for_url(f"{server}/apply/{tenant.slug}/steps/pan")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "cd_borrower")
    auth = {"Authorization": f"Bearer {token}"}  # the flow's session is the API's bearer token
    assert client.put("/api/v1/borrower/steps/pan", json={"pan": _pan()}, headers=auth).status_code == 200
    assert client.put("/api/v1/borrower/steps/personal", json=PERSONAL, headers=auth).status_code == 200
    owner = _customer(platform, tenant, token)
    covenant = _covenant(client, tenant, owner, type="document", document="Monthly stock statement",
                         title="Stock statement", metric=None, operator=None, threshold=None)  # fmt: skip
    _run(client, platform, tenant, "covenant-evaluation", "2024-01-24")
    (record,) = _evaluations(client, tenant, covenant["id"])

    page.goto(f"{server}/apply/{tenant.slug}/status")
    assert page.locator("#covenants-summary").get_attribute("data-awaiting") == "1"
    page.click("#covenants-link")
    page.wait_for_url(f"{server}/apply/{tenant.slug}/covenants")
    row = page.locator(f"#record-{record['id']}")
    assert row.get_attribute("data-state") == "open"
    assert "expected to be submitted by you" in row.inner_text() and "31 Jan 2024" in row.inner_text()
    row.locator("input[type=file]").set_input_files(
        files=[{"name": "stock-jan.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    row.locator("button[type=submit]").click()
    page.wait_for_selector("#covenants-saved")
    row = page.locator(f"#record-{record['id']}")
    assert row.get_attribute("data-state") == "open_received" and "stock-jan.pdf" in row.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEW["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "borrower-covenants-phone.png"), full_page=True)
    page.context.close()

    staff_page = browser.new_page()
    login(staff_page, server, email)
    staff_page.goto(f"{server}/covenants/{covenant['id']}")
    proofs = staff_page.locator(f"#proofs-{record['id']}")
    assert "stock-jan.pdf" in proofs.inner_text()
    assert proofs.locator(".proof-by-borrower").inner_text() == "submitted by the borrower"
    assert (
        staff_page.locator(f"#comply-form-{record['id']} .proof-approval")
        .inner_text()
        .strip()
        .endswith("stock-jan.pdf")
    )  # staff review and may approve it
